// NPC Runtime client: the client side of ZeroMQ's CURVE security mechanism (ZMTP-CURVE, RFC 26
// "CurveZMQ" as implemented by libzmq), on the NaCl primitives in NaCl.cs.
//
// Handshake (all commands ride in ZMTP command frames):
//   HELLO    C -> S  version 1.0, 72 bytes padding, C' (transient public key), nonce, Box[64 zeros](C'->S)
//   WELCOME  S -> C  Box[S' + cookie](S->C') under "WELCOME-" + a 16-byte nonce
//   INITIATE C -> S  cookie, nonce, Box[C + vouch + metadata](C'->S'), vouch = Box[C' + S](C->S')
//   READY    S -> C  Box[metadata](S'->C')
// then every frame travels as a MESSAGE: "\x07MESSAGE" + 8-byte nonce + Box[flags + body](C'<->S'),
// flags bit 0 = more, bit 1 = command (PING/PONG after the handshake). Short nonces count up from 1
// on each side; a peer nonce that does not increase is refused (replay).

using System;
using System.Collections.Generic;
using System.Text;

namespace NpcRuntime.Curve
{
    /// <summary>Keys for a CURVE connection: the runtime's public key, and this client's key pair.</summary>
    public sealed class CurveKeys
    {
        public readonly byte[] ServerPublic, ClientPublic, ClientSecret;

        public CurveKeys(byte[] serverPublic, byte[] clientPublic, byte[] clientSecret)
        {
            if (serverPublic == null || serverPublic.Length != 32) throw new ArgumentException("the server's public key is 32 bytes (40 Z85 characters)");
            if (clientSecret == null || clientSecret.Length != 32) throw new ArgumentException("the client's secret key is 32 bytes (40 Z85 characters)");
            ServerPublic = serverPublic;
            ClientSecret = clientSecret;
            ClientPublic = clientPublic ?? NaCl.PublicKey(clientSecret);
            if (!Same(ClientPublic, NaCl.PublicKey(clientSecret))) throw new ArgumentException("the client's public key does not belong to its secret key");
        }

        /// <summary>From Z85 text, as in ZeroMQ certificates and `npc-runtime keys generate` (.key / .key_secret files).</summary>
        public static CurveKeys FromZ85(string serverPublic, string clientPublic, string clientSecret)
        {
            return new CurveKeys(Z85.Decode(serverPublic), string.IsNullOrEmpty(clientPublic) ? null : Z85.Decode(clientPublic), Z85.Decode(clientSecret));
        }

        /// <summary>A fresh client key pair for this server (the runtime must then accept any client key).</summary>
        public static CurveKeys Generate(byte[] serverPublic)
        {
            byte[] pk, sk;
            NaCl.KeyPair(out pk, out sk);
            return new CurveKeys(serverPublic, pk, sk);
        }

        static bool Same(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            int d = 0;
            for (int i = 0; i < a.Length; i++) d |= a[i] ^ b[i];
            return d == 0;
        }
    }

    public sealed class CurveClient
    {
        readonly CurveKeys keys;
        readonly byte[] transientPublic, transientSecret;
        byte[] serverTransient, precomputed, cookie;
        ulong nonce = 1, peerNonce;
        public bool Ready { get; private set; }

        public CurveClient(CurveKeys keys)
        {
            this.keys = keys;
            NaCl.KeyPair(out transientPublic, out transientSecret);
        }

        static byte[] Nonce(string prefix, byte[] tail, int tailOffset, int tailLength)
        {
            var n = new byte[24];
            Encoding.ASCII.GetBytes(prefix, 0, prefix.Length, n, 0);
            Buffer.BlockCopy(tail, tailOffset, n, prefix.Length, tailLength);
            return n;
        }

        static byte[] Be64(ulong v)
        {
            var b = new byte[8];
            for (int i = 0; i < 8; i++) b[i] = (byte)(v >> (8 * (7 - i)));
            return b;
        }

        static ulong ReadBe64(byte[] b, int o)
        {
            ulong v = 0;
            for (int i = 0; i < 8; i++) v = (v << 8) | b[o + i];
            return v;
        }

        static bool Named(byte[] body, string name)
        {
            if (body.Length < 1 + name.Length || body[0] != name.Length) return false;
            return Encoding.ASCII.GetString(body, 1, name.Length) == name;
        }

        /// <summary>The HELLO command body (200 bytes).</summary>
        public byte[] Hello()
        {
            byte[] shortNonce = Be64(nonce++);
            byte[] box = NaCl.Box(new byte[64], Nonce("CurveZMQHELLO---", shortNonce, 0, 8), keys.ServerPublic, transientSecret);
            var hello = new byte[200];
            hello[0] = 5;
            Encoding.ASCII.GetBytes("HELLO", 0, 5, hello, 1);
            hello[6] = 1; // CurveZMQ version 1.0
            hello[7] = 0;
            Buffer.BlockCopy(transientPublic, 0, hello, 80, 32);
            Buffer.BlockCopy(shortNonce, 0, hello, 112, 8);
            Buffer.BlockCopy(box, 0, hello, 120, 80);
            return hello;
        }

        /// <summary>Read the WELCOME command; throws when it is not one or does not open with the server's key.</summary>
        public void OnWelcome(byte[] body)
        {
            if (Named(body, "ERROR")) throw new ZmtpException("the runtime refused the CURVE handshake: " + Reason(body));
            if (body.Length != 168 || !Named(body, "WELCOME")) throw new ZmtpException("CURVE: expected WELCOME from the runtime");
            byte[] plain = NaCl.BoxOpen(body, 24, 144, Nonce("WELCOME-", body, 8, 16), keys.ServerPublic, transientSecret);
            if (plain == null) throw new ZmtpException("CURVE: the WELCOME does not open with the configured server key (wrong server public key?)");
            serverTransient = new byte[32];
            Buffer.BlockCopy(plain, 0, serverTransient, 0, 32);
            cookie = new byte[96];
            Buffer.BlockCopy(plain, 32, cookie, 0, 96);
            precomputed = NaCl.BoxBeforeNm(serverTransient, transientSecret);
        }

        /// <summary>The INITIATE command body, carrying this socket's metadata (ZMTP properties).</summary>
        public byte[] Initiate(byte[] metadata)
        {
            var vouchPlain = new byte[64];
            Buffer.BlockCopy(transientPublic, 0, vouchPlain, 0, 32);
            Buffer.BlockCopy(keys.ServerPublic, 0, vouchPlain, 32, 32);
            byte[] vouchTail = NaCl.RandomBytes(16);
            byte[] vouch = NaCl.Box(vouchPlain, Nonce("VOUCH---", vouchTail, 0, 16), serverTransient, keys.ClientSecret);
            var plain = new byte[32 + 16 + 80 + metadata.Length];
            Buffer.BlockCopy(keys.ClientPublic, 0, plain, 0, 32);
            Buffer.BlockCopy(vouchTail, 0, plain, 32, 16);
            Buffer.BlockCopy(vouch, 0, plain, 48, 80);
            Buffer.BlockCopy(metadata, 0, plain, 128, metadata.Length);
            byte[] shortNonce = Be64(nonce++);
            byte[] box = NaCl.SecretBox(plain, Nonce("CurveZMQINITIATE", shortNonce, 0, 8), precomputed);
            var initiate = new byte[9 + 96 + 8 + box.Length];
            initiate[0] = 8;
            Encoding.ASCII.GetBytes("INITIATE", 0, 8, initiate, 1);
            Buffer.BlockCopy(cookie, 0, initiate, 9, 96);
            Buffer.BlockCopy(shortNonce, 0, initiate, 105, 8);
            Buffer.BlockCopy(box, 0, initiate, 113, box.Length);
            return initiate;
        }

        /// <summary>Read the READY command; returns the server's metadata (ZMTP properties, as in a NULL READY body after its name).</summary>
        public byte[] OnReady(byte[] body)
        {
            if (Named(body, "ERROR")) throw new ZmtpException("the runtime refused this client's CURVE key: " + Reason(body));
            if (body.Length < 30 || !Named(body, "READY")) throw new ZmtpException("CURVE: expected READY from the runtime");
            ulong n = ReadBe64(body, 6);
            byte[] plain = NaCl.SecretBoxOpen(body, 14, body.Length - 14, Nonce("CurveZMQREADY---", body, 6, 8), precomputed);
            if (plain == null) throw new ZmtpException("CURVE: the READY does not authenticate");
            peerNonce = n;
            Ready = true;
            return plain;
        }

        /// <summary>Wrap one frame (body, more, command) into a MESSAGE (sent as a plain, final data frame).</summary>
        public byte[] Encode(byte[] body, bool more, bool command)
        {
            if (!Ready) throw new InvalidOperationException("CURVE handshake not finished");
            var plain = new byte[1 + body.Length];
            plain[0] = (byte)((more ? 1 : 0) | (command ? 2 : 0));
            Buffer.BlockCopy(body, 0, plain, 1, body.Length);
            byte[] shortNonce = Be64(nonce++);
            byte[] box = NaCl.SecretBox(plain, Nonce("CurveZMQMESSAGEC", shortNonce, 0, 8), precomputed);
            var msg = new byte[16 + box.Length];
            msg[0] = 7;
            Encoding.ASCII.GetBytes("MESSAGE", 0, 7, msg, 1);
            Buffer.BlockCopy(shortNonce, 0, msg, 8, 8);
            Buffer.BlockCopy(box, 0, msg, 16, box.Length);
            return msg;
        }

        /// <summary>Unwrap a MESSAGE from the runtime; throws on a forged, replayed or malformed one.</summary>
        public byte[] Decode(byte[] frame, out bool more, out bool command)
        {
            if (Named(frame, "ERROR")) throw new ZmtpException("the runtime closed the connection: " + Reason(frame));
            if (frame.Length < 33 || !Named(frame, "MESSAGE")) throw new ZmtpException("CURVE: expected a MESSAGE from the runtime");
            ulong n = ReadBe64(frame, 8);
            if (n <= peerNonce) throw new ZmtpException("CURVE: a replayed or out-of-order message from the runtime");
            byte[] plain = NaCl.SecretBoxOpen(frame, 16, frame.Length - 16, Nonce("CurveZMQMESSAGES", frame, 8, 8), precomputed);
            if (plain == null || plain.Length < 1) throw new ZmtpException("CURVE: a message from the runtime does not authenticate");
            peerNonce = n;
            more = (plain[0] & 1) != 0;
            command = (plain[0] & 2) != 0;
            var body = new byte[plain.Length - 1];
            Buffer.BlockCopy(plain, 1, body, 0, body.Length);
            return body;
        }

        static string Reason(byte[] body)
        {
            int pos = 1 + body[0];
            if (pos >= body.Length) return "";
            int len = Math.Min(body[pos], body.Length - pos - 1);
            return Encoding.ASCII.GetString(body, pos + 1, len);
        }
    }

    /// <summary>ZeroMQ's Z85 encoding (RFC 32) of keys: 32 bytes <-> 40 characters.</summary>
    public static class Z85
    {
        const string Chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

        public static string Encode(byte[] data)
        {
            if (data.Length % 4 != 0) throw new ArgumentException("Z85 encodes a multiple of 4 bytes");
            var sb = new StringBuilder(data.Length * 5 / 4);
            for (int i = 0; i < data.Length; i += 4)
            {
                uint v = ((uint)data[i] << 24) | ((uint)data[i + 1] << 16) | ((uint)data[i + 2] << 8) | data[i + 3];
                var block = new char[5];
                for (int j = 4; j >= 0; j--) { block[j] = Chars[(int)(v % 85)]; v /= 85; }
                sb.Append(block);
            }
            return sb.ToString();
        }

        public static byte[] Decode(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            text = text.Trim();
            if (text.Length % 5 != 0) throw new ArgumentException("Z85 text is a multiple of 5 characters, got " + text.Length);
            var o = new byte[text.Length * 4 / 5];
            for (int i = 0, k = 0; i < text.Length; i += 5, k += 4)
            {
                ulong v = 0;
                for (int j = 0; j < 5; j++)
                {
                    int d = Chars.IndexOf(text[i + j]);
                    if (d < 0) throw new ArgumentException("not a Z85 character: '" + text[i + j] + "'");
                    v = v * 85 + (ulong)d;
                }
                if (v > uint.MaxValue) throw new ArgumentException("bad Z85 block at " + i);
                o[k] = (byte)(v >> 24);
                o[k + 1] = (byte)(v >> 16);
                o[k + 2] = (byte)(v >> 8);
                o[k + 3] = (byte)v;
            }
            return o;
        }

        /// <summary>The key in a ZeroMQ certificate file (`public-key = "..."` / `secret-key = "..."`), or the text itself.</summary>
        public static byte[] FromCertificate(string text, string field)
        {
            foreach (string line in text.Split('\n'))
            {
                string l = line.Trim();
                if (!l.StartsWith(field, StringComparison.Ordinal)) continue;
                int q1 = l.IndexOf('"'), q2 = l.LastIndexOf('"');
                if (q1 >= 0 && q2 > q1) return Decode(l.Substring(q1 + 1, q2 - q1 - 1));
            }
            throw new ArgumentException("no " + field + " in the certificate");
        }
    }
}
