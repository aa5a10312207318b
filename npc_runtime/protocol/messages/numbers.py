"""Strict, finite, bounded number types for every number a game client sends.

A client is untrusted (modded games, players who poke the port): a NaN or an infinity in one field
must not reach the world clock, the memory store or a relationship. Every number of a client
message uses one of these types, so a bad value is refused by the codec with an ``invalid_fields``
error naming the field, before any handler runs. Booleans are not numbers (``hours: false`` is
refused): the types are strict, which still lets an integer stand where a float is expected.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_GAME_HOURS = 1e9  # ~114,000 game years: far beyond any story, and still exact in a float
MAX_MS = 86_400_000.0  # one day in milliseconds (durations of audio played)
MAX_DELTA = 1e6  # relationship changes and values are clamped anyway; this only keeps them finite
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1  # ints must fit a SQLite INTEGER

FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""Any finite number (int or float, not bool)."""

GameHours = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_GAME_HOURS)]
"""Game hours since the start of the story: finite, >= 0."""

Millis = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_MS)]
"""A duration in milliseconds."""

Delta = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_DELTA, le=MAX_DELTA)]
"""A relationship change or value (clamped to the dimension's bounds afterwards)."""

Importance = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=1, le=10)]

WireInt = Annotated[int, Field(strict=True, ge=INT64_MIN, le=INT64_MAX)]
"""An integer that fits 64 bits (turn ids, sequence numbers)."""

Count = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)]

SampleRate = Annotated[int, Field(strict=True, ge=1, le=384_000)]
"""Hz; the voice session accepts only the rates it lists (``audio_invalid`` otherwise)."""

ProtocolVersion = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DELTA",
    "MAX_GAME_HOURS",
    "MAX_MS",
    "Count",
    "Delta",
    "FiniteFloat",
    "GameHours",
    "Importance",
    "Millis",
    "ProtocolVersion",
    "SampleRate",
    "WireInt",
]
