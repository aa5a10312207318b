// NPC Runtime client: the playback ring buffer between the network (npc_audio, main thread) and
// the audio thread (Unity's OnAudioFilterRead). Plain C#, no UnityEngine; tested with mono + NUnit.
//
// Samples are mono floats at the output rate. Positions are counted from the start of the stream
// (long, never wrap): WritePosition advances on Write, ReadPosition on Read and on Clear, so
// "what was played" is a difference of positions that PlaybackTracker turns into playback reports.

using System;

namespace NpcRuntime.Audio
{
    public sealed class AudioRingBuffer
    {
        readonly object gate = new object();
        float[] buf;
        long readPos, writePos, played, dropped, underrun;
        public readonly int MaxCapacity;

        /// <param name="capacity">initial size in samples; grows by doubling up to maxCapacity
        /// (a whole reply often arrives faster than it plays)</param>
        public AudioRingBuffer(int capacity = 48000, int maxCapacity = 48000 * 120)
        {
            if (capacity < 1 || maxCapacity < capacity) throw new ArgumentException("need 1 <= capacity <= maxCapacity");
            buf = new float[capacity];
            MaxCapacity = maxCapacity;
        }

        public int Capacity { get { lock (gate) return buf.Length; } }
        /// <summary>Samples waiting to be played.</summary>
        public int Count { get { lock (gate) return (int)(writePos - readPos); } }
        /// <summary>Samples ever accepted by Write.</summary>
        public long WritePosition { get { lock (gate) return writePos; } }
        /// <summary>Samples ever taken out (played by Read or discarded by Clear).</summary>
        public long ReadPosition { get { lock (gate) return readPos; } }
        /// <summary>Samples handed to the audio output by Read (not counting silence filled in on underrun).</summary>
        public long PlayedSamples { get { lock (gate) return played; } }
        /// <summary>Samples discarded by Clear (stop_playback) or refused because the buffer was at MaxCapacity.</summary>
        public long DroppedSamples { get { lock (gate) return dropped; } }
        /// <summary>Silent samples Read had to fill in because nothing was buffered.</summary>
        public long UnderrunSamples { get { lock (gate) return underrun; } }

        /// <summary>Append samples; returns how many were accepted (fewer only at MaxCapacity).</summary>
        public int Write(float[] src, int offset, int count)
        {
            if (src == null) throw new ArgumentNullException("src");
            if (offset < 0 || count < 0 || offset + count > src.Length) throw new ArgumentOutOfRangeException("count");
            lock (gate)
            {
                int have = (int)(writePos - readPos);
                if (have + count > buf.Length) Grow(have + count);
                int n = Math.Min(count, buf.Length - have);
                int at = (int)(writePos % buf.Length);
                int first = Math.Min(n, buf.Length - at);
                Array.Copy(src, offset, buf, at, first);
                if (n > first) Array.Copy(src, offset + first, buf, 0, n - first);
                writePos += n;
                dropped += count - n;
                return n;
            }
        }

        void Grow(int needed)
        {
            int size = buf.Length;
            while (size < needed && size < MaxCapacity) size = (int)Math.Min((long)size * 2, MaxCapacity);
            if (size == buf.Length) return;
            var bigger = new float[size];
            int have = (int)(writePos - readPos);
            for (int i = 0; i < have; i++) bigger[(int)((readPos + i) % size)] = buf[(int)((readPos + i) % buf.Length)];
            buf = bigger;
        }

        /// <summary>
        /// Take up to count samples into dst (the audio thread). The rest of the span is filled with
        /// silence. Returns the number of real samples.
        /// </summary>
        public int Read(float[] dst, int offset, int count)
        {
            if (dst == null) throw new ArgumentNullException("dst");
            if (offset < 0 || count < 0 || offset + count > dst.Length) throw new ArgumentOutOfRangeException("count");
            lock (gate)
            {
                int n = (int)Math.Min(count, writePos - readPos);
                int at = (int)(readPos % buf.Length);
                int first = Math.Min(n, buf.Length - at);
                Array.Copy(buf, at, dst, offset, first);
                if (n > first) Array.Copy(buf, 0, dst, offset + first, n - first);
                if (n < count) Array.Clear(dst, offset + n, count - n);
                readPos += n;
                played += n;
                underrun += count - n;
                return n;
            }
        }

        /// <summary>Discard everything buffered (stop_playback). Returns the read position at the
        /// moment of the flush, i.e. where playback actually stopped.</summary>
        public long Clear()
        {
            lock (gate)
            {
                long stoppedAt = readPos;
                dropped += writePos - readPos;
                readPos = writePos;
                return stoppedAt;
            }
        }

        /// <summary>
        /// Fill an interleaved output block (Unity's OnAudioFilterRead(data, channels)) from the
        /// mono buffer, the same sample on every channel. Returns the real frames.
        /// </summary>
        public int ReadInterleaved(float[] data, int channels, ref float[] scratch, float gain = 1f)
        {
            if (channels < 1) throw new ArgumentOutOfRangeException("channels");
            int frames = data.Length / channels;
            if (scratch == null || scratch.Length < frames) scratch = new float[frames];
            int n = Read(scratch, 0, frames);
            for (int f = 0; f < frames; f++)
            {
                float s = scratch[f] * gain;
                int b = f * channels;
                for (int c = 0; c < channels; c++) data[b + c] = s;
            }
            return n;
        }
    }
}
