// NPC Runtime client: when to try again after the connection to the runtime is lost.
// Exponential backoff with jitter; plain C#, the random source injected so tests are exact.

using System;

namespace NpcRuntime
{
    public sealed class ReconnectPolicy
    {
        /// <summary>Delay before the first attempt, seconds.</summary>
        public double InitialDelay = 0.5;
        /// <summary>Each failed attempt multiplies the delay by this.</summary>
        public double Multiplier = 2.0;
        /// <summary>The delay never grows past this, seconds.</summary>
        public double MaxDelay = 30.0;
        /// <summary>Each delay is moved by up to this fraction, at random, so many clients do not retry in step.</summary>
        public double Jitter = 0.2;
        /// <summary>Give up after this many failed attempts (0: never).</summary>
        public int MaxAttempts = 0;

        readonly Random random;
        public int Attempt { get; private set; }

        public ReconnectPolicy(Random random = null)
        {
            this.random = random ?? new Random();
        }

        /// <summary>True once MaxAttempts attempts have failed.</summary>
        public bool GaveUp { get { return MaxAttempts > 0 && Attempt >= MaxAttempts; } }

        /// <summary>The delay before the next attempt (seconds), counting it as made.</summary>
        public double NextDelay()
        {
            if (InitialDelay < 0 || Multiplier < 1 || MaxDelay < InitialDelay || Jitter < 0 || Jitter >= 1)
                throw new InvalidOperationException("ReconnectPolicy needs 0 <= InitialDelay <= MaxDelay, Multiplier >= 1, 0 <= Jitter < 1");
            double d = Math.Min(MaxDelay, InitialDelay * Math.Pow(Multiplier, Attempt));
            Attempt++;
            double j = (random.NextDouble() * 2 - 1) * Jitter;
            return Math.Max(0, d * (1 + j));
        }

        /// <summary>Connected again: the next loss starts from InitialDelay.</summary>
        public void Reset()
        {
            Attempt = 0;
        }
    }
}
