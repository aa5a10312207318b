"""The voice concern: player audio in, turns, speech recognition, the NPC's voice out.

Layout (see docs/voice.md): ``frames`` and ``resample`` (audio on the hot path), ``vad/``,
``stt/`` and ``tts/`` (one module per provider behind a small base class), ``turns`` (segments,
barge-in and backchannel rules, no I/O), ``speaker`` (streamed text -> sentences -> npc_audio
with subtitles and visemes), ``lipsync``, ``session`` (one voice conversation, I/O through a
port), ``models`` (loaded once per process), ``s2s`` (the speech-to-speech seam) and ``cli``.
The runtime glue is ``npc_runtime/runtime/voice_ext.py``.
"""
