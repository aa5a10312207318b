// Tests of the plain-C# audio core (no UnityEngine): ring buffer, PCM conversion, resampling,
// microphone chunking, viseme timeline, playback accounting, the voice player and reconnect backoff.

using System;
using System.Collections.Generic;
using System.Threading;
using NpcRuntime.Audio;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    [TestFixture]
    public class AudioTests
    {
        static float[] Sine(double hz, int rate, int n, double amp = 0.5)
        {
            var s = new float[n];
            for (int i = 0; i < n; i++) s[i] = (float)(amp * Math.Sin(2 * Math.PI * hz * i / rate));
            return s;
        }

        static double Rms(float[] s, int from, int to)
        {
            double acc = 0;
            for (int i = from; i < to; i++) acc += s[i] * s[i];
            return Math.Sqrt(acc / (to - from));
        }

        static float[] Concat(List<float[]> parts)
        {
            int n = 0;
            foreach (float[] p in parts) n += p.Length;
            var o = new float[n];
            int at = 0;
            foreach (float[] p in parts) { Array.Copy(p, 0, o, at, p.Length); at += p.Length; }
            return o;
        }

        // ------------------------------------------------------------ ring buffer
        [Test]
        public void RingBufferWrapsGrowsAndCountsPositions()
        {
            var rb = new AudioRingBuffer(4, 64);
            var data = new float[10];
            for (int i = 0; i < 10; i++) data[i] = i;
            Assert.AreEqual(10, rb.Write(data, 0, 10));
            Assert.AreEqual(16, rb.Capacity);
            var o = new float[6];
            Assert.AreEqual(6, rb.Read(o, 0, 6));
            CollectionAssert.AreEqual(new float[] { 0, 1, 2, 3, 4, 5 }, o);
            rb.Write(data, 0, 10); // wraps around the 16-sample array
            var rest = new float[20];
            Assert.AreEqual(14, rb.Read(rest, 0, 20));
            Assert.AreEqual(6f, rest[0]);
            Assert.AreEqual(9f, rest[3]);
            Assert.AreEqual(0f, rest[4]);
            Assert.AreEqual(9f, rest[13]);
            Assert.AreEqual(0f, rest[19]); // underrun: silence
            Assert.AreEqual(20, rb.WritePosition);
            Assert.AreEqual(20, rb.ReadPosition);
            Assert.AreEqual(20, rb.PlayedSamples);
            Assert.AreEqual(6, rb.UnderrunSamples);
        }

        [Test]
        public void RingBufferClearReturnsWherePlaybackStoppedAndDropsTheRest()
        {
            var rb = new AudioRingBuffer(8, 8);
            rb.Write(new float[8], 0, 8);
            Assert.AreEqual(0, rb.Write(new float[3], 0, 3)); // at MaxCapacity: refused, counted
            Assert.AreEqual(3, rb.DroppedSamples);
            rb.Read(new float[5], 0, 5);
            Assert.AreEqual(5, rb.Clear());
            Assert.AreEqual(0, rb.Count);
            Assert.AreEqual(6, rb.DroppedSamples);
            Assert.AreEqual(8, rb.ReadPosition);
        }

        [Test]
        public void RingBufferRejectsBadArguments()
        {
            var rb = new AudioRingBuffer(8);
            Assert.Throws<ArgumentOutOfRangeException>(() => rb.Write(new float[2], 1, 2));
            Assert.Throws<ArgumentNullException>(() => rb.Read(null, 0, 1));
            Assert.Throws<ArgumentException>(() => new AudioRingBuffer(0));
        }

        [Test]
        public void RingBufferFillsEveryChannelOfAnInterleavedBlock()
        {
            var rb = new AudioRingBuffer(16);
            rb.Write(new float[] { 0.1f, 0.2f, 0.3f }, 0, 3);
            var block = new float[8];
            float[] scratch = null;
            Assert.AreEqual(3, rb.ReadInterleaved(block, 2, ref scratch, 0.5f));
            CollectionAssert.AreEqual(new float[] { 0.05f, 0.05f, 0.1f, 0.1f, 0.15f, 0.15f, 0f, 0f }, block);
        }

        [Test]
        public void RingBufferKeepsOrderBetweenAWriterAndAReaderThread()
        {
            var rb = new AudioRingBuffer(256, 1 << 20);
            const int total = 200000;
            var writer = new Thread(() =>
            {
                var chunk = new float[333];
                for (int v = 0; v < total;)
                {
                    int n = Math.Min(chunk.Length, total - v);
                    for (int i = 0; i < n; i++) chunk[i] = v + i;
                    rb.Write(chunk, 0, n);
                    v += n;
                }
            });
            writer.Start();
            var got = new List<float>(total);
            var buf = new float[512];
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (got.Count < total && DateTime.UtcNow < deadline)
            {
                int n = rb.Read(buf, 0, buf.Length);
                for (int i = 0; i < n; i++) got.Add(buf[i]);
                if (n == 0) Thread.Yield();
            }
            writer.Join();
            Assert.AreEqual(total, got.Count);
            for (int i = 0; i < total; i++) if (got[i] != i) Assert.Fail("sample " + i + " is " + got[i]);
        }

        // ------------------------------------------------------------ PCM
        [Test]
        public void Pcm16RoundTripsClipsAndRefusesHalfSamples()
        {
            byte[] b = Pcm16.ToBytes(new float[] { 0f, 0.5f, -1f, 2f, -2f, float.NaN });
            CollectionAssert.AreEqual(new byte[] { 0, 0, 0, 0x40, 0, 0x80, 0xff, 0x7f, 0, 0x80, 0, 0 }, b);
            float[] f = Pcm16.ToFloats(b);
            Assert.AreEqual(0.5f, f[1]);
            Assert.AreEqual(-1f, f[2]);
            Assert.Throws<ArgumentException>(() => Pcm16.ToFloats(new byte[3]));
        }

        // ------------------------------------------------------------ resampler
        [TestCase(48000, 16000)]
        [TestCase(44100, 16000)]
        [TestCase(22050, 48000)]
        [TestCase(16000, 16000)]
        public void ResamplerStreamedInPiecesEqualsOneCallAndHasTheExactLength(int inRate, int outRate)
        {
            float[] x = Sine(440, inRate, inRate / 2);
            var one = new Resampler(inRate, outRate);
            float[] whole = Concat(new List<float[]> { one.Process(x), one.Flush() });
            Assert.AreEqual((long)Math.Round(x.Length * (double)outRate / inRate), whole.Length);
            var streamed = new Resampler(inRate, outRate);
            var parts = new List<float[]>();
            var rnd = new Random(7);
            for (int at = 0; at < x.Length;)
            {
                int n = Math.Min(x.Length - at, rnd.Next(1, 900));
                parts.Add(streamed.Process(x, at, n));
                at += n;
            }
            parts.Add(streamed.Flush());
            float[] s = Concat(parts);
            Assert.AreEqual(whole.Length, s.Length);
            for (int i = 0; i < s.Length; i++) Assert.AreEqual(whole[i], s[i], 1e-6, "sample " + i);
        }

        [TestCase(48000, 16000, 440.0)]
        [TestCase(44100, 16000, 1000.0)]
        [TestCase(22050, 48000, 3000.0)]
        public void ResamplerKeepsAToneInTheBand(int inRate, int outRate, double hz)
        {
            var r = new Resampler(inRate, outRate);
            float[] y = Concat(new List<float[]> { r.Process(Sine(hz, inRate, inRate)), r.Flush() });
            float[] want = Sine(hz, outRate, y.Length);
            int margin = outRate / 20; // away from the stream's edges
            double err = 0;
            for (int i = margin; i < y.Length - margin; i++) err = Math.Max(err, Math.Abs(y[i] - want[i]));
            Assert.Less(err, 0.01, "a " + hz + " Hz tone comes out as itself (max error)");
        }

        [Test]
        public void ResamplerDownsamplingDoesNotAliasAToneAboveTheNewNyquist()
        {
            var r = new Resampler(48000, 16000);
            float[] y = Concat(new List<float[]> { r.Process(Sine(11000, 48000, 48000)), r.Flush() });
            // 11 kHz cannot exist at 16 kHz; a naive decimation folds it to 5 kHz at full level (0.35 RMS)
            Assert.Less(Rms(y, 800, y.Length - 800), 0.01);
        }

        // ------------------------------------------------------------ microphone
        [Test]
        public void MicrophoneStreamMakesFortyMillisecondChunksAt16k()
        {
            var mic = new MicrophoneStream(48000, 16000, 40);
            var chunks = new List<byte[]>();
            float[] x = Sine(300, 48000, 48000);
            for (int at = 0; at < x.Length; at += 480) chunks.AddRange(mic.Push(x, at, 480)); // 10 ms callbacks
            int whole = chunks.Count;
            foreach (byte[] c in chunks) Assert.AreEqual(1280, c.Length); // 640 samples, s16le
            chunks.AddRange(mic.Flush());
            int samples = 0;
            foreach (byte[] c in chunks) samples += c.Length / 2;
            Assert.AreEqual(16000, samples);
            Assert.Greater(whole, 20);
            Assert.Throws<ArgumentOutOfRangeException>(() => new MicrophoneStream(48000, 16000, 5));
        }

        [Test]
        public void MicrophoneCursorFollowsALoopingClipAcrossTheWrap()
        {
            var c = new MicrophoneCursor(1000);
            int offset;
            Assert.AreEqual(0, c.Advance(0, out offset));
            Assert.AreEqual(300, c.Advance(300, out offset));
            Assert.AreEqual(0, offset);
            Assert.AreEqual(650, c.Advance(950, out offset));
            Assert.AreEqual(300, offset);
            Assert.AreEqual(150, c.Advance(100, out offset)); // 950 -> 999, then 0 -> 99
            Assert.AreEqual(950, offset);
            Assert.Throws<ArgumentOutOfRangeException>(() => c.Advance(1000, out offset));
            var mono = new float[2];
            MicrophoneCursor.Downmix(new float[] { 1f, 0f, 0.5f, 0.25f }, 2, 2, mono);
            CollectionAssert.AreEqual(new[] { 0.5f, 0.375f }, mono);
        }

        // ------------------------------------------------------------ visemes
        [Test]
        public void VisemeTimelinePlacesChunkKeysOnTheSampleAxis()
        {
            var t = new VisemeTimeline(48000);
            var keys = new List<object>
            {
                new List<object> { 39.9, "ou" }, new List<object> { 94.5, "aa" }, new List<object> { 200L, "sil" },
                new List<object> { 10.0, "not_a_viseme" }, "junk",
            };
            Assert.AreEqual(2, t.AddChunk(1000, keys, "viseme"));
            Assert.IsTrue(t.At(999).Idle);
            Assert.IsTrue(t.At(1000 + 1914).Idle); // 39.9 ms = 1915.2 samples -> 1915
            Assert.AreEqual("ou", t.At(1000 + 1915).Viseme);
            Assert.AreEqual(1f, t.At(1000 + 4000).Value);
            Assert.AreEqual("aa", t.At(1000 + 4536).Viseme);
            Assert.AreEqual("sil", t.At(1000 + 9600).Viseme);
            Assert.AreEqual(0f, t.At(1000 + 9600).Value);
            t.StopAt(1000 + 3000);
            Assert.AreEqual("sil", t.At(1000 + 4536).Viseme);
            Assert.AreEqual("ou", t.At(1000 + 2000).Viseme);
        }

        [Test]
        public void VisemeTimelineReadsMouthOpenValues()
        {
            var t = new VisemeTimeline(1000);
            t.AddChunk(0, new List<object> { new List<object> { 0L, 0.25 }, new List<object> { 40L, 1.5 } }, "mouth_open");
            Assert.IsNull(t.At(10).Viseme);
            Assert.AreEqual(0.25f, t.At(10).Value);
            Assert.AreEqual(1f, t.At(50).Value); // clamped to 0..1
            t.Prune(50);
            Assert.AreEqual(1, t.Count);
        }

        // ------------------------------------------------------------ playback accounting
        static Dictionary<string, object> Only(List<Dictionary<string, object>> msgs, string type)
        {
            var found = msgs.FindAll(m => (string)m["type"] == type);
            Assert.AreEqual(1, found.Count, "one " + type + " in " + msgs.Count + " messages");
            return found[0];
        }

        [Test]
        public void TrackerReportsStartThenTheWholeTurnOnceItHasPlayed()
        {
            var t = new PlaybackTracker(1000);
            t.OnAudio("c1", 3, 100, 600, "Big grey");
            t.OnAudio("c1", 3, 600, 1100, "one leads them.");
            Assert.AreEqual(0, t.Update(100).Count);
            var started = t.Update(101);
            Assert.AreEqual(3L, Only(started, "playback_started")["turn_id"]);
            t.OnAudioEnd("c1", 3, 1100);
            Assert.AreEqual(0, t.Update(1099).Count);
            Dictionary<string, object> r = Only(t.Update(1100), "playback_report");
            Assert.AreEqual(1000.0, r["played_ms"]);
            Assert.AreEqual(true, r["finished"]);
            Assert.IsFalse(r.ContainsKey("heard_chars"));
            Assert.AreEqual(0, t.Pending);
        }

        [Test]
        public void TrackerReportsWherePlaybackStoppedAndTheCharactersHeard()
        {
            var t = new PlaybackTracker(1000) { ReportHeardChars = true };
            t.OnAudio("c1", 3, 0, 500, "Big grey");
            t.OnAudio("c1", 3, 500, 1000, "one leads them.");
            t.Update(10);
            Assert.AreEqual("Big grey one lea", t.HeardText("c1", 3, 750)); // half of " one leads them."
            t.OnStop("c1", 3, 750);
            Dictionary<string, object> r = Only(t.Update(750), "playback_report");
            Assert.AreEqual(750.0, r["played_ms"]);
            Assert.AreEqual(16L, r["heard_chars"]);
            Assert.AreEqual(0, t.Pending);
        }

        [Test]
        public void TrackerAnswersAStopForATurnItNeverHeard()
        {
            var t = new PlaybackTracker(1000);
            t.OnStop("c1", 9, 0);
            var msgs = t.Update(0);
            Assert.AreEqual(0, msgs.FindAll(m => (string)m["type"] == "playback_started").Count);
            Assert.AreEqual(0.0, Only(msgs, "playback_report")["played_ms"]);
        }

        // ------------------------------------------------------------ the voice player
        static NpcAudio Chunk(long turn, long seq, int samples, string text, int rate = 22050)
        {
            float[] s = Sine(200, rate, samples, 0.3);
            var m = new Dictionary<string, object>
            {
                { "type", "npc_audio" }, { "conversation_id", "c1" }, { "turn_id", turn }, { "npc_id", "bram" },
                { "seq", seq }, { "sample_rate", (long)rate }, { "pcm", Pcm16.ToBytes(s) }, { "text", text },
                { "visemes", new List<object> { new List<object> { 0.0, "aa" }, new List<object> { 50.0, "sil" } } },
                { "viseme_kind", "viseme" },
            };
            return NpcAudio.From(m);
        }

        static NpcAudioEnd End(long turn)
        {
            return NpcAudioEnd.From(new Dictionary<string, object> { { "type", "npc_audio_end" }, { "conversation_id", "c1" }, { "turn_id", turn } });
        }

        [Test]
        public void VoicePlayerPlaysATurnAtTheOutputRateAndReportsIt()
        {
            var p = new NpcVoicePlayer(48000);
            long buffered = -1;
            p.TurnAudioBuffered += (c, t) => buffered = t;
            for (int i = 0; i < 10; i++) p.OnNpcAudio(Chunk(3, i, 2205, "w" + i)); // 10 x 100 ms
            Assert.AreEqual(3, buffered);
            p.OnNpcAudioEnd(End(3));
            Assert.AreEqual(48000, p.Buffer.WritePosition); // 1 s at 22050 -> 1 s at 48000
            var block = new float[1024 * 2];
            var sent = new List<Dictionary<string, object>>();
            Assert.IsTrue(p.CurrentViseme().Idle || p.CurrentViseme().Viseme == "aa");
            p.Fill(block, 2);
            sent.AddRange(p.Update());
            Only(sent, "playback_started");
            Assert.AreEqual("aa", p.CurrentViseme().Viseme);
            while (p.IsPlaying) { p.Fill(block, 2); sent.AddRange(p.Update()); }
            sent.AddRange(p.Update());
            Assert.AreEqual(1000.0, Only(sent, "playback_report")["played_ms"]);
        }

        [Test]
        public void VoicePlayerStopFlushesReportsWhatPlayedAndDropsLateChunks()
        {
            var p = new NpcVoicePlayer(44100);
            for (int i = 0; i < 10; i++) p.OnNpcAudio(Chunk(4, i, 2205, "w"));
            var block = new float[4410]; // 100 ms mono
            for (int i = 0; i < 3; i++) p.Fill(block, 1);
            p.Update();
            p.OnStopPlayback(StopPlayback.From(new Dictionary<string, object> { { "type", "stop_playback" }, { "conversation_id", "c1" }, { "turn_id", 4L } }));
            Assert.IsFalse(p.IsPlaying);
            Assert.AreEqual("sil", p.CurrentViseme().Viseme);
            var msgs = p.Update();
            Assert.AreEqual(300.0, Only(msgs, "playback_report")["played_ms"]);
            p.OnNpcAudio(Chunk(4, 10, 2205, "late")); // was in flight when the stop came
            p.OnNpcAudioEnd(End(4));
            Assert.IsFalse(p.IsPlaying);
            p.Fill(block, 1);
            Assert.AreEqual(0, p.Update().Count);
            p.OnNpcAudio(Chunk(5, 0, 2205, "next turn")); // the next turn plays
            Assert.IsTrue(p.IsPlaying);
        }

        [Test]
        public void VoicePlayerRefusesBadAudio()
        {
            var p = new NpcVoicePlayer(48000);
            NpcAudio a = Chunk(1, 0, 100, "x");
            a.Pcm = new byte[3];
            Assert.Throws<ArgumentException>(() => p.OnNpcAudio(a));
            a = Chunk(1, 0, 100, "x");
            a.SampleRate = 0;
            Assert.Throws<ArgumentException>(() => p.OnNpcAudio(a));
            Assert.AreEqual(0, p.Buffer.WritePosition);
        }

        // ------------------------------------------------------------ lip-sync weights
        [Test]
        public void VisemeBlenderMovesTheMappedSlotTowardItsVisemeAndClosesOnSilence()
        {
            var b = new VisemeBlender(new[] { "aa", "PP", "open" }, 25f);
            var aa = new VisemeFrame { Viseme = "aa", Value = 1f };
            float[] w = b.Step(aa, 0.02f);
            Assert.That(w[0], Is.InRange(0.3f, 0.5f)); // 1 - e^-0.5 = 0.39: smoothed, not a jump
            Assert.AreEqual(0f, w[1]);
            Assert.AreEqual(0.6f * 0.39f, w[2], 0.01f); // any spoken viseme opens the jaw slot part way
            for (int i = 0; i < 50; i++) b.Step(aa, 0.02f);
            Assert.AreEqual(1f, b.Weights[0], 1e-3);
            for (int i = 0; i < 50; i++) b.Step(new VisemeFrame { Viseme = "sil", Value = 0f }, 0.02f);
            Assert.AreEqual(0f, b.Weights[0], 1e-3);
            b.Step(new VisemeFrame { Viseme = null, Value = 0.8f }, 10f); // mouth_open keys drive "open"
            Assert.AreEqual(0.8f, b.Weights[2], 1e-3);
            Assert.AreEqual(0f, b.Weights[0], 1e-3);
        }

        // ------------------------------------------------------------ reconnect policy
        [Test]
        public void ReconnectPolicyBacksOffExponentiallyWithBoundedJitterAndResets()
        {
            var p = new ReconnectPolicy(new Random(1)) { InitialDelay = 0.5, Multiplier = 2, MaxDelay = 4, Jitter = 0.2 };
            double[] nominal = { 0.5, 1, 2, 4, 4, 4 };
            foreach (double n in nominal)
            {
                double d = p.NextDelay();
                Assert.That(d, Is.InRange(n * 0.8, n * 1.2));
            }
            Assert.AreEqual(6, p.Attempt);
            p.Reset();
            Assert.That(p.NextDelay(), Is.InRange(0.4, 0.6));
            var once = new ReconnectPolicy(new Random(1)) { MaxAttempts = 2, Jitter = 0 };
            Assert.AreEqual(0.5, once.NextDelay());
            Assert.IsFalse(once.GaveUp);
            once.NextDelay();
            Assert.IsTrue(once.GaveUp);
            Assert.Throws<InvalidOperationException>(() => new ReconnectPolicy { Multiplier = 0.5 }.NextDelay());
        }
    }
}
