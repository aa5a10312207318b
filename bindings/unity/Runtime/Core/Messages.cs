// NPC Runtime client: typed views of the runtime -> client messages not in Protocol.cs (persona
// notices, saves, memory, relationships, world), the [WireType] tag that names each view's message
// type, and Messages.Parse, which turns any incoming map into its view. Every view keeps the whole
// map in Raw (unknown fields stay reachable). Fields missing on the wire get neutral defaults
// (null, 0, empty); nothing here throws on a malformed message.

using System;
using System.Collections.Generic;

namespace NpcRuntime
{
    /// <summary>The wire `type`(s) a class is the typed view of.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
    public sealed class WireTypeAttribute : Attribute
    {
        public readonly string[] Types;
        public WireTypeAttribute(params string[] types) { Types = types; }
    }

    /// <summary>A message of a type this client does not know (a newer runtime): only Raw.</summary>
    public class UnknownMessage
    {
        public string Type;
        public Dictionary<string, object> Raw;
    }

    public static class Messages
    {
        /// <summary>Wire type -> its typed view's From. An explicit table, not reflection, so IL2CPP
        /// code stripping keeps every parser; a test checks it against the [WireType] tags.</summary>
        public static readonly Dictionary<string, Func<Dictionary<string, object>, object>> Parsers =
            new Dictionary<string, Func<Dictionary<string, object>, object>>
        {
            { "welcome", Welcome.From }, { "pong", Pong.From }, { "npcs", NpcList.From },
            { "error", RuntimeNotice.From }, { "warning", RuntimeNotice.From },
            { "conversation_started", ConversationStarted.From }, { "npc_text_delta", NpcTextDelta.From },
            { "npc_action", NpcAction.From }, { "npc_text_final", NpcTextFinal.From },
            { "conversation_ended", ConversationEnded.From },
            { "persona_reloaded", PersonaReloaded.From }, { "persona_error", PersonaError.From },
            { "save_data", SaveData.From }, { "loaded", Loaded.From },
            { "memory_added", MemoryAdded.From }, { "memory_results", MemoryResults.From },
            { "relationship", Relationship.From }, { "relationship_changed", RelationshipChanged.From },
            { "world_event_applied", WorldChange.From }, { "world_changed", WorldChange.From },
            { "world_file_error", WorldFileError.From }, { "world_state_reply", WorldStateReply.From },
            { "audio_ready", AudioReady.From }, { "transcript", Transcript.From },
            { "npc_audio", NpcAudio.From }, { "npc_audio_end", NpcAudioEnd.From },
            { "stop_playback", StopPlayback.From }, { "turn_metrics", TurnMetrics.From },
        };

        /// <summary>The typed view of a message (Welcome, NpcAudio, ...), or an UnknownMessage.</summary>
        public static object Parse(Dictionary<string, object> m)
        {
            string type = Protocol.Str(m, "type");
            Func<Dictionary<string, object>, object> from;
            if (type != null && Parsers.TryGetValue(type, out from)) return from(m);
            return new UnknownMessage { Type = type, Raw = m };
        }

        internal static List<string> StrList(Dictionary<string, object> m, string key)
        {
            var l = new List<string>();
            foreach (object o in Protocol.List(m, key)) if (o is string) l.Add((string)o);
            return l;
        }

        internal static Dictionary<string, double> NumMap(Dictionary<string, object> m, string key)
        {
            var d = new Dictionary<string, double>();
            foreach (var kv in Protocol.Map(m, key))
            {
                if (kv.Value is double) d[kv.Key] = (double)kv.Value;
                else if (kv.Value is long) d[kv.Key] = (long)kv.Value;
            }
            return d;
        }

        internal static Dictionary<string, string> StrMap(Dictionary<string, object> m, string key)
        {
            var d = new Dictionary<string, string>();
            foreach (var kv in Protocol.Map(m, key)) if (kv.Value is string) d[kv.Key] = (string)kv.Value;
            return d;
        }

        internal static List<Dictionary<string, object>> Maps(Dictionary<string, object> m, string key)
        {
            var l = new List<Dictionary<string, object>>();
            foreach (object o in Protocol.List(m, key))
            {
                var d = o as Dictionary<string, object>;
                if (d != null) l.Add(d);
            }
            return l;
        }
    }

    [WireType("pong")]
    public class Pong
    {
        public object Ref;
        public double T;
        public Dictionary<string, object> Raw;

        public static Pong From(Dictionary<string, object> m)
        {
            return new Pong { Ref = Protocol.Ref(m), T = Protocol.Float(m, "t"), Raw = m };
        }
    }

    [WireType("npcs")]
    public class NpcList
    {
        public object Ref;
        public List<NpcInfo> Npcs;
        public Dictionary<string, object> Raw;

        public static NpcList From(Dictionary<string, object> m)
        {
            return new NpcList { Ref = Protocol.Ref(m), Npcs = NpcInfo.ListFrom(m), Raw = m };
        }
    }

    /// <summary>One problem in a persona or world file (file, line, field, message).</summary>
    public class FileProblem
    {
        public string File, Field, Message;
        public long Line;

        public static List<FileProblem> ListFrom(Dictionary<string, object> m)
        {
            var l = new List<FileProblem>();
            foreach (var d in Messages.Maps(m, "problems"))
                l.Add(new FileProblem
                {
                    File = Protocol.Str(d, "file"),
                    Line = Protocol.Int(d, "line"),
                    Field = Protocol.Str(d, "field"),
                    Message = Protocol.Str(d, "message", ""),
                });
            return l;
        }

        public override string ToString() { return File + ":" + Line + " " + Field + ": " + Message; }
    }

    [WireType("persona_reloaded")]
    public class PersonaReloaded
    {
        public string NpcId, File;
        public Dictionary<string, object> Raw;

        public static PersonaReloaded From(Dictionary<string, object> m)
        {
            return new PersonaReloaded { NpcId = Protocol.Str(m, "npc_id"), File = Protocol.Str(m, "file"), Raw = m };
        }
    }

    [WireType("persona_error")]
    public class PersonaError
    {
        public string NpcId, File;
        public List<FileProblem> Problems;
        public Dictionary<string, object> Raw;

        public static PersonaError From(Dictionary<string, object> m)
        {
            return new PersonaError { NpcId = Protocol.Str(m, "npc_id"), File = Protocol.Str(m, "file"), Problems = FileProblem.ListFrom(m), Raw = m };
        }
    }

    [WireType("save_data")]
    public class SaveData
    {
        public object Ref;
        public byte[] Blob;
        public List<string> Parts;
        public Dictionary<string, object> Raw;

        public static SaveData From(Dictionary<string, object> m)
        {
            object blob;
            m.TryGetValue("blob", out blob);
            return new SaveData { Ref = Protocol.Ref(m), Blob = blob as byte[], Parts = Messages.StrList(m, "parts"), Raw = m };
        }
    }

    [WireType("loaded")]
    public class Loaded
    {
        public object Ref;
        public List<string> Parts;
        public Dictionary<string, object> Raw;

        public static Loaded From(Dictionary<string, object> m)
        {
            return new Loaded { Ref = Protocol.Ref(m), Parts = Messages.StrList(m, "parts"), Raw = m };
        }
    }

    [WireType("memory_added")]
    public class MemoryAdded
    {
        public object Ref;
        public string NpcId;
        public long MemoryId;
        public Dictionary<string, object> Raw;

        public static MemoryAdded From(Dictionary<string, object> m)
        {
            return new MemoryAdded { Ref = Protocol.Ref(m), NpcId = Protocol.Str(m, "npc_id"), MemoryId = Protocol.Int(m, "memory_id"), Raw = m };
        }
    }

    /// <summary>One recalled memory with its scores (memory_results).</summary>
    public class MemoryItem
    {
        public long Id;
        public string Kind, Text;
        public double Importance, GameTime, Score, Recency, ImportanceScore, Relevance;
        public Dictionary<string, object> Raw;
    }

    [WireType("memory_results")]
    public class MemoryResults
    {
        public object Ref;
        public string NpcId;
        public List<MemoryItem> Memories = new List<MemoryItem>();
        public Dictionary<string, object> Raw;

        public static MemoryResults From(Dictionary<string, object> m)
        {
            var r = new MemoryResults { Ref = Protocol.Ref(m), NpcId = Protocol.Str(m, "npc_id"), Raw = m };
            foreach (var d in Messages.Maps(m, "memories"))
                r.Memories.Add(new MemoryItem
                {
                    Id = Protocol.Int(d, "id"),
                    Kind = Protocol.Str(d, "kind"),
                    Text = Protocol.Str(d, "text", ""),
                    Importance = Protocol.Float(d, "importance"),
                    GameTime = Protocol.Float(d, "game_time"),
                    Score = Protocol.Float(d, "score"),
                    Recency = Protocol.Float(d, "recency"),
                    ImportanceScore = Protocol.Float(d, "importance_score"),
                    Relevance = Protocol.Float(d, "relevance"),
                    Raw = d,
                });
            return r;
        }
    }

    /// <summary>relationship (the answer to relationship_get/adjust/set and player_fact_add).</summary>
    [WireType("relationship")]
    public class Relationship
    {
        public object Ref;
        public string NpcId, PlayerId;
        public Dictionary<string, double> Values;
        public List<string> Facts;
        public Dictionary<string, object> Raw;

        public static Relationship From(Dictionary<string, object> m)
        {
            return new Relationship
            {
                Ref = Protocol.Ref(m),
                NpcId = Protocol.Str(m, "npc_id"),
                PlayerId = Protocol.Str(m, "player_id"),
                Values = Messages.NumMap(m, "values"),
                Facts = Messages.StrList(m, "facts"),
                Raw = m,
            };
        }
    }

    [WireType("relationship_changed")]
    public class RelationshipChanged
    {
        public string NpcId, PlayerId, Reason;
        public Dictionary<string, double> Values, Changes;
        public Dictionary<string, object> Raw;

        public static RelationshipChanged From(Dictionary<string, object> m)
        {
            return new RelationshipChanged
            {
                NpcId = Protocol.Str(m, "npc_id"),
                PlayerId = Protocol.Str(m, "player_id"),
                Reason = Protocol.Str(m, "reason"),
                Values = Messages.NumMap(m, "values"),
                Changes = Messages.NumMap(m, "changes"),
                Raw = m,
            };
        }
    }

    /// <summary>A quest transition that fired; unless Silent, SayNpc may say SayText.</summary>
    public class QuestTransition
    {
        public string Quest, Transition, FromState, ToState, SayNpc, SayText;
        public bool Silent;
    }

    /// <summary>world_event_applied (a reply, Ref set) and world_changed (to every client, Cause set).</summary>
    [WireType("world_event_applied", "world_changed")]
    public class WorldChange
    {
        public object Ref;
        public string Type, Cause, ConversationId, NpcId, WorldHash;
        public long Seq;
        public double GameTime;
        /// <summary>Variables with their new values (bool, long, double or string).</summary>
        public Dictionary<string, object> Variables;
        public Dictionary<string, string> Quests;
        public List<QuestTransition> Transitions = new List<QuestTransition>();
        /// <summary>[subject, relation, object] triples.</summary>
        public List<string[]> RelationsAdded = new List<string[]>(), RelationsRemoved = new List<string[]>();
        public List<Dictionary<string, object>> Learned;
        public Dictionary<string, object> Raw;

        static List<string[]> Triples(Dictionary<string, object> m, string key)
        {
            var l = new List<string[]>();
            foreach (object o in Protocol.List(m, key))
            {
                var t = o as List<object>;
                if (t == null) continue;
                var s = new string[t.Count];
                for (int i = 0; i < t.Count; i++) s[i] = t[i] as string;
                l.Add(s);
            }
            return l;
        }

        public static WorldChange From(Dictionary<string, object> m)
        {
            var w = new WorldChange
            {
                Ref = Protocol.Ref(m),
                Type = Protocol.Str(m, "type"),
                Cause = Protocol.Str(m, "cause"),
                ConversationId = Protocol.Str(m, "conversation_id"),
                NpcId = Protocol.Str(m, "npc_id"),
                WorldHash = Protocol.Str(m, "world_hash"),
                Seq = Protocol.Int(m, "seq"),
                GameTime = Protocol.Float(m, "game_time"),
                Variables = Protocol.Map(m, "variables"),
                Quests = Messages.StrMap(m, "quests"),
                RelationsAdded = Triples(m, "relations_added"),
                RelationsRemoved = Triples(m, "relations_removed"),
                Learned = Messages.Maps(m, "learned"),
                Raw = m,
            };
            foreach (var d in Messages.Maps(m, "transitions"))
                w.Transitions.Add(new QuestTransition
                {
                    Quest = Protocol.Str(d, "quest"),
                    Transition = Protocol.Str(d, "transition"),
                    FromState = Protocol.Str(d, "from_state"),
                    ToState = Protocol.Str(d, "to_state"),
                    Silent = Protocol.Bool(d, "silent"),
                    SayNpc = Protocol.Str(d, "say_npc"),
                    SayText = Protocol.Str(d, "say_text"),
                });
            return w;
        }
    }

    [WireType("world_file_error")]
    public class WorldFileError
    {
        public string File;
        public List<FileProblem> Problems;
        public Dictionary<string, object> Raw;

        public static WorldFileError From(Dictionary<string, object> m)
        {
            return new WorldFileError { File = Protocol.Str(m, "file"), Problems = FileProblem.ListFrom(m), Raw = m };
        }
    }

    [WireType("world_state_reply")]
    public class WorldStateReply
    {
        public object Ref;
        public string World, WorldHash, NpcId;
        public long Seq;
        public double GameTime;
        public Dictionary<string, object> Variables;
        public Dictionary<string, string> Quests;
        public List<Dictionary<string, object>> Facts;
        public Dictionary<string, object> Raw;

        public static WorldStateReply From(Dictionary<string, object> m)
        {
            return new WorldStateReply
            {
                Ref = Protocol.Ref(m),
                World = Protocol.Str(m, "world"),
                WorldHash = Protocol.Str(m, "world_hash"),
                NpcId = Protocol.Str(m, "npc_id"),
                Seq = Protocol.Int(m, "seq"),
                GameTime = Protocol.Float(m, "game_time"),
                Variables = Protocol.Map(m, "variables"),
                Quests = Messages.StrMap(m, "quests"),
                Facts = Messages.Maps(m, "facts"),
                Raw = m,
            };
        }
    }
}
