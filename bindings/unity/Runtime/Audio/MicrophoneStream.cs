// NPC Runtime client: microphone samples (any rate, floats) -> s16le chunks at 16 kHz for
// audio_chunk. Plain C#, no UnityEngine.

using System;
using System.Collections.Generic;

namespace NpcRuntime.Audio
{
    public sealed class MicrophoneStream
    {
        public readonly int InputRate, TargetRate, ChunkSamples;
        readonly Resampler resampler;
        float[] pending;
        int pendingCount;

        /// <param name="chunkMs">audio per chunk; the protocol wants 20-100 ms</param>
        public MicrophoneStream(int inputRate, int targetRate = 16000, int chunkMs = 40)
        {
            if (chunkMs < 20 || chunkMs > 100) throw new ArgumentOutOfRangeException("chunkMs", "audio_chunk carries 20-100 ms");
            InputRate = inputRate;
            TargetRate = targetRate;
            ChunkSamples = targetRate * chunkMs / 1000;
            resampler = new Resampler(inputRate, targetRate);
            pending = new float[ChunkSamples * 4];
        }

        /// <summary>Feed microphone samples (mono); returns the whole chunks now ready (s16le bytes).</summary>
        public List<byte[]> Push(float[] samples, int offset, int count)
        {
            return Take(resampler.Process(samples, offset, count), false);
        }

        /// <summary>End of an utterance (push-to-talk key up): everything left, the last chunk possibly short.</summary>
        public List<byte[]> Flush()
        {
            return Take(resampler.Flush(), true);
        }

        /// <summary>Drop what is buffered (a new conversation).</summary>
        public void Reset()
        {
            resampler.Reset();
            pendingCount = 0;
        }

        List<byte[]> Take(float[] converted, bool all)
        {
            if (pendingCount + converted.Length > pending.Length)
                Array.Resize(ref pending, Math.Max(pending.Length * 2, pendingCount + converted.Length));
            Array.Copy(converted, 0, pending, pendingCount, converted.Length);
            pendingCount += converted.Length;
            var chunks = new List<byte[]>();
            int at = 0;
            while (pendingCount - at >= ChunkSamples || (all && pendingCount - at > 0))
            {
                int n = Math.Min(ChunkSamples, pendingCount - at);
                chunks.Add(Pcm16.ToBytes(pending, at, n));
                at += n;
            }
            Array.Copy(pending, at, pending, 0, pendingCount - at);
            pendingCount -= at;
            return chunks;
        }
    }
}
