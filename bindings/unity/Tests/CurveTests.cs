// CURVE in C#: the NaCl primitives against published test vectors (RFC 7748 X25519, RFC 8439
// Poly1305, NaCl's own box example, RFC 32 Z85), then the ZMTP CURVE handshake and messages
// against libzmq itself: a pyzmq CURVE ROUTER with ZAP authentication
// (tests/bindings/curve_peer.py) and the real runtime configured for CURVE.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using NpcRuntime.Curve;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    [TestFixture]
    public class CurveTests
    {
        static byte[] H(string hex) { return TestEnv.FromHex(hex.Replace(" ", "")); }

        static string X(byte[] b) { return TestEnv.ToHex(b); }

        // ------------------------------------------------------------ known answers
        [Test]
        public void X25519MatchesRfc7748()
        {
            // RFC 7748 section 5.2, first vector
            Assert.AreEqual("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
                X(NaCl.ScalarMult(H("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                    H("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"))));
            // section 6.1: Alice and Bob
            byte[] alice = H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
            byte[] bob = H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
            Assert.AreEqual("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", X(NaCl.PublicKey(alice)));
            Assert.AreEqual("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", X(NaCl.PublicKey(bob)));
            string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
            Assert.AreEqual(shared, X(NaCl.ScalarMult(alice, NaCl.PublicKey(bob))));
            Assert.AreEqual(shared, X(NaCl.ScalarMult(bob, NaCl.PublicKey(alice))));
        }

        [Test]
        public void BoxKeyDerivationMatchesNaClsExample()
        {
            // NaCl's tests/box.c: crypto_box_beforenm(bobpk, alicesk) = HSalsa20(0, X25519 shared secret)
            byte[] k = NaCl.BoxBeforeNm(H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
                H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
            Assert.AreEqual("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389", X(k));
        }

        [Test]
        public void Poly1305MatchesRfc8439()
        {
            byte[] key = H("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
            byte[] msg = Encoding.ASCII.GetBytes("Cryptographic Forum Research Group");
            Assert.AreEqual("a8061dc1305136c6c22b8baf0c0127a9", X(NaCl.Poly1305(msg, 0, msg.Length, key)));
        }

        [Test]
        public void SecretBoxRoundTripsAndRefusesAnyTampering()
        {
            byte[] key = NaCl.RandomBytes(32), nonce = NaCl.RandomBytes(24);
            foreach (int n in new[] { 0, 1, 63, 64, 65, 1000 })
            {
                byte[] m = NaCl.RandomBytes(n);
                byte[] box = NaCl.SecretBox(m, nonce, key);
                Assert.AreEqual(n + 16, box.Length);
                CollectionAssert.AreEqual(m, NaCl.SecretBoxOpen(box, 0, box.Length, nonce, key));
                for (int i = 0; i < box.Length; i += Math.Max(1, box.Length / 7))
                {
                    var bad = (byte[])box.Clone();
                    bad[i] ^= 0x40;
                    Assert.IsNull(NaCl.SecretBoxOpen(bad, 0, bad.Length, nonce, key), "a flipped bit at " + i + " is caught");
                }
                var otherNonce = (byte[])nonce.Clone();
                otherNonce[23] ^= 1;
                Assert.IsNull(NaCl.SecretBoxOpen(box, 0, box.Length, otherNonce, key));
            }
            Assert.IsNull(NaCl.SecretBoxOpen(new byte[10], 0, 10, nonce, key));
        }

        [Test]
        public void BoxBetweenTwoKeyPairsOpensOnlyWithTheRightKeys()
        {
            byte[] apk, ask, bpk, bsk, cpk, csk;
            NaCl.KeyPair(out apk, out ask);
            NaCl.KeyPair(out bpk, out bsk);
            NaCl.KeyPair(out cpk, out csk);
            byte[] nonce = NaCl.RandomBytes(24), m = Encoding.UTF8.GetBytes("the gate opens at dawn");
            byte[] box = NaCl.Box(m, nonce, bpk, ask);
            CollectionAssert.AreEqual(m, NaCl.BoxOpen(box, 0, box.Length, nonce, apk, bsk));
            Assert.IsNull(NaCl.BoxOpen(box, 0, box.Length, nonce, cpk, bsk));
        }

        [Test]
        public void Z85MatchesRfc32AndRejectsBadText()
        {
            byte[] hello = { 0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B };
            Assert.AreEqual("HelloWorld", Z85.Encode(hello));
            CollectionAssert.AreEqual(hello, Z85.Decode("HelloWorld"));
            byte[] key = NaCl.RandomBytes(32);
            CollectionAssert.AreEqual(key, Z85.Decode(Z85.Encode(key)));
            Assert.Throws<ArgumentException>(() => Z85.Decode("Hell"));
            Assert.Throws<ArgumentException>(() => Z85.Decode("Hello\"orld"));
            Assert.Throws<ArgumentException>(() => new CurveKeys(new byte[31], null, new byte[32]));
        }

        // ------------------------------------------------------------ against libzmq
        sealed class Peer : IDisposable
        {
            public readonly Process Proc;
            public readonly string Dir, Endpoint;

            public Peer(string script, string args, Dictionary<string, string> env, string ready)
            {
                Dir = Path.Combine(Path.GetTempPath(), "npc-curve-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(Dir);
                var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("NPC_RUNTIME_PYTHON"), script + " " + args.Replace("DIR", "\"" + Dir + "\""))
                {
                    WorkingDirectory = TestEnv.RepoRoot(),
                    UseShellExecute = false,
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                if (env != null) foreach (var kv in env) psi.EnvironmentVariables[kv.Key] = kv.Value.Replace("DIR", Dir);
                Proc = Process.Start(psi);
                var log = new StringBuilder();
                var found = new ManualResetEvent(false);
                string endpoint = null;
                DataReceivedEventHandler onLine = (s, e) =>
                {
                    if (e.Data == null) return;
                    lock (log) log.AppendLine(e.Data);
                    Match m = Regex.Match(e.Data, ready);
                    if (m.Success && endpoint == null) { endpoint = m.Groups[1].Value; found.Set(); }
                };
                Proc.OutputDataReceived += onLine;
                Proc.ErrorDataReceived += onLine;
                Proc.BeginOutputReadLine();
                Proc.BeginErrorReadLine();
                while (!found.WaitOne(200))
                    if (Proc.HasExited) { string l; lock (log) l = log.ToString(); Assert.Fail(script + " exited:\n" + l); }
                Endpoint = endpoint;
            }

            public string Key(string name) { return File.ReadAllText(Path.Combine(Dir, name)); }

            public void Dispose()
            {
                try { Proc.StandardInput.Close(); } catch (Exception) { }
                if (!Proc.WaitForExit(5000)) { try { Proc.Kill(); } catch (Exception) { } }
                try { Directory.Delete(Dir, true); } catch (IOException) { }
            }
        }

        static CurveKeys Keys(Peer p, string client)
        {
            return new CurveKeys(Z85.FromCertificate(p.Key("server.key"), "public-key"),
                Z85.FromCertificate(p.Key(client + ".key_secret"), "public-key"),
                Z85.FromCertificate(p.Key(client + ".key_secret"), "secret-key"));
        }

        [Test]
        public void HandshakeAndMessagesWorkWithLibzmqsCurveServer()
        {
            using (var peer = new Peer("tests/bindings/curve_peer.py", "DIR", null, @"listening on (\S+)"))
            using (var d = new ZmtpDealer { Curve = Keys(peer, "allowed") })
            {
                d.Connect(peer.Endpoint, 10000);
                Assert.IsTrue(d.IsEncrypted);
                Assert.AreEqual("ROUTER", d.PeerSocketType);
                var rnd = new Random(5);
                foreach (int n in new[] { 0, 5, 300, 70000 })
                {
                    var m = new byte[n];
                    rnd.NextBytes(m);
                    d.Send(m);
                    List<byte[]> back = d.Receive(); // the server's 100 ms PINGs are answered on the way
                    CollectionAssert.AreEqual(m, back[back.Count - 1]);
                }
                Thread.Sleep(400); // several heartbeat periods: a missing PONG would get us dropped (libzmq timeout 5 s)
                d.Send(Encoding.ASCII.GetBytes("still here"));
                Assert.AreEqual("still here", Encoding.ASCII.GetString(d.Receive()[0]));
            }
        }

        [Test]
        public void AWrongServerKeyOrAnUnknownClientKeyIsRefused()
        {
            using (var peer = new Peer("tests/bindings/curve_peer.py", "DIR", null, @"listening on (\S+)"))
            {
                byte[] pk, sk;
                NaCl.KeyPair(out pk, out sk);
                using (var d = new ZmtpDealer { Curve = CurveKeys.Generate(pk) }) // not the server's key
                {
                    var e = Assert.Throws<ZmtpException>(() => d.Connect(peer.Endpoint, 10000));
                    StringAssert.Contains("CURVE", e.Message);
                }
                using (var d = new ZmtpDealer { Curve = Keys(peer, "stranger") }) // not in the allowed directory
                {
                    Assert.Throws<ZmtpException>(() => d.Connect(peer.Endpoint, 10000));
                }
                using (var d = new ZmtpDealer()) // no CURVE at all
                {
                    var e = Assert.Throws<ZmtpException>(() => d.Connect(peer.Endpoint, 10000));
                    StringAssert.Contains("CURVE", e.Message);
                }
            }
        }

        [Test]
        public void TheRealRuntimeServesAClientOverCurve()
        {
            string python = Environment.GetEnvironmentVariable("NPC_RUNTIME_PYTHON");
            string keys = Path.Combine(Path.GetTempPath(), "npc-runtime-keys-" + Guid.NewGuid().ToString("N"));
            try
            {
                Directory.CreateDirectory(Path.Combine(keys, "clients"));
                RunPython(python, "-m npc_runtime.cli keys generate \"" + Path.Combine(keys, "server") + "\"");
                RunPython(python, "-m npc_runtime.cli keys generate \"" + Path.Combine(keys, "client") + "\"");
                File.Copy(Path.Combine(keys, "client", "server.key"), Path.Combine(keys, "clients", "game.key"));
                var env = new Dictionary<string, string>
                {
                    { "NPC_RUNTIME_CURVE_SECRET_FILE", Path.Combine(keys, "server", "server.key_secret") },
                    { "NPC_RUNTIME_CURVE_CLIENTS_DIR", Path.Combine(keys, "clients") },
                };
                using (var runtime = new RuntimeProcess("tcp://127.0.0.1:0", env))
                {
                    string clientCert = File.ReadAllText(Path.Combine(keys, "client", "server.key_secret"));
                    var curve = new CurveKeys(Z85.FromCertificate(File.ReadAllText(Path.Combine(keys, "server", "server.key")), "public-key"),
                        Z85.FromCertificate(clientCert, "public-key"), Z85.FromCertificate(clientCert, "secret-key"));
                    using (var c = new NpcRuntimeClient(runtime.Endpoint, "unity-curve") { Curve = curve })
                    {
                        Welcome w = c.Connect();
                        Assert.IsTrue(c.IsEncrypted);
                        Assert.IsTrue(w.Npcs.Exists(n => n.Id == "mira"));
                        ConversationStarted s = c.StartConversation(new[] { "mira" }, "hero", "text", false);
                        long id = c.Say(s.ConversationId, "Do you have a room for the night?");
                        Dictionary<string, object> final = c.WaitFor(m => Protocol.Str(m, "type") == "npc_text_final" && id.Equals(Protocol.Ref(m)), 60000);
                        Assert.IsNotNull(final, "the NPC answered over CURVE");
                        Assert.IsNotEmpty(NpcTextFinal.From(final).Text);
                    }
                    using (var plain = new NpcRuntimeClient(runtime.Endpoint, "unity-no-curve"))
                    {
                        Assert.Throws<ZmtpException>(() => plain.Connect(), "a NULL client is refused by a CURVE runtime");
                    }
                }
            }
            finally
            {
                try { Directory.Delete(keys, true); } catch (IOException) { }
            }
        }

        static void RunPython(string python, string args)
        {
            var psi = new ProcessStartInfo(python, args)
            {
                WorkingDirectory = TestEnv.RepoRoot(),
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (Process p = Process.Start(psi))
            {
                string err = p.StandardError.ReadToEnd();
                p.WaitForExit(120000);
                Assert.AreEqual(0, p.ExitCode, python + " " + args + ":\n" + err);
            }
        }
    }
}
