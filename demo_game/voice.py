"""Push-to-talk (hold V) with the microphone; filled in below. Degrades to text when no device."""

from __future__ import annotations

from .net import NetLink


class PushToTalk:
    @classmethod
    def open(cls, link: NetLink) -> PushToTalk | None:
        return None

    def close(self) -> None:
        pass
