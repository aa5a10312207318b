#!/usr/bin/env bash
# A throwaway PostgreSQL server for local cluster runs (Debian's postgresql-15, run as the
# postgres user when you are root), in DIR (default .pg) on a free loopback port.
#
#   scripts/pg.sh start [DIR] [PORT]   prints the DSN to pass as --db
#   scripts/pg.sh status [DIR]         prints the DSN, or "stopped" (exit 1)
#   scripts/pg.sh stop [DIR]           stops the server (the data stays in DIR/data)
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-}"
dir="${2:-.pg}"
case "$cmd" in
  start) exec .venv/bin/python -m npc_runtime.storage.pgserver start "$dir" ${3:+"$3"} ;;
  stop|status) exec .venv/bin/python -m npc_runtime.storage.pgserver "$cmd" "$dir" ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
