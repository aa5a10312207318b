# Godot 3 headless end-to-end test of the GDScript client against the REAL runtime, which
# bindings/run_tests.sh starts (`python -m npc_runtime.cli serve ...`) and names in
# $NPC_RUNTIME_ENDPOINT. The client is polled in a loop as a game polls it every frame.

extends SceneTree

const MsgPack = preload("res://addons/npc_runtime/core/msgpack.gd")
const NpcClient = preload("res://addons/npc_runtime/core/client.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Zmtp = preload("res://addons/npc_runtime/core/zmtp.gd")
const Support = preload("res://tests/support.gd")

var t = Support.new("e2e")
var backlog = []  # messages polled but not consumed yet
var deltas = []  # every npc_text_delta seen, in order
var bare = null  # a bare ZMTP DEALER polled alongside (heartbeat test)
var bare_msgs = []


func _initialize():
	var endpoint = Support.env("NPC_RUNTIME_ENDPOINT", "")
	if t.check(endpoint != "", "NPC_RUNTIME_ENDPOINT is set (bindings/run_tests.sh sets it)"):
		run(endpoint)
	t.finish(self)


func pump(c, ms):
	for m in c.poll():
		backlog.append(m)
		if m.get("type") == "npc_text_delta":
			deltas.append(m)
	if bare != null:
		for frame in bare.poll():
			bare_msgs.append(MsgPack.decode_map(frame)[0])
	OS.delay_msec(ms)


func matches(m, want):
	for k in want.keys():
		if not m.has(k) or typeof(m[k]) != typeof(want[k]) or m[k] != want[k]:
			return false
	return true


# Poll until a message with all the fields of `want` arrives (or timeout): returns it or null.
func wait_for(c, want, timeout_ms = 10000):
	var deadline = OS.get_ticks_msec() + timeout_ms
	while true:
		for i in range(backlog.size()):
			if matches(backlog[i], want):
				var m = backlog[i]
				backlog.remove(i)
				return m
		if OS.get_ticks_msec() > deadline:
			return null
		pump(c, 2)


func run(endpoint):
	var c = NpcClient.new()
	t.check(c.connect_to_runtime(endpoint, "godot-e2e") == "", "connecting starts")
	t.check(c.list_npcs() == -1, "a request before the connection is open is not sent (-1)")
	var welcome = wait_for(c, {"type": "welcome"}, 10000)
	if not t.check(welcome != null and c.is_connected_to_runtime(), "hello is answered with welcome", c.error):
		return
	t.check(welcome["protocol"] == 1, "welcome speaks protocol 1")
	var ids = []
	for n in welcome["npcs"]:
		ids.append(n["id"])
	t.check("mira" in ids and "bram" in ids, "welcome lists the NPCs", ids)

	var id = c.list_npcs()
	var npcs = wait_for(c, {"type": "npcs", "ref": id})
	t.check(npcs != null and npcs["npcs"].size() == ids.size(), "list_npcs is answered with npcs", npcs)

	id = c.ping(1234.5)
	var pong = wait_for(c, {"type": "pong", "ref": id})
	t.check(pong != null and pong["t"] == 1234.5, "ping is answered with pong echoing t", pong)

	conversation(c)
	ambient(c)
	errors(c)
	heartbeat(c)
	node_wrapper(endpoint)

	c.close()
	t.check(not c.is_connected_to_runtime(), "close() disconnects")


func conversation(c):
	var id = c.start_conversation(["mira"], "hero")
	var started = wait_for(c, {"type": "conversation_started", "ref": id})
	if not t.check(started != null, "conversation_start is answered", started):
		return
	var cid = started["conversation_id"]
	var greeting = wait_for(c, {"type": "npc_text_final", "conversation_id": cid})
	t.check(greeting != null and greeting["source"] == "greeting", "mira greets first", greeting)

	deltas.clear()
	id = c.say(cid, "do you have a room for the night?")
	var final = wait_for(c, {"type": "npc_text_final", "ref": id}, 15000)
	if not t.check(final != null, "the player line is answered with npc_text_final"):
		return
	t.check(final["source"] == "authored", "the answer is mira's authored line", final["source"])
	t.check(final["npc_id"] == "mira" and final["conversation_id"] == cid, "the final names mira and the conversation")
	t.check(final["interrupted"] == false and final["text"] != "", "the final has the whole line", final["text"])
	var joined = ""
	var in_order = deltas.size() > 0
	for i in range(deltas.size()):
		joined += deltas[i]["text"]
		in_order = in_order and deltas[i]["seq"] == i + 1 and deltas[i]["turn_id"] == final["turn_id"]
	t.check(in_order, "the reply streamed as deltas in order (seq from 1)", deltas.size())
	t.check(joined == final["text"], "the deltas add up to the final text", joined)

	var long_line = ""
	while long_line.length() < 1500:
		long_line += "tell me about the wolves and the north gate, "
	id = c.say(cid, long_line)  # a ZMTP long frame (> 255 bytes)
	final = wait_for(c, {"type": "npc_text_final", "ref": id}, 15000)
	t.check(final != null, "a long player line is answered", final)

	c.end_conversation(cid)
	var ended = wait_for(c, {"type": "conversation_ended", "conversation_id": cid})
	t.check(ended != null and ended["reason"] == "client", "conversation_end ends it", ended)


func ambient(c):
	var seed_line = "The wolves took another sheep last night."
	var spec = Protocol.ambient_spec(null, seed_line, 3)
	var id = c.start_conversation(["bram", "tomas"], "hero", "text", true, spec)
	var started = wait_for(c, {"type": "conversation_started", "ref": id})
	if not t.check(started != null, "an ambient conversation starts", started):
		return
	var cid = started["conversation_id"]
	var lines = []
	for i in range(3):
		var f = wait_for(c, {"type": "npc_text_final", "conversation_id": cid}, 20000)
		if f == null:
			break
		lines.append(f)
	if not t.check(lines.size() == 3, "three ambient lines arrive", lines.size()):
		return
	var who = []
	var all_ambient = true
	for f in lines:
		who.append(f["npc_id"])
		all_ambient = all_ambient and f.get("ambient") == true
	t.check(who == ["bram", "tomas", "bram"], "the NPCs answer each other in turn", who)
	t.check(all_ambient, "every line is marked ambient")
	t.check(lines[0]["text"] == seed_line, "the seed line is said as written", lines[0]["text"])
	id = c.say(cid, "Tomas, is the north gate shut?", "tomas")
	var answer = wait_for(c, {"type": "npc_text_final", "ref": id}, 20000)
	t.check(answer != null and answer.get("ambient") == false and answer["npc_id"] == "tomas",
		"the player joins: tomas answers, not ambient", answer)
	c.end_conversation(cid)
	wait_for(c, {"type": "conversation_ended", "conversation_id": cid})


func errors(c):
	var bad = StreamPeerBuffer.new()
	bad.put_u8(0xc1)
	bad.put_u8(0x00)
	c.send_raw(bad.data_array)
	var e = wait_for(c, {"type": "error"})
	t.check(e != null and e["code"] == "malformed", "a malformed frame is answered with error malformed", e)

	c.send({"type": "dance", "id": "d-1"})
	e = wait_for(c, {"type": "error", "ref": "d-1"})
	t.check(e != null and e["code"] == "unknown_type", "an unknown type is answered with unknown_type", e)

	c.send({"id": 77})
	e = wait_for(c, {"type": "error", "ref": 77})
	t.check(e != null and e["code"] == "missing_type", "a map without type is answered with missing_type", e)

	var id = c.say("no-such-conversation", "hello?")
	e = wait_for(c, {"type": "error", "ref": id})
	t.check(e != null and e["code"] == "unknown_conversation", "a line to an unknown conversation is refused", e)

	id = c.start_conversation(["nobody"])
	e = wait_for(c, {"type": "error", "ref": id})
	t.check(e != null and e["code"] == "unknown_npc", "an unknown NPC is refused", e)
	t.check(c.is_connected_to_runtime(), "the connection survives bad input")


func heartbeat(c):
	# Silence is the subject here: the game only polls (as every frame) for longer than the
	# runtime's client_timeout; the client's pings must keep the session. Meanwhile a bare ZMTP
	# DEALER that only answers libzmq's PINGs (it sends nothing) keeps its TCP connection (libzmq
	# drops a peer that does not answer within 3 heartbeat intervals) but loses its session.
	var timeout_ms = int(float(c.welcome["client_timeout"]) * 1000.0 * 1.4)
	var id = c.start_conversation(["bram"], "hero", "text", false)
	var started = wait_for(c, {"type": "conversation_started", "ref": id})
	if not t.check(started != null, "a second conversation starts"):
		return
	bare = Zmtp.new()
	bare.connect_to(c.endpoint)
	var deadline = OS.get_ticks_msec() + 5000
	while not bare.is_open() and OS.get_ticks_msec() < deadline:
		pump(c, 2)
	t.check(bare.is_open(), "a bare ZMTP DEALER connects", bare.error)
	bare.send(MsgPack.encode(Protocol.hello(1, "bare")))
	deadline = OS.get_ticks_msec() + 5000
	while bare_msgs.size() == 0 and OS.get_ticks_msec() < deadline:
		pump(c, 2)
	t.check(bare_msgs.size() == 1 and bare_msgs[0]["type"] == "welcome", "the bare DEALER is welcomed", bare_msgs)
	bare_msgs.clear()

	var unexpected = wait_for(c, {"type": "conversation_ended"}, timeout_ms)
	t.check(unexpected == null, "nothing ends while the game is idle", unexpected)
	t.check(c.is_connected_to_runtime() and c.last_round_trip_ms >= 0.0, "heartbeat pongs arrived", c.last_round_trip_ms)
	id = c.list_npcs()
	var npcs = wait_for(c, {"type": "npcs", "ref": id})
	t.check(npcs != null, "the session outlived client_timeout thanks to the heartbeat", c.error)
	id = c.say(started["conversation_id"], "hello there")
	var final = wait_for(c, {"type": "npc_text_final", "ref": id}, 15000)
	t.check(final != null, "the idle conversation still answers", final)

	t.check(bare.is_open(), "the bare DEALER's connection survived (it answered ZMTP PINGs)", bare.error)
	bare.send(MsgPack.encode({"type": "list_npcs", "id": 2}))
	deadline = OS.get_ticks_msec() + 5000
	while bare_msgs.size() == 0 and OS.get_ticks_msec() < deadline:
		pump(c, 2)
	var reply = bare_msgs[0] if bare_msgs.size() > 0 else null
	t.check(reply != null and reply["type"] == "error" and reply["code"] == "not_introduced",
		"the silent bare DEALER's session timed out", reply)
	bare.close()
	bare = null


var signalled = []


func _on_signal(a, name):
	signalled.append([name, a])


func node_wrapper(endpoint):
	# The Node front: polled from _process, it turns messages into signals (Godot 3 connect syntax
	# here; the node itself is Godot 3/4 common subset).
	var node = load("res://addons/npc_runtime/npc_runtime_connection.gd").new()
	node.endpoint = endpoint
	node.client_name = "godot-node"
	for sig in ["connected", "npc_text_final", "reply", "message", "conversation_started"]:
		node.connect(sig, self, "_on_signal", [sig])
	t.check(node.connect_to_runtime() == "", "the node starts connecting")
	var deadline = OS.get_ticks_msec() + 10000
	var cid = ""
	var greeted = false
	while OS.get_ticks_msec() < deadline and not greeted:
		node._process(0.016)
		for s in signalled:
			if s[0] == "connected" and cid == "":
				cid = "pending"
				node.client.start_conversation(["mira"], "hero")
			if s[0] == "npc_text_final" and s[1].get("source") == "greeting":
				greeted = true
		OS.delay_msec(2)
	var names = []
	for s in signalled:
		if not s[0] in names:
			names.append(s[0])
	t.check(greeted, "the node emits connected, then npc_text_final for the greeting", names)
	t.check("conversation_started" in names and "reply" in names and "message" in names,
		"the node emits conversation_started, reply and message", names)
	node.client.close()
	node.free()
