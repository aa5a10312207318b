// NPC Runtime client for Unity / plain .NET: the wire protocol v1 messages (docs/protocol.md).
//
// NuGet is not reachable from the machines this project is built and tested on, so
// MessagePack-CSharp and NetMQ cannot be used: messages are plain Dictionary<string, object>
// maps (see MsgPack.cs) built by the helpers below in the field order of docs/protocol.md, and
// incoming maps are read through small typed views (Welcome, NpcTextDelta, ...). Every view keeps
// the whole map in Raw, so fields added by newer runtimes stay reachable (unknown fields are ignored).
// Compiles with `mcs -langversion:7.2` (Mono) and with Unity's compiler; no UnityEngine reference.

using System;
using System.Collections.Generic;

namespace NpcRuntime
{
    /// <summary>Builders for the messages a game client sends. A null id leaves the field out.</summary>
    public static partial class Protocol
    {
        public const int Version = 1;

        static Dictionary<string, object> Msg(string type, object id)
        {
            var m = new Dictionary<string, object>();
            m["type"] = type;
            if (id != null) m["id"] = id;
            return m;
        }

        public static Dictionary<string, object> Hello(object id, string client, int protocol = Version)
        {
            var m = Msg("hello", id);
            m["protocol"] = (long)protocol;
            if (client != null) m["client"] = client;
            return m;
        }

        public static Dictionary<string, object> Ping(object id, double t)
        {
            var m = Msg("ping", id);
            m["t"] = t;
            return m;
        }

        public static Dictionary<string, object> ListNpcs(object id)
        {
            return Msg("list_npcs", id);
        }

        public static Dictionary<string, object> GameTime(double hours)
        {
            var m = Msg("game_time", null);
            m["hours"] = hours;
            return m;
        }

        public static Dictionary<string, object> Bye()
        {
            return Msg("bye", null);
        }

        /// <param name="ambient">the NPCs talk among themselves (two or more NPCs; greet is then ignored); null: off</param>
        /// <param name="s2s">voice modes with one NPC: a speech-to-speech profile of the runtime, or "none" for the
        /// cascade; null leaves the field out (the persona's, else the runtime's default)</param>
        public static Dictionary<string, object> ConversationStart(
            object id, IList<string> npcIds, string playerId = "player", string mode = "text", bool greet = true,
            AmbientSpec ambient = null, string s2s = null)
        {
            if (npcIds == null || npcIds.Count < 1 || npcIds.Count > 8)
                throw new ArgumentException("a conversation needs 1 to 8 NPC ids");
            if (ambient != null && new HashSet<string>(npcIds).Count < 2)
                throw new ArgumentException("an ambient conversation needs at least two different NPC ids");
            if (s2s != null && (s2s.Length < 1 || s2s.Length > 64))
                throw new ArgumentException("s2s is a profile name of 1 to 64 characters, or \"none\"");
            var m = Msg("conversation_start", id);
            m["npc_ids"] = new List<object>(npcIds);
            m["player_id"] = playerId;
            m["mode"] = mode;
            m["greet"] = greet;
            if (ambient != null) m["ambient"] = ambient.ToMap();
            if (s2s != null) m["s2s"] = s2s;
            return m;
        }

        public static Dictionary<string, object> PlayerText(object id, string conversationId, string text, string to = null)
        {
            var m = Msg("player_text", id);
            m["conversation_id"] = conversationId;
            m["text"] = text;
            if (to != null) m["to"] = to;
            return m;
        }

        public static Dictionary<string, object> Interrupt(string conversationId)
        {
            var m = Msg("interrupt", null);
            m["conversation_id"] = conversationId;
            return m;
        }

        public static Dictionary<string, object> ConversationEnd(object id, string conversationId)
        {
            var m = Msg("conversation_end", id);
            m["conversation_id"] = conversationId;
            return m;
        }

        public static Dictionary<string, object> Save(object id)
        {
            return Msg("save", id);
        }

        public static Dictionary<string, object> Load(object id, byte[] blob)
        {
            var m = Msg("load", id);
            m["blob"] = blob;
            return m;
        }

        // ------------------------------------------------------------ reading fields leniently
        public static string Str(IDictionary<string, object> m, string key, string fallback = null)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && v is string ? (string)v : fallback;
        }

        public static long Int(IDictionary<string, object> m, string key, long fallback = 0)
        {
            object v;
            if (m == null || !m.TryGetValue(key, out v) || v == null) return fallback;
            if (v is long) return (long)v;
            if (v is double) return (long)(double)v;
            return fallback;
        }

        /// <summary>A float field (an int on the wire is accepted).</summary>
        public static double Float(IDictionary<string, object> m, string key, double fallback = 0)
        {
            object v;
            if (m == null || !m.TryGetValue(key, out v) || v == null) return fallback;
            if (v is double) return (double)v;
            if (v is long) return (long)v;
            return fallback;
        }

        public static bool Bool(IDictionary<string, object> m, string key, bool fallback = false)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && v is bool ? (bool)v : fallback;
        }

        public static List<object> List(IDictionary<string, object> m, string key)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && v is List<object> ? (List<object>)v : new List<object>();
        }

        public static Dictionary<string, object> Map(IDictionary<string, object> m, string key)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && v is Dictionary<string, object>
                ? (Dictionary<string, object>)v
                : new Dictionary<string, object>();
        }

        /// <summary>The message's id or ref as given (long or string), or null.</summary>
        public static object Ref(IDictionary<string, object> m, string key = "ref")
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && (v is long || v is string) ? v : null;
        }
    }

    /// <summary>
    /// conversation_start's `ambient`: the NPCs talk among themselves and the player overhears. The
    /// first NPC opens with SeedLine (said as written) or on Topic; the others answer in turn, for at
    /// most Turns lines (2-20, the opening included). The player joins by speaking or typing.
    /// </summary>
    public sealed class AmbientSpec
    {
        public const int MinTurns = 2, MaxTurns = 20, DefaultTurns = 6;
        public readonly string Topic, SeedLine;
        public readonly int Turns;

        public AmbientSpec(string topic = null, string seedLine = null, int turns = DefaultTurns)
        {
            if (string.IsNullOrEmpty(topic) && string.IsNullOrEmpty(seedLine))
                throw new ArgumentException("ambient needs a topic or a seed line");
            if (turns < MinTurns || turns > MaxTurns)
                throw new ArgumentOutOfRangeException("turns", turns, "ambient turns are 2 to 20");
            Topic = string.IsNullOrEmpty(topic) ? null : topic;
            SeedLine = string.IsNullOrEmpty(seedLine) ? null : seedLine;
            Turns = turns;
        }

        public static AmbientSpec OnTopic(string topic, int turns = DefaultTurns) { return new AmbientSpec(topic, null, turns); }

        public static AmbientSpec FromSeedLine(string seedLine, int turns = DefaultTurns) { return new AmbientSpec(null, seedLine, turns); }

        public Dictionary<string, object> ToMap()
        {
            var m = new Dictionary<string, object>();
            if (Topic != null) m["topic"] = Topic;
            if (SeedLine != null) m["seed_line"] = SeedLine;
            m["turns"] = (long)Turns;
            return m;
        }
    }

    public class NpcInfo
    {
        public string Id, Name, Role;

        public static NpcInfo From(Dictionary<string, object> m)
        {
            return new NpcInfo { Id = Protocol.Str(m, "id"), Name = Protocol.Str(m, "name"), Role = Protocol.Str(m, "role") };
        }

        public static List<NpcInfo> ListFrom(Dictionary<string, object> m)
        {
            var npcs = new List<NpcInfo>();
            foreach (object o in Protocol.List(m, "npcs"))
            {
                var d = o as Dictionary<string, object>;
                if (d != null) npcs.Add(From(d));
            }
            return npcs;
        }

        public override string ToString() { return Id + " (" + Name + ", " + Role + ")"; }
    }

    [WireType("welcome")]
    public class Welcome
    {
        public object Ref;
        public long Protocol;
        public string Runtime, Session;
        public List<NpcInfo> Npcs;
        public double HeartbeatInterval, ClientTimeout;
        public long MaxMessageBytes;
        public Dictionary<string, object> Raw;

        public static Welcome From(Dictionary<string, object> m)
        {
            return new Welcome
            {
                Ref = NpcRuntime.Protocol.Ref(m),
                Protocol = NpcRuntime.Protocol.Int(m, "protocol"),
                Runtime = NpcRuntime.Protocol.Str(m, "runtime"),
                Session = NpcRuntime.Protocol.Str(m, "session"),
                Npcs = NpcInfo.ListFrom(m),
                HeartbeatInterval = NpcRuntime.Protocol.Float(m, "heartbeat_interval", 2.0),
                ClientTimeout = NpcRuntime.Protocol.Float(m, "client_timeout", 10.0),
                MaxMessageBytes = NpcRuntime.Protocol.Int(m, "max_message_bytes", 1 << 20),
                Raw = m,
            };
        }
    }

    [WireType("conversation_started")]
    public class ConversationStarted
    {
        public object Ref;
        public string ConversationId, PlayerId, Mode;
        public List<string> NpcIds = new List<string>();
        public Dictionary<string, object> Raw;

        public static ConversationStarted From(Dictionary<string, object> m)
        {
            var c = new ConversationStarted
            {
                Ref = Protocol.Ref(m),
                ConversationId = Protocol.Str(m, "conversation_id"),
                PlayerId = Protocol.Str(m, "player_id"),
                Mode = Protocol.Str(m, "mode"),
                Raw = m,
            };
            foreach (object o in Protocol.List(m, "npc_ids")) if (o is string) c.NpcIds.Add((string)o);
            return c;
        }
    }

    /// <summary>A piece of an NPC's reply (show it as a subtitle as it arrives).</summary>
    [WireType("npc_text_delta")]
    public class NpcTextDelta
    {
        public string ConversationId, NpcId, Text;
        public long TurnId, Seq;
        public Dictionary<string, object> Raw;

        public static NpcTextDelta From(Dictionary<string, object> m)
        {
            return new NpcTextDelta
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                NpcId = Protocol.Str(m, "npc_id"),
                Text = Protocol.Str(m, "text", ""),
                TurnId = Protocol.Int(m, "turn_id"),
                Seq = Protocol.Int(m, "seq"),
                Raw = m,
            };
        }
    }

    /// <summary>An action the NPC takes (already checked by the runtime); the game performs it.</summary>
    [WireType("npc_action")]
    public class NpcAction
    {
        public string ConversationId, NpcId, Name;
        public long TurnId;
        public Dictionary<string, object> Args;
        public Dictionary<string, object> Raw;

        public static NpcAction From(Dictionary<string, object> m)
        {
            return new NpcAction
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                NpcId = Protocol.Str(m, "npc_id"),
                Name = Protocol.Str(m, "name"),
                TurnId = Protocol.Int(m, "turn_id"),
                Args = Protocol.Map(m, "args"),
                Raw = m,
            };
        }
    }

    /// <summary>The whole line of a turn; Source is authored, llm, fallback, greeting or farewell.
    /// Ambient: a line of NPCs talking among themselves (NpcId is who spoke), not an answer to the player.</summary>
    [WireType("npc_text_final")]
    public class NpcTextFinal
    {
        public object Ref;
        public string ConversationId, NpcId, Text, Source;
        public long TurnId;
        public bool Interrupted, Ambient;
        public List<NpcAction> Actions = new List<NpcAction>();
        public Dictionary<string, object> Raw;

        public static NpcTextFinal From(Dictionary<string, object> m)
        {
            var f = new NpcTextFinal
            {
                Ref = Protocol.Ref(m),
                ConversationId = Protocol.Str(m, "conversation_id"),
                NpcId = Protocol.Str(m, "npc_id"),
                Text = Protocol.Str(m, "text", ""),
                Source = Protocol.Str(m, "source"),
                TurnId = Protocol.Int(m, "turn_id"),
                Interrupted = Protocol.Bool(m, "interrupted"),
                Ambient = Protocol.Bool(m, "ambient"),
                Raw = m,
            };
            foreach (object o in Protocol.List(m, "actions"))
            {
                var d = o as Dictionary<string, object>;
                if (d == null) continue;
                f.Actions.Add(new NpcAction
                {
                    ConversationId = f.ConversationId,
                    NpcId = f.NpcId,
                    TurnId = f.TurnId,
                    Name = Protocol.Str(d, "name"),
                    Args = Protocol.Map(d, "args"),
                    Raw = d,
                });
            }
            return f;
        }
    }

    /// <summary>An `error` (request refused, nothing done) or `warning` (the runtime coped).</summary>
    [WireType("error", "warning")]
    public class RuntimeNotice
    {
        public bool IsWarning;
        /// <summary>The wire code as sent (also one this client does not know yet: see Kind).</summary>
        public string Code, Message, ConversationId;
        public object Ref;
        public Dictionary<string, object> Raw;

        /// <summary>The code as an enum; RuntimeCode.Unknown for a code of a newer runtime (Code has it).</summary>
        public RuntimeCode Kind { get { return RuntimeCodes.Parse(Code); } }
        public bool IsKnownCode { get { return Kind != RuntimeCode.Unknown; } }

        public static RuntimeNotice From(Dictionary<string, object> m)
        {
            return new RuntimeNotice
            {
                IsWarning = Protocol.Str(m, "type") == "warning",
                Code = Protocol.Str(m, "code", "internal"),
                Message = Protocol.Str(m, "message", ""),
                ConversationId = Protocol.Str(m, "conversation_id"),
                Ref = Protocol.Ref(m),
                Raw = m,
            };
        }

        public override string ToString() { return (IsWarning ? "warning " : "error ") + Code + ": " + Message; }
    }

    [WireType("conversation_ended")]
    public class ConversationEnded
    {
        /// <summary>The conversation_end request's id when this answers one (null otherwise).</summary>
        public object Ref;
        public string ConversationId, Reason;
        public Dictionary<string, object> Raw;

        public static ConversationEnded From(Dictionary<string, object> m)
        {
            return new ConversationEnded
            {
                Ref = Protocol.Ref(m),
                ConversationId = Protocol.Str(m, "conversation_id"),
                Reason = Protocol.Str(m, "reason"),
                Raw = m,
            };
        }
    }

    /// <summary>The runtime answered a request with an `error` message.</summary>
    public class NpcRuntimeException : Exception
    {
        public readonly string Code;
        public readonly RuntimeNotice Error;
        public RuntimeCode Kind { get { return Error.Kind; } }

        public NpcRuntimeException(RuntimeNotice error) : base(error.Code + ": " + error.Message)
        {
            Code = error.Code;
            Error = error;
        }
    }
}
