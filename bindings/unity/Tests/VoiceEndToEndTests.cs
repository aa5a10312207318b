// End-to-end voice tests of the C# client against the REAL runtime (a `npc_runtime.cli serve`
// subprocess on loopback): the same VoiceConversation the Unity NpcCharacter component wraps,
// fed real speech at real-time pace (tests/bindings/speech_fixture.py writes the WAV files), its
// NPC audio "played" by a speaker thread that drains the plugin's own ring buffer at real-time pace
// the way Unity's audio thread calls OnAudioFilterRead. Nothing here is mocked.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using NpcRuntime.Audio;
using NpcRuntime.Voice;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    /// <summary>A mono s16 WAV file as floats.</summary>
    public sealed class Wav
    {
        public int Rate;
        public float[] Samples;

        public static Wav Read(string path)
        {
            byte[] b = File.ReadAllBytes(path);
            int at = 12, rate = 0, channels = 0;
            while (at + 8 <= b.Length)
            {
                string id = System.Text.Encoding.ASCII.GetString(b, at, 4);
                int size = BitConverter.ToInt32(b, at + 4);
                if (id == "fmt ")
                {
                    channels = BitConverter.ToInt16(b, at + 10);
                    rate = BitConverter.ToInt32(b, at + 12);
                }
                else if (id == "data")
                {
                    if (channels != 1) throw new InvalidDataException(path + ": expected mono");
                    var pcm = new byte[size];
                    Array.Copy(b, at + 8, pcm, 0, size);
                    return new Wav { Rate = rate, Samples = Pcm16.ToFloats(pcm) };
                }
                at += 8 + size + (size & 1);
            }
            throw new InvalidDataException(path + ": no data chunk");
        }

        public double Seconds { get { return (double)Samples.Length / Rate; } }
    }

    /// <summary>The engine's audio thread: takes 10 ms blocks (stereo, 48 kHz) from the player at real-time pace.</summary>
    public sealed class Speaker : IDisposable
    {
        public const int Rate = 48000, Channels = 2, Frames = 480;
        readonly NpcVoicePlayer player;
        readonly Thread thread;
        volatile bool stop;

        public Speaker(NpcVoicePlayer player)
        {
            this.player = player;
            thread = new Thread(Run) { IsBackground = true, Name = "speaker" };
            thread.Start();
        }

        void Run()
        {
            var block = new float[Frames * Channels];
            var clock = Stopwatch.StartNew();
            long n = 0;
            while (!stop)
            {
                // pacing (not synchronisation): one block per 10 ms of wall clock, as a sound card pulls them
                long due = n * 10 - clock.ElapsedMilliseconds;
                if (due > 0) Thread.Sleep((int)due);
                player.Fill(block, Channels);
                n++;
            }
        }

        public void Dispose()
        {
            stop = true;
            thread.Join(2000);
        }
    }

    /// <summary>The game's main loop for one test: pumps the session, streams the microphone at real-time pace.</summary>
    public sealed class GameLoop
    {
        readonly NpcSession session;
        readonly List<VoiceConversation> voices = new List<VoiceConversation>();
        float[] mic;
        int micRate, micAt;
        Stopwatch micClock;
        VoiceConversation micTo;

        public GameLoop(NpcSession session) { this.session = session; }

        public void Add(VoiceConversation v) { voices.Add(v); }

        /// <summary>Start streaming `samples` into `v` at real-time pace (10 ms pieces, as a microphone callback would).</summary>
        public void Speak(VoiceConversation v, Wav wav)
        {
            micTo = v;
            mic = wav.Samples;
            micRate = wav.Rate;
            micAt = 0;
            micClock = Stopwatch.StartNew();
        }

        public bool Speaking { get { return mic != null && micAt < mic.Length; } }

        /// <summary>Run frames until cond() holds; false on timeout.</summary>
        public bool RunUntil(Func<bool> cond, int timeoutMs)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (mic != null && micAt < mic.Length)
                {
                    int due = (int)Math.Min(mic.Length, micClock.Elapsed.TotalSeconds * micRate);
                    int step = micRate / 100;
                    while (due - micAt >= step || (due == mic.Length && micAt < due))
                    {
                        int n = Math.Min(step, mic.Length - micAt);
                        micTo.PushMicrophone(mic, micAt, n);
                        micAt += n;
                    }
                }
                session.Pump();
                foreach (VoiceConversation v in voices) v.Update();
                if (cond()) return true;
                if (clock.ElapsedMilliseconds > timeoutMs) return false;
                // a frame: wait for the next message, at most 10 ms (the microphone keeps its pace)
                session.Client.WaitFor(null, 10);
            }
        }
    }

    [TestFixture]
    public class VoiceEndToEndTests
    {
        RuntimeProcess runtime;
        string speechDir;
        Wav beckett, wolves, interrupt;
        readonly List<IDisposable> cleanup = new List<IDisposable>();

        [TestFixtureSetUp]
        public void StartRuntimeAndMakeSpeech()
        {
            speechDir = Path.Combine(Path.GetTempPath(), "npc-unity-speech-" + Guid.NewGuid().ToString("N"));
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("NPC_RUNTIME_PYTHON"),
                "tests/bindings/speech_fixture.py \"" + speechDir + "\" 44100")
            {
                WorkingDirectory = TestEnv.RepoRoot(),
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (Process p = Process.Start(psi))
            {
                string err = p.StandardError.ReadToEnd();
                p.WaitForExit(180000);
                Assert.AreEqual(0, p.ExitCode, "speech_fixture.py failed:\n" + err);
            }
            beckett = Wav.Read(Path.Combine(speechDir, "beckett.wav"));
            wolves = Wav.Read(Path.Combine(speechDir, "wolves.wav"));
            interrupt = Wav.Read(Path.Combine(speechDir, "interrupt.wav"));
            runtime = new RuntimeProcess();
        }

        [TestFixtureTearDown]
        public void StopRuntime()
        {
            if (runtime != null) runtime.Dispose();
            try { Directory.Delete(speechDir, true); } catch (IOException) { }
        }

        [TearDown]
        public void Cleanup()
        {
            cleanup.Reverse();
            foreach (IDisposable d in cleanup) d.Dispose();
            cleanup.Clear();
        }

        NpcSession Session(string endpoint)
        {
            var s = new NpcSession(endpoint, "unity-voice-e2e", new ReconnectPolicy(new Random(3)) { InitialDelay = 0.2, MaxDelay = 1.0 });
            cleanup.Add(s);
            s.Connect();
            return s;
        }

        VoiceConversation Voice(NpcSession s, string npc, int micRate, string mode = VoiceConversation.PushToTalk)
        {
            var v = new VoiceConversation(s, npc, "hero", mode, micRate, Speaker.Rate);
            cleanup.Add(v);
            v.StartAsync().Wait(30000);
            Assert.IsNotNull(v.Ready, "audio_start was answered with audio_ready");
            cleanup.Add(new Speaker(v.Player));
            return v;
        }

        [Test]
        public void PushToTalkTurnIsTranscribedAnsweredPlayedAndReported()
        {
            NpcSession s = Session(runtime.Endpoint);
            VoiceConversation v = Voice(s, "bram", beckett.Rate);
            Assert.AreEqual(16000, v.Ready.SampleRate); // the client resamples 44.1 kHz to 16 kHz itself
            Assert.Greater(v.Ready.TtsSampleRate, 0);
            var transcripts = new List<Transcript>();
            var finals = new List<NpcTextFinal>();
            var subtitles = new System.Text.StringBuilder();
            var sent = new List<Dictionary<string, object>>();
            var visemes = new HashSet<string>();
            NpcAudioEnd end = null;
            long bufferedTurn = -1;
            v.TranscriptReceived += t => transcripts.Add(t);
            v.LineFinished += f => finals.Add(f);
            v.SubtitleDelta += d => subtitles.Append(d.Text);
            v.AudioEnded += e => end = e;
            v.PlaybackMessageSent += m => sent.Add(m);
            v.Player.TurnAudioBuffered += (c, t) => bufferedTurn = t;
            var loop = new GameLoop(s);
            loop.Add(v);

            v.BeginTalking();
            loop.Speak(v, beckett);
            Assert.IsTrue(loop.RunUntil(() => !loop.Speaking, 60000), "the recording was streamed");
            v.EndTalking();
            Assert.Greater(v.ChunksSent, 200); // ~10 s in 40 ms chunks
            Func<bool> reported = () => sent.Exists(m => (string)m["type"] == "playback_report");
            Assert.IsTrue(loop.RunUntil(() =>
            {
                VisemeFrame f = v.Player.CurrentViseme();
                if (!f.Idle && f.Viseme != null) visemes.Add(f.Viseme);
                // the line's npc_text_final comes once the runtime knows what was heard (after the report)
                return reported() && end != null && finals.Exists(x => x.TurnId == end.TurnId);
            }, 120000), "the NPC answered, its audio was played and reported, and its line came");

            Transcript final = transcripts.Find(t => t.Final);
            Assert.IsNotNull(final, "a final transcript");
            StringAssert.Contains("try", final.Text.ToLowerInvariant(), "the recogniser heard Beckett's 'Ever tried...': " + final.Text);
            Assert.IsTrue(final.Used);
            NpcTextFinal line = finals.Find(f => f.TurnId == end.TurnId);
            Assert.IsNotNull(line, "the NPC's line for turn " + end.TurnId + "; lines: " + string.Join(" | ", finals.ConvertAll(f => f.TurnId + ":" + f.Text).ToArray()) + "; transcripts: " + string.Join(" | ", transcripts.ConvertAll(t => t.Text + "/" + t.Final + "/" + t.Used).ToArray()));
            Assert.IsNotEmpty(line.Text);
            Assert.AreEqual(end.TurnId, bufferedTurn);
            Assert.IsFalse(end.Interrupted);
            Assert.Greater(visemes.Count, 2, "the mouth moved on the audio clock: " + string.Join(",", new List<string>(visemes).ToArray()));
            Assert.AreEqual("playback_started", sent[0]["type"]);
            Dictionary<string, object> report = sent.Find(m => (string)m["type"] == "playback_report");
            Assert.AreEqual(end.TurnId, report["turn_id"]);
            Assert.AreEqual(true, report["finished"]);
            // what the speaker thread actually took from the ring buffer is what was reported
            Assert.AreEqual(end.DurationMs, (double)report["played_ms"], end.DurationMs * 0.01 + 1);
            Assert.GreaterOrEqual(v.Player.Buffer.PlayedSamples, (long)(end.DurationMs / 1000 * Speaker.Rate * 0.99));
        }

        [Test]
        public void HandsFreeTurnIsDetectedByTheRuntimeAndAnsweredAloud()
        {
            NpcSession s = Session(runtime.Endpoint);
            VoiceConversation v = Voice(s, "bram", wolves.Rate, VoiceConversation.HandsFree);
            var transcripts = new List<Transcript>();
            var sent = new List<Dictionary<string, object>>();
            NpcAudioEnd end = null;
            v.TranscriptReceived += t => transcripts.Add(t);
            v.AudioEnded += e => end = e;
            v.PlaybackMessageSent += m => sent.Add(m);
            var loop = new GameLoop(s);
            loop.Add(v);
            // an open microphone: silence, the line, silence (no key: the runtime finds the turn's end)
            int pad = wolves.Rate / 2;
            var samples = new float[pad + wolves.Samples.Length + 2 * pad];
            Array.Copy(wolves.Samples, 0, samples, pad, wolves.Samples.Length);
            v.BeginTalking();
            loop.Speak(v, new Wav { Rate = wolves.Rate, Samples = samples });
            Assert.IsTrue(loop.RunUntil(() => end != null && sent.Exists(m => (string)m["type"] == "playback_report"), 120000),
                "the runtime found the end of the turn, answered aloud, and the answer was played and reported");
            Transcript final = transcripts.Find(t => t.Final && t.Used);
            Assert.IsNotNull(final, "a used final transcript");
            // the streaming recogniser sometimes hears "the walls": the words around it are stable
            StringAssert.Contains("about the wolves", final.Text.ToLowerInvariant());
            Assert.IsFalse(end.Interrupted);
        }

        [Test]
        public void TheGreetingIsSpokenPlayedAndReported()
        {
            NpcSession s = Session(runtime.Endpoint);
            var v = new VoiceConversation(s, "mira", "hero", VoiceConversation.HandsFree, 48000, Speaker.Rate);
            cleanup.Add(v);
            var finals = new List<NpcTextFinal>();
            var sent = new List<Dictionary<string, object>>();
            var chunks = new List<long>();
            v.LineFinished += f => finals.Add(f);
            v.PlaybackMessageSent += m => sent.Add(m);
            s.MessageReceived += m => { if (Protocol.Str(m, "type") == "npc_audio") chunks.Add(Protocol.Int(m, "seq")); };
            var start = v.StartAsync(true);
            cleanup.Add(new Speaker(v.Player));
            var loop = new GameLoop(s);
            loop.Add(v);
            // the game loop runs while the start request is on its way (pieces of the greeting that
            // overtake the handle are kept and handled once the conversation id is known)
            Assert.IsTrue(loop.RunUntil(() => start.IsCompleted, 30000));
            Assert.IsTrue(loop.RunUntil(() => finals.Exists(f => f.Source == "greeting") && sent.Exists(m => (string)m["type"] == "playback_report"), 90000),
                "the greeting was played and reported");
            Assert.AreEqual(0, chunks[0], "the greeting's audio starts at its first chunk");
            Dictionary<string, object> report = sent.Find(m => (string)m["type"] == "playback_report");
            // every chunk reached the buffer: the played time is the whole greeting's audio
            Assert.AreEqual(v.Player.Buffer.PlayedSamples * 1000.0 / Speaker.Rate, (double)report["played_ms"], 25.0);
        }

        [Test]
        public void BargeInStopsPlaybackAndTheNpcRemembersOnlyWhatWasPlayed()
        {
            NpcSession s = Session(runtime.Endpoint);
            VoiceConversation v = Voice(s, "bram", wolves.Rate);
            var finals = new List<NpcTextFinal>();
            var sent = new List<Dictionary<string, object>>();
            StopPlayback stop = null;
            long playedAtStop = -1;
            v.LineFinished += f => finals.Add(f);
            v.PlaybackMessageSent += m => sent.Add(m);
            v.PlaybackStopped += st => { stop = st; };
            var loop = new GameLoop(s);
            loop.Add(v);

            v.BeginTalking();
            loop.Speak(v, wolves);
            Assert.IsTrue(loop.RunUntil(() => !loop.Speaking, 30000));
            v.EndTalking();
            // the NPC talks; after 1.3 s of it has been played the player presses the key and speaks
            long barge = (long)(1.3 * Speaker.Rate);
            Assert.IsTrue(loop.RunUntil(() => v.Player.Buffer.PlayedSamples >= barge, 60000), "the NPC's answer played for 1.3 s");
            v.BeginTalking(); // push-to-talk while the NPC speaks interrupts at once
            loop.Speak(v, interrupt);
            Assert.IsTrue(loop.RunUntil(() => stop != null, 30000), "stop_playback came");
            Dictionary<string, object> report = sent.FindLast(m => (string)m["type"] == "playback_report");
            Assert.IsNotNull(report, "the stop was answered with a report at once");
            Assert.AreEqual(stop.TurnId, report["turn_id"]);
            playedAtStop = v.Player.Buffer.PlayedSamples;
            Assert.IsFalse(v.Player.IsPlaying, "the buffer was flushed");
            Assert.IsTrue(loop.RunUntil(() => !loop.Speaking, 30000));
            v.EndTalking();
            Assert.IsTrue(loop.RunUntil(() => finals.Exists(f => f.TurnId > stop.TurnId), 120000), "the interruption was answered");
            NpcTextFinal cut = finals.Find(f => f.TurnId == stop.TurnId);
            Assert.IsNotNull(cut, "the interrupted turn's line");
            double playedMs = (double)report["played_ms"];
            Assert.GreaterOrEqual(playedMs, 1300.0);
            Assert.LessOrEqual(playedMs, playedAtStop * 1000.0 / Speaker.Rate + 0.1);

            var q = s.RequestAsync(Protocol.MemoryQuery(null, "bram", "wolves", 50));
            Assert.IsTrue(q.Wait(30000));
            MemoryResults mem = MemoryResults.From(q.Result);
            var said = mem.Memories.FindAll(m => m.Kind == "said");
            Assert.IsNotEmpty(said, "bram remembers what he said");
            string full = cut.Text;
            MemoryItem heard = said.Find(m => full.StartsWith(m.Text, StringComparison.Ordinal));
            Assert.IsNotNull(heard, "a 'said' memory is the start of the interrupted line '" + full + "'");
            Assert.Less(heard.Text.Length, full.Length, "only what was played is remembered, not the whole line");
            Assert.IsFalse(said.Exists(m => m.Text == full), "the whole interrupted line is not remembered");
        }

        [Test]
        public void SessionStartedBeforeTheRuntimeConnectsOnceItIsUp()
        {
            var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            probe.Start();
            int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            string endpoint = "tcp://127.0.0.1:" + port;
            var s = new NpcSession(endpoint, "unity-early", new ReconnectPolicy(new Random(4)) { InitialDelay = 0.2, MaxDelay = 1.0 });
            cleanup.Add(s);
            Assert.Throws<ZmtpException>(() => s.Connect(), "nothing listens yet");
            Assert.IsTrue(s.IsReconnecting);
            Welcome w = null;
            int failures = 0;
            s.Reconnected += x => w = x;
            s.ReconnectFailed += (e, next) => failures++;
            var loop = new GameLoop(s);
            Assert.IsTrue(loop.RunUntil(() => failures >= 1, 30000), "attempts are made while the runtime is down");
            var rt = new RuntimeProcess(endpoint, null);
            cleanup.Add(rt);
            Assert.IsTrue(loop.RunUntil(() => w != null, 60000), "connected once the runtime is up");
            Assert.IsTrue(s.IsConnected);
            Assert.IsTrue(s.Client.ListNpcs().Exists(n => n.Id == "mira"));
        }

        [Test]
        public void SessionReconnectsAfterTheRuntimeRestartsAndRestartsTheConversation()
        {
            var first = new RuntimeProcess();
            cleanup.Add(first);
            string endpoint = first.Endpoint;
            NpcSession s = Session(endpoint);
            VoiceConversation v = Voice(s, "mira", 48000);
            string oldId = v.ConversationId;
            string disconnected = null;
            Welcome again = null;
            string restartedFrom = null;
            s.Disconnected += r => disconnected = r;
            s.Reconnected += w => again = w;
            v.Restarted += (o, n) => restartedFrom = o;
            var loop = new GameLoop(s);
            loop.Add(v);

            first.Kill();
            Assert.IsTrue(loop.RunUntil(() => disconnected != null, 30000), "the loss was noticed");
            Assert.IsFalse(s.IsConnected);
            Assert.IsTrue(s.IsReconnecting);
            var second = new RuntimeProcess(endpoint, null); // the same port: a restarted runtime
            cleanup.Add(second);
            Assert.IsTrue(loop.RunUntil(() => again != null && restartedFrom != null && v.Ready != null, 60000),
                "reconnected, conversation restarted, microphone declared again");
            Assert.AreEqual(oldId, restartedFrom);
            Assert.AreNotEqual(oldId, v.ConversationId);
            Assert.AreEqual(v.ConversationId, v.Handle.Id);
            Assert.IsTrue(s.IsConnected);
            Assert.AreEqual(0, s.Policy.Attempt, "a success resets the backoff");
            var finals = new List<NpcTextFinal>();
            v.LineFinished += f => finals.Add(f);
            long id = v.Say("Do you have a room for the night?");
            Assert.IsTrue(loop.RunUntil(() => finals.Exists(f => id.Equals(f.Ref)), 60000), "the restarted conversation answers");
        }
    }
}
