// NPC Runtime client: reading a looping microphone recording (Unity's Microphone.Start(loop: true)
// writes into a clip of N samples and wraps). Plain C#: which samples are new since the last read,
// and the mix-down of multi-channel frames to mono.

using System;

namespace NpcRuntime.Audio
{
    public sealed class MicrophoneCursor
    {
        public readonly int ClipSamples;
        int read;

        public MicrophoneCursor(int clipSamples)
        {
            if (clipSamples <= 0) throw new ArgumentException("the clip has samples");
            ClipSamples = clipSamples;
        }

        /// <summary>The recorder is now at `position` (Microphone.GetPosition): returns how many samples
        /// are new and where they start (they may run past the clip's end and wrap to its start).
        /// More than a whole clip between two reads cannot be told apart from less: read every frame.</summary>
        public int Advance(int position, out int offset)
        {
            if (position < 0 || position >= ClipSamples) throw new ArgumentOutOfRangeException("position");
            offset = read;
            int n = (position - read + ClipSamples) % ClipSamples;
            read = position;
            return n;
        }

        /// <summary>Interleaved frames -> mono (the mean of the channels) into mono[0..frames).</summary>
        public static void Downmix(float[] interleaved, int channels, int frames, float[] mono)
        {
            if (channels < 1) throw new ArgumentOutOfRangeException("channels");
            if (interleaved.Length < frames * channels || mono.Length < frames) throw new ArgumentException("buffers too small");
            for (int i = 0; i < frames; i++)
            {
                float s = 0;
                for (int c = 0; c < channels; c++) s += interleaved[i * channels + c];
                mono[i] = s / channels;
            }
        }
    }
}
