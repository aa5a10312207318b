"""Interim transcripts reach the conversation's read-ahead (``ConversationControl.prefill``).

The speech pipeline itself (VAD, Whisper, interim results) is tested end to end in test_wire.py;
here the link from its events to the conversation, with a recording conversation in place of the
runtime's (what the runtime then does with the words is tests/runtime/test_prefill.py, on the real
model)."""

from __future__ import annotations

from typing import Any

from npc_runtime.protocol.messages import Message
from npc_runtime.voice.events import Heard
from npc_runtime.voice.extension import _Port


class _Conversation:
    id = "c1"

    def __init__(self) -> None:
        self.read_ahead: list[str] = []
        self.sent: list[Message] = []

    def prefill(self, player_text: str) -> None:
        self.read_ahead.append(player_text)

    async def send(self, msg: Message) -> None:
        self.sent.append(msg)


async def test_interim_transcripts_are_read_ahead_and_final_ones_are_not() -> None:
    conv = _Conversation()
    port = _Port(None, conv)  # type: ignore[arg-type]
    events: list[Any] = [
        Heard(utterance=1, text="Have you", final=False),
        Heard(utterance=1, text="Have you ever fallen", final=False),
        Heard(utterance=1, text="Have you ever fallen in the river?", final=True),
    ]
    for event in events:
        await port.emit(event)
    assert conv.read_ahead == ["Have you", "Have you ever fallen"]  # the final one starts the turn
    assert [m.type for m in conv.sent] == ["transcript"] * 3  # the client still gets every transcript
