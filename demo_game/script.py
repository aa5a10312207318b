"""Scripted input for headless runs: a small play script, one command per line.

    # talk to Mira and leave
    walk_to mira          walk (path-finding) until Mira is in talking range
    press e               press a key: e, escape, enter, v, or a letter
    type pour me an ale   type text into the chat box (as text-input events)
    wait_reply            wait until the NPC has finished its line
    wait_idle             wait until the conversation has closed (after Esc: the farewell)
    wait 30               wait that many frames
    hold v 40             hold a key down for that many frames (push-to-talk; or walk: hold left 30)
    wait_text Quest       wait until the chat log has a line containing that text

Waiting commands give up after ``timeout_s`` seconds (real time, so a loaded machine is not a
failure); the run then fails with the step named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pygame

from .errors import ScriptError

log = logging.getLogger(__name__)

KEYS = {
    "e": pygame.K_e,
    "v": pygame.K_v,
    "escape": pygame.K_ESCAPE,
    "esc": pygame.K_ESCAPE,
    "enter": pygame.K_RETURN,
    "return": pygame.K_RETURN,
    "backspace": pygame.K_BACKSPACE,
    "f5": pygame.K_F5,
    "f9": pygame.K_F9,
    "left": pygame.K_LEFT,
    "right": pygame.K_RIGHT,
    "up": pygame.K_UP,
    "down": pygame.K_DOWN,
}
COMMANDS = ("walk_to", "press", "type", "enter", "wait", "wait_reply", "wait_idle", "wait_text", "hold")


@dataclass(frozen=True)
class Step:
    line: int
    command: str
    arg: str


class Driven(Protocol):
    """What the script needs to see of the game."""

    def walk_vector(self, npc_id: str) -> tuple[float, float] | None: ...
    def reply_pending(self) -> bool: ...
    def talking(self) -> bool: ...
    def has_text(self, text: str) -> bool: ...


def parse(text: str, source: str = "<script>") -> list[Step]:
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), 1):
        verbatim = raw.lstrip().startswith(("type ", "wait_text "))
        line = raw.strip() if verbatim else raw.split("#", 1)[0].strip()
        if not line:
            continue
        command, _, arg = line.partition(" ")
        if command not in COMMANDS:
            raise ScriptError(
                f"{source}:{number}: unknown command '{command}'; use one of {', '.join(COMMANDS)}"
            )
        if command == "press" and arg.strip().lower() not in KEYS and len(arg.strip()) != 1:
            raise ScriptError(f"{source}:{number}: unknown key '{arg}'; use one of {', '.join(KEYS)}")
        parts = arg.split()
        if (command == "wait" and not arg.strip().isdigit()) or (
            command == "hold" and not (len(parts) == 2 and parts[1].isdigit())
        ):
            raise ScriptError(f"{source}:{number}: '{command}' needs a number of frames (hold: 'hold v 40')")
        if command in ("walk_to", "type", "wait_text") and not arg.strip():
            raise ScriptError(f"{source}:{number}: '{command}' needs an argument")
        steps.append(Step(number, command, arg if command == "type" else arg.strip()))
    return steps


def load(path: Path) -> list[Step]:
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ScriptError(f"cannot read script {path}: {exc}") from exc


def key_code(name: str) -> int:
    return KEYS.get(name.lower(), pygame.key.key_code(name) if len(name) == 1 else pygame.K_UNKNOWN)


class ScriptRunner:
    """Feeds one frame of input at a time: synthetic events plus a walking direction."""

    def __init__(self, steps: list[Step], timeout_s: float = 45.0) -> None:
        self.steps = steps
        self.timeout_s = timeout_s
        self.seconds_in_step = 0.0
        self.index = 0
        self.frames_in_step = 0
        self.held: int | None = None

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps)

    def frame(self, game: Driven, dt: float) -> tuple[list[pygame.event.Event], tuple[float, float]]:
        """One frame of input; ``dt`` is the real time since the last frame."""
        events: list[pygame.event.Event] = []
        move = (0.0, 0.0)
        if self.done:
            return events, move
        step = self.steps[self.index]
        self.frames_in_step += 1
        self.seconds_in_step += dt
        finished = True
        if step.command == "walk_to":
            vector = game.walk_vector(step.arg)
            if vector is not None:
                move, finished = vector, False
        elif step.command == "press":
            events += _press(key_code(step.arg))
        elif step.command == "enter":
            events += _press(pygame.K_RETURN)
        elif step.command == "type":
            events.append(pygame.event.Event(pygame.TEXTINPUT, text=step.arg))
        elif step.command == "wait":
            finished = self.frames_in_step >= int(step.arg)
        elif step.command == "wait_reply":
            finished = not game.reply_pending()
        elif step.command == "wait_idle":
            finished = not game.talking()
        elif step.command == "wait_text":
            finished = game.has_text(step.arg)
        elif step.command == "hold":
            events += self._hold(step)
            finished = self.held is None
        if not finished and self.seconds_in_step > self.timeout_s:
            raise ScriptError(f"script line {step.line}: '{step.command} {step.arg}' did not finish in time")
        if finished:
            log.debug(
                "script line %d '%s' done after %d frames", step.line, step.command, self.frames_in_step
            )
            self.index += 1
            self.frames_in_step = 0
            self.seconds_in_step = 0.0
        return events, move

    def _hold(self, step: Step) -> list[pygame.event.Event]:
        name, _, frames = step.arg.rpartition(" ")
        key = key_code(name)
        if self.held is None and self.frames_in_step == 1:
            self.held = key
            return [pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0)]
        if self.frames_in_step >= int(frames):
            self.held = None
            return [pygame.event.Event(pygame.KEYUP, key=key, mod=0, unicode="", scancode=0)]
        return []


def _press(key: int) -> list[pygame.event.Event]:
    return [
        pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0),
        pygame.event.Event(pygame.KEYUP, key=key, mod=0, unicode="", scancode=0),
    ]
