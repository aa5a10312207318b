# Godot 3 headless tests of the msgpack codec, builders and ZMTP framing against the shared
# protocol vectors (docs/protocol-vectors.json; path in $NPC_PROTOCOL_VECTORS). Run by
# bindings/run_tests.sh:  godot3-server --no-window --path bindings/godot --script res://tests/test_codec.gd

extends SceneTree

const MsgPack = preload("res://addons/npc_runtime/core/msgpack.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Zmtp = preload("res://addons/npc_runtime/core/zmtp.gd")
const NpcClient = preload("res://addons/npc_runtime/core/client.gd")
const Events = preload("res://addons/npc_runtime/core/events.gd")
const Support = preload("res://tests/support.gd")

var t = Support.new("codec")


func _initialize():
	var vectors = load_vectors()
	if t.check(vectors != null and vectors.size() > 0, "protocol vectors load"):
		for v in vectors:
			vector_decodes(v)
			vector_reencodes(v)
		builders_match(vectors)
	ints_use_smallest_form()
	long_values_round_trip()
	bad_bytes_are_refused()
	zmtp_framing()
	endpoint_parsing()
	closed_port_is_reported()
	t.finish(self)


func load_vectors():
	var path = Support.env("NPC_PROTOCOL_VECTORS", "")
	var f = File.new()
	if path == "" or f.open(path, File.READ) != OK:
		print("cannot read NPC_PROTOCOL_VECTORS='%s'" % path)
		return null
	var parsed = JSON.parse(f.get_as_text())
	f.close()
	if parsed.error != OK:
		return null
	return parsed.result


# JSON (numbers are floats in Godot 3's parser, binaries are {"$bin": base64}) vs decoded value.
func diff(expected, actual, path):
	if typeof(expected) == TYPE_DICTIONARY and expected.size() == 1 and expected.has("$bin"):
		if typeof(actual) != typeof(MsgPack.empty_bytes()):
			return path + ": expected bytes"
		var want = Marshalls.base64_to_raw(expected["$bin"])
		return "" if Support.hex(want) == Support.hex(actual) else path + ": bytes differ"
	if typeof(expected) == TYPE_REAL:
		if typeof(actual) != TYPE_INT and typeof(actual) != TYPE_REAL:
			return path + ": expected a number, got " + str(actual)
		return "" if float(actual) == expected else path + ": %s != %s" % [str(expected), str(actual)]
	if typeof(expected) != typeof(actual):
		return path + ": expected %s, got %s" % [str(expected), str(actual)]
	if typeof(expected) == TYPE_DICTIONARY:
		if expected.size() != actual.size():
			return path + ": key count differs"
		var ek = expected.keys()
		var ak = actual.keys()
		for i in range(ek.size()):
			if ek[i] != ak[i]:
				return path + ": key order differs at " + ek[i]
			var d = diff(expected[ek[i]], actual[ak[i]], path + "." + ek[i])
			if d != "":
				return d
		return ""
	if typeof(expected) == TYPE_ARRAY:
		if expected.size() != actual.size():
			return path + ": length differs"
		for i in range(expected.size()):
			var d = diff(expected[i], actual[i], path + "[%d]" % i)
			if d != "":
				return d
		return ""
	return "" if expected == actual else path + ": %s != %s" % [str(expected), str(actual)]


func vector_decodes(v):
	var r = MsgPack.decode_map(Support.unhex(v["msgpack_hex"]))
	var d = r[1] if r[1] != "" else diff(v["json"], r[0], v["type"])
	t.check(d == "", "decode vector %s/%s" % [v["direction"], v["type"]], d)


func vector_reencodes(v):
	var r = MsgPack.decode(Support.unhex(v["msgpack_hex"]))
	var again = Support.hex(MsgPack.encode(r[0]))
	t.check(again == v["msgpack_hex"], "re-encode vector %s/%s to the same bytes" % [v["direction"], v["type"]], again)


func find_vector(vectors, type):
	for v in vectors:
		if v["type"] == type:
			return v
	return null


func builders_match(vectors):
	# EVERY client message type of the vectors has a builder in protocol.gd, called generically:
	# its arguments are filled by name from the vector's decoded msgpack (so ints stay ints), the
	# fields no argument names go into `fields` (world_event), and the bytes must be the documented
	# ones. Every runtime message type parses with events.gd and has a connection signal.
	# argument names from the source (a release build of Godot keeps no argument names)
	var methods = {}
	var re = RegEx.new()
	re.compile("(?m)^static func (\\w+)\\(([^)]*)\\)")
	for m in re.search_all(Protocol.source_code):
		var names = []
		for a in m.get_string(2).split(",", false):
			names.append(a.split("=")[0].strip_edges())
		methods[m.get_string(1)] = names
	var conn = load("res://addons/npc_runtime/npc_runtime_connection.gd").new()
	var proto = load("res://addons/npc_runtime/core/protocol.gd")
	var seen_client = {}
	var seen_server = {}
	for v in vectors:
		var msg = MsgPack.decode_map(Support.unhex(v["msgpack_hex"]))[0]
		if v["direction"] == "client":
			seen_client[v["type"]] = true
			var fname = Protocol.builder_for(v["type"])
			if not t.check(methods.has(fname), "client message %s has a builder (%s)" % [v["type"], fname]):
				continue
			var used = {"type": true}
			var args = []
			for a in methods[fname]:
				if msg.has(a):
					used[a] = true
			for a in methods[fname]:
				if a == "fields":
					var rest = {}
					for k in msg.keys():
						if not used.has(k):
							rest[k] = msg[k]
					args.append(rest)
				else:
					args.append(msg.get(a))
			var got = Support.hex(MsgPack.encode(proto.callv(fname, args)))
			t.check(got == v["msgpack_hex"], "builder %s writes the documented bytes (%s)" % [fname, str(msg.keys())], got)
		else:
			seen_server[v["type"]] = true
			var r = Events.parse(msg)
			t.check(Events.is_known(v["type"]) and r[1] == "", "runtime message %s parses" % v["type"], r[1])
			var sig = Events.signal_for(v["type"])
			t.check(sig != "" and conn.has_signal(sig), "runtime message %s has the connection signal '%s'" % [v["type"], sig])
			for f in Events.SCHEMA.get(v["type"], []):
				if f[2]:
					var broken = msg.duplicate()
					broken.erase(f[0])
					var e = Events.parse(broken)
					t.check(e[0] == null and e[1].find(f[0]) >= 0, "%s without %s is refused" % [v["type"], f[0]], e[1])
					break
	t.check(seen_client.size() >= 27 and seen_server.size() >= 28, "the vectors cover the protocol", [seen_client.size(), seen_server.size()])
	for type in Events.SCHEMA.keys():
		t.check(seen_server.has(type), "events.gd type %s is a documented runtime message" % type)
	var odd = {"type": "npc_audio", "conversation_id": "c", "turn_id": 1, "npc_id": "n", "seq": 0,
		"sample_rate": 22050, "pcm": Support.unhex("000102")}
	t.check(Events.parse(odd)[1].find("whole") >= 0, "npc_audio with an odd byte count is refused")
	t.check(Events.parse({"type": "npc_text_delta", "conversation_id": "c", "turn_id": "x", "npc_id": "n", "seq": 1, "text": "a"})[1].find("turn_id") >= 0,
		"a field of the wrong type is refused, naming it")
	t.check(Events.parse({"type": "from_the_future", "x": 1})[1] == "", "an unknown type passes (newer runtime)")
	conn.free()


func ints_use_smallest_form():
	var cases = [[0, "00"], [127, "7f"], [128, "cc80"], [255, "ccff"], [256, "cd0100"],
		[65536, "ce00010000"], [4294967296, "cf0000000100000000"], [-1, "ff"], [-32, "e0"],
		[-33, "d0df"], [-129, "d1ff7f"], [-32769, "d2ffff7fff"], [-2147483649, "d3ffffffff7fffffff"]]
	for c in cases:
		var h = Support.hex(MsgPack.encode(c[0]))
		var back = MsgPack.decode(Support.unhex(c[1]))
		t.check(h == c[1] and back[0] == c[0] and typeof(back[0]) == TYPE_INT, "int %d is %s" % [c[0], c[1]], h)
	t.check(MsgPack.decode(Support.unhex("ca3fc00000"))[0] == 1.5, "float32 is read")
	t.check(Support.hex(MsgPack.encode(1.5)) == "cb3ff8000000000000", "floats are written as float64")


func long_values_round_trip():
	var s16 = ""
	for _i in range(200):
		s16 += "é"
	var s32 = ""
	for _i in range(7000):
		s32 += "zzzzzzzzzz"
	var b16 = StreamPeerBuffer.new()
	b16.resize(300)
	var b32 = StreamPeerBuffer.new()
	b32.resize(70000)
	var arr = []
	var inner = {}
	for i in range(20):
		arr.append(i)
		inner["k%d" % i] = i % 2 == 0
	var m = {"s8": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"s16": s16, "s32": s32, "b16": b16.data_array, "b32": b32.data_array,
		"a16": arr, "m16": inner, "f": 0.1, "nil": null, "neg": -5, "t": true}
	var bytes = MsgPack.encode(m)
	var h = Support.hex(bytes)
	var back = MsgPack.decode(bytes)
	t.check(back[1] == "", "long values decode", back[1])
	t.check(Support.hex(MsgPack.encode(back[0])) == h, "long values round-trip")
	t.check(back[0]["s16"] == s16 and back[0]["s32"].length() == 70000, "long strings survive")
	for marker in ["d928", "da0190", "db00011170", "c5012c", "c600011170", "dc0014", "de0014"]:
		t.check(h.find(marker) >= 0, "long form " + marker + " is used")


func bad_bytes_are_refused():
	var cases = [["", "truncated"], ["a5616263", "truncated"], ["82a161", "truncated"],
		["c1", "unsupported"], ["d40100", "unsupported"], ["0102", "extra bytes"],
		["8101a161", "keys must be strings"], ["dd7fffffff", "truncated"]]
	for c in cases:
		var r = MsgPack.decode(Support.unhex(c[0]))
		t.check(r[0] == null and r[1].find(c[1]) >= 0, "bad bytes '%s' -> %s" % [c[0], c[1]], r[1])
	var deep = StreamPeerBuffer.new()
	for _i in range(200):
		deep.put_u8(0x91)
	t.check(MsgPack.decode(deep.data_array)[1].find("deeply") >= 0, "deep nesting is refused")
	t.check(MsgPack.decode_map(Support.unhex("9101"))[1].find("map") >= 0, "a message must be a map")
	t.check(MsgPack.encode_checked({1: "x"})[1].find("keys") >= 0, "non-string keys are refused")
	t.check(MsgPack.encode_checked(Vector2(1, 2))[1].find("cannot encode") >= 0, "unencodable values are refused")


func zmtp_framing():
	var g = Zmtp.greeting()
	var want = "ff00000000000000007f03014e554c4c"
	for _i in range(48):
		want += "00"
	t.check(Support.hex(g) == want, "greeting is ZMTP 3.1 NULL", Support.hex(g))
	t.check(g.size() == 64 and g[0] == 0xff and g[9] == 0x7f and g[10] == 3 and g[11] == 1 and g[32] == 0, "greeting bytes")
	var short = Zmtp.frame(MsgPack.empty_bytes(), 0x01)
	t.check(Support.hex(short) == "0100", "empty frame with MORE")
	var body = StreamPeerBuffer.new()
	body.resize(256)
	var long = Zmtp.frame(body.data_array, 0x04)
	t.check(long.size() == 265 and Support.hex(Zmtp.frame(body.data_array, 0x04)).begins_with("060000000000000100"), "long command frame")
	var props = Zmtp.parse_ready(Zmtp.ready_body("DEALER"))
	t.check(props != null and props["socket-type"] == "DEALER" and props["identity"] == "", "READY carries Socket-Type and Identity", props)
	t.check(Zmtp.parse_ready(Support.unhex("055245414459")) != null, "READY without properties parses")
	t.check(Zmtp.parse_ready(Support.unhex("0552454144590b536f636b6574")) == null, "truncated READY is refused")


func endpoint_parsing():
	var ok = Zmtp.parse_endpoint("tcp://127.0.0.1:7600")
	t.check(ok[0] == "127.0.0.1" and ok[1] == 7600, "endpoint parses", ok)
	for bad in ["127.0.0.1:7600", "ipc:///tmp/x", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "tcp://h:12ab"]:
		var r = Zmtp.parse_endpoint(bad)
		t.check(r[0] == null and r[1].find("tcp://127.0.0.1:7600") >= 0, "bad endpoint '%s' is refused with an example" % bad, r)
	var c = NpcClient.new()
	t.check(c.connect_to_runtime("localhost:7600").find("tcp://") >= 0, "client refuses a bad endpoint")


func closed_port_is_reported():
	var server = TCP_Server.new()
	var port = 0
	for i in range(50):
		port = 42000 + (OS.get_process_id() + i * 37) % 20000
		if server.listen(port, "127.0.0.1") == OK:
			break
	server.stop()  # nothing listens there now
	var c = NpcClient.new()
	c.connect_to_runtime("tcp://127.0.0.1:%d" % port, "godot-test")
	var got = null
	var deadline = OS.get_ticks_msec() + 5000
	while got == null and OS.get_ticks_msec() < deadline:
		for m in c.poll():
			if m["type"] == "disconnected":
				got = m
		OS.delay_msec(5)
	t.check(got != null and not c.is_connected_to_runtime(), "a refused connection is reported as disconnected", got)
	t.check(got != null and got["reason"].find("running") >= 0, "the reason says what to check", got)
