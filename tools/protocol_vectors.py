"""Write docs/protocol-vectors.json from the examples in docs/protocol.md.

    python tools/protocol_vectors.py [--check]

--check exits 1 when the file on disk is out of date (CI runs the tests, which check the same).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from npc_runtime.protocol.vectors import build_vectors

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"
OUT = ROOT / "docs" / "protocol-vectors.json"


def render() -> str:
    return json.dumps(build_vectors(DOC), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python tools/protocol_vectors.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
