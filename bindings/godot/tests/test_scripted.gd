# Godot 3 headless test of messages the real runtime cannot produce yet, against
# tests/bindings/scripted_runtime.py (a real ZeroMQ ROUTER on loopback sending real msgpack frames;
# only its decisions are scripted), which bindings/run_tests.sh starts and names in
# $NPC_SCRIPTED_ENDPOINT: the cluster-mode warning conversation_moved (NpcVoice drops the abandoned
# attempt's audio and clears the subtitle; the turn then runs once), the error not_authority, and
# error/warning codes no runtime sends today (emitted as runtime_error / runtime_warning with the
# code as sent; the connection stays up). The addon's nodes run on the SceneTree's frames.

extends SceneTree

const Support = preload("res://tests/support.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Events = preload("res://addons/npc_runtime/core/events.gd")
const Connection = preload("res://addons/npc_runtime/npc_runtime_connection.gd")
const Voice = preload("res://addons/npc_runtime/npc_voice.gd")

const MOVED_LINE = "The wolves came back at dawn."

var t = Support.new("scripted")
var events = []  # [source, signal, args...] in order
var conn = null


func _initialize():
	Engine.target_fps = 120
	var endpoint = Support.env("NPC_SCRIPTED_ENDPOINT", "")
	if t.check(endpoint != "", "NPC_SCRIPTED_ENDPOINT is set (bindings/run_tests.sh sets it)"):
		run(endpoint)
	else:
		t.finish(self)


func rec1(a, src, name):
	events.append([src, name, a])


func rec2(a, b, src, name):
	events.append([src, name, a, b])


func rec3(a, b, c, src, name):
	events.append([src, name, a, b, c])


func named(src, name):
	var out = []
	for e in events:
		if e[0] == src and e[1] == name:
			out.append(e)
	return out


func now_s():
	return OS.get_ticks_msec() / 1000.0


var generator_at_move = []


func on_spoken_moved(_cid, node):
	var gen = node._generator()
	if gen != null:
		generator_at_move = [gen.get_frames_available(), node._capacity]


func voice_node(mode, src):
	var v = Voice.new()
	v.connection = conn
	v.npc_id = "mira"
	v.player_id = "hero"
	v.mode = mode
	v.greet = false
	v.use_microphone = false
	for s in ["conversation_started", "subtitle", "conversation_moved"]:
		v.connect(s, self, "rec1", [src, s])
	for s in ["npc_line", "voice_error"]:
		v.connect(s, self, "rec2", [src, s])
	v.connect("playback_finished", self, "rec3", [src, "playback_finished"])
	root.add_child(v)
	return v


func wait_until(obj, method, args, seconds):
	yield(self, "idle_frame")  # always a coroutine, so callers can yield on "completed"
	var deadline = now_s() + seconds
	while not obj.callv(method, args) and now_s() < deadline:
		yield(self, "idle_frame")
	return obj.callv(method, args)


func has_count(src, name, n):
	return named(src, name).size() >= n


func run(endpoint):
	conn = Connection.new()
	conn.name = "NpcRuntime"
	conn.endpoint = endpoint
	conn.client_name = "godot-scripted"
	for s in ["connected", "runtime_error", "runtime_warning", "npcs"]:
		conn.connect(s, self, "rec1", ["conn", s])
	conn.connect("conversation_moved", self, "rec2", ["conn", "conversation_moved"])
	root.add_child(conn)
	if not t.check(yield(wait_until(self, "has_count", ["conn", "connected", 1], 20.0), "completed"), "the node connects"):
		return t.finish(self)

	# ---- text mode: the first attempt of turn 1, conversation_moved, the turn once more
	var text = voice_node("text", "text")
	text.start_conversation()
	var ok = yield(wait_until(self, "has_count", ["text", "npc_line", 1], 10.0), "completed")
	if not t.check(ok, "the replayed line ends with npc_text_final"):
		return t.finish(self)
	var cid = text.conversation_id
	var seq = []
	for e in events:
		if e[0] == "text" and e[1] in ["subtitle", "conversation_moved", "npc_line"]:
			seq.append(e[1] + ":" + str(e[2]))
	t.check(seq == ["subtitle:", "conversation_moved:" + cid, "npc_line:" + MOVED_LINE], "NpcVoice clears the subtitle, then reports the move, then the line once", seq)
	var moved = named("conn", "conversation_moved")
	t.check(moved.size() == 1 and moved[0][2] == cid and moved[0][3]["code"] == Events.CONVERSATION_MOVED, "the connection emits conversation_moved with the unchanged id", moved)
	var warns = named("conn", "runtime_warning")
	t.check(warns.size() == 1 and warns[0][2]["code"] == "conversation_moved", "and runtime_warning (every warning is emitted)", warns)

	# ---- codes of a newer runtime: emitted as they are, nothing breaks
	var id = conn.say(cid, "unknown codes")
	ok = yield(wait_until(self, "has_count", ["text", "npc_line", 2], 10.0), "completed")
	t.check(ok, "the reply after the unknown codes arrives: the client kept going")
	var errs = named("conn", "runtime_error")
	t.check(errs.size() == 1 and errs[0][2]["code"] == "future_error_code" and errs[0][2]["ref"] == id
		and not Events.is_known_code(errs[0][2]["code"]), "an unknown error code is emitted with its code and ref", errs)
	warns = named("conn", "runtime_warning")
	t.check(warns.size() == 2 and warns[1][2]["code"] == "future_warning_code", "an unknown warning code is emitted", warns)
	var verrs = named("text", "voice_error")
	t.check(verrs.size() == 3 and verrs[1][2] == "future_error_code", "NpcVoice passes them on as voice_error", verrs)

	# ---- not_authority: load / world_reset / game_time from a client without the world-authority role
	id = conn.request(Protocol.load_blob(null, PoolByteArray([1, 2, 3])))
	ok = yield(wait_until(self, "has_count", ["conn", "runtime_error", 2], 10.0), "completed")
	errs = named("conn", "runtime_error")
	t.check(ok and errs[1][2]["code"] == Events.NOT_AUTHORITY and errs[1][2]["ref"] == id, "load is refused with not_authority, with its ref", errs)
	conn.send(Protocol.game_time(12.0))
	ok = yield(wait_until(self, "has_count", ["conn", "runtime_error", 3], 10.0), "completed")
	errs = named("conn", "runtime_error")
	t.check(ok and errs[2][2]["code"] == Events.NOT_AUTHORITY and errs[2][2].get("ref") == null, "game_time is refused with not_authority (no ref)", errs)
	conn.list_npcs()
	ok = yield(wait_until(self, "has_count", ["conn", "npcs", 1], 10.0), "completed")
	t.check(ok and conn.is_connected_to_runtime(), "the connection is still up and answers requests")

	# ---- push-to-talk: 100 ms of the first attempt, the move, 200 ms of the replay
	var spoken = voice_node("push_to_talk", "voice")
	spoken.connect("conversation_moved", self, "on_spoken_moved", [spoken])
	spoken.start_conversation()
	ok = yield(wait_until(self, "has_count", ["voice", "playback_finished", 1], 15.0), "completed")
	if t.check(ok, "the replayed turn's audio plays to its end"):
		# let a second report show up if there were one
		var until = now_s() + 0.5
		while now_s() < until:
			yield(self, "idle_frame")
		var fin = named("voice", "playback_finished")
		t.check(fin.size() == 1 and fin[0][2] == 1 and abs(fin[0][3] - 200.0) < 1.0 and not fin[0][4],
			"one report for turn 1: the 200 ms replay, not the abandoned 100 ms", fin)
		t.check(named("voice", "conversation_moved").size() == 1, "NpcVoice reports the move")
		t.check(spoken.reports_sent.size() == 1, "one playback_report went to the runtime", spoken.reports_sent)
		t.check(generator_at_move.size() == 2 and generator_at_move[0] == generator_at_move[1],
			"the generator was emptied at the move ([frames free, capacity])", generator_at_move)
	t.finish(self)
