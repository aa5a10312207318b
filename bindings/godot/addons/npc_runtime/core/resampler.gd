# NPC Runtime client for Godot: a streaming linear resampler (common subset of Godot 3 and 4).
#
# push(samples) takes floats at `src_rate` and returns the floats at `dst_rate` that can be made so
# far; it keeps the phase and the last sample between calls, so a stream cut into any chunks gives
# the same output as one call. Averages (box filter) when downsampling by 2 or more, against
# aliasing of the microphone's upper band.

var src_rate = 48000
var dst_rate = 16000
var _pos = 0.0  # position of the next output sample, relative to the last sample of _hist
var _hist = []  # the last input samples (the box filter and interpolation look back)


func _init(p_src_rate = 48000, p_dst_rate = 16000):
	src_rate = int(p_src_rate)
	dst_rate = int(p_dst_rate)


func reset():
	_pos = 0.0
	_hist = []


func push(samples):
	var out = []
	if samples.size() == 0:
		return out
	if src_rate == dst_rate:
		for s in samples:
			out.append(s)
		return out
	var step = float(src_rate) / float(dst_rate)
	var width = int(floor(step))  # box filter width when downsampling
	var data = []
	for s in _hist:
		data.append(s)
	for s in samples:
		data.append(s)
	var n = data.size()
	var p = _pos + max(_hist.size() - 1, 0)
	while p + 1.0 < n:
		var i = int(floor(p))
		var frac = p - i
		var v = data[i] + (data[i + 1] - data[i]) * frac
		if width >= 2:
			var acc = v
			var cnt = 1
			for k in range(1, width):
				if i - k >= 0:
					acc += data[i - k]
					cnt += 1
			v = acc / cnt
		out.append(v)
		p += step
	_pos = p - (n - 1)
	var keep = max(width, 1)
	_hist = []
	for k in range(max(0, n - keep), n):
		_hist.append(data[k])
	return out
