# NpcRuntimeConnection: the game's link to `npc-runtime serve` (docs/protocol.md, v1).
#
# The editor plugin registers it as the autoload `NpcRuntime`; it can also be a child node. It
# connects when it enters the tree (Project Settings > npc_runtime/connection), polls every frame,
# parses every message (core/events.gd) and emits one signal per message type, on the main thread.
# When the connection is lost it reconnects with exponential backoff: a new hello, then every
# conversation it had open is started again (greet off) and reported with conversation_restarted.
# Common subset of Godot 3 and 4: connect in Godot 4 with NpcRuntime.npc_text_final.connect(f),
# in Godot 3 with NpcRuntime.connect("npc_text_final", self, "_on_final").
class_name NpcRuntimeConnection
extends Node

signal connected(welcome)
signal disconnected(reason)
signal reconnecting(attempt, delay_s)
signal conversation_restarted(old_conversation_id, new_conversation_id, msg)
# warning conversation_moved (after runtime_warning): the conversation, same id, runs on another
# worker; its unfinished NPC turn runs once more from the start (drop what was shown of it)
signal conversation_moved(conversation_id, msg)
signal invalid_message(msg, why)
signal message(msg)  # every parsed message, after its own signal
signal reply(msg)  # any message with a "ref" that is not streamed NPC text
# one per runtime message type (core/events.gd SIGNALS)
signal pong(msg)
signal npcs(msg)
signal runtime_error(msg)
signal runtime_warning(msg)
signal conversation_started(msg)
signal npc_text_delta(msg)
signal npc_action(msg)
signal npc_text_final(msg)
signal conversation_ended(msg)
signal persona_reloaded(msg)
signal persona_error(msg)
signal save_data(msg)
signal loaded(msg)
signal memory_added(msg)
signal memory_results(msg)
signal relationship(msg)
signal relationship_changed(msg)
signal world_event_applied(msg)
signal world_changed(msg)
signal world_file_error(msg)
signal world_state_reply(msg)
signal audio_ready(msg)
signal transcript(msg)
signal npc_audio(msg)
signal npc_audio_end(msg)
signal stop_playback(msg)
signal turn_metrics(msg)

const NpcClient = preload("res://addons/npc_runtime/core/client.gd")
const Events = preload("res://addons/npc_runtime/core/events.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Reconnect = preload("res://addons/npc_runtime/core/reconnect.gd")
const Settings = preload("res://addons/npc_runtime/core/settings.gd")

var endpoint = Settings.value("npc_runtime/connection/endpoint")
var client_name = Settings.value("npc_runtime/connection/client_name")
var connect_on_ready = Settings.value("npc_runtime/connection/connect_on_start")
var auto_reconnect = Settings.value("npc_runtime/connection/auto_reconnect")
var restart_conversations = true
var client = NpcClient.new()
var policy = Reconnect.new(
	Settings.value("npc_runtime/connection/reconnect_initial_s"), 2.0,
	Settings.value("npc_runtime/connection/reconnect_max_s")
)
var welcome = null
var reconnects = 0  # successful reconnections
var _closing = false
var _ever_connected = false
var _listeners = []
var _pending_starts = {}  # request id -> {npc_ids, player_id, mode, s2s}
var _restarts = {}  # request id -> old conversation id
var conversations = {}  # open conversation id -> {npc_ids, player_id, mode, s2s}


func _ready():
	if connect_on_ready and client.endpoint == "":
		connect_to_runtime()


func _exit_tree():
	close()


# The builders of every client message (core/protocol.gd), e.g.
# NpcRuntime.request(NpcRuntime.protocol().memory_query(null, "mira", "the fire")).
static func protocol():
	return Protocol


func connect_to_runtime():
	_closing = false
	client = NpcClient.new()
	var err = client.connect_to_runtime(endpoint, client_name)
	if err != "":
		push_error("npc_runtime: " + err)
	return err


func is_connected_to_runtime():
	return client.is_connected_to_runtime()


# Say bye and stop reconnecting.
func close():
	_closing = true
	client.close()


# Voice nodes (and any object with _on_npc_runtime_message(msg)) get every message, including
# the client-side ones: disconnected, connected, conversation_restarted.
func add_listener(obj):
	if not obj in _listeners:
		_listeners.append(obj)


func remove_listener(obj):
	_listeners.erase(obj)


func send(msg):
	return client.send(msg)


# Send with a fresh id; returns it (replies carry it as "ref"), or -1 when not connected.
func request(msg):
	return client.request(msg)


func list_npcs():
	return client.list_npcs()


# mode: "text", "push_to_talk" or "hands_free". The conversation is remembered so that it can be
# started again after a reconnection (with its s2s choice; an ambient exchange is not replayed).
# ambient: protocol().ambient_spec(topic, seed_line, turns), the NPCs talk among themselves and
# their lines arrive as npc_text_final with "ambient": true. s2s: a speech-to-speech profile or "none".
func start_conversation(npc_ids, player_id = "player", mode = "text", greet = true, ambient = null, s2s = null):
	if typeof(npc_ids) != TYPE_ARRAY:
		npc_ids = [npc_ids]
	var id = client.start_conversation(npc_ids, player_id, mode, greet, ambient, s2s)
	if id != -1:
		_pending_starts[id] = {"npc_ids": npc_ids, "player_id": player_id, "mode": mode, "s2s": s2s}
	return id


func say(conversation_id, text, to = null):
	return client.say(conversation_id, text, to)


func interrupt(conversation_id):
	return client.interrupt(conversation_id)


func end_conversation(conversation_id):
	conversations.erase(conversation_id)
	return client.end_conversation(conversation_id)


func _now_s():
	return NpcClient.now_ms() / 1000.0


func _process(_delta):
	poll_now()


# One poll (called every frame by _process; tests may call it directly).
func poll_now():
	for msg in client.poll():
		_dispatch(msg)
	if auto_reconnect and not _closing and policy.due(_now_s()):
		policy.attempting()
		client = NpcClient.new()
		var err = client.connect_to_runtime(endpoint, client_name)
		if err != "":
			policy.lost(_now_s())


func _dispatch(raw):
	var mtype = str(raw.get("type", ""))
	if mtype == "disconnected":
		var was_connected = welcome != null
		welcome = null
		if was_connected:
			emit_signal("disconnected", raw.get("reason", ""))
			_notify(raw)
		if auto_reconnect and not _closing:
			var at = policy.lost(_now_s())
			emit_signal("reconnecting", policy.attempts, at - _now_s())
		return
	var parsed = Events.parse(raw)
	if parsed[1] != "":
		emit_signal("invalid_message", raw, parsed[1])
		return
	var msg = parsed[0]
	if mtype == "welcome":
		welcome = msg
		if _ever_connected:
			reconnects += 1
		_ever_connected = true
		policy.succeeded()
		_restart_conversations()
	elif mtype == "conversation_started":
		_on_started(msg)
	elif mtype == "conversation_ended":
		conversations.erase(msg["conversation_id"])
	elif mtype == "error" and msg.get("ref") != null:
		_pending_starts.erase(msg["ref"])
		if _restarts.has(msg["ref"]):
			var old = _restarts[msg["ref"]]
			_restarts.erase(msg["ref"])
			_notify({"type": "conversation_ended", "conversation_id": old, "reason": "restart_failed"})
	var sig = Events.signal_for(mtype)
	if sig != "":
		emit_signal(sig, msg)
	if mtype == "warning" and str(msg["code"]) == Events.CONVERSATION_MOVED and msg.get("conversation_id") != null:
		emit_signal("conversation_moved", msg["conversation_id"], msg)
	if msg.has("ref") and mtype != "npc_text_delta" and mtype != "npc_text_final":
		emit_signal("reply", msg)
	emit_signal("message", msg)
	_notify(msg)


func _on_started(msg):
	var ref = msg.get("ref")
	var spec = {"npc_ids": msg["npc_ids"], "player_id": msg["player_id"], "mode": msg["mode"]}
	if ref != null and _pending_starts.has(ref):
		spec = _pending_starts[ref]
		_pending_starts.erase(ref)
	conversations[msg["conversation_id"]] = spec
	if ref != null and _restarts.has(ref):
		var old = _restarts[ref]
		_restarts.erase(ref)
		emit_signal("conversation_restarted", old, msg["conversation_id"], msg)
		_notify({"type": "conversation_restarted", "old_conversation_id": old,
			"conversation_id": msg["conversation_id"], "mode": msg["mode"]})


func _restart_conversations():
	var old = conversations
	conversations = {}
	_restarts = {}
	if not restart_conversations:
		return
	for cid in old.keys():
		var spec = old[cid]
		var id = client.start_conversation(spec["npc_ids"], spec["player_id"], spec["mode"], false, null, spec.get("s2s"))
		if id != -1:
			_pending_starts[id] = spec
			_restarts[id] = cid


func _notify(msg):
	for obj in _listeners:
		if is_instance_valid(obj):
			obj.call("_on_npc_runtime_message", msg)
