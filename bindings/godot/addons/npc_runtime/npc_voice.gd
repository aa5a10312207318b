# NpcVoice: one NPC that listens and speaks, on top of an NpcRuntimeConnection.
#
# Add it under a character, set npc_id (and mode), call start_conversation(). It
#  - plays the NPC's npc_audio as it streams in through an AudioStreamGenerator (own
#    AudioStreamPlayer child, bus `output_bus`), and knows from the generator's consumption what
#    was really played: it sends playback_started / playback_report, flushes on stop_playback and
#    emits subtitle and viseme signals on that audio clock (core/playback.gd);
#  - captures the microphone through an AudioEffectCapture on the bus `microphone_bus` (an
#    AudioStreamMicrophone player feeds it; Godot >= 3.3), resampled to 16 kHz s16le and sent as
#    audio_chunk: while talk_begin()..talk_end() in push_to_talk mode, always in hands_free;
#    feed_microphone() takes frames from any other source through the same path.
# Common subset of Godot 3 and 4 (no export: set the properties in code or rely on the Project
# Settings defaults under npc_runtime/voice).
class_name NpcVoice
extends Node

signal conversation_started(conversation_id)
signal conversation_ended(reason)
signal conversation_restarted(old_conversation_id, new_conversation_id)
# the conversation moved to another runtime worker (same id): the unfinished reply starts again;
# its queued audio was dropped and `subtitle` emitted "" just before
signal conversation_moved(conversation_id)
signal audio_ready(msg)
signal transcript(text, is_final, msg)
signal subtitle(text)  # words of the NPC's audio, when they start to sound
signal npc_line(text, msg)  # npc_text_final: the whole line (text mode shows this)
signal npc_action(name, args, msg)
signal viseme(value, kind)  # kind "viseme" (sil PP FF ... ou) or "mouth_open" (0..1)
signal playback_started(turn_id)
signal playback_finished(turn_id, played_ms, stopped)
signal talking_changed(is_talking)
signal voice_error(code, message)

const Events = preload("res://addons/npc_runtime/core/events.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Playback = preload("res://addons/npc_runtime/core/playback.gd")
const MicPipeline = preload("res://addons/npc_runtime/core/mic_pipeline.gd")
const Settings = preload("res://addons/npc_runtime/core/settings.gd")

const MIC_RATE = 16000

var npc_id = ""
var player_id = Settings.value("npc_runtime/voice/player_id")
var mode = "push_to_talk"  # or "hands_free", "text"
var greet = true
var s2s = null  # voice modes: a speech-to-speech profile of the runtime, or "none" (null: the default)
var connection_path = NodePath("/root/NpcRuntime")
var connection = null  # set it directly, or it is found at connection_path
var output_bus = Settings.value("npc_runtime/voice/output_bus")
var microphone_bus = Settings.value("npc_runtime/voice/microphone_bus")
var use_microphone = true  # capture from the system microphone (needs AudioEffectCapture)
var chunk_ms = Settings.value("npc_runtime/voice/chunk_ms")
var report_playback = true
var generator_buffer_s = 0.25

var conversation_id = ""
var tts_rate = 22050
var talking = false
var current_viseme = "sil"  # the lip-sync key sounding now (NpcLipSync reads it every frame)
var current_viseme_kind = "viseme"
var playback = Playback.new(22050)
var player = null  # AudioStreamPlayer with the AudioStreamGenerator
var mic_player = null
var capture = null  # AudioEffectCapture or null
var mic = null  # MicPipeline for the capture's frames
var chunks_sent = 0
var reports_sent = []  # [turn_id, played_ms, finished] of every playback_report, for tests/tools
var _start_id = -1
var _seq = 0
var _gen = null
var _capacity = -1
var _pushed = 0
var _frame_fn = null


func _ready():
	if connection == null:
		connection = get_node_or_null(connection_path)
	if connection == null:
		push_error("npc_runtime: NpcVoice '%s' finds no NpcRuntimeConnection at %s (enable the addon or set connection)" % [name, str(connection_path)])
		return
	connection.add_listener(self)
	_make_player(tts_rate)
	if use_microphone and mode != "text":
		var err = open_microphone()
		if err != "":
			push_warning("npc_runtime: " + err)


func _exit_tree():
	if connection != null and is_instance_valid(connection):
		connection.remove_listener(self)


func start_conversation():
	if connection == null:
		return -1
	_start_id = connection.start_conversation([npc_id], player_id, mode, greet, null, s2s)
	return _start_id


func end_conversation():
	if conversation_id != "":
		connection.end_conversation(conversation_id)


func say(text):
	if conversation_id == "":
		return -1
	return connection.say(conversation_id, text)


func interrupt():
	if conversation_id != "":
		connection.interrupt(conversation_id)


# ------------------------------------------------------------------------------------ microphone
# Sets up `microphone_bus` (muted, with an AudioEffectCapture) and an AudioStreamMicrophone player
# on it. Returns "" or why not (Godot 3.2 has no AudioEffectCapture; the project must enable
# audio input: Project Settings > Audio > Enable Audio Input in Godot 4).
func open_microphone():
	if not ClassDB.class_exists("AudioEffectCapture"):
		return "microphone capture needs AudioEffectCapture (Godot 3.3 or newer); use feed_microphone()"
	var idx = AudioServer.get_bus_index(microphone_bus)
	if idx < 0:
		AudioServer.add_bus()
		idx = AudioServer.get_bus_count() - 1
		AudioServer.set_bus_name(idx, microphone_bus)
		AudioServer.set_bus_mute(idx, true)  # the player must not hear their own microphone
	for i in range(AudioServer.get_bus_effect_count(idx)):
		if AudioServer.get_bus_effect(idx, i).get_class() == "AudioEffectCapture":
			capture = AudioServer.get_bus_effect(idx, i)
	if capture == null:
		capture = ClassDB.call("instantiate" if ClassDB.has_method("instantiate") else "instance", "AudioEffectCapture")
		AudioServer.add_bus_effect(idx, capture)
	mic_player = AudioStreamPlayer.new()
	mic_player.stream = AudioStreamMicrophone.new()
	mic_player.bus = microphone_bus
	add_child(mic_player)
	mic_player.play()
	mic = MicPipeline.new(AudioServer.get_mix_rate(), MIC_RATE, chunk_ms)
	return ""


# Push-to-talk key down / up.
func talk_begin():
	if conversation_id == "" or talking:
		return
	talking = true
	if capture != null:
		capture.clear_buffer()
	if mic != null:
		mic.reset()
	connection.send(Protocol.speech_start(conversation_id))
	emit_signal("talking_changed", true)


func talk_end():
	if not talking:
		return
	talking = false
	if mic != null:
		_send_chunk(mic.flush())
	connection.send(Protocol.speech_end(conversation_id))
	emit_signal("talking_changed", false)


# Microphone frames from another source (VoIP, a file, a test): Vector2 stereo frames at `rate`,
# through the same resampling and chunking as the capture bus.
func feed_microphone(frames, rate):
	if mic == null or mic.in_rate != int(rate):
		mic = MicPipeline.new(rate, MIC_RATE, chunk_ms)
	_send_chunks(mic.push_frames(frames))


# The same with mono floats in [-1, 1).
func feed_microphone_mono(samples, rate):
	if mic == null or mic.in_rate != int(rate):
		mic = MicPipeline.new(rate, MIC_RATE, chunk_ms)
	_send_chunks(mic.push_mono(samples))


func _listening():
	return conversation_id != "" and mode != "text" and (mode == "hands_free" or talking)


func _send_chunks(chunks):
	if not _listening():
		return
	for c in chunks:
		_send_chunk(c)


func _send_chunk(pcm):
	if pcm.size() == 0 or conversation_id == "":
		return
	if connection.send(Protocol.audio_chunk(conversation_id, _seq, pcm)):
		_seq += 1
		chunks_sent += 1


# --------------------------------------------------------------------------------------- playback
func _make_player(rate):
	tts_rate = int(rate)
	if player != null:
		player.stop()
		player.queue_free()
	_gen = AudioStreamGenerator.new()
	_gen.mix_rate = tts_rate
	_gen.buffer_length = generator_buffer_s
	player = AudioStreamPlayer.new()
	player.stream = _gen
	player.bus = output_bus
	add_child(player)
	player.play()
	_capacity = -1
	_pushed = 0
	playback = Playback.new(tts_rate)


func _generator():
	if player == null or not player.playing:
		return null
	return player.get_stream_playback()


# frames the mixer has consumed from the generator so far (the audio clock)
func _played_frames(gen):
	var avail = gen.get_frames_available()
	if _capacity < 0:
		_capacity = avail
	return _pushed - max(0, _capacity - avail)


func _process(_delta):
	if capture != null and mic != null:
		var n = capture.get_frames_available()
		if n > 0:
			var frames = capture.get_buffer(n)
			if _listening():
				_send_chunks(mic.push_frames(frames))
	pump_audio()


# Move queued NPC audio into the generator and turn the played position into events.
func pump_audio():
	var gen = _generator()
	if gen == null:
		return
	var played = _played_frames(gen)
	var room = gen.get_frames_available()
	if room > 0 and playback.queued_frames() > 0:
		for s in playback.take(room):
			gen.push_frame(Vector2(s, s))
			_pushed += 1
	_handle(playback.update(played))


# Stop the NPC's voice now (stop_playback does this); reports what was played (unless the
# connection is gone: `report` false).
func stop_audio(report = true):
	var gen = _generator()
	if gen != null:
		_handle(playback.update(_played_frames(gen)))
		_flush_generator()
	var was = report_playback
	report_playback = report_playback and report
	_handle(playback.stop(null))
	report_playback = was
	# the generator is empty now: the clock goes on from what was played
	_pushed = playback.played_frames()
	current_viseme = "sil"
	current_viseme_kind = "viseme"
	emit_signal("viseme", "sil", "viseme")


# Drop what the generator holds. Its playback's clear_buffer() refuses while the stream plays
# ("Condition active is true": nothing was flushed), so set the stream again, which makes a new,
# empty playback, and play it. The audio clock goes on from _pushed (the caller sets it).
func _flush_generator():
	player.stream = _gen
	player.play()


func _handle(events):
	for e in events:
		var turn = e[1]
		match e[0]:
			"started":
				if report_playback:
					connection.send(Protocol.playback_started(turn["conversation_id"], turn["turn_id"]))
				emit_signal("playback_started", turn["turn_id"])
			"subtitle":
				emit_signal("subtitle", e[2])
			"viseme":
				current_viseme = e[2]
				current_viseme_kind = e[3]
				emit_signal("viseme", e[2], e[3])
			"finished":
				var ms = round(e[2] * 10.0) / 10.0
				if report_playback:
					connection.send(Protocol.playback_report(turn["conversation_id"], turn["turn_id"], ms, null, true))
					reports_sent.append([turn["turn_id"], ms, e[3]])
				emit_signal("playback_finished", turn["turn_id"], ms, e[3])


# ------------------------------------------------------------------------------------- messages
func _on_npc_runtime_message(msg):
	var mtype = msg.get("type", "")
	if mtype == "conversation_started":
		var ref = msg.get("ref")
		if _start_id != -1 and typeof(ref) == typeof(_start_id) and ref == _start_id:
			_start_id = -1
			_begin(msg["conversation_id"])
			emit_signal("conversation_started", conversation_id)
		return
	if mtype == "conversation_restarted":
		if msg["old_conversation_id"] == conversation_id:
			var old = conversation_id
			stop_audio(false)
			_begin(msg["conversation_id"])
			emit_signal("conversation_restarted", old, conversation_id)
		return
	if mtype == "disconnected":
		stop_audio(false)
		talking = false
		return
	if conversation_id == "" or str(msg.get("conversation_id", "")) != conversation_id:
		return
	match mtype:
		"audio_ready":
			if int(msg["tts_sample_rate"]) != tts_rate and playback.queued_frames() == 0:
				_make_player(msg["tts_sample_rate"])
			emit_signal("audio_ready", msg)
		"transcript":
			emit_signal("transcript", msg["text"], msg["final"], msg)
		"npc_audio":
			if int(msg["sample_rate"]) != tts_rate and not playback.is_playing():
				_make_player(msg["sample_rate"])
			var err = playback.add_chunk(msg)
			if err != "":
				emit_signal("voice_error", "audio_invalid", err)
			pump_audio()
		"npc_audio_end":
			playback.end_turn(msg["conversation_id"], msg["turn_id"])
		"stop_playback":
			stop_audio()
		"npc_text_final":
			emit_signal("npc_line", msg["text"], msg)
		"npc_action":
			emit_signal("npc_action", msg["name"], msg["args"], msg)
		"error", "warning":
			if mtype == "warning" and msg["code"] == Events.CONVERSATION_MOVED:
				_moved()
			emit_signal("voice_error", msg["code"], msg["message"])
		"conversation_ended":
			stop_audio()
			conversation_id = ""
			talking = false
			emit_signal("conversation_ended", msg["reason"])


# warning conversation_moved: the reply in flight runs again from its start on the new worker, so
# what is queued of it must not play twice and is not reported (the abandoned attempt)
func _moved():
	var gen = _generator()
	if gen != null:
		_handle(playback.update(_played_frames(gen)))  # the clock up to now (earlier turns' reports)
		_flush_generator()
	playback.reset_conversation(conversation_id)
	_pushed = playback.played_frames()
	current_viseme = "sil"
	current_viseme_kind = "viseme"
	emit_signal("viseme", "sil", "viseme")
	emit_signal("subtitle", "")
	emit_signal("conversation_moved", conversation_id)


func _begin(cid):
	conversation_id = cid
	_seq = 0
	if mode != "text":
		connection.request(Protocol.audio_start(null, cid, MIC_RATE))
