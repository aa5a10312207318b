"""`npc-runtime memory ...`: look into what an NPC remembers.

``npc-runtime memory show NPC_ID [--player P] [--query TEXT] [--db PATH|URL]`` prints the NPC's
memories (newest first), its relationship with and facts about a player, and, for a query, what it
would retrieve and why: the three normalised scores and their weighted total. ``--db`` is the
runtime's SQLite file, or a cluster's PostgreSQL URL (``postgresql://...``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import StorageError
from .settings import MemorySettings
from .types import describe

DEFAULT_DB = ".npc-runtime/runtime.sqlite3"


def _settings(args: argparse.Namespace) -> tuple[str, MemorySettings]:
    db = args.db
    section: dict[str, Any] = {}
    if args.config:
        from ..settings import load_settings

        s = load_settings(Path(args.config), environ={})
        section = s.memory
        db = db or s.db
    return db or DEFAULT_DB, MemorySettings.from_section(section)


def cmd_show(args: argparse.Namespace) -> int:
    from ..storage import Database
    from ..storage.postgres import is_postgres_url
    from ..storage.shared import SharedDatabase, SqlDatabase
    from .service import MemoryService

    path, settings = _settings(args)
    db: SqlDatabase
    if is_postgres_url(path):
        db = SharedDatabase(path, name="npc-runtime-memory-cli")  # a cluster's shared memory
    elif not Path(path).is_file():
        raise StorageError(f"{path}: no such database; pass the runtime's file with --db PATH")
    else:
        db = Database(path)
    try:
        svc = MemoryService(db, settings)
        out = _collect(svc, args)
    finally:
        db.close()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(_render(out))
    return 0


def _collect(svc: Any, args: argparse.Namespace) -> dict[str, Any]:
    npc = args.npc_id
    recent = svc.store.recent(npc, limit=args.limit, player_id=args.player)
    latest = svc.db.execute("SELECT max(game_time) FROM memory_items WHERE npc_id=?", (npc,)).fetchone()[0]
    now = args.at if args.at is not None else float(latest or 0.0)
    out: dict[str, Any] = {
        "npc_id": npc,
        "memories": svc.store.count(npc),
        "game_time": now,
        "recent": [_mem(svc.store.get(m.id) if m.kind == "reflection" else m, now) for m in recent],
    }
    if args.player:
        out["player"] = {
            "id": args.player,
            "relationship": svc.relationships.get(npc, args.player),
            "facts": svc.facts.describe(npc, args.player),
        }
    if args.query is not None:
        w = svc.settings.weights
        out["query"] = {
            "text": args.query,
            "weights": {"recency": w.recency, "importance": w.importance, "relevance": w.relevance},
            "half_life_hours": svc.settings.recency_half_life_hours,
            "results": [
                {
                    **_mem(r.memory, now),
                    "score": round(r.score, 3),
                    "recency": round(r.recency, 3),
                    "importance_score": round(r.importance, 3),
                    "relevance": round(r.relevance, 3),
                }
                for r in svc.retrieve(npc, args.query, now, k=args.limit, player_id=args.player)
            ],
        }
    return out


def _mem(m: Any, now: float) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "importance": m.importance,
        "game_time": m.game_time,
        "player_id": m.player_id,
        "text": m.text,
        "as_prompt": describe(m, now),
        "evidence": list(m.evidence),
    }


def _render(out: dict[str, Any]) -> str:
    lines = [f"{out['npc_id']}: {out['memories']} memories; game hour {out['game_time']:g}"]
    player = out.get("player")
    if player:
        rel = ", ".join(f"{k} {v:+.2f}" for k, v in player["relationship"].items())
        lines.append(f"relationship with {player['id']}: {rel}")
        for fact in player["facts"]:
            lines.append(f"  knows: {fact}")
    lines.append(f"newest {len(out['recent'])}:")
    for m in out["recent"]:
        lines.append(f"  #{m['id']:<6} {m['kind']:<10} imp {m['importance']:>4.1f}  {m['as_prompt']}")
        if m["evidence"]:
            lines.append(f"          because of: {', '.join(f'#{e}' for e in m['evidence'])}")
    q = out.get("query")
    if q:
        w = q["weights"]
        lines.append(
            f"query {q['text']!r}: score = {w['recency']:g}*recency + {w['importance']:g}*importance + "
            f"{w['relevance']:g}*relevance (each normalised 0..1; recency half-life {q['half_life_hours']:g} game hours)"
        )
        lines.append("   score  recency  importance  relevance  memory")
        for r in q["results"]:
            lines.append(
                f"  {r['score']:6.3f}  {r['recency']:7.3f}  {r['importance_score']:10.3f}  {r['relevance']:9.3f}"
                f"  #{r['id']} {r['as_prompt']}"
            )
        if not q["results"]:
            lines.append("  (nothing remembered)")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add `npc-runtime memory ...` to the `npc-runtime` parser."""
    memory = subparsers.add_parser("memory", help="what NPCs remember: show memories and retrieval scores")
    sub = memory.add_subparsers(dest="memory_command", required=True)
    show = sub.add_parser(
        "show", help="an NPC's memories, relationship, and what a query would retrieve (and why)"
    )
    show.add_argument("npc_id")
    show.add_argument("--player", help="only memories about this player; also show relationship and facts")
    show.add_argument("--query", help="show what this text would retrieve, with the three scores")
    show.add_argument(
        "--db",
        help=f"the runtime's SQLite file or a cluster's postgresql:// URL (default: the config's, else {DEFAULT_DB})",
    )
    show.add_argument("--config", help="runtime config file (TOML) for the memory settings and db path")
    show.add_argument("--at", type=float, help="game hour to score recency at (default: the newest memory's)")
    show.add_argument("--limit", type=int, default=10, help="how many memories to list (default 10)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_show)
