"""`npc-runtime world ...`: lint, show, schema, replay."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from ..errors import NpcRuntimeError


def cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_path
    from .lint_hooks import expression_types

    problems = lint_path(Path(args.path), expression_types(args.external_names(None)))
    errors = [p for p in problems if p.severity == "error"]
    if args.json:
        print(json.dumps([{**p.as_dict(), "severity": p.severity} for p in problems], indent=2))
        return 1 if errors else 0
    for p in problems:
        print(p)
    print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    return 1 if errors else 0


def cmd_show(args: argparse.Namespace) -> int:
    from .compiled import load_world
    from .lint import world_files
    from .show import render

    files = world_files(Path(args.path))
    if len(files) != 1:
        raise NpcRuntimeError(f"{args.path}: expected one *.world.yaml file, found {len(files)}")
    fmt = args.format or (Path(args.output).suffix.lstrip(".") if args.output else "dot")
    if fmt not in ("png", "svg", "dot"):
        raise NpcRuntimeError(f"unknown format '{fmt}'; use png, svg or dot")
    data = render(load_world(files[0]), fmt)  # type: ignore[arg-type]
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_bytes(data)
        print(f"wrote {args.output} ({len(data)} bytes)")
    else:
        if fmt != "dot":
            raise NpcRuntimeError("png and svg need -o FILE")
        print(data.decode(), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ..console import emit_json
    from .model import world_json_schema

    emit_json(world_json_schema(), args.output)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from ..storage import Database
    from .compiled import load_world
    from .lint import world_files
    from .service import WorldService
    from .store import WorldStore

    files = world_files(Path(args.path))
    if len(files) != 1:
        raise NpcRuntimeError(f"{args.path}: expected one *.world.yaml file, found {len(files)}")
    if not Path(args.db).exists():
        raise NpcRuntimeError(f"{args.db}: no such database")
    svc = WorldService(load_world(files[0]), WorldStore(Database(args.db)), policy="refuse")
    epoch = args.epoch or svc.store.epoch()
    replayed = svc.replayed(epoch).to_dict()
    events = svc.store.events(epoch)
    same = epoch != svc.store.epoch() or replayed == svc.state.to_dict()
    print(
        json.dumps(
            {"epoch": epoch, "events": len(events), "matches_live_state": same, "state": replayed},
            indent=2,
            default=str,
        )
    )
    return 0 if same else 1


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg,unused-ignore]
    external_names: Callable[[Path | None], dict[str, str]],
) -> None:
    """Add `npc-runtime world ...` to the `npc-runtime` parser. ``external_names(config)``: the
    names other concerns own in persona expressions (name -> type), from a config file or the
    environment."""
    world = subparsers.add_parser("world", help="world files: lint, show, schema, replay")
    sub = world.add_subparsers(dest="world_command", required=True)

    lint = sub.add_parser(
        "lint", help="every problem of a world file (and the personas beside it); exits 1 on errors"
    )
    lint.add_argument(
        "path", help="a *.world.yaml file, or a folder holding one (its personas are checked too)"
    )
    lint.add_argument("--json", action="store_true", help="print the problems as JSON")
    lint.set_defaults(func=cmd_lint, external_names=external_names)

    show = sub.add_parser("show", help="draw the quest graphs and the entity graph")
    show.add_argument("path", help="a *.world.yaml file, or a folder holding one")
    show.add_argument("--format", choices=["png", "svg", "dot"], help="default: from -o's suffix, else dot")
    show.add_argument("-o", "--output", help="file to write (default: dot source to stdout)")
    show.set_defaults(func=cmd_show)

    schema = sub.add_parser("schema", help="print the JSON Schema of world files")
    schema.add_argument("-o", "--output")
    schema.set_defaults(func=cmd_schema)

    replay = sub.add_parser("replay", help="rebuild the world state from a database's event log and compare")
    replay.add_argument("path", help="the world file the database was made with")
    replay.add_argument("--db", required=True, help="the runtime's SQLite file")
    replay.add_argument("--epoch", type=int, default=None, help="epoch to replay (default: the current one)")
    replay.set_defaults(func=cmd_replay)
