"""The demo is not part of the installed package: make the repo's ``demo_game`` importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
