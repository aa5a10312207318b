// NPC Runtime client: the NaCl primitives ZeroMQ's CURVE security needs, in plain C#:
// X25519 (RFC 7748), HSalsa20/XSalsa20 and Poly1305 (crypto_box = X25519 + HSalsa20 key
// derivation + XSalsa20-Poly1305 secretbox, as in NaCl/libsodium).
//
// A line-by-line port of TweetNaCl (Bernstein, van Gastel, Janssen, Lange, Schwabe, Smetsers;
// public domain), chosen because it is small enough to audit against the paper and the specs and
// has no table lookups or secret-dependent branches (constant time, like the original: field
// arithmetic in 16 limbs of 16 bits, conditional swaps by masks). Not optimised: a handshake costs
// a few milliseconds, a message box microseconds per kilobyte. Tested against RFC 7748's and
// RFC 8439's test vectors and against libzmq's CURVE (pyzmq) in bindings/unity/Tests.

using System;

namespace NpcRuntime.Curve
{
    public static class NaCl
    {
        public const int KeyBytes = 32, NonceBytes = 24, MacBytes = 16;
        static readonly byte[] Sigma = System.Text.Encoding.ASCII.GetBytes("expand 32-byte k");

        // ------------------------------------------------------------ Salsa20 core
        static uint L32(uint x, int c) { return (x << c) | (x >> (32 - c)); }

        static uint Ld32(byte[] x, int o) { return (uint)(x[o] | (x[o + 1] << 8) | (x[o + 2] << 16) | (x[o + 3] << 24)); }

        static void St32(byte[] x, int o, uint u)
        {
            for (int i = 0; i < 4; i++) { x[o + i] = (byte)u; u >>= 8; }
        }

        /// <summary>Salsa20 (h = false) or HSalsa20 (h = true) core: in 16 bytes, k 32 bytes, c 16 bytes.</summary>
        static void Core(byte[] output, byte[] input, int inOff, byte[] k, byte[] c, bool h)
        {
            var w = new uint[16];
            var x = new uint[16];
            var y = new uint[16];
            var t = new uint[4];
            for (int i = 0; i < 4; i++)
            {
                x[5 * i] = Ld32(c, 4 * i);
                x[1 + i] = Ld32(k, 4 * i);
                x[6 + i] = Ld32(input, inOff + 4 * i);
                x[11 + i] = Ld32(k, 16 + 4 * i);
            }
            for (int i = 0; i < 16; i++) y[i] = x[i];
            for (int i = 0; i < 20; i++)
            {
                for (int j = 0; j < 4; j++)
                {
                    for (int m = 0; m < 4; m++) t[m] = x[(5 * j + 4 * m) % 16];
                    t[1] ^= L32(t[0] + t[3], 7);
                    t[2] ^= L32(t[1] + t[0], 9);
                    t[3] ^= L32(t[2] + t[1], 13);
                    t[0] ^= L32(t[3] + t[2], 18);
                    for (int m = 0; m < 4; m++) w[4 * j + (j + m) % 4] = t[m];
                }
                for (int m = 0; m < 16; m++) x[m] = w[m];
            }
            if (h)
            {
                for (int i = 0; i < 16; i++) x[i] += y[i];
                for (int i = 0; i < 4; i++)
                {
                    x[5 * i] -= Ld32(c, 4 * i);
                    x[6 + i] -= Ld32(input, inOff + 4 * i);
                }
                for (int i = 0; i < 4; i++)
                {
                    St32(output, 4 * i, x[5 * i]);
                    St32(output, 16 + 4 * i, x[6 + i]);
                }
            }
            else
            {
                for (int i = 0; i < 16; i++) St32(output, 4 * i, x[i] + y[i]);
            }
        }

        /// <summary>HSalsa20(key, first 16 bytes of nonce): the XSalsa20 subkey, and crypto_box's key derivation.</summary>
        public static byte[] HSalsa20(byte[] nonce16, byte[] key)
        {
            var o = new byte[32];
            Core(o, nonce16, 0, key, Sigma, true);
            return o;
        }

        static void Salsa20Xor(byte[] c, int cOff, byte[] m, int mOff, long b, byte[] n, int nOff, byte[] k)
        {
            var z = new byte[16];
            var x = new byte[64];
            for (int i = 0; i < 8; i++) z[i] = n[nOff + i];
            while (b >= 64)
            {
                Core(x, z, 0, k, Sigma, false);
                for (int i = 0; i < 64; i++) c[cOff + i] = (byte)((m != null ? m[mOff + i] : 0) ^ x[i]);
                uint u = 1;
                for (int i = 8; i < 16; i++)
                {
                    u += z[i];
                    z[i] = (byte)u;
                    u >>= 8;
                }
                b -= 64;
                cOff += 64;
                mOff += 64;
            }
            if (b > 0)
            {
                Core(x, z, 0, k, Sigma, false);
                for (int i = 0; i < b; i++) c[cOff + i] = (byte)((m != null ? m[mOff + i] : 0) ^ x[i]);
            }
        }

        /// <summary>XSalsa20 keystream XOR m (m null: the keystream itself), 24-byte nonce.</summary>
        public static void XSalsa20Xor(byte[] c, byte[] m, long length, byte[] nonce, byte[] key)
        {
            byte[] s = HSalsa20(nonce, key);
            Salsa20Xor(c, 0, m, 0, length, nonce, 16, s);
        }

        // ------------------------------------------------------------ Poly1305
        static readonly uint[] MinusP = { 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 252 };

        static void Add1305(uint[] h, uint[] c)
        {
            uint u = 0;
            for (int j = 0; j < 17; j++)
            {
                u += h[j] + c[j];
                h[j] = u & 255;
                u >>= 8;
            }
        }

        /// <summary>Poly1305 one-time authenticator of m[mOff..mOff+n) under a 32-byte key.</summary>
        public static byte[] Poly1305(byte[] m, int mOff, long n, byte[] k, int kOff = 0)
        {
            var x = new uint[17];
            var r = new uint[17];
            var h = new uint[17];
            var c = new uint[17];
            var g = new uint[17];
            for (int j = 0; j < 16; j++) r[j] = k[kOff + j];
            r[3] &= 15; r[4] &= 252; r[7] &= 15; r[8] &= 252; r[11] &= 15; r[12] &= 252; r[15] &= 15;
            while (n > 0)
            {
                for (int j = 0; j < 17; j++) c[j] = 0;
                int jj;
                for (jj = 0; jj < 16 && jj < n; jj++) c[jj] = m[mOff + jj];
                c[jj] = 1;
                mOff += jj;
                n -= jj;
                Add1305(h, c);
                for (int i = 0; i < 17; i++)
                {
                    x[i] = 0;
                    for (int j = 0; j < 17; j++) x[i] += h[j] * (j <= i ? r[i - j] : 320 * r[i + 17 - j]);
                }
                for (int i = 0; i < 17; i++) h[i] = x[i];
                uint u = 0;
                for (int j = 0; j < 16; j++)
                {
                    u += h[j];
                    h[j] = u & 255;
                    u >>= 8;
                }
                u += h[16];
                h[16] = u & 3;
                u = 5 * (u >> 2);
                for (int j = 0; j < 16; j++)
                {
                    u += h[j];
                    h[j] = u & 255;
                    u >>= 8;
                }
                u += h[16];
                h[16] = u;
            }
            for (int j = 0; j < 17; j++) g[j] = h[j];
            Add1305(h, MinusP);
            uint s = (uint)(-(int)(h[16] >> 7));
            for (int j = 0; j < 17; j++) h[j] ^= s & (g[j] ^ h[j]);
            for (int j = 0; j < 16; j++) c[j] = k[kOff + j + 16];
            c[16] = 0;
            Add1305(h, c);
            var o = new byte[16];
            for (int j = 0; j < 16; j++) o[j] = (byte)h[j];
            return o;
        }

        static bool Verify16(byte[] a, int aOff, byte[] b)
        {
            int d = 0;
            for (int i = 0; i < 16; i++) d |= a[aOff + i] ^ b[i];
            return d == 0; // no early exit: constant time
        }

        // ------------------------------------------------------------ secretbox (XSalsa20-Poly1305)
        /// <summary>Encrypt and authenticate: returns MAC (16 bytes) + ciphertext (libsodium's "easy" layout).</summary>
        public static byte[] SecretBox(byte[] message, byte[] nonce, byte[] key)
        {
            var padded = new byte[32 + message.Length];
            Buffer.BlockCopy(message, 0, padded, 32, message.Length);
            var c = new byte[padded.Length];
            XSalsa20Xor(c, padded, padded.Length, nonce, key);
            byte[] mac = Poly1305(c, 32, c.Length - 32, c, 0); // key: the keystream's first 32 bytes
            var o = new byte[16 + message.Length];
            Buffer.BlockCopy(mac, 0, o, 0, 16);
            Buffer.BlockCopy(c, 32, o, 16, message.Length);
            return o;
        }

        /// <summary>Verify and decrypt MAC + ciphertext; null when the authenticator does not match.</summary>
        public static byte[] SecretBoxOpen(byte[] box, int offset, int length, byte[] nonce, byte[] key)
        {
            if (length < 16) return null;
            var subkey = new byte[32];
            XSalsa20Xor(subkey, null, 32, nonce, key);
            var padded = new byte[32 + length - 16];
            Buffer.BlockCopy(box, offset + 16, padded, 32, length - 16);
            byte[] mac = Poly1305(padded, 32, length - 16, subkey, 0);
            if (!Verify16(box, offset, mac)) return null;
            var m = new byte[padded.Length];
            XSalsa20Xor(m, padded, padded.Length, nonce, key);
            var o = new byte[length - 16];
            Buffer.BlockCopy(m, 32, o, 0, o.Length);
            return o;
        }

        // ------------------------------------------------------------ X25519 (field GF(2^255 - 19), 16 x 16-bit limbs)
        static readonly long[] K121665 = { 0xDB41, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

        static void Car25519(long[] o)
        {
            for (int i = 0; i < 16; i++)
            {
                o[i] += 1L << 16;
                long c = o[i] >> 16;
                o[(i + 1) * (i < 15 ? 1 : 0)] += c - 1 + 37 * (c - 1) * (i == 15 ? 1 : 0);
                o[i] -= c << 16;
            }
        }

        static void Sel25519(long[] p, long[] q, long b)
        {
            long c = ~(b - 1);
            for (int i = 0; i < 16; i++)
            {
                long t = c & (p[i] ^ q[i]);
                p[i] ^= t;
                q[i] ^= t;
            }
        }

        static void Pack25519(byte[] o, long[] n)
        {
            var m = new long[16];
            var t = new long[16];
            for (int i = 0; i < 16; i++) t[i] = n[i];
            Car25519(t);
            Car25519(t);
            Car25519(t);
            for (int j = 0; j < 2; j++)
            {
                m[0] = t[0] - 0xffed;
                for (int i = 1; i < 15; i++)
                {
                    m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
                    m[i - 1] &= 0xffff;
                }
                m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
                long b = (m[15] >> 16) & 1;
                m[14] &= 0xffff;
                Sel25519(t, m, 1 - b);
            }
            for (int i = 0; i < 16; i++)
            {
                o[2 * i] = (byte)(t[i] & 0xff);
                o[2 * i + 1] = (byte)(t[i] >> 8);
            }
        }

        static void Unpack25519(long[] o, byte[] n)
        {
            for (int i = 0; i < 16; i++) o[i] = n[2 * i] + ((long)n[2 * i + 1] << 8);
            o[15] &= 0x7fff;
        }

        static void A(long[] o, long[] a, long[] b) { for (int i = 0; i < 16; i++) o[i] = a[i] + b[i]; }

        static void Z(long[] o, long[] a, long[] b) { for (int i = 0; i < 16; i++) o[i] = a[i] - b[i]; }

        static void M(long[] o, long[] a, long[] b)
        {
            var t = new long[31];
            for (int i = 0; i < 16; i++)
                for (int j = 0; j < 16; j++) t[i + j] += a[i] * b[j];
            for (int i = 0; i < 15; i++) t[i] += 38 * t[i + 16];
            for (int i = 0; i < 16; i++) o[i] = t[i];
            Car25519(o);
            Car25519(o);
        }

        static void S(long[] o, long[] a) { M(o, a, a); }

        static void Inv25519(long[] o, long[] i)
        {
            var c = new long[16];
            for (int a = 0; a < 16; a++) c[a] = i[a];
            for (int a = 253; a >= 0; a--)
            {
                S(c, c);
                if (a != 2 && a != 4) M(c, c, i);
            }
            for (int a = 0; a < 16; a++) o[a] = c[a];
        }

        /// <summary>X25519: scalar (32 bytes, clamped here) times the point with u-coordinate p (32 bytes).</summary>
        public static byte[] ScalarMult(byte[] n, byte[] p)
        {
            if (n == null || n.Length != 32 || p == null || p.Length != 32) throw new ArgumentException("X25519 takes 32-byte keys");
            var z = new byte[32];
            for (int i = 0; i < 31; i++) z[i] = n[i];
            z[31] = (byte)((n[31] & 127) | 64);
            z[0] &= 248;
            var x = new long[16];
            Unpack25519(x, p);
            var a = new long[16];
            var b = new long[16];
            var c = new long[16];
            var d = new long[16];
            var e = new long[16];
            var f = new long[16];
            for (int i = 0; i < 16; i++) b[i] = x[i];
            a[0] = d[0] = 1;
            for (int i = 254; i >= 0; --i)
            {
                long r = (z[i >> 3] >> (i & 7)) & 1;
                Sel25519(a, b, r);
                Sel25519(c, d, r);
                A(e, a, c);
                Z(a, a, c);
                A(c, b, d);
                Z(b, b, d);
                S(d, e);
                S(f, a);
                M(a, c, a);
                M(c, b, e);
                A(e, a, c);
                Z(a, a, c);
                S(b, a);
                Z(c, d, f);
                M(a, c, K121665);
                A(a, a, d);
                M(c, c, a);
                M(a, d, f);
                M(d, b, x);
                S(b, e);
                Sel25519(a, b, r);
                Sel25519(c, d, r);
            }
            Inv25519(c, c);
            M(a, a, c);
            var q = new byte[32];
            Pack25519(q, a);
            return q;
        }

        static readonly byte[] Nine = { 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

        /// <summary>The X25519 public key of a 32-byte secret key.</summary>
        public static byte[] PublicKey(byte[] secretKey) { return ScalarMult(secretKey, Nine); }

        /// <summary>A new key pair from the system's cryptographic random generator.</summary>
        public static void KeyPair(out byte[] publicKey, out byte[] secretKey)
        {
            secretKey = new byte[32];
            using (var rng = System.Security.Cryptography.RandomNumberGenerator.Create()) rng.GetBytes(secretKey);
            publicKey = PublicKey(secretKey);
        }

        public static byte[] RandomBytes(int n)
        {
            var b = new byte[n];
            using (var rng = System.Security.Cryptography.RandomNumberGenerator.Create()) rng.GetBytes(b);
            return b;
        }

        // ------------------------------------------------------------ box (X25519 + XSalsa20-Poly1305)
        /// <summary>crypto_box_beforenm: the shared key of (their public, my secret).</summary>
        public static byte[] BoxBeforeNm(byte[] publicKey, byte[] secretKey)
        {
            return HSalsa20(new byte[16], ScalarMult(secretKey, publicKey));
        }

        public static byte[] Box(byte[] message, byte[] nonce, byte[] publicKey, byte[] secretKey)
        {
            return SecretBox(message, nonce, BoxBeforeNm(publicKey, secretKey));
        }

        public static byte[] BoxOpen(byte[] box, int offset, int length, byte[] nonce, byte[] publicKey, byte[] secretKey)
        {
            return SecretBoxOpen(box, offset, length, nonce, BoxBeforeNm(publicKey, secretKey));
        }
    }
}
