#!/usr/bin/env bash
# One command from a fresh clone: set up, then serve the sample village on its offline defaults
# (the packaged language model in its own process, with the designers' authored lines for strong
# topic matches and openers; Piper voices; Whisper speech recognition; SQLite in .npc-runtime/).
#
#   ./scripts/run.sh              serve on tcp://127.0.0.1:7600 (talk: .venv/bin/npc-runtime chat mira)
#   ./scripts/run.sh chat mira    talk to Mira in this terminal (embedded runtime, no server needed)
#   ./scripts/run.sh demo         the pygame village (needs a display)
#   ... --provider authored       the smallest footprint: authored lines only, ~1 ms a turn, no model
#
# NPC_RUNTIME_NO_LLM=1 (setup without the 1.2 GB of model packages) makes authored the default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" != "" ] && [ "${1#-}" != "$1" ]; then
  set -- serve "$@"  # flags only: serve with them
fi
provider=(--provider local)
if [ "${NPC_RUNTIME_NO_LLM:-0}" = 1 ] || [[ " $* " == *" --provider"* ]]; then
  provider=()  # the caller chose, or there is no model to load
fi
case "${1:-serve}" in
  serve)
    echo "Talk to the NPCs from another terminal:  .venv/bin/npc-runtime chat mira"
    exec .venv/bin/npc-runtime serve --personas personas "${provider[@]}" "${@:2}" ;;
  chat)
    exec .venv/bin/npc-runtime chat "${2:-mira}" --embedded --personas personas "${provider[@]}" "${@:3}" ;;
  demo)
    exec .venv/bin/python -m demo_game "${provider[@]}" "${@:2}" ;;
  *)
    echo "usage: $0 [serve|chat NPC_ID|demo] [--provider authored|local|openai] [options]" >&2; exit 2 ;;
esac
