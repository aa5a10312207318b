"""The village of Thornbrook as a tile grid: terrain, buildings, named locations, paths.

Pure data and geometry (no drawing, no pygame): the renderer and the player read it. Location ids
match the entities of ``personas/village.world.yaml`` (inn, smithy, old_mill, north_gate, square,
whisperwood), so walking into one can be reported to the runtime as it is.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

TILE = 32
COLS = 30
ROWS = 20


class Terrain(Enum):
    GRASS = "grass"
    PATH = "path"
    COBBLE = "cobble"
    WATER = "water"
    BRIDGE = "bridge"
    WALL = "wall"
    GATE = "gate"
    GATE_OPEN = "gate_open"
    TREE = "tree"
    BUILDING = "building"
    FENCE = "fence"
    PASTURE = "pasture"


SOLID = {Terrain.WATER, Terrain.WALL, Terrain.GATE, Terrain.TREE, Terrain.BUILDING, Terrain.FENCE}


@dataclass(frozen=True)
class Rect:
    """A rectangle in tiles: columns x..x+w-1, rows y..y+h-1."""

    x: int
    y: int
    w: int
    h: int

    def contains(self, col: int, row: int) -> bool:
        return self.x <= col < self.x + self.w and self.y <= row < self.y + self.h

    def tiles(self) -> list[tuple[int, int]]:
        return [(c, r) for r in range(self.y, self.y + self.h) for c in range(self.x, self.x + self.w)]


@dataclass(frozen=True)
class Building:
    id: str
    label: str
    footprint: Rect
    roof: tuple[int, int, int]
    door: tuple[int, int]  # the tile in front of the door (walkable)


@dataclass(frozen=True)
class Location:
    id: str  # the world file's entity id
    name: str  # how the world file names it ("the Gilded Goose")
    area: Rect


@dataclass(frozen=True)
class NpcSpot:
    npc_id: str
    tile: tuple[int, int]
    colour: tuple[int, int, int]


BUILDINGS = (
    Building("inn", "The Gilded Goose", Rect(3, 3, 7, 4), (150, 60, 45), (6, 7)),
    Building("smithy", "Smithy", Rect(3, 13, 5, 3), (85, 85, 95), (5, 16)),
    Building("old_mill", "Old Mill", Rect(18, 14, 4, 4), (120, 90, 60), (19, 18)),
    Building("cottage", "", Rect(12, 3, 3, 2), (160, 110, 60), (13, 5)),
    Building("cottage2", "", Rect(12, 15, 3, 2), (150, 100, 55), (13, 17)),
)

LOCATIONS = (
    Location("inn", "the Gilded Goose", Rect(2, 2, 9, 9)),
    Location("smithy", "the smithy", Rect(2, 11, 8, 8)),
    Location("old_mill", "the old mill", Rect(17, 13, 6, 7)),
    Location("north_gate", "the north gate", Rect(12, 1, 7, 3)),
    Location("square", "the village square", Rect(11, 8, 8, 5)),
    Location("whisperwood", "the Whisperwood", Rect(25, 1, 5, 18)),
)

NPC_SPOTS = (
    NpcSpot("mira", (7, 8), (200, 80, 110)),
    NpcSpot("bram", (7, 16), (110, 70, 40)),
    NpcSpot("elda", (21, 18), (70, 140, 80)),
    NpcSpot("tomas", (16, 2), (70, 90, 160)),
)

PLAYER_START = (15, 10)


class TileMap:
    """The terrain grid plus the buildings and locations laid over it."""

    def __init__(self) -> None:
        self.terrain: list[list[Terrain]] = [[Terrain.GRASS] * COLS for _ in range(ROWS)]
        self.buildings = BUILDINGS
        self.locations = LOCATIONS
        self.npc_spots = NPC_SPOTS
        self._lay_out()

    # -- building the grid -----------------------------------------------------------------------
    def _fill(self, rect: Rect, terrain: Terrain) -> None:
        for c, r in rect.tiles():
            self.terrain[r][c] = terrain

    def _lay_out(self) -> None:
        self._fill(Rect(0, 0, COLS, 1), Terrain.WALL)  # the palisade, gate in the middle
        self._fill(Rect(14, 0, 2, 1), Terrain.GATE)
        self._fill(Rect(0, 0, 1, ROWS), Terrain.TREE)
        self._fill(Rect(0, ROWS - 1, COLS, 1), Terrain.TREE)
        self._fill(Rect(20, 3, 4, 8), Terrain.PASTURE)  # the eastern pastures, fenced
        for c, r in Rect(19, 2, 6, 10).tiles():
            if c in (19, 24) or r in (2, 11):
                self.terrain[r][c] = Terrain.FENCE
        self.terrain[7][19] = Terrain.PASTURE  # a gap in the fence towards the square
        self._fill(Rect(24, 1, 1, ROWS - 2), Terrain.WATER)  # the brook
        self.terrain[13][24] = Terrain.BRIDGE
        for c, r in Rect(25, 1, 5, ROWS - 2).tiles():  # the Whisperwood, with a clearing track
            if not (r == 13 and c < 27) and (c + 2 * r) % 3 != 0:
                self.terrain[r][c] = Terrain.TREE
        self._fill(Rect(11, 8, 8, 5), Terrain.COBBLE)  # the square
        self._fill(Rect(14, 1, 2, 7), Terrain.PATH)  # gate -> square
        self._fill(Rect(6, 7, 1, 3), Terrain.PATH)  # inn door -> road
        self._fill(Rect(3, 9, 8, 1), Terrain.PATH)  # west road
        self._fill(Rect(5, 10, 1, 6), Terrain.PATH)  # -> smithy
        self._fill(Rect(19, 12, 5, 1), Terrain.PATH)  # square -> mill and the bridge
        self._fill(Rect(22, 12, 1, 7), Terrain.PATH)
        self._fill(Rect(19, 18, 4, 1), Terrain.PATH)
        self._fill(Rect(23, 12, 1, 2), Terrain.PATH)  # -> the bridge
        self._fill(Rect(13, 5, 1, 3), Terrain.PATH)
        self._fill(Rect(13, 13, 1, 2), Terrain.PATH)
        for b in self.buildings:
            self._fill(b.footprint, Terrain.BUILDING)
        self.terrain[9][12] = Terrain.WATER  # the well in the square

    # -- queries -----------------------------------------------------------------------------------
    def at(self, col: int, row: int) -> Terrain:
        if 0 <= col < COLS and 0 <= row < ROWS:
            return self.terrain[row][col]
        return Terrain.TREE

    def solid(self, col: int, row: int) -> bool:
        return self.at(col, row) in SOLID

    def set_gate(self, open_: bool) -> bool:
        """Open or close the north gate (the world's ``gate.open``); True when it changed."""
        want = Terrain.GATE_OPEN if open_ else Terrain.GATE
        if self.terrain[0][14] is want:
            return False
        self._fill(Rect(14, 0, 2, 1), want)
        return True

    def location_at(self, col: int, row: int) -> Location | None:
        for loc in self.locations:
            if loc.area.contains(col, row):
                return loc
        return None

    def location(self, loc_id: str) -> Location | None:
        return next((loc for loc in self.locations if loc.id == loc_id), None)

    def spot(self, npc_id: str) -> NpcSpot | None:
        return next((s for s in self.npc_spots if s.npc_id == npc_id), None)

    def path(
        self, start: tuple[int, int], goal: tuple[int, int], blocked: set[tuple[int, int]] | None = None
    ) -> list[tuple[int, int]]:
        """Shortest 4-way walk of tiles from ``start`` to ``goal`` (excluded start); [] if none."""
        blocked = blocked or set()
        prev: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            if cur == goal:
                break
            c, r = cur
            for nxt in ((c + 1, r), (c - 1, r), (c, r + 1), (c, r - 1)):
                if nxt in prev or self.solid(*nxt) or (nxt in blocked and nxt != goal):
                    continue
                prev[nxt] = cur
                queue.append(nxt)
        if goal not in prev:
            return []
        out: list[tuple[int, int]] = []
        node: tuple[int, int] | None = goal
        while node is not None and node != start:
            out.append(node)
            node = prev[node]
        return out[::-1]
