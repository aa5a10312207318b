# NPC Runtime client for Godot: builders for the messages a game sends (docs/protocol.md, v1).
#
# Common subset of Godot 3 and 4 GDScript (see msgpack.gd). Fields are written in the order of the
# protocol document; an id of null leaves the field out. Messages are plain Dictionaries.

const VERSION = 1


static func _msg(type, id):
	var m = {"type": type}
	if id != null:
		m["id"] = id
	return m


static func hello(id, client, protocol = VERSION):
	var m = _msg("hello", id)
	m["protocol"] = int(protocol)
	if client != null:
		m["client"] = client
	return m


static func ping(id, t):
	var m = _msg("ping", id)
	m["t"] = float(t)
	return m


static func list_npcs(id):
	return _msg("list_npcs", id)


static func game_time(hours):
	var m = _msg("game_time", null)
	m["hours"] = float(hours)
	return m


static func bye():
	return _msg("bye", null)


static func conversation_start(id, npc_ids, player_id = "player", mode = "text", greet = true):
	var m = _msg("conversation_start", id)
	m["npc_ids"] = npc_ids
	m["player_id"] = player_id
	m["mode"] = mode
	m["greet"] = greet
	return m


static func player_text(id, conversation_id, text, to = null):
	var m = _msg("player_text", id)
	m["conversation_id"] = conversation_id
	m["text"] = text
	if to != null:
		m["to"] = to
	return m


static func interrupt(conversation_id):
	var m = _msg("interrupt", null)
	m["conversation_id"] = conversation_id
	return m


static func conversation_end(id, conversation_id):
	var m = _msg("conversation_end", id)
	m["conversation_id"] = conversation_id
	return m


static func save(id):
	return _msg("save", id)


static func load_blob(id, blob):
	var m = _msg("load", id)
	m["blob"] = blob
	return m
