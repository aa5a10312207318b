"""The scene's own vocabulary for speech recognition: names of characters, places and items.

Words missing from cmudict (fantasy names) get a pronunciation from espeak-ng's letter-to-sound
rules (``espeak-ng -q --ipa``, offline), converted from IPA to the ARPAbet phones of the
pocketsphinx acoustic model. After decoding, :class:`NameSnapper` replaces near-miss words
(phonetically close to a scene name) with the name itself.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...personas.schema import Persona
from ...text import STOPWORDS
from ...text import words as text_words

# Longest match first.
_IPA_ARPA: list[tuple[str, str]] = sorted(
    [
        ("aɪ", "AY"),
        ("aʊ", "AW"),
        ("ɔɪ", "OY"),
        ("oʊ", "OW"),
        ("əʊ", "OW"),
        ("eɪ", "EY"),
        ("tʃ", "CH"),
        ("dʒ", "JH"),
        ("ɜː", "ER"),
        ("ɜ", "ER"),
        ("ɚ", "ER"),
        ("ɝ", "ER"),
        ("ɑː", "AA"),
        ("ɑ", "AA"),
        ("ɒ", "AA"),
        ("a", "AA"),
        ("æ", "AE"),
        ("ʌ", "AH"),
        ("ə", "AH"),
        ("ɐ", "AH"),
        ("ᵻ", "IH"),
        ("ɛ", "EH"),
        ("e", "EY"),
        ("ɪ", "IH"),
        ("iː", "IY"),
        ("i", "IY"),
        ("ʊ", "UH"),
        ("uː", "UW"),
        ("u", "UW"),
        ("ɔː", "AO"),
        ("ɔ", "AO"),
        ("oː", "AO"),
        ("o", "OW"),
        ("ɾ", "T"),
        ("ɹ", "R"),
        ("r", "R"),
        ("l", "L"),
        ("ɫ", "L"),
        ("ŋ", "NG"),
        ("θ", "TH"),
        ("ð", "DH"),
        ("ʃ", "SH"),
        ("ʒ", "ZH"),
        ("j", "Y"),
        ("w", "W"),
        ("h", "HH"),
        ("x", "K"),
        ("b", "B"),
        ("d", "D"),
        ("f", "F"),
        ("g", "G"),
        ("ɡ", "G"),
        ("k", "K"),
        ("m", "M"),
        ("n", "N"),
        ("p", "P"),
        ("s", "S"),
        ("t", "T"),
        ("v", "V"),
        ("z", "Z"),
    ],
    key=lambda kv: -len(kv[0]),
)
_SKIP = set("ˈˌːˑ̩̃ʔ-‿ ")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def ipa_to_arpabet(ipa: str) -> list[str]:
    phones: list[str] = []
    i = 0
    while i < len(ipa):
        if ipa[i] in _SKIP:
            i += 1
            continue
        for sym, arpa in _IPA_ARPA:
            if ipa.startswith(sym, i):
                if not (phones and phones[-1] == arpa and arpa not in {"AH", "IH"}):
                    phones.append(arpa)
                i += len(sym)
                break
        else:
            i += 1  # unknown symbol: drop it
    return phones


def espeak_pronounce(word: str, binary: str = "espeak-ng") -> list[str]:
    """ARPAbet phones for any word from espeak-ng's letter-to-sound rules ([] if unavailable)."""
    exe = shutil.which(binary)
    if exe is None:
        return []
    proc = subprocess.run(
        [exe, "-q", "--ipa", "-v", "en-us", "--", word], capture_output=True, timeout=10, check=False
    )
    return ipa_to_arpabet(proc.stdout.decode(errors="replace").strip())


def scene_words(personas: Iterable[Persona], extra: Iterable[str] = ()) -> list[str]:
    """Names worth biasing toward: persona names and ids, capitalised words of their texts, extras."""
    words: dict[str, str] = {}

    def add(text: str, capitalised_only: bool) -> None:
        for i, m in enumerate(_WORD.finditer(text)):
            w = m.group(0).strip("'-")
            if len(w) < 3 or w.lower() in STOPWORDS:
                continue
            if capitalised_only and (not w[0].isupper() or i == 0 or w.isupper()):
                continue
            words.setdefault(w.lower(), w)

    for p in personas:
        add(p.name, False)
        add(p.id.replace("_", " "), False)
        for text in [p.role, p.backstory, *p.knowledge, *(ln.text for ln in p.greeting)]:
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                add(sentence, True)
        for topic in p.topics:
            for phr in topic.phrasings:
                add(phr, True)
    for e in extra:
        add(e, False)
    return sorted(words.values(), key=str.lower)


@dataclass(frozen=True)
class SceneWord:
    display: str  # as written in the persona ("Brannoc")
    token: str  # as the recognizer spells it ("brannoc")
    phones: tuple[str, ...]
    alt: tuple[str, ...] = ()  # a second pronunciation (espeak-ng's) when cmudict's differs


def _edit(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


class NameSnapper:
    """Replace one or two recognised words that sound like a scene name by that name.

    ``max_distance`` is the phone edit distance allowed per phone of the name (0.34: one phone
    wrong in three); names shorter than 4 phones are never snapped to (too many false hits).
    """

    def __init__(
        self,
        names: Iterable[SceneWord],
        lookup: Callable[[str], tuple[str, ...] | None],
        max_distance: float = 0.34,
    ) -> None:
        self._names = [n for n in names if len(n.phones) >= 4]
        self._by_token = {n.token: n for n in names}
        self._lookup = lookup
        self._max = max_distance

    def snap(self, text: str) -> str:
        words = text.split()
        out: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            if w in self._by_token:
                out.append(self._by_token[w].display)
                i += 1
                continue
            best: tuple[float, int, SceneWord] | None = None
            for span in (2, 1):
                if i + span > len(words) or any(
                    x in self._by_token or x in STOPWORDS for x in words[i : i + span]
                ):
                    continue
                phones: list[str] = []
                for x in words[i : i + span]:
                    p = self._lookup(x)
                    if p is None:
                        phones = []
                        break
                    phones.extend(p)
                if not phones:
                    continue
                for name in self._names:
                    if abs(len(phones) - len(name.phones)) > 2:
                        continue
                    d = _edit(tuple(phones), name.phones) / len(name.phones)
                    if d <= self._max and (best is None or d < best[0]):
                        best = (d, span, name)
            if best is not None:
                out.append(best[2].display)
                i += best[1]
            else:
                out.append(w)
                i += 1
        return " ".join(out)


def scene_phrases(personas: Iterable[Persona]) -> list[str]:
    """What players are expected to say: every topic phrasing of every persona."""
    return [phr for p in personas for t in p.topics for phr in t.phrasings]


def phrase_bigrams(phrases: Iterable[str]) -> set[tuple[str, str]]:
    """Word pairs of the phrases that carry content (not two function words)."""
    out: set[tuple[str, str]] = set()
    for phrase in phrases:
        for a, b in itertools.pairwise(text_words(phrase)):
            if a not in STOPWORDS or b not in STOPWORDS:
                out.add((a, b))
    return out


def rescore(candidates: list[tuple[str, float]], bigrams: set[tuple[str, str]], boost: float) -> str:
    """Pick among n-best (text, score) the best after a ``boost`` per scene word pair it contains
    (score x (1 + boost x pairs)); the recogniser's own order decides otherwise."""
    best, best_score = "", float("-inf")
    for text, score in candidates:
        words = text.split()
        pairs = sum((a, b) in bigrams for a, b in itertools.pairwise(words))
        value = score * (1.0 + boost * pairs) if score > 0 else score - abs(score) * boost * pairs
        if value > best_score:
            best, best_score = text, value
    return best
