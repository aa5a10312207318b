"""`npc-runtime voice ...` subcommands (filled in by the voice work)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this concern's subcommands to the `npc-runtime` parser."""
    return None
