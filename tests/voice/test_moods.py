"""The persona's ``voice.moods`` pick the delivery from the NPC's state, in the running runtime
(real ZeroMQ, real world conditions, real Piper)."""

from __future__ import annotations

from pathlib import Path

from npc_runtime.protocol.messages.conversation import PlayerText
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
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
