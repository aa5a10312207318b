"""Structured logs and the Prometheus endpoint (a real HTTP scrape on loopback)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from npc_runtime.observability import JsonFormatter, Metrics

REPO = Path(__file__).resolve().parents[2]


def test_json_log_lines() -> None:
    record = logging.LogRecord(
        "npc_runtime.x", logging.WARNING, "f.py", 1, "client %s is gone", ("c1",), None
    )
    record.conversation_id = "abc"
    doc = json.loads(JsonFormatter().format(record))
    assert doc["level"] == "WARNING" and doc["logger"] == "npc_runtime.x"
    assert doc["msg"] == "client c1 is gone" and doc["conversation_id"] == "abc"
    assert doc["ts"].endswith("+00:00")


def test_metrics_are_scraped_in_the_prometheus_text_format() -> None:
    metrics = Metrics()
    port = metrics.serve(0)
    try:
        metrics.client_connected()
        metrics.conversation_started("text")
        metrics.turn_stage("text_reply", 0.12)
        metrics.turn_stage("first_audio_sent", 0.9, mode="hands_free")
        metrics.error("invalid_fields")
        metrics.error("invalid_fields")
        metrics.provider_fallback("openai", "timeout")
        metrics.conversation_ended("text", "client")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            body = resp.read().decode()
    finally:
        metrics.close()
    assert 'npc_errors_total{code="invalid_fields"} 2.0' in body
    assert 'npc_provider_fallbacks_total{provider="openai",reason="timeout"} 1.0' in body
    assert 'npc_turn_stage_seconds_bucket{le="0.2",mode="text",stage="text_reply"} 1.0' in body
    assert 'npc_conversations{mode="text"} 0.0' in body and "npc_clients 1.0" in body
    assert 'npc_errors_total{code="invalid_fields"} 2.0' in metrics.text()


def test_serve_logs_json_and_serves_metrics(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "npc_runtime.cli", "serve", "--bind", "tcp://127.0.0.1:0",
         "--personas", str(REPO / "personas"), "--db", str(tmp_path / "db.sqlite3"),
         "--log-format", "json", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NPC_RUNTIME_VOICE": '{"warm_up": false}'},
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        port = int(re.search(r"metrics on http://127.0.0.1:(\d+)/metrics", first).group(1))  # type: ignore[union-attr]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert "npc_clients" in resp.read().decode()
        line = proc.stderr.readline()
        assert json.loads(line)["logger"].startswith("npc_runtime")
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
