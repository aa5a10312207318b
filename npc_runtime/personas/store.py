"""The live set of personas, reloaded from disk when files change.

A broken edit keeps the last good version live and reports the problems; a new good version
takes effect on the next turn. :meth:`PersonaStore.refresh` is cheap (one ``stat`` per file), so
the runtime calls it before every turn and on a timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .loader import PERSONA_SUFFIX, ConditionChecker, load_persona_file
from .schema import Persona
from .yamlfile import Problem

log = logging.getLogger(__name__)


@dataclass
class ReloadReport:
    loaded: list[tuple[str, str]] = field(default_factory=list)  # (npc id, file)
    removed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str | None, list[Problem]]] = field(
        default_factory=list
    )  # file, live id, problems

    def __bool__(self) -> bool:
        return bool(self.loaded or self.removed or self.failed)


@dataclass
class _Entry:
    mtime_ns: int
    size: int
    persona: Persona | None  # the last good version from this file


class PersonaStore:
    def __init__(self, directory: Path, checker: ConditionChecker | None = None) -> None:
        self.directory = Path(directory)
        self.checker = checker
        self._files: dict[Path, _Entry] = {}
        self._by_id: dict[str, Persona] = {}
        self._file_of: dict[str, Path] = {}
        self.listeners: list[Callable[[ReloadReport], None]] = []

    def get(self, npc_id: str) -> Persona | None:
        return self._by_id.get(npc_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def all(self) -> list[Persona]:
        return [self._by_id[i] for i in self.ids()]

    def file_of(self, npc_id: str) -> Path | None:
        return self._file_of.get(npc_id)

    def refresh(self, force: bool = False) -> ReloadReport:
        """Load new or changed files; return what changed (empty when nothing did)."""
        report = ReloadReport()
        seen: set[Path] = set()
        paths = sorted(self.directory.rglob(f"*{PERSONA_SUFFIX}")) if self.directory.is_dir() else []
        for path in paths:
            seen.add(path)
            try:
                st = path.stat()
            except OSError:
                continue
            entry = self._files.get(path)
            if not force and entry and entry.mtime_ns == st.st_mtime_ns and entry.size == st.st_size:
                continue
            persona, problems = load_persona_file(path, self.checker)
            live_id = entry.persona.id if entry and entry.persona else None
            if persona is None:
                # keep the last good version live
                self._files[path] = _Entry(st.st_mtime_ns, st.st_size, entry.persona if entry else None)
                report.failed.append((str(path), live_id, problems))
                continue
            owner = self._file_of.get(persona.id)
            if owner is not None and owner != path:
                problem = Problem(str(path), 1, "id", f"id '{persona.id}' is already used by {owner}")
                self._files[path] = _Entry(st.st_mtime_ns, st.st_size, entry.persona if entry else None)
                report.failed.append((str(path), live_id, [problem]))
                continue
            if live_id and live_id != persona.id:  # the file's id was renamed
                self._by_id.pop(live_id, None)
                self._file_of.pop(live_id, None)
                report.removed.append((live_id, str(path)))
            self._files[path] = _Entry(st.st_mtime_ns, st.st_size, persona)
            self._by_id[persona.id] = persona
            self._file_of[persona.id] = path
            report.loaded.append((persona.id, str(path)))
        for path in list(self._files):
            if path not in seen:
                gone = self._files.pop(path)
                if gone.persona and self._file_of.get(gone.persona.id) == path:
                    self._by_id.pop(gone.persona.id, None)
                    self._file_of.pop(gone.persona.id, None)
                    report.removed.append((gone.persona.id, str(path)))
        if report:
            for npc_id, file in report.loaded:
                log.info("persona %s loaded from %s", npc_id, file)
            for _file, _live, problems in report.failed:
                for p in problems:
                    log.error("persona file problem: %s", p)
            for listener in self.listeners:
                listener(report)
        return report
