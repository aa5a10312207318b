"""The command line as a user runs it: real subprocesses."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from npc_runtime.errors import ConfigError
from npc_runtime.settings import load_settings
from npc_runtime.transport.client import Client
from testsupport import RuntimeProcess

REPO = Path(__file__).resolve().parents[2]


def test_serve_answers_then_stops_cleanly_on_sigterm(runtime_process: Callable[..., RuntimeProcess]) -> None:
    rp = runtime_process()
    with Client(rp.endpoint, name="cli-test") as client:
        assert client.welcome is not None and "mira" in {n.id for n in client.welcome.npcs}
        conv = client.start_conversation("tomas", greet=False).conversation_id
        assert "shut" in client.say(conv, "open the gate please").text
    rp.proc.send_signal(signal.SIGTERM)
    out, _ = rp.proc.communicate(timeout=20)
    assert rp.proc.returncode == 0, out
    assert "npc-runtime stopped" in out


def test_chat_with_piped_stdin_against_running_runtime(
    runtime_process: Callable[..., RuntimeProcess],
) -> None:
    rp = runtime_process()
    result = subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", "chat", "mira", "--connect", rp.endpoint],
        input="do you have a room?\nflibbertigibbet\npour me an ale\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Mira Thornwood: ")  # greeting
    assert any("five silver" in line or "stairs" in line for line in lines)
    assert any("[fallback]" in line for line in lines)
    assert any("(action: serve_drink" in line for line in lines)
    assert lines[-1].startswith("Mira Thornwood: ")  # farewell


def test_chat_embedded_needs_no_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npc_runtime.cli",
            "chat",
            "bram",
            "--embedded",
            "--personas",
            str(REPO / "personas"),
            "--db",
            str(tmp_path / "db.sqlite3"),
        ],
        input="what are you working on?\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Bram Ironhand:" in result.stdout and "trap" in result.stdout.lower()


def test_chat_reports_unknown_npc(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npc_runtime.cli",
            "chat",
            "nobody",
            "--embedded",
            "--personas",
            str(REPO / "personas"),
            "--db",
            str(tmp_path / "db.sqlite3"),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "unknown_npc" in result.stderr


def test_settings_sources_and_loopback_guard(tmp_path: Path) -> None:
    cfg = tmp_path / "runtime.toml"
    cfg.write_text('bind = "tcp://127.0.0.1:7700"\n[dialogue]\nprovider = "openai"\nmodel = "llama3"\n')
    s = load_settings(
        cfg,
        {"dialogue": {"base_url": "http://127.0.0.1:11434/v1"}},
        environ={"NPC_RUNTIME_CLIENT_TIMEOUT": "30", "NPC_RUNTIME_DIALOGUE__TEMPERATURE": "0.2"},
    )
    assert s.bind == "tcp://127.0.0.1:7700" and s.client_timeout == 30
    assert s.dialogue == {
        "provider": "openai",
        "model": "llama3",
        "temperature": 0.2,
        "base_url": "http://127.0.0.1:11434/v1",
    }
    with pytest.raises(ConfigError, match="not loopback"):
        load_settings(None, {"bind": "tcp://0.0.0.0:7600"}, environ={})
    assert load_settings(None, {"bind": "tcp://0.0.0.0:7600", "allow_remote": True}, environ={}).allow_remote
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        load_settings(None, {"heartbeat_interval": -1}, environ={})


def test_serve_refuses_a_foreign_database(tmp_path: Path) -> None:
    import sqlite3

    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t(x)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npc_runtime.cli",
            "serve",
            "--bind",
            "tcp://127.0.0.1:0",
            "--db",
            str(foreign),
            "--personas",
            str(REPO / "personas"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "another application" in result.stderr
