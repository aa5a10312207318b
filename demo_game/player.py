"""The player: position in pixels, movement with tile collision."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .world_map import TILE, TileMap

SPEED = 150.0  # pixels per second
HALF = 9  # half the collision box


def tile_centre(tile: tuple[int, int]) -> tuple[float, float]:
    return tile[0] * TILE + TILE / 2, tile[1] * TILE + TILE / 2


@dataclass
class Player:
    x: float
    y: float
    blocked: set[tuple[int, int]] = field(default_factory=set)  # tiles NPCs stand on

    @classmethod
    def at_tile(cls, tile: tuple[int, int], blocked: set[tuple[int, int]]) -> Player:
        x, y = tile_centre(tile)
        return cls(x, y, blocked)

    @property
    def tile(self) -> tuple[int, int]:
        return int(self.x // TILE), int(self.y // TILE)

    @property
    def pos(self) -> tuple[int, int]:
        return round(self.x), round(self.y)

    def move(self, tiles: TileMap, dx: float, dy: float, dt: float) -> None:
        """Move along (dx, dy) (any length; normalised) for ``dt`` seconds, sliding along walls."""
        length = math.hypot(dx, dy)
        if length == 0:
            return
        step = SPEED * dt / length
        nx = self.x + dx * step
        if self._free(tiles, nx, self.y):
            self.x = nx
        ny = self.y + dy * step
        if self._free(tiles, self.x, ny):
            self.y = ny

    def _free(self, tiles: TileMap, x: float, y: float) -> bool:
        for cx in (x - HALF, x + HALF):
            for cy in (y - HALF, y + HALF):
                tile = int(cx // TILE), int(cy // TILE)
                if tiles.solid(*tile) or tile in self.blocked:
                    return False
        return True

    def distance_to(self, point: tuple[float, float]) -> float:
        return math.hypot(self.x - point[0], self.y - point[1])
