"""A local cluster of real processes: one gateway and N workers (``npc-runtime serve --mode``).

Used by the gateway tests (tests/cluster/) and by ``tools/cluster_chaos.py gateway`` / ``failover``
/ ``latency``. Each process is a real subprocess; workers are named ``w1``, ``w2``...
(``[cluster] worker_id``) so a test can find and kill the owner of a conversation.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FAST = {"heartbeat": 0.25, "max_age": 1.2, "watch_interval": 0.1}  # failover in ~1.5 s


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, top: dict[str, Any], tables: dict[str, dict[str, Any]]) -> Path:
    lines = [f"{k} = {_toml(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Proc:
    """A runtime subprocess; its output is drained by a thread (a full pipe would block it)."""

    def __init__(self, name: str, args: list[str], timeout: float = 120.0) -> None:
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "npc_runtime.cli", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._ready = threading.Event()
        self.endpoint = ""
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or not self.endpoint:
            self.stop()
            raise RuntimeError(f"{name} did not start:\n" + "".join(self.lines[-40:]))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"listening on (\S+)", line)
            if m and not self.endpoint:
                self.endpoint = m.group(1)
                self._ready.set()
        self._ready.set()

    def output(self) -> str:
        return "".join(self.lines)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class LocalCluster:
    """A gateway and workers on loopback, sharing the PostgreSQL database ``dsn``."""

    def __init__(
        self,
        dsn: str,
        work: Path,
        *,
        personas: Path = REPO / "personas",
        top: dict[str, Any] | None = None,
        dialogue: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
        gateway: dict[str, Any] | None = None,
    ) -> None:
        self.dsn, self.work, self.personas = dsn, work, personas
        self.top = top or {}
        self.dialogue = dialogue
        self.cluster = {**FAST, **(cluster or {})}
        self.gateway_extra = gateway or {}
        self.workers: dict[str, Proc] = {}
        self.gateway: Proc | None = None
        self._n = 0
        work.mkdir(parents=True, exist_ok=True)

    def _common(self, name: str, table: dict[str, Any]) -> list[str]:
        """The config file: the cluster's database in [cluster], the process's own SQLite file
        (a worker's memory) as ``db``, so runs never share one."""
        tables: dict[str, dict[str, Any]] = {"cluster": {**table, "db": self.dsn}}
        if self.dialogue:
            tables["dialogue"] = self.dialogue
        top = {**self.top, "db": str(self.work / f"{name}.sqlite3")}
        cfg = write_config(self.work / f"{name}.toml", top, tables)
        return ["--config", str(cfg), "--personas", str(self.personas), "--log-level", "INFO"]

    def start_worker(self, name: str | None = None) -> Proc:
        if name is None:
            self._n += 1
            name = f"w{self._n}"
        args = [
            "--mode", "worker", "--bind", "tcp://127.0.0.1:0", "--no-voice",
            *self._common(name, {**self.cluster, "worker_id": name}),
        ]  # fmt: skip
        proc = self.workers[name] = Proc(name, args)
        return proc

    def start_gateway(self) -> Proc:
        args = [
            "--mode", "gateway", "--bind", "tcp://127.0.0.1:0",
            *self._common("gateway", {**self.cluster, **self.gateway_extra}),
        ]  # fmt: skip
        self.gateway = Proc("gateway", args)
        return self.gateway

    def owner(self, conversation_id: str) -> str | None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT owner FROM cluster_owners WHERE key=%s", (conversation_id,)).fetchone()
        return None if row is None else str(row[0])

    def live(self) -> list[str]:
        return [n for n, p in self.workers.items() if p.proc.poll() is None]

    def stop(self) -> None:
        procs = [*self.workers.values(), *([self.gateway] if self.gateway else [])]
        for p in procs:
            p.stop()


@contextmanager
def local_cluster(dsn: str, work: Path, workers: int = 2, **kwargs: Any) -> Iterator[LocalCluster]:
    c = LocalCluster(dsn, work, **kwargs)
    try:
        # The first worker alone: two workers creating a fresh world at once race on its rows
        # (world/pgstore.py's reset; a known limit), the others in parallel once it exists.
        c.start_worker("w1")
        threads = [threading.Thread(target=c.start_worker, args=(f"w{i + 1}",)) for i in range(1, workers)]
        c._n = workers
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(c.workers) != workers:
            raise RuntimeError("a worker did not start")
        c.start_gateway()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _registered(dsn, workers):
            time.sleep(0.05)
        yield c
    finally:
        c.stop()


def _registered(dsn: str, n: int) -> bool:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM cluster_workers").fetchone()
    return row is not None and int(row[0]) >= n
