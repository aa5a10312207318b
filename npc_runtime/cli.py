"""The ``npc-runtime`` command.

npc-runtime serve [--bind tcp://127.0.0.1:7600] [--personas DIR] [--config FILE] ...
npc-runtime chat NPC_ID [--connect ENDPOINT | --embedded]   (reads piped stdin too)
npc-runtime persona schema | persona lint PATH...
npc-runtime world ... | memory ... | voice ...
"""

from __future__ import annotations

import os

# One BLAS thread: the runtime serves many conversations at once on few cores, and a multi-threaded
# BLAS measured 2-3x slower for memory retrieval on 2 cores (tools/bench_memory.py). This must run
# before numpy loads; an explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import ConfigError, NpcRuntimeError, StorageError
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from .observability import Metrics


def _settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "bind": getattr(args, "bind", None),
        "personas_dir": getattr(args, "personas", None),
        "db": getattr(args, "db", None),
        "log_level": getattr(args, "log_level", None),
    }
    dialogue: dict[str, Any] = {}
    if getattr(args, "provider", None):
        dialogue["provider"] = args.provider
    if getattr(args, "base_url", None):
        dialogue["base_url"] = args.base_url
    if getattr(args, "model", None):
        dialogue["model"] = args.model
    if getattr(args, "stand_in", None) is not None:  # benchmarks of coordination only
        dialogue.update(provider="stand_in", stand_in_seconds=args.stand_in)
    if dialogue:
        overrides["dialogue"] = dialogue
    if getattr(args, "no_voice", False):
        overrides["voice"] = {"enabled": False}
    if getattr(args, "world_db", None):  # cluster mode: the world shared in PostgreSQL
        overrides["world"] = {"shared_db": args.world_db, "instance": args.world_instance or "default"}
    return load_settings(getattr(args, "config", None), overrides)


def _add_runtime_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (see README)")
    p.add_argument("--bind", help="ZeroMQ endpoint to bind (default tcp://127.0.0.1:7600)")
    p.add_argument("--personas", type=Path, help="folder of *.persona.yaml and the world file")
    p.add_argument("--db", help="SQLite file for world state and memory, or a postgresql:// URL (cluster)")
    p.add_argument(
        "--world-db", help="postgresql:// URL: share the world with other workers (docs/scaling.md)"
    )
    p.add_argument("--world-instance", help="which shared world instance (default: default)")
    p.add_argument("--provider", choices=["authored", "local", "openai"], help="dialogue provider")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--model", help="model: a name the openai server knows, or a packaged local model")
    p.add_argument(
        "--stand-in",
        type=float,
        metavar="SECONDS",
        help="benchmarks only: a stand-in provider that sleeps SECONDS per reply (tools/bench_cluster.py)",
    )
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--no-voice", action="store_true", help="text only: no voice messages, no voice models loaded"
    )


async def _serve(settings: Settings, metrics: Metrics | None = None) -> int:
    from .runtime.app import Runtime

    runtime = Runtime(settings, metrics=metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    endpoint = await runtime.start()
    print(
        f"npc-runtime {__version__} listening on {endpoint} with NPCs: {', '.join(runtime.personas.ids())}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await runtime.stop()
    print("npc-runtime stopped", flush=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .observability import Metrics, setup_logging

    settings = _settings_from_args(args)
    setup_logging(settings.log_level, args.log_format)
    metrics = None
    if args.metrics_port is not None:
        metrics = Metrics()
        port = metrics.serve(args.metrics_port, args.metrics_addr)
        print(f"metrics on http://{args.metrics_addr}:{port}/metrics", flush=True)
    try:
        if args.mode != "embedded":  # gateway / worker: npc_runtime.cluster (docs/scaling.md)
            from .cluster.serve import serve

            return asyncio.run(serve(settings, args.mode, args.db, metrics))
        return asyncio.run(_serve(settings, metrics))
    finally:
        if metrics is not None:
            metrics.close()


def cmd_chat(args: argparse.Namespace) -> int:
    from .tools_chat import run_chat

    return run_chat(args, _settings_from_args(args) if args.embedded else None)


def cmd_persona_schema(args: argparse.Namespace) -> int:
    from .console import emit_json
    from .personas.schema import persona_json_schema

    emit_json(persona_json_schema(), args.output)
    return 0


def cmd_persona_lint(args: argparse.Namespace) -> int:
    from .personas.loader import lint_personas

    checker = None
    if not args.world and not args.no_world:
        from .world.lint_hooks import world_beside

        args.world = world_beside([Path(p) for p in args.paths])
        if args.world:
            print(f"checking conditions against {args.world} (found beside the personas; --no-world to skip)")
    if args.world:
        from .world.lint_hooks import persona_checker_for

        checker = persona_checker_for(Path(args.world), external_names(args.config))
    problems = lint_personas([Path(p) for p in args.paths], checker)
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        print(p)
    print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    return 1 if errors else 0


def external_names(config: Path | None) -> dict[str, str]:
    """Names other concerns own in persona conditions (relationship.trust, ...), from the same
    settings the runtime would use: the config file, then NPC_RUNTIME_* variables, then defaults."""
    from .runtime.app import default_expression_names

    return default_expression_names(load_settings(config))


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from .transport.security import generate_keys

    public, secret = generate_keys(Path(args.directory), args.name, force=args.force)
    print(f"wrote {public} (give to clients / put in curve_clients_dir) and {secret} (keep private)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npc-runtime", description="Local-first NPC voice runtime for games"
    )
    parser.add_argument("--version", action="version", version=f"npc-runtime {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the runtime (ZeroMQ ROUTER)")
    _add_runtime_flags(serve)
    serve.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="json: one object per line"
    )
    serve.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on this port (off by default)"
    )
    serve.add_argument("--metrics-addr", default="127.0.0.1", help="address of the metrics endpoint")
    serve.add_argument(
        "--mode",
        choices=["embedded", "gateway", "worker"],
        default="embedded",
        help="cluster mode with --db postgresql://... (docs/scaling.md); embedded: one process",
    )
    serve.set_defaults(func=cmd_serve)

    chat = sub.add_parser("chat", help="talk to an NPC in the terminal (or from piped stdin)")
    chat.add_argument("npc_id")
    chat.add_argument("--connect", default=None, help="endpoint of a running runtime")
    chat.add_argument("--embedded", action="store_true", help="start a runtime inside this process")
    chat.add_argument("--player", default="player", help="player id")
    chat.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each reply")
    _add_runtime_flags(chat)
    chat.set_defaults(func=cmd_chat)

    persona = sub.add_parser("persona", help="persona files: schema, lint")
    psub = persona.add_subparsers(dest="persona_command", required=True)
    schema = psub.add_parser("schema", help="print the JSON Schema of persona files")
    schema.add_argument("-o", "--output")
    schema.set_defaults(func=cmd_persona_schema)
    lint = psub.add_parser("lint", help="check persona files; exits 1 on any error")
    lint.add_argument("paths", nargs="+")
    lint.add_argument(
        "--world", help="check conditions against this world file (default: the one beside the personas)"
    )
    lint.add_argument("--no-world", action="store_true", help="do not check conditions against a world")
    lint.add_argument("--config", type=Path, help="runtime config (TOML) whose settings the check uses")
    lint.set_defaults(func=cmd_persona_lint)

    keys = sub.add_parser("keys", help="CURVE certificates for encrypted, authenticated connections")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    gen = ksub.add_parser("generate", help="write NAME.key (public) and NAME.key_secret into DIRECTORY")
    gen.add_argument("directory")
    gen.add_argument("--name", default="server")
    gen.add_argument("--force", action="store_true", help="replace an existing key pair")
    gen.set_defaults(func=cmd_keys_generate)

    from .evals import cli as evals_cli
    from .memory import cli as memory_cli
    from .voice import cli as voice_cli
    from .world import cli as world_cli

    world_cli.register(sub, external_names)
    memory_cli.register(sub)
    voice_cli.register(sub)
    evals_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, StorageError) as exc:
        print(f"npc-runtime: {exc}", file=sys.stderr)
        return 2
    except NpcRuntimeError as exc:
        print(f"npc-runtime: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
