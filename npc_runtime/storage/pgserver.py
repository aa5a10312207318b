"""A throwaway PostgreSQL server for tests and local cluster runs (Debian's ``postgresql-15``).

:class:`TempPostgres` runs ``initdb`` in a fresh directory and starts ``postgres`` on a free
loopback port (and a unix socket in that directory) with trust authentication, then stops it and
removes the directory. PostgreSQL refuses to run as root, so when this process is root the server
runs as the ``postgres`` system user (``runuser -u postgres``) and the directory is handed to it.

It is a real server: the same binaries a production cluster runs. Only durability against an
operating-system crash is traded for speed (``fsync=off``): the tests kill clients, never the
machine. ``scripts/pg.sh start|stop|status`` wraps this module for local runs.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import MissingDependencyError, StorageError

READY_TIMEOUT = 60.0  # seconds; initdb + start on a loaded 2-core machine


def bin_dir() -> Path:
    """The directory holding ``initdb``/``pg_ctl``: $PG_BIN, Debian's /usr/lib/postgresql/<v>/bin, PATH."""
    env = os.environ.get("PG_BIN")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise MissingDependencyError(
        "PostgreSQL's server (initdb)", "cluster", command="sudo apt-get install postgresql-15"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempPostgres:
    """``with TempPostgres() as pg: connect(pg.dsn)``; or :meth:`start` / :meth:`stop`."""

    def __init__(self, directory: str | Path | None = None, port: int | None = None) -> None:
        self._own_dir = directory is None
        self.dir = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="npc-pg-"))
        self.data = self.dir / "data"
        self.port = port or free_port()
        self.bin = bin_dir()
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else (os.environ.get("USER") or "postgres")

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=READY_TIMEOUT * 2)
        if res.returncode != 0:
            raise StorageError(
                f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout}"
            )
        return res

    def start(self) -> TempPostgres:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                      "--no-locale", "--no-sync")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                  "-w", "-t", str(int(READY_TIMEOUT)), "start")  # fmt: skip
        return self

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except StorageError:
                pid = self.pid()
                if pid:
                    os.kill(pid, signal.SIGKILL)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m npc_runtime.storage.pgserver start DIR [PORT] | stop DIR | status DIR``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] not in ("start", "stop", "status"):
        print("usage: pgserver start DIR [PORT] | stop DIR | status DIR", file=sys.stderr)
        return 2
    cmd, directory = args[0], Path(args[1]).resolve()
    port_file = directory / "port"
    if cmd == "start":
        port = int(args[2]) if len(args) > 2 else (int(port_file.read_text()) if port_file.exists() else None)
        pg = TempPostgres(directory, port)
        pg.start()
        port_file.write_text(str(pg.port))
        print(pg.dsn)
        return 0
    if not port_file.exists():
        print(f"no server was started in {directory}", file=sys.stderr)
        return 1
    pg = TempPostgres(directory, int(port_file.read_text()))
    if cmd == "status":
        alive = pg.pid() is not None
        print(pg.dsn if alive else "stopped")
        return 0 if alive else 1
    pg.stop()
    deadline = time.monotonic() + READY_TIMEOUT
    while pg.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
