// Test helper: a small JSON reader for docs/protocol-vectors.json (NuGet is unreachable here, so
// no Newtonsoft/System.Text.Json). Objects keep key order (Dictionary insertion order); a number
// with '.', 'e' or 'E' is a double, otherwise a long, as Python's json module writes them.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace NpcRuntime.Tests
{
    public static class MiniJson
    {
        public static object Parse(string text)
        {
            int pos = 0;
            object v = Value(text, ref pos);
            Ws(text, ref pos);
            if (pos != text.Length) throw new FormatException("json: extra text at " + pos);
            return v;
        }

        static void Ws(string s, ref int p)
        {
            while (p < s.Length && char.IsWhiteSpace(s[p])) p++;
        }

        static object Value(string s, ref int p)
        {
            Ws(s, ref p);
            if (p >= s.Length) throw new FormatException("json: unexpected end");
            char c = s[p];
            if (c == '{')
            {
                var m = new Dictionary<string, object>();
                p++;
                Ws(s, ref p);
                if (s[p] == '}') { p++; return m; }
                while (true)
                {
                    Ws(s, ref p);
                    string key = Str(s, ref p);
                    Ws(s, ref p);
                    Expect(s, ref p, ':');
                    m[key] = Value(s, ref p);
                    Ws(s, ref p);
                    if (s[p] == ',') { p++; continue; }
                    Expect(s, ref p, '}');
                    return m;
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                p++;
                Ws(s, ref p);
                if (s[p] == ']') { p++; return l; }
                while (true)
                {
                    l.Add(Value(s, ref p));
                    Ws(s, ref p);
                    if (s[p] == ',') { p++; continue; }
                    Expect(s, ref p, ']');
                    return l;
                }
            }
            if (c == '"') return Str(s, ref p);
            if (s.Substring(p).StartsWith("true", StringComparison.Ordinal)) { p += 4; return true; }
            if (s.Substring(p).StartsWith("false", StringComparison.Ordinal)) { p += 5; return false; }
            if (s.Substring(p).StartsWith("null", StringComparison.Ordinal)) { p += 4; return null; }
            int start = p;
            bool isFloat = false;
            while (p < s.Length && "+-0123456789.eE".IndexOf(s[p]) >= 0)
            {
                if (s[p] == '.' || s[p] == 'e' || s[p] == 'E') isFloat = true;
                p++;
            }
            if (p == start) throw new FormatException("json: unexpected '" + c + "' at " + p);
            string num = s.Substring(start, p - start);
            if (isFloat) return double.Parse(num, NumberStyles.Float, CultureInfo.InvariantCulture);
            return long.Parse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }

        static void Expect(string s, ref int p, char c)
        {
            if (p >= s.Length || s[p] != c) throw new FormatException("json: expected '" + c + "' at " + p);
            p++;
        }

        static string Str(string s, ref int p)
        {
            Expect(s, ref p, '"');
            var sb = new StringBuilder();
            while (true)
            {
                if (p >= s.Length) throw new FormatException("json: unterminated string");
                char c = s[p++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                char e = s[p++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        sb.Append((char)int.Parse(s.Substring(p, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        p += 4;
                        break;
                    default: sb.Append(e); break;
                }
            }
        }
    }
}
