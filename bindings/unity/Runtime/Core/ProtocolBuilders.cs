// NPC Runtime client: builders for the rest of the client -> runtime messages of docs/protocol.md
// (memory, relationships, world, voice). One method per message type, named after it in
// PascalCase (tests/bindings/test_protocol_coverage.py checks that every type has one, from
// docs/protocol-vectors.json). Optional arguments left null are left out of the message.

using System;
using System.Collections.Generic;

namespace NpcRuntime
{
    public static partial class Protocol
    {
        static List<object> Strings(IList<string> items)
        {
            var l = new List<object>();
            foreach (string s in items) l.Add(s);
            return l;
        }

        static Dictionary<string, object> Numbers(IDictionary<string, double> values)
        {
            var m = new Dictionary<string, object>();
            foreach (var kv in values) m[kv.Key] = kv.Value;
            return m;
        }

        // ------------------------------------------------------------ memory and relationships
        /// <summary>kind: "observed" (witnessed) or "told" (rumour); importance 1-10.</summary>
        public static Dictionary<string, object> MemoryAdd(object id, string npcId, string text, string kind = "observed",
            double? importance = null, string playerId = null, double? gameTime = null)
        {
            var m = Msg("memory_add", id);
            m["npc_id"] = npcId;
            m["text"] = text;
            m["kind"] = kind;
            if (importance.HasValue) m["importance"] = importance.Value;
            if (playerId != null) m["player_id"] = playerId;
            if (gameTime.HasValue) m["game_time"] = gameTime.Value;
            return m;
        }

        /// <summary>query null: the most salient memories.</summary>
        public static Dictionary<string, object> MemoryQuery(object id, string npcId, string query = null, int? limit = null)
        {
            var m = Msg("memory_query", id);
            m["npc_id"] = npcId;
            if (query != null) m["query"] = query;
            if (limit.HasValue) m["limit"] = (long)limit.Value;
            return m;
        }

        public static Dictionary<string, object> RelationshipGet(object id, string npcId, string playerId)
        {
            var m = Msg("relationship_get", id);
            m["npc_id"] = npcId;
            m["player_id"] = playerId;
            return m;
        }

        public static Dictionary<string, object> RelationshipAdjust(object id, string npcId, string playerId,
            IDictionary<string, double> changes, string reason = null)
        {
            var m = Msg("relationship_adjust", id);
            m["npc_id"] = npcId;
            m["player_id"] = playerId;
            m["changes"] = Numbers(changes);
            if (reason != null) m["reason"] = reason;
            return m;
        }

        public static Dictionary<string, object> RelationshipSet(object id, string npcId, string playerId,
            IDictionary<string, double> values, string reason = null)
        {
            var m = Msg("relationship_set", id);
            m["npc_id"] = npcId;
            m["player_id"] = playerId;
            m["values"] = Numbers(values);
            if (reason != null) m["reason"] = reason;
            return m;
        }

        /// <summary>kind: "name", "promise", "deed" or "fact".</summary>
        public static Dictionary<string, object> PlayerFactAdd(object id, string npcId, string playerId, string kind, string text)
        {
            var m = Msg("player_fact_add", id);
            m["npc_id"] = npcId;
            m["player_id"] = playerId;
            m["kind"] = kind;
            m["text"] = text;
            return m;
        }

        // ------------------------------------------------------------ world
        /// <summary>
        /// Any world event: kind is item_given, enemy_killed, location_entered or custom; fields are
        /// the kind's own (item/receiver/giver, enemy/count/by, location/who, name/payload).
        /// </summary>
        public static Dictionary<string, object> WorldEvent(object id, string kind, IDictionary<string, object> fields,
            IList<string> witnesses = null, double? gameTime = null)
        {
            var m = Msg("world_event", id);
            m["kind"] = kind;
            if (fields != null)
                foreach (var kv in fields)
                {
                    if (kv.Key == "type" || kv.Key == "id" || kv.Key == "kind") throw new ArgumentException("world_event field '" + kv.Key + "' is set by WorldEvent itself");
                    m[kv.Key] = kv.Value;
                }
            if (witnesses != null) m["witnesses"] = Strings(witnesses);
            if (gameTime.HasValue) m["game_time"] = gameTime.Value;
            return m;
        }

        public static Dictionary<string, object> WorldEventItemGiven(object id, string item, string receiver = "player", string giver = null,
            IList<string> witnesses = null, double? gameTime = null)
        {
            var f = new Dictionary<string, object> { { "item", item }, { "receiver", receiver } };
            if (giver != null) f["giver"] = giver;
            return WorldEvent(id, "item_given", f, witnesses, gameTime);
        }

        public static Dictionary<string, object> WorldEventEnemyKilled(object id, string enemy, int count = 1, string by = "player",
            IList<string> witnesses = null, double? gameTime = null)
        {
            var f = new Dictionary<string, object> { { "enemy", enemy }, { "count", (long)count }, { "by", by } };
            return WorldEvent(id, "enemy_killed", f, witnesses, gameTime);
        }

        public static Dictionary<string, object> WorldEventLocationEntered(object id, string location, string who = "player",
            IList<string> witnesses = null, double? gameTime = null)
        {
            var f = new Dictionary<string, object> { { "location", location }, { "who", who } };
            return WorldEvent(id, "location_entered", f, witnesses, gameTime);
        }

        public static Dictionary<string, object> WorldEventCustom(object id, string name, IDictionary<string, object> payload = null,
            IList<string> witnesses = null, double? gameTime = null)
        {
            var f = new Dictionary<string, object> { { "name", name } };
            if (payload != null) f["payload"] = new Dictionary<string, object>(payload);
            return WorldEvent(id, "custom", f, witnesses, gameTime);
        }

        /// <summary>npcId null: the whole world; else what that NPC knows.</summary>
        public static Dictionary<string, object> WorldState(object id, string npcId = null)
        {
            var m = Msg("world_state", id);
            if (npcId != null) m["npc_id"] = npcId;
            return m;
        }

        public static Dictionary<string, object> WorldTell(object id, string npcId, string fact, string by = null)
        {
            var m = Msg("world_tell", id);
            m["npc_id"] = npcId;
            m["fact"] = fact;
            if (by != null) m["by"] = by;
            return m;
        }

        public static Dictionary<string, object> WorldReset(object id)
        {
            return Msg("world_reset", id);
        }

        // ------------------------------------------------------------ voice
        /// <summary>The microphone format (s16le mono); send before the first audio_chunk.</summary>
        public static Dictionary<string, object> AudioStart(object id, string conversationId, int sampleRate)
        {
            var m = Msg("audio_start", id);
            m["conversation_id"] = conversationId;
            m["sample_rate"] = (long)sampleRate;
            m["format"] = "s16le";
            m["channels"] = 1L;
            return m;
        }

        /// <summary>20-100 ms of s16le mono; seq increasing per conversation.</summary>
        public static Dictionary<string, object> AudioChunk(string conversationId, long seq, byte[] pcm)
        {
            if (pcm == null || pcm.Length % 2 != 0) throw new ArgumentException("pcm must be s16le: an even number of bytes");
            var m = Msg("audio_chunk", null);
            m["conversation_id"] = conversationId;
            m["seq"] = seq;
            m["pcm"] = pcm;
            return m;
        }

        public static Dictionary<string, object> SpeechStart(string conversationId)
        {
            var m = Msg("speech_start", null);
            m["conversation_id"] = conversationId;
            return m;
        }

        public static Dictionary<string, object> SpeechEnd(string conversationId)
        {
            var m = Msg("speech_end", null);
            m["conversation_id"] = conversationId;
            return m;
        }

        public static Dictionary<string, object> PlaybackStarted(string conversationId, long turnId)
        {
            var m = Msg("playback_started", null);
            m["conversation_id"] = conversationId;
            m["turn_id"] = turnId;
            return m;
        }

        /// <summary>How much of a turn's audio was played (played_ms and/or heard_chars); finished: playback is over.</summary>
        public static Dictionary<string, object> PlaybackReport(string conversationId, long turnId, double? playedMs,
            int? heardChars = null, bool? finished = null)
        {
            var m = Msg("playback_report", null);
            m["conversation_id"] = conversationId;
            m["turn_id"] = turnId;
            if (playedMs.HasValue) m["played_ms"] = playedMs.Value;
            if (heardChars.HasValue) m["heard_chars"] = (long)heardChars.Value;
            if (finished.HasValue) m["finished"] = finished.Value;
            return m;
        }
    }
}
