"""Every message type of the wire protocol has a typed helper in each engine binding.

One source: ``docs/protocol-vectors.json`` (generated from every example in docs/protocol.md by
tools/protocol_vectors.py). Each client -> runtime type needs a builder, each runtime -> client type a
typed view/parser. The C# check reads the Unity package's sources; the NUnit suite
(bindings/unity/Tests/ProtocolCoverageTests.cs) then rebuilds and parses every vector with them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "docs" / "protocol-vectors.json"
PROTOCOL_DOC = REPO / "docs" / "protocol.md"
UNITY_RUNTIME = REPO / "bindings" / "unity" / "Runtime"


def vector_types() -> dict[str, set[str]]:
    """{"client": types the client sends, "server": types the runtime sends}."""
    out: dict[str, set[str]] = {"client": set(), "server": set()}
    for v in json.loads(VECTORS.read_text(encoding="utf-8")):
        out[v["direction"]].add(v["type"])
    return out


def pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def csharp_helpers() -> dict[str, set[str]]:
    """Message types with a C# builder (Protocol.PascalName returning a message map) or a typed view ([WireType])."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(UNITY_RUNTIME.rglob("*.cs")))
    builders = {m.group(1) for m in re.finditer(r"public static Dictionary<string, object> (\w+)\(", source)}
    views: set[str] = set()
    for m in re.finditer(r"\[WireType\(([^)]*)\)\]", source):
        views.update(re.findall(r'"(\w+)"', m.group(1)))
    types = vector_types()
    return {
        "client": {t for t in types["client"] if pascal(t) in builders},
        "server": views,
    }


# One checker per engine binding: each returns {"client": types with a builder, "server": types with
# a parser}. The GDScript addon is checked by test_gdscript_coverage.py; a "gdscript" entry here
# would put both engines under the same assertion.
BINDINGS: dict[str, Callable[[], dict[str, set[str]]]] = {
    "csharp": csharp_helpers,
}


def test_the_vectors_cover_every_message_heading_of_the_protocol_doc() -> None:
    headings = re.findall(r"^#### (.+)$", PROTOCOL_DOC.read_text(encoding="utf-8"), flags=re.M)
    documented = {name for h in headings for name in re.findall(r"`(\w+)`", h)}
    types = vector_types()
    assert documented == types["client"] | types["server"], "docs/protocol.md and its vectors disagree"
    assert len(documented) >= 55


@pytest.mark.parametrize("binding", sorted(BINDINGS))
@pytest.mark.parametrize("direction", ["client", "server"])
def test_every_message_type_has_a_typed_helper(binding: str, direction: str) -> None:
    wanted = vector_types()[direction]
    have = BINDINGS[binding]()[direction]
    missing = sorted(wanted - have)
    what = "builder" if direction == "client" else "typed view / parser"
    assert not missing, f"{binding}: no {what} for {', '.join(missing)}"


def test_the_checker_notices_a_missing_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not vacuous: the C# sources without the voice views miss exactly those types."""
    copy = tmp_path / "Runtime"
    for p in UNITY_RUNTIME.rglob("*.cs"):
        if p.name == "VoiceMessages.cs":
            continue
        dest = copy / p.relative_to(UNITY_RUNTIME)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "UNITY_RUNTIME", copy)
    missing = vector_types()["server"] - csharp_helpers()["server"]
    assert missing == {
        "audio_ready",
        "transcript",
        "npc_audio",
        "npc_audio_end",
        "stop_playback",
        "turn_metrics",
    }
