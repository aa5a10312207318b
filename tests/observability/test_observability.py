"""Structured logs and the Prometheus endpoint (a real HTTP scrape on loopback)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

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


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One real scrape of ``/metrics``, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        body = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_serve_process_feeds_its_metrics(tmp_path: Path) -> None:
    """A real ``serve`` with an LLM provider whose server is down (every LLM turn falls back):
    a few turns and a bad request move the counters a scrape of ``--metrics-port`` reads."""
    dialogue = {
        "provider": "openai",
        "base_url": f"http://127.0.0.1:{_free_port()}/v1",  # nothing listens: connection refused
        "model": "test-model",
        "max_retries": 0,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "npc_runtime.cli", "serve", "--bind", "tcp://127.0.0.1:0",
         "--personas", str(REPO / "personas"), "--db", str(tmp_path / "db.sqlite3"),
         "--no-voice", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "NPC_RUNTIME_DIALOGUE": json.dumps(dialogue)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        port = int(re.search(r"metrics on http://127.0.0.1:(\d+)/metrics", first).group(1))  # type: ignore[union-attr]
        endpoint = ""
        for line in proc.stdout:
            m = re.search(r"listening on (\S+)", line)
            if m:
                endpoint = m.group(1)
                break
        assert endpoint, "serve did not start"
        before = _scrape(port)
        assert before[("npc_clients", ())] == 0.0
        during, after = asyncio.run(_play(endpoint, port))
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    text = (("mode", "text"),)
    assert during[("npc_clients", ())] == 1.0
    assert during[("npc_conversations", text)] == 1.0
    assert during[("npc_conversations_started_total", text)] == 1.0
    assert during[("npc_errors_total", (("code", "unknown_npc"),))] == 1.0
    fallbacks = sum(v for (name, _), v in during.items() if name == "npc_provider_fallbacks_total")
    assert fallbacks >= 2  # both player lines: the LLM is down (the greeting was authored)
    for stage in ("first_text", "text_reply"):
        key = ("npc_turn_stage_seconds_count", (("mode", "text"), ("stage", stage)))
        assert during[key] == 3.0  # the greeting and two replies
    assert after[("npc_clients", ())] == 0.0 and after[("npc_conversations", text)] == 0.0
    assert after[("npc_conversations_ended_total", (("reason", "client"),))] == 1.0


async def _play(endpoint: str, port: int) -> tuple[dict[Any, float], dict[Any, float]]:
    from npc_runtime.protocol.messages import ConversationEnd, ConversationStart
    from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply

    client = AsyncClient(endpoint, name="metrics")
    await client.connect(timeout=60)
    conv = (await client.start_conversation("mira")).conversation_id
    await client.wait_final(conv, timeout=60)  # the greeting
    for line in ("xyzzy plugh frobnicate", "qwerty zork blorb"):
        final = await client.say(conv, line, timeout=60)
        assert final.source == "fallback"
    try:
        await client.request(ConversationStart(npc_ids=["nobody"]))
    except RuntimeErrorReply as exc:
        assert exc.code == "unknown_npc"
    loop = asyncio.get_running_loop()
    during = await loop.run_in_executor(None, _scrape, port)
    await client.request(ConversationEnd(conversation_id=conv))
    await client.close()  # bye
    after = await loop.run_in_executor(None, _scrape, port)
    for _ in range(600):  # the bye is handled after the client closed: wait on the scrape itself
        if after[("npc_clients", ())] == 0.0:
            break
        await asyncio.sleep(0.05)
        after = await loop.run_in_executor(None, _scrape, port)
    return during, after


def test_sent_messages_are_counted() -> None:
    """What the host sends feeds the metrics: errors and warnings by code, a provider warning as a
    fallback, and the voice stages of ``turn_metrics`` (milliseconds on the wire, seconds here)."""
    from npc_runtime.protocol.messages import Error, Pong, WarningMessage
    from npc_runtime.protocol.messages.voice import TurnMetrics

    metrics = Metrics()
    metrics.sent(Error(code="invalid_fields", message="x"), provider="openai")
    metrics.sent(WarningMessage(code="provider_timeout", message="x"), provider="openai")
    metrics.sent(Pong())
    metrics.sent(
        TurnMetrics(
            conversation_id="c", utterance=1, mode="hands_free", end_of_speech=400.0,
            transcript_final=650.0, first_dialogue_token=None, first_tts_audio=1100.0,
            first_audio_sent=1150.0,
        )
    )  # fmt: skip
    body = metrics.text()
    assert 'npc_errors_total{code="invalid_fields"} 1.0' in body
    assert 'npc_warnings_total{code="provider_timeout"} 1.0' in body
    assert 'npc_provider_fallbacks_total{provider="openai",reason="timeout"} 1.0' in body
    assert 'npc_turn_stage_seconds_bucket{le="0.75",mode="hands_free",stage="transcript_final"} 1.0' in body
    assert 'npc_turn_stage_seconds_bucket{le="0.5",mode="hands_free",stage="transcript_final"} 0.0' in body
    assert 'npc_turn_stage_seconds_count{mode="hands_free",stage="first_audio_sent"} 1.0' in body
    assert 'stage="first_dialogue_token"' not in body  # a stage that did not happen is not observed
