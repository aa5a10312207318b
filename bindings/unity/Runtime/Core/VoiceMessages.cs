// NPC Runtime client: typed views of the voice messages (runtime -> client) of docs/protocol.md.

using System.Collections.Generic;

namespace NpcRuntime
{
    [WireType("audio_ready")]
    public class AudioReady
    {
        public object Ref;
        public string ConversationId, Mode;
        public long SampleRate, TtsSampleRate;
        public Dictionary<string, object> Raw;

        public static AudioReady From(Dictionary<string, object> m)
        {
            return new AudioReady
            {
                Ref = Protocol.Ref(m),
                ConversationId = Protocol.Str(m, "conversation_id"),
                Mode = Protocol.Str(m, "mode"),
                SampleRate = Protocol.Int(m, "sample_rate"),
                TtsSampleRate = Protocol.Int(m, "tts_sample_rate"),
                Raw = m,
            };
        }
    }

    /// <summary>What the runtime heard. Used false with Reason (no_speech, backchannel, echo, npc_speaking): not answered.</summary>
    [WireType("transcript")]
    public class Transcript
    {
        public string ConversationId, Text, Reason;
        public long Utterance;
        public bool Final, Used;
        public Dictionary<string, object> Raw;

        public static Transcript From(Dictionary<string, object> m)
        {
            return new Transcript
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                Text = Protocol.Str(m, "text", ""),
                Reason = Protocol.Str(m, "reason"),
                Utterance = Protocol.Int(m, "utterance"),
                Final = Protocol.Bool(m, "final"),
                Used = Protocol.Bool(m, "used", true),
                Raw = m,
            };
        }
    }

    /// <summary>A piece of the NPC's speech: s16le mono Pcm at SampleRate, its subtitle words and lip-sync keys.</summary>
    [WireType("npc_audio")]
    public class NpcAudio
    {
        public string ConversationId, NpcId, Text, VisemeKind;
        public long TurnId, Seq, SampleRate;
        public byte[] Pcm;
        /// <summary>[t_ms from the chunk's start, viseme name or 0..1 opening] pairs, as on the wire.</summary>
        public List<object> Visemes;
        public Dictionary<string, object> Raw;

        public static NpcAudio From(Dictionary<string, object> m)
        {
            object pcm;
            m.TryGetValue("pcm", out pcm);
            return new NpcAudio
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                NpcId = Protocol.Str(m, "npc_id"),
                Text = Protocol.Str(m, "text", ""),
                VisemeKind = Protocol.Str(m, "viseme_kind", "viseme"),
                TurnId = Protocol.Int(m, "turn_id"),
                Seq = Protocol.Int(m, "seq"),
                SampleRate = Protocol.Int(m, "sample_rate"),
                Pcm = pcm as byte[] ?? new byte[0],
                Visemes = Protocol.List(m, "visemes"),
                Raw = m,
            };
        }
    }

    [WireType("npc_audio_end")]
    public class NpcAudioEnd
    {
        public string ConversationId, NpcId;
        public long TurnId, Chunks;
        public double DurationMs;
        public bool Interrupted;
        public Dictionary<string, object> Raw;

        public static NpcAudioEnd From(Dictionary<string, object> m)
        {
            return new NpcAudioEnd
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                NpcId = Protocol.Str(m, "npc_id"),
                TurnId = Protocol.Int(m, "turn_id"),
                Chunks = Protocol.Int(m, "chunks"),
                DurationMs = Protocol.Float(m, "duration_ms"),
                Interrupted = Protocol.Bool(m, "interrupted"),
                Raw = m,
            };
        }
    }

    /// <summary>Stop the turn's audio now and answer with playback_report (Reason: barge_in or interrupt).</summary>
    [WireType("stop_playback")]
    public class StopPlayback
    {
        public string ConversationId, Reason;
        public long TurnId;
        public double DetectionMs;
        public Dictionary<string, object> Raw;

        public static StopPlayback From(Dictionary<string, object> m)
        {
            return new StopPlayback
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                Reason = Protocol.Str(m, "reason"),
                TurnId = Protocol.Int(m, "turn_id"),
                DetectionMs = Protocol.Float(m, "detection_ms"),
                Raw = m,
            };
        }
    }

    /// <summary>Per answered utterance: ms from the end of the player's speech to each stage (null: did not happen).</summary>
    [WireType("turn_metrics")]
    public class TurnMetrics
    {
        public string ConversationId, Mode;
        public long TurnId, Utterance;
        public double? EndOfSpeech, TranscriptFinal, FirstDialogueToken, FirstTtsAudio, FirstAudioSent;
        // A language model's reply: it began with an opener; the output guard's work before the first words.
        public bool? Opener, GuardReplaced;
        public long? GuardRegenerated;
        public Dictionary<string, object> Raw;

        static double? Opt(Dictionary<string, object> m, string key)
        {
            object v;
            if (!m.TryGetValue(key, out v) || v == null) return null;
            if (v is double) return (double)v;
            if (v is long) return (long)v;
            return null;
        }

        static bool? OptBool(Dictionary<string, object> m, string key)
        {
            object v;
            if (!m.TryGetValue(key, out v) || v == null) return null;
            if (v is bool) return (bool)v;
            return null;
        }

        static long? OptLong(Dictionary<string, object> m, string key)
        {
            object v;
            if (!m.TryGetValue(key, out v) || v == null) return null;
            if (v is long) return (long)v;
            return null;
        }

        public static TurnMetrics From(Dictionary<string, object> m)
        {
            return new TurnMetrics
            {
                ConversationId = Protocol.Str(m, "conversation_id"),
                Mode = Protocol.Str(m, "mode"),
                TurnId = Protocol.Int(m, "turn_id"),
                Utterance = Protocol.Int(m, "utterance"),
                EndOfSpeech = Opt(m, "end_of_speech"),
                TranscriptFinal = Opt(m, "transcript_final"),
                FirstDialogueToken = Opt(m, "first_dialogue_token"),
                FirstTtsAudio = Opt(m, "first_tts_audio"),
                FirstAudioSent = Opt(m, "first_audio_sent"),
                Opener = OptBool(m, "opener"),
                GuardRegenerated = OptLong(m, "guard_regenerated"),
                GuardReplaced = OptBool(m, "guard_replaced"),
                Raw = m,
            };
        }
    }
}
