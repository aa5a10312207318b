// NPC Runtime client for Unity / plain .NET: a ZeroMQ DEALER speaking ZMTP 3.1 over TcpClient.
//
// Why hand-written: NuGet is not reachable from the machines this project is built and tested on,
// so NetMQ (and MessagePack-CSharp) cannot be used. The runtime's ROUTER (libzmq via pyzmq) only
// needs the part of ZMTP 3.1 implemented here:
//   * NULL security mechanism, or CURVE (encryption and authentication, Curve/CurveClient.cs)
//     when Curve keys are set,
//   * the 64-byte greeting, a READY command with Socket-Type DEALER (and an empty Identity),
//   * framed messages (short and long frames, MORE flag), one frame per protocol message,
//   * PING/PONG commands: the runtime's libzmq sends PING every heartbeat interval and drops a
//     peer that does not answer, so every PING is answered with a PONG here.
// Not implemented: reconnection (the client reports the disconnect; NpcSession reconnects), ipc://.
// Compiles with `mcs -langversion:7.2` (Mono) and with Unity's compiler; no UnityEngine reference.

using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using NpcRuntime.Curve;

namespace NpcRuntime
{
    /// <summary>The peer broke the ZMTP protocol, sent an ERROR command, or the connection is gone.</summary>
    public class ZmtpException : IOException
    {
        public ZmtpException(string message) : base(message) { }
        public ZmtpException(string message, Exception inner) : base(message, inner) { }
    }

    public sealed class ZmtpDealer : IDisposable
    {
        const byte FlagMore = 0x01, FlagLong = 0x02, FlagCommand = 0x04;

        readonly object writeLock = new object();
        TcpClient tcp;
        NetworkStream stream;
        volatile bool closed;

        /// <summary>Largest frame accepted from the peer (bytes).</summary>
        public long MaxFrameBytes = 64L << 20;

        /// <summary>CURVE keys (set before Connect): the connection is encrypted and the runtime
        /// authenticated by its public key. Null: the NULL mechanism (loopback only).</summary>
        public CurveKeys Curve;
        CurveClient curve;

        /// <summary>Socket-Type the peer announced in its READY (ROUTER for the runtime).</summary>
        public string PeerSocketType { get; private set; }

        public bool IsConnected { get { return tcp != null && !closed; } }

        /// <summary>Split "tcp://host:port" into host and port.</summary>
        public static void ParseEndpoint(string endpoint, out string host, out int port)
        {
            const string prefix = "tcp://";
            if (endpoint == null || !endpoint.StartsWith(prefix, StringComparison.Ordinal))
                throw new ArgumentException("endpoint must look like tcp://127.0.0.1:7600, got '" + endpoint + "'");
            string rest = endpoint.Substring(prefix.Length);
            int colon = rest.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(rest.Substring(colon + 1), out port) || port <= 0 || port > 65535)
                throw new ArgumentException("endpoint needs a host and a port 1-65535, e.g. tcp://127.0.0.1:7600, got '" + endpoint + "'");
            host = rest.Substring(0, colon).Trim('[', ']');
        }

        /// <summary>Open the TCP connection and do the ZMTP handshake (blocking, bounded by timeoutMs).</summary>
        public void Connect(string endpoint, int timeoutMs)
        {
            string host;
            int port;
            ParseEndpoint(endpoint, out host, out port);
            closed = false;
            tcp = new TcpClient();
            tcp.NoDelay = true;
            try
            {
                IAsyncResult ar = tcp.BeginConnect(host, port, null, null);
                if (!ar.AsyncWaitHandle.WaitOne(timeoutMs))
                    throw new TimeoutException("could not connect to " + endpoint + " within " + timeoutMs + " ms; is the runtime running?");
                tcp.EndConnect(ar);
                stream = tcp.GetStream();
                tcp.ReceiveTimeout = timeoutMs;
                tcp.SendTimeout = timeoutMs;
                Handshake();
                tcp.ReceiveTimeout = 0; // the reader thread blocks until data or close
            }
            catch (SocketException e)
            {
                Close();
                throw new ZmtpException("could not connect to " + endpoint + ": " + e.Message + "; is the runtime running?", e);
            }
            catch (IOException e)
            {
                Close();
                if (e is ZmtpException) throw;
                throw new ZmtpException("ZMTP handshake with " + endpoint + " failed: " + e.Message, e);
            }
            catch (Exception)
            {
                Close();
                throw;
            }
        }

        /// <summary>The 64-byte ZMTP 3.1 greeting of a NULL-mechanism client.</summary>
        public static byte[] Greeting()
        {
            return Greeting("NULL");
        }

        /// <summary>The 64-byte ZMTP 3.1 greeting of a client using `mechanism` (NULL or CURVE).</summary>
        public static byte[] Greeting(string mechanism)
        {
            var g = new byte[64];
            g[0] = 0xff;
            g[9] = 0x7f;
            g[10] = 3; // version major
            g[11] = 1; // version minor
            byte[] mech = Encoding.ASCII.GetBytes(mechanism);
            Buffer.BlockCopy(mech, 0, g, 12, mech.Length);
            g[32] = 0; // as-server: no
            return g;
        }

        /// <summary>The body of a READY command with the given metadata.</summary>
        public static byte[] ReadyBody(string socketType)
        {
            var ms = new MemoryStream();
            ms.WriteByte(5);
            WriteAscii(ms, "READY");
            WriteProperty(ms, "Socket-Type", Encoding.ASCII.GetBytes(socketType));
            WriteProperty(ms, "Identity", new byte[0]);
            return ms.ToArray();
        }

        static void WriteAscii(MemoryStream ms, string s)
        {
            byte[] b = Encoding.ASCII.GetBytes(s);
            ms.Write(b, 0, b.Length);
        }

        static void WriteProperty(MemoryStream ms, string name, byte[] value)
        {
            ms.WriteByte((byte)name.Length);
            WriteAscii(ms, name);
            ms.WriteByte((byte)(value.Length >> 24));
            ms.WriteByte((byte)(value.Length >> 16));
            ms.WriteByte((byte)(value.Length >> 8));
            ms.WriteByte((byte)value.Length);
            ms.Write(value, 0, value.Length);
        }

        /// <summary>Parse a READY body into its properties (names as sent).</summary>
        public static Dictionary<string, byte[]> ParseReady(byte[] body)
        {
            if (body.Length < 6 || body[0] != 5 || Encoding.ASCII.GetString(body, 1, 5) != "READY")
                throw new ZmtpException("ZMTP: expected a READY command from the runtime");
            var props = new Dictionary<string, byte[]>(StringComparer.OrdinalIgnoreCase);
            int pos = 6;
            while (pos < body.Length)
            {
                int nlen = body[pos++];
                if (pos + nlen + 4 > body.Length) throw new ZmtpException("ZMTP: truncated READY property");
                string name = Encoding.ASCII.GetString(body, pos, nlen);
                pos += nlen;
                long vlen = ((long)body[pos] << 24) | ((long)body[pos + 1] << 16) | ((long)body[pos + 2] << 8) | body[pos + 3];
                pos += 4;
                if (pos + vlen > body.Length) throw new ZmtpException("ZMTP: truncated READY property value");
                var value = new byte[vlen];
                Buffer.BlockCopy(body, pos, value, 0, (int)vlen);
                pos += (int)vlen;
                props[name] = value;
            }
            return props;
        }

        void Handshake()
        {
            string wanted = Curve != null ? "CURVE" : "NULL";
            byte[] mine = Greeting(wanted);
            stream.Write(mine, 0, mine.Length);
            byte[] theirs;
            try
            {
                theirs = ReadExactly(64);
            }
            catch (ZmtpException e)
            {
                // libzmq hangs up mid-greeting when the security mechanisms differ
                throw new ZmtpException("the runtime closed the connection during the ZMTP greeting"
                    + (Curve == null ? " (if it requires CURVE, give this client the runtime's public key)" : " (it may not be set up for CURVE)"), e);
            }
            if (theirs[0] != 0xff || (theirs[9] & 0x01) != 0x01)
                throw new ZmtpException("the peer is not a ZeroMQ socket (bad greeting signature)");
            if (theirs[10] < 3)
                throw new ZmtpException("the peer speaks ZMTP " + theirs[10] + ".x; ZMTP 3 is needed (libzmq 4.x)");
            string mech = Encoding.ASCII.GetString(theirs, 12, 20).TrimEnd('\0');
            if (mech != wanted)
                throw new ZmtpException(mech == "CURVE"
                    ? "the runtime asks for CURVE security: give this client the runtime's public key (and a client key pair)"
                    : "the runtime speaks the " + mech + " security mechanism, this client was set up for " + wanted);
            bool isCommand;
            bool more;
            byte[] body;
            if (Curve != null)
            {
                var c = new CurveClient(Curve);
                WriteRaw(FrameBytes(c.Hello(), FlagCommand));
                body = ReadHandshakeCommand("its public key is not the one configured here");
                c.OnWelcome(body);
                byte[] ready = ReadyBody("DEALER");
                var metadata = new byte[ready.Length - 6];
                Buffer.BlockCopy(ready, 6, metadata, 0, metadata.Length);
                WriteRaw(FrameBytes(c.Initiate(metadata), FlagCommand));
                body = ReadHandshakeCommand("it does not accept this client's key");
                byte[] theirMeta = c.OnReady(body);
                body = new byte[6 + theirMeta.Length];
                body[0] = 5;
                Encoding.ASCII.GetBytes("READY", 0, 5, body, 1);
                Buffer.BlockCopy(theirMeta, 0, body, 6, theirMeta.Length);
                curve = c; // from now on every frame is a CURVE MESSAGE
            }
            else
            {
                WriteFrame(ReadyBody("DEALER"), FlagCommand);
                body = ReadFrame(out isCommand, out more);
                if (!isCommand) throw new ZmtpException("ZMTP: expected READY, got a message frame");
                if (body.Length >= 6 && body[0] == 5 && Encoding.ASCII.GetString(body, 1, 5) == "ERROR")
                    throw new ZmtpException("the runtime refused the connection: " + CommandText(body, 6));
            }
            var props = ParseReady(body);
            byte[] st;
            PeerSocketType = props.TryGetValue("Socket-Type", out st) ? Encoding.ASCII.GetString(st) : "";
            if (PeerSocketType != "ROUTER")
                throw new ZmtpException("the peer is a " + PeerSocketType + " socket; a DEALER talks to the runtime's ROUTER");
        }

        byte[] ReadHandshakeCommand(string likelyCause)
        {
            bool isCommand, more;
            byte[] body;
            try
            {
                body = ReadFrame(out isCommand, out more);
            }
            catch (ZmtpException e)
            {
                // libzmq drops a CURVE peer without a word when a box does not open
                throw new ZmtpException("the runtime closed the connection during the CURVE handshake: " + likelyCause, e);
            }
            if (!isCommand) throw new ZmtpException("CURVE: expected a handshake command, got a message frame");
            return body;
        }

        /// <summary>True once a CURVE handshake has completed on this connection.</summary>
        public bool IsEncrypted { get { return curve != null; } }

        static string CommandText(byte[] body, int pos)
        {
            if (pos >= body.Length) return "";
            int n = Math.Min(body[pos], body.Length - pos - 1);
            return Encoding.ASCII.GetString(body, pos + 1, n);
        }

        /// <summary>Send one single-frame message.</summary>
        public void Send(byte[] message)
        {
            WriteFrame(message, 0);
        }

        /// <summary>Send a ZMTP PING command (ttl in deciseconds, context up to 16 bytes).</summary>
        public void SendPing(ushort ttlDeciseconds, byte[] context)
        {
            var body = new byte[5 + 2 + context.Length];
            body[0] = 4;
            Encoding.ASCII.GetBytes("PING", 0, 4, body, 1);
            body[5] = (byte)(ttlDeciseconds >> 8);
            body[6] = (byte)ttlDeciseconds;
            Buffer.BlockCopy(context, 0, body, 7, context.Length);
            WriteFrame(body, FlagCommand);
        }

        /// <summary>Encode a frame header + body (exposed for tests).</summary>
        public static byte[] FrameBytes(byte[] body, byte flags)
        {
            bool isLong = body.Length > 255;
            var f = new byte[(isLong ? 9 : 2) + body.Length];
            f[0] = (byte)(flags | (isLong ? FlagLong : 0));
            int off;
            if (isLong)
            {
                ulong n = (ulong)body.Length;
                for (int i = 0; i < 8; i++) f[1 + i] = (byte)(n >> (8 * (7 - i)));
                off = 9;
            }
            else
            {
                f[1] = (byte)body.Length;
                off = 2;
            }
            Buffer.BlockCopy(body, 0, f, off, body.Length);
            return f;
        }

        void WriteFrame(byte[] body, byte flags)
        {
            lock (writeLock) // the CURVE nonce order must be the write order
            {
                CurveClient c = curve;
                WriteRaw(c == null ? FrameBytes(body, flags)
                    : FrameBytes(c.Encode(body, (flags & FlagMore) != 0, (flags & FlagCommand) != 0), 0));
            }
        }

        void WriteRaw(byte[] f)
        {
            lock (writeLock)
            {
                if (closed || stream == null) throw new ZmtpException("the connection to the runtime is closed");
                try
                {
                    stream.Write(f, 0, f.Length);
                }
                catch (Exception e)
                {
                    if (e is IOException || e is ObjectDisposedException || e is SocketException)
                        throw new ZmtpException("sending to the runtime failed: " + e.Message, e);
                    throw;
                }
            }
        }

        /// <summary>
        /// Block until the next message and return its frames (the runtime sends one frame per
        /// message). PING commands are answered with PONG on the way; other commands are skipped.
        /// </summary>
        public List<byte[]> Receive()
        {
            var parts = new List<byte[]>();
            while (true)
            {
                bool isCommand;
                bool more;
                byte[] body = ReadFrame(out isCommand, out more);
                if (isCommand)
                {
                    HandleCommand(body);
                    continue;
                }
                parts.Add(body);
                if (!more) return parts;
            }
        }

        void HandleCommand(byte[] body)
        {
            if (body.Length < 1 || body.Length < 1 + body[0]) throw new ZmtpException("ZMTP: malformed command");
            string name = Encoding.ASCII.GetString(body, 1, body[0]);
            int pos = 1 + body[0];
            if (name == "PING")
            {
                // PING: ttl (2 bytes) + context (0-16 bytes); PONG echoes the context.
                int ctxStart = Math.Min(pos + 2, body.Length);
                int ctxLen = Math.Min(body.Length - ctxStart, 16);
                var pong = new byte[5 + ctxLen];
                pong[0] = 4;
                Encoding.ASCII.GetBytes("PONG", 0, 4, pong, 1);
                Buffer.BlockCopy(body, ctxStart, pong, 5, ctxLen);
                WriteFrame(pong, FlagCommand);
            }
            else if (name == "ERROR")
            {
                throw new ZmtpException("the runtime closed the connection: " + CommandText(body, pos));
            }
            // PONG and unknown commands need nothing.
        }

        byte[] ReadFrame(out bool isCommand, out bool more)
        {
            byte[] raw = ReadRawFrame(out isCommand, out more);
            CurveClient c = curve;
            if (c == null) return raw;
            if (isCommand) throw new ZmtpException("CURVE: an unencrypted command after the handshake");
            return c.Decode(raw, out more, out isCommand);
        }

        byte[] ReadRawFrame(out bool isCommand, out bool more)
        {
            byte[] head = ReadExactly(2);
            byte flags = head[0];
            if ((flags & 0xf8) != 0) throw new ZmtpException("ZMTP: bad frame flags " + flags);
            isCommand = (flags & FlagCommand) != 0;
            more = (flags & FlagMore) != 0;
            long size;
            if ((flags & FlagLong) != 0)
            {
                byte[] rest = ReadExactly(7);
                ulong n = head[1];
                for (int i = 0; i < 7; i++) n = (n << 8) | rest[i];
                if (n > (ulong)MaxFrameBytes) throw new ZmtpException("ZMTP: frame of " + n + " bytes is over the limit");
                size = (long)n;
            }
            else
            {
                size = head[1];
            }
            return ReadExactly((int)size);
        }

        byte[] ReadExactly(int n)
        {
            var buf = new byte[n];
            int got = 0;
            NetworkStream s = stream;
            if (s == null) throw new ZmtpException("the connection to the runtime is closed");
            while (got < n)
            {
                int r;
                try
                {
                    r = s.Read(buf, got, n - got);
                }
                catch (Exception e)
                {
                    if (e is IOException || e is ObjectDisposedException || e is SocketException)
                        throw new ZmtpException(closed ? "the connection was closed" : "reading from the runtime failed: " + e.Message, e);
                    throw;
                }
                if (r <= 0) throw new ZmtpException("the runtime closed the connection");
                got += r;
            }
            return buf;
        }

        /// <summary>Close the connection (safe from any thread; unblocks a pending Receive).</summary>
        public void Close()
        {
            closed = true;
            NetworkStream s = stream;
            TcpClient t = tcp;
            if (s != null) { try { s.Close(); } catch (Exception) { } }
            if (t != null) { try { t.Close(); } catch (Exception) { } }
        }

        public void Dispose()
        {
            Close();
        }
    }
}
