"""``python -m demo_game``: walk around Thornbrook and talk to its villagers.

    python -m demo_game                          # embedded runtime, the repo's personas
    python -m demo_game --connect tcp://127.0.0.1:7600
    python -m demo_game --headless --script demo_game/scripts/talk_to_mira.txt \\
        --screenshot /tmp/thornbrook.png --chat-log /tmp/chat.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from npc_runtime.errors import NpcRuntimeError

from .errors import DemoError

log = logging.getLogger("demo_game")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from .embedded import REPO_PERSONAS

    p = argparse.ArgumentParser(
        prog="python -m demo_game", description="Thornbrook: an npc_runtime demo game"
    )
    p.add_argument(
        "--connect", metavar="ENDPOINT", help="use a running runtime (default: start one in-process)"
    )
    p.add_argument("--personas", type=Path, default=REPO_PERSONAS, help="embedded runtime: personas folder")
    p.add_argument(
        "--provider",
        choices=["authored", "local"],
        default="authored",
        help="embedded runtime: who speaks for the villagers (local: the packaged language model, "
        "loaded in its own process; scripts/run.sh demo uses it)",
    )
    p.add_argument(
        "--db", type=Path, help="embedded runtime: SQLite file (default ~/.cache/thornbrook-demo/)"
    )
    p.add_argument(
        "--save-file", type=Path, help="quick save slot (F5/F9); default ~/.cache/thornbrook-demo/"
    )
    p.add_argument("--headless", action="store_true", help="no window (SDL dummy drivers)")
    p.add_argument("--script", type=Path, help="play script of scripted input (see demo_game/script.py)")
    p.add_argument(
        "--script-timeout",
        type=float,
        default=45.0,
        metavar="S",
        help="seconds a waiting script command (wait_reply, ...) may take before the run fails (45)",
    )
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--fps", type=int, default=60)
    p.add_argument("--screenshot", type=Path, help="write a PNG of the last frame here")
    p.add_argument("--chat-log", type=Path, help="write the chat log (JSON) here on exit")
    p.add_argument("--no-voice", action="store_true", help="text only, even with a microphone")
    p.add_argument("--mute", action="store_true", help="do not play NPC voices (subtitles only)")
    p.add_argument(
        "--no-ambient",
        action="store_true",
        help="villagers standing near each other do not chat while you stand by",
    )
    p.add_argument(
        "--mic-wav", type=Path, help="a 16-bit mono WAV that stands in for the microphone (hold V)"
    )
    p.add_argument("--frame-stats", action="store_true", help="print per-frame work percentiles (ms) at exit")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.headless and args.script is None and args.frames is None:
        p.error("--headless needs --script or --frames (nothing would ever end the run)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        return run(args)
    except (DemoError, NpcRuntimeError) as exc:  # NpcRuntimeError: e.g. the embedded runtime's settings
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from .embedded import EmbeddedRuntime, cache_dir, default_db_path
    from .game import Game
    from .net import NetLink
    from .script import ScriptRunner, load

    steps = load(args.script) if args.script else None  # fail on a bad script before starting anything
    embedded: EmbeddedRuntime | None = None
    endpoint = args.connect
    if endpoint is None:
        embedded = EmbeddedRuntime(args.personas, args.db or default_db_path(), args.provider)
        endpoint = embedded.start()
    link = NetLink(endpoint)
    code = 0
    game: Game | None = None
    try:
        try:
            link.connect(timeout=10.0)
        except TimeoutError:
            raise DemoError(
                f"no runtime answered at {endpoint}; start one with `npc-runtime serve`"
            ) from None
        pygame.init()
        try:
            pygame.display.init()
        except pygame.error as exc:
            raise DemoError(f"no display ({exc}); run with --headless, or set DISPLAY") from None
        game = Game(
            link,
            fps=args.fps,
            voice=not args.no_voice,
            mic_wav=args.mic_wav,
            mute=args.mute,
            ambient=not args.no_ambient,
            save_path=args.save_file or cache_dir() / "quicksave.npcsave",
        )
        try:
            game.run(
                ScriptRunner(steps, args.script_timeout) if steps is not None else None,
                max_frames=args.frames,
            )
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = 1
    finally:
        if game is not None:
            if args.screenshot:
                game.screenshot(args.screenshot)
            if args.frame_stats:
                print("frame work ms:", json.dumps(game.frame_stats()))
            if args.chat_log:
                entries = [e.as_dict() for e in game.talk.history]
                args.chat_log.parent.mkdir(parents=True, exist_ok=True)
                args.chat_log.write_text(json.dumps(entries, indent=1), encoding="utf-8")
            if game.voice is not None:
                game.voice.close()
        link.close()
        if embedded is not None:
            embedded.stop()
        pygame.quit()
    return code


if __name__ == "__main__":
    sys.exit(main())
