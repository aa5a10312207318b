# NPC Runtime client for Godot: hello/welcome, heartbeat pings, conversations and events.
#
# Common subset of Godot 3 and 4 GDScript (no signals to connect, no yield/await): create it, call
# connect_to_runtime(), then call poll() every frame; poll() returns the messages that arrived as
# Dictionaries (docs/protocol.md). Replies to your requests carry "ref" = the id the call returned.
# npc_runtime_connection.gd (NpcRuntimeConnection) wraps this in a Node that emits signals.
# Loopback only: no CURVE yet.
#
#     const NpcClient = preload("res://addons/npc_runtime/core/client.gd")
#     var client = NpcClient.new()
#     client.connect_to_runtime("tcp://127.0.0.1:7600", "my-game")
#     # each frame:
#     for msg in client.poll():
#         if msg["type"] == "npc_text_final": print(msg["text"])

const MsgPack = preload("res://addons/npc_runtime/core/msgpack.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Zmtp = preload("res://addons/npc_runtime/core/zmtp.gd")

var endpoint = ""
var client_name = "godot-client"
var welcome = null  # the runtime's welcome (Dictionary) once connected
var error = ""  # why the connection is closed, or why connecting failed
var last_round_trip_ms = -1.0
var undecodable_frames = 0
var _zmtp = null
var _next_id = 0
var _hello_id = -1
var _last_send_ms = 0
var _disconnect_reported = false


# Ids are ints or strings; Godot 3 refuses to compare values of different types with ==.
static func same_id(a, b):
	return typeof(a) == typeof(b) and a == b


static func now_ms():
	# Time.get_ticks_msec in Godot 4, OS.get_ticks_msec in Godot 3
	if Engine.has_singleton("Time"):
		return Engine.get_singleton("Time").call("get_ticks_msec")
	return OS.call("get_ticks_msec")


# Start connecting; the hello is sent as soon as the ZMTP handshake is done. Returns "" or why not.
func connect_to_runtime(p_endpoint = "tcp://127.0.0.1:7600", p_client_name = "godot-client"):
	endpoint = p_endpoint
	client_name = p_client_name
	welcome = null
	error = ""
	_disconnect_reported = false
	_zmtp = Zmtp.new()
	var err = _zmtp.connect_to(endpoint)
	if err != "":
		error = err
	return err


func is_connected_to_runtime():
	return welcome != null and _zmtp != null and _zmtp.is_open()


func next_id():
	_next_id += 1
	return _next_id


# Send a message (Dictionary) as it is. Returns false when not connected.
func send(msg):
	var enc = MsgPack.encode_checked(msg)
	if enc[1] != "":
		push_error("npc_runtime: cannot send %s: %s" % [str(msg.get("type")), enc[1]])
		return false
	return send_raw(enc[0])


# Send bytes as they are (tests of bad input use this).
func send_raw(bytes):
	if _zmtp == null or not _zmtp.is_open():
		return false
	if welcome != null and bytes.size() > int(welcome.get("max_message_bytes", 1048576)):
		push_error(
			"npc_runtime: message of %d bytes is over the runtime's limit; send audio in smaller chunks"
			% bytes.size()
		)
		return false
	_last_send_ms = now_ms()
	return _zmtp.send(bytes)


# Give the message a fresh id, send it, and return the id (the reply carries it as "ref"),
# or -1 when it could not be sent (not connected yet: wait for the welcome / "connected").
func request(msg):
	var id = next_id()
	msg["id"] = id
	if not send(msg):
		return -1
	return id


func list_npcs():
	return request(Protocol.list_npcs(null))


func start_conversation(npc_ids, player_id = "player", mode = "text", greet = true, ambient = null, s2s = null):
	return request(Protocol.conversation_start(null, npc_ids, player_id, mode, greet, ambient, s2s))


# Send a player line; the reply streams as npc_text_delta and ends with an npc_text_final whose
# "ref" is the returned id (an error about the line carries the same ref).
func say(conversation_id, text, to = null):
	return request(Protocol.player_text(null, conversation_id, text, to))


func interrupt(conversation_id):
	return send(Protocol.interrupt(conversation_id))


func end_conversation(conversation_id):
	return request(Protocol.conversation_end(null, conversation_id))


func set_game_time(hours):
	return send(Protocol.game_time(hours))


func save():
	return request(Protocol.save(null))


func load_blob(blob):
	return request(Protocol.load_blob(null, blob))


func ping(t = null):
	if t == null:
		t = now_ms() / 1000.0
	return request(Protocol.ping(null, t))


# Say bye (the runtime ends this client's conversations) and close.
func close():
	if is_connected_to_runtime():
		send(Protocol.bye())
	if _zmtp != null:
		_zmtp.close()
	welcome = null
	if error == "":
		error = "closed"


# Drive the connection. Returns the messages that arrived (Dictionaries), in order: replies
# (with "ref"), npc_text_delta/final, npc_action, error, warning, notices... The welcome is kept in
# `welcome` and also returned. When the connection is lost, a message
# {"type": "disconnected", "reason": ...} is returned once (not a wire message).
func poll():
	var out = []
	if _zmtp == null:
		return out
	var was_open = _zmtp.is_open()
	for frame in _zmtp.poll():
		var r = MsgPack.decode_map(frame)
		if r[1] != "":
			undecodable_frames += 1
			continue
		var msg = r[0]
		var mtype = str(msg.get("type", ""))
		if mtype == "welcome" and welcome == null and same_id(msg.get("ref"), _hello_id):
			welcome = msg
		elif mtype == "pong" and msg.get("ref") == null:
			last_round_trip_ms = now_ms() - float(msg.get("t", 0.0)) * 1000.0
			continue  # the heartbeat's own answer
		out.append(msg)
	if _zmtp.is_open():
		if not was_open and welcome == null and _hello_id < 0:
			_hello_id = next_id()
			send(Protocol.hello(_hello_id, client_name))
		_heartbeat()
	elif not _disconnect_reported and _zmtp.state == Zmtp.STATE_CLOSED:
		_disconnect_reported = true
		error = _zmtp.error
		welcome = null
		out.append({"type": "disconnected", "reason": error})
	return out


func _heartbeat():
	if welcome == null:
		return
	var interval_ms = float(welcome.get("heartbeat_interval", 2.0)) * 1000.0
	if now_ms() - _last_send_ms >= interval_ms / 2.0:
		send(Protocol.ping(null, now_ms() / 1000.0))
