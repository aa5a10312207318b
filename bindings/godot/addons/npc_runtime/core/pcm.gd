# NPC Runtime client for Godot: s16le PCM helpers and a WAV parser (common subset of Godot 3 and 4).
#
# Byte arrays are only made through StreamPeerBuffer (PoolByteArray in 3, PackedByteArray in 4).


# s16le bytes -> Array of floats in [-1, 1)
static func to_floats(pcm):
	var b = StreamPeerBuffer.new()
	b.big_endian = false
	b.data_array = pcm
	var out = []
	out.resize(pcm.size() / 2)
	for i in range(out.size()):
		out[i] = b.get_16() / 32768.0
	return out


# Array of floats (clipped to [-1, 1]) -> s16le bytes
static func from_floats(samples):
	var b = StreamPeerBuffer.new()
	b.big_endian = false
	for s in samples:
		var v = int(round(s * 32767.0))
		b.put_16(clamp(v, -32768, 32767))
	return b.data_array


static func duration_ms(pcm, rate):
	return 1000.0 * (pcm.size() / 2) / float(rate)


# A RIFF/WAVE file's bytes -> {"rate": int, "channels": int, "pcm": s16le mono bytes} or
# {"error": "why"}. Only 16-bit PCM; several channels are mixed down to mono.
static func parse_wav(bytes):
	var b = StreamPeerBuffer.new()
	b.big_endian = false
	b.data_array = bytes
	if bytes.size() < 12 or b.get_data(4)[1].get_string_from_ascii() != "RIFF":
		return {"error": "not a RIFF file"}
	b.get_u32()
	if b.get_data(4)[1].get_string_from_ascii() != "WAVE":
		return {"error": "not a WAVE file"}
	var rate = 0
	var channels = 0
	var bits = 0
	while b.get_available_bytes() >= 8:
		var id = b.get_data(4)[1].get_string_from_ascii()
		var size = b.get_u32()
		if size > b.get_available_bytes():
			return {"error": "truncated chunk " + id}
		if id == "fmt ":
			var fmt = b.get_u16()
			channels = b.get_u16()
			rate = b.get_u32()
			b.get_u32()
			b.get_u16()
			bits = b.get_u16()
			if fmt != 1 or bits != 16:
				return {"error": "only 16-bit PCM WAV is supported (format %d, %d bits)" % [fmt, bits]}
			b.seek(b.get_position() + size - 16)
		elif id == "data":
			if rate == 0:
				return {"error": "data chunk before fmt chunk"}
			var data = b.get_data(size)[1]
			if channels == 1:
				return {"rate": rate, "channels": 1, "pcm": data}
			var inp = StreamPeerBuffer.new()
			inp.big_endian = false
			inp.data_array = data
			var out = StreamPeerBuffer.new()
			out.big_endian = false
			for _i in range(data.size() / (2 * channels)):
				var acc = 0
				for _c in range(channels):
					acc += inp.get_16()
				out.put_16(acc / channels)
			return {"rate": rate, "channels": channels, "pcm": out.data_array}
		else:
			b.seek(b.get_position() + size + (size % 2))
	return {"error": "no data chunk"}
