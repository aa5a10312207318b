"""The frame loop: input, movement, talking, drawing. Never waits on the network."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pygame

from .ambient import Chatter, near_pairs
from .gameclock import GameClock
from .hud import PANEL_W, Hud
from .net import Inbound, NetLink
from .player import Player, tile_centre
from .render import draw_person, map_surface
from .saves import QuickSave
from .script import ScriptRunner
from .talk import Phase, Talk
from .voice import PushToTalk
from .world_map import COLS, PLAYER_START, ROWS, TILE, NpcSpot, TileMap
from .worldlink import WorldLink

log = logging.getLogger(__name__)

TALK_RANGE = 52.0  # pixels between the player and an NPC to show "E to talk"
MAP_W, MAP_H = COLS * TILE, ROWS * TILE


@dataclass
class Npc:
    spot: NpcSpot
    name: str

    @property
    def centre(self) -> tuple[float, float]:
        return tile_centre(self.spot.tile)


class Game:
    def __init__(
        self,
        link: NetLink,
        *,
        fps: int = 60,
        voice: bool = True,
        mic_wav: Path | None = None,
        mute: bool = False,
        save_path: Path | None = None,
        ambient: bool = True,
    ) -> None:
        assert link.welcome is not None, "connect the link first"
        self.link = link
        self.fps = fps
        self.screen = pygame.display.set_mode((MAP_W + PANEL_W, MAP_H))
        pygame.display.set_caption("Thornbrook — npc_runtime demo")
        self.tiles = TileMap()
        self.background = map_surface(self.tiles)
        self.hud = Hud(MAP_W, MAP_H)
        self.label_font = pygame.font.Font(None, 20)
        names = {n.id: n.name for n in link.welcome.npcs}
        self.npcs = [Npc(s, names[s.npc_id]) for s in self.tiles.npc_spots if s.npc_id in names]
        self.player = Player.at_tile(PLAYER_START, {n.spot.tile for n in self.npcs})
        self.talk = Talk(link, names)
        self.world = WorldLink(link, self.talk, self.tiles)
        # two villagers near each other chat while the player stands by (demo_game/ambient.py)
        self.chatter = Chatter(
            link, self.talk, near_pairs([n.spot for n in self.npcs]), names, enabled=ambient
        )
        self.world.refresh()
        self.clock = GameClock(link)
        self.clock_exact = False  # after a load: take the world's time as it is
        self.saves = QuickSave(link, self.talk, save_path or Path("thornbrook.npcsave"))
        self.voice = PushToTalk.open(link, self.talk, mic_wav, mute) if voice else None
        self.hud.voice_hint = self.voice is not None
        self.typed = ""
        self.keys_down: set[int] = set()
        self.place = ""
        self.running = True
        self.frames = 0
        self.clock_s = 0.0
        self.step_ms: list[float] = []  # how long each frame's work took (not the wait for vsync)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, script: ScriptRunner | None = None, max_frames: int | None = None) -> None:
        clock = pygame.time.Clock()
        while self.running and (max_frames is None or self.frames < max_frames):
            real_dt = clock.tick(self.fps) / 1000.0
            started = time.perf_counter()
            self.step(min(real_dt, 0.05), script, real_dt)
            self.step_ms.append((time.perf_counter() - started) * 1000.0)
            if script is not None and script.done:
                for _ in range(3):  # let the last replies land on screen
                    self.step(clock.tick(self.fps) / 1000.0, None)
                break

    def step(self, dt: float, script: ScriptRunner | None, real_dt: float | None = None) -> None:
        self.frames += 1
        self.clock_s += dt
        self.talk.tick(self.clock_s)
        events = pygame.event.get()
        move = (0.0, 0.0)
        if script is not None and not script.done:
            scripted, move = script.frame(self, dt if real_dt is None else real_dt)
            events += scripted
        for event in events:
            self.handle(event)
        for msg in self.link.poll():
            handled = (
                self.world.handle(msg)
                or self.saves.handle(msg)
                or self.chatter.handle(msg)
                or self.talk.handle(msg)
            )
            if not (handled or self._to_voice(msg)):
                log.debug("unhandled %s", type(msg).__name__)
            for other in self.chatter.unclaimed:  # held while the ambient start was on its way
                if not self.talk.handle(other):
                    self._to_voice(other)
            self.chatter.unclaimed.clear()
            for held in self.talk.unclaimed:  # messages that overtook conversation_started
                self._to_voice(held)
            self.talk.unclaimed.clear()
        if self.saves.loaded:
            self.saves.loaded, self.clock_exact = False, True
            self.world.refresh()
        if self.world.world_hours is not None:
            if self.clock_exact:
                self.clock.set_to(self.world.world_hours)
                self.talk.notify(f"It is {self.clock.label()} again.", "system")
            else:
                self.clock.resume_from(self.world.world_hours)
            self.world.world_hours, self.clock_exact = None, False
        self.clock.update(self.clock_s)
        if self.voice is not None:
            self.voice.update(dt, self.clock_s)
        if not self.talk.talking:
            kx, ky = self._key_vector()
            self.player.move(self.tiles, move[0] + kx, move[1] + ky, dt)
        self.chatter.update(self.clock_s, (self.player.x, self.player.y), self.talk.talking)
        if self.tiles.set_gate(self.world.variables.get("gate.open") is True):
            self.background = map_surface(self.tiles)  # the world opened (or shut) the north gate
        self._track_location()
        self.draw()

    def _to_voice(self, msg: Inbound) -> bool:
        return self.voice is not None and self.voice.handle(msg)

    # -- input -------------------------------------------------------------------------------------
    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            self.keys_down.add(event.key)
            self._key(event.key)
        elif event.type == pygame.KEYUP:
            self.keys_down.discard(event.key)
            if event.key == pygame.K_v and self.voice is not None:
                self.voice.release()
        elif event.type == pygame.TEXTINPUT and self.talk.phase is Phase.OPEN:
            if self.voice is not None and self.voice.holding and event.text in ("v", "V"):
                return  # the push-to-talk key, not a letter
            self.typed = (self.typed + event.text)[:400]

    def _key(self, key: int) -> None:
        if not self.talk.talking:
            if key == pygame.K_e and (npc := self.nearby()) is not None:
                self.typed = ""
                self.talk.begin(npc.spot.npc_id, self.voice.mode if self.voice else "text")
                pygame.key.start_text_input()
            elif key == pygame.K_F5:
                self.saves.save()
            elif key == pygame.K_F9:
                self.saves.load()
            elif key == pygame.K_ESCAPE:
                self.running = False
            return
        if key == pygame.K_ESCAPE:
            self.talk.end()
            pygame.key.stop_text_input()
        elif key == pygame.K_v and self.voice is not None and not self.typed:
            self.voice.press()
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            if self.talk.say(self.typed):
                self.typed = ""
            elif not self.typed.strip():
                self.talk.interrupt()  # Enter on an empty line cuts the NPC short
        elif key == pygame.K_BACKSPACE:
            self.typed = self.typed[:-1]

    def _key_vector(self) -> tuple[float, float]:
        pressed = self.keys_down
        dx = float(
            (pygame.K_RIGHT in pressed or pygame.K_d in pressed)
            - (pygame.K_LEFT in pressed or pygame.K_a in pressed)
        )
        dy = float(
            (pygame.K_DOWN in pressed or pygame.K_s in pressed)
            - (pygame.K_UP in pressed or pygame.K_w in pressed)
        )
        return dx, dy

    def nearby(self) -> Npc | None:
        best = min(self.npcs, key=lambda n: self.player.distance_to(n.centre), default=None)
        if best is not None and self.player.distance_to(best.centre) <= TALK_RANGE:
            return best
        return None

    def _track_location(self) -> None:
        loc = self.tiles.location_at(*self.player.tile)
        name = loc.name if loc else "the outskirts"
        if name != self.place:
            self.place = name
            if loc is not None:
                self.world.entered(loc)

    # -- what the script sees (script.Driven) ------------------------------------------------------------
    def walk_vector(self, npc_id: str) -> tuple[float, float] | None:
        """Direction towards ``npc_id`` along a walkable path; None once in talking range."""
        npc = next((n for n in self.npcs if n.spot.npc_id == npc_id), None)
        if npc is None or self.player.distance_to(npc.centre) <= TALK_RANGE * 0.8:
            return None
        route = self.tiles.path(self.player.tile, npc.spot.tile, self.player.blocked)
        if not route:
            return None
        target = tile_centre(route[0]) if len(route) > 1 or route[0] != npc.spot.tile else npc.centre
        dx, dy = target[0] - self.player.x, target[1] - self.player.y
        if math.hypot(dx, dy) < 2 and len(route) > 1:
            target = tile_centre(route[1])
            dx, dy = target[0] - self.player.x, target[1] - self.player.y
        return dx, dy

    def reply_pending(self) -> bool:
        return self.talk.awaiting_reply or bool(self.talk.subtitle)

    def talking(self) -> bool:
        return self.talk.talking

    def has_text(self, text: str) -> bool:
        return any(text in e.text for e in self.talk.history)

    # -- drawing -----------------------------------------------------------------------------------
    def draw(self) -> None:
        screen = self.screen
        screen.blit(self.background, (0, 0))
        near = self.nearby() if not self.talk.talking else None
        for npc in self.npcs:
            centre = (round(npc.centre[0]), round(npc.centre[1]))
            speaking = self.talk.npc_id == npc.spot.npc_id
            mouth = self._mouth(npc.spot.npc_id) if speaking else 0.0
            draw_person(
                screen,
                centre,
                npc.spot.colour,
                npc.name.split()[0],
                self.label_font,
                npc is near or speaking,
                mouth,
            )
            if speaking and self.talk.awaiting_reply and not self.talk.subtitle:
                self._thinking(centre)
        draw_person(screen, self.player.pos, (60, 60, 70), None, self.label_font)
        if near is not None:
            self.hud.prompt(screen, (round(near.centre[0]), round(near.centre[1])), near.name.split()[0])
        if self.talk.caption:
            self.hud.subtitle(screen, self.talk.name(self.talk.npc_id), self.talk.caption)
        self.hud.notices(screen, self.talk)
        status = f"runtime: {self.link.endpoint}"
        hb = self.link.welcome.heartbeat_interval if self.link.welcome else 2.0
        if self.link.silent_for() > 3 * hb + 1:
            status = "the runtime is not answering..."
        if self.voice is not None and self.voice.metrics:
            status = self.voice.metrics
        self.hud.listening = self.voice is not None and self.voice.holding
        place = f"{self.clock.label()} · {self.place}"
        self.hud.panel(screen, self.talk, self.typed, place, status, self.world.journal())
        pygame.display.flip()

    def _mouth(self, npc_id: str) -> float:
        """Lip-sync from the voice being played; in text mode, flap while the subtitle shows."""
        if self.voice is not None and self.voice.speaker is not None and self.voice.speaker.playing:
            playing = self.voice.speaker.mouth()
            return playing[1] if playing is not None and playing[0] == npc_id else 0.0
        return 0.6 * ((self.frames // 6) % 2) if self.talk.caption else 0.0

    def _thinking(self, centre: tuple[int, int]) -> None:
        x, y = centre
        pygame.draw.ellipse(self.screen, (250, 250, 245), (x + 8, y - 44, 34, 20))
        for i in range(3):
            on = (self.frames // 10) % 3 >= i
            pygame.draw.circle(
                self.screen, (60, 60, 60) if on else (190, 190, 190), (x + 16 + i * 9, y - 34), 3
            )

    def frame_stats(self) -> dict[str, float]:
        """Percentiles of the per-frame work (input, network poll, drawing) in ms."""
        ms = sorted(self.step_ms) or [0.0]

        def pct(p: float) -> float:
            return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 2)

        return {"frames": len(ms), "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": round(ms[-1], 2)}

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.screen, str(path))
