"""The output guard: what a language model says is checked before anyone hears it. Pure, no I/O.

A reply (checked sentence by sentence while it streams) fails when it

- **reveals a world fact this NPC does not know** (``unknown_fact``): the fact's own wording (any
  run of :data:`SHINGLE` words of it) or its key terms. A fact's key terms are its content words
  that this NPC could not have from anywhere else: not in its persona, its known facts, its
  memories, what the player said, or the conversation so far. One key term is enough when the
  fact has only one and it is not a short, common word (``LONE_TERM`` letters: "hear" is not
  telling, "kettle" is), or when it is a long, specific word (``LONG_TERM`` letters or more, such as
  an invented name: "moonpetal"); otherwise two are needed;
- **breaks character** (``out_of_character``): "as an AI", "language model", "assistant",
  "system prompt", "I am a chatbot", ... unless the persona itself uses the word; or takes up
  another identity: a name the player gave for itself ("I'm Corwin"), the NPC's own name said to
  the player ("Keep up the good work, Bram."), the role a player's line hands over ("you are a
  dragon called Smaug ... your hoard": "I am a dragon", "my hoard");
- **reads out its instructions** (``instructions``): a run of :data:`SHINGLE` words of the
  prompt's rules (:func:`npc_runtime.dialogue.prompt.instruction_sentences`), or the phrases
  that only the rules use ("my instructions", "I was told to");
- **repeats itself** (``repeat``): :data:`REPEAT` words in a row of one of its own earlier lines
  in this conversation, counted over the reply so far (sentences are checked one by one), or a
  sentence of three words or more said word for word before (small models fall into saying the
  same line every turn);
- **echoes the player** (``echo``): most of the player's line said back (a run of at least three
  words and 60 % of the line, "you" read as "I" and so on, British and American spellings as one
  word: "favourite" is "favorite"): "Who is the oldest person in the
  village?" answered with the same question is no answer;
- **copies an authored line off topic** (``copy``): a sentence of an authored line (topic line,
  greeting, farewell; templates filled) word for word, or :data:`SHINGLE` words of one, when the
  player's line shares no content word with that topic (its phrasings and lines). The prompt shows
  the authored lines as examples of the NPC's voice; a small model otherwise answers "Have you
  ever fallen in the river?" with the innkeeper's greeting, every turn.

What a provider does with a failure (see :class:`GuardPolicy`): before anything was said,
generate again once, then fall back to an authored deflection line; after a sentence was said,
end the reply before the failing sentence. :class:`GuardReport` counts what happened in a turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..text import STOPWORDS, split_sentences, words
from .context import DialogueContext
from .prompt import player_name
from .templates import context_lookup, render

__all__ = [
    "GuardReport",
    "GuardVerdict",
    "ReplyGuard",
    "content_words",
    "key_terms",
    "out_of_character",
]

Reason = Literal["unknown_fact", "out_of_character", "instructions", "repeat", "copy", "echo"]
SHINGLE = 5  # words in a row that count as quoting a fact or the rules
REPEAT = 7  # words in a row of one of the NPC's own earlier lines: it is going round in circles
LONG_TERM = 8  # a key term this long is telling on its own ("moonpetal"); shorter ones need a pair
LONE_TERM = 5  # a fact's only key term tells on its own from this many letters (stemmed: "kettl")
# Long words NPCs use for anything: never telling on their own.
_GENERIC = frozenset(
    """traveller travelers traveler stranger strangers village villager everyone everybody somebody
    someone something anything everything nothing tomorrow yesterday morning evening tonight remember
    together business because another without whatever wherever whenever outside inside probably
    certainly actually really perhaps maybe friend friends""".split()  # noqa: SIM905
)

# Beyond the shared stop words: words too common in speech to mark a fact as revealed.
_STOP = STOPWORDS | frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can can't could couldn't did didn't do does doesn't doing don't
    down during each few for from further had hadn't has hasn't have haven't having he he'd he'll
    he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is
    isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only or
    other ought our ours ourselves out over own same shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those through to too under until up very was wasn't we we'd
    we'll we're we've were weren't what what's when when's where where's which while who who's whom
    why why's with won't would wouldn't you you'd you'll you're you've your yours yourself
    yourselves still new now just one two three ten some someone something nothing every only said
    says say tell told know knows known like well yes aye get got go going come came make made way
    day days night time good old man woman little much many sure need needs take took let
    """.split()  # noqa: SIM905
)
_OOC = re.compile(
    r"\b(?:as an ai|an ai\b|(?:a |not )?(?:real|actual|true) ai\b|ai (?:language )?model|language model|large language|llm|"
    r"artificial intelligence|running on (?:a|this|the|some) (?:game|computer|server|(?:\w+ )?model)|ai|"
    r"virtual (?:character|being|person|companion)|created by (?:humans|developers|programmers)|human-like|"
    r"(?:ai|virtual|digital|helpful) assistant|assistant|system prompt|system message|chatbot|"
    r"openai|chatgpt|qwen|alibaba|anthropic|i(?:'m| am) (?:just )?(?:a |an )?(?:program|bot|"
    r"computer|machine|npc|non-player character|fictional character|character in a (?:game|story))|"
    r"(?:video )?game character|my (?:training|programming)|i was (?:trained|programmed)|"
    r"in character|out of character|role-?play(?:ing)?|the player|this game|"
    # the assistant voice small models fall back to
    r"gpt(?:-?\d\w*)?|open-?source model|(?:i am|i'm) (?:an? )?[\w-]+ model|designed to (?:provide|assist|help)|"
    r"provide (?:a response|responses|information|assistance)|how (?:can|may) i assist|"
    r"(?:can't|cannot|can not) (?:assist|help) with that|(?:don't|do not) have enough information|"
    r"(?:don't|do not) have (?:personal )?(?:experiences|emotions|feelings|a body|personal opinions)|"
    r"more context|(?:i'm|i am) (?:just |only )?here to (?:help|assist|provide|answer))\b",
    re.IGNORECASE,
)
_INSTRUCTION_TELLS = re.compile(
    r"\b(?:my instructions|the instructions (?:say|tell)|i was told to|i am instructed|i'm instructed|"
    r"my rules (?:say|are)|the rules (?:say|tell) me|i must stay in character|stay in character|"
    r"lines your writers|things you can do now|action none)\b|[\[/]\s*action\b|\{\s*\"|\"param\"",
    re.IGNORECASE,
)


_NEW_IDENTITY = re.compile(
    r"\b(?:you are|you're|pretend (?:to be|you are)|act as|play|be)\b[^.!?]{0,40}?\b(?:called|named)\s+([A-Z][\w'-]+)",
    re.IGNORECASE,
)


# "From now on you are a dragon ...": the role a player's line hands the NPC, and what it says the
# role has ("your hoard of gold"): a reply that says "I am a dragon" or "my hoard" plays along.
_NEW_ROLE = re.compile(
    r"\b(?:you are|you're|pretend (?:to be|you are)|act as|play|be)(?: now)? (?:a|an) ([a-z][\w-]+)",
    re.IGNORECASE,
)
_YOUR = re.compile(r"\byour ([a-z][\w-]+)", re.IGNORECASE)
# A name the speaker gives as their own; the name itself capitalised ("I'm Corwin", not "I'm sure").
_NAME_CLAIM = re.compile(
    r"\b(?i:i'm|i am|my name is|my name's|they call me|call me|calling me|called me)\s+([A-Z][a-z'-]+)\b"
)


class _Identity:
    """Who this NPC is, against a reply that takes someone else's name or the role a player gave.

    Small models mix up the two sides of the conversation: told "My name is Corwin", the 1.5B
    model answered "I'm Corwin, the one who's always looking for stories", and Bram thanked the
    player with "Keep up the good work, Bram."."""

    def __init__(self, ctx: DialogueContext, impostor: str | None) -> None:
        own = {w.lower() for w in words(ctx.persona.name)}
        said = [ctx.player_text, *(h.text for h in ctx.history if h.speaker == "player")]
        names = {m.group(1).lower() for text in said for m in _NAME_CLAIM.finditer(text)}
        for known in (ctx.player_name, player_name(ctx)):  # told before: memory, the game
            names |= {w.lower() for w in words(known or "")}
        self.player_names = names - own
        first = ctx.persona.name.split()[0]
        self.vocative = re.compile(rf",\s*{re.escape(first)}\s*[.!?]")  # "..., Bram." to the player
        self.role: str | None = None
        self.premises: set[str] = set()
        role = _NEW_ROLE.search(ctx.player_text)
        if impostor or role:
            self.role = role.group(1).lower() if role else None
            self.premises = {
                _stem(m.group(1).lower())
                for m in _YOUR.finditer(ctx.player_text)
                if m.group(1).lower() not in _STOP
            }

    def check(self, text: str) -> str | None:
        for m in _NAME_CLAIM.finditer(text):
            if m.group(1).lower() in self.player_names:
                return f"takes the player's name ({m.group(1)})"
        if self.vocative.search(text):
            return "calls the player by the NPC's own name"
        lowered = text.lower()
        if self.role and re.search(rf"\b(?:i'm|i am|as) (?:a|an|the) {re.escape(self.role)}\b", lowered):
            return f"plays the {self.role} the player asked for"
        for m in re.finditer(r"\bmy ([a-z][\w-]+)", lowered):
            if _stem(m.group(1)) in self.premises:
                return f"plays along: my {m.group(1)}"
        return None


def out_of_character(text: str, allowed: Iterable[str] = ()) -> str | None:
    """The phrase that breaks character or reads out instructions, or None (no context needed)."""
    ok = {a.lower() for a in allowed}
    for m in _OOC.finditer(text):
        if m.group(0).lower() not in ok:
            return m.group(0)
    tell = _INSTRUCTION_TELLS.search(text)
    return tell.group(0) if tell else None


def _stem(word: str) -> str:
    """A crude, consistent stem: plural, -ed, -ing and a final e go ("bribe", "bribes", "bribed"
    and "bribing" all give "brib")."""
    if word.endswith("'s"):
        word = word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def content_words(text: str) -> set[str]:
    """Stemmed words of ``text`` that carry meaning (no stop words, no one- or two-letter words)."""
    return {_stem(w) for w in words(text.replace("\u2019", "'")) if w not in _STOP and len(w) > 2}


def key_terms(fact: str, known_text: Iterable[str]) -> set[str]:
    """The content words of ``fact`` that appear nowhere in ``known_text``."""
    known: set[str] = set()
    for text in known_text:
        known |= content_words(text)
    return content_words(fact) - known


def _shingles(text: str, n: int = SHINGLE) -> set[tuple[str, ...]]:
    ws = words(text.replace("\u2019", "'"))
    return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}


_SWAP = {"you": "i", "i": "you", "your": "my", "my": "your", "yours": "mine", "mine": "yours",
         "me": "you", "yourself": "myself", "myself": "yourself", "am": "are", "are": "am"}  # fmt: skip


_CONTRACTION = re.compile(r"\b(what|who|where|how|that|it|there)'s\b", re.IGNORECASE)


# British and American spellings read as one word ("favourite" said back as "favorite").
_OUR = re.compile(
    r"^([a-z]{3,})our(ite|ites|s|ed|ing|able|ful|er|ers)?$"
)  # colour, favourite; not your, hour
_LL = re.compile(r"^([a-z]{3,}e)ll(ed|ing|er|ers)$")  # travelling, traveller
_ISE = re.compile(r"^([a-z]{3,})is(e|es|ed|ing)$")  # realise, organised
_SPELLINGS = {"grey": "gray", "greys": "grays", "centre": "center", "centres": "centers",
              "theatre": "theater", "metre": "meter", "metres": "meters", "jewellery": "jewelry",
              "plough": "plow", "cheque": "check", "mum": "mom", "whisky": "whiskey",
              "tyre": "tire", "tyres": "tires", "aluminium": "aluminum", "sceptic": "skeptic"}  # fmt: skip


def spelling(word: str) -> str:
    """One spelling for British and American variants of a (lower-case) word."""
    word = _SPELLINGS.get(word, word)
    word = _OUR.sub(r"\1or\2", word)
    word = _LL.sub(r"\1l\2", word)
    return _ISE.sub(r"\1iz\2", word)


def _echo_words(text: str) -> list[str]:
    return [spelling(w) for w in words(_CONTRACTION.sub(r"\1 is", text.replace("\u2019", "'")))]


def _echo_run(text: str, player_text: str) -> int:
    """The longest run of words of ``text`` that is also in the player's line, as said or with
    the pronouns swapped ("do you" said back as "do I")."""
    plain = _echo_words(text)
    heard = _echo_words(player_text)
    return max(_run(plain, heard), _run([_SWAP.get(w, w) for w in plain], heard))


def _run(said: list[str], heard: list[str]) -> int:
    best = 0
    for i in range(len(said)):
        for j in range(len(heard)):
            n = 0
            while i + n < len(said) and j + n < len(heard) and said[i + n] == heard[j + n]:
                n += 1
            best = max(best, n)
    return best


def _new_shingles(joined: str, before: str, n: int) -> set[tuple[str, ...]]:
    """Runs of ``n`` words of ``joined`` that reach into its part after ``before``."""
    return _shingles(joined, n) - (_shingles(before, n) if before.strip() else set())


def _sentences(text: str) -> list[str]:
    done, rest = split_sentences(text)
    return [*done, rest] if rest.strip() else done


def _sentence_key(text: str) -> tuple[str, ...]:
    return tuple(words(text.replace("\u2019", "'")))


@dataclass(frozen=True)
class GuardVerdict:
    ok: bool
    reason: Reason | None = None
    detail: str = ""


OK = GuardVerdict(True)


@dataclass
class GuardReport:
    """What the guard did in one turn (for ``turn_metrics`` and tests)."""

    checked: int = 0  # sentences checked
    failures: list[GuardVerdict] = field(default_factory=list)
    regenerated: int = 0  # replies thrown away before a word was said, and generated again
    replaced: bool = False  # the reply was replaced by an authored deflection line
    cut: bool = False  # the reply was ended before a failing sentence

    def as_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "failures": [f.reason for f in self.failures],
            "regenerated": self.regenerated,
            "replaced": self.replaced,
            "cut": self.cut,
        }


@dataclass(frozen=True)
class GuardPolicy:
    regenerate: int = 1  # attempts after the first, before the authored deflection


class ReplyGuard:
    """Checks replies for one turn. Build it from the turn's context (and the prompt's rules)."""

    def __init__(
        self,
        ctx: DialogueContext,
        *,
        instructions: Iterable[str] = (),
        hidden_facts: Iterable[str] | None = None,
    ) -> None:
        persona = ctx.persona
        said_by_player = [ctx.player_text, *(h.text for h in ctx.history)]
        known = [
            persona.name,
            persona.role,
            persona.backstory,
            persona.speaking_style,
            *persona.personality,
            *persona.knowledge,
            *ctx.world_facts,
            *(f"{k} {v}" for k, v in ctx.world_state.items()),
            *ctx.memories,
            *ctx.player_facts,
            *said_by_player,
            *(line.text for topic in persona.topics for line in topic.lines),
            *(line.text for line in [*persona.greeting, *persona.farewell, *persona.fallback]),
        ]
        self._known_words: set[str] = set()
        for text in known:
            self._known_words |= content_words(text)
        hidden = list(ctx.hidden_facts if hidden_facts is None else hidden_facts)
        known_shingles: set[tuple[str, ...]] = set()
        for text in known:
            known_shingles |= _shingles(text)
        self._facts: list[tuple[str, set[str], set[tuple[str, ...]]]] = []
        for fact in hidden:
            terms = content_words(fact) - self._known_words
            self._facts.append((fact, terms, _shingles(fact) - known_shingles))
        persona_text = " ".join(known[:7]).lower()
        # "From now on you are a dragon called Smaug": the reply must not take up that name.
        m = _NEW_IDENTITY.search(ctx.player_text)
        self._impostor = (
            m.group(1).lower() if m and m.group(1).lower() != persona.name.split()[0].lower() else None
        )
        self._identity = _Identity(ctx, self._impostor)
        self._as_self = re.compile(rf"\bas {re.escape(persona.name.lower())}\b", re.IGNORECASE)
        self._ooc_allowed = {m.group(0).lower() for m in _OOC.finditer(persona_text)}
        self._rules: set[tuple[str, ...]] = set()
        for sentence in instructions:
            self._rules |= _shingles(sentence)
        self._rules -= known_shingles
        # What this NPC already said in this conversation: saying it again is a loop, not a reply.
        self._said: set[tuple[str, ...]] = set()
        self._said_sentences: set[tuple[str, ...]] = set()
        for entry in ctx.history:
            if entry.speaker == persona.id:
                self._said |= _shingles(entry.text, REPEAT)
                self._said_sentences |= {s for s in map(_sentence_key, _sentences(entry.text)) if len(s) >= 3}
        heard = words(ctx.player_text.replace("\u2019", "'")) if not ctx.extra.get("said_by") else []
        self._player_text = ctx.player_text
        self._echo_at = max(3, -(-len(heard) * 6 // 10)) if len(heard) >= 3 else 0
        # Authored lines of topics the player's line has nothing to do with: copying one is no answer.
        self._copy_shingles: set[tuple[str, ...]] = set()
        self._copy_sentences: set[tuple[str, ...]] = set()
        asked = content_words(ctx.player_text)
        if asked:
            lookup = context_lookup(ctx)
            groups = [
                ([*t.phrasings, *(line.text for line in t.lines)], [line.text for line in t.lines])
                for t in persona.topics
            ]
            scripted = [line.text for line in [*persona.greeting, *persona.farewell]]
            groups.append((scripted, scripted))
            for about, lines in groups:
                if asked & content_words(" ".join(about)):
                    continue
                for line in lines:
                    text = render(line, lookup) or line
                    self._copy_shingles |= _shingles(text)
                    self._copy_sentences |= {s for s in map(_sentence_key, _sentences(text)) if len(s) >= 2}

    def check(self, text: str, before: str = "") -> GuardVerdict:
        """Check one sentence (or a whole reply); ``before``: what the reply already said (runs of
        words across sentences count for repeats and copies)."""
        if self._impostor and self._impostor in words(text):
            return GuardVerdict(False, "out_of_character", f"plays {self._impostor}, as the player asked")
        if self._as_self.search(text):  # "As Mira Thornwood, I ..." narrates the character
            return GuardVerdict(False, "out_of_character", self._as_self.pattern)
        other = self._identity.check(text)
        if other:
            return GuardVerdict(False, "out_of_character", other)
        for m in _OOC.finditer(text):
            if m.group(0).lower() not in self._ooc_allowed:
                return GuardVerdict(False, "out_of_character", m.group(0))
        tell = _INSTRUCTION_TELLS.search(text)
        if tell:
            return GuardVerdict(False, "instructions", tell.group(0))
        shingles = _shingles(text)
        quoted = shingles & self._rules
        if quoted:
            return GuardVerdict(False, "instructions", " ".join(sorted(quoted)[0]))
        joined = f"{before} {text}" if before.strip() else text
        repeated = _new_shingles(joined, before, REPEAT) & self._said
        if repeated:
            return GuardVerdict(False, "repeat", " ".join(sorted(repeated)[0]))
        if self._echo_at and _echo_run(text, self._player_text) >= self._echo_at:
            return GuardVerdict(False, "echo", text)
        key = _sentence_key(text)
        if key in self._said_sentences:
            return GuardVerdict(False, "repeat", " ".join(key))
        if key in self._copy_sentences:
            return GuardVerdict(False, "copy", " ".join(key))
        copied = _new_shingles(joined, before, SHINGLE) & self._copy_shingles
        if copied:
            return GuardVerdict(False, "copy", " ".join(sorted(copied)[0]))
        said = content_words(text)
        for fact, terms, fact_shingles in self._facts:
            if shingles & fact_shingles:
                return GuardVerdict(False, "unknown_fact", fact)
            hits = said & terms
            telling = {t for t in hits if len(t) >= LONG_TERM and t not in _GENERIC}
            # a fact's lone key term must be a word of some length: "Tomas opened the gate after
            # hearing them out" is known to Mira but for "hear", and "I hear spring's lovely" is no leak
            lone = len(terms) == 1 and len(next(iter(terms))) >= LONE_TERM and not terms <= _GENERIC
            need = 1 if lone or telling else 2
            if terms and len(hits) >= need:
                return GuardVerdict(False, "unknown_fact", f"{fact} (said: {', '.join(sorted(hits))})")
        return OK
