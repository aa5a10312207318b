// Tests of the msgpack codec and the message builders against the shared protocol vectors
// (docs/protocol-vectors.json, generated from every example in docs/protocol.md).
// NUnit 2.6 (Debian's nunit-console): NuGet is unreachable here, so no newer NUnit.

using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    [TestFixture]
    public class CodecTests
    {
        static IEnumerable<TestCaseData> Cases(string prefix)
        {
            foreach (object o in TestEnv.Vectors())
            {
                var v = (Dictionary<string, object>)o;
                yield return new TestCaseData(v).SetName(prefix + "_" + v["direction"] + "_" + v["type"]);
            }
        }

        public static IEnumerable<TestCaseData> DecodeVectors() { return Cases("decode"); }

        public static IEnumerable<TestCaseData> EncodeVectors() { return Cases("encode"); }

        [Test, TestCaseSource("DecodeVectors")]
        public void DecodesVectorAsItsJson(Dictionary<string, object> vector)
        {
            object expected = TestEnv.Unbin(vector["json"]);
            Dictionary<string, object> decoded = MsgPack.DecodeMap(TestEnv.FromHex((string)vector["msgpack_hex"]));
            Assert.IsNull(TestEnv.Diff(expected, decoded, vector["type"].ToString()));
        }

        [Test, TestCaseSource("EncodeVectors")]
        public void EncodesVectorToTheSameBytes(Dictionary<string, object> vector)
        {
            string hex = (string)vector["msgpack_hex"];
            // from the JSON (key order as written in docs/protocol.md) ...
            Assert.AreEqual(hex, TestEnv.ToHex(MsgPack.Encode(TestEnv.Unbin(vector["json"]))));
            // ... and re-encoding what was decoded
            Assert.AreEqual(hex, TestEnv.ToHex(MsgPack.Encode(MsgPack.Decode(TestEnv.FromHex(hex)))));
        }

        static Dictionary<string, object> VectorJson(string type)
        {
            foreach (object o in TestEnv.Vectors())
            {
                var v = (Dictionary<string, object>)o;
                if ((string)v["type"] == type) return (Dictionary<string, object>)TestEnv.Unbin(v["json"]);
            }
            Assert.Fail("docs/protocol-vectors.json has no '" + type + "' example");
            return null;
        }

        static string VectorHex(string type)
        {
            foreach (object o in TestEnv.Vectors())
            {
                var v = (Dictionary<string, object>)o;
                if ((string)v["type"] == type) return (string)v["msgpack_hex"];
            }
            return null;
        }

        static List<string> Strings(object list)
        {
            var l = new List<string>();
            foreach (object o in (List<object>)list) l.Add((string)o);
            return l;
        }

        [Test]
        public void BuildersWriteTheDocumentedBytes()
        {
            // Every client message the binding can build, built from the doc example's values:
            // field names, order, types and omissions must give exactly the documented bytes.
            var built = new Dictionary<string, Dictionary<string, object>>();
            Dictionary<string, object> j;
            j = VectorJson("hello");
            built["hello"] = Protocol.Hello(j["id"], (string)j["client"], (int)(long)j["protocol"]);
            j = VectorJson("ping");
            built["ping"] = Protocol.Ping(j["id"], (double)j["t"]);
            j = VectorJson("list_npcs");
            built["list_npcs"] = Protocol.ListNpcs(j["id"]);
            j = VectorJson("game_time");
            built["game_time"] = Protocol.GameTime((double)j["hours"]);
            built["bye"] = Protocol.Bye();
            j = VectorJson("conversation_start");
            built["conversation_start"] = Protocol.ConversationStart(
                j["id"], Strings(j["npc_ids"]), (string)j["player_id"], (string)j["mode"], (bool)j["greet"]);
            j = VectorJson("player_text");
            built["player_text"] = Protocol.PlayerText(j["id"], (string)j["conversation_id"], (string)j["text"]);
            j = VectorJson("interrupt");
            built["interrupt"] = Protocol.Interrupt((string)j["conversation_id"]);
            j = VectorJson("conversation_end");
            built["conversation_end"] = Protocol.ConversationEnd(j["id"], (string)j["conversation_id"]);
            j = VectorJson("save");
            built["save"] = Protocol.Save(j["id"]);
            j = VectorJson("load");
            built["load"] = Protocol.Load(j["id"], (byte[])j["blob"]);
            foreach (var kv in built)
                Assert.AreEqual(VectorHex(kv.Key), TestEnv.ToHex(MsgPack.Encode(kv.Value)), kv.Key);
        }

        [Test]
        public void TypedViewsReadTheDocumentedServerMessages()
        {
            Welcome w = Welcome.From(VectorJson("welcome"));
            Assert.AreEqual(1, w.Protocol);
            Assert.AreEqual("mira", w.Npcs[0].Id);
            Assert.AreEqual("Mira Thornwood", w.Npcs[0].Name);
            Assert.AreEqual(2.0, w.HeartbeatInterval);
            Assert.AreEqual(10.0, w.ClientTimeout);
            Assert.AreEqual(1048576, w.MaxMessageBytes);

            NpcTextDelta d = NpcTextDelta.From(VectorJson("npc_text_delta"));
            Assert.AreEqual("c0ffee12", d.ConversationId);
            Assert.AreEqual(1, d.Seq);
            Assert.AreEqual(2, d.TurnId);
            Assert.AreEqual("mira", d.NpcId);

            NpcTextFinal f = NpcTextFinal.From(VectorJson("npc_text_final"));
            Assert.AreEqual(11L, f.Ref);
            Assert.AreEqual("authored", f.Source);
            Assert.IsFalse(f.Interrupted);
            Assert.AreEqual(1, f.Actions.Count);
            Assert.AreEqual("serve_drink", f.Actions[0].Name);
            Assert.AreEqual("ale", f.Actions[0].Args["drink"]);

            NpcAction a = NpcAction.From(VectorJson("npc_action"));
            Assert.AreEqual("serve_drink", a.Name);
            Assert.AreEqual(3, a.TurnId);
            Assert.AreEqual("ale", a.Args["drink"]);

            RuntimeNotice e = RuntimeNotice.From(VectorJson("error"));
            Assert.IsFalse(e.IsWarning);
            Assert.AreEqual("unknown_conversation", e.Code);
            Assert.AreEqual(9L, e.Ref);
            RuntimeNotice warn = RuntimeNotice.From(VectorJson("warning"));
            Assert.IsTrue(warn.IsWarning);
            Assert.AreEqual("c0ffee12", warn.ConversationId);

            ConversationStarted s = ConversationStarted.From(VectorJson("conversation_started"));
            Assert.AreEqual("c0ffee12", s.ConversationId);
            CollectionAssert.AreEqual(new[] { "mira" }, s.NpcIds);
            Assert.AreEqual("client", ConversationEnded.From(VectorJson("conversation_ended")).Reason);
        }

        // ------------------------------------------------------------ codec edge cases
        [TestCase(0L, "00")]
        [TestCase(127L, "7f")]
        [TestCase(128L, "cc80")]
        [TestCase(255L, "ccff")]
        [TestCase(256L, "cd0100")]
        [TestCase(65536L, "ce00010000")]
        [TestCase(4294967296L, "cf0000000100000000")]
        [TestCase(-1L, "ff")]
        [TestCase(-32L, "e0")]
        [TestCase(-33L, "d0df")]
        [TestCase(-129L, "d1ff7f")]
        [TestCase(-32769L, "d2ffff7fff")]
        [TestCase(-2147483649L, "d3ffffffff7fffffff")]
        public void IntegersUseTheSmallestForm(long value, string hex)
        {
            Assert.AreEqual(hex, TestEnv.ToHex(MsgPack.Encode(value)));
            Assert.AreEqual(value, MsgPack.Decode(TestEnv.FromHex(hex)));
        }

        [Test]
        public void LongStringsBinsArraysAndMapsRoundTrip()
        {
            var m = new Dictionary<string, object>();
            m["s8"] = new string('a', 40);
            m["s16"] = new string('é', 200); // 400 UTF-8 bytes
            m["s32"] = new string('z', 70000);
            m["b16"] = new byte[300];
            m["b32"] = new byte[70000];
            var arr = new List<object>();
            for (int i = 0; i < 20; i++) arr.Add((long)i);
            m["a16"] = arr;
            var inner = new Dictionary<string, object>();
            for (int i = 0; i < 20; i++) inner["k" + i] = i % 2 == 0;
            m["m16"] = inner;
            m["f"] = 0.1;
            m["nil"] = null;
            byte[] bytes = MsgPack.Encode(m);
            Assert.IsNull(TestEnv.Diff(m, MsgPack.Decode(bytes), "m"));
            string hex = TestEnv.ToHex(bytes);
            StringAssert.Contains("d928", hex);   // str8, 40 bytes
            StringAssert.Contains("da0190", hex); // str16, 400 bytes
            StringAssert.Contains("db00011170", hex); // str32
            StringAssert.Contains("c5012c", hex); // bin16, 300 bytes
            StringAssert.Contains("c600011170", hex); // bin32
            StringAssert.Contains("dc0014", hex); // array16
            StringAssert.Contains("de0014", hex); // map16
        }

        [Test]
        public void Float32AndUint64AreRead()
        {
            Assert.AreEqual(1.5, MsgPack.Decode(TestEnv.FromHex("ca3fc00000")));
            Assert.AreEqual(ulong.MaxValue, MsgPack.Decode(TestEnv.FromHex("cfffffffffffffffff")));
            Assert.AreEqual("cb3ff8000000000000", TestEnv.ToHex(MsgPack.Encode(1.5f)));
        }

        [TestCase("", "truncated")]
        [TestCase("a5616263", "truncated")]         // str of 5, 3 bytes given
        [TestCase("82a161", "truncated")]           // map cut short
        [TestCase("c1", "unsupported")]             // never-used byte
        [TestCase("d40100", "unsupported")]         // ext types are not used by the protocol
        [TestCase("0102", "extra bytes")]
        [TestCase("8101a161", "keys must be strings")]
        [TestCase("a2c328", "UTF-8")]
        [TestCase("dd7fffffff", "truncated")]       // huge array header, no data: refused before allocating
        public void BadBytesRaiseMsgPackException(string hex, string why)
        {
            var e = Assert.Throws<MsgPackException>(() => MsgPack.Decode(TestEnv.FromHex(hex)));
            StringAssert.Contains(why, e.Message);
        }

        [Test]
        public void DeepNestingIsRefused()
        {
            var bytes = new byte[200];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = 0x91; // [[[[...
            Assert.Throws<MsgPackException>(() => MsgPack.Decode(bytes));
        }

        [Test]
        public void AMessageMustBeAMap()
        {
            var e = Assert.Throws<MsgPackException>(() => MsgPack.DecodeMap(TestEnv.FromHex("9101")));
            StringAssert.Contains("map", e.Message);
        }

        [Test]
        public void UnencodableValuesAreRefused()
        {
            Assert.Throws<MsgPackException>(() => MsgPack.Encode(new object()));
            var m = new Dictionary<object, object>();
            m[1] = "x";
            Assert.Throws<MsgPackException>(() => MsgPack.Encode(m));
        }
    }
}
