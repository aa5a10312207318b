# NPC Runtime client for Godot: the NPC voice's playback model (common subset of Godot 3 and 4).
#
# A queue of the NPC's audio (npc_audio chunks, s16le at the TTS rate) on ONE frame clock: frames
# are taken by the audio output (take()) and reported played by it (update(played_frames)), so
# what the player heard is known exactly. From the played position it derives, in order:
#   ["started", turn]                      -> send playback_started
#   ["subtitle", turn, text]               -> the words of a chunk, when that chunk starts sounding
#   ["viseme", turn, value, kind]          -> lip-sync keys on the audio clock
#   ["finished", turn, played_ms, stopped] -> send playback_report (finished)
# turn = {"conversation_id", "turn_id", "npc_id"}. stop() flushes everything not yet played
# (stop_playback) and finishes the turns that were sounding with what was really played.

const Pcm = preload("res://addons/npc_runtime/core/pcm.gd")

var rate = 22050
var _chunks = []  # [start_frame, pcm_bytes, turn_key]; pcm not yet taken
var _take_chunk_offset = 0  # frames of _chunks[0] already taken
var _end = 0  # frame after the last queued frame
var _taken = 0  # frames handed to the output
var _played = 0  # frames the output reports as played
var _turns = {}  # key -> {conversation_id, turn_id, npc_id, start, frames, ended, started, finished}
var _order = []  # turn keys in queue order
var _keys = []  # [frame, kind, key, a, b]: subtitles and visemes, sorted by frame
var _done = {}  # keys of finished turns: late audio or npc_audio_end for them is dropped
var _done_order = []


func _init(p_rate = 22050):
	rate = int(p_rate)


static func turn_key(conversation_id, turn_id):
	return str(conversation_id) + "#" + str(turn_id)


func queued_frames():
	return _end - _taken


func played_frames():
	return _played


func is_playing():
	for k in _order:
		if not _turns[k]["finished"]:
			return true
	return false


func turn_played_ms(conversation_id, turn_id):
	var k = turn_key(conversation_id, turn_id)
	if not _turns.has(k):
		return 0.0
	return _ms(clamp(_played - _turns[k]["start"], 0, _turns[k]["frames"]))


func _ms(frames):
	return 1000.0 * frames / float(rate)


# An npc_audio message (parsed). Returns "" or why it was refused.
func add_chunk(msg):
	if int(msg["sample_rate"]) != rate:
		return "npc_audio at %d Hz; this player was set up for %d Hz" % [int(msg["sample_rate"]), rate]
	var k = turn_key(msg["conversation_id"], msg["turn_id"])
	if _done.has(k):
		return ""  # the turn was stopped: its late audio is not played
	if not _turns.has(k):
		_turns[k] = {
			"conversation_id": msg["conversation_id"], "turn_id": int(msg["turn_id"]),
			"npc_id": msg.get("npc_id", ""), "start": _end, "frames": 0, "ended": false,
			"started": false, "finished": false
		}
		if not k in _order:
			_order.append(k)
	var t = _turns[k]
	var pcm = msg["pcm"]
	var n = pcm.size() / 2
	var start = _end
	if n > 0:
		_chunks.append([start, pcm, k])
	_end += n
	t["frames"] += n
	var text = msg.get("text")
	if text != null and str(text) != "":
		_add_key(start, "subtitle", k, str(text), null)
	var kind = str(msg.get("viseme_kind", "viseme"))
	for v in msg.get("visemes", []):
		if typeof(v) == TYPE_ARRAY and v.size() >= 2:
			var at = start + int(round(float(v[0]) * rate / 1000.0))
			_add_key(min(at, start + max(n - 1, 0)), "viseme", k, v[1], kind)
	return ""


func _add_key(frame, kind, k, a, b):
	var i = _keys.size()
	while i > 0 and _keys[i - 1][0] > frame:
		i -= 1
	_keys.insert(i, [frame, kind, k, a, b])


# npc_audio_end: the turn has all its audio.
func end_turn(conversation_id, turn_id):
	var k = turn_key(conversation_id, turn_id)
	if _done.has(k):
		return
	if _turns.has(k):
		_turns[k]["ended"] = true
	else:  # a turn without audio: nothing to play, report it finished at once
		_turns[k] = {
			"conversation_id": conversation_id, "turn_id": int(turn_id), "npc_id": "",
			"start": _end, "frames": 0, "ended": true, "started": false, "finished": false
		}
		_order.append(k)


# Up to `max_frames` frames (floats in [-1, 1)) for the output, in order.
func take(max_frames):
	var out = []
	while out.size() < max_frames and _chunks.size() > 0:
		var c = _chunks[0]
		var total = c[1].size() / 2
		var n = min(total - _take_chunk_offset, max_frames - out.size())
		var part = c[1]
		if _take_chunk_offset > 0 or n < total:
			var b = StreamPeerBuffer.new()
			b.data_array = c[1]
			b.seek(_take_chunk_offset * 2)
			part = b.get_data(n * 2)[1]
		for s in Pcm.to_floats(part):
			out.append(s)
		_take_chunk_offset += n
		if _take_chunk_offset >= total:
			_chunks.pop_front()
			_take_chunk_offset = 0
	_taken += out.size()
	return out


# The output has played `played` frames in all (monotonic). Returns the events (see top).
func update(played):
	var events = []
	_played = clamp(max(_played, played), 0, _taken)
	for k in _order:
		var t = _turns[k]
		if not t["started"] and t["frames"] > 0 and _played > t["start"]:
			t["started"] = true
			events.append(["started", _turn(t)])
	while _keys.size() > 0 and _keys[0][0] < _played:
		var key = _keys.pop_front()
		if key[1] == "subtitle":
			events.append(["subtitle", _turn(_turns[key[2]]), key[3]])
		else:
			events.append(["viseme", _turn(_turns[key[2]]), key[3], key[4]])
	for k in _order:
		var t = _turns[k]
		if not t["finished"] and t["ended"] and _played >= t["start"] + t["frames"]:
			t["finished"] = true
			events.append(["finished", _turn(t), _ms(t["frames"]), false])
	_forget_finished()
	return events


# stop_playback (or the game's own stop): everything not yet played is dropped. Returns the
# events of the turns this ends: ["finished", turn, played_ms, true] (the turn's own audio that
# was really played) for each unfinished turn of `conversation_id` (every conversation if null).
func stop(conversation_id = null):
	var events = []
	var kept = []
	for c in _chunks:
		var t = _turns[c[2]]
		if conversation_id == null or t["conversation_id"] == conversation_id:
			continue
		kept.append(c)
	_chunks = kept
	_take_chunk_offset = 0
	var keys = []
	for key in _keys:
		var t = _turns[key[2]]
		if conversation_id == null or t["conversation_id"] == conversation_id:
			continue
		keys.append(key)
	_keys = keys
	for k in _order:
		var t = _turns[k]
		if t["finished"] or (conversation_id != null and t["conversation_id"] != conversation_id):
			continue
		var played = clamp(_played - t["start"], 0, t["frames"])
		t["frames"] = played
		t["finished"] = true
		t["ended"] = true
		if played > 0 and not t["started"]:
			t["started"] = true
			events.append(["started", _turn(t)])
		events.append(["finished", _turn(t), _ms(played), true])
	# the output drops what it had queued: the clock restarts from what was played
	_taken = _played
	_end = _played
	var restart = _played
	for c in _chunks:
		c[0] = restart
		restart += c[1].size() / 2
	_end = restart
	for k in _order:  # turns of other conversations follow on
		for c in _chunks:
			if c[2] == k:
				_turns[k]["start"] = c[0]
				break
	_forget_finished()
	return events


# The conversation moved to another runtime worker (warning conversation_moved): its unfinished
# turn runs again with the same ids. Drops its queued audio without reports (the attempt was
# abandoned) and forgets that its turns were done, so the new attempt's audio plays.
func reset_conversation(conversation_id):
	stop(conversation_id)
	var prefix = str(conversation_id) + "#"
	for k in _done.keys():
		if k.begins_with(prefix):
			_done.erase(k)
	var order = []
	for k in _done_order:
		if _done.has(k):
			order.append(k)
	_done_order = order


func _turn(t):
	return {"conversation_id": t["conversation_id"], "turn_id": t["turn_id"], "npc_id": t["npc_id"]}


func _forget_finished():
	var order = []
	for k in _order:
		if _turns[k]["finished"]:
			_turns.erase(k)
			_done[k] = true
			_done_order.append(k)
			if _done_order.size() > 64:
				_done.erase(_done_order.pop_front())
		else:
			order.append(k)
	_order = order
