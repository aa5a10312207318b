#!/usr/bin/env bash
# One command from a fresh clone: set up everything the tests need, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
echo "== ruff"
.venv/bin/ruff check npc_runtime tests tools demo_game
.venv/bin/ruff format --check npc_runtime tests tools demo_game
echo "== mypy"
.venv/bin/mypy npc_runtime demo_game
echo "== protocol test vectors"
.venv/bin/python tools/protocol_vectors.py --check
echo "== pytest"
.venv/bin/pytest -q "$@"
