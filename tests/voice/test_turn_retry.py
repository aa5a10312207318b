"""A smart-turn call shed while every model thread was busy (many conversations pausing at once),
made late when no cue would end the pause: the real smart-turn v3.2 model, the real Silero VAD."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from npc_runtime.voice.models import shared_vad
from npc_runtime.voice.turn import CuePolicy, TurnConfig, TurnParams, params_of
from npc_runtime.voice.turn.smart_turn import SmartTurnModel, SmartTurnRunner, find_model
from npc_runtime.voice.turns import Segmenter, SpeechEnded

from .conftest import RATE, player_line, silence
from .test_turn import _GatedModel


@pytest.fixture(scope="module")
def model() -> SmartTurnModel:
    return SmartTurnModel(find_model())


class _RecordingModel(_GatedModel):
    """The gated model, keeping the length of each audio it judged."""

    def __init__(self, real: SmartTurnModel) -> None:
        super().__init__(real)
        self.judged: list[int] = []

    def predict(self, audio: np.ndarray) -> float:
        self.judged.append(len(audio))
        return super().predict(audio)


def test_a_shed_call_is_made_late_when_no_cue_would_end_the_pause(model: SmartTurnModel) -> None:
    """Two conversations pausing at once on one model thread. The second's probe is shed, and
    the thread stays busy past ``cap_ms``. Its line ("I need a bed for the night.", the NPC asked
    nothing) has no cue that ends the pause before ``base_ms``: once the thread is free (at
    ~500 ms of silence) the call is made, on the audio of the probe's time, and its answer ends
    the turn before 1 s. With ``retry_until_ms`` 0 the pause waits the full second."""
    for until in (700.0, 0.0):
        gated = _RecordingModel(model)
        params = replace(params_of(TurnConfig()), retry_until_ms=until)
        line = np.concatenate([silence(0.4), player_line("I need a bed for the night.")])

        def conversation(
            gated: _GatedModel = gated, params: TurnParams = params
        ) -> tuple[CuePolicy, Segmenter]:
            runner = SmartTurnRunner(gated, workers=1, clock=lambda: 100.0)  # wall time stands still
            policy = CuePolicy(params, runner=runner, cues=True)
            return policy, Segmenter(shared_vad("silero").stream(), hands_free=True, turn=policy)

        (first, seg1), (second, seg2) = conversation(), conversation()
        assert first.runner is not None and second.runner is not None
        try:
            for i in range(0, len(line) + 3200, 320):
                seg1.process(np.concatenate([line, silence(0.2)])[i : i + 320], False)
            assert gated.asked.wait(60)  # the first pause holds the only thread
            for i in range(0, len(line), 320):
                seg2.process(line[i : i + 320], False)
            while second.runner.skipped == 0:  # the second pause's probe is due, and shed
                assert not [e for e in seg2.process(silence(0.02), False) if isinstance(e, SpeechEnded)]
            at_probe, probe_t = second.utt.samples, second._probes[0].t
            while seg2.t < probe_t + 0.4:  # ~500 ms of silence, past cap_ms, and no free thread yet
                assert not [e for e in seg2.process(silence(0.02), False) if isinstance(e, SpeechEnded)]
            assert second.runner.skipped == 1 and second.runner.calls == 1
        finally:
            gated.gate.set()
        first._probes[0].future.result(60)  # type: ignore[union-attr]  # the thread is free again
        ended: list[Any] = []
        for _ in range(60):
            if second._probes and second._probes[0].future is not None:
                second._probes[0].future.result(60)
            ended = [e for e in seg2.process(silence(0.02), False) if isinstance(e, SpeechEnded)]
            if ended:
                break
        assert ended
        silence_ms = (ended[0].t_detected - ended[0].t_last_voice) * 1000
        if until:
            assert second.runner.calls == 2 and second.reason.startswith("smart-turn p="), second.reason
            assert 450 <= silence_ms < 1000
            # it judged the audio of the probe's time (80-100 ms of silence), not 0.5 s more
            assert abs(gated.judged[-1] - at_probe) <= 0.12 * RATE
        else:
            assert second.runner.calls == 1 and second.reason.startswith("silence 1000 ms"), second.reason
            assert silence_ms >= 1000
