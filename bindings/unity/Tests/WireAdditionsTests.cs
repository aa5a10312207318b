// conversation_start's ambient and s2s fields, npc_text_final's ambient flag and the error/warning
// codes (docs/protocol.md). The runtime's answers to them are in EndToEndTests (ambient, s2s) and
// ScriptedRuntimeTests (conversation_moved, not_authority, codes of a newer runtime).

using System;
using System.Collections.Generic;
using System.IO;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace NpcRuntime.Tests
{
    [TestFixture]
    public class WireAdditionsTests
    {
        [Test]
        public void ConversationStartCarriesAmbientAndS2sOnlyWhenGiven()
        {
            var plain = Protocol.ConversationStart(1L, new[] { "mira" });
            Assert.IsFalse(plain.ContainsKey("ambient"));
            Assert.IsFalse(plain.ContainsKey("s2s"));

            var m = Protocol.ConversationStart(2L, new[] { "bram", "tomas" }, "hero", "text", true,
                AmbientSpec.FromSeedLine("The wolves took another sheep last night.", 4));
            CollectionAssert.AreEqual(new[] { "type", "id", "npc_ids", "player_id", "mode", "greet", "ambient" }, new List<string>(m.Keys));
            var a = (Dictionary<string, object>)m["ambient"];
            Assert.AreEqual("The wolves took another sheep last night.", a["seed_line"]);
            Assert.AreEqual(4L, a["turns"]);
            Assert.IsFalse(a.ContainsKey("topic"));
            // it survives the codec as the runtime will read it
            var back = MsgPack.DecodeMap(MsgPack.Encode(m));
            Assert.IsNull(TestEnv.Diff(m, back, "$"));

            var topic = AmbientSpec.OnTopic("the wolves").ToMap();
            Assert.AreEqual("the wolves", topic["topic"]);
            Assert.AreEqual((long)AmbientSpec.DefaultTurns, topic["turns"]);

            var v = Protocol.ConversationStart(3L, new[] { "mira" }, "hero", "push_to_talk", true, null, "none");
            Assert.AreEqual("none", v["s2s"]);
        }

        [Test]
        public void BadAmbientOrS2sIsRefusedBeforeSending()
        {
            Assert.Throws<ArgumentException>(() => new AmbientSpec());
            Assert.Throws<ArgumentOutOfRangeException>(() => AmbientSpec.OnTopic("wolves", 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => AmbientSpec.OnTopic("wolves", 21));
            Assert.Throws<ArgumentException>(() => Protocol.ConversationStart(null, new[] { "bram", "bram" }, "p", "text", true, AmbientSpec.OnTopic("x")));
            Assert.Throws<ArgumentException>(() => Protocol.ConversationStart(null, new[] { "mira" }, "p", "push_to_talk", true, null, ""));
        }

        [Test]
        public void NpcTextFinalSaysWhetherTheLineIsAmbient()
        {
            var m = new Dictionary<string, object>
            {
                { "type", "npc_text_final" }, { "conversation_id", "c" }, { "turn_id", 2L }, { "npc_id", "tomas" },
                { "text", "Aye, and the gate was open." }, { "source", "authored" }, { "interrupted", false }, { "ambient", true },
            };
            NpcTextFinal f = NpcTextFinal.From(m);
            Assert.IsTrue(f.Ambient);
            Assert.AreEqual("tomas", f.NpcId);
            m.Remove("ambient");
            Assert.IsFalse(NpcTextFinal.From(m).Ambient, "ambient defaults to false");
        }

        [Test]
        public void EveryCodeOfTheProtocolDocIsKnownAndUnknownCodesAreKept()
        {
            string doc = File.ReadAllText(Path.Combine(TestEnv.RepoRoot(), "docs", "protocol.md"));
            int start = doc.IndexOf("### Error codes", StringComparison.Ordinal);
            Assert.Greater(start, 0, "docs/protocol.md has an error code table");
            int end = doc.IndexOf("\n## ", start, StringComparison.Ordinal);
            var codes = new List<string>();
            foreach (Match row in Regex.Matches(doc.Substring(start, end - start), @"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", RegexOptions.Multiline))
                foreach (Match c in Regex.Matches(row.Groups[1].Value, "`([a-z_]+)`")) codes.Add(c.Groups[1].Value);
            Assert.Greater(codes.Count, 15);
            foreach (string code in codes)
                Assert.AreNotEqual(RuntimeCode.Unknown, RuntimeCodes.Parse(code), code + " (docs/protocol.md) has a RuntimeCode");
            Assert.AreEqual(RuntimeCode.ConversationMoved, RuntimeCodes.Parse(RuntimeCodes.ConversationMoved));
            Assert.AreEqual(RuntimeCode.NotAuthority, RuntimeCodes.Parse(RuntimeCodes.NotAuthority));
            var names = new HashSet<RuntimeCode>();
            foreach (string k in RuntimeCodes.Known) Assert.IsTrue(names.Add(RuntimeCodes.Parse(k)), k + " maps to its own value");
            Assert.AreEqual(Enum.GetValues(typeof(RuntimeCode)).Length - 1, names.Count, "every RuntimeCode but Unknown has a wire name");

            var n = RuntimeNotice.From(new Dictionary<string, object> { { "type", "warning" }, { "code", "brand_new" }, { "message", "m" } });
            Assert.AreEqual("brand_new", n.Code);
            Assert.AreEqual(RuntimeCode.Unknown, n.Kind);
            Assert.IsFalse(n.IsKnownCode);
        }
    }
}
