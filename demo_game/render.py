"""Drawing the village with pygame primitives: terrain, buildings, characters, name labels."""

from __future__ import annotations

import random

import pygame

from .world_map import COLS, ROWS, TILE, Building, Terrain, TileMap

Colour = tuple[int, int, int]

TERRAIN_COLOURS: dict[Terrain, Colour] = {
    Terrain.GRASS: (96, 156, 72),
    Terrain.PATH: (184, 156, 108),
    Terrain.COBBLE: (150, 148, 140),
    Terrain.WATER: (62, 120, 190),
    Terrain.BRIDGE: (140, 100, 60),
    Terrain.WALL: (110, 80, 50),
    Terrain.GATE: (80, 55, 30),
    Terrain.GATE_OPEN: (184, 156, 108),
    Terrain.TREE: (58, 120, 58),
    Terrain.BUILDING: (96, 156, 72),
    Terrain.FENCE: (125, 160, 80),
    Terrain.PASTURE: (125, 172, 82),
}
LABEL_BG = (20, 20, 28)
WHITE = (240, 240, 235)


def map_surface(tiles: TileMap) -> pygame.Surface:
    """The static village (terrain and buildings), drawn once and blitted every frame."""
    surf = pygame.Surface((COLS * TILE, ROWS * TILE))
    rng = random.Random(7)  # fixed seed: the same village every run
    font = pygame.font.Font(None, 20)
    for row in range(ROWS):
        for col in range(COLS):
            terrain = tiles.at(col, row)
            rect = pygame.Rect(col * TILE, row * TILE, TILE, TILE)
            pygame.draw.rect(surf, TERRAIN_COLOURS[terrain], rect)
            _decorate(surf, terrain, rect, rng)
    for b in tiles.buildings:
        _building(surf, b, font)
    _sheep(surf, rng)
    return surf


def _decorate(surf: pygame.Surface, terrain: Terrain, rect: pygame.Rect, rng: random.Random) -> None:
    x, y = rect.topleft
    if terrain in (Terrain.GRASS, Terrain.PASTURE, Terrain.BUILDING) and rng.random() < 0.25:
        colour = rng.choice([(230, 210, 90), (220, 120, 160), (240, 240, 240), (80, 140, 60)])
        pygame.draw.circle(surf, colour, (x + rng.randint(4, 28), y + rng.randint(4, 28)), 2)
    elif terrain is Terrain.COBBLE:
        for dx, dy in ((8, 8), (24, 10), (14, 22), (27, 26)):
            pygame.draw.circle(surf, (128, 126, 120), (x + dx, y + dy), 5, 1)
    elif terrain is Terrain.PATH and rng.random() < 0.3:
        pygame.draw.circle(surf, (160, 134, 92), (x + rng.randint(5, 27), y + rng.randint(5, 27)), 2)
    elif terrain is Terrain.TREE:
        pygame.draw.rect(surf, (90, 62, 36), (x + 13, y + 18, 6, 12))
        pygame.draw.circle(surf, (34, 92, 40), (x + 16, y + 14), 12)
        pygame.draw.circle(surf, (48, 116, 52), (x + 12, y + 11), 6)
    elif terrain is Terrain.WATER:
        for dy in (9, 21):
            pygame.draw.line(surf, (110, 160, 220), (x + 6, y + dy), (x + 14, y + dy - 2), 2)
    elif terrain is Terrain.BRIDGE:
        for dx in range(2, TILE, 7):
            pygame.draw.line(surf, (100, 70, 40), (x + dx, y), (x + dx, y + TILE), 2)
    elif terrain is Terrain.WALL:
        for dx in range(0, TILE, 8):
            pygame.draw.polygon(
                surf, (140, 104, 64), [(x + dx, y + TILE), (x + dx + 4, y), (x + dx + 8, y + TILE)]
            )
    elif terrain is Terrain.GATE_OPEN:  # the doors swung back against the palisade
        pygame.draw.rect(surf, (80, 55, 30), (x + (0 if x // TILE % 2 == 0 else TILE - 5), y, 5, TILE))
    elif terrain is Terrain.GATE:
        pygame.draw.rect(surf, (60, 40, 20), rect, 3)
        pygame.draw.line(surf, (180, 180, 190), (x, y + 16), (x + TILE, y + 16), 3)
    elif terrain is Terrain.FENCE:
        pygame.draw.line(surf, (150, 110, 70), (x, y + 12), (x + TILE, y + 12), 3)
        pygame.draw.line(surf, (150, 110, 70), (x, y + 22), (x + TILE, y + 22), 3)
        pygame.draw.line(surf, (120, 86, 50), (x + 4, y + 6), (x + 4, y + 28), 4)


def _building(surf: pygame.Surface, b: Building, font: pygame.font.Font) -> None:
    fp = b.footprint
    body = pygame.Rect(fp.x * TILE + 2, fp.y * TILE + 2, fp.w * TILE - 4, fp.h * TILE - 4)
    pygame.draw.rect(surf, (0, 0, 0), body.move(4, 4))  # shadow
    pygame.draw.rect(surf, (205, 190, 160), body)  # walls
    roof = body.copy()
    roof.height = int(body.height * 0.62)
    pygame.draw.rect(surf, b.roof, roof)
    for ry in range(roof.top + 6, roof.bottom, 8):  # roof tiles
        pygame.draw.line(
            surf, tuple(max(c - 30, 0) for c in b.roof), (roof.left, ry), (roof.right - 1, ry), 1
        )
    pygame.draw.rect(surf, (60, 40, 30), body, 2)
    door_x = b.door[0] * TILE + TILE // 2
    pygame.draw.rect(surf, (90, 55, 30), (door_x - 7, body.bottom - 18, 14, 18))
    for wx in (body.left + 10, body.right - 22):
        pygame.draw.rect(surf, (250, 220, 120), (wx, body.bottom - 16, 12, 9))
        pygame.draw.rect(surf, (60, 40, 30), (wx, body.bottom - 16, 12, 9), 1)
    if b.id == "smithy":  # the forge glows
        pygame.draw.circle(surf, (255, 140, 40), (body.right - 12, body.top + 10), 7)
        pygame.draw.circle(surf, (255, 220, 120), (body.right - 12, body.top + 10), 3)
    if b.id == "old_mill":  # the water wheel
        centre = (body.right + 14, body.centery)
        pygame.draw.circle(surf, (100, 70, 40), centre, 14, 3)
        for dx, dy in ((14, 0), (0, 14), (10, 10), (10, -10)):
            pygame.draw.line(
                surf, (100, 70, 40), (centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy), 2
            )
    if b.label:
        text = font.render(b.label, True, WHITE)
        box = text.get_rect(center=(body.centerx, roof.centery))
        pygame.draw.rect(surf, LABEL_BG, box.inflate(8, 4))
        surf.blit(text, box)


def _sheep(surf: pygame.Surface, rng: random.Random) -> None:
    for _ in range(5):
        x, y = rng.randint(20 * TILE + 8, 23 * TILE + 20), rng.randint(3 * TILE + 8, 10 * TILE + 20)
        pygame.draw.ellipse(surf, (245, 245, 240), (x, y, 16, 11))
        pygame.draw.circle(surf, (40, 40, 40), (x + 16, y + 4), 3)


def draw_person(
    screen: pygame.Surface,
    centre: tuple[int, int],
    body: Colour,
    label: str | None,
    font: pygame.font.Font,
    highlight: bool = False,
    mouth: float = 0.0,
) -> None:
    """A villager: shadow, body, head with a mouth open by ``mouth`` (0..1); a name label above."""
    x, y = centre
    pygame.draw.ellipse(screen, (40, 70, 35), (x - 10, y + 8, 20, 8))
    if highlight:
        pygame.draw.circle(screen, (255, 230, 120), (x, y), 17, 2)
    pygame.draw.rect(screen, body, (x - 8, y - 4, 16, 16), border_radius=5)
    pygame.draw.circle(screen, (238, 200, 160), (x, y - 9), 7)
    pygame.draw.circle(screen, (30, 30, 30), (x - 2, y - 10), 1)
    pygame.draw.circle(screen, (30, 30, 30), (x + 3, y - 10), 1)
    if mouth > 0.05:
        pygame.draw.ellipse(screen, (120, 40, 40), (x - 2, y - 7, 5, 1 + round(4 * mouth)))
    else:
        pygame.draw.line(screen, (120, 60, 50), (x - 2, y - 6), (x + 2, y - 6), 1)
    if label:
        text = font.render(label, True, WHITE)
        box = text.get_rect(midbottom=(x, y - 18))
        pygame.draw.rect(screen, LABEL_BG, box.inflate(6, 2), border_radius=3)
        screen.blit(text, box)
