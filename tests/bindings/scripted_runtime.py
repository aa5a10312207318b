"""A scripted stand-in for the runtime, for the engine bindings' tests of messages the real runtime
cannot produce yet: the cluster-mode warning ``conversation_moved``, the error ``not_authority``
and error/warning codes that no runtime sends today (a client must surface a code it does not
know, not throw or drop the connection). A real ZeroMQ ROUTER on loopback sends real msgpack
frames; only the runtime's decisions are scripted.

    python tests/bindings/scripted_runtime.py [--until-stdin-eof]

Prints ``listening on ENDPOINT`` and serves every client (each its own ROUTER identity) until it is
terminated (or, with --until-stdin-eof, until its stdin closes). The script:

- ``hello`` -> ``welcome`` (NPCs mira and bram); ``ping`` -> ``pong``; ``list_npcs`` -> ``npcs``.
- ``conversation_start`` -> ``conversation_started``; then, in text mode at once and in voice
  modes after ``audio_start`` (answered with ``audio_ready``), THE MOVE: turn 1 of the first NPC
  starts (``npc_text_delta`` seq 1-2, in voice modes one ``npc_audio`` chunk of 100 ms), then the
  warning ``conversation_moved``, then turn 1 runs once more from its start (seq 1-3, 200 ms of
  audio, ``npc_audio_end``) and ends with ``npc_text_final`` "The wolves came back at dawn.".
- ``player_text`` "unknown codes" -> an ``error`` with code ``future_error_code`` (ref = its id) and
  a ``warning`` with code ``future_warning_code``, then the reply; any other line -> the reply
  (``npc_text_delta`` + ``npc_text_final`` "Aye." with ref = its id).
- ``load`` / ``world_reset`` / ``game_time`` -> ``error`` ``not_authority`` (ref = the id, if any).
- ``bye``, ``playback_started``, ``playback_report``, ``audio_chunk``, ``speech_*``: no reply.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import msgpack
import zmq

NPCS = [
    {"id": "mira", "name": "Mira Thornwood", "role": "innkeeper"},
    {"id": "bram", "name": "Bram", "role": "smith"},
]
TTS_RATE = 22050
MOVED_LINE = ["The wolves ", "came back ", "at dawn."]
SILENT = (
    "bye",
    "playback_started",
    "playback_report",
    "audio_chunk",
    "speech_start",
    "speech_end",
    "interrupt",
)


class Script:
    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self.sock = sock
        self.next_conversation = 0
        self.modes: dict[str, str] = {}

    def send(self, rid: bytes, msg: dict[str, Any]) -> None:
        self.sock.send_multipart([rid, msgpack.packb(msg, use_bin_type=True)])

    def handle(self, rid: bytes, msg: dict[str, Any]) -> None:
        kind, mid = msg.get("type"), msg.get("id")
        if kind == "hello":
            self.send(
                rid,
                {
                    "type": "welcome",
                    "ref": mid,
                    "protocol": 1,
                    "runtime": "scripted-0",
                    "session": rid.hex(),
                    "npcs": NPCS,
                    "heartbeat_interval": 30.0,
                    "client_timeout": 120.0,
                    "max_message_bytes": 1 << 20,
                },
            )
        elif kind == "ping":
            self.send(rid, {"type": "pong", "ref": mid, "t": msg.get("t")})
        elif kind == "list_npcs":
            self.send(rid, {"type": "npcs", "ref": mid, "npcs": NPCS})
        elif kind == "conversation_start":
            self.next_conversation += 1
            cid = f"scripted-{self.next_conversation}"
            mode = msg.get("mode", "text")
            self.modes[cid] = mode
            npc_ids = msg.get("npc_ids") or ["mira"]
            self.send(
                rid,
                {
                    "type": "conversation_started",
                    "ref": mid,
                    "conversation_id": cid,
                    "npc_ids": npc_ids,
                    "player_id": msg.get("player_id", "player"),
                    "mode": mode,
                },
            )
            if mode == "text":
                self.move(rid, cid, npc_ids[0], voice=False)
        elif kind == "audio_start":
            cid = msg["conversation_id"]
            self.send(
                rid,
                {
                    "type": "audio_ready",
                    "ref": mid,
                    "conversation_id": cid,
                    "sample_rate": 16000,
                    "mode": self.modes.get(cid, "push_to_talk"),
                    "tts_sample_rate": TTS_RATE,
                },
            )
            self.move(rid, cid, "mira", voice=True)
        elif kind == "player_text":
            cid = msg["conversation_id"]
            if msg.get("text") == "unknown codes":
                self.send(
                    rid,
                    {
                        "type": "error",
                        "code": "future_error_code",
                        "ref": mid,
                        "conversation_id": cid,
                        "message": "a code from a newer runtime",
                    },
                )
                self.send(
                    rid,
                    {
                        "type": "warning",
                        "code": "future_warning_code",
                        "conversation_id": cid,
                        "message": "a warning from a newer runtime",
                    },
                )
            self.reply(rid, cid, "mira", 2, ["Aye."], ref=mid)
        elif kind in ("load", "world_reset", "game_time"):
            err: dict[str, Any] = {
                "type": "error",
                "code": "not_authority",
                "message": f"{kind} needs the world-authority role; this client does not have it",
            }
            if mid is not None:
                err["ref"] = mid
            self.send(rid, err)
        elif kind not in SILENT:
            self.send(
                rid,
                {
                    "type": "error",
                    "code": "unknown_type",
                    "message": f"scripted: no script for {kind!r}",
                    "ref": mid,
                },
            )

    def audio(self, rid: bytes, cid: str, npc: str, turn: int, seq: int, ms: int, text: str) -> None:
        samples = TTS_RATE * ms // 1000
        pcm = b"".join(
            (8000 if (i // 50) % 2 else -8000).to_bytes(2, "little", signed=True) for i in range(samples)
        )
        self.send(
            rid,
            {
                "type": "npc_audio",
                "conversation_id": cid,
                "turn_id": turn,
                "npc_id": npc,
                "seq": seq,
                "sample_rate": TTS_RATE,
                "pcm": pcm,
                "text": text,
            },
        )

    def move(self, rid: bytes, cid: str, npc: str, *, voice: bool) -> None:
        for seq, piece in enumerate(MOVED_LINE[:2], 1):  # the first attempt, cut off by the move
            self.send(
                rid,
                {
                    "type": "npc_text_delta",
                    "conversation_id": cid,
                    "turn_id": 1,
                    "npc_id": npc,
                    "seq": seq,
                    "text": piece,
                },
            )
        if voice:
            self.audio(rid, cid, npc, 1, 1, 100, MOVED_LINE[0])
        self.send(
            rid,
            {
                "type": "warning",
                "code": "conversation_moved",
                "conversation_id": cid,
                "message": f"conversation {cid} now runs on worker w2; its unfinished turn runs again",
            },
        )
        if voice:
            self.audio(rid, cid, npc, 1, 1, 200, "".join(MOVED_LINE))
            self.send(
                rid,
                {
                    "type": "npc_audio_end",
                    "conversation_id": cid,
                    "turn_id": 1,
                    "npc_id": npc,
                    "chunks": 1,
                    "duration_ms": 200.0,
                    "interrupted": False,
                },
            )
        self.reply(rid, cid, npc, 1, MOVED_LINE)

    def reply(self, rid: bytes, cid: str, npc: str, turn: int, pieces: list[str], ref: Any = None) -> None:
        for seq, piece in enumerate(pieces, 1):
            self.send(
                rid,
                {
                    "type": "npc_text_delta",
                    "conversation_id": cid,
                    "turn_id": turn,
                    "npc_id": npc,
                    "seq": seq,
                    "text": piece,
                },
            )
        final: dict[str, Any] = {
            "type": "npc_text_final",
            "conversation_id": cid,
            "turn_id": turn,
            "npc_id": npc,
            "text": "".join(pieces),
            "source": "llm",
            "interrupted": False,
            "ambient": False,
            "actions": [],
        }
        if ref is not None:
            final["ref"] = ref
        self.send(rid, final)


def _stop_at_stdin_eof(stop: threading.Event) -> None:
    sys.stdin.read()
    stop.set()


def main(argv: list[str]) -> int:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind("tcp://127.0.0.1:*")
    print(f"listening on {sock.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    stop = threading.Event()
    if "--until-stdin-eof" in argv:
        threading.Thread(target=_stop_at_stdin_eof, args=(stop,), daemon=True).start()
    script = Script(sock)
    while not stop.is_set():
        if not sock.poll(100):
            continue
        frames = sock.recv_multipart()
        try:
            msg = msgpack.unpackb(frames[-1], raw=False)
        except Exception:
            script.send(frames[0], {"type": "error", "code": "malformed", "message": "scripted: not msgpack"})
            continue
        if isinstance(msg, dict):
            script.handle(frames[0], msg)
    sock.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
