"""Count the PostgreSQL round trips of one text turn (cluster mode's database work per turn).

A runtime with world and memory in PostgreSQL (a throwaway server), one text conversation of
``--turns`` turns after a warm-up; every statement psycopg sends and every BEGIN/COMMIT pair is
counted (psycopg's own methods wrapped, in this process only), and printed per turn, by statement.

    .venv/bin/python tools/turn_round_trips.py [--turns 30]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from npc_runtime.runtime.app import Runtime  # noqa: E402
from npc_runtime.settings import Settings  # noqa: E402
from npc_runtime.storage.pgserver import TempPostgres  # noqa: E402
from npc_runtime.transport.client import AsyncClient  # noqa: E402

LINES = ["A pint of ale, please", "What news from the road?", "Tell me about the wolves"]
BEGIN_COMMIT = "BEGIN ... COMMIT (2 round trips)"
counts: collections.Counter[str] = collections.Counter()
counting = False


def _wrap() -> None:
    execute = psycopg.Cursor.execute
    transaction = psycopg.Connection.transaction

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if counting:
            text = query.decode() if isinstance(query, bytes) else str(query)
            counts[" ".join(text.split())[:90]] += 1
        return execute(self, query, *args, **kwargs)

    @contextlib.contextmanager
    def counted_transaction(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if counting:
            counts[BEGIN_COMMIT] += 1
        with transaction(self, *args, **kwargs) as tx:
            yield tx

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Connection.transaction = counted_transaction  # type: ignore[method-assign,assignment]


async def run(dsn: str, work: Path, turns: int) -> None:
    global counting
    settings = Settings.model_validate(
        {
            "bind": "tcp://127.0.0.1:0",
            "personas_dir": str(REPO / "personas"),
            "db": str(work / "runtime.sqlite3"),
            "voice": {"enabled": False},
            "world": {"shared_db": dsn},
        }
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with AsyncClient(runtime.endpoint) as client:
            conv = (await client.start_conversation("mira", greet=False)).conversation_id
            for i in range(5):  # warm-up: indexes loaded, NPC rows created
                await client.say(conv, LINES[i % 3])
            counting = True
            for i in range(turns):
                await client.say(conv, LINES[i % 3])
            counting = False
    finally:
        await runtime.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=30)
    args = ap.parse_args()
    _wrap()
    with TempPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(pg.dsn, Path(tmp), args.turns))
    trips = sum(counts.values()) + counts[BEGIN_COMMIT]  # BEGIN and COMMIT are two
    print(f"round trips per turn: {trips / args.turns:.2f}")
    for statement, n in counts.most_common():
        print(f"  {n / args.turns:5.2f}  {statement}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
