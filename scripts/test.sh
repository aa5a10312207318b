#!/usr/bin/env bash
# One command from a fresh clone: set up everything the tests need, then lint, type-check and test.
#   scripts/test.sh --quick   a fast local loop: skips setup when .venv exists, mypy, and the
#                             slowest end-to-end tests (marker e2e_slow, tests/slow_tests.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--quick" ]; then
  shift
  [ -x .venv/bin/pytest ] || scripts/setup.sh --dev
  echo "== ruff"
  .venv/bin/ruff check npc_runtime tests tools demo_game
  echo "== pytest (quick: -m 'not e2e_slow')"
  exec .venv/bin/pytest -q -m "not e2e_slow" "$@"
fi
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
