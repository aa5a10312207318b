"""The game's clock: game hours run faster than real time and are reported with ``game_time``
(memory recency decays per game hour; rumours in the world file travel with game-hour delays)."""

from __future__ import annotations

from typing import Protocol

from npc_runtime.protocol.messages import GameTime, Message

DAY_START = 8.0  # game hour 0, when the story begins, is 08:00 on day 1 (for the label only)


class Sender(Protocol):
    def send(self, msg: Message) -> None: ...


class GameClock:
    def __init__(self, link: Sender, hour_seconds: float = 30.0, report_every: float = 2.0) -> None:
        self.link = link
        self.hour_seconds = hour_seconds
        self.report_every = report_every
        self.base = 0.0  # game hours since the story began, as the runtime counts them
        self.real = 0.0
        self._last_report: float | None = None

    @property
    def hours(self) -> float:
        return self.base + self.real / self.hour_seconds

    def resume_from(self, hours: float) -> None:
        """A saved world is further on than our clock: carry on from there (time never goes back)."""
        if hours > self.hours:
            self.base = hours - self.real / self.hour_seconds

    def set_to(self, hours: float) -> None:
        """A save was loaded: its world has its own time; report it at the next update."""
        self.base = hours - self.real / self.hour_seconds
        self._last_report = None

    def update(self, real_now: float) -> None:
        self.real = real_now
        if self._last_report is None or real_now - self._last_report >= self.report_every:
            self._last_report = real_now
            self.link.send(GameTime(hours=round(self.hours, 3)))

    def label(self) -> str:
        day, hour = divmod(self.hours + DAY_START, 24.0)
        return f"Day {int(day) + 1}, {int(hour):02d}:{int(hour % 1 * 60):02d}"
