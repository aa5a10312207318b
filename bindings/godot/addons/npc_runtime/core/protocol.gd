# NPC Runtime client for Godot: builders for EVERY message a game sends (docs/protocol.md, v1).
#
# Common subset of Godot 3 and 4 GDScript (see msgpack.gd). One static function per client message
# type, named like the type (except `load`, a GDScript built-in: load_blob). Fields are written in
# the order of the protocol document; an argument left null leaves its field out (the runtime then
# uses its default). Numbers are written as given (a float field accepts an int). Messages are
# plain Dictionaries; NpcRuntimeConnection.request()/send() sends them.
# tests/bindings/test_gdscript_coverage.py fails when a client message type has no builder here.

const VERSION = 1
# message type -> builder name where they differ
const BUILDER_ALIASES = {"load": "load_blob"}


static func builder_for(type):
	return BUILDER_ALIASES.get(type, type)


static func _msg(type, id):
	var m = {"type": type}
	if id != null:
		m["id"] = id
	return m


static func _opt(m, key, value):
	if value != null:
		m[key] = value
	return m


# ------------------------------------------------------------------------------------ session
static func hello(id, client, protocol = VERSION):
	var m = _msg("hello", id)
	m["protocol"] = int(protocol)
	return _opt(m, "client", client)


static func ping(id, t):
	var m = _msg("ping", id)
	m["t"] = t
	return m


static func list_npcs(id):
	return _msg("list_npcs", id)


static func game_time(hours):
	var m = _msg("game_time", null)
	m["hours"] = hours
	return m


static func bye():
	return _msg("bye", null)


# ------------------------------------------------------------------------------ conversations
# ambient: the NPCs (two or more) talk among themselves, the player overhears (ambient_spec()
# below; greet is then ignored). s2s: voice modes with one NPC, a speech-to-speech profile of the
# runtime or "none" for the cascade (null: the persona's, else the runtime's default).
static func conversation_start(id, npc_ids, player_id = "player", mode = "text", greet = true, ambient = null, s2s = null):
	var m = _msg("conversation_start", id)
	m["npc_ids"] = npc_ids
	_opt(m, "player_id", player_id)
	_opt(m, "mode", mode)
	_opt(m, "greet", greet)
	_opt(m, "ambient", ambient)
	return _opt(m, "s2s", s2s)


# conversation_start's `ambient`: the first NPC opens with seed_line (said as written) or on
# topic; the others answer in turn, for at most `turns` lines (2-20; null: the runtime's 6).
static func ambient_spec(topic = null, seed_line = null, turns = null):
	var a = {}
	_opt(a, "topic", topic)
	_opt(a, "seed_line", seed_line)
	if turns != null:
		a["turns"] = int(turns)
	return a


static func player_text(id, conversation_id, text, to = null):
	var m = _msg("player_text", id)
	m["conversation_id"] = conversation_id
	m["text"] = text
	return _opt(m, "to", to)


static func interrupt(conversation_id):
	var m = _msg("interrupt", null)
	m["conversation_id"] = conversation_id
	return m


static func conversation_end(id, conversation_id):
	var m = _msg("conversation_end", id)
	m["conversation_id"] = conversation_id
	return m


# -------------------------------------------------------------------------------------- saves
static func save(id):
	return _msg("save", id)


static func load_blob(id, blob):
	var m = _msg("load", id)
	m["blob"] = blob
	return m


# ---------------------------------------------------------------- memory and relationships
static func memory_add(id, npc_id, text, kind = "observed", importance = null, player_id = null, game_time = null):
	var m = _msg("memory_add", id)
	m["npc_id"] = npc_id
	m["text"] = text
	_opt(m, "kind", kind)
	_opt(m, "importance", importance)
	_opt(m, "player_id", player_id)
	return _opt(m, "game_time", game_time)


static func memory_query(id, npc_id, query = null, limit = null):
	var m = _msg("memory_query", id)
	m["npc_id"] = npc_id
	_opt(m, "query", query)
	return _opt(m, "limit", limit)


static func relationship_get(id, npc_id, player_id):
	var m = _msg("relationship_get", id)
	m["npc_id"] = npc_id
	m["player_id"] = player_id
	return m


static func relationship_adjust(id, npc_id, player_id, changes, reason = null):
	var m = _msg("relationship_adjust", id)
	m["npc_id"] = npc_id
	m["player_id"] = player_id
	m["changes"] = changes
	return _opt(m, "reason", reason)


static func relationship_set(id, npc_id, player_id, values, reason = null):
	var m = _msg("relationship_set", id)
	m["npc_id"] = npc_id
	m["player_id"] = player_id
	m["values"] = values
	return _opt(m, "reason", reason)


static func player_fact_add(id, npc_id, player_id, kind, text):
	var m = _msg("player_fact_add", id)
	m["npc_id"] = npc_id
	m["player_id"] = player_id
	m["kind"] = kind
	m["text"] = text
	return m


# -------------------------------------------------------------------------------------- world
# `fields` holds the kind's own fields in order, e.g. {"item": "wolf_pelt", "receiver": "bram"}
# for item_given, {"name": "bribe_offered", "payload": {"amount": 10}} for custom.
static func world_event(id, kind, fields = {}, witnesses = null, game_time = null):
	var m = _msg("world_event", id)
	m["kind"] = kind
	for k in fields.keys():
		m[k] = fields[k]
	_opt(m, "witnesses", witnesses)
	return _opt(m, "game_time", game_time)


static func world_state(id, npc_id = null):
	return _opt(_msg("world_state", id), "npc_id", npc_id)


static func world_tell(id, npc_id, fact, by = null):
	var m = _msg("world_tell", id)
	m["npc_id"] = npc_id
	m["fact"] = fact
	return _opt(m, "by", by)


static func world_reset(id):
	return _msg("world_reset", id)


# -------------------------------------------------------------------------------------- voice
static func audio_start(id, conversation_id, sample_rate, format = "s16le", channels = 1):
	var m = _msg("audio_start", id)
	m["conversation_id"] = conversation_id
	m["sample_rate"] = int(sample_rate)
	_opt(m, "format", format)
	return _opt(m, "channels", channels)


# pcm: s16le mono bytes (a byte array), 20-100 ms, at most 64 000 bytes; seq increases.
static func audio_chunk(conversation_id, seq, pcm):
	var m = _msg("audio_chunk", null)
	m["conversation_id"] = conversation_id
	m["seq"] = int(seq)
	m["pcm"] = pcm
	return m


static func speech_start(conversation_id):
	var m = _msg("speech_start", null)
	m["conversation_id"] = conversation_id
	return m


static func speech_end(conversation_id):
	var m = _msg("speech_end", null)
	m["conversation_id"] = conversation_id
	return m


static func playback_started(conversation_id, turn_id):
	var m = _msg("playback_started", null)
	m["conversation_id"] = conversation_id
	m["turn_id"] = int(turn_id)
	return m


static func playback_report(conversation_id, turn_id, played_ms = null, heard_chars = null, finished = null):
	var m = _msg("playback_report", null)
	m["conversation_id"] = conversation_id
	m["turn_id"] = int(turn_id)
	_opt(m, "played_ms", played_ms)
	_opt(m, "heard_chars", heard_chars)
	return _opt(m, "finished", finished)
