// NPC Runtime client for Unity / plain .NET: minimal msgpack codec.
//
// Why hand-written: NuGet is not reachable from the machines this project is built and tested on,
// so MessagePack-CSharp (and NetMQ for ZeroMQ) cannot be used. This codec covers exactly what the
// wire protocol (docs/protocol.md) needs: nil, bool, ints, float32/64, str, bin, array, map.
// Compiles with `mcs -langversion:7.2` (Mono) and with Unity's compiler; no UnityEngine reference.
//
// Value mapping (decode):  nil -> null, bool -> bool, int -> long (ulong above long.MaxValue),
// float32/float64 -> double, str -> string, bin -> byte[], array -> List<object>,
// map -> Dictionary<string, object> (insertion order = wire order). Ext types are refused.
// Encode accepts the same plus int/short/byte/uint/float/... and any IDictionary / IList.
// Integers are written in their smallest form and floats as float64, like Python's msgpack, so
// re-encoding a decoded message gives the same bytes.

using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace NpcRuntime
{
    /// <summary>The bytes are not valid msgpack (or hold something the protocol never uses).</summary>
    public class MsgPackException : Exception
    {
        public MsgPackException(string message) : base(message) { }
    }

    public static class MsgPack
    {
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);
        const int MaxDepth = 64;

        // ---------------------------------------------------------------- encoding
        public static byte[] Encode(object value)
        {
            var ms = new MemoryStream();
            Write(ms, value, 0);
            return ms.ToArray();
        }

        static void Write(MemoryStream s, object v, int depth)
        {
            if (depth > MaxDepth) throw new MsgPackException("msgpack: value nested too deeply");
            if (v == null) { s.WriteByte(0xc0); return; }
            if (v is bool) { s.WriteByte((bool)v ? (byte)0xc3 : (byte)0xc2); return; }
            if (v is string) { WriteString(s, (string)v); return; }
            if (v is byte[]) { WriteBin(s, (byte[])v); return; }
            if (v is double) { WriteDouble(s, (double)v); return; }
            if (v is float) { WriteDouble(s, (float)v); return; }
            if (v is decimal) { WriteDouble(s, (double)(decimal)v); return; }
            if (v is ulong) { WriteUInt(s, (ulong)v); return; }
            if (v is long || v is int || v is short || v is sbyte || v is uint || v is ushort || v is byte)
            {
                long n = Convert.ToInt64(v);
                if (n >= 0) WriteUInt(s, (ulong)n); else WriteNegInt(s, n);
                return;
            }
            if (v is Enum) { WriteString(s, v.ToString()); return; }
            var dict = v as IDictionary;
            if (dict != null)
            {
                WriteHeader(s, dict.Count, 0x80, 0xde, 0xdf, 15);
                foreach (DictionaryEntry e in dict)
                {
                    if (!(e.Key is string)) throw new MsgPackException("msgpack: map keys must be strings");
                    WriteString(s, (string)e.Key);
                    Write(s, e.Value, depth + 1);
                }
                return;
            }
            var list = v as IList;
            if (list != null)
            {
                WriteHeader(s, list.Count, 0x90, 0xdc, 0xdd, 15);
                foreach (object item in list) Write(s, item, depth + 1);
                return;
            }
            throw new MsgPackException("msgpack: cannot encode a " + v.GetType().Name);
        }

        static void WriteHeader(MemoryStream s, int count, int fixBase, byte b16, byte b32, int fixMax)
        {
            if (count <= fixMax) s.WriteByte((byte)(fixBase | count));
            else if (count <= 0xffff) { s.WriteByte(b16); WriteBE(s, (ulong)count, 2); }
            else { s.WriteByte(b32); WriteBE(s, (ulong)count, 4); }
        }

        static void WriteString(MemoryStream s, string str)
        {
            byte[] b = Utf8.GetBytes(str);
            int n = b.Length;
            if (n <= 31) s.WriteByte((byte)(0xa0 | n));
            else if (n <= 0xff) { s.WriteByte(0xd9); s.WriteByte((byte)n); }
            else if (n <= 0xffff) { s.WriteByte(0xda); WriteBE(s, (ulong)n, 2); }
            else { s.WriteByte(0xdb); WriteBE(s, (ulong)n, 4); }
            s.Write(b, 0, n);
        }

        static void WriteBin(MemoryStream s, byte[] b)
        {
            int n = b.Length;
            if (n <= 0xff) { s.WriteByte(0xc4); s.WriteByte((byte)n); }
            else if (n <= 0xffff) { s.WriteByte(0xc5); WriteBE(s, (ulong)n, 2); }
            else { s.WriteByte(0xc6); WriteBE(s, (ulong)n, 4); }
            s.Write(b, 0, n);
        }

        static void WriteUInt(MemoryStream s, ulong n)
        {
            if (n <= 0x7f) s.WriteByte((byte)n);
            else if (n <= 0xff) { s.WriteByte(0xcc); s.WriteByte((byte)n); }
            else if (n <= 0xffff) { s.WriteByte(0xcd); WriteBE(s, n, 2); }
            else if (n <= 0xffffffffUL) { s.WriteByte(0xce); WriteBE(s, n, 4); }
            else { s.WriteByte(0xcf); WriteBE(s, n, 8); }
        }

        static void WriteNegInt(MemoryStream s, long n)
        {
            if (n >= -32) s.WriteByte((byte)(sbyte)n);
            else if (n >= sbyte.MinValue) { s.WriteByte(0xd0); s.WriteByte((byte)(sbyte)n); }
            else if (n >= short.MinValue) { s.WriteByte(0xd1); WriteBE(s, (ulong)n, 2); }
            else if (n >= int.MinValue) { s.WriteByte(0xd2); WriteBE(s, (ulong)n, 4); }
            else { s.WriteByte(0xd3); WriteBE(s, (ulong)n, 8); }
        }

        static void WriteDouble(MemoryStream s, double d)
        {
            s.WriteByte(0xcb);
            WriteBE(s, (ulong)BitConverter.DoubleToInt64Bits(d), 8);
        }

        static void WriteBE(MemoryStream s, ulong v, int bytes)
        {
            for (int i = bytes - 1; i >= 0; i--) s.WriteByte((byte)(v >> (8 * i)));
        }

        // ---------------------------------------------------------------- decoding
        /// <summary>Decode exactly one value; trailing bytes are an error.</summary>
        public static object Decode(byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            int pos = 0;
            object v = Read(data, ref pos, 0);
            if (pos != data.Length)
                throw new MsgPackException("msgpack: " + (data.Length - pos) + " extra bytes after the value");
            return v;
        }

        /// <summary>Decode a message: a map with string keys.</summary>
        public static Dictionary<string, object> DecodeMap(byte[] data)
        {
            var m = Decode(data) as Dictionary<string, object>;
            if (m == null) throw new MsgPackException("msgpack: a message must be a map");
            return m;
        }

        static void Need(byte[] d, int pos, long n)
        {
            if (n < 0 || pos + n > d.Length) throw new MsgPackException("msgpack: truncated data");
        }

        static ulong ReadBE(byte[] d, ref int pos, int bytes)
        {
            Need(d, pos, bytes);
            ulong v = 0;
            for (int i = 0; i < bytes; i++) v = (v << 8) | d[pos + i];
            pos += bytes;
            return v;
        }

        static object Read(byte[] d, ref int pos, int depth)
        {
            if (depth > MaxDepth) throw new MsgPackException("msgpack: value nested too deeply");
            Need(d, pos, 1);
            byte b = d[pos++];
            if (b <= 0x7f) return (long)b;
            if (b >= 0xe0) return (long)(sbyte)b;
            if ((b & 0xe0) == 0xa0) return ReadStr(d, ref pos, b & 0x1f);
            if ((b & 0xf0) == 0x90) return ReadArray(d, ref pos, b & 0x0f, depth);
            if ((b & 0xf0) == 0x80) return ReadMap(d, ref pos, b & 0x0f, depth);
            switch (b)
            {
                case 0xc0: return null;
                case 0xc2: return false;
                case 0xc3: return true;
                case 0xc4: return ReadBin(d, ref pos, (long)ReadBE(d, ref pos, 1));
                case 0xc5: return ReadBin(d, ref pos, (long)ReadBE(d, ref pos, 2));
                case 0xc6: return ReadBin(d, ref pos, (long)ReadBE(d, ref pos, 4));
                case 0xca:
                {
                    uint bits = (uint)ReadBE(d, ref pos, 4);
                    byte[] fb = BitConverter.GetBytes(bits);
                    return (double)BitConverter.ToSingle(fb, 0);
                }
                case 0xcb: return BitConverter.Int64BitsToDouble((long)ReadBE(d, ref pos, 8));
                case 0xcc: return (long)ReadBE(d, ref pos, 1);
                case 0xcd: return (long)ReadBE(d, ref pos, 2);
                case 0xce: return (long)ReadBE(d, ref pos, 4);
                case 0xcf:
                {
                    ulong u = ReadBE(d, ref pos, 8);
                    if (u <= long.MaxValue) return (long)u;
                    return u;
                }
                case 0xd0: return (long)(sbyte)ReadBE(d, ref pos, 1);
                case 0xd1: return (long)(short)ReadBE(d, ref pos, 2);
                case 0xd2: return (long)(int)ReadBE(d, ref pos, 4);
                case 0xd3: return (long)ReadBE(d, ref pos, 8);
                case 0xd9: return ReadStr(d, ref pos, (long)ReadBE(d, ref pos, 1));
                case 0xda: return ReadStr(d, ref pos, (long)ReadBE(d, ref pos, 2));
                case 0xdb: return ReadStr(d, ref pos, (long)ReadBE(d, ref pos, 4));
                case 0xdc: return ReadArray(d, ref pos, (long)ReadBE(d, ref pos, 2), depth);
                case 0xdd: return ReadArray(d, ref pos, (long)ReadBE(d, ref pos, 4), depth);
                case 0xde: return ReadMap(d, ref pos, (long)ReadBE(d, ref pos, 2), depth);
                case 0xdf: return ReadMap(d, ref pos, (long)ReadBE(d, ref pos, 4), depth);
            }
            throw new MsgPackException(string.Format("msgpack: unsupported type byte 0x{0:x2}", b));
        }

        static string ReadStr(byte[] d, ref int pos, long n)
        {
            Need(d, pos, n);
            string s;
            try { s = Utf8.GetString(d, pos, (int)n); }
            catch (ArgumentException) { throw new MsgPackException("msgpack: string is not valid UTF-8"); }
            pos += (int)n;
            return s;
        }

        static byte[] ReadBin(byte[] d, ref int pos, long n)
        {
            Need(d, pos, n);
            var b = new byte[n];
            Buffer.BlockCopy(d, pos, b, 0, (int)n);
            pos += (int)n;
            return b;
        }

        static List<object> ReadArray(byte[] d, ref int pos, long n, int depth)
        {
            Need(d, pos, n); // every element takes at least one byte
            var list = new List<object>((int)n);
            for (long i = 0; i < n; i++) list.Add(Read(d, ref pos, depth + 1));
            return list;
        }

        static Dictionary<string, object> ReadMap(byte[] d, ref int pos, long n, int depth)
        {
            Need(d, pos, n * 2);
            var map = new Dictionary<string, object>((int)n);
            for (long i = 0; i < n; i++)
            {
                var key = Read(d, ref pos, depth + 1) as string;
                if (key == null) throw new MsgPackException("msgpack: map keys must be strings");
                map[key] = Read(d, ref pos, depth + 1);
            }
            return map;
        }
    }
}
