// End-to-end tests of the C# client against the REAL runtime: `python -m npc_runtime.cli serve`
// started as a subprocess on a random loopback port (the Python is $NPC_RUNTIME_PYTHON, set by
// bindings/run_tests.sh). NUnit 2.6 (Debian's nunit-console): NuGet is unreachable here.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    /// <summary>A runtime process; Endpoint is parsed from its 'listening on ENDPOINT' line.</summary>
    public sealed class RuntimeProcess : IDisposable
    {
        // short liveness settings so the heartbeat test stays quick (env overrides of the runtime)
        public const double HeartbeatInterval = 0.5, ClientTimeout = 3.0;

        readonly Process proc;
        readonly StringBuilder log = new StringBuilder();
        readonly ManualResetEvent ready = new ManualResetEvent(false);
        readonly string tmp;
        public string Endpoint;

        public RuntimeProcess() : this("tcp://127.0.0.1:0", null) { }

        /// <param name="bind">the runtime's endpoint (a fixed one lets a restarted runtime take over the port)</param>
        /// <param name="extraEnv">more NAME=VALUE settings for the runtime process, or null</param>
        public RuntimeProcess(string bind, Dictionary<string, string> extraEnv)
        {
            string python = Environment.GetEnvironmentVariable("NPC_RUNTIME_PYTHON");
            if (string.IsNullOrEmpty(python))
                Assert.Fail("set NPC_RUNTIME_PYTHON to a Python with npc_runtime installed (bindings/run_tests.sh does)");
            tmp = Path.Combine(Path.GetTempPath(), "npc-unity-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(tmp);
            var psi = new ProcessStartInfo(python,
                "-m npc_runtime.cli serve --bind " + bind + " --personas personas --db \"" + Path.Combine(tmp, "runtime.sqlite3") + "\"")
            {
                WorkingDirectory = TestEnv.RepoRoot(),
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            psi.EnvironmentVariables["NPC_RUNTIME_HEARTBEAT_INTERVAL"] = HeartbeatInterval.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.EnvironmentVariables["NPC_RUNTIME_CLIENT_TIMEOUT"] = ClientTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (extraEnv != null) foreach (var kv in extraEnv) psi.EnvironmentVariables[kv.Key] = kv.Value;
            proc = new Process { StartInfo = psi };
            proc.OutputDataReceived += (s, e) => OnLine(e.Data);
            proc.ErrorDataReceived += (s, e) => OnLine(e.Data);
            proc.Start();
            proc.BeginOutputReadLine();
            proc.BeginErrorReadLine();
            var waited = Stopwatch.StartNew();
            while (!ready.WaitOne(200))
            {
                // the runtime's imports are slow on a loaded machine: allow 120 s, but stop at once if it exits
                if (proc.HasExited || waited.Elapsed.TotalSeconds > 120)
                {
                    string why = proc.HasExited ? "exited with code " + proc.ExitCode : "did not print 'listening on' within 120 s";
                    Dispose();
                    Assert.Fail("the runtime (" + python + " -m npc_runtime.cli serve) " + why + ":\n" + Log);
                }
            }
        }

        void OnLine(string line)
        {
            if (line == null) return;
            lock (log) log.AppendLine(line);
            Match m = Regex.Match(line, @"listening on (\S+)");
            if (m.Success && Endpoint == null)
            {
                Endpoint = m.Groups[1].Value;
                ready.Set();
            }
        }

        public string Log { get { lock (log) return log.ToString(); } }

        public void Kill()
        {
            try
            {
                if (!proc.HasExited) proc.Kill();
                proc.WaitForExit(10000);
            }
            catch (InvalidOperationException) { }
        }

        public void Dispose()
        {
            Kill();
            try { Directory.Delete(tmp, true); } catch (IOException) { }
        }
    }

    [TestFixture]
    public class EndToEndTests
    {
        RuntimeProcess runtime;
        readonly List<NpcRuntimeClient> clients = new List<NpcRuntimeClient>();

        [TestFixtureSetUp]
        public void StartRuntime()
        {
            runtime = new RuntimeProcess();
        }

        [TestFixtureTearDown]
        public void StopRuntime()
        {
            if (runtime != null) runtime.Dispose();
        }

        [TearDown]
        public void CloseClients()
        {
            foreach (var c in clients) c.Dispose();
            clients.Clear();
        }

        NpcRuntimeClient Connected(string name)
        {
            var c = new NpcRuntimeClient(runtime.Endpoint, name);
            clients.Add(c);
            c.Connect();
            return c;
        }

        static Func<Dictionary<string, object>, bool> Is(string type)
        {
            return m => Protocol.Str(m, "type") == type;
        }

        [Test]
        public void HelloIsWelcomedAndNpcsAreListed()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            Welcome w = c.Welcome;
            Assert.AreEqual(1, w.Protocol);
            Assert.AreEqual(RuntimeProcess.HeartbeatInterval, w.HeartbeatInterval);
            Assert.AreEqual(RuntimeProcess.ClientTimeout, w.ClientTimeout);
            Assert.Greater(w.MaxMessageBytes, 1024);
            Assert.IsNotNullOrEmpty(w.Session);
            var ids = new List<string>();
            foreach (NpcInfo n in c.ListNpcs()) ids.Add(n.Id);
            CollectionAssert.Contains(ids, "mira");
            CollectionAssert.Contains(ids, "bram");
            Assert.AreEqual(w.Npcs.Count, ids.Count);
            NpcInfo mira = w.Npcs.Find(n => n.Id == "mira");
            Assert.IsNotNullOrEmpty(mira.Name);
        }

        [Test]
        public void ConversationWithMiraStreamsAnAuthoredReply()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            var deltas = new List<NpcTextDelta>();
            var finals = new List<NpcTextFinal>();
            c.NpcTextDeltaReceived += d => deltas.Add(d);
            c.NpcTextFinalReceived += f => finals.Add(f);

            ConversationStarted started = c.StartConversation(new[] { "mira" }, "hero");
            string cid = started.ConversationId;
            Assert.IsNotNullOrEmpty(cid);
            CollectionAssert.AreEqual(new[] { "mira" }, started.NpcIds);
            Dictionary<string, object> greeting = c.WaitFor(m => Is("npc_text_final")(m) && Protocol.Str(m, "conversation_id") == cid, 10000);
            Assert.IsNotNull(greeting, "no greeting");
            Assert.AreEqual("greeting", Protocol.Str(greeting, "source"));

            deltas.Clear();
            finals.Clear();
            long id = c.Say(cid, "do you have a room for the night?");
            Dictionary<string, object> raw = c.WaitFor(m => Is("npc_text_final")(m) && id.Equals(Protocol.Ref(m)), 15000);
            Assert.IsNotNull(raw, "no npc_text_final answering the player line");
            Assert.AreEqual(1, finals.Count, "the NpcTextFinalReceived event fired once");
            NpcTextFinal final = finals[0];
            Assert.AreEqual("authored", final.Source);
            Assert.AreEqual("mira", final.NpcId);
            Assert.AreEqual(cid, final.ConversationId);
            Assert.IsFalse(final.Interrupted);
            Assert.IsNotNullOrEmpty(final.Text);
            Assert.Greater(deltas.Count, 0, "the reply was streamed as deltas");
            var joined = new StringBuilder();
            for (int i = 0; i < deltas.Count; i++)
            {
                Assert.AreEqual(i + 1, deltas[i].Seq, "deltas arrive in order, seq from 1");
                Assert.AreEqual(final.TurnId, deltas[i].TurnId);
                joined.Append(deltas[i].Text);
            }
            Assert.AreEqual(final.Text, joined.ToString());

            c.EndConversation(cid);
            Dictionary<string, object> ended = c.WaitFor(Is("conversation_ended"), 10000);
            Assert.IsNotNull(ended, "no conversation_ended");
            Assert.AreEqual("client", Protocol.Str(ended, "reason"));
            Assert.AreEqual(cid, Protocol.Str(ended, "conversation_id"));
        }

        [Test]
        public void MalformedAndWrongMessagesAreAnsweredWithTypedErrors()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            var errors = new List<RuntimeNotice>();
            c.ErrorReceived += e => errors.Add(e);

            c.SendRaw(new byte[] { 0xc1, 0x00, 0xff }); // not msgpack
            Dictionary<string, object> e1 = c.WaitFor(Is("error"), 5000);
            Assert.IsNotNull(e1, "no error for a malformed frame");
            Assert.AreEqual("malformed", Protocol.Str(e1, "code"));

            c.SendRaw(MsgPack.Encode(new List<object> { 1L, 2L })); // msgpack, but not a map
            Assert.AreEqual("malformed", Protocol.Str(c.WaitFor(Is("error"), 5000), "code"));

            var noType = new Dictionary<string, object>();
            noType["id"] = 41L;
            c.Send(noType);
            Dictionary<string, object> e2 = c.WaitFor(Is("error"), 5000);
            Assert.AreEqual("missing_type", Protocol.Str(e2, "code"));
            Assert.AreEqual(41L, Protocol.Ref(e2));

            var unknown = new Dictionary<string, object>();
            unknown["type"] = "dance";
            unknown["id"] = "d-1";
            c.Send(unknown);
            Dictionary<string, object> e3 = c.WaitFor(Is("error"), 5000);
            Assert.AreEqual("unknown_type", Protocol.Str(e3, "code"));
            Assert.AreEqual("d-1", Protocol.Ref(e3));

            long id = c.Say("no-such-conversation", "hello?");
            Dictionary<string, object> e4 = c.WaitFor(Is("error"), 5000);
            Assert.AreEqual("unknown_conversation", Protocol.Str(e4, "code"));
            Assert.AreEqual(id, Protocol.Ref(e4));

            Assert.AreEqual(5, errors.Count, "each error also reached the ErrorReceived event");
            // the connection is still good
            Assert.Greater(c.ListNpcs().Count, 0);
        }

        [Test]
        public void LongFramesTravelBothWays()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            string cid = c.StartConversation(new[] { "mira" }, "hero", "text", false).ConversationId;
            var line = new StringBuilder();
            while (line.Length < 1500) line.Append("tell me about the wolves and the north gate, ");
            long id = c.Say(cid, line.ToString()); // a ZMTP long frame (> 255 bytes)
            Dictionary<string, object> final = c.WaitFor(m => Is("npc_text_final")(m) && id.Equals(Protocol.Ref(m)), 15000);
            Assert.IsNotNull(final, "a long player line is answered");
            var e = Assert.Throws<ArgumentException>(() => c.SendRaw(new byte[c.Welcome.MaxMessageBytes + 1]));
            StringAssert.Contains("limit", e.Message);
            Assert.IsTrue(c.IsConnected);
        }

        [Test]
        public void AnAmbientExchangeIsOverheardAndThePlayerJoinsIt()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            var finals = new List<NpcTextFinal>();
            c.NpcTextFinalReceived += f => finals.Add(f);
            const string seed = "The wolves took another sheep last night.";
            ConversationStarted s = c.StartConversation(new[] { "bram", "tomas" }, "hero", "text", true, AmbientSpec.FromSeedLine(seed, 3));
            string cid = s.ConversationId;
            CollectionAssert.AreEqual(new[] { "bram", "tomas" }, s.NpcIds);
            for (int i = 0; i < 3; i++)
                Assert.IsNotNull(c.WaitFor(m => Is("npc_text_final")(m) && Protocol.Str(m, "conversation_id") == cid, 20000), "ambient line " + (i + 1));
            Assert.AreEqual(3, finals.Count);
            CollectionAssert.AreEqual(new[] { "bram", "tomas", "bram" }, finals.ConvertAll(f => f.NpcId), "the NPCs answer each other in turn");
            Assert.IsTrue(finals.TrueForAll(f => f.Ambient), "every line is marked ambient");
            Assert.AreEqual(seed, finals[0].Text, "the seed line is said as written");
            Assert.IsFalse(finals.Exists(f => f.Text == ""));

            // the player joins: the addressed NPC answers the player, not ambient
            long id = c.Say(cid, "Tomas, is the north gate shut?", "tomas");
            Dictionary<string, object> raw = c.WaitFor(m => Is("npc_text_final")(m) && id.Equals(Protocol.Ref(m)), 20000);
            Assert.IsNotNull(raw, "the player's line is answered");
            NpcTextFinal answer = NpcTextFinal.From(raw);
            Assert.IsFalse(answer.Ambient);
            Assert.AreEqual("tomas", answer.NpcId);

            // an ambient start the runtime refuses (one NPC) is caught by the builder before sending
            Assert.Throws<ArgumentException>(() => c.StartConversation(new[] { "bram" }, "hero", "text", true, AmbientSpec.OnTopic("wolves")));
            var oneNpc = Protocol.ConversationStart(null, new[] { "bram", "tomas" }, "hero", "text", true, AmbientSpec.OnTopic("wolves"));
            oneNpc["npc_ids"] = new List<object> { "bram" };
            var e = Assert.Throws<NpcRuntimeException>(() => c.Request(oneNpc));
            Assert.AreEqual(RuntimeCode.InvalidFields, e.Kind);
            StringAssert.Contains("two", e.Message);
        }

        [Test]
        public void TheS2sChoiceIsSentAndCheckedByTheRuntime()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            // "none" keeps the cascade; in text mode it changes nothing and is accepted
            ConversationStarted ok = c.StartConversation(new[] { "mira" }, "hero", "text", false, null, "none");
            Assert.IsNotNullOrEmpty(ok.ConversationId);
            // a profile this runtime does not have is refused with invalid_fields naming s2s
            var e = Assert.Throws<NpcRuntimeException>(() => c.StartConversation(new[] { "mira" }, "hero", "text", false, null, "no_such_profile"));
            Assert.AreEqual(RuntimeCode.InvalidFields, e.Kind);
            StringAssert.Contains("no_such_profile", e.Message);
            Assert.IsTrue(c.IsConnected);
        }

        [Test]
        public void RequestsRefusedByTheRuntimeThrowTypedExceptions()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            var e = Assert.Throws<NpcRuntimeException>(() => c.StartConversation(new[] { "nobody" }));
            Assert.AreEqual("unknown_npc", e.Code);
            var wrong = Protocol.ConversationStart(null, new[] { "mira" });
            wrong["npc_ids"] = "mira"; // a string where a list is required
            var e2 = Assert.Throws<NpcRuntimeException>(() => c.Request(wrong));
            Assert.AreEqual("invalid_fields", e2.Code);
            StringAssert.Contains("npc_ids", e2.Message);
        }

        [Test]
        public void AsyncApiConnectsTalksAndSavesAndLoads()
        {
            var c = new NpcRuntimeClient(runtime.Endpoint, "unity-async");
            clients.Add(c);
            var first = c.ConnectAsync();
            var second = c.ConnectAsync(); // e.g. a MonoBehaviour and a script both connecting
            Welcome w = first.Result;
            Assert.AreSame(w, second.Result, "concurrent connects share one session");
            Assert.AreEqual(1, w.Protocol);
            Assert.Greater(c.ListNpcsAsync().Result.Count, 0);
            ConversationStarted s = c.StartConversationAsync(new[] { "bram" }, "hero", "text", false).Result;
            Assert.IsNotNullOrEmpty(s.ConversationId);
            byte[] blob = c.SaveAsync().Result;
            Assert.IsNotNull(blob);
            Assert.Greater(blob.Length, 0);
            c.LoadAsync(blob).Wait();
            var agg = Assert.Throws<AggregateException>(() => c.LoadAsync(new byte[] { 1, 2, 3 }).Wait());
            Assert.IsInstanceOf<NpcRuntimeException>(agg.InnerException);
            Assert.AreEqual("save_invalid", ((NpcRuntimeException)agg.InnerException).Code);
        }

        [Test]
        public void PingIsAnsweredWithPongEchoingT()
        {
            NpcRuntimeClient c = Connected("unity-e2e");
            c.SetGameTime(30.5); // no reply; an error would arrive before the pong
            Dictionary<string, object> pong = c.Request(Protocol.Ping(null, 1234.5));
            Assert.AreEqual("pong", Protocol.Str(pong, "type"));
            Assert.AreEqual(1234.5, Protocol.Float(pong, "t"));
            Assert.AreEqual(0, c.Pump(), "game_time caused no error");
        }

        [Test]
        public void HeartbeatsKeepAnIdleClientAndPongsKeepTheConnection()
        {
            // Silence is the subject of this test: one client relies on the binding's heartbeat
            // pings, a bare DEALER only answers ZMTP PINGs (libzmq drops a peer that does not
            // answer within 3 heartbeat intervals). Both stay silent past client_timeout.
            NpcRuntimeClient alive = Connected("unity-heartbeat");
            string cid = alive.StartConversation(new[] { "mira" }, "hero", "text", false).ConversationId;

            using (var bare = new ZmtpDealer())
            {
                bare.Connect(runtime.Endpoint, 5000);
                bare.Send(MsgPack.Encode(Protocol.Hello(1L, "bare")));
                Assert.AreEqual("welcome", Protocol.Str(MsgPack.DecodeMap(bare.Receive()[0]), "type"));
                var replies = new List<Dictionary<string, object>>();
                var gotReply = new ManualResetEvent(false);
                var reader = new Thread(() =>
                {
                    try
                    {
                        while (true)
                        {
                            Dictionary<string, object> m = MsgPack.DecodeMap(bare.Receive()[0]);
                            lock (replies) replies.Add(m);
                            gotReply.Set();
                        }
                    }
                    catch (ZmtpException) { }
                }) { IsBackground = true };
                reader.Start();

                Assert.IsNull(alive.WaitFor(null, (int)(RuntimeProcess.ClientTimeout * 1000 * 1.4)), "no events while idle");

                // the heartbeat kept the session and its conversation
                Assert.IsTrue(alive.IsConnected);
                Assert.GreaterOrEqual(alive.LastRoundTripMs, 0.0, "heartbeat pongs arrived");
                long id = alive.Say(cid, "do you have a room for the night?");
                Dictionary<string, object> final = alive.WaitFor(m => Is("npc_text_final")(m) && id.Equals(Protocol.Ref(m)), 15000);
                Assert.IsNotNull(final, "the idle client's conversation survived");

                // the bare DEALER's TCP connection survived ZMTP heartbeats (its PONGs), but its
                // session timed out: the runtime no longer knows it
                Assert.IsTrue(reader.IsAlive, "the connection was not dropped by libzmq");
                var list = new Dictionary<string, object>();
                list["type"] = "list_npcs";
                list["id"] = 2L;
                bare.Send(MsgPack.Encode(list));
                Assert.IsTrue(gotReply.WaitOne(5000), "no reply on the bare connection");
                lock (replies)
                {
                    Assert.AreEqual("error", Protocol.Str(replies[0], "type"));
                    Assert.AreEqual("not_introduced", Protocol.Str(replies[0], "code"));
                }
            }
        }
    }
}
