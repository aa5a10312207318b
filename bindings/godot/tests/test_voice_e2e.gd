# Godot 3 headless end-to-end test of the voice addon against a REAL `npc-runtime serve`, which this
# script starts (and restarts) itself with OS.execute, on loopback. Run by bindings/run_tests.sh:
#   NPC_RUNTIME_PYTHON  a Python with npc_runtime installed      NPC_RUNTIME_REPO  the repository
#   NPC_GODOT_WORK      a scratch folder, holding wolves.wav and human.wav (tests/make_recordings.py)
# What runs is the addon itself, driven by the SceneTree's frames as in a game: NpcRuntimeConnection
# (polling, parsing, reconnect) and NpcVoice (mic pipeline, AudioStreamGenerator playback on the
# AudioServer's clock: godot3-server mixes in real time with its dummy audio driver, so playback
# here takes as long as it would on speakers). The one stand-in: Godot 3.2 has no
# AudioEffectCapture, so the recordings go in through NpcVoice.feed_microphone_mono(), the same
# resampling/chunking path the capture bus uses, at real-time pace.

extends SceneTree

const Pcm = preload("res://addons/npc_runtime/core/pcm.gd")
const Support = preload("res://tests/support.gd")
const Connection = preload("res://addons/npc_runtime/npc_runtime_connection.gd")
const Voice = preload("res://addons/npc_runtime/npc_voice.gd")

var t = Support.new("voice_e2e")
var events = []  # [signal name, args...] in order
var pid = -1
var port = 0
var py = ""
var repo = ""
var work = ""
var conn = null
var voice = null


func _initialize():
	Engine.target_fps = 120  # a game's frame pacing; also keeps the headless loop from spinning
	py = Support.env("NPC_RUNTIME_PYTHON", "")
	repo = Support.env("NPC_RUNTIME_REPO", "")
	work = Support.env("NPC_GODOT_WORK", "")
	if t.check(py != "" and repo != "" and work != "", "NPC_RUNTIME_PYTHON, NPC_RUNTIME_REPO and NPC_GODOT_WORK are set"):
		run()
	else:
		done()


func done():
	if pid > 0:
		OS.kill(pid)
	t.finish(self)


func rec1(a, name):
	events.append([name, a])


func rec2(a, b, name):
	events.append([name, a, b])


func rec3(a, b, c, name):
	events.append([name, a, b, c])


func named(name):
	var out = []
	for e in events:
		if e[0] == name:
			out.append(e)
	return out


func now_s():
	return OS.get_ticks_msec() / 1000.0


func free_port():
	var server = TCP_Server.new()
	for i in range(200):
		var p = 20000 + (OS.get_process_id() * 7 + i * 131) % 30000
		if server.listen(p, "127.0.0.1") == OK:
			server.stop()
			return p
	return 0


func start_runtime():
	var cmd = ("exec env NPC_RUNTIME_HEARTBEAT_INTERVAL=0.5 NPC_RUNTIME_CLIENT_TIMEOUT=5.0 '%s' -m npc_runtime.cli serve"
		+ " --bind tcp://127.0.0.1:%d --personas '%s/personas' --db '%s/voice-runtime.sqlite3' >> '%s/voice-runtime.log' 2>&1") % [py, port, repo, work, work]
	pid = OS.execute("/bin/sh", ["-c", cmd], false)
	return pid > 0


func read_wav(path):
	var f = File.new()
	if f.open(path, File.READ) != OK:
		return {"error": "cannot open " + path}
	var bytes = f.get_buffer(f.get_len())
	f.close()
	return Pcm.parse_wav(bytes)


func zeros(n):
	var a = []
	a.resize(n)
	for i in range(n):
		a[i] = 0.0
	return a


# Stream a recording into the voice node at real-time pace, one frame's worth at a time.
func speak(wav):
	return speak_to(voice, wav)


func speak_to(node, wav):
	var samples = Pcm.to_floats(wav["pcm"])
	var rate = wav["rate"]
	var start = now_s()
	var fed = 0
	while fed < samples.size():
		var due = min(samples.size(), int((now_s() - start) * rate))
		if due > fed:
			var part = []
			for i in range(fed, due):
				part.append(samples[i])
			node.feed_microphone_mono(part, rate)
			fed = due
		yield(self, "idle_frame")
	return now_s() - start


func run():
	var wolves = read_wav(work + "/wolves.wav")
	var human = read_wav(work + "/human.wav")
	if not t.check(not wolves.has("error") and not human.has("error"), "the recordings load", [wolves.get("error"), human.get("error")]):
		return done()
	port = free_port()
	if not t.check(port > 0 and start_runtime(), "the runtime process starts", port):
		return done()

	conn = Connection.new()
	conn.name = "NpcRuntime"
	conn.endpoint = "tcp://127.0.0.1:%d" % port
	conn.client_name = "godot-voice-e2e"
	conn.policy.initial_s = 0.2
	conn.policy.max_s = 1.0
	for s in ["connected", "disconnected", "reconnecting", "stop_playback", "npc_audio", "npc_audio_end", "memory_results", "turn_metrics", "runtime_error"]:
		if s == "reconnecting":
			conn.connect(s, self, "rec2", [s])
		else:
			conn.connect(s, self, "rec1", [s])
	conn.connect("conversation_restarted", self, "rec3", ["conversation_restarted"])
	root.add_child(conn)  # connects on ready; retries (backoff) until the runtime listens

	voice = Voice.new()
	voice.connection = conn
	voice.npc_id = "bram"
	voice.player_id = "hero"
	voice.mode = "push_to_talk"
	voice.greet = false
	voice.use_microphone = false
	for s in ["conversation_started", "subtitle", "playback_started", "talking_changed", "audio_ready"]:
		voice.connect(s, self, "rec1", [s])
	for s in ["viseme", "npc_line"]:
		voice.connect(s, self, "rec2", [s])
	voice.connect("conversation_restarted", self, "rec2", ["voice_restarted"])
	for s in ["transcript", "playback_finished", "npc_action"]:
		voice.connect(s, self, "rec3", [s])
	root.add_child(voice)
	var mouth = Support.recorder()
	var lips = load("res://addons/npc_runtime/npc_lip_sync.gd").new()
	lips.voice = voice
	lips.mesh = mouth
	root.add_child(lips)
	var mic_err = voice.open_microphone()
	t.check(mic_err.find("AudioEffectCapture") >= 0 or mic_err == "", "open_microphone says what it needs where capture is missing", mic_err)

	var deadline = now_s() + 150.0  # the runtime's imports take long on a loaded machine
	while named("connected").size() == 0 and now_s() < deadline:
		yield(self, "idle_frame")
	if not t.check(named("connected").size() == 1, "the connection node connects (retrying until the runtime listens)", conn.client.error):
		return done()
	t.check(named("reconnecting").size() >= 1, "it retried with backoff while the runtime started", named("reconnecting").size())

	# s2s: a profile this runtime does not have is refused (invalid_fields); "none" (the cascade) is
	# what the voice node asks for below
	var bad = conn.start_conversation(["bram"], "hero", "push_to_talk", false, null, "no_such_profile")
	deadline = now_s() + 20.0
	while named("runtime_error").size() == 0 and now_s() < deadline:
		yield(self, "idle_frame")
	var refused = named("runtime_error")
	t.check(refused.size() == 1 and refused[0][1]["code"] == "invalid_fields" and refused[0][1].get("ref") == bad
		and refused[0][1]["message"].find("no_such_profile") >= 0, "an unknown s2s profile is refused by the runtime", refused)
	voice.s2s = "none"
	voice.start_conversation()
	deadline = now_s() + 20.0
	while named("audio_ready").size() == 0 and now_s() < deadline:
		yield(self, "idle_frame")
	if not t.check(named("conversation_started").size() == 1 and named("audio_ready").size() == 1, "push-to-talk conversation started, audio_start answered"):
		return done()
	var cid = voice.conversation_id
	t.check(named("audio_ready")[0][1]["tts_sample_rate"] == voice.tts_rate, "the player runs at the announced TTS rate", voice.tts_rate)

	# ---- turn 1: the player asks (recording streamed at real-time pace with the talk key held)
	voice.talk_begin()
	var took = yield(speak(wolves), "completed")
	voice.talk_end()
	var wolves_s = wolves["pcm"].size() / 2.0 / wolves["rate"]
	t.check(took >= wolves_s * 0.95, "the recording was streamed at real-time pace", [took, wolves_s])
	t.check(voice.chunks_sent >= int(wolves_s * 10), "it went out as 100 ms audio_chunks at 16 kHz", voice.chunks_sent)

	# the NPC answers; its audio plays on the generator; barge in once 1.2 s have been played
	deadline = now_s() + 60.0
	var turn = -1
	while now_s() < deadline:
		if turn < 0 and named("npc_audio").size() > 0:
			turn = named("npc_audio")[0][1]["turn_id"]
		if turn >= 0 and voice.playback.turn_played_ms(cid, turn) >= 1200.0:
			break
		yield(self, "idle_frame")
	var finals = []
	for e in named("transcript"):
		if e[2]:
			finals.append(e[1])
	t.check(finals.size() >= 1 and finals[0].to_lower().find("about the wolves") >= 0, "the final transcript of the recording arrives", finals)
	if not t.check(turn >= 0 and voice.playback.turn_played_ms(cid, turn) >= 1200.0, "the NPC's answer streams in and plays", turn):
		return done()
	t.check(named("playback_started").size() == 1 and named("playback_started")[0][1] == turn, "playback_started for the turn", named("playback_started"))
	var words = []
	for e in named("subtitle"):
		words.append(e[1])
	t.check(words.size() >= 2 and words[0] == "Big" and words[1] == "grey", "subtitles come word by word on the audio clock", words)
	var vis = named("viseme")
	t.check(vis.size() >= 5 and vis[0][2] == "viseme", "visemes come on the audio clock", vis.size())
	var opened = 0
	for k in mouth.peak.keys():
		if k != "blend_shapes/viseme_sil" and mouth.peak[k] > 0.5:
			opened += 1
	t.check(opened >= 3, "NpcLipSync moved the mouth's blend shapes while Bram spoke", mouth.peak)

	# ---- barge-in: the talk key goes down while Bram speaks
	var before = events.size()
	voice.talk_begin()
	var human_took = yield(speak(human), "completed")
	voice.talk_end()
	deadline = now_s() + 10.0
	while named("playback_finished").size() == 0 and now_s() < deadline:
		yield(self, "idle_frame")
	t.check(named("stop_playback").size() >= 1 and named("stop_playback")[0][1]["turn_id"] == turn, "the runtime sends stop_playback for the turn", named("stop_playback"))
	var fin = named("playback_finished")
	if not t.check(fin.size() == 1 and fin[0][1] == turn and fin[0][3] == true, "playback stops at once and is reported as stopped", fin):
		return done()
	var played_ms = fin[0][2]
	print("figures: barge-in after %.1f ms of the answer played" % played_ms)
	t.check(played_ms >= 1200.0 and played_ms < 3000.0, "the report holds what was really played", played_ms)
	t.check(voice.reports_sent.size() == 1 and voice.reports_sent[0][1] == played_ms, "one playback_report went out", voice.reports_sent)
	t.check(voice.playback.queued_frames() == 0, "the rest of the answer was flushed")

	# the interruption is the next turn: transcribed, answered, played to the end and reported
	deadline = now_s() + 60.0
	while now_s() < deadline and named("playback_finished").size() < 2:
		yield(self, "idle_frame")
	fin = named("playback_finished")
	var ends = named("npc_audio_end")
	var second_final = null
	for e in named("transcript"):
		if e[2] and e[3]["utterance"] >= 2:
			second_final = e[3]
	t.check(second_final != null, "the barge-in recording is transcribed as utterance 2", second_final)
	if t.check(fin.size() == 2 and fin[1][3] == false, "the second answer plays to the end", fin):
		var end_ms = -1.0
		for e in ends:
			if e[1]["turn_id"] == fin[1][1]:
				end_ms = e[1]["duration_ms"]
		t.check(abs(fin[1][2] - end_ms) < 1.0, "its report says all of npc_audio_end's duration was played", [fin[1][2], end_ms])
	t.check(named("turn_metrics").size() >= 1, "turn_metrics arrive")

	# ---- the NPC's memory holds only what was played of the interrupted line
	var full = ""
	for e in named("npc_line"):
		if e[2]["turn_id"] == turn:
			full = e[1]
	var said = []
	deadline = now_s() + 20.0
	while said.size() == 0 and now_s() < deadline:
		var id = conn.request(Connection.protocol().memory_query(null, "bram", "grey wolf leads the pack", 20))
		var got = null
		var until = now_s() + 5.0
		while got == null and now_s() < until:
			for e in named("memory_results"):
				if e[1].get("ref") == id:
					got = e[1]
			yield(self, "idle_frame")
		if got != null:
			for m in got["memories"]:
				if m["kind"] == "said" and m["text"].find("Big grey") >= 0:
					said.append(m["text"])
	t.check(full.begins_with("Big grey one leads them."), "the interrupted line is Bram's wolves line", full)
	t.check(said.size() == 1, "Bram remembers saying the interrupted line once", said)
	if said.size() == 1:
		print("figures: the memory holds '%s' of '%s'" % [said[0], full])
		t.check(full.begins_with(said[0]) and said[0].length() < full.length(), "memory holds only the words that were played", [said[0], played_ms])
		t.check(said[0].find("scatters") < 0, "the unplayed last sentence is not remembered", said[0])

	# ---- hands-free: a second NPC on the same connection hears the player without a talk key
	var mira = Voice.new()
	mira.connection = conn
	mira.npc_id = "mira"
	mira.player_id = "hero"
	mira.mode = "hands_free"
	mira.greet = false
	mira.use_microphone = false
	mira.connect("audio_ready", self, "rec1", ["mira_ready"])
	mira.connect("transcript", self, "rec3", ["mira_transcript"])
	mira.connect("playback_finished", self, "rec3", ["mira_finished"])
	mira.connect("conversation_restarted", self, "rec2", ["voice_restarted"])
	root.add_child(mira)
	mira.start_conversation()
	deadline = now_s() + 20.0
	while named("mira_ready").size() == 0 and now_s() < deadline:
		yield(self, "idle_frame")
	if t.check(named("mira_ready").size() == 1, "a hands-free conversation starts beside the first"):
		var silence = {"rate": 16000, "pcm": Pcm.from_floats(zeros(9600))}  # 0.6 s
		yield(speak_to(mira, silence), "completed")
		yield(speak_to(mira, wolves), "completed")
		deadline = now_s() + 60.0
		while named("mira_finished").size() == 0 and now_s() < deadline:
			yield(speak_to(mira, silence), "completed")  # the microphone keeps streaming
		var heard = null
		for e in named("mira_transcript"):
			if e[2]:
				heard = e[3]
		t.check(heard != null and heard["used"] and heard["text"].to_lower().find("about the wolves") >= 0,
			"hands-free: the end of the player's turn is detected and transcribed", heard)
		var mf = named("mira_finished")
		t.check(mf.size() == 1 and mf[0][3] == false and mf[0][2] > 500.0, "hands-free: mira's answer is played to the end and reported", mf)

	# ---- the runtime restarts: the node reconnects, says hello again and restarts the conversations
	var connects = named("connected").size()
	OS.kill(pid)
	pid = -1
	deadline = now_s() + 20.0
	while named("disconnected").size() == 0 and now_s() < deadline:
		yield(self, "idle_frame")
	t.check(named("disconnected").size() == 1, "the lost connection is reported", conn.client.error)
	t.check(start_runtime(), "the runtime starts again on the same port")
	var open = conn.conversations.size()
	deadline = now_s() + 150.0
	while named("voice_restarted").size() < open and now_s() < deadline:
		yield(self, "idle_frame")
	t.check(named("connected").size() == connects + 1 and conn.reconnects == 1, "a new hello was welcomed", conn.reconnects)
	var rs = named("conversation_restarted")
	var mine = null
	for e in rs:
		if e[1] == cid:
			mine = e
	t.check(open == 2 and rs.size() == 2 and named("voice_restarted").size() == 2, "both conversations were started again and reported", rs)
	if t.check(mine != null and mine[2] != cid, "bram's conversation has a new id", mine):
		t.check(voice.conversation_id == mine[2], "the voice node follows the new conversation id", voice.conversation_id)
		deadline = now_s() + 20.0
		while named("audio_ready").size() < 2 and now_s() < deadline:
			yield(self, "idle_frame")
		t.check(named("audio_ready").size() == 2, "the voice node declared its microphone again")
		var n_fin = named("playback_finished").size()
		voice.say("Tell me about the wolves.")
		deadline = now_s() + 60.0
		while named("playback_finished").size() == n_fin and now_s() < deadline:
			yield(self, "idle_frame")
		fin = named("playback_finished")
		t.check(fin.size() == n_fin + 1 and fin[fin.size() - 1][3] == false and fin[fin.size() - 1][2] > 1000.0,
			"after reconnecting the NPC speaks again and the answer is played", fin)
	conn.close()
	done()
