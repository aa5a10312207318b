// NPC Runtime client: the codes of the wire `error` and `warning` messages (docs/protocol.md,
// "Error codes"), as string constants (what RuntimeNotice.Code holds) and as an enum.
//
// A runtime newer than this client may send a code it does not know: RuntimeNotice keeps the
// string in Code, its Kind is RuntimeCode.Unknown, and it is raised like any other error or
// warning (ErrorReceived / WarningReceived); nothing throws and the connection stays open.

using System.Collections.Generic;

namespace NpcRuntime
{
    public enum RuntimeCode
    {
        /// <summary>A code this client does not know (a newer runtime); RuntimeNotice.Code has it.</summary>
        Unknown = 0,
        Malformed,
        MessageTooLarge,
        MissingType,
        UnknownType,
        InvalidFields,
        UnsupportedProtocol,
        NotIntroduced,
        UnknownNpc,
        UnknownConversation,
        ConversationBusy,
        PersonaInvalid,
        ProviderFailed,
        ProviderTimeout,
        ActionRejected,
        WorldEventInvalid,
        WorldUnavailable,
        SaveInvalid,
        SaveAltered,
        MemoryInvalid,
        AudioInvalid,
        AudioTimeout,
        InsecureTransport,
        Internal,
        /// <summary>Warning (cluster mode): the conversation now runs on another worker. Its id is
        /// unchanged; the unfinished NPC turn runs once more from its start (seq 1 again).</summary>
        ConversationMoved,
        /// <summary>Error (cluster mode): load, world_reset and game_time need the world-authority role.</summary>
        NotAuthority,
    }

    public static class RuntimeCodes
    {
        public const string Malformed = "malformed";
        public const string MessageTooLarge = "message_too_large";
        public const string MissingType = "missing_type";
        public const string UnknownType = "unknown_type";
        public const string InvalidFields = "invalid_fields";
        public const string UnsupportedProtocol = "unsupported_protocol";
        public const string NotIntroduced = "not_introduced";
        public const string UnknownNpc = "unknown_npc";
        public const string UnknownConversation = "unknown_conversation";
        public const string ConversationBusy = "conversation_busy";
        public const string PersonaInvalid = "persona_invalid";
        public const string ProviderFailed = "provider_failed";
        public const string ProviderTimeout = "provider_timeout";
        public const string ActionRejected = "action_rejected";
        public const string WorldEventInvalid = "world_event_invalid";
        public const string WorldUnavailable = "world_unavailable";
        public const string SaveInvalid = "save_invalid";
        public const string SaveAltered = "save_altered";
        public const string MemoryInvalid = "memory_invalid";
        public const string AudioInvalid = "audio_invalid";
        public const string AudioTimeout = "audio_timeout";
        public const string InsecureTransport = "insecure_transport";
        public const string Internal = "internal";
        public const string ConversationMoved = "conversation_moved";
        public const string NotAuthority = "not_authority";

        static readonly Dictionary<string, RuntimeCode> byName = new Dictionary<string, RuntimeCode>
        {
            { Malformed, RuntimeCode.Malformed }, { MessageTooLarge, RuntimeCode.MessageTooLarge },
            { MissingType, RuntimeCode.MissingType }, { UnknownType, RuntimeCode.UnknownType },
            { InvalidFields, RuntimeCode.InvalidFields }, { UnsupportedProtocol, RuntimeCode.UnsupportedProtocol },
            { NotIntroduced, RuntimeCode.NotIntroduced }, { UnknownNpc, RuntimeCode.UnknownNpc },
            { UnknownConversation, RuntimeCode.UnknownConversation }, { ConversationBusy, RuntimeCode.ConversationBusy },
            { PersonaInvalid, RuntimeCode.PersonaInvalid }, { ProviderFailed, RuntimeCode.ProviderFailed },
            { ProviderTimeout, RuntimeCode.ProviderTimeout }, { ActionRejected, RuntimeCode.ActionRejected },
            { WorldEventInvalid, RuntimeCode.WorldEventInvalid }, { WorldUnavailable, RuntimeCode.WorldUnavailable },
            { SaveInvalid, RuntimeCode.SaveInvalid }, { SaveAltered, RuntimeCode.SaveAltered },
            { MemoryInvalid, RuntimeCode.MemoryInvalid }, { AudioInvalid, RuntimeCode.AudioInvalid },
            { AudioTimeout, RuntimeCode.AudioTimeout }, { InsecureTransport, RuntimeCode.InsecureTransport },
            { Internal, RuntimeCode.Internal }, { ConversationMoved, RuntimeCode.ConversationMoved },
            { NotAuthority, RuntimeCode.NotAuthority },
        };

        /// <summary>The enum value of a wire code; Unknown for a code this client does not know (or null).</summary>
        public static RuntimeCode Parse(string code)
        {
            RuntimeCode c;
            return code != null && byName.TryGetValue(code, out c) ? c : RuntimeCode.Unknown;
        }

        /// <summary>Every code this client knows (for tests and tools).</summary>
        public static ICollection<string> Known { get { return byName.Keys; } }
    }
}
