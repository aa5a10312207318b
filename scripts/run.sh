#!/usr/bin/env bash
# One command from a fresh clone: set up, then serve the sample village on its offline defaults
# (authored dialogue, Piper voice, pocketsphinx STT, SQLite in .npc-runtime/).
#
#   ./scripts/run.sh              serve on tcp://127.0.0.1:7600 (talk: .venv/bin/npc-runtime chat mira)
#   ./scripts/run.sh --provider local          serve with the packaged language model (docs/llm.md)
#   ./scripts/run.sh chat mira --provider local    talk to Mira's language model in this terminal
#   ./scripts/run.sh chat mira    talk to Mira in this terminal (embedded runtime, no server needed)
#   ./scripts/run.sh demo         the pygame village (needs a display)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" != "" ] && [ "${1#-}" != "$1" ]; then
  set -- serve "$@"  # flags only: serve with them
fi
case "${1:-serve}" in
  serve)
    echo "Talk to the NPCs from another terminal:  .venv/bin/npc-runtime chat mira"
    exec .venv/bin/npc-runtime serve --personas personas "${@:2}" ;;
  chat)
    exec .venv/bin/npc-runtime chat "${2:-mira}" --embedded --personas personas "${@:3}" ;;
  demo)
    exec .venv/bin/python -m demo_game "${@:2}" ;;
  *)
    echo "usage: $0 [serve|chat NPC_ID|demo] [options]" >&2; exit 2 ;;
esac
