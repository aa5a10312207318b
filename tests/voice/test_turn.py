"""End of turn in hands-free mode (npc_runtime/voice/turn/): the real smart-turn v3.2 model from the
pipecat-ai wheel, the real Silero VAD and real speech (Piper's voice, a real recording).

smart-turn runs inline here with a fixed 130 ms "cost" in stream time (its measured cost on this
machine), so whether its answer arrives in time never depends on the machine's load."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from npc_runtime.voice.models import shared_vad
from npc_runtime.voice.stt.whisper_io import log_mel
from npc_runtime.voice.turn import (
    CuePolicy,
    SilencePolicy,
    TurnConfig,
    TurnParams,
    TurnPolicy,
    build_policy,
    params_of,
)
from npc_runtime.voice.turn.smart_turn import (
    SmartTurnModel,
    SmartTurnRunner,
    features,
    find_model,
    shared_model,
)
from npc_runtime.voice.turn.syntax import SyntaxCue
from npc_runtime.voice.turns import Segmenter, SpeechEnded, SpeechPaused, SpeechResumed

from .conftest import RATE, VOICE_TEST_SETTINGS, Mic, collect, of_type, player_line, silence


@pytest.fixture(scope="module")
def model() -> SmartTurnModel:
    return SmartTurnModel(find_model())


def _auto(model: SmartTurnModel, cues: bool = True, cfg: TurnConfig | None = None) -> CuePolicy:
    return CuePolicy(
        params_of(cfg or TurnConfig()), runner=SmartTurnRunner(model, inline=True, delay_ms=130), cues=cues
    )


def _ends(policy: TurnPolicy, audio: np.ndarray, npc_line: str = "", heard: str = "") -> list[float]:
    """Stream seconds at which the segmenter ended a turn, fed in 20 ms chunks; ``heard`` is the
    interim transcript given once the voice has started."""
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy)
    policy.npc_said(npc_line)
    out = []
    for i in range(0, len(audio), 320):
        out += [e.t_detected for e in seg.process(audio[i : i + 320], False) if isinstance(e, SpeechEnded)]
        if heard and seg.in_speech:
            policy.heard(heard)
    return out


def _with_pause(first: str, second: str, pause_s: float) -> tuple[np.ndarray, float]:
    """One line said in two parts with a pause between; and where the speech really ends."""
    a, b = player_line(first), player_line(second)
    b = b[: _voice_end(b)]
    audio = np.concatenate([silence(0.4), a, silence(pause_s), b])
    return np.concatenate([audio, silence(1.5)]), len(audio) / RATE


def _voice_end(x: np.ndarray) -> int:
    return int(np.flatnonzero(np.abs(x.astype(np.int32)) > 300)[-1]) + 1


def _stretched(line: str, pause_s: float) -> tuple[np.ndarray, float, int]:
    """Piper saying ``line`` whole (its comma intonation kept), every pause it makes inside the
    line (>= 80 ms under -35 dB of the peak, in 10 ms frames) stretched to ``pause_s``; where the
    speech really ends, and how many pauses there were."""
    x = player_line(line)
    x = x[: _voice_end(x)]
    n = len(x) // 160
    level = 20 * np.log10(np.sqrt((x[: n * 160].astype(np.float64).reshape(n, 160) ** 2).mean(axis=1)) + 1e-9)
    quiet = level < level.max() - 35
    runs, i = [], 0
    while i < n:
        j = i
        while j < n and quiet[j]:
            j += 1
        if j - i >= 8 and i > 0 and j < n:
            runs.append((i * 160, j * 160))
        i = max(j, i + 1)
    parts, prev = [silence(0.4)], 0
    for a, b in runs:
        parts += [x[prev:a], silence(pause_s)]
        prev = b
    parts.append(x[prev:])
    pauses = len(runs)
    audio = np.concatenate(parts)
    return np.concatenate([audio, silence(1.5)]), len(audio) / RATE, pauses


def test_the_model_file_is_found_and_loads(model: SmartTurnModel) -> None:
    assert model.path.name == "smart-turn-v3.2-cpu.onnx" and model.path.is_file()
    line = player_line("Where is the blacksmith?")
    whole = model.predict(np.concatenate([line, silence(0.2)]))
    cut = model.predict(player_line("Where is the"))
    assert 0.0 <= cut < whole <= 1.0
    assert whole > 0.5 > cut


def test_a_pause_at_a_comma_does_not_end_the_turn(model: SmartTurnModel) -> None:
    audio, end, pauses = _stretched("I saw something in the woods, near the river, last night.", 0.7)
    assert pauses == 2
    # today's fixed silence cuts in at the first comma...
    assert _ends(SilencePolicy(300), audio)[0] < end - 1.0
    # ...smart-turn holds the turn through it and ends it after the real end
    ends = _ends(_auto(model, cues=False), audio)
    assert len(ends) == 1 and ends[0] > end


def test_a_hanging_last_word_holds_the_turn() -> None:
    audio, end = _with_pause("I want to buy the", "red cloak.", 0.8)
    cues = params_of(TurnConfig())
    # without a transcript the cheap cues end the turn inside the 800 ms pause...
    assert _ends(CuePolicy(cues, cues=True), audio)[0] < end - 0.2
    # ...with "the" as the interim transcript's last word they hold it
    ends = _ends(CuePolicy(cues, cues=True), audio, heard="i want to buy the")
    assert ends and ends[0] > end
    policy = CuePolicy(cues, cues=True)
    for text, verdict in (("i want to buy the", 0.05), ("i want to buy, um", 0.05), ("the red cloak", 0.55)):
        policy.heard(text)
        assert SyntaxCue().judge(policy.utt, 0) == verdict, text


def test_a_finished_question_ends_sooner_than_the_fixed_silence(model: SmartTurnModel) -> None:
    line = player_line("Where is the blacksmith?")
    audio = np.concatenate([silence(0.4), line, silence(1.5)])
    fixed = _ends(SilencePolicy(300), audio)
    smart = _ends(_auto(model), audio)
    assert len(fixed) == len(smart) == 1
    assert smart[0] < fixed[0]


class _SureOf(SmartTurnModel):
    """The real model's class answering one fixed probability (the policy's rule, not the model's
    judgement, is under test)."""

    def __init__(self, real: SmartTurnModel, p: float) -> None:
        self.__dict__.update(real.__dict__)
        self.p = p

    def predict(self, audio: np.ndarray) -> float:
        return self.p


def test_a_finished_turn_no_cue_confirms_ends_at_unconfirmed_ms(model: SmartTurnModel) -> None:
    """Smart-turn calls the turn finished (0.7: at or above ``threshold``, under ``sure``) but the
    voice did not fade ("I need a bed for the night.": the final "t") and nothing else agrees: the
    turn ends at ``unconfirmed_ms`` of silence instead of ``base_ms``; a doubtful answer (under
    ``threshold``) still waits ``base_ms``."""
    audio = np.concatenate([silence(0.4), player_line("I need a bed for the night."), silence(1.5)])

    def policy(p: float, **cfg: Any) -> CuePolicy:
        runner = SmartTurnRunner(_SureOf(model, p), inline=True, delay_ms=130)
        return CuePolicy(params_of(TurnConfig(**cfg)), runner=runner, cues=True)

    quick, slow, doubt = policy(0.7), policy(0.7, unconfirmed_ms=1000), policy(0.4)
    ended, waited, doubted = _ends(quick, audio), _ends(slow, audio), _ends(doubt, audio)
    assert len(ended) == len(waited) == len(doubted) == 1
    assert quick.reason == "silence 600 ms (smart-turn p=0.70)"
    assert slow.reason == "silence 1000 ms (smart-turn p=0.70)"
    assert waited[0] - ended[0] == pytest.approx(0.4, abs=0.03)
    assert doubted == waited and doubt.reason == "silence 1000 ms (smart-turn p=0.40)"


class _Answers(SmartTurnModel):
    """The real model's class answering a fixed sequence of probabilities, one per call."""

    def __init__(self, real: SmartTurnModel, answers: list[float]) -> None:
        self.__dict__.update(real.__dict__)
        self.answers = answers
        self.calls = 0

    def predict(self, audio: np.ndarray) -> float:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def test_a_held_pause_asked_again_at_recheck_ms_is_released_by_a_later_answer(model: SmartTurnModel) -> None:
    """Held at the first probe (0.1, under ``hold_below``), asked again at ``recheck_ms``: 0.8 releases
    the hold and the turn ends at ``unconfirmed_ms`` (not at once); 0.1 again keeps it held to
    ``max_ms``; ``recheck_ms`` 0 never asks again (every held pause here: ``recheck_complete`` off)."""
    audio = np.concatenate([silence(0.4), player_line("I need a bed for the night."), silence(1.5)])

    def run(answers: list[float], recheck_ms: float) -> tuple[list[float], CuePolicy, _Answers]:
        fixed = _Answers(model, answers)
        runner = SmartTurnRunner(fixed, inline=True, delay_ms=130)
        cfg = TurnConfig(recheck_ms=recheck_ms, recheck_complete=False)
        policy = CuePolicy(params_of(cfg), runner=runner, cues=True)
        return _ends(policy, audio), policy, fixed

    released, r_policy, r_model = run([0.1, 0.8], 400)
    held, h_policy, h_model = run([0.1, 0.1], 400)
    off, o_policy, o_model = run([0.1, 0.8], 0)
    assert r_model.calls == h_model.calls == 2 and o_model.calls == 1
    assert r_policy.reason == "silence 600 ms (smart-turn p=0.80 at 400 ms)"
    assert h_policy.reason == "silence 1000 ms (held by smart-turn p=0.10, then p=0.10)"
    assert o_policy.reason == "silence 1000 ms (held by smart-turn p=0.10)"
    assert len(released) == len(held) == 1 and held == off
    assert held[0] - released[0] == pytest.approx(0.4, abs=0.03)


def test_only_a_held_pause_whose_transcript_is_complete_is_asked_again(
    model: SmartTurnModel, whisper: Any
) -> None:
    """``recheck_complete`` (the default): a short question smart-turn holds at its first probe
    ("Any gossip?" read 0.03-0.13 at 80 ms of silence in the runtime) is asked again at
    ``recheck_ms`` because Whisper's text of the pause is a finished question; a statement is
    not, even one counted complete (``complete_marks`` ".?!"): asking every held pause again cut
    0.7 s pauses after clauses."""

    def run(line: str, recheck_complete: bool) -> tuple[list[float], CuePolicy, _Answers]:
        audio = np.concatenate([silence(0.4), player_line(line), silence(1.5)])
        fixed = _Answers(model, [0.1, 0.8])
        cfg = TurnConfig(recheck_ms=500, recheck_complete=recheck_complete)
        policy = CuePolicy(
            params_of(cfg), runner=SmartTurnRunner(fixed, inline=True, delay_ms=130), cues=True
        )
        return _ends_with_finals(policy, audio, whisper), policy, fixed

    _, policy, fixed = run("Any gossip?", True)
    assert fixed.calls == 2 and policy.reason == "complete sentence, silence 600 ms", policy.reason
    _, policy, fixed = run("I need a bed for the night.", True)
    assert fixed.calls == 1 and policy.reason == "silence 1000 ms (held by smart-turn p=0.10)", policy.reason
    _, policy, fixed = run("I need a bed for the night.", False)
    assert fixed.calls == 2 and policy.reason == "silence 600 ms (smart-turn p=0.80 at 500 ms)", policy.reason


def test_an_answer_to_the_npcs_question_may_end_on_a_lower_probability(model: SmartTurnModel) -> None:
    audio = np.concatenate([silence(0.4), player_line("The mill."), silence(1.5)])
    asked = _ends(_auto(model), audio, npc_line="Where are you headed?")
    assert len(asked) == 1
    fixed = _ends(SilencePolicy(300), audio)
    assert asked[0] <= fixed[0] + 0.7  # never held to the longest pause


def test_a_missing_model_file_degrades_to_the_silence_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = TurnConfig(policy="auto", model_path=str(tmp_path / "gone.onnx"))
    with caplog.at_level(logging.WARNING, logger="npc_runtime.voice.turn.smart_turn"):
        policy = build_policy(cfg, end_silence_ms=300)
    assert isinstance(policy, SilencePolicy) and policy.end_ms == 300
    assert "smart-turn end-of-turn model unavailable" in caplog.text
    assert "gone.onnx" in caplog.text and "pip install --no-deps pipecat-ai" in caplog.text
    assert shared_model(1, str(tmp_path / "gone.onnx")) is None


def test_the_settings_choose_the_policy() -> None:
    assert isinstance(build_policy(TurnConfig(policy="silence"), 450), SilencePolicy)
    cues = build_policy(TurnConfig(policy="cues"), 450)
    assert isinstance(cues, CuePolicy) and cues.runner is None and cues.name == "cues"
    auto = build_policy(TurnConfig(), 450, max_ms=2000)
    assert isinstance(auto, CuePolicy) and auto.runner is not None and auto.p.max_ms == 2000


async def _finals(
    make_settings: Callable[..., Settings], db: str, audio: np.ndarray, turn: dict[str, Any]
) -> list[str]:
    """The final transcripts a hands-free conversation of a real runtime gives for ``audio``."""
    runtime = Runtime(make_settings(db=db, voice={**VOICE_TEST_SETTINGS, "turn": turn}))
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="turns")
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="hands_free", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        await mic.play(audio)
        # the NPC's reply ends each answered turn; the last one ends the whole line
        msgs = await collect(
            client, mic.cid, lambda m: m.type == "transcript" and "bed" in m.text.lower() and m.final
        )  # type: ignore[attr-defined]
        return [m.text for m in of_type(msgs, "transcript") if m.final]  # type: ignore[attr-defined]
    finally:
        await client.close()
        await runtime.stop()


async def test_the_runtime_holds_a_hands_free_turn_through_a_pause_when_the_policy_says_so(
    make_settings: Callable[..., Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audio, _ = _with_pause("Well, I was thinking,", "I need a bed for the night.", 0.7)
    fixed = await _finals(make_settings, str(tmp_path / "a.sqlite3"), audio, {"policy": "silence"})
    assert len(fixed) == 2  # the 300 ms silence answers the first half on its own
    patient = {"policy": "cues", "cue_ms": 1000, "base_ms": 1000, "max_ms": 1000}
    caplog.set_level(logging.DEBUG, logger="npc_runtime.voice.turn")
    held = await _finals(make_settings, str(tmp_path / "b.sqlite3"), audio, patient)
    assert len(held) == 1 and "thinking" in held[0].lower() and "bed" in held[0].lower()
    # why the turn ended is logged (the benchmark reads it): the policy's reason, after 1 s
    lines = [r.getMessage() for r in caplog.records if r.name == "npc_runtime.voice.turn"]
    ends = [m for m in lines if "end of turn after" in m]
    assert len(ends) == 1 and "(silence 1000 ms" in ends[0], ends
    # with the shared models' running totals (the benchmark prints them per turn)
    counters = [json.loads(m.split("voice counters ", 1)[1]) for m in lines if "voice counters " in m]
    assert len(counters) == 1 and counters[0]["whisper.decodes"] >= 1
    assert {"whisper.queue_ms", "whisper.early_deferred"} <= set(counters[0])


def test_a_held_pause_ends_the_turn_when_the_microphone_stops() -> None:
    patient = CuePolicy(params_of(TurnConfig(cue_ms=1000, base_ms=1000, max_ms=1000)), cues=True)
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, turn=patient)
    line = player_line("Well, I was thinking")
    events = seg.process(np.concatenate([silence(0.4), line[: len(line) // 2]]), False)
    assert seg.in_speech and not any(isinstance(e, SpeechEnded) for e in events)
    assert seg.end_in_pause() is None  # mid-voice: the session drops it (audio_timeout)
    events = seg.process(np.concatenate([line[len(line) // 2 :], silence(0.5)]), False)
    assert not any(isinstance(e, SpeechEnded) for e in events)  # the policy holds the pause
    ended = seg.end_in_pause()
    assert ended is not None and ended.t_last_voice < seg.t - 0.3 and not seg.in_speech


class _GatedModel(SmartTurnModel):
    """The real model, whose answer waits until the test opens the gate (a busy CPU)."""

    def __init__(self, real: SmartTurnModel) -> None:
        self.__dict__.update(real.__dict__)
        self.gate = threading.Event()
        self.asked = threading.Event()

    def predict(self, audio: np.ndarray) -> float:
        self.asked.set()
        assert self.gate.wait(60)
        return super().predict(audio)


def test_smart_turns_time_cap_counts_wall_time_not_a_backlog_of_audio(model: SmartTurnModel) -> None:
    """A runtime that is behind consumes a backlog of audio at once: 600 ms of the player's
    silence go by in stream time while the model (in its thread) has not answered. The policy
    keeps waiting for the answer until ``cap_ms`` of WALL time have passed, then decides without it."""
    gated = _GatedModel(model)
    now = [100.0]
    runner = SmartTurnRunner(gated, workers=1, clock=lambda: now[0])
    policy = CuePolicy(params_of(TurnConfig()), runner=runner, cues=True)
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy)
    policy.npc_said("Where are you headed?")  # an answer to a question ends at cue_ms without smart-turn
    audio = np.concatenate([silence(0.4), player_line("The mill."), silence(0.6)])
    ended = [e for i in range(0, len(audio), 320) for e in seg.process(audio[i : i + 320], False)]
    assert gated.asked.wait(60)
    assert not [e for e in ended if isinstance(e, SpeechEnded)]  # still waiting: no wall time has passed
    probe = policy._probes[0]
    now[0] += 0.35  # the cap (300 ms of wall time) is over: the answer to the question ends the turn
    ended = seg.process(silence(0.04), False)
    gated.gate.set()
    probe.future.result(60)  # type: ignore[union-attr]  # the model thread is free again
    assert [e for e in ended if isinstance(e, SpeechEnded)] and policy.reason == "answer to a question"


def test_a_smart_turn_answer_that_arrives_within_the_cap_decides(model: SmartTurnModel) -> None:
    gated = _GatedModel(model)
    now = [100.0]
    runner = SmartTurnRunner(gated, workers=1, clock=lambda: now[0])
    policy = CuePolicy(params_of(TurnConfig()), runner=runner, cues=True)
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy)
    policy.npc_said("Where are you headed?")
    audio = np.concatenate([silence(0.4), player_line("The mill."), silence(0.6)])
    ended = [e for i in range(0, len(audio), 320) for e in seg.process(audio[i : i + 320], False)]
    assert gated.asked.wait(60) and not [e for e in ended if isinstance(e, SpeechEnded)]
    gated.gate.set()
    policy._probes[0].future.result(60)  # type: ignore[union-attr]
    now[0] += 0.1
    ended = seg.process(silence(0.04), False)
    assert [e for e in ended if isinstance(e, SpeechEnded)] and policy.reason.startswith("smart-turn p=")


def test_smart_turns_features_compute_the_padding_once_with_the_same_values(model: SmartTurnModel) -> None:
    """The lead padding of a short utterance is one constant frame, computed once; the features
    (and the model's answer) are those of Whisper's log-mel of the whole normalised 8 s window."""

    def whole_window(audio: np.ndarray) -> np.ndarray:
        n = int(8 * RATE)
        x = audio[-n:].astype(np.float32) / 32768.0
        x = np.concatenate([np.zeros(n - len(x), dtype=np.float32), x])
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        return log_mel(x, 800)[None, :, :]

    line = np.concatenate([player_line("Where is the blacksmith?"), silence(0.2)])
    for audio in (line[:3000], line, np.concatenate([line] * 6)[: int(7.9 * RATE)], np.tile(line, 8)):
        fast, plain = features(audio), whole_window(audio)
        assert fast.shape == plain.shape == (1, 80, 800)
        np.testing.assert_allclose(fast, plain, atol=1e-5)
    ask = model._session.run(None, {model._input: whole_window(line)})[0]
    assert abs(model.predict(line) - float(np.asarray(ask).reshape(-1)[0])) < 1e-5


def test_smart_turn_is_not_asked_while_the_last_word_hangs(model: SmartTurnModel) -> None:
    audio, end = _with_pause("I want to buy the", "red cloak.", 0.8)
    hanging = _auto(model)
    assert hanging.runner is not None
    ends = _ends(hanging, audio, heard="i want to buy the")
    assert ends and ends[0] > end and hanging.runner.calls == 0  # held by the word alone, no model call
    finished = _auto(model)
    assert finished.runner is not None
    _ends(finished, audio, heard="i want to buy the red cloak")
    assert finished.runner.calls >= 1


def test_with_every_model_thread_busy_a_pause_is_judged_by_the_cues_at_once(model: SmartTurnModel) -> None:
    """Two conversations pause together and smart-turn has one thread: the second call would
    answer after the first, too late, so it is not made; that pause goes by the cues."""
    gated = _GatedModel(model)
    now = [100.0]
    audio = np.concatenate([silence(0.4), player_line("The mill."), silence(0.6)])

    def conversation() -> tuple[CuePolicy, Segmenter]:
        policy = CuePolicy(
            params_of(TurnConfig()), runner=SmartTurnRunner(gated, workers=1, clock=lambda: now[0]), cues=True
        )
        policy.npc_said("Where are you headed?")
        return policy, Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy)

    (first, seg1), (second, seg2) = conversation(), conversation()
    try:
        ended1 = [e for i in range(0, len(audio), 320) for e in seg1.process(audio[i : i + 320], False)]
        assert gated.asked.wait(60) and not [e for e in ended1 if isinstance(e, SpeechEnded)]
        ended2 = [e for i in range(0, len(audio), 320) for e in seg2.process(audio[i : i + 320], False)]
        assert first.runner is not None and second.runner is not None
        assert second.runner.skipped == 1 and first.runner.skipped == 0
        assert [e for e in ended2 if isinstance(e, SpeechEnded)] and second.reason == "answer to a question"
    finally:
        gated.gate.set()
    first._probes[0].future.result(60)  # type: ignore[union-attr]
    assert [e for e in seg1.process(silence(0.04), False) if isinstance(e, SpeechEnded)]
    assert first.reason.startswith("smart-turn p=")


def test_a_call_shed_while_the_threads_were_busy_is_made_once_one_is_free(model: SmartTurnModel) -> None:
    """The same two conversations: when the first call's thread frees up while the second pause is
    young, the second conversation asks the model then, and its answer decides (not the cues at
    cue_ms); with ``retry_busy`` off that pause stays with the cues."""
    for retry in (True, False):
        gated = _GatedModel(model)
        clock = [100.0].__getitem__
        params = replace(params_of(TurnConfig()), retry_busy=retry)
        audio = np.concatenate([silence(0.4), player_line("The mill.")])

        def conversation(
            params: TurnParams = params, gated: _GatedModel = gated, clock: Any = clock
        ) -> tuple[CuePolicy, Segmenter]:
            runner = SmartTurnRunner(gated, workers=1, clock=lambda: clock(0))
            policy = CuePolicy(params, runner=runner, cues=True)
            policy.npc_said("Where are you headed?")
            return policy, Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy)

        (first, seg1), (second, seg2) = conversation(), conversation()
        assert first.runner is not None and second.runner is not None
        try:
            played = np.concatenate([audio, silence(0.6)])
            for i in range(0, len(played), 320):
                seg1.process(played[i : i + 320], False)
            assert gated.asked.wait(60)  # the first pause holds the only thread
            for i in range(0, len(audio), 320):
                seg2.process(audio[i : i + 320], False)
            while second.runner.skipped == 0:  # the second pause's call is due, and shed
                assert not [e for e in seg2.process(silence(0.02), False) if isinstance(e, SpeechEnded)]
        finally:
            gated.gate.set()
        first._probes[0].future.result(60)  # type: ignore[union-attr]  # the thread is free again
        ended: list[Any] = []
        for _ in range(50):
            if second._probes and second._probes[0].future is not None:
                second._probes[0].future.result(60)  # the retried call's answer (wall time stands still)
            ended = [e for e in seg2.process(silence(0.02), False) if isinstance(e, SpeechEnded)]
            if ended:
                break
        assert ended
        if retry:
            assert second.runner.calls == 2 and second.reason.startswith("smart-turn p=")
        else:
            assert second.runner.calls == 1 and second.reason == "answer to a question"


def _ends_with_finals(
    policy: TurnPolicy, audio: np.ndarray, stt: Any, delay_s: float = 0.2, heard: str = ""
) -> list[float]:
    """Like :func:`_ends`, with what the session's speculation does: at each 120 ms pause the
    real Whisper transcribes the audio so far, and its text reaches the policy ``delay_s`` later
    (stream time) unless the voice resumed first. ``heard``: the streaming interim text."""
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy, speculate_ms=120)
    out, due = [], None
    for i in range(0, len(audio), 320):
        if heard and seg.in_speech:
            policy.heard(heard)
        if due is not None and due[1] <= i / RATE:
            policy.transcribed(due[0])
            due = None
        for e in seg.process(audio[i : i + 320], False):
            if isinstance(e, SpeechEnded):
                out.append(e.t_detected)
            elif isinstance(e, SpeechPaused):
                due = (stt.decode(audio[: i + 320]).text, seg.t + delay_s)
            elif isinstance(e, SpeechResumed):
                due = None
    return out


@pytest.fixture(scope="module")
def whisper() -> Any:
    from npc_runtime.voice.stt.whisper import WhisperStt

    return WhisperStt(workers=1)


def _auto_complete(model: SmartTurnModel, complete_ms: float) -> CuePolicy:
    params = replace(params_of(TurnConfig()), complete_ms=complete_ms)
    return CuePolicy(params, runner=SmartTurnRunner(model, inline=True, delay_ms=130), cues=True)


def test_a_question_in_the_pauses_transcript_ends_a_doubted_turn_sooner(
    model: SmartTurnModel, whisper: Any
) -> None:
    # a short finished question that smart-turn doubts (0.2-0.5) and whose voice does not fade:
    # Whisper's "Why?" at the pause lowers the threshold to question_threshold
    audio = np.concatenate([silence(0.4), player_line("Why?"), silence(1.5)])
    without = _auto_complete(model, 0)
    ends_without = _ends_with_finals(without, audio, whisper)
    assert len(ends_without) == 1 and without.reason.startswith("silence 1000 ms")
    with_it = _auto_complete(model, TurnConfig().complete_ms)
    ends_with = _ends_with_finals(with_it, audio, whisper)
    assert len(ends_with) == 1 and not with_it.reason.startswith("silence")
    assert ends_with[0] < ends_without[0]


def test_a_pause_at_a_comma_is_not_a_complete_sentence(model: SmartTurnModel, whisper: Any) -> None:
    audio, end, pauses = _stretched("I saw something in the woods, near the river, last night.", 0.7)
    assert pauses == 2
    # Whisper writes "I saw something in the woods." at the first pause: with "." counted, only
    # smart-turn's hold (below hold_below) keeps the turn open; by default only "?" counts
    for marks in ("?", ".?!"):
        policy = CuePolicy(
            replace(params_of(TurnConfig()), complete_marks=marks),
            runner=SmartTurnRunner(model, inline=True, delay_ms=130),
            cues=True,
        )
        ends = _ends_with_finals(policy, audio, whisper)
        assert len(ends) == 1 and ends[0] > end, marks


def test_a_complete_sentence_needs_final_punctuation_after_a_word_that_does_not_hang() -> None:
    cue = SyntaxCue()
    for text, complete in (
        ("Any gossip?", True),
        ("Tell me about the wolves.", True),
        ("Yes!", True),
        ("I want to buy the.", False),  # Whisper's full stop after a hanging word
        ("I saw something in the woods,", False),
        ("Well...", False),
        ("any gossip", False),  # pocketsphinx's interim text has no punctuation
        ("", False),
    ):
        assert cue.complete(text) is complete, text


def test_the_pauses_transcript_judges_the_last_word_over_a_lagging_interim_text(whisper: Any) -> None:
    # pocketsphinx's interim text lags the voice: at the pause after "Where is the mill?" it may
    # still read "where is the", whose "the" would hold the turn to max_ms. Once Whisper's text
    # of the pause has come, its last word decides: the cues (the faded voice, the question)
    # end the turn.
    audio = np.concatenate([silence(0.4), player_line("Where is the mill?"), silence(1.5)])
    ends = {}
    for final_words in (False, True):
        policy = CuePolicy(replace(params_of(TurnConfig()), final_words=final_words), cues=True)
        ends[final_words] = _ends_with_finals(policy, audio, whisper, heard="where is the")
        assert len(ends[final_words]) == 1, final_words
        if final_words:
            assert policy.reason in ("faded voice", "complete sentence, silence 600 ms"), policy.reason
        else:
            assert "the last word hangs" in policy.reason, policy.reason
    assert ends[True][0] <= ends[False][0] - 0.3
    # a hesitation still holds (Whisper leaves "um" out of its text) and a word that hangs before
    # Whisper's full stop (a phrase cut at a comma) hangs
    policy = CuePolicy(params_of(TurnConfig()), cues=True)
    policy.heard("i want the um")
    policy.transcribed("I want the.")
    assert SyntaxCue().judge(policy.utt, 0) == 0.05
    policy.heard("i want the red")
    assert SyntaxCue().judge(policy.utt, 0) == 0.05
    policy.transcribed("I want the red one.")
    assert SyntaxCue().judge(policy.utt, 0) == 0.85
    assert SyntaxCue(final_words=False).judge(policy.utt, 0) == 0.55


def test_the_pauses_transcript_is_dropped_when_the_voice_resumes() -> None:
    policy = CuePolicy(params_of(TurnConfig()), cues=True)
    policy.begin(np.zeros(0, dtype=np.int16))
    policy.transcribed("Any gossip?")
    policy.audio(silence(0.02), False, 20)
    assert policy.utt.final == "Any gossip?"
    policy.audio(player_line("and")[:320], True, 20)
    assert policy.utt.final == ""


def _auto_questions(model: SmartTurnModel, on: bool) -> CuePolicy:
    params = replace(params_of(TurnConfig()), complete_questions=on)
    return CuePolicy(params, runner=SmartTurnRunner(model, inline=True, delay_ms=130), cues=True)


def test_a_short_question_whisper_ends_with_a_full_stop_ends_the_turn_sooner(
    model: SmartTurnModel, whisper: Any
) -> None:
    # Whisper writes "any gossip." for Piper's "Any gossip?" and smart-turn doubts it (0.2-0.5):
    # without complete_questions the turn waits base_ms; with it, the question word makes the
    # transcript complete and the turn ends at complete_ms
    audio = np.concatenate([silence(0.4), player_line("Any gossip?"), silence(1.5)])
    texts: list[str] = []

    class Heard:
        def decode(self, a: np.ndarray) -> Any:
            r = whisper.decode(a)
            texts.append(r.text.strip())
            return r

    without = _auto_questions(model, False)
    ends_without = _ends_with_finals(without, audio, Heard())
    assert texts and not texts[-1].endswith("?")  # the case the cue is for
    assert SyntaxCue().asks(texts[-1]) and SyntaxCue().complete(texts[-1])
    assert len(ends_without) == 1 and without.reason.startswith("silence 1000 ms")
    with_it = _auto_questions(model, True)
    ends_with = _ends_with_finals(with_it, audio, Heard())
    assert len(ends_with) == 1 and with_it.reason == "complete sentence, silence 600 ms"
    assert ends_with[0] <= ends_without[0] - 0.3


def test_a_question_cut_at_a_comma_is_still_held_when_smart_turn_holds_it(
    model: SmartTurnModel, whisper: Any
) -> None:
    # "Do you know anyone who, [700 ms] can fix a wagon?": at the pause the transcript opens like a
    # question; were its "?" a "." (as in "any gossip."), complete_questions would make it complete,
    # but smart-turn's low probability (below hold_below) still holds the turn through the pause
    audio, end, pauses = _stretched("Do you know anyone who, can fix a wagon?", 0.7)
    assert pauses == 1
    texts: list[str] = []

    class FullStop:
        def decode(self, a: np.ndarray) -> Any:
            r = whisper.decode(a)
            text = r.text.strip().rstrip("?") + "."
            texts.append(text)
            return replace(r, text=text)

    policy = _auto_questions(model, True)
    ends = _ends_with_finals(policy, audio, FullStop())
    assert SyntaxCue().asks(texts[0]) and SyntaxCue().complete(texts[0])  # e.g. "Do you know anyone who."
    assert len(ends) == 1 and ends[0] > end


def test_a_finished_question_does_not_end_on_a_word_that_opens_a_clause() -> None:
    cue = SyntaxCue()
    for text, finished in (
        ("Any gossip?", True),
        ("any gossip.", True),
        ("Who?", True),
        ("Do you know anyone who?", False),
        ("Do you know anyone who.", False),
        ("Is it true that?", False),
        ("I need a bed for the night.", False),  # complete, but not a question
        ("Where can I find the.", False),
    ):
        assert cue.finished_question(text) is finished, text


def test_a_question_opens_with_a_question_word_or_an_auxiliary() -> None:
    cue = SyntaxCue()
    for text, asks in (
        ("any gossip.", True),
        ("Do you sell rope.", True),
        ("Um, where is the blacksmith.", True),
        ("Is there a healer here.", True),
        ("What's that.", True),
        ("I need a bed for the night.", False),
        ("Tell me, where is the mill.", False),  # the question comes after the first clause
        ("Well, I was thinking.", False),
        ("", False),
    ):
        assert cue.asks(text) is asks, text
