// Every message type of docs/protocol.md has a typed C# helper, checked against the shared vectors
// (docs/protocol-vectors.json): each client -> runtime example is rebuilt with its Protocol.*
// builder, each runtime -> client example is parsed into its typed view, and every documented field
// of the example must be a field of the view holding the same value.
// tests/bindings/test_protocol_coverage.py checks the same list from Python (and GDScript).

using System;
using System.Collections.Generic;
using System.Reflection;
using System.Text;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    [TestFixture]
    public class ProtocolCoverageTests
    {
        static string S(Dictionary<string, object> j, string k) { object v; return j.TryGetValue(k, out v) ? v as string : null; }
        static object O(Dictionary<string, object> j, string k) { object v; return j.TryGetValue(k, out v) ? v : null; }
        static double? D(Dictionary<string, object> j, string k)
        {
            object v;
            if (!j.TryGetValue(k, out v)) return null;
            return Convert.ToDouble(v);
        }
        static long L(Dictionary<string, object> j, string k) { return Convert.ToInt64(j[k]); }
        static List<string> Strs(Dictionary<string, object> j, string k)
        {
            var l = new List<string>();
            foreach (object o in (List<object>)j[k]) l.Add((string)o);
            return l;
        }
        static Dictionary<string, double> Nums(Dictionary<string, object> j, string k)
        {
            var d = new Dictionary<string, double>();
            foreach (var kv in (Dictionary<string, object>)j[k]) d[kv.Key] = Convert.ToDouble(kv.Value);
            return d;
        }

        /// <summary>Client message type -> rebuild the example with its typed builder.</summary>
        static readonly Dictionary<string, Func<Dictionary<string, object>, Dictionary<string, object>>> Builders =
            new Dictionary<string, Func<Dictionary<string, object>, Dictionary<string, object>>>
        {
            { "hello", j => Protocol.Hello(O(j, "id"), S(j, "client"), (int)L(j, "protocol")) },
            { "ping", j => Protocol.Ping(O(j, "id"), D(j, "t").Value) },
            { "list_npcs", j => Protocol.ListNpcs(O(j, "id")) },
            { "game_time", j => Protocol.GameTime(D(j, "hours").Value) },
            { "bye", j => Protocol.Bye() },
            { "conversation_start", j => Protocol.ConversationStart(O(j, "id"), Strs(j, "npc_ids"), S(j, "player_id"), S(j, "mode"), (bool)j["greet"]) },
            { "player_text", j => Protocol.PlayerText(O(j, "id"), S(j, "conversation_id"), S(j, "text"), S(j, "to")) },
            { "interrupt", j => Protocol.Interrupt(S(j, "conversation_id")) },
            { "conversation_end", j => Protocol.ConversationEnd(O(j, "id"), S(j, "conversation_id")) },
            { "save", j => Protocol.Save(O(j, "id")) },
            { "load", j => Protocol.Load(O(j, "id"), (byte[])j["blob"]) },
            { "memory_add", j => Protocol.MemoryAdd(O(j, "id"), S(j, "npc_id"), S(j, "text"), S(j, "kind"), D(j, "importance"), S(j, "player_id"), D(j, "game_time")) },
            { "memory_query", j => Protocol.MemoryQuery(O(j, "id"), S(j, "npc_id"), S(j, "query"), (int)L(j, "limit")) },
            { "relationship_get", j => Protocol.RelationshipGet(O(j, "id"), S(j, "npc_id"), S(j, "player_id")) },
            { "relationship_adjust", j => Protocol.RelationshipAdjust(O(j, "id"), S(j, "npc_id"), S(j, "player_id"), Nums(j, "changes"), S(j, "reason")) },
            { "relationship_set", j => Protocol.RelationshipSet(O(j, "id"), S(j, "npc_id"), S(j, "player_id"), Nums(j, "values"), S(j, "reason")) },
            { "player_fact_add", j => Protocol.PlayerFactAdd(O(j, "id"), S(j, "npc_id"), S(j, "player_id"), S(j, "kind"), S(j, "text")) },
            { "world_event", j => S(j, "kind") == "item_given"
                ? Protocol.WorldEventItemGiven(O(j, "id"), S(j, "item"), S(j, "receiver"), S(j, "giver"))
                : Protocol.WorldEventCustom(O(j, "id"), S(j, "name"), (Dictionary<string, object>)j["payload"], Strs(j, "witnesses"), D(j, "game_time")) },
            { "world_state", j => Protocol.WorldState(O(j, "id"), S(j, "npc_id")) },
            { "world_tell", j => Protocol.WorldTell(O(j, "id"), S(j, "npc_id"), S(j, "fact"), S(j, "by")) },
            { "world_reset", j => Protocol.WorldReset(O(j, "id")) },
            { "audio_start", j => Protocol.AudioStart(O(j, "id"), S(j, "conversation_id"), (int)L(j, "sample_rate")) },
            { "audio_chunk", j => Protocol.AudioChunk(S(j, "conversation_id"), L(j, "seq"), (byte[])j["pcm"]) },
            { "speech_start", j => Protocol.SpeechStart(S(j, "conversation_id")) },
            { "speech_end", j => Protocol.SpeechEnd(S(j, "conversation_id")) },
            { "playback_started", j => Protocol.PlaybackStarted(S(j, "conversation_id"), L(j, "turn_id")) },
            { "playback_report", j => Protocol.PlaybackReport(S(j, "conversation_id"), L(j, "turn_id"), D(j, "played_ms")) },
        };

        static IEnumerable<TestCaseData> Vectors(string direction)
        {
            int i = 0;
            foreach (object o in TestEnv.Vectors())
            {
                var v = (Dictionary<string, object>)o;
                if ((string)v["direction"] != direction) continue;
                yield return new TestCaseData(v["type"], TestEnv.Unbin(v["json"])).SetName(direction + "_" + v["type"] + "_" + i++);
            }
        }

        public static IEnumerable<TestCaseData> ClientVectors() { return Vectors("client"); }

        public static IEnumerable<TestCaseData> ServerVectors() { return Vectors("server"); }

        /// <summary>Like TestEnv.Diff, but an int and a float with the same value are equal (a float field accepts an int).</summary>
        static string Same(object expected, object actual, string path)
        {
            if ((expected is long || expected is double) && (actual is long || actual is double))
                return Convert.ToDouble(expected) == Convert.ToDouble(actual) ? null : path + ": expected " + expected + ", got " + actual;
            var em = expected as Dictionary<string, object>;
            var am = actual as Dictionary<string, object>;
            if (em != null && am != null)
            {
                foreach (var kv in em)
                {
                    object av;
                    if (!am.TryGetValue(kv.Key, out av)) return path + ": missing key " + kv.Key;
                    string d = Same(kv.Value, av, path + "." + kv.Key);
                    if (d != null) return d;
                }
                foreach (string k in am.Keys) if (!em.ContainsKey(k)) return path + ": unexpected key " + k;
                return null;
            }
            var el = expected as List<object>;
            var al = actual as List<object>;
            if (el != null && al != null)
            {
                if (el.Count != al.Count) return path + ": expected " + el.Count + " items, got " + al.Count;
                for (int i = 0; i < el.Count; i++)
                {
                    string d = Same(el[i], al[i], path + "[" + i + "]");
                    if (d != null) return d;
                }
                return null;
            }
            return TestEnv.Diff(expected, actual, path);
        }

        [Test, TestCaseSource("ClientVectors")]
        public void ClientMessageHasATypedBuilder(string type, Dictionary<string, object> json)
        {
            Func<Dictionary<string, object>, Dictionary<string, object>> build;
            Assert.IsTrue(Builders.TryGetValue(type, out build), "no typed builder for client message '" + type + "' (add Protocol." + Pascal(type) + ")");
            MethodInfo named = typeof(Protocol).GetMethod(Pascal(type), BindingFlags.Public | BindingFlags.Static);
            Assert.IsNotNull(named, "Protocol." + Pascal(type) + " is missing");
            Dictionary<string, object> built = build(json);
            Assert.IsNull(Same(json, built, type));
            Assert.DoesNotThrow(() => MsgPack.Encode(built));
        }

        [Test, TestCaseSource("ServerVectors")]
        public void RuntimeMessageHasATypedView(string type, Dictionary<string, object> json)
        {
            object view = Messages.Parse(json);
            Assert.IsNotInstanceOf<UnknownMessage>(view, "no typed view for runtime message '" + type + "' (add a class with [WireType(\"" + type + "\")])");
            var fields = new Dictionary<string, FieldInfo>();
            foreach (FieldInfo f in view.GetType().GetFields(BindingFlags.Public | BindingFlags.Instance)) fields[Snake(f.Name)] = f;
            Assert.AreSame(json, fields["raw"].GetValue(view), "the view keeps the whole map in Raw");
            foreach (var kv in json)
            {
                if (kv.Key == "type") continue;
                FieldInfo f;
                Assert.IsTrue(fields.TryGetValue(kv.Key, out f), type + "." + kv.Key + " has no field " + Pascal(kv.Key) + " in " + view.GetType().Name);
                object got = f.GetValue(view);
                object want = kv.Value;
                if (want is string || want is bool || want is long || want is double)
                    Assert.IsNull(Same(want, got, type + "." + kv.Key));
                else if (want is byte[])
                    Assert.AreEqual(want, got, type + "." + kv.Key);
                else
                    Assert.IsNotNull(got, type + "." + kv.Key + " was not read");
                var list = want as List<object>;
                var coll = got as System.Collections.ICollection;
                if (list != null && coll != null) Assert.AreEqual(list.Count, coll.Count, type + "." + kv.Key + " count");
                var map = want as Dictionary<string, object>;
                if (map != null && coll != null) Assert.AreEqual(map.Count, coll.Count, type + "." + kv.Key + " count");
            }
        }

        [Test]
        public void TheParserTableMatchesTheWireTypeTags()
        {
            var seen = new HashSet<string>();
            foreach (Type t in typeof(Messages).Assembly.GetTypes())
            {
                var tags = (WireTypeAttribute[])t.GetCustomAttributes(typeof(WireTypeAttribute), false);
                if (tags.Length == 0) continue;
                foreach (string w in tags[0].Types)
                {
                    Assert.IsTrue(seen.Add(w), w + " is claimed by two views");
                    Assert.IsTrue(Messages.Parsers.ContainsKey(w), w + " is tagged on " + t.Name + " but not in Messages.Parsers");
                    var probe = new Dictionary<string, object> { { "type", w } };
                    Assert.IsInstanceOf(t, Messages.Parsers[w](probe), w + " is parsed by " + t.Name + ".From");
                }
            }
            Assert.AreEqual(seen.Count, Messages.Parsers.Count);
        }

        [Test]
        public void AnUnknownTypeParsesAsUnknownMessageAndKeepsTheMap()
        {
            var m = new Dictionary<string, object> { { "type", "from_the_future" }, { "x", 1L } };
            var u = (UnknownMessage)Messages.Parse(m);
            Assert.AreEqual("from_the_future", u.Type);
            Assert.AreSame(m, u.Raw);
        }

        [Test]
        public void AMalformedMessageGetsNeutralDefaultsNotAnException()
        {
            var m = new Dictionary<string, object> { { "type", "npc_audio" }, { "turn_id", "three" }, { "pcm", 5L }, { "visemes", "no" } };
            var a = (NpcAudio)Messages.Parse(m);
            Assert.AreEqual(0, a.TurnId);
            Assert.AreEqual(0, a.Pcm.Length);
            Assert.AreEqual(0, a.Visemes.Count);
        }

        public static string Pascal(string snake)
        {
            var b = new StringBuilder();
            foreach (string part in snake.Split('_')) if (part.Length > 0) b.Append(char.ToUpperInvariant(part[0])).Append(part.Substring(1));
            return b.ToString();
        }

        static string Snake(string pascal)
        {
            var b = new StringBuilder();
            for (int i = 0; i < pascal.Length; i++)
            {
                char c = pascal[i];
                if (char.IsUpper(c) && i > 0) b.Append('_');
                b.Append(char.ToLowerInvariant(c));
            }
            return b.ToString();
        }
    }
}
