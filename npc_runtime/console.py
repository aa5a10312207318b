"""Small helpers shared by the command-line tools of every concern."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit_json(doc: Any, output: str | None) -> None:
    """Print a JSON document, or write it to ``output`` (creating its folder)."""
    text = json.dumps(doc, indent=2)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
