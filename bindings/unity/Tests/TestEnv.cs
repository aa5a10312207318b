// Test helper: where the repository and the shared protocol vectors are (set by bindings/run_tests.sh).

using System;
using System.Collections.Generic;
using System.IO;

namespace NpcRuntime.Tests
{
    public static class TestEnv
    {
        /// <summary>The repository root: $NPC_RUNTIME_REPO, else the nearest parent holding docs/protocol-vectors.json.</summary>
        public static string RepoRoot()
        {
            string env = Environment.GetEnvironmentVariable("NPC_RUNTIME_REPO");
            if (!string.IsNullOrEmpty(env)) return env;
            string dir = Environment.CurrentDirectory;
            while (dir != null)
            {
                if (File.Exists(Path.Combine(dir, "docs", "protocol-vectors.json"))) return dir;
                dir = Path.GetDirectoryName(dir);
            }
            throw new InvalidOperationException("set NPC_RUNTIME_REPO to the repository root (bindings/run_tests.sh does)");
        }

        public static List<object> Vectors()
        {
            string path = Path.Combine(RepoRoot(), "docs", "protocol-vectors.json");
            return (List<object>)MiniJson.Parse(File.ReadAllText(path));
        }

        public static byte[] FromHex(string hex)
        {
            var b = new byte[hex.Length / 2];
            for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
            return b;
        }

        public static string ToHex(byte[] b)
        {
            return BitConverter.ToString(b).Replace("-", "").ToLowerInvariant();
        }

        /// <summary>JSON form of a vector -> wire values: {"$bin": base64} becomes byte[].</summary>
        public static object Unbin(object v)
        {
            var m = v as Dictionary<string, object>;
            if (m != null)
            {
                object b64;
                if (m.Count == 1 && m.TryGetValue("$bin", out b64)) return Convert.FromBase64String((string)b64);
                var o = new Dictionary<string, object>();
                foreach (var kv in m) o[kv.Key] = Unbin(kv.Value);
                return o;
            }
            var l = v as List<object>;
            if (l != null)
            {
                var o = new List<object>();
                foreach (object x in l) o.Add(Unbin(x));
                return o;
            }
            return v;
        }

        /// <summary>Deep equality with strict int/float distinction; returns the first difference or null.</summary>
        public static string Diff(object expected, object actual, string path)
        {
            if (expected == null || actual == null)
                return expected == actual ? null : path + ": expected " + Show(expected) + ", got " + Show(actual);
            if (expected.GetType() != actual.GetType())
                return path + ": expected a " + expected.GetType().Name + " " + Show(expected) + ", got a " + actual.GetType().Name + " " + Show(actual);
            var em = expected as Dictionary<string, object>;
            if (em != null)
            {
                var am = (Dictionary<string, object>)actual;
                if (em.Count != am.Count) return path + ": expected " + em.Count + " keys, got " + am.Count;
                foreach (var kv in em)
                {
                    object av;
                    if (!am.TryGetValue(kv.Key, out av)) return path + ": missing key " + kv.Key;
                    string d = Diff(kv.Value, av, path + "." + kv.Key);
                    if (d != null) return d;
                }
                return null;
            }
            var el = expected as List<object>;
            if (el != null)
            {
                var al = (List<object>)actual;
                if (el.Count != al.Count) return path + ": expected " + el.Count + " items, got " + al.Count;
                for (int i = 0; i < el.Count; i++)
                {
                    string d = Diff(el[i], al[i], path + "[" + i + "]");
                    if (d != null) return d;
                }
                return null;
            }
            var eb = expected as byte[];
            if (eb != null) return ToHex(eb) == ToHex((byte[])actual) ? null : path + ": bytes differ";
            return expected.Equals(actual) ? null : path + ": expected " + Show(expected) + ", got " + Show(actual);
        }

        static string Show(object v)
        {
            return v == null ? "null" : v.ToString();
        }
    }
}
