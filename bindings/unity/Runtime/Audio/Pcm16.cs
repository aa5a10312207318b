// NPC Runtime client: PCM s16le <-> float conversion (the wire format of audio_chunk and npc_audio).

using System;

namespace NpcRuntime.Audio
{
    public static class Pcm16
    {
        /// <summary>s16le bytes -> floats in [-1, 1). Throws on an odd byte count (half a sample).</summary>
        public static float[] ToFloats(byte[] pcm)
        {
            if (pcm == null) throw new ArgumentNullException("pcm");
            if (pcm.Length % 2 != 0) throw new ArgumentException("s16le audio has an even number of bytes, got " + pcm.Length);
            var o = new float[pcm.Length / 2];
            for (int i = 0; i < o.Length; i++) o[i] = (short)(pcm[2 * i] | (pcm[2 * i + 1] << 8)) / 32768f;
            return o;
        }

        /// <summary>floats -> s16le bytes, clipped to the 16-bit range (NaN becomes 0).</summary>
        public static byte[] ToBytes(float[] samples, int offset, int count)
        {
            var o = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                float f = samples[offset + i];
                int v = float.IsNaN(f) ? 0 : (int)Math.Round(f * 32768.0);
                if (v > 32767) v = 32767;
                if (v < -32768) v = -32768;
                o[2 * i] = (byte)(v & 0xff);
                o[2 * i + 1] = (byte)((v >> 8) & 0xff);
            }
            return o;
        }

        public static byte[] ToBytes(float[] samples)
        {
            return ToBytes(samples, 0, samples.Length);
        }
    }
}
