"""The persona's ``voice.moods`` pick the delivery from the NPC's state, in the running runtime
(real ZeroMQ, real world conditions, real Piper)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from npc_runtime.protocol.messages.conversation import PlayerText
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from npc_runtime.voice.phrases import first_phrases
from npc_runtime.voice.tts.cache import CachedTts
from npc_runtime.voice.tts.design import Delivery

from .conftest import Mic, collect, of_type


async def _reply_delivery(runtime: Runtime, npc: str, text: str) -> tuple[Delivery | None, int]:
    client = AsyncClient(runtime.endpoint, name="moods")
    try:
        await client.connect()
        conv = await client.start_conversation(npc, mode="push_to_talk", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        await client.send(PlayerText(conversation_id=mic.cid, text=text))
        msgs = await collect(client, mic.cid, lambda m: m.type == "npc_audio_end", timeout=60.0)
        end = of_type(msgs, "npc_audio_end")[0]
        assert runtime.voice is not None
        reply = runtime.voice.voices[mic.cid].speaker.replies[end.turn_id]
        return reply.params.delivery, end.chunks
    finally:
        await client.close()


async def test_mood_rules_follow_the_world(settings: Settings, personas_dir: Path) -> None:
    bram = personas_dir / "bram.persona.yaml"
    text = bram.read_text(encoding="utf-8")
    # Bram is angry while the wolf quest has not started (the world's initial state), and happy
    # once it is done, which it is not.
    text = text.replace(
        "    - mood: angry\n      when: relationship.trust < -0.3\n",
        '    - mood: happy\n      when: quest.wolves == "done"\n'
        '    - mood: angry\n      when: quest.wolves == "not_started"\n      intensity: 0.8\n',
    )
    bram.write_text(text, encoding="utf-8")
    runtime = Runtime(settings)
    await runtime.start()
    try:
        delivery, chunks = await _reply_delivery(runtime, "bram", "What are you working on?")
        assert delivery == Delivery("angry", 0.8) and chunks > 0
        # Without a turn's context (a speculative prediction), only unconditional rules apply.
        assert runtime.voice is not None
        assert runtime.voice.voice_for("elda")[1].delivery == Delivery("calm", 0.5)
        assert runtime.voice.voice_for("bram")[1].delivery is None
        # Mira's rule (happy when relationship.trust > 0.5) does not hold for a stranger.
        delivery, chunks = await _reply_delivery(runtime, "mira", "Do you have a room?")
        assert delivery is None and chunks > 0
    finally:
        await runtime.stop()


async def test_an_npc_heard_in_a_mood_has_its_first_phrases_warmed_in_that_mood(
    settings: Settings, personas_dir: Path
) -> None:
    """The phrase cache is warmed at start in each persona's default mood; once Bram is heard
    angry, his other lines' first phrases are synthesised angry in the background too."""
    bram = personas_dir / "bram.persona.yaml"
    text = bram.read_text(encoding="utf-8").replace(
        "    - mood: angry\n      when: relationship.trust < -0.3\n",
        '    - mood: angry\n      when: quest.wolves == "not_started"\n      intensity: 0.8\n',
    )
    bram.write_text(text, encoding="utf-8")
    runtime = Runtime(settings)
    await runtime.start()
    try:
        ext = runtime.voice
        assert ext is not None
        delivery, _ = await _reply_delivery(runtime, "bram", "What are you working on?")
        assert delivery == Delivery("angry", 0.8)
        tasks = [t for t in ext._mood_tasks if t.get_name() == "voice-mood-bram"]
        made = await asyncio.wait_for(tasks[0], 300) if tasks else None
        tts, default = ext.voice_for("bram")
        angry = replace(default, delivery=Delivery("angry", 0.8))
        assert isinstance(tts, CachedTts)
        persona = runtime.personas.get("bram")
        assert persona is not None
        phrases = first_phrases(persona)
        assert made is not None and 0 < made <= len(phrases)
        assert all(tts.cached(p, angry) is not None for p in phrases)
        assert all(tts.key(p, angry) != tts.key(p, default) for p in phrases)  # a variant of its own
        # once per (NPC, voice): the next angry reply starts no new warming
        await _reply_delivery(runtime, "bram", "I need a weapon.")
        assert not [t for t in ext._mood_tasks if t.get_name() == "voice-mood-bram"]
    finally:
        await runtime.stop()
