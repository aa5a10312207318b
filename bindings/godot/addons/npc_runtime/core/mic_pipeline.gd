# NPC Runtime client for Godot: microphone frames -> audio_chunk payloads (common subset of 3 and 4).
#
# Takes what AudioEffectCapture.get_buffer() returns (stereo Vector2 frames at the mix rate), or
# mono floats, mixes down, resamples to `out_rate` (16 kHz: what the runtime's recogniser uses),
# converts to s16le and cuts `chunk_ms` chunks (the protocol wants 20-100 ms). flush() returns the
# last partial chunk (send it before speech_end).

const Resampler = preload("res://addons/npc_runtime/core/resampler.gd")
const Pcm = preload("res://addons/npc_runtime/core/pcm.gd")

var in_rate = 44100
var out_rate = 16000
var chunk_ms = 100
var peak = 0.0  # loudest sample (0..1) since the last chunk, for a level meter
var _resampler = null
var _pending = []  # output-rate floats not yet in a chunk


func _init(p_in_rate = 44100, p_out_rate = 16000, p_chunk_ms = 100):
	in_rate = int(p_in_rate)
	out_rate = int(p_out_rate)
	chunk_ms = int(p_chunk_ms)
	_resampler = Resampler.new(in_rate, out_rate)


func chunk_samples():
	return int(out_rate * chunk_ms / 1000)


func reset():
	_resampler.reset()
	_pending = []


# Vector2 frames (stereo) -> Array of complete chunks (s16le byte arrays)
func push_frames(frames):
	var mono = []
	mono.resize(frames.size())
	for i in range(frames.size()):
		var f = frames[i]
		mono[i] = (f.x + f.y) * 0.5
	return push_mono(mono)


func push_mono(samples):
	for s in _resampler.push(samples):
		_pending.append(s)
		if abs(s) > peak:
			peak = abs(s)
	var out = []
	var n = chunk_samples()
	while _pending.size() >= n:
		var part = []
		part.resize(n)
		for i in range(n):
			part[i] = _pending[i]
		_pending = _tail(_pending, n)
		out.append(Pcm.from_floats(part))
	return out


# The last partial chunk (maybe empty bytes).
func flush():
	var b = Pcm.from_floats(_pending)
	_pending = []
	return b


static func _tail(a, from):
	var out = []
	out.resize(a.size() - from)
	for i in range(out.size()):
		out[i] = a[from + i]
	return out
