# Godot 3 headless tests of the addon's plain logic: WAV/PCM, resampling, the microphone pipeline,
# the playback model (audio clock, reports, stop, visemes, subtitles), the reconnect policy, the
# Project Settings and the editor plugin shells. Run by bindings/run_tests.sh.

extends SceneTree

const Pcm = preload("res://addons/npc_runtime/core/pcm.gd")
const Resampler = preload("res://addons/npc_runtime/core/resampler.gd")
const MicPipeline = preload("res://addons/npc_runtime/core/mic_pipeline.gd")
const Playback = preload("res://addons/npc_runtime/core/playback.gd")
const Reconnect = preload("res://addons/npc_runtime/core/reconnect.gd")
const Settings = preload("res://addons/npc_runtime/core/settings.gd")
const LipSync = preload("res://addons/npc_runtime/core/lipsync.gd")
const Support = preload("res://tests/support.gd")
const Protocol = preload("res://addons/npc_runtime/core/protocol.gd")
const Events = preload("res://addons/npc_runtime/core/events.gd")

var t = Support.new("core")


func _initialize():
	pcm_round_trip()
	wav_parsing()
	resampler_keeps_pitch_and_length()
	resampler_is_chunking_independent()
	mic_pipeline_chunks()
	playback_clock()
	playback_stop()
	playback_late_audio_after_stop()
	playback_reset_after_a_move()
	wire_additions()
	reconnect_backoff()
	settings_and_plugin()
	lip_sync()
	t.finish(self)


func sine(freq, rate, n, amp = 0.5):
	var out = []
	for i in range(n):
		out.append(amp * sin(2.0 * PI * freq * i / rate))
	return out


func pcm_round_trip():
	var b = Pcm.from_floats([0.0, 0.5, -0.5, 1.5, -1.5])
	t.check(Support.hex(b) == "0000004000c0ff7f0080", "floats -> s16le, clipped", Support.hex(b))
	var back = Pcm.to_floats(b)
	t.check(back.size() == 5 and abs(back[1] - 0.5) < 0.001 and back[4] == -1.0, "s16le -> floats", back)
	t.check(abs(Pcm.duration_ms(b, 1000) - 5.0) < 0.001, "duration of 5 samples at 1 kHz is 5 ms")


func wav_bytes(rate, channels, samples):
	var data = Pcm.from_floats(samples)
	var b = StreamPeerBuffer.new()
	b.big_endian = false
	b.put_data("RIFF".to_ascii())
	b.put_u32(36 + 8 + data.size() + 10)
	b.put_data("WAVE".to_ascii())
	b.put_data("LIST".to_ascii())  # an extra chunk to skip
	b.put_u32(2)
	b.put_u16(0)
	b.put_data("fmt ".to_ascii())
	b.put_u32(16)
	b.put_u16(1)
	b.put_u16(channels)
	b.put_u32(rate)
	b.put_u32(rate * 2 * channels)
	b.put_u16(2 * channels)
	b.put_u16(16)
	b.put_data("data".to_ascii())
	b.put_u32(data.size())
	b.put_data(data)
	return b.data_array


func wav_parsing():
	var w = Pcm.parse_wav(wav_bytes(16000, 1, [0.25, -0.25, 0.5]))
	t.check(not w.has("error") and w["rate"] == 16000 and w["pcm"].size() == 6, "a mono WAV parses", w)
	w = Pcm.parse_wav(wav_bytes(48000, 2, [0.5, 0.25, -0.5, -0.25]))
	var s = Pcm.to_floats(w["pcm"]) if not w.has("error") else []
	t.check(s.size() == 2 and abs(s[0] - 0.375) < 0.001 and abs(s[1] + 0.375) < 0.001, "stereo is mixed down", s)
	t.check(Pcm.parse_wav(Support.unhex("00010203")).has("error"), "not a WAV: error")
	var bad = wav_bytes(16000, 1, [0.1])
	bad[44] = 8  # 8 bits per sample
	t.check(Pcm.parse_wav(bad).get("error", "").find("16-bit") >= 0, "8-bit WAV is refused, saying why")


func zero_crossings(a):
	var n = 0
	for i in range(1, a.size()):
		if (a[i - 1] < 0.0) != (a[i] < 0.0):
			n += 1
	return n


func resampler_keeps_pitch_and_length():
	var src = sine(440.0, 44100, 44100)
	var out = Resampler.new(44100, 16000).push(src)
	t.check(abs(out.size() - 16000) <= 2, "1 s at 44.1 kHz -> 16000 samples", out.size())
	t.check(abs(zero_crossings(out) - 880) <= 4, "a 440 Hz tone stays 440 Hz", zero_crossings(out))
	var up = Resampler.new(16000, 48000).push(sine(200.0, 16000, 1600))
	t.check(abs(up.size() - 4800) <= 3 and abs(zero_crossings(up) - 40) <= 2, "upsampling 16 -> 48 kHz", [up.size(), zero_crossings(up)])


func resampler_is_chunking_independent():
	var src = sine(300.0, 48000, 4800)
	var whole = Resampler.new(48000, 16000).push(src)
	var r = Resampler.new(48000, 16000)
	var parts = []
	var i = 0
	var sizes = [1, 7, 480, 333, 1000, 2979]
	for n in sizes:
		var piece = []
		for k in range(i, min(i + n, src.size())):
			piece.append(src[k])
		i += n
		for v in r.push(piece):
			parts.append(v)
	var same = parts.size() == whole.size()
	for k in range(min(parts.size(), whole.size())):
		same = same and abs(parts[k] - whole[k]) < 1e-9
	t.check(same, "cutting the stream into chunks changes nothing", [parts.size(), whole.size()])


func mic_pipeline_chunks():
	var mic = MicPipeline.new(48000, 16000, 100)
	var frames = []
	for s in sine(220.0, 48000, 48000 * 35 / 100):  # 350 ms stereo
		frames.append(Vector2(s, s * 0.5))
	var chunks = mic.push_frames(frames)
	t.check(chunks.size() == 3, "350 ms -> three 100 ms chunks", chunks.size())
	var sizes_ok = true
	for c in chunks:
		sizes_ok = sizes_ok and c.size() == 3200
	t.check(sizes_ok, "each chunk is 1600 s16 samples (3200 bytes)")
	var rest = mic.flush()
	t.check(abs(rest.size() - 1600) <= 4, "flush gives the last 50 ms", rest.size())
	t.check(mic.flush().size() == 0, "flush twice gives nothing")
	var level = Pcm.to_floats(chunks[1])
	var peak = 0.0
	for v in level:
		peak = max(peak, abs(v))
	t.check(abs(peak - 0.375) < 0.02, "stereo (0.5, 0.25) is mixed to 0.375 peak", peak)


func npc_audio(cid, turn, seq, ms, text, visemes, rate = 1000):
	return {"type": "npc_audio", "conversation_id": cid, "turn_id": turn, "npc_id": "bram", "seq": seq,
		"sample_rate": rate, "pcm": Pcm.from_floats(sine(100.0, rate, int(ms * rate / 1000))),
		"text": text, "visemes": visemes, "viseme_kind": "viseme"}


func kinds(events):
	var out = []
	for e in events:
		out.append(e[0] if e[0] != "viseme" else "viseme:" + str(e[2]))
	return out


func playback_clock():
	# 1 kHz keeps the frame arithmetic readable: 1 frame = 1 ms
	var p = Playback.new(1000)
	t.check(p.add_chunk(npc_audio("c1", 3, 0, 500, "Big grey", [[0.0, "PP"], [250.0, "aa"]])) == "", "chunk 0 queued")
	t.check(p.add_chunk(npc_audio("c1", 3, 1, 300, "one", [[100.0, "ou"]])) == "", "chunk 1 queued")
	t.check(p.add_chunk(npc_audio("c1", 3, 2, 10, "x", [], 22050)).find("22050") >= 0, "a chunk at another rate is refused")
	t.check(p.queued_frames() == 800, "800 frames queued", p.queued_frames())
	t.check(p.update(0).size() == 0, "nothing played, nothing happens")
	var got = p.take(300)
	t.check(got.size() == 300 and p.queued_frames() == 500, "the output takes 300 frames", p.queued_frames())
	var ev = p.update(1)
	t.check(kinds(ev) == ["started", "subtitle", "viseme:PP"], "first frame played: started, subtitle, first viseme", kinds(ev))
	t.check(ev[0][1]["turn_id"] == 3 and ev[1][2] == "Big grey", "events name the turn and carry the words", ev)
	ev = p.update(260)
	t.check(kinds(ev) == ["viseme:aa"], "the viseme at 250 ms comes when 250 ms have played", kinds(ev))
	ev = p.update(700)
	t.check(p.played_frames() == 300, "the clock cannot pass what the output was given", p.played_frames())
	p.take(1000)
	ev = p.update(700)
	t.check(kinds(ev) == ["subtitle", "viseme:ou"], "chunk 1 starts sounding at 500 ms", kinds(ev))
	ev = p.update(800)
	t.check(ev.size() == 0 and p.is_playing(), "all played but npc_audio_end not yet received: not finished")
	p.end_turn("c1", 3)
	ev = p.update(800)
	t.check(kinds(ev) == ["finished"] and abs(ev[0][2] - 800.0) < 0.01 and ev[0][3] == false, "finished with 800 ms played", ev)
	t.check(not p.is_playing(), "nothing playing after the turn")
	p.end_turn("c1", 3)
	t.check(p.update(900).size() == 0, "a repeated npc_audio_end does not report twice")
	p.end_turn("c1", 4)
	ev = p.update(900)
	t.check(kinds(ev) == ["finished"] and ev[0][2] == 0.0, "a turn without audio is reported finished at once", ev)


func playback_stop():
	var p = Playback.new(1000)
	p.add_chunk(npc_audio("c1", 5, 0, 2000, "Big grey one leads them.", [[0.0, "PP"], [1500.0, "kk"]]))
	p.add_chunk(npc_audio("c1", 5, 1, 2000, "Torn ear.", [[10.0, "TH"]]))
	p.take(1500)
	var ev = p.update(1300)
	t.check(kinds(ev) == ["started", "subtitle", "viseme:PP"], "1.3 s of 4 s played", kinds(ev))
	ev = p.stop("c1")
	t.check(kinds(ev) == ["finished"] and abs(ev[0][2] - 1300.0) < 0.01 and ev[0][3] == true,
		"stop reports exactly the 1300 ms played, as stopped", ev)
	t.check(p.queued_frames() == 0 and not p.is_playing(), "stop flushes what was not played")
	t.check(p.update(2000).size() == 0, "no viseme or subtitle of the flushed audio comes later")
	p.add_chunk(npc_audio("c1", 6, 0, 100, "Next.", []))
	p.take(100)
	ev = p.update(1350)
	t.check(kinds(ev) == ["started", "subtitle"], "the next turn plays from where the clock stopped", kinds(ev))
	var other = Playback.new(1000)
	other.add_chunk(npc_audio("a", 1, 0, 100, "", []))
	other.add_chunk(npc_audio("b", 1, 0, 100, "", []))
	other.take(50)
	other.update(50)
	ev = other.stop("a")
	t.check(kinds(ev) == ["finished"] and ev[0][1]["conversation_id"] == "a", "stop(a) leaves conversation b", ev)
	t.check(other.queued_frames() == 100, "b's audio stays queued", other.queued_frames())


func playback_late_audio_after_stop():
	var p = Playback.new(1000)
	p.add_chunk(npc_audio("c1", 7, 0, 1000, "One.", []))
	p.take(1000)
	p.update(200)
	p.stop(null)
	p.add_chunk(npc_audio("c1", 7, 1, 1000, "Two.", []))
	p.end_turn("c1", 7)
	t.check(p.queued_frames() == 0 and p.update(5000).size() == 0, "audio and npc_audio_end of a stopped turn are dropped")


func playback_reset_after_a_move():
	# conversation_moved: turn 7 runs again on another worker with the same ids
	var p = Playback.new(1000)
	p.add_chunk(npc_audio("c1", 7, 0, 400, "The wolves", []))
	p.take(100)
	p.update(100)
	p.reset_conversation("c1")
	t.check(p.queued_frames() == 0, "the abandoned attempt's audio is dropped", p.queued_frames())
	t.check(p.add_chunk(npc_audio("c1", 7, 0, 600, "The wolves came back at dawn.", [])) == "", "the replay is accepted")
	t.check(p.queued_frames() == 600, "only the replay is queued (the turn is not treated as stopped)", p.queued_frames())
	p.take(600)
	var ev = p.update(150)
	t.check(kinds(ev) == ["started", "subtitle"] and ev[1][2] == "The wolves came back at dawn.", "the replay plays from the clock", ev)


func wire_additions():
	var a = Protocol.ambient_spec(null, "The wolves took another sheep last night.", 4)
	t.check(a.size() == 2 and a["seed_line"].begins_with("The wolves") and a["turns"] == 4, "ambient_spec leaves out what is null", a)
	var m = Protocol.conversation_start(1, ["bram", "tomas"], "hero", "text", true, a)
	t.check(m["ambient"] == a and not m.has("s2s"), "conversation_start carries ambient, no s2s unless given", m)
	m = Protocol.conversation_start(2, ["mira"], "hero", "push_to_talk", true, null, "none")
	t.check(m["s2s"] == "none" and not m.has("ambient"), "conversation_start carries s2s", m)
	var f = {"type": "npc_text_final", "conversation_id": "c", "turn_id": 1, "npc_id": "tomas", "text": "Aye.",
		"source": "authored", "interrupted": false, "ambient": true}
	t.check(Events.parse(f)[1] == "" and Events.parse(f)[0]["ambient"] == true, "npc_text_final parses with ambient")
	f["ambient"] = "yes"
	t.check(Events.parse(f)[1].find("ambient") >= 0, "a non-bool ambient is reported", Events.parse(f)[1])
	t.check(Events.is_known_code(Events.CONVERSATION_MOVED) and Events.is_known_code(Events.NOT_AUTHORITY), "the new codes are known")
	t.check(not Events.is_known_code("brand_new_code"), "a code of a newer runtime is not known (but still parsed)")
	var w = {"type": "warning", "code": "brand_new_code", "message": "m"}
	t.check(Events.parse(w)[1] == "" and Events.signal_for("warning") == "runtime_warning", "a warning with an unknown code parses and is signalled")


func reconnect_backoff():
	var r = Reconnect.new(0.5, 2.0, 4.0)
	t.check(not r.due(0.0), "nothing due before a loss")
	var delays = []
	var now = 10.0
	for _i in range(6):
		var at = r.lost(now)
		delays.append(at - now)
		t.check(not r.due(at - 0.01) and r.due(at), "due exactly at its time")
		r.attempting()
		t.check(not r.due(at + 100.0), "one attempt at a time")
		now = at
	t.check(delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0], "0.5 s doubling up to 4 s", delays)
	r.succeeded()
	t.check(r.attempts == 0 and r.lost(0.0) == 0.5, "a success resets the backoff")


func settings_and_plugin():
	t.check(Settings.value("npc_runtime/connection/endpoint") == "tcp://127.0.0.1:7600", "defaults without registration")
	Settings.register()
	t.check(ProjectSettings.has_setting("npc_runtime/voice/microphone_bus"), "register adds the settings")
	ProjectSettings.set_setting("npc_runtime/connection/endpoint", "tcp://127.0.0.1:7777")
	t.check(Settings.value("npc_runtime/connection/endpoint") == "tcp://127.0.0.1:7777", "the project's value wins")
	var conn = load("res://addons/npc_runtime/npc_runtime_connection.gd").new()
	t.check(conn.endpoint == "tcp://127.0.0.1:7777" and conn.auto_reconnect, "the connection node reads them", conn.endpoint)
	conn.free()
	ProjectSettings.set_setting("npc_runtime/connection/endpoint", "tcp://127.0.0.1:7600")
	var shell3 = load("res://addons/npc_runtime/plugin_godot3.gd")
	t.check(shell3 != null and shell3.is_tool() and shell3.can_instance(), "the Godot 3 editor plugin is a tool script")
	var virtuals = []
	for m in ClassDB.class_get_method_list("EditorPlugin", true):
		virtuals.append(m["name"])
	var defined = []
	for m in shell3.get_script_method_list():
		defined.append(m["name"])
	t.check("enable_plugin" in virtuals and "enable_plugin" in defined and "disable_plugin" in virtuals and "disable_plugin" in defined,
		"its enable_plugin/disable_plugin are this engine's EditorPlugin virtuals", defined)
	t.check(ClassDB.class_has_method("EditorPlugin", "add_autoload_singleton"), "EditorPlugin.add_autoload_singleton exists")
	var cfg = ConfigFile.new()
	t.check(cfg.load("res://addons/npc_runtime/plugin.cfg") == OK and cfg.get_value("plugin", "script") == "plugin.gd",
		"plugin.cfg names the editor plugin")
	var f = File.new()
	t.check(f.file_exists(Settings.AUTOLOAD_PATH), "the autoload path exists", Settings.AUTOLOAD_PATH)
	var conn_src = load(Settings.AUTOLOAD_PATH).source_code
	var voice_src = load("res://addons/npc_runtime/npc_voice.gd").source_code
	t.check(conn_src.find("class_name NpcRuntimeConnection") >= 0 and voice_src.find("class_name NpcVoice") >= 0, "each node has a class_name")


func lip_sync():
	var l = LipSync.new()
	t.check(l.shapes().size() == 16 and "viseme_aa" in l.shapes() and "jawOpen" in l.shapes(), "the default mapping drives 16 shapes", l.shapes().size())
	l.set_key("aa")
	var w = l.step(0.05)
	t.check(abs(w["viseme_aa"] - (1.0 - exp(-1.0))) < 1e-6 and w["viseme_PP"] == 0.0, "a key eases its shape in (one time constant: 63 %)", w["viseme_aa"])
	for _i in range(20):
		w = l.step(0.05)
	t.check(w["viseme_aa"] > 0.999, "and holds it", w["viseme_aa"])
	l.set_key("PP")
	w = l.step(0.05)
	t.check(w["viseme_aa"] < 0.4 and w["viseme_PP"] > 0.6, "the next key takes over", [w["viseme_aa"], w["viseme_PP"]])
	l.set_key(0.5, "mouth_open")
	l.smoothing_s = 0.0
	w = l.step(0.016)
	t.check(w["jawOpen"] == 0.5 and w["viseme_PP"] == 0.0, "mouth_open scales its shapes; no smoothing snaps", w["jawOpen"])
	l.set_key("unknown")
	t.check(l.step(0.016)["jawOpen"] == 0.0, "an unknown key closes the mouth")
	var custom = LipSync.new({"aa": {"MouthOpen": 0.8, "Smile": 0.1}})
	custom.smoothing_s = 0.0
	custom.set_key("aa")
	var cw = custom.step(0.1)
	t.check(cw.size() == 2 and abs(cw["MouthOpen"] - 0.8) < 1e-6, "a designer's mapping is used as given", cw)

	var node = load("res://addons/npc_runtime/npc_lip_sync.gd").new()
	var rec = Support.recorder()
	node.voice = rec
	node.mesh = rec
	rec.current_viseme = "oh"
	node._process(0.5)
	t.check(rec.got.get("blend_shapes/viseme_O", 0.0) > 0.99 and rec.got.get("blend_shapes/viseme_sil", 1.0) == 0.0,
		"NpcLipSync writes blend_shapes/<name> from the voice's current key", rec.got.get("blend_shapes/viseme_O"))
	node.free()
