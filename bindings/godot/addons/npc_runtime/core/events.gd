# NPC Runtime client for Godot: parsing of EVERY message the runtime sends (docs/protocol.md, v1).
#
# Common subset of Godot 3 and 4 GDScript. parse(msg) checks a received Dictionary against the
# documented fields of its type and returns [msg, ""] or [null, "why"]: a wrong or missing field is
# reported (the connection node emits `invalid_message`), never crashes a handler. Unknown fields
# are kept (the protocol lets the runtime add fields); unknown types pass as [msg, ""] with
# is_known() false. SIGNALS names the NpcRuntimeConnection signal each type is emitted on.
# tests/bindings/test_gdscript_coverage.py fails when a runtime message type is missing here.

# field kinds: "str", "int", "num" (int or float), "bool", "id" (int or str), "list", "map",
# "bytes"; a trailing "?" allows null. [field, kind, required]
const SCHEMA = {
	"welcome": [["ref", "id?", false], ["protocol", "int", true], ["runtime", "str", true],
		["session", "str", true], ["npcs", "list", true], ["heartbeat_interval", "num", true],
		["client_timeout", "num", true], ["max_message_bytes", "int", true]],
	"pong": [["ref", "id?", false], ["t", "num?", false]],
	"npcs": [["ref", "id?", false], ["npcs", "list", true]],
	"error": [["code", "str", true], ["message", "str", true], ["ref", "id?", false],
		["conversation_id", "str?", false]],
	"warning": [["code", "str", true], ["message", "str", true], ["conversation_id", "str?", false],
		["ref", "id?", false]],
	"conversation_started": [["ref", "id?", false], ["conversation_id", "str", true],
		["npc_ids", "list", true], ["player_id", "str", true], ["mode", "str", true]],
	"npc_text_delta": [["conversation_id", "str", true], ["turn_id", "int", true],
		["npc_id", "str", true], ["seq", "int", true], ["text", "str", true]],
	"npc_action": [["conversation_id", "str", true], ["turn_id", "int", true], ["npc_id", "str", true],
		["name", "str", true], ["args", "map", true]],
	"npc_text_final": [["ref", "id?", false], ["conversation_id", "str", true], ["turn_id", "int", true],
		["npc_id", "str", true], ["text", "str", true], ["source", "str", true],
		["interrupted", "bool", true], ["ambient", "bool", false], ["actions", "list", false]],
	"conversation_ended": [["conversation_id", "str", true], ["reason", "str", true]],
	"persona_reloaded": [["npc_id", "str", true], ["file", "str", true]],
	"persona_error": [["file", "str", true], ["npc_id", "str?", false], ["problems", "list", true]],
	"save_data": [["ref", "id?", false], ["blob", "bytes", true], ["parts", "list", true]],
	"loaded": [["ref", "id?", false], ["parts", "list", true]],
	"memory_added": [["ref", "id?", false], ["npc_id", "str", true], ["memory_id", "int", true]],
	"memory_results": [["ref", "id?", false], ["npc_id", "str", true], ["memories", "list", true]],
	"relationship": [["ref", "id?", false], ["npc_id", "str", true], ["player_id", "str", true],
		["values", "map", true], ["facts", "list", false]],
	"relationship_changed": [["npc_id", "str", true], ["player_id", "str", true], ["values", "map", true],
		["changes", "map", true], ["reason", "str?", false]],
	"world_event_applied": [["ref", "id?", false], ["seq", "int", true], ["game_time", "num", true],
		["variables", "map", true], ["quests", "map", true], ["transitions", "list", true],
		["relations_added", "list", false], ["relations_removed", "list", false],
		["learned", "list", false]],
	"world_changed": [["cause", "str", true], ["seq", "int", true], ["game_time", "num", true],
		["variables", "map", true], ["quests", "map", true], ["transitions", "list", false],
		["relations_added", "list", false], ["relations_removed", "list", false],
		["learned", "list", false]],
	"world_file_error": [["file", "str", true], ["problems", "list", true]],
	"world_state_reply": [["ref", "id?", false], ["world", "str", true], ["world_hash", "str", true],
		["seq", "int", true], ["game_time", "num", true], ["npc_id", "str?", false],
		["variables", "map", true], ["quests", "map", true], ["facts", "list", false]],
	"audio_ready": [["ref", "id?", false], ["conversation_id", "str", true], ["sample_rate", "int", true],
		["mode", "str", true], ["tts_sample_rate", "int", true]],
	"transcript": [["conversation_id", "str", true], ["utterance", "int", true], ["text", "str", true],
		["final", "bool", true], ["used", "bool", false], ["reason", "str?", false]],
	"npc_audio": [["conversation_id", "str", true], ["turn_id", "int", true], ["npc_id", "str", true],
		["seq", "int", true], ["sample_rate", "int", true], ["pcm", "bytes", true],
		["text", "str?", false], ["visemes", "list", false], ["viseme_kind", "str?", false]],
	"npc_audio_end": [["conversation_id", "str", true], ["turn_id", "int", true], ["npc_id", "str", true],
		["chunks", "int", true], ["duration_ms", "num", true], ["interrupted", "bool", true]],
	"stop_playback": [["conversation_id", "str", true], ["turn_id", "int", true], ["reason", "str", true],
		["detection_ms", "num?", false]],
	"turn_metrics": [["conversation_id", "str", true], ["turn_id", "int", true], ["utterance", "int?", false],
		["mode", "str", true], ["end_of_speech", "num?", false], ["transcript_final", "num?", false],
		["first_dialogue_token", "num?", false], ["first_tts_audio", "num?", false],
		["first_audio_sent", "num?", false], ["opener", "bool?", false],
		["guard_regenerated", "int?", false], ["guard_replaced", "bool?", false]],
}

# message type -> NpcRuntimeConnection signal (every one is declared there)
const SIGNALS = {
	"welcome": "connected",
	"pong": "pong",
	"npcs": "npcs",
	"error": "runtime_error",
	"warning": "runtime_warning",
	"conversation_started": "conversation_started",
	"npc_text_delta": "npc_text_delta",
	"npc_action": "npc_action",
	"npc_text_final": "npc_text_final",
	"conversation_ended": "conversation_ended",
	"persona_reloaded": "persona_reloaded",
	"persona_error": "persona_error",
	"save_data": "save_data",
	"loaded": "loaded",
	"memory_added": "memory_added",
	"memory_results": "memory_results",
	"relationship": "relationship",
	"relationship_changed": "relationship_changed",
	"world_event_applied": "world_event_applied",
	"world_changed": "world_changed",
	"world_file_error": "world_file_error",
	"world_state_reply": "world_state_reply",
	"audio_ready": "audio_ready",
	"transcript": "transcript",
	"npc_audio": "npc_audio",
	"npc_audio_end": "npc_audio_end",
	"stop_playback": "stop_playback",
	"turn_metrics": "turn_metrics",
}


# The codes of `error` and `warning` (docs/protocol.md, "Error codes"). A runtime newer than this
# addon may send others: they are emitted like any error or warning (runtime_error /
# runtime_warning, msg["code"] as sent), never dropped; is_known_code() tells them apart.
const CONVERSATION_MOVED = "conversation_moved"  # warning (cluster mode): same id, another worker; the unfinished turn runs again
const NOT_AUTHORITY = "not_authority"  # error (cluster mode): load/world_reset/game_time need the world-authority role
const CODES = [
	"malformed", "message_too_large", "missing_type", "unknown_type", "invalid_fields",
	"unsupported_protocol", "not_introduced", "unknown_npc", "unknown_conversation",
	"conversation_busy", "persona_invalid", "provider_failed", "provider_timeout", "action_rejected",
	"world_event_invalid", "world_unavailable", "save_invalid", "save_altered", "memory_invalid",
	"audio_invalid", "audio_timeout", "insecure_transport", "internal", CONVERSATION_MOVED, NOT_AUTHORITY,
]


static func is_known_code(code):
	return CODES.has(str(code))


static func is_known(type):
	return SCHEMA.has(type)


static func _t_float():
	return typeof(1.5)


static func _t_bytes():
	return typeof(StreamPeerBuffer.new().data_array)


static func _is_str(v):
	# Godot 4 may hand over StringName (21 there; TYPE_DICTIONARY is 18 in Godot 3, 27 in 4)
	return typeof(v) == TYPE_STRING or (TYPE_DICTIONARY != 18 and typeof(v) == 21)


static func kind_matches(v, kind):
	if kind.ends_with("?"):
		if v == null:
			return true
		kind = kind.substr(0, kind.length() - 1)
	var t = typeof(v)
	match kind:
		"str":
			return _is_str(v)
		"int":
			return t == TYPE_INT
		"num":
			return t == TYPE_INT or t == _t_float()
		"bool":
			return t == TYPE_BOOL
		"id":
			return t == TYPE_INT or _is_str(v)
		"list":
			return t == TYPE_ARRAY
		"map":
			return t == TYPE_DICTIONARY
		"bytes":
			return t == _t_bytes()
	return false


# -> [msg, ""] or [null, "npc_audio: field 'pcm' must be bytes"]
static func parse(msg):
	if typeof(msg) != TYPE_DICTIONARY:
		return [null, "a message must be a Dictionary"]
	var type = msg.get("type")
	if not _is_str(type):
		return [null, "a message needs a string 'type'"]
	type = str(type)
	if not SCHEMA.has(type):
		return [msg, ""]
	for f in SCHEMA[type]:
		if not msg.has(f[0]):
			if f[2]:
				return [null, "%s: field '%s' is missing" % [type, f[0]]]
			continue
		if not kind_matches(msg[f[0]], f[1]):
			return [null, "%s: field '%s' must be %s, got %s" % [type, f[0], f[1], str(msg[f[0]])]]
	if type == "npc_audio" and msg["pcm"].size() % 2 != 0:
		return [null, "npc_audio: pcm must hold whole s16 samples (odd byte count)"]
	return [msg, ""]


static func signal_for(type):
	return SIGNALS.get(type, "")
