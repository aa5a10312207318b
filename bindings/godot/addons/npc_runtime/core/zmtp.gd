# NPC Runtime client for Godot: a ZeroMQ DEALER speaking ZMTP 3.1 over StreamPeerTCP.
#
# Godot has no ZeroMQ; the runtime's ROUTER (libzmq) only needs this part of ZMTP 3.1:
#   NULL security mechanism (no CURVE yet: loopback only), the 64-byte greeting, a READY command
#   with Socket-Type DEALER, framed messages (short/long, MORE flag) and PING/PONG commands (the
#   runtime's libzmq PINGs every heartbeat interval and drops a peer that does not answer).
# Non-blocking: call poll() often (every frame); it returns the messages that arrived (each as the
# byte array of its last frame). Common subset of Godot 3 and 4 GDScript: buffers are
# StreamPeerBuffer, StreamPeerTCP.poll() is called only where it exists (Godot 4).

enum {STATE_IDLE, STATE_CONNECTING, STATE_GREETING, STATE_READY, STATE_OPEN, STATE_CLOSED}

const MAX_FRAME = 64 * 1024 * 1024

var state = STATE_IDLE
var error = ""  # why the connection closed (empty while fine)
var peer_socket_type = ""
var _tcp = null
var _in = StreamPeerBuffer.new()
var _parts = []


static func parse_endpoint(endpoint):
	# "tcp://host:port" -> [host, port] or [null, "why"]
	if typeof(endpoint) != TYPE_STRING or not endpoint.begins_with("tcp://"):
		return [null, "endpoint must look like tcp://127.0.0.1:7600, got '%s'" % str(endpoint)]
	var rest = endpoint.substr(6, endpoint.length() - 6)
	var colon = rest.rfind(":")
	var port = -1
	if colon > 0:
		var digits = rest.substr(colon + 1, rest.length() - colon - 1)
		if digits != "" and str(digits.to_int()) == digits:
			port = digits.to_int()
	if port < 1 or port > 65535:
		return [
			null,
			"endpoint needs a host and a port 1-65535, e.g. tcp://127.0.0.1:7600, got '%s'" % endpoint
		]
	return [rest.substr(0, colon).replace("[", "").replace("]", ""), port]


static func _ascii(s):
	var b = StreamPeerBuffer.new()
	b.put_utf8_string(s)
	b.seek(0)
	return b.get_data(b.get_u32())[1]


static func greeting():
	var g = StreamPeerBuffer.new()
	g.put_u8(0xff)
	for _i in range(8):
		g.put_u8(0)
	g.put_u8(0x7f)
	g.put_u8(3)  # version major
	g.put_u8(1)  # version minor
	var mech = _ascii("NULL")
	g.put_data(mech)
	for _i in range(20 - mech.size()):
		g.put_u8(0)
	g.put_u8(0)  # as-server: no
	for _i in range(31):
		g.put_u8(0)
	return g.data_array


static func ready_body(socket_type):
	var b = StreamPeerBuffer.new()
	b.big_endian = true
	b.put_u8(5)
	b.put_data(_ascii("READY"))
	var name = _ascii("Socket-Type")
	var value = _ascii(socket_type)
	b.put_u8(name.size())
	b.put_data(name)
	b.put_u32(value.size())
	b.put_data(value)
	name = _ascii("Identity")
	b.put_u8(name.size())
	b.put_data(name)
	b.put_u32(0)
	return b.data_array


static func frame(body, flags):
	var f = StreamPeerBuffer.new()
	f.big_endian = true
	if body.size() > 255:
		f.put_u8(flags | 0x02)
		f.put_64(body.size())
	else:
		f.put_u8(flags)
		f.put_u8(body.size())
	if body.size() > 0:
		f.put_data(body)
	return f.data_array


# Start connecting; returns "" or why it cannot. Progress happens in poll().
func connect_to(endpoint):
	var hp = parse_endpoint(endpoint)
	if hp[0] == null:
		return hp[1]
	_tcp = StreamPeerTCP.new()
	var err = _tcp.connect_to_host(hp[0], hp[1])
	if err != OK:
		_fail("could not connect to %s (error %d); is the runtime running?" % [endpoint, err])
		return error
	_tcp.set_no_delay(true)
	state = STATE_CONNECTING
	return ""


func is_open():
	return state == STATE_OPEN


# Send one single-frame message (a byte array). Returns false when the connection is not open.
func send(bytes):
	if state != STATE_OPEN:
		return false
	return _write(frame(bytes, 0))


func _write(bytes):
	var err = _tcp.put_data(bytes)
	if err != OK:
		_fail("sending to the runtime failed (error %d)" % err)
		return false
	return true


func close():
	if _tcp != null:
		_tcp.disconnect_from_host()
	if state != STATE_CLOSED:
		state = STATE_CLOSED
		if error == "":
			error = "closed"


func _fail(why):
	if error == "":
		error = why
	state = STATE_CLOSED
	if _tcp != null:
		_tcp.disconnect_from_host()


# Drive the connection; returns the list of messages (byte arrays) that arrived.
func poll():
	var out = []
	if _tcp == null or state == STATE_IDLE or state == STATE_CLOSED:
		return out
	if _tcp.has_method("poll"):
		_tcp.call("poll")  # Godot 4 only: updates the status and reads the socket
	var status = _tcp.get_status()
	if state == STATE_CONNECTING:
		if status == StreamPeerTCP.STATUS_CONNECTING:
			return out
		if status != StreamPeerTCP.STATUS_CONNECTED:
			_fail("could not connect to the runtime; is it running?")
			return out
		state = STATE_GREETING
		if not _write(greeting()):
			return out
	if status != StreamPeerTCP.STATUS_CONNECTED:
		_fail("the runtime closed the connection")
		return out
	var avail = _tcp.get_available_bytes()
	if avail > 0:
		var got = _tcp.get_partial_data(avail)
		if got[0] != OK:
			_fail("reading from the runtime failed (error %d)" % got[0])
			return out
		var pos = _in.get_position()
		_in.seek(_in.get_size())
		_in.put_data(got[1])
		_in.seek(pos)
	_process_input(out)
	_compact()
	return out


func _process_input(out):
	while state != STATE_CLOSED:
		if state == STATE_GREETING:
			if _in.get_available_bytes() < 64:
				return
			var g = _in.get_data(64)[1]
			if g[0] != 0xff or (g[9] & 0x01) != 0x01:
				_fail("the peer is not a ZeroMQ socket (bad greeting signature)")
				return
			if g[10] < 3:
				_fail("the peer speaks ZMTP %d.x; ZMTP 3 is needed" % g[10])
				return
			var mech = ""
			for i in range(12, 32):
				if g[i] != 0:
					mech += char(g[i])
			if mech != "NULL":
				_fail(
					"the runtime asks for the %s security mechanism; this client only speaks NULL"
					% mech + " (no CURVE yet)"
				)
				return
			if not _write(frame(ready_body("DEALER"), 0x04)):
				return
			state = STATE_READY
			continue
		var f = _next_frame()
		if f == null:
			return
		if state == STATE_READY:
			if not f[0]:
				_fail("ZMTP: expected READY, got a message frame")
				return
			var props = parse_ready(f[2])
			if props == null:
				_fail("the runtime refused the connection: " + _command_text(f[2]))
				return
			peer_socket_type = props.get("socket-type", "")
			if peer_socket_type != "ROUTER":
				_fail("the peer is a %s socket; a DEALER talks to the runtime's ROUTER" % peer_socket_type)
				return
			state = STATE_OPEN
			continue
		if f[0]:
			_command(f[2])
			continue
		_parts.append(f[2])
		if not f[1]:
			out.append(_parts[_parts.size() - 1])
			_parts = []


# -> [is_command, more, body] or null when the whole frame has not arrived yet
func _next_frame():
	var start = _in.get_position()
	if _in.get_available_bytes() < 2:
		return null
	_in.big_endian = true
	var flags = _in.get_u8()
	var size = 0
	if flags & 0x02:
		if _in.get_available_bytes() < 8:
			_in.seek(start)
			return null
		size = _in.get_64()
	else:
		size = _in.get_u8()
	if flags & 0xf8 or size < 0 or size > MAX_FRAME:
		_fail("ZMTP: bad frame header")
		return null
	if _in.get_available_bytes() < size:
		_in.seek(start)
		return null
	var body = StreamPeerBuffer.new().data_array
	if size > 0:
		body = _in.get_data(size)[1]
	return [(flags & 0x04) != 0, (flags & 0x01) != 0, body]


func _compact():
	if _in.get_available_bytes() == 0:
		_in.clear()
	elif _in.get_position() > 65536:
		var rest = _in.get_data(_in.get_available_bytes())[1]
		_in.clear()
		_in.put_data(rest)
		_in.seek(0)


static func _command_name(body):
	if body.size() < 1 or body.size() < 1 + body[0]:
		return ""
	var name = ""
	for i in range(1, 1 + body[0]):
		name += char(body[i])
	return name


static func _command_text(body):
	var name = _command_name(body)
	var pos = 1 + name.length()
	var text = ""
	if pos < body.size():
		for i in range(pos + 1, min(body.size(), pos + 1 + body[pos])):
			text += char(body[i])
	return text


# READY body -> Dictionary of lower-cased property names -> values (as text), or null.
static func parse_ready(body):
	if _command_name(body) != "READY":
		return null
	var props = {}
	var pos = 6
	while pos < body.size():
		var nlen = body[pos]
		pos += 1
		if pos + nlen + 4 > body.size():
			return null
		var name = ""
		for i in range(pos, pos + nlen):
			name += char(body[i])
		pos += nlen
		var vlen = (body[pos] << 24) | (body[pos + 1] << 16) | (body[pos + 2] << 8) | body[pos + 3]
		pos += 4
		if pos + vlen > body.size():
			return null
		var value = ""
		for i in range(pos, pos + vlen):
			value += char(body[i])
		pos += vlen
		props[name.to_lower()] = value
	return props


func _command(body):
	var name = _command_name(body)
	if name == "PING":
		# PING: ttl (2 bytes) + context (0-16 bytes); PONG echoes the context
		var pong = StreamPeerBuffer.new()
		pong.put_u8(4)
		pong.put_data(_ascii("PONG"))
		for i in range(min(7, body.size()), min(body.size(), 7 + 16)):
			pong.put_u8(body[i])
		_write(frame(pong.data_array, 0x04))
	elif name == "ERROR":
		_fail("the runtime closed the connection: " + _command_text(body))
