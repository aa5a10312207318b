"""tools/bench_turns.py's cut-in rule: a turn ended with a word still to come is a cut-in; one
ended in the faint tail after the last word (breath, the room) is not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import bench_turns

RATE = 16_000


def _tone(seconds: float, db: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (db / 20) * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def test_a_word_after_the_end_of_turn_is_a_cut_in_a_faint_tail_is_not() -> None:
    # word (0-1 s), pause (1-1.5 s), word (1.5-2 s), a tail 30 dB down (2-2.2 s), silence
    audio = np.concatenate([_tone(1.0, -6), np.zeros(RATE // 2, np.int16), _tone(0.5, -6), _tone(0.2, -36)])
    audio = np.concatenate([audio, np.zeros(RATE, np.int16)])
    item = bench_turns.Item("x", "test", audio, end=2.2, pauses=[(1.0, 1.5)])
    assert item.speech_after(1.1)  # ended in the pause: the second word follows
    assert item.speech_after(0.5)
    assert not item.speech_after(2.0)  # ended as the tail began: 200 ms early, no word after it
    assert not item.speech_after(2.3)


def test_a_quiet_word_within_25_db_of_the_loudest_still_counts() -> None:
    audio = np.concatenate([_tone(1.0, -6), np.zeros(RATE // 2, np.int16), _tone(0.3, -28)])
    item = bench_turns.Item(
        "x", "test", np.concatenate([audio, np.zeros(RATE, np.int16)]), end=1.8, pauses=[]
    )
    assert item.speech_after(1.1)  # -22 dB under the loudest: a word
