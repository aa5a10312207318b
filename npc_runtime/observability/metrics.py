"""Prometheus metrics of a running runtime (``--metrics-port``, off by default).

The host owns one :class:`Metrics` and calls its methods where things happen; the exposition is
``prometheus_client``'s own HTTP server, in the text format, on its own thread::

    metrics = Metrics()
    metrics.serve(9464)                      # http://127.0.0.1:9464/metrics
    metrics.client_connected()               # a session said hello
    metrics.conversation_started("text")
    metrics.turn_stage("first_audio_sent", 0.84, mode="hands_free")
    metrics.error("invalid_fields")
    metrics.provider_fallback("openai", "timeout")
    metrics.sent(message, provider="openai")  # or let it read error/warning/turn_metrics messages

Each instance has its own registry, so tests and several runtimes in one process do not clash.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError
from ..protocol.messages import Error, Message, WarningMessage
from ..protocol.messages.voice import TurnMetrics

# Seconds; turn stages run from a few ms (authored text) to seconds (an LLM on a CPU).
TURN_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
STAGES = (
    "end_of_speech",
    "transcript_final",
    "first_dialogue_token",
    "first_tts_audio",
    "first_audio_sent",
    "first_text",
    "text_reply",
)
# turn_metrics fields (milliseconds from the end of the player's speech) observed as stages
VOICE_STAGES = STAGES[:5]
FALLBACK_CODES = {"provider_failed": "failed", "provider_timeout": "timeout"}


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - installed by scripts/setup.sh
        raise MissingDependencyError("prometheus-client (for --metrics-port)", "metrics") from exc
    return prometheus_client


class Metrics:
    def __init__(self) -> None:
        pc = _prometheus()
        self._pc = pc
        self.registry = pc.CollectorRegistry()
        r = self.registry
        self.turn_seconds = pc.Histogram(
            "npc_turn_stage_seconds",
            "Seconds from the end of the player's speech (voice stages) or from the start of the "
            "NPC's turn (first_text, text_reply) to each stage",
            ["stage", "mode"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.conversations = pc.Gauge("npc_conversations", "Open conversations", ["mode"], registry=r)
        self.conversations_total = pc.Counter(
            "npc_conversations_started", "Conversations started", ["mode"], registry=r
        )
        self.conversations_ended = pc.Counter(
            "npc_conversations_ended", "Conversations ended, by reason", ["reason"], registry=r
        )
        self.clients = pc.Gauge("npc_clients", "Connected game clients (sessions after hello)", registry=r)
        self.errors = pc.Counter(
            "npc_errors", "error messages sent to clients, by code", ["code"], registry=r
        )
        self.warnings = pc.Counter("npc_warnings", "warning messages sent, by code", ["code"], registry=r)
        self.fallbacks = pc.Counter(
            "npc_provider_fallbacks",
            "Turns answered with an authored fallback because the provider failed",
            ["provider", "reason"],
            registry=r,
        )
        self._server: Any = None

    # the host's calls ---------------------------------------------------------------------------
    def turn_stage(self, stage: str, seconds: float, mode: str = "text") -> None:
        if seconds >= 0:
            self.turn_seconds.labels(stage=stage, mode=mode).observe(seconds)

    def conversation_started(self, mode: str) -> None:
        self.conversations.labels(mode=mode).inc()
        self.conversations_total.labels(mode=mode).inc()

    def conversation_ended(self, mode: str, reason: str) -> None:
        self.conversations.labels(mode=mode).dec()
        self.conversations_ended.labels(reason=reason).inc()

    def client_connected(self) -> None:
        self.clients.inc()

    def client_gone(self) -> None:
        self.clients.dec()

    def error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def warning(self, code: str) -> None:
        self.warnings.labels(code=code).inc()

    def provider_fallback(self, provider: str, reason: str) -> None:
        """``reason``: "timeout" or "failed"."""
        self.fallbacks.labels(provider=provider, reason=reason).inc()

    def sent(self, msg: Message, provider: str = "") -> None:
        """Count what a message sent to a client tells: an ``error`` or ``warning`` by code (a
        ``provider_failed``/``provider_timeout`` warning is also a provider fallback), and a
        ``turn_metrics`` message's stages (milliseconds on the wire, seconds here)."""
        if isinstance(msg, Error):
            self.error(msg.code)
        elif isinstance(msg, WarningMessage):
            self.warning(msg.code)
            reason = FALLBACK_CODES.get(msg.code)
            if reason is not None:
                self.provider_fallback(provider, reason)
        elif isinstance(msg, TurnMetrics):
            for stage in VOICE_STAGES:
                ms = getattr(msg, stage)
                if ms is not None:
                    self.turn_stage(stage, ms / 1000.0, mode=msg.mode)

    # exposition ---------------------------------------------------------------------------------
    def text(self) -> str:
        """The current metrics in the Prometheus text format."""
        return str(self._pc.generate_latest(self.registry).decode())

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``addr:port`` (0: a free port) in a thread; returns the port."""
        server, _thread = self._pc.start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
