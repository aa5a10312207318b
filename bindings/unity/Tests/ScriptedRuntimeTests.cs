// Tests of messages the real runtime cannot produce yet, against tests/bindings/scripted_runtime.py:
// a real ZeroMQ ROUTER on loopback (pyzmq, started as a subprocess with $NPC_RUNTIME_PYTHON) that
// sends real msgpack frames, only its decisions are scripted. Covered: the cluster-mode warning
// conversation_moved (the unfinished turn runs once more, the subtitle and the buffered audio of
// the abandoned attempt are dropped), the error not_authority, and error/warning codes no runtime
// sends today (surfaced as events, never thrown, the connection stays up).
// NUnit 2.6 (Debian's nunit-console): NuGet is unreachable here.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using NpcRuntime.Voice;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    /// <summary>tests/bindings/scripted_runtime.py as a subprocess; Endpoint from its 'listening on' line.</summary>
    public sealed class ScriptedRuntime : IDisposable
    {
        readonly Process proc;
        readonly StringBuilder log = new StringBuilder();
        public readonly string Endpoint;

        public ScriptedRuntime()
        {
            string python = Environment.GetEnvironmentVariable("NPC_RUNTIME_PYTHON");
            if (string.IsNullOrEmpty(python)) Assert.Fail("set NPC_RUNTIME_PYTHON (bindings/run_tests.sh does)");
            var psi = new ProcessStartInfo(python, "tests/bindings/scripted_runtime.py --until-stdin-eof")
            {
                WorkingDirectory = TestEnv.RepoRoot(),
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            proc = Process.Start(psi);
            var found = new ManualResetEvent(false);
            string endpoint = null;
            DataReceivedEventHandler onLine = (s, e) =>
            {
                if (e.Data == null) return;
                lock (log) log.AppendLine(e.Data);
                Match m = Regex.Match(e.Data, @"listening on (\S+)");
                if (m.Success && endpoint == null) { endpoint = m.Groups[1].Value; found.Set(); }
            };
            proc.OutputDataReceived += onLine;
            proc.ErrorDataReceived += onLine;
            proc.BeginOutputReadLine();
            proc.BeginErrorReadLine();
            var waited = Stopwatch.StartNew();
            while (!found.WaitOne(200))
            {
                if (proc.HasExited || waited.Elapsed.TotalSeconds > 60)
                {
                    string l;
                    lock (log) l = log.ToString();
                    Dispose();
                    Assert.Fail("scripted_runtime.py did not start:\n" + l);
                }
            }
            Endpoint = endpoint;
        }

        public void Dispose()
        {
            try { proc.StandardInput.Close(); } catch (Exception) { }
            if (!proc.WaitForExit(5000)) { try { proc.Kill(); } catch (Exception) { } }
        }
    }

    [TestFixture]
    public class ScriptedRuntimeTests
    {
        const string MovedLine = "The wolves came back at dawn.";
        ScriptedRuntime peer;
        readonly List<IDisposable> cleanup = new List<IDisposable>();

        [TestFixtureSetUp]
        public void StartPeer() { peer = new ScriptedRuntime(); }

        [TestFixtureTearDown]
        public void StopPeer() { if (peer != null) peer.Dispose(); }

        [TearDown]
        public void Close()
        {
            for (int i = cleanup.Count - 1; i >= 0; i--) cleanup[i].Dispose();
            cleanup.Clear();
        }

        NpcRuntimeClient Connected()
        {
            var c = new NpcRuntimeClient(peer.Endpoint, "unity-scripted");
            cleanup.Add(c);
            c.Connect();
            return c;
        }

        NpcSession Session()
        {
            var s = new NpcSession(peer.Endpoint, "unity-scripted");
            cleanup.Add(s);
            s.Connect();
            return s;
        }

        static bool RunUntil(NpcSession s, VoiceConversation v, Func<bool> cond, int timeoutMs)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                s.Pump();
                v.Update();
                if (cond()) return true;
                if (clock.ElapsedMilliseconds > timeoutMs) return false;
                s.Client.WaitFor(null, 10);
            }
        }

        [Test]
        public void CodesOfANewerRuntimeAreRaisedAsEventsAndTheConnectionStays()
        {
            NpcRuntimeClient c = Connected();
            var errors = new List<RuntimeNotice>();
            var warnings = new List<RuntimeNotice>();
            c.ErrorReceived += e => errors.Add(e);
            c.WarningReceived += w => warnings.Add(w);
            string cid = c.StartConversation(new[] { "mira" }).ConversationId;
            Assert.IsNotNull(c.WaitFor(m => Protocol.Str(m, "type") == "npc_text_final", 10000), "the scripted first line");
            warnings.Clear();

            long id = c.Say(cid, "unknown codes");
            Dictionary<string, object> reply = c.WaitFor(m => Protocol.Str(m, "type") == "npc_text_final" && id.Equals(Protocol.Ref(m)), 10000);
            Assert.IsNotNull(reply, "the reply after the unknown codes arrived: the client kept going");
            Assert.AreEqual(1, errors.Count);
            Assert.AreEqual("future_error_code", errors[0].Code, "the code is kept as sent");
            Assert.AreEqual(RuntimeCode.Unknown, errors[0].Kind);
            Assert.IsFalse(errors[0].IsKnownCode);
            Assert.IsFalse(errors[0].IsWarning);
            Assert.AreEqual(id, errors[0].Ref);
            Assert.AreEqual(cid, errors[0].ConversationId);
            Assert.AreEqual("a code from a newer runtime", errors[0].Message);
            Assert.AreEqual(1, warnings.Count);
            Assert.AreEqual("future_warning_code", warnings[0].Code);
            Assert.AreEqual(RuntimeCode.Unknown, warnings[0].Kind);
            Assert.IsTrue(warnings[0].IsWarning);
            Assert.IsTrue(c.IsConnected);
            Assert.AreEqual(2, c.ListNpcs().Count, "requests still work");
        }

        [Test]
        public void NotAuthorityIsATypedExceptionForRequestsAndAnEventOtherwise()
        {
            NpcRuntimeClient c = Connected();
            var errors = new List<RuntimeNotice>();
            c.ErrorReceived += e => errors.Add(e);
            var load = Assert.Throws<NpcRuntimeException>(() => c.Request(Protocol.Load(null, new byte[] { 1, 2 })));
            Assert.AreEqual(RuntimeCodes.NotAuthority, load.Code);
            Assert.AreEqual(RuntimeCode.NotAuthority, load.Kind);
            var reset = Assert.Throws<NpcRuntimeException>(() => c.Request(Protocol.WorldReset(null)));
            Assert.AreEqual(RuntimeCode.NotAuthority, reset.Kind);
            StringAssert.Contains("world-authority", reset.Message);

            c.SetGameTime(12.0); // no id: its refusal arrives as an event, nothing throws
            Assert.IsNotNull(c.WaitFor(m => Protocol.Str(m, "type") == "error", 10000));
            Assert.AreEqual(1, errors.Count);
            Assert.AreEqual(RuntimeCode.NotAuthority, errors[0].Kind);
            Assert.IsNull(errors[0].Ref);
            Assert.IsTrue(c.IsConnected);
            Assert.AreEqual(2, c.ListNpcs().Count);
        }

        [Test]
        public void ConversationMovedResetsTheSubtitleAndTheTurnRunsOnce()
        {
            NpcSession s = Session();
            var moved = new List<RuntimeNotice>();
            s.Client.ConversationMoved += n => moved.Add(n);
            var v = new VoiceConversation(s, "mira", "hero", VoiceConversation.Text, 48000, 48000);
            cleanup.Add(v);
            var shown = new List<string>();
            var lines = new List<NpcTextFinal>();
            var vmoved = new List<RuntimeNotice>();
            v.SubtitleChanged += t => shown.Add(t);
            v.LineFinished += f => lines.Add(f);
            v.Moved += n => { vmoved.Add(n); Assert.AreEqual("", v.Subtitle, "the subtitle is reset before Moved is raised"); };
            Assert.IsTrue(v.StartAsync().Wait(10000));

            Assert.IsTrue(RunUntil(s, v, () => lines.Count > 0, 10000), "the replayed line ended");
            Assert.AreEqual(1, vmoved.Count);
            Assert.AreEqual(v.ConversationId, vmoved[0].ConversationId, "the id is unchanged");
            Assert.AreEqual(RuntimeCode.ConversationMoved, vmoved[0].Kind);
            Assert.AreEqual(1, moved.Count, "NpcRuntimeClient.ConversationMoved fired too");
            CollectionAssert.AreEqual(new[]
            {
                "The wolves ", "The wolves came back ",              // the first attempt
                "",                                                   // conversation_moved
                "The wolves ", "The wolves came back ", MovedLine,   // the turn once more
                MovedLine,                                            // npc_text_final
            }, shown);
            Assert.AreEqual(1, lines.Count, "one npc_text_final for the turn");
            Assert.AreEqual(MovedLine, lines[0].Text);
            Assert.AreEqual(MovedLine, v.Subtitle);
            Assert.IsTrue(s.IsConnected);
        }

        [Test]
        public void ConversationMovedDropsTheAbandonedAttemptsAudio()
        {
            NpcSession s = Session();
            const int rate = 22050; // the script's TTS rate: no resampling, sample counts stay exact
            var v = new VoiceConversation(s, "mira", "hero", VoiceConversation.PushToTalk, 16000, rate);
            cleanup.Add(v);
            var ended = new List<NpcAudioEnd>();
            var moved = new List<RuntimeNotice>();
            v.AudioEnded += e => ended.Add(e);
            v.Moved += n => moved.Add(n);
            Assert.IsTrue(v.StartAsync().Wait(10000));
            Assert.IsTrue(RunUntil(s, v, () => ended.Count > 0, 10000), "the replayed turn's audio ended");
            Assert.AreEqual(1, moved.Count);
            // 100 ms of the first attempt, then 200 ms of the replay: only the replay is queued to play
            long replay = rate * 200 / 1000, first = rate * 100 / 1000;
            Assert.GreaterOrEqual(v.Player.Buffer.Count, replay);
            Assert.Less(v.Player.Buffer.Count, replay + first / 2, "the abandoned attempt's audio was flushed");
            // nothing plays here (no speaker): the flush moved the read position past the first attempt
            Assert.AreEqual(first, v.Player.Buffer.ReadPosition, "the first attempt's samples were skipped, never played");
        }
    }
}
