#!/usr/bin/env bash
# Build and test the engine bindings against the REAL runtime; installs nothing.
#
#   NPC_RUNTIME_PYTHON=/path/to/python bindings/run_tests.sh
#
# Needs (Debian): mono-mcs mono-runtime libmono-system4.0-cil libnunit-cil-dev nunit-console godot3-server
# NPC_RUNTIME_PYTHON: a Python with npc_runtime installed (default: .venv/bin/python, else python3).
# 1. C#: builds bindings/unity/Runtime with `mcs -langversion:7.2` (plain mono, no UnityEngine),
#    compile-checks the Unity component against a stub, builds the NUnit 2.6 tests and runs them with
#    nunit-console (the end-to-end tests start their own runtime process).
# 2. Godot: runs the GDScript tests headless with godot3-server (always under `timeout`, and only an
#    explicit PASS line counts: a GDScript parse error still exits 0); the end-to-end test talks to a
#    runtime started here (its address goes in NPC_RUNTIME_ENDPOINT); the voice end-to-end test
#    starts and restarts its own runtime (NPC_RUNTIME_PYTHON, NPC_RUNTIME_REPO, NPC_GODOT_WORK);
#    test_scripted.gd talks to tests/bindings/scripted_runtime.py (NPC_SCRIPTED_ENDPOINT), a pyzmq
#    ROUTER that sends what no runtime sends yet (conversation_moved, not_authority, new codes).
# Each build step counts as one test. The last line is exactly "N passed, M failed"; the exit
# status is non-zero when anything failed.

set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
APT_PACKAGES="mono-mcs mono-runtime libmono-system4.0-cil libnunit-cil-dev nunit-console godot3-server"

PY="${NPC_RUNTIME_PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY="python3"; fi
fi
# an absolute path: the tests start the runtime from other directories
case "$PY" in
    /*) ;;
    */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;;
    *) PY="$(command -v "$PY" || echo "$PY")" ;;
esac

passed=0
failed=0
summary() { echo "$passed passed, $failed failed"; }

missing=""
for tool in mcs mono nunit-console godot3-server timeout; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
NUNIT_DLL="$(ls /usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll 2>/dev/null | head -n 1)"
[ -n "$NUNIT_DLL" ] || missing="$missing nunit.framework.dll(libnunit-cil-dev)"
if [ -n "$missing" ]; then
    echo "bindings: missing tools:$missing"
    echo "install them with: apt-get install -y $APT_PACKAGES"
    failed=1
    summary
    exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/npc-bindings.XXXXXX")"
RUNTIME_PID=""
SCRIPTED_PID=""
cleanup() {
    for pid in "$RUNTIME_PID" "$SCRIPTED_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

step() {  # step NAME COMMAND... : one pass/fail test, output shown on failure
    local name="$1"; shift
    if "$@" >"$WORK/step.log" 2>&1; then
        passed=$((passed + 1)); echo "ok - $name"
    else
        failed=$((failed + 1)); echo "FAIL - $name"; cat "$WORK/step.log"
    fi
}

# The Godot end-to-end test's runtime starts now, so its start-up overlaps the C# build and tests.
(
    cd "$REPO" && exec env NPC_RUNTIME_HEARTBEAT_INTERVAL=0.5 NPC_RUNTIME_CLIENT_TIMEOUT=3.0 \
        "$PY" -m npc_runtime.cli serve --no-voice --bind tcp://127.0.0.1:0 --personas personas \
        --db "$WORK/godot-runtime.sqlite3"
) >"$WORK/runtime.log" 2>&1 &
RUNTIME_PID=$!
(cd "$REPO" && exec "$PY" tests/bindings/scripted_runtime.py) >"$WORK/scripted.log" 2>&1 &
SCRIPTED_PID=$!

# ------------------------------------------------------------------------------------------- C#
echo "== Unity / C# (mono $(mono --version | head -n 1 | grep -o 'version [0-9.]*'))"
UNITY="$HERE/unity"
# the package's C# files (folders ending in "~" are hidden from Unity: the compile-check stub lives there)
mapfile -t CS_RUNTIME < <(find "$UNITY/Runtime" -name '*.cs' -not -path '*~*' | sort)
mapfile -t CS_TESTS < <(find "$UNITY/Tests" -name '*.cs' -not -path '*~*' | sort)
step "C# core builds with mcs -langversion:7.2 (no UnityEngine)" \
    mcs -langversion:7.2 -warnaserror+ -nologo -target:library -out:"$WORK/NpcRuntime.dll" "${CS_RUNTIME[@]}"
mkdir -p "$WORK/unity-check"
step "Unity components and the sample compile (UNITY_5_3_OR_NEWER, against a UnityEngine stub, not the real Unity)" bash -c '
    mcs -langversion:7.2 -nologo -target:library -out:"$1/UnityEngine.dll" "$2"/Tests/UnityStub~/*.cs &&
    mcs -langversion:7.2 -warnaserror+ -nologo -target:library -define:UNITY_5_3_OR_NEWER -define:ENABLE_LEGACY_INPUT_MANAGER \
        -r:"$1/UnityEngine.dll" -out:"$1/NpcRuntime.dll" "${@:3}" &&
    mcs -langversion:7.2 -warnaserror+ -nologo -target:library -define:UNITY_5_3_OR_NEWER \
        -r:"$1/UnityEngine.dll" -r:"$1/NpcRuntime.dll" -out:"$1/Samples.dll" "$2"/Samples~/*/*.cs' \
    _ "$WORK/unity-check" "$UNITY" "${CS_RUNTIME[@]}"
step "C# tests build" \
    mcs -langversion:7.2 -warnaserror+ -nologo -target:library -r:"$WORK/NpcRuntime.dll" -r:"$NUNIT_DLL" \
    -out:"$WORK/NpcRuntime.Tests.dll" "${CS_TESTS[@]}"

if [ -f "$WORK/NpcRuntime.Tests.dll" ]; then
    cp "$NUNIT_DLL" "$WORK/"
    (cd "$WORK" && NPC_RUNTIME_REPO="$REPO" NPC_RUNTIME_PYTHON="$PY" timeout 900 \
        nunit-console NpcRuntime.Tests.dll -nologo -noshadow -xml="$WORK/nunit.xml") >"$WORK/nunit.log" 2>&1
    nunit_rc=$?
    grep -v '^\.*$' "$WORK/nunit.log" | grep -v '^ProcessModel\|^Execution Runtime' | sed -e 's/^/  /' | head -n 200
    counts="$(head -c 2000 "$WORK/nunit.xml" 2>/dev/null | grep -o '<test-results [^>]*>' | head -n 1)"
    if [ -z "$counts" ]; then
        echo "FAIL - nunit-console wrote no results (exit $nunit_rc)"
        failed=$((failed + 1))
    else
        attr() { echo "$counts" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
        total=$(attr total); bad=$(( $(attr errors) + $(attr failures) + $(attr not-run) + $(attr inconclusive) ))
        passed=$((passed + total - $(attr errors) - $(attr failures) - $(attr inconclusive)))
        failed=$((failed + bad))
        if [ "$nunit_rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
            echo "FAIL - nunit-console exited $nunit_rc"; failed=$((failed + 1))
        fi
        echo "C#: $total tests, $bad not passed"
    fi
fi

# ------------------------------------------------------------------------------------- Godot
echo "== Godot ($(godot3-server --version 2>/dev/null | tail -n 1))"
GHOME="$WORK/godot-home"
mkdir -p "$GHOME/.local/share" "$GHOME/.config" "$GHOME/.cache"
godot_suite() {  # godot_suite SCRIPT SECONDS [ENV=VALUE...]
    local script="$1" secs="$2"; shift 2
    local log="$WORK/godot-$(basename "$script" .gd).log"
    env LANG=C.UTF-8 HOME="$GHOME" XDG_DATA_HOME="$GHOME/.local/share" XDG_CONFIG_HOME="$GHOME/.config" \
        XDG_CACHE_HOME="$GHOME/.cache" NPC_PROTOCOL_VECTORS="$REPO/docs/protocol-vectors.json" "$@" \
        timeout "$secs" godot3-server --no-window --path "$HERE/godot" --script "res://tests/$script" \
        >"$log" 2>&1
    local rc=$?
    grep -E '^(FAIL|GODOT-TESTS|SCRIPT ERROR|ERROR: .*(Parse|parse|script))' "$log" | sed -e 's/^/  /'
    local line n m
    line="$(grep -E '^GODOT-TESTS [a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
    if [ -z "$line" ] || ! grep -qx 'PASS\|FAIL' "$log"; then
        echo "FAIL - $script printed no result (exit $rc; 124 = timed out; a parse error prints nothing):"
        tail -n 30 "$log" | sed -e 's/^/    /'
        failed=$((failed + 1))
        return
    fi
    n="$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')"
    m="$(echo "$line" | sed -E 's/.*, ([0-9]+) failed$/\1/')"
    passed=$((passed + n)); failed=$((failed + m))
    if ! grep -qx 'PASS' "$log" && [ "$m" -eq 0 ]; then failed=$((failed + 1)); fi
}

godot_suite test_codec.gd 60
godot_suite test_core.gd 60

ENDPOINT=""
for _ in $(seq 600); do  # up to 120 s: the runtime's imports are slow on a loaded machine
    ENDPOINT="$(grep -o 'listening on [^ ]*' "$WORK/runtime.log" | head -n 1 | cut -d' ' -f3)"
    [ -n "$ENDPOINT" ] && break
    kill -0 "$RUNTIME_PID" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$ENDPOINT" ]; then
    echo "FAIL - the runtime for the Godot end-to-end test did not start:"
    tail -n 30 "$WORK/runtime.log" | sed -e 's/^/    /'
    failed=$((failed + 1))
else
    godot_suite test_e2e.gd 90 NPC_RUNTIME_ENDPOINT="$ENDPOINT"
fi

SCRIPTED=""
for _ in $(seq 300); do
    SCRIPTED="$(grep -o 'listening on [^ ]*' "$WORK/scripted.log" | head -n 1 | cut -d' ' -f3)"
    [ -n "$SCRIPTED" ] && break
    kill -0 "$SCRIPTED_PID" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$SCRIPTED" ]; then
    echo "FAIL - tests/bindings/scripted_runtime.py did not start:"
    tail -n 30 "$WORK/scripted.log" | sed -e 's/^/    /'
    failed=$((failed + 1))
else
    godot_suite test_scripted.gd 60 NPC_SCRIPTED_ENDPOINT="$SCRIPTED"
fi

# The voice end-to-end test starts (and restarts) its own runtime from GDScript; the player's
# recordings are written here first (Piper line + the start of beckett.wav).
mkdir -p "$WORK/godot-voice"
if "$PY" "$HERE/godot/tests/make_recordings.py" "$WORK/godot-voice" >"$WORK/recordings.log" 2>&1; then
    godot_suite test_voice_e2e.gd 420 NPC_RUNTIME_PYTHON="$PY" NPC_RUNTIME_REPO="$REPO" NPC_GODOT_WORK="$WORK/godot-voice"
    grep -h '^figures:' "$WORK/godot-test_voice_e2e.log" | sed -e 's/^/  /'
else
    echo "FAIL - the recordings for the Godot voice test could not be written:"
    sed -e 's/^/    /' "$WORK/recordings.log"
    failed=$((failed + 1))
fi

summary
[ "$failed" -eq 0 ]
