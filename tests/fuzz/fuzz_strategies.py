"""Hypothesis strategies for hostile client messages, built from the pydantic wire models.

For every client message class, each field's annotation gives a strategy that mixes values a
well-behaved client would send (known NPC ids, live conversation ids, declared quest and event
names, numbers in range) with what a modded game or a player poking the port might send (NaN,
infinities, huge and negative numbers, booleans for numbers, wrong types, deep nesting). Fields are
sometimes left out and unknown fields added. Raw-byte mutation of the documented examples lives in
:func:`mutated_bytes`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, Literal

import msgpack
from hypothesis import strategies as st

from npc_runtime.protocol.messages import CLIENT_TYPES

Draw = Callable[[st.SearchStrategy[Any]], Any]

HOSTILE_NUMBERS: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -1,
    -1e-9,
    0,
    1e308,
    -1e308,
    2**63,
    2**64 - 1,
    -(2**63) - 1,
    True,
    False,
    "3",
    None,
]


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.binary(max_size=20),
    )


def junk() -> st.SearchStrategy[Any]:
    """Any msgpack-encodable value, nested a little."""
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


class Vocabulary:
    """Names that exist in the running runtime, so generated messages reach deep into handlers."""

    def __init__(
        self,
        npcs: list[str],
        entities: list[str],
        facts: list[str],
        events: list[str],
        dimensions: list[str],
    ) -> None:
        self.npcs = npcs
        self.entities = entities
        self.facts = facts
        self.events = events
        self.dimensions = dimensions
        self.conversations: list[str] = []
        self.blobs: list[bytes] = []

    def ids(self, field: str) -> list[str]:
        if field in ("npc_id", "npc_ids", "to"):
            return self.npcs
        if field == "conversation_id":
            return self.conversations or ["nope"]
        if field == "fact":
            return self.facts
        if field == "name":
            return self.events
        if field in ("item", "giver", "receiver", "enemy", "by", "location", "who", "witnesses"):
            return self.entities
        if field == "player_id":
            return ["player", "p2"]
        return []


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True  # noqa: UP007
    return tp, False


def _base(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


PICK_RANGE = 1 << 16


def pick(items: list[Any]) -> st.SearchStrategy[Any]:
    """One of ``items``, a list that changes between examples (live conversation ids, saves the
    server wrote): drawn as an index from a fixed range, so hypothesis sees the same draws whatever
    the list holds (``sampled_from`` of a changing list is "inconsistent data generation")."""
    frozen = list(items)
    return st.integers(0, PICK_RANGE - 1).map(lambda i: frozen[i % len(frozen)])


def pick_or(items: list[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """:func:`pick`, or a value of ``other`` while ``items`` is empty (both always drawn)."""
    frozen = list(items)
    return st.tuples(st.integers(0, PICK_RANGE - 1), other).map(
        lambda t: frozen[t[0] % len(frozen)] if frozen else t[1]
    )


def value_for(field: str, annotation: Any, vocab: Vocabulary) -> st.SearchStrategy[Any]:
    """A strategy for one field: mostly plausible values, sometimes hostile ones."""
    tp, optional = _strip_optional(annotation)
    tp = _base(tp)
    origin = typing.get_origin(tp)
    known = vocab.ids(field)
    good: st.SearchStrategy[Any]
    if origin is Literal:
        good = st.sampled_from(typing.get_args(tp))
    elif tp is bool:
        good = st.booleans()
    elif tp is int:
        good = st.integers(min_value=-5, max_value=100)
    elif tp is float:
        good = st.one_of(
            st.floats(min_value=-5, max_value=1000, allow_nan=False), st.integers(min_value=0, max_value=50)
        )
    elif tp is str:
        good = pick(known) if known else st.text(max_size=30)
        if known:
            good = st.one_of(good, good, st.text(max_size=12))
    elif tp is bytes:
        blobs = pick_or(vocab.blobs, st.binary(max_size=64))
        good = st.one_of(st.binary(max_size=256).map(lambda b: b[: len(b) // 2 * 2]), blobs)
    elif origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        good = st.lists(value_for(field, item, vocab), min_size=0, max_size=4)
    elif origin is dict:
        _key, item = typing.get_args(tp) or (str, Any)
        keys = st.sampled_from(vocab.dimensions) if field in ("changes", "values") else st.text(max_size=10)
        good = st.dictionaries(
            st.one_of(keys, st.text(max_size=6)), value_for(field, item, vocab), max_size=4
        )
    else:  # str | int (ids), Any
        good = junk()
    hostile = st.one_of(st.sampled_from(HOSTILE_NUMBERS), junk())
    options = [good, good, good, hostile]
    if optional:
        options.append(st.none())
    return st.one_of(*options)


def message_dict(draw: Draw, vocab: Vocabulary, mtype: str | None = None) -> dict[str, Any]:
    """One client message as a map (what goes into msgpack), drawn field by field."""
    if mtype is None:
        mtype = draw(st.sampled_from(sorted(CLIENT_TYPES)))
    cls = CLIENT_TYPES[mtype]
    out: dict[str, Any] = {"type": mtype}
    for name, info in cls.model_fields.items():
        if name in ("type", "id"):
            continue
        if not info.is_required() and draw(st.integers(0, 3)) == 0:
            continue  # leave an optional field out
        if info.is_required() and draw(st.integers(0, 15)) == 0:
            continue  # or a required one
        if name == "payload" and vocab.events:
            out[name] = draw(st.dictionaries(st.text(max_size=8), junk(), max_size=3))
            continue
        out[name] = draw(value_for(name, info.annotation, vocab))
    if draw(st.integers(0, 9)) == 0:
        out[draw(st.text(max_size=8))] = draw(junk())  # unknown fields are ignored
    return out


def mutated_bytes(draw: Draw, seeds: list[bytes]) -> bytes:
    """A documented example with bytes flipped, cut, inserted or spliced."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == 0 and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:
            data = data[:pos]
        elif op == 2:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 3 and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            other = draw(st.sampled_from(seeds))
            cut = draw(st.integers(0, len(other)))
            data = data[:pos] + other[cut:]
    return bytes(data)


def mutated_blob(draw: Draw, blob: bytes) -> bytes:
    """A save blob edited the way a player edits a save file: one value deep inside changed."""
    doc = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((node, i))
                walk(v)

    walk(doc)
    # The same draws whatever the blob holds (it comes from the server: see pick)
    index = draw(st.integers(0, PICK_RANGE - 1))
    delete = draw(st.integers(0, 4)) == 0
    value = draw(st.one_of(st.sampled_from(HOSTILE_NUMBERS), junk(), st.text(max_size=8)))
    if paths:
        container, key = paths[index % len(paths)]
        if isinstance(container, dict) and delete:
            del container[key]
        else:
            container[key] = value
    return msgpack.packb(doc, use_bin_type=True)
