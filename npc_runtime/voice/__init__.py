"""The voice concern: player audio in, turns, speech recognition, the NPC's voice out.

Layout (see docs/voice.md): ``frames`` and ``resample`` (audio on the hot path), ``vad/``,
``stt/`` and ``tts/`` (one module per provider behind a small base class), ``turns`` (segments,
barge-in and backchannel rules, no I/O), ``speaker`` (streamed text -> sentences -> npc_audio
with subtitles and visemes), ``lipsync``, ``session`` (one voice conversation, I/O through a
port), ``events`` and ``wire`` (what the pipeline says, and the adapter to wire messages),
``models`` (loaded once per process), ``extension`` (how voice plugs into the host) and ``cli``.
"""
