"""The pure-Python tokenizer: the ASCII fast path agrees with the general one."""

from __future__ import annotations

import random
import string

from npc_runtime.memory.tokenizer import _basic_split_unicode, basic_split


def test_ascii_fast_path_matches_the_general_path() -> None:
    rng = random.Random(1)
    alphabet = string.printable + "\x00\x01\x07\x7f"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert basic_split(text) == _basic_split_unicode(text), repr(text)


def test_unicode_text() -> None:
    assert basic_split("Ünïcödé naïve café, co-operate!") == [
        "unicode",
        "naive",
        "cafe",
        ",",
        "co",
        "-",
        "operate",
        "!",
    ]
    assert basic_split("Brannoc's sword-arm (x2)?") == [
        "brannoc",
        "'",
        "s",
        "sword",
        "-",
        "arm",
        "(",
        "x2",
        ")",
        "?",
    ]
