# NPC Runtime client for Godot: a minimal msgpack codec (no plugin, no GDNative).
#
# Written in the common subset of Godot 3 and Godot 4 GDScript: byte arrays are only ever made by
# StreamPeerBuffer (PoolByteArray in 3, PackedByteArray in 4), type ids are compared with typeof()
# of sample values, no yield/await, no class_name. Load it with preload():
#     const MsgPack = preload("res://addons/npc_runtime/core/msgpack.gd")
#     var bytes = MsgPack.encode({"type": "ping"})
#     var result = MsgPack.decode(bytes)   # [value, ""] or [null, "what is wrong"]
#
# Mapping: nil <-> null, bool, int (64-bit; uint64 above 2^63 wraps), float32/64 -> float
# (floats are written as float64, ints in their smallest form, like Python's msgpack, so
# re-encoding a decoded message gives the same bytes), str <-> String, bin <-> byte array,
# array <-> Array, map <-> Dictionary (string keys; insertion order = wire order).
# Ext types are refused.

const MAX_DEPTH = 64


static func _t_float():
	return typeof(1.5)


static func _t_bytes():
	return typeof(StreamPeerBuffer.new().data_array)


static func _is_string(v):
	# Godot 4 may hand over StringName (type 21 there; 21 is Transform in Godot 3, whose
	# TYPE_DICTIONARY is 18 instead of 27)
	return typeof(v) == TYPE_STRING or (TYPE_DICTIONARY != 18 and typeof(v) == 21)


static func utf8(s):
	# String -> UTF-8 bytes (to_utf8 in Godot 3, to_utf8_buffer in Godot 4)
	var b = StreamPeerBuffer.new()
	b.put_utf8_string(str(s))
	b.seek(0)
	var n = b.get_u32()
	return b.get_data(n)[1]


static func empty_bytes():
	return StreamPeerBuffer.new().data_array


# ---------------------------------------------------------------------------------- encoding
static func encode(value):
	var out = StreamPeerBuffer.new()
	out.big_endian = true
	var err = _write(out, value, 0)
	if err != "":
		push_error("msgpack: " + err)
		return empty_bytes()
	return out.data_array


# Like encode, but returns [bytes, ""] or [empty, "why"] instead of logging.
static func encode_checked(value):
	var out = StreamPeerBuffer.new()
	out.big_endian = true
	var err = _write(out, value, 0)
	if err != "":
		return [empty_bytes(), err]
	return [out.data_array, ""]


static func _write(out, v, depth):
	if depth > MAX_DEPTH:
		return "value nested too deeply"
	var t = typeof(v)
	if t == TYPE_NIL:
		out.put_u8(0xc0)
	elif t == TYPE_BOOL:
		out.put_u8(0xc3 if v else 0xc2)
	elif t == TYPE_INT:
		_write_int(out, v)
	elif t == _t_float():
		out.put_u8(0xcb)
		out.put_double(v)
	elif _is_string(v):
		var b = utf8(v)
		var n = b.size()
		if n <= 31:
			out.put_u8(0xa0 | n)
		elif n <= 0xff:
			out.put_u8(0xd9)
			out.put_u8(n)
		elif n <= 0xffff:
			out.put_u8(0xda)
			out.put_u16(n)
		else:
			out.put_u8(0xdb)
			out.put_u32(n)
		out.put_data(b)
	elif t == _t_bytes():
		var n = v.size()
		if n <= 0xff:
			out.put_u8(0xc4)
			out.put_u8(n)
		elif n <= 0xffff:
			out.put_u8(0xc5)
			out.put_u16(n)
		else:
			out.put_u8(0xc6)
			out.put_u32(n)
		out.put_data(v)
	elif t == TYPE_ARRAY:
		_write_header(out, v.size(), 0x90, 0xdc, 0xdd)
		for item in v:
			var err = _write(out, item, depth + 1)
			if err != "":
				return err
	elif t == TYPE_DICTIONARY:
		_write_header(out, v.size(), 0x80, 0xde, 0xdf)
		for k in v.keys():
			if not _is_string(k):
				return "map keys must be strings, got " + str(k)
			var err = _write(out, str(k), depth + 1)
			if err == "":
				err = _write(out, v[k], depth + 1)
			if err != "":
				return err
	else:
		return "cannot encode a value of type " + str(t) + " (" + str(v) + ")"
	return ""


static func _write_header(out, n, fix, b16, b32):
	if n <= 15:
		out.put_u8(fix | n)
	elif n <= 0xffff:
		out.put_u8(b16)
		out.put_u16(n)
	else:
		out.put_u8(b32)
		out.put_u32(n)


static func _write_int(out, n):
	if n >= 0:
		if n <= 0x7f:
			out.put_u8(n)
		elif n <= 0xff:
			out.put_u8(0xcc)
			out.put_u8(n)
		elif n <= 0xffff:
			out.put_u8(0xcd)
			out.put_u16(n)
		elif n <= 0xffffffff:
			out.put_u8(0xce)
			out.put_u32(n)
		else:
			out.put_u8(0xcf)
			out.put_64(n)
	else:
		if n >= -32:
			out.put_8(n)
		elif n >= -128:
			out.put_u8(0xd0)
			out.put_8(n)
		elif n >= -32768:
			out.put_u8(0xd1)
			out.put_16(n)
		elif n >= -2147483648:
			out.put_u8(0xd2)
			out.put_32(n)
		else:
			out.put_u8(0xd3)
			out.put_64(n)


# ---------------------------------------------------------------------------------- decoding
# Decode exactly one value. Returns [value, ""] or [null, "what is wrong"].
static func decode(bytes):
	var inp = StreamPeerBuffer.new()
	inp.big_endian = true
	inp.data_array = bytes
	var err = [""]
	var v = _read(inp, err, 0)
	if err[0] == "" and inp.get_available_bytes() > 0:
		err[0] = str(inp.get_available_bytes()) + " extra bytes after the value"
	if err[0] != "":
		return [null, err[0]]
	return [v, ""]


# Decode a message: a map. Returns [Dictionary, ""] or [null, "what is wrong"].
static func decode_map(bytes):
	var r = decode(bytes)
	if r[1] == "" and typeof(r[0]) != TYPE_DICTIONARY:
		return [null, "a message must be a map"]
	return r


static func _need(inp, err, n):
	if err[0] != "":
		return false
	if n < 0 or inp.get_available_bytes() < n:
		err[0] = "truncated data"
		return false
	return true


static func _read(inp, err, depth):
	if depth > MAX_DEPTH:
		err[0] = "value nested too deeply"
		return null
	if not _need(inp, err, 1):
		return null
	var b = inp.get_u8()
	if b <= 0x7f:
		return b
	if b >= 0xe0:
		return b - 256
	if (b & 0xe0) == 0xa0:
		return _read_str(inp, err, b & 0x1f)
	if (b & 0xf0) == 0x90:
		return _read_array(inp, err, b & 0x0f, depth)
	if (b & 0xf0) == 0x80:
		return _read_map(inp, err, b & 0x0f, depth)
	match b:
		0xc0:
			return null
		0xc2:
			return false
		0xc3:
			return true
		0xc4:
			if _need(inp, err, 1):
				return _read_bin(inp, err, inp.get_u8())
		0xc5:
			if _need(inp, err, 2):
				return _read_bin(inp, err, inp.get_u16())
		0xc6:
			if _need(inp, err, 4):
				return _read_bin(inp, err, inp.get_u32())
		0xca:
			if _need(inp, err, 4):
				return inp.get_float()
		0xcb:
			if _need(inp, err, 8):
				return inp.get_double()
		0xcc:
			if _need(inp, err, 1):
				return inp.get_u8()
		0xcd:
			if _need(inp, err, 2):
				return inp.get_u16()
		0xce:
			if _need(inp, err, 4):
				return inp.get_u32()
		0xcf:
			if _need(inp, err, 8):
				return inp.get_64()
		0xd0:
			if _need(inp, err, 1):
				return inp.get_8()
		0xd1:
			if _need(inp, err, 2):
				return inp.get_16()
		0xd2:
			if _need(inp, err, 4):
				return inp.get_32()
		0xd3:
			if _need(inp, err, 8):
				return inp.get_64()
		0xd9:
			if _need(inp, err, 1):
				return _read_str(inp, err, inp.get_u8())
		0xda:
			if _need(inp, err, 2):
				return _read_str(inp, err, inp.get_u16())
		0xdb:
			if _need(inp, err, 4):
				return _read_str(inp, err, inp.get_u32())
		0xdc:
			if _need(inp, err, 2):
				return _read_array(inp, err, inp.get_u16(), depth)
		0xdd:
			if _need(inp, err, 4):
				return _read_array(inp, err, inp.get_u32(), depth)
		0xde:
			if _need(inp, err, 2):
				return _read_map(inp, err, inp.get_u16(), depth)
		0xdf:
			if _need(inp, err, 4):
				return _read_map(inp, err, inp.get_u32(), depth)
		_:
			err[0] = "unsupported type byte 0x%02x" % b
	return null


static func _read_str(inp, err, n):
	if not _need(inp, err, n):
		return null
	if n == 0:
		return ""
	return inp.get_utf8_string(n)


static func _read_bin(inp, err, n):
	if not _need(inp, err, n):
		return null
	if n == 0:
		return empty_bytes()
	return inp.get_data(n)[1]


static func _read_array(inp, err, n, depth):
	if not _need(inp, err, n):  # every element takes at least one byte
		return null
	var a = []
	for _i in range(n):
		var v = _read(inp, err, depth + 1)
		if err[0] != "":
			return null
		a.append(v)
	return a


static func _read_map(inp, err, n, depth):
	if not _need(inp, err, n * 2):
		return null
	var m = {}
	for _i in range(n):
		var k = _read(inp, err, depth + 1)
		if err[0] != "":
			return null
		if typeof(k) != TYPE_STRING:
			err[0] = "map keys must be strings"
			return null
		var v = _read(inp, err, depth + 1)
		if err[0] != "":
			return null
		m[k] = v
	return m
