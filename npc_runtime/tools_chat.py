"""``npc-runtime chat``: a terminal chat for designers, interactive or scripted from stdin."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from .protocol.messages import WarningMessage
from .settings import Settings
from .transport.client import DEFAULT_ENDPOINT, AsyncClient, RuntimeErrorReply

GREETING_WAIT = 3.0  # seconds


async def _chat(args: argparse.Namespace, settings: Settings | None) -> int:
    runtime = None
    endpoint = args.connect or DEFAULT_ENDPOINT
    if settings is not None:
        from .runtime.app import Runtime

        # A text chat: no voice messages, so no voice models are loaded.
        voice = {**settings.voice, "enabled": False}
        runtime = Runtime(settings.model_copy(update={"bind": "tcp://127.0.0.1:0", "voice": voice}))
        endpoint = await runtime.start()
    interactive = sys.stdin.isatty()
    client = AsyncClient(endpoint, name="npc-runtime-chat")
    try:
        try:
            await client.connect(timeout=5.0)
        except TimeoutError:
            print(
                f"no runtime answered at {endpoint}; start one with 'npc-runtime serve' or use --embedded",
                file=sys.stderr,
            )
            return 2
        try:
            started = await client.start_conversation(args.npc_id, player_id=args.player)
        except RuntimeErrorReply as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        conv = started.conversation_id
        names = {n.id: n.name for n in (client.welcome.npcs if client.welcome else [])}

        def show(final_text: str, npc_id: str, source: str) -> None:
            tag = f" [{source}]" if source in ("fallback",) else ""
            print(f"{names.get(npc_id, npc_id)}: {final_text}{tag}", flush=True)

        # Greetings are scripted lines, sent at once; an NPC without one says nothing first.
        with contextlib.suppress(TimeoutError):
            greeting = await client.wait_final(conv, timeout=GREETING_WAIT)
            show(greeting.text, greeting.npc_id, greeting.source)
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                print("you> ", end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if not interactive:
                print(f"you: {text}", flush=True)
            try:
                final = await client.say(conv, text, timeout=args.timeout)
            except RuntimeErrorReply as exc:
                print(f"error: {exc}", file=sys.stderr)
                continue
            show(final.text, final.npc_id, final.source)
            for action in final.actions:
                print(f"  (action: {action.name} {action.args})", flush=True)
            await _print_warnings(client)
        await client.end_conversation(conv)
        with contextlib.suppress(TimeoutError):  # likewise for an NPC without a farewell line
            farewell = await client.wait_final(conv, timeout=GREETING_WAIT)
            show(farewell.text, farewell.npc_id, farewell.source)
        return 0
    finally:
        await client.close()
        if runtime is not None:
            await runtime.stop()


async def _print_warnings(client: AsyncClient) -> None:
    """Warnings (a refused action, an LLM fallback) arrive before the final line: show them."""
    while True:
        try:
            warning = await client.next_event(timeout=0.001, types=("warning",))
        except TimeoutError:
            return
        if isinstance(warning, WarningMessage):
            print(f"  (warning {warning.code}: {warning.message})", flush=True)


def run_chat(args: argparse.Namespace, settings: Settings | None) -> int:
    return asyncio.run(_chat(args, settings))
