"""The heads-up display: chat panel with text input, subtitles, notices, the talk prompt."""

from __future__ import annotations

import pygame

from .talk import EntryKind, Talk

PANEL_W = 360
Colour = tuple[int, int, int]

KIND_COLOURS: dict[EntryKind, Colour] = {
    "npc": (250, 226, 160),
    "player": (170, 210, 255),
    "action": (150, 235, 150),
    "notice": (255, 190, 120),
    "system": (170, 170, 180),
    "error": (255, 120, 120),
}
PANEL_BG = (28, 26, 34)
TEXT = (236, 234, 226)


def wrap(text: str, font: pygame.font.Font, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.size(candidate)[0] <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


class Hud:
    def __init__(self, map_w: int, height: int) -> None:
        self.map_w = map_w
        self.height = height
        self.font = pygame.font.Font(None, 22)
        self.small = pygame.font.Font(None, 18)
        self.big = pygame.font.Font(None, 30)
        self.voice_hint = False  # show "Hold V to speak" (a microphone is open)
        self.listening = False  # V is held

    # -- side panel -----------------------------------------------------------------------------------
    def panel(
        self, screen: pygame.Surface, talk: Talk, typed: str, place: str, status: str, journal: list[str]
    ) -> None:
        x0 = self.map_w
        pygame.draw.rect(screen, PANEL_BG, (x0, 0, PANEL_W, self.height))
        pygame.draw.line(screen, (70, 60, 50), (x0, 0), (x0, self.height), 3)
        screen.blit(self.big.render("Thornbrook", True, (250, 210, 120)), (x0 + 14, 10))
        screen.blit(self.small.render(place, True, (190, 190, 200)), (x0 + 16, 38))
        screen.blit(self.small.render(status, True, (130, 170, 130)), (x0 + 16, 54))
        top = 78
        if journal:
            screen.blit(self.font.render("Journal", True, (250, 210, 120)), (x0 + 14, top))
            for i, line in enumerate(journal):
                screen.blit(self.small.render(line, True, (215, 205, 185)), (x0 + 20, top + 20 + i * 16))
            top += 28 + 16 * len(journal)
            pygame.draw.line(screen, (70, 60, 50), (x0 + 10, top), (x0 + PANEL_W - 10, top), 1)
        bottom = self._input_box(screen, talk, typed) if talk.talking else self._controls(screen)
        self._log(screen, talk, top=top + 6, bottom=bottom - 6)

    def _log(self, screen: pygame.Surface, talk: Talk, top: int, bottom: int) -> None:
        width = PANEL_W - 28
        rows: list[tuple[str, Colour]] = []
        for entry in talk.log:
            prefix = f"{entry.speaker}: " if entry.speaker else ""
            for i, line in enumerate(wrap(prefix + entry.text, self.font, width)):
                rows.append((line if i == 0 else "  " + line, KIND_COLOURS[entry.kind]))
            rows.append(("", TEXT))
        line_h = self.font.get_linesize()
        y = bottom - line_h
        for text, colour in reversed(rows[:-1] if rows else rows):
            if y < top:
                break
            screen.blit(self.font.render(text, True, colour), (self.map_w + 14, y))
            y -= line_h

    def _input_box(self, screen: pygame.Surface, talk: Talk, typed: str) -> int:
        x0, h = self.map_w + 10, 58
        top = self.height - h - 10
        box = pygame.Rect(x0, top, PANEL_W - 20, h)
        pygame.draw.rect(screen, (44, 42, 54), box, border_radius=6)
        pygame.draw.rect(screen, (120, 110, 90), box, 2, border_radius=6)
        if self.listening:
            pygame.draw.circle(screen, (230, 60, 60), (box.right - 16, top + 13), 6)
            hint = "Listening... release V to finish."
        elif talk.awaiting_reply:
            hint = f"{talk.name(talk.npc_id)} is answering... (Enter: interrupt)"
        else:
            hint = "Type, Enter to say it. Esc to leave." + (" Hold V: speak." if self.voice_hint else "")
        screen.blit(self.small.render(hint, True, (170, 170, 180)), (x0 + 8, top + 6))
        shown = typed
        while shown and self.font.size("> " + shown + "_")[0] > box.width - 16:
            shown = shown[1:]
        screen.blit(self.font.render("> " + shown + "_", True, TEXT), (x0 + 8, top + 28))
        return top

    def _controls(self, screen: pygame.Surface) -> int:
        lines = [
            "Arrows / WASD: walk",
            "E: talk to someone nearby",
            "F5: quick save   F9: quick load",
            "Esc: quit",
        ]
        line_h = self.small.get_linesize()
        top = self.height - 10 - line_h * len(lines)
        for i, line in enumerate(lines):
            screen.blit(self.small.render(line, True, (170, 170, 180)), (self.map_w + 16, top + i * line_h))
        return top

    # -- over the map ----------------------------------------------------------------------------------
    def prompt(self, screen: pygame.Surface, at: tuple[int, int], name: str) -> None:
        text = self.font.render(f"E to talk to {name}", True, (30, 25, 20))
        box = text.get_rect(midbottom=(at[0], at[1] - 40))
        pygame.draw.rect(screen, (250, 236, 190), box.inflate(12, 6), border_radius=5)
        pygame.draw.rect(screen, (90, 70, 40), box.inflate(12, 6), 2, border_radius=5)
        screen.blit(text, box)

    def subtitle(self, screen: pygame.Surface, speaker: str, text: str) -> None:
        lines = wrap(f"{speaker}: {text}", self.font, self.map_w - 80)[-3:]
        line_h = self.font.get_linesize()
        h = line_h * len(lines) + 14
        box = pygame.Rect(30, self.height - h - 16, self.map_w - 60, h)
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill((10, 10, 14, 200))
        screen.blit(shade, box)
        for i, line in enumerate(lines):
            surf = self.font.render(line, True, KIND_COLOURS["npc"])
            screen.blit(surf, surf.get_rect(midtop=(box.centerx, box.top + 7 + i * line_h)))

    def notices(self, screen: pygame.Surface, talk: Talk) -> None:
        """Newest at the bottom, stacked upwards above the subtitle bar."""
        y = self.height - 120
        for notice in reversed(talk.notices[-4:]):
            text = self.font.render(notice.text, True, (20, 20, 20))
            box = text.get_rect(midbottom=(self.map_w // 2, y))
            pygame.draw.rect(screen, KIND_COLOURS[notice.kind], box.inflate(16, 8), border_radius=6)
            pygame.draw.rect(screen, (40, 40, 40), box.inflate(16, 8), 1, border_radius=6)
            screen.blit(text, box)
            y -= box.height + 14
