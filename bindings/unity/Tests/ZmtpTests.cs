// Tests of the ZMTP 3.1 DEALER against scripted peers on real loopback sockets (the real runtime is
// in EndToEndTests). NUnit 2.6 (Debian's nunit-console): NuGet is unreachable here.

using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    [TestFixture]
    public class ZmtpTests
    {
        /// <summary>A one-connection TCP peer that runs a script on its own thread.</summary>
        sealed class ScriptedPeer : IDisposable
        {
            readonly TcpListener listener = new TcpListener(IPAddress.Loopback, 0);
            readonly Thread thread;
            public Exception Failure;
            public readonly ManualResetEvent Done = new ManualResetEvent(false);

            public ScriptedPeer(Action<NetworkStream> script)
            {
                listener.Start();
                thread = new Thread(() =>
                {
                    try
                    {
                        using (TcpClient c = listener.AcceptTcpClient())
                        {
                            c.ReceiveTimeout = 5000;
                            script(c.GetStream());
                        }
                    }
                    catch (Exception e)
                    {
                        Failure = e;
                    }
                    finally
                    {
                        Done.Set();
                    }
                }) { IsBackground = true };
                thread.Start();
            }

            public string Endpoint { get { return "tcp://127.0.0.1:" + ((IPEndPoint)listener.LocalEndpoint).Port; } }

            public void Dispose()
            {
                listener.Stop();
                thread.Join(5000);
            }
        }

        static byte[] ReadN(Stream s, int n)
        {
            var b = new byte[n];
            int got = 0;
            while (got < n)
            {
                int r = s.Read(b, got, n - got);
                if (r <= 0) throw new EndOfStreamException();
                got += r;
            }
            return b;
        }

        static byte[] ReadFrame(Stream s, out byte flags)
        {
            byte[] h = ReadN(s, 2);
            flags = h[0];
            return ReadN(s, h[1]); // the client's frames here are short
        }

        static byte[] ServerGreeting(string mechanism)
        {
            byte[] g = ZmtpDealer.Greeting();
            Array.Clear(g, 12, 20);
            Encoding.ASCII.GetBytes(mechanism, 0, mechanism.Length, g, 12);
            g[32] = 1;
            return g;
        }

        static void Write(Stream s, byte[] b)
        {
            s.Write(b, 0, b.Length);
        }

        /// <summary>Greeting + READY as the runtime's ROUTER would; checks the client's side.</summary>
        static void RouterHandshake(NetworkStream s)
        {
            byte[] g = ReadN(s, 64);
            Assert.AreEqual(0xff, g[0]);
            Assert.AreEqual(3, g[10]);
            Write(s, ServerGreeting("NULL"));
            byte flags;
            byte[] ready = ReadFrame(s, out flags);
            Assert.AreEqual(0x04, flags);
            Assert.AreEqual("DEALER", Encoding.ASCII.GetString(ZmtpDealer.ParseReady(ready)["Socket-Type"]));
            var body = new MemoryStream();
            body.WriteByte(5);
            Write(body, Encoding.ASCII.GetBytes("READY"));
            body.WriteByte(11);
            Write(body, Encoding.ASCII.GetBytes("Socket-Type"));
            Write(body, new byte[] { 0, 0, 0, 6 });
            Write(body, Encoding.ASCII.GetBytes("ROUTER"));
            Write(s, ZmtpDealer.FrameBytes(body.ToArray(), 0x04));
        }

        [Test]
        public void GreetingIsZmtp31WithTheNullMechanism()
        {
            byte[] g = ZmtpDealer.Greeting();
            Assert.AreEqual(64, g.Length);
            Assert.AreEqual(0xff, g[0]);
            Assert.AreEqual(0x7f, g[9]);
            Assert.AreEqual(3, g[10]);
            Assert.AreEqual(1, g[11]);
            Assert.AreEqual("NULL", Encoding.ASCII.GetString(g, 12, 4));
            Assert.AreEqual(0, g[32]);
        }

        [Test]
        public void FramesAreShortUpTo255BytesThenLong()
        {
            byte[] s = ZmtpDealer.FrameBytes(new byte[255], 0);
            Assert.AreEqual(new byte[] { 0x00, 0xff }, new[] { s[0], s[1] });
            Assert.AreEqual(257, s.Length);
            byte[] l = ZmtpDealer.FrameBytes(new byte[256], 0x04);
            Assert.AreEqual(new byte[] { 0x06, 0, 0, 0, 0, 0, 0, 1, 0 }, new List<byte>(l).GetRange(0, 9).ToArray());
            Assert.AreEqual(256 + 9, l.Length);
        }

        [Test]
        public void ReadyCarriesSocketTypeAndEmptyIdentity()
        {
            Dictionary<string, byte[]> props = ZmtpDealer.ParseReady(ZmtpDealer.ReadyBody("DEALER"));
            Assert.AreEqual("DEALER", Encoding.ASCII.GetString(props["Socket-Type"]));
            Assert.AreEqual(0, props["Identity"].Length);
            Assert.Throws<ZmtpException>(() => ZmtpDealer.ParseReady(Encoding.ASCII.GetBytes("\x05READY\x0bSocket")));
        }

        [TestCase("tcp://127.0.0.1:7600", "127.0.0.1", 7600)]
        [TestCase("tcp://localhost:1", "localhost", 1)]
        [TestCase("tcp://[::1]:7600", "::1", 7600)]
        public void EndpointsAreParsed(string endpoint, string host, int port)
        {
            string h;
            int p;
            ZmtpDealer.ParseEndpoint(endpoint, out h, out p);
            Assert.AreEqual(host, h);
            Assert.AreEqual(port, p);
        }

        [TestCase("127.0.0.1:7600")]
        [TestCase("ipc:///tmp/x")]
        [TestCase("tcp://127.0.0.1")]
        [TestCase("tcp://127.0.0.1:99999")]
        public void BadEndpointsAreRefusedWithAnExample(string endpoint)
        {
            var e = Assert.Throws<ArgumentException>(() => new NpcRuntimeClient(endpoint));
            StringAssert.Contains("tcp://127.0.0.1:7600", e.Message);
        }

        [Test]
        public void ConnectingToAClosedPortFailsFast()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var client = new NpcRuntimeClient("tcp://127.0.0.1:" + port);
            var e = Assert.Throws<ZmtpException>(() => client.Connect());
            StringAssert.Contains("is the runtime running?", e.Message);
        }

        [Test]
        public void APeerThatIsNotZeroMqIsReported()
        {
            using (var peer = new ScriptedPeer(s =>
            {
                Write(s, Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
                ReadN(s, 64);
            }))
            {
                var dealer = new ZmtpDealer();
                var e = Assert.Throws<ZmtpException>(() => dealer.Connect(peer.Endpoint, 5000));
                StringAssert.Contains("not a ZeroMQ socket", e.Message);
            }
        }

        [Test]
        public void ACurvePeerIsReportedAsUnsupported()
        {
            using (var peer = new ScriptedPeer(s =>
            {
                ReadN(s, 64);
                Write(s, ServerGreeting("CURVE"));
            }))
            {
                var dealer = new ZmtpDealer();
                var e = Assert.Throws<ZmtpException>(() => dealer.Connect(peer.Endpoint, 5000));
                StringAssert.Contains("CURVE", e.Message);
            }
        }

        [Test]
        public void PingIsAnsweredWithPongAndMultipartAndLongFramesAreRead()
        {
            byte[] pongSeen = null;
            byte[] messageSeen = null;
            using (var peer = new ScriptedPeer(s =>
            {
                RouterHandshake(s);
                // PING: ttl 30 deciseconds, context "ctx1"
                var ping = new List<byte> { 4 };
                ping.AddRange(Encoding.ASCII.GetBytes("PING"));
                ping.AddRange(new byte[] { 0, 30 });
                ping.AddRange(Encoding.ASCII.GetBytes("ctx1"));
                Write(s, ZmtpDealer.FrameBytes(ping.ToArray(), 0x04));
                byte flags;
                pongSeen = ReadFrame(s, out flags);
                Assert.AreEqual(0x04, flags);
                // a two-frame message (empty delimiter + payload), then a long single frame
                Write(s, ZmtpDealer.FrameBytes(new byte[0], 0x01));
                Write(s, ZmtpDealer.FrameBytes(MsgPack.Encode("second"), 0));
                Write(s, ZmtpDealer.FrameBytes(new byte[1000], 0));
                messageSeen = ReadFrame(s, out flags);
            }))
            {
                using (var dealer = new ZmtpDealer())
                {
                    dealer.Connect(peer.Endpoint, 5000);
                    Assert.AreEqual("ROUTER", dealer.PeerSocketType);
                    List<byte[]> first = dealer.Receive(); // answers the PING on the way
                    Assert.AreEqual(2, first.Count);
                    Assert.AreEqual(0, first[0].Length);
                    Assert.AreEqual("second", MsgPack.Decode(first[1]));
                    List<byte[]> second = dealer.Receive();
                    Assert.AreEqual(1, second.Count);
                    Assert.AreEqual(1000, second[0].Length);
                    dealer.Send(new byte[] { 0x80 });
                    Assert.IsTrue(peer.Done.WaitOne(5000));
                }
                Assert.IsNull(peer.Failure, peer.Failure == null ? "" : peer.Failure.ToString());
                Assert.AreEqual("\x04PONGctx1", Encoding.ASCII.GetString(pongSeen));
                Assert.AreEqual(new byte[] { 0x80 }, messageSeen);
            }
        }

        [Test]
        public void AnErrorCommandEndsTheConnectionWithItsReason()
        {
            using (var peer = new ScriptedPeer(s =>
            {
                RouterHandshake(s);
                var err = new List<byte> { 5 };
                err.AddRange(Encoding.ASCII.GetBytes("ERROR"));
                err.Add(7);
                err.AddRange(Encoding.ASCII.GetBytes("go away"));
                Write(s, ZmtpDealer.FrameBytes(err.ToArray(), 0x04));
                ReadN(s, 1); // wait for the client to close
            }))
            {
                using (var dealer = new ZmtpDealer())
                {
                    dealer.Connect(peer.Endpoint, 5000);
                    var e = Assert.Throws<ZmtpException>(() => dealer.Receive());
                    StringAssert.Contains("go away", e.Message);
                }
            }
        }

        [Test]
        public void AConnectionThatDropsIsReportedAsADisconnect()
        {
            var closeNow = new ManualResetEvent(false);
            using (var peer = new ScriptedPeer(s =>
            {
                RouterHandshake(s);
                byte flags;
                Dictionary<string, object> hello = MsgPack.DecodeMap(ReadFrame(s, out flags));
                var welcome = new Dictionary<string, object>();
                welcome["type"] = "welcome";
                welcome["ref"] = hello["id"];
                welcome["protocol"] = 1L;
                welcome["npcs"] = new List<object>();
                welcome["heartbeat_interval"] = 5.0;
                welcome["client_timeout"] = 10.0;
                welcome["max_message_bytes"] = 1048576L;
                Write(s, ZmtpDealer.FrameBytes(MsgPack.Encode(welcome), 0));
                closeNow.WaitOne(5000);
            }))
            {
                var c = new NpcRuntimeClient(peer.Endpoint, "doomed");
                try
                {
                    Assert.AreEqual(1, c.Connect().Protocol);
                    string reason = null;
                    c.Disconnected += r => reason = r;
                    closeNow.Set(); // the peer closes the TCP connection, as a killed runtime's OS does
                    Assert.IsNull(c.WaitFor(null, 5000), "WaitFor returns null once disconnected");
                    Assert.IsNotNull(reason, "Disconnected was raised");
                    Assert.IsFalse(c.IsConnected);
                    var e = Assert.Throws<ZmtpException>(() => c.ListNpcs());
                    StringAssert.Contains("disconnected", e.Message);
                }
                finally
                {
                    c.Dispose();
                }
            }
        }
    }
}
