"""Output hygiene: what a model writes -> what an NPC says aloud."""

from __future__ import annotations

import random

import pytest

from npc_runtime.dialogue.hygiene import SpokenFilter, clean_spoken
from npc_runtime.text import split_sentences

OWN = ["Mira", "mira_smith", "Élodie"]
OTHERS = ["Player", "Bram"]

CASES = [
    ("*slams tankard* What do you want?", "What do you want?"),
    (
        "Aye, the wolves came at night. (She shudders.) Stay close.",
        "Aye, the wolves came at night. Stay close.",
    ),
    ("Mira: Aye, I'm the smith.", "Aye, I'm the smith."),
    ('**Mira:** "Welcome, traveller!" 🍺', "Welcome, traveller!"),
    ("Hello *waves*. How are you?", "Hello. How are you?"),
    ("Hello*waves*there.", "Hello there."),
    ("I am **very** sure. [whispers] Go now.", "I am very sure. Go now."),
    (
        "# Prices\n- Nails, two coppers.\n- A horseshoe, one silver.",
        "Prices Nails, two coppers. A horseshoe, one silver.",
    ),
    ("1. First, the forge.\n2. Then the well.", "First, the forge. Then the well."),
    (
        "<think>The player wants a key. I should refuse.</think>No keys for strangers.",
        "No keys for strangers.",
    ),
    ("Use the `old road`, ~friend~.", "Use the old road, friend."),
    ("Sure thing.\nPlayer: thanks!\nMira: You're welcome.", "Sure thing."),
    ("Ask Bram.\nBram: Don't ask me.", "Ask Bram."),
    ("Listen: the mine is shut.", "Listen: the mine is shut."),
    ("mira smith: Yes.", "Yes."),
    ("Élodie: Bonjour, voyageur.", "Bonjour, voyageur."),
    ("Éric: not me.", "Éric: not me."),
    ("It costs 5 * 3 coins.", "It costs 5 3 coins."),
    ("Fire 🔥 and steel ⚔️ and a 👍🏽.", "Fire and steel and a."),
    ("A stage direction cut off at the end *leans in and", "A stage direction cut off at the end"),
    ("Mira", "Mira"),
    ("(sighs)", ""),
]


@pytest.mark.parametrize(("raw", "spoken"), CASES)
def test_clean_spoken(raw: str, spoken: str) -> None:
    assert clean_spoken(raw, OWN, OTHERS) == spoken


def _stream(raw: str, cuts: list[int]) -> str:
    f = SpokenFilter(OWN, OTHERS)
    out, last = [], 0
    for cut in [*cuts, len(raw)]:
        out.append(f.feed(raw[last:cut]))
        last = cut
    return "".join(out) + f.finish()


@pytest.mark.parametrize(("raw", "spoken"), CASES)
def test_streaming_matches_whole_for_any_split(raw: str, spoken: str) -> None:
    assert _stream(raw, list(range(1, len(raw)))) == spoken  # one character at a time
    rng = random.Random(raw)
    for _ in range(20):
        cuts = (
            sorted(rng.sample(range(1, len(raw)), k=min(len(raw) - 1, rng.randint(1, 6))))
            if len(raw) > 1
            else []
        )
        assert _stream(raw, cuts) == spoken, cuts


def test_asterisk_block_spanning_deltas_is_held_then_dropped() -> None:
    f = SpokenFilter(OWN, OTHERS)
    assert f.feed("Fine. *slams") == "Fine."
    assert f.feed(" the tank") == ""  # inside the block: nothing leaks
    assert f.feed("ard* Now") == " Now"
    assert f.feed(" go.") == " go."
    assert f.finish() == ""


def test_text_is_released_as_soon_as_it_cannot_be_a_prefix() -> None:
    f = SpokenFilter(OWN, OTHERS)
    assert f.feed("Mi") == ""  # could still become "Mira:"
    assert f.feed("ght be") == "Might be"  # "might" is no speaker's name
    g = SpokenFilter(OWN, OTHERS)
    assert g.feed("Welcome") == "Welcome"


def test_unclosed_block_past_max_hold_is_released_as_speech() -> None:
    f = SpokenFilter(OWN, OTHERS, max_hold=20)
    text = "*" + "this is not a stage direction but a stray mark"
    assert clean_spoken("*nods*", OWN) == ""
    out = f.feed(text) + f.finish()
    assert out == "this is not a stage direction but a stray mark"


def test_stop_on_other_speaker_reports_stopped() -> None:
    f = SpokenFilter(OWN, OTHERS)
    assert f.feed("Go home.\nPla") == "Go home."
    assert not f.stopped
    assert f.feed("yer: why?") == ""
    assert f.stopped
    assert f.feed("more text") == ""
    assert f.finish() == ""


def test_no_names_means_no_prefix_handling() -> None:
    assert clean_spoken("Mira: hello") == "Mira: hello"


def test_split_sentences_basic() -> None:
    done, rest = split_sentences("Hello there. Mr. Hob is here! Well... maybe not. And th")
    assert done == ["Hello there.", "Mr. Hob is here!", "Well... maybe not."]
    assert rest == "And th"


def test_split_sentences_waits_for_the_next_word() -> None:
    assert split_sentences("Take it.") == ([], "Take it.")
    assert split_sentences("Take it. ") == ([], "Take it. ")
    assert split_sentences("Take it. Go") == (["Take it."], "Go")


def test_split_sentences_keeps_initials_abbreviations_and_lowercase_continuations() -> None:
    done, rest = split_sentences("J. R. Hob lives on St. Ann's road, e.g. near the mill. Yes? yes. Done. ")
    assert done == ["J. R. Hob lives on St. Ann's road, e.g. near the mill.", "Yes? yes."]
    assert rest == "Done. "


def test_split_sentences_closing_quotes_and_newlines() -> None:
    done, rest = split_sentences('He said "go." Then left\nNew line here')
    assert done == ['He said "go."', "Then left"]
    assert rest == "New line here"


def test_split_sentences_min_chars_joins_short_ones() -> None:
    done, rest = split_sentences("Ah. Oh. That is the whole story. And", min_chars=10)
    assert done == ["Ah. Oh. That is the whole story."]
    assert rest == "And"


def test_split_sentences_streaming_reassembles_everything() -> None:
    text = "Aye. The wolves came at night! Did you hear them? I did... twice. Go now."
    buf, out = "", []
    for ch in text:
        buf += ch
        done, buf = split_sentences(buf)
        out += done
    out.append(buf.strip())
    assert out == ["Aye.", "The wolves came at night!", "Did you hear them?", "I did... twice.", "Go now."]
