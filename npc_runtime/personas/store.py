"""The live set of personas, reloaded from disk when files change.

A broken edit keeps the last good version live and reports the problems; a new good version
takes effect on the next turn. :meth:`PersonaStore.refresh` is cheap (one ``stat`` per file), so
the runtime calls it before every turn and on a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .loader import PERSONA_SUFFIX, ConditionChecker, load_persona_file
from .schema import Persona
from .yamlfile import Problem

log = logging.getLogger(__name__)

PARSE_TIME_CAP = 5.0  # seconds to read and check one persona file off the event loop


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
        """Load new or changed files; return what changed (empty when nothing did).

        Parses on the caller's thread; an event loop should call :meth:`refresh_async`."""
        report = ReloadReport()
        changed, seen = self._changed(force)
        for path, stamp, entry in changed:
            self._apply(path, stamp, entry, *load_persona_file(path, self.checker), report)
        return self._finish(seen, report)

    async def refresh_async(self, force: bool = False, time_cap: float = PARSE_TIME_CAP) -> ReloadReport:
        """:meth:`refresh` with parsing in a worker thread, each file within ``time_cap`` seconds:
        no client waits while a designer's file is read (the size and alias caps of
        :mod:`.yamlfile` bound the work; a file still over the cap is reported as a problem)."""
        report = ReloadReport()
        changed, seen = self._changed(force)
        for path, stamp, entry in changed:
            try:
                # asyncio.timeout, not wait_for (Python 3.11's can drop the reload task's
                # cancellation at stop); the thread itself runs on, bounded by the caps.
                async with asyncio.timeout(time_cap):
                    persona, problems = await asyncio.to_thread(load_persona_file, path, self.checker)
            except TimeoutError:
                persona, problems = (
                    None,
                    [
                        Problem(
                            str(path), None, "", f"took over {time_cap:g} s to read; make the file smaller"
                        )
                    ],
                )
            self._apply(path, stamp, entry, persona, problems, report)
        return self._finish(seen, report)

    def _changed(self, force: bool) -> tuple[list[tuple[Path, tuple[int, int], _Entry | None]], set[Path]]:
        """Files that are new or changed since the last refresh (one ``stat`` each), and all files."""
        changed = []
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
            changed.append((path, (st.st_mtime_ns, st.st_size), entry))
        return changed, seen

    def _apply(
        self,
        path: Path,
        stamp: tuple[int, int],
        entry: _Entry | None,
        persona: Persona | None,
        problems: list[Problem],
        report: ReloadReport,
    ) -> None:
        live_id = entry.persona.id if entry and entry.persona else None
        if persona is None:
            # keep the last good version live
            self._files[path] = _Entry(*stamp, entry.persona if entry else None)
            report.failed.append((str(path), live_id, problems))
            return
        owner = self._file_of.get(persona.id)
        if owner is not None and owner != path:
            problem = Problem(str(path), 1, "id", f"id '{persona.id}' is already used by {owner}")
            self._files[path] = _Entry(*stamp, entry.persona if entry else None)
            report.failed.append((str(path), live_id, [problem]))
            return
        if live_id and live_id != persona.id:  # the file's id was renamed
            self._by_id.pop(live_id, None)
            self._file_of.pop(live_id, None)
            report.removed.append((live_id, str(path)))
        self._files[path] = _Entry(*stamp, persona)
        self._by_id[persona.id] = persona
        self._file_of[persona.id] = path
        report.loaded.append((persona.id, str(path)))

    def _finish(self, seen: set[Path], report: ReloadReport) -> ReloadReport:
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
            for npc_id, file in report.removed:
                log.info("persona %s removed (%s is gone)", npc_id, file)
            for _file, _live, problems in report.failed:
                for p in problems:
                    log.error("persona file problem: %s", p)
            for listener in self.listeners:
                listener(report)
        return report
