// NPC Runtime client: streaming sample-rate conversion (microphone rate -> 16 kHz for audio_chunk,
// the runtime's TTS rate -> the engine's output rate for playback). Plain C#, no UnityEngine.
//
// Band-limited interpolation: a Blackman-windowed sinc, its cutoff below the lower of the two
// Nyquist rates so downsampling does not alias. The kernel is tabulated once (256 points per input
// sample, linear interpolation between them). Streaming gives the same samples as one call on the
// whole signal: each output waits until the input it needs (half the kernel ahead) has arrived, so
// the stream is late by `Latency` input samples until Flush() ends it.

using System;
using System.Collections.Generic;

namespace NpcRuntime.Audio
{
    public sealed class Resampler
    {
        const int Res = 256;
        public readonly int InRate, OutRate;
        readonly double step;   // input samples per output sample
        readonly int half;      // kernel half-width, input samples
        readonly float[] table; // kernel at t = i / Res, t in [0, half]
        float[] hist = new float[1024];
        int histCount;
        long histStart;         // input index of hist[0]
        long totalIn, totalOut;

        /// <param name="zeroCrossings">kernel half-width in zero crossings of the sinc (quality vs cost)</param>
        public Resampler(int inRate, int outRate, int zeroCrossings = 8)
        {
            if (inRate <= 0 || outRate <= 0) throw new ArgumentException("sample rates must be positive");
            if (zeroCrossings < 2) throw new ArgumentException("zeroCrossings must be at least 2");
            InRate = inRate;
            OutRate = outRate;
            step = (double)inRate / outRate;
            double cutoff = Math.Min(1.0, (double)outRate / inRate) * 0.92; // of the input's Nyquist
            half = (int)Math.Ceiling(zeroCrossings / cutoff);
            table = new float[half * Res + 2];
            for (int i = 0; i < table.Length; i++)
            {
                double t = (double)i / Res;
                if (t >= half) { table[i] = 0f; continue; }
                double x = Math.PI * cutoff * t;
                double sinc = t == 0 ? 1.0 : Math.Sin(x) / x;
                double w = 0.42 + 0.5 * Math.Cos(Math.PI * t / half) + 0.08 * Math.Cos(2 * Math.PI * t / half);
                table[i] = (float)(cutoff * sinc * w);
            }
        }

        /// <summary>Input samples held back until the input after them arrives (0 when the rates are equal).</summary>
        public int Latency { get { return InRate == OutRate ? 0 : half; } }
        public long TotalIn { get { return totalIn; } }
        public long TotalOut { get { return totalOut; } }

        float Kernel(double t)
        {
            if (t < 0) t = -t;
            double idx = t * Res;
            int i = (int)idx;
            if (i >= table.Length - 1) return 0f;
            float frac = (float)(idx - i);
            return table[i] + (table[i + 1] - table[i]) * frac;
        }

        /// <summary>Convert the next piece of a stream; returns what can be produced so far.</summary>
        public float[] Process(float[] input, int offset, int count)
        {
            if (input == null) throw new ArgumentNullException("input");
            if (offset < 0 || count < 0 || offset + count > input.Length) throw new ArgumentOutOfRangeException("count");
            totalIn += count;
            if (InRate == OutRate)
            {
                var same = new float[count];
                Array.Copy(input, offset, same, 0, count);
                totalOut += count;
                return same;
            }
            if (histCount + count > hist.Length) Array.Resize(ref hist, Math.Max(hist.Length * 2, histCount + count));
            Array.Copy(input, offset, hist, histCount, count);
            histCount += count;
            return Produce(false);
        }

        public float[] Process(float[] input)
        {
            return Process(input, 0, input.Length);
        }

        /// <summary>End of the stream: the held-back tail (the input after it taken as silence),
        /// so the whole output is round(TotalIn * OutRate / InRate) samples. Then ready for a new stream.</summary>
        public float[] Flush()
        {
            float[] tail = InRate == OutRate ? new float[0] : Produce(true);
            Reset();
            return tail;
        }

        /// <summary>Forget the stream (stop_playback, a new turn).</summary>
        public void Reset()
        {
            histCount = 0;
            histStart = 0;
            totalIn = 0;
            totalOut = 0;
        }

        float[] Produce(bool final)
        {
            var o = new List<float>();
            long avail = histStart + histCount;
            long target = final ? (long)Math.Round(totalIn * (double)OutRate / InRate) : long.MaxValue;
            while (totalOut < target)
            {
                double p = totalOut * step;
                long center = (long)Math.Floor(p);
                if (!final && center + half >= avail) break;
                double acc = 0, wsum = 0;
                for (long k = center - half + 1; k <= center + half; k++)
                {
                    float w = Kernel(p - k);
                    wsum += w;
                    if (k < 0 || k >= avail) continue; // before the stream / after its end: silence
                    acc += w * hist[k - histStart];
                }
                o.Add((float)(wsum != 0 ? acc / wsum : 0));
                totalOut++;
            }
            long keepFrom = (long)Math.Floor(totalOut * step) - half;
            if (keepFrom > histStart)
            {
                int drop = (int)Math.Min(keepFrom - histStart, histCount);
                Array.Copy(hist, drop, hist, 0, histCount - drop);
                histCount -= drop;
                histStart += drop;
            }
            return o.ToArray();
        }
    }
}
