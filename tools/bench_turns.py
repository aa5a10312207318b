"""End-of-turn benchmark: false cut-ins and end-of-turn latency of each hands-free policy, in one run.

    python tools/bench_turns.py [--json out.json] [--plot out.png] [--seed 7] [--no-asr]
                                [--asr-cache asr.json] [--sweep] [--smart-turn-ms 130]

The labelled set: utterances WITH internal pauses, each followed by silence, and where the
player really stopped (the last voiced 10 ms frame, by energy):
- real recordings (bench_stt.py's corpus: beckett.wav, two_cities.wav, pocketsphinx-testdata's
  LibriVox and spoken clips): every pause the reader made inside an utterance (>= 80 ms of
  silence) is stretched to 300-900 ms with its own background noise, and consecutive phrases of
  the same reading are joined by such a pause ("it was the age of wisdom, [600 ms] it was the age
  of foolishness"), so cuts fall at commas and inside phrases ("had he married a more amiable
  woman [..] he might have been made");
- Piper (joe) lines a player might say, with commas, "um" and pauses inside phrases ("I want to
  buy, [700 ms] the red cloak"): each comma pause Piper makes is stretched to 300-900 ms; some
  answer a question the NPC has just asked.

Each utterance goes through the runtime's own Segmenter with the real Silero VAD in 20 ms chunks,
once per policy, with pocketsphinx's interim transcript of the audio so far (``--no-asr``: none).
smart-turn runs inline, its answer counted as arriving after the call's measured cost in stream
time (a call per (utterance, audio) is cached across policies, with its cost), or after
``--smart-turn-ms`` (what the policy would do where the model is that fast). ``--final``: at each
120 ms pause Whisper's transcript of the audio so far reaches the policies after its measured
cost (or ``--final-ms``), as the session's speculation hands it over, and auto runs with and
without ``complete_ms``, ``complete_questions`` and with other ``complete_marks``. A *false cut-in*
is a turn ended with a word still to come (a 10 ms frame within 25 dB of the loudest after it);
latency is the end-of-turn decision after the real end (the last frame within 35 dB of the
loudest). A turn ended more than 50 ms before the real end with no word after it ended in the
readings' faint tail (breath, the room at -26 to -35 dB): column ``tail``, negative latency; it
counted as a cut-in before, which made a faster smart-turn answer look like more cut-ins.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from bench_stt import corpus  # noqa: E402

from npc_runtime.voice.frames import STT_RATE, Int16Array  # noqa: E402
from npc_runtime.voice.models import shared_tts, shared_vad  # noqa: E402
from npc_runtime.voice.resample import resample  # noqa: E402
from npc_runtime.voice.turn import CuePolicy, SilencePolicy, TurnConfig, TurnPolicy, params_of  # noqa: E402
from npc_runtime.voice.turn.smart_turn import Probe, SmartTurnModel, SmartTurnRunner  # noqa: E402
from npc_runtime.voice.turns import Segmenter, SpeechEnded, SpeechPaused, SpeechResumed  # noqa: E402

CHUNK = 320  # 20 ms
SPEECH_DB = 25.0  # a frame this close to the loudest is a word (Item.speech_after)
LEAD_S, TAIL_S = 0.5, 2.0

# (line with commas where the player pauses, the NPC's question just before or "")
PIPER_LINES = [
    ("Well, I was thinking, maybe we could go to the mill.", ""),
    ("I need a sword, and a shield, and some rope.", ""),
    ("Tell me about the wolves, the ones in the forest.", ""),
    ("Um, where is the blacksmith?", ""),
    ("So the thing is, um, I lost my map.", ""),
    ("Can you help me find, uh, the old tower?", ""),
    ("I want to buy, the red cloak.", ""),
    ("I saw something in the woods, near the river, last night.", ""),
    ("How much for the bread, and the cheese?", ""),
    ("We should leave before dark, because the road is dangerous.", ""),
    ("If you give me the key, I will open the gate.", ""),
    ("Hmm, let me think. Three apples, please.", ""),
    ("I came from the north, from Dunmarrow.", ""),
    ("Is it true that the king, is dead?", ""),
    ("Bring me the letter, then we can talk.", ""),
    ("I don't know, maybe tomorrow.", ""),
    ("The baker told me that, you have a secret.", ""),
    ("First, we go to the inn, then to the market.", ""),
    ("Where can I find, a healer?", ""),
    ("I have been walking for days, and I am tired.", ""),
    ("What do you think about, um, the new mayor?", ""),
    ("Give me a moment, I am looking for my coins.", ""),
    ("Actually, I would like the blue one.", ""),
    ("Do you know anyone who, can fix a wagon?", ""),
    ("Sure, but only if you come with me.", ""),
    ("The weather has been strange, hasn't it?", ""),
    ("Uh, sorry, what did you say?", ""),
    ("My sister, the one who works at the mill, is missing.", ""),
    ("Good morning.", ""),
    ("I would like a room for the night.", ""),
    ("Tell me about the wolves.", ""),
    ("Thank you, that is all.", ""),
    ("Trade.", "What brings you to the village?"),
    ("Three.", "How many do you want?"),
    ("The mill, by the river.", "Where are you headed?"),
    ("Um, the red one.", "Which one do you want?"),
    ("Yes, two of them.", "Did you see the wolves?"),
    ("My name is Aldric.", "What is your name?"),
    ("I will.", "Will you help us?"),
    ("Not today, maybe tomorrow.", "Will you come to the feast?"),
]


# --sweep: the trade-off between false cut-ins and latency. "sure" is the smart-turn probability
# that ends a turn without the cheap cues' agreement (1.0: never; the default is TurnConfig's).
SWEEP: list[tuple[str, dict[str, Any]]] = [
    ("sure 1.0 (cues must agree)", {"sure": 1.0}),
    ("sure 0.9", {"sure": 0.9}),
    ("sure 0.8", {"sure": 0.8}),
    ("min 280 (the reply is not ready sooner)", {"min_ms": 280}),
    ("min 280, sure 1.0", {"min_ms": 280, "sure": 1.0}),
    ("min 280, probe 120", {"min_ms": 280, "probe_ms": (120,)}),
    ("base 600", {"base_ms": 600}),
    ("base 800", {"base_ms": 800}),
    ("unconfirmed 800", {"unconfirmed_ms": 800}),
    ("unconfirmed 1000 (= base_ms)", {"unconfirmed_ms": 1000}),
    ("recheck 400", {"recheck_ms": 400}),
    ("recheck 500", {"recheck_ms": 500}),
    ("recheck 400, any held pause", {"recheck_ms": 400, "recheck_complete": False}),
    ("recheck 500, any held pause", {"recheck_ms": 500, "recheck_complete": False}),
    ("recheck 600", {"recheck_ms": 600}),
    ("probe 150", {"probe_ms": (150,)}),
    ("threshold 0.8", {"threshold": 0.8}),
]


@dataclass
class Item:
    uid: str
    source: str
    audio: Int16Array  # 16 kHz, lead-in + speech + tail
    end: float  # stream seconds of the real end of speech
    pauses: list[tuple[float, float]]  # internal pauses (stream seconds)
    npc_line: str = ""
    text: list[tuple[float, str]] = field(default_factory=list)  # interim transcript timeline

    def speech_after(self, t: float) -> bool:
        """A word follows stream time ``t`` (+50 ms): a 10 ms frame within ``SPEECH_DB`` of the
        loudest before the real end. The real end itself is the last frame within 35 dB, which in
        the readings takes in a faint tail (breath, the room at -26 to -35 dB); a turn ended there
        is ended after the last word, not a cut-in."""
        lv = _levels(self.audio)
        lo, hi = int((t + 0.05) * 100), int(self.end * 100) + 1
        return bool(lo < hi and (lv[lo:hi] >= lv.max() - SPEECH_DB).any())


def _levels(audio: Int16Array) -> np.ndarray:
    n = len(audio) // 160
    x = audio[: n * 160].astype(np.float64).reshape(n, 160) / 32768.0
    return 20 * np.log10(np.sqrt((x**2).mean(axis=1)) + 1e-9)


def gaps(
    audio: Int16Array, floor_db: float = 35.0, min_ms: int = 80
) -> tuple[list[tuple[int, int]], int, int]:
    """Internal silences as (start, end) samples, and the first and last voiced sample."""
    lv = _levels(audio)
    voiced = lv > lv.max() - floor_db
    idx = np.flatnonzero(voiced)
    if len(idx) == 0:
        return [], 0, len(audio)
    first, last = int(idx[0]), int(idx[-1])
    out: list[tuple[int, int]] = []
    run = None
    for i in range(first, last + 1):
        if not voiced[i]:
            run = i if run is None else run
        elif run is not None:
            if i - run >= min_ms // 10:
                out.append((run * 160, i * 160))
            run = None
    return out, first * 160, (last + 1) * 160


def _fill(noise: Int16Array, n: int) -> Int16Array:
    if len(noise) == 0:
        return np.zeros(n, dtype=np.int16)
    return np.resize(noise, n).astype(np.int16)


def build_item(
    uid: str, source: str, parts: list[Int16Array], rng: np.random.Generator, npc_line: str = ""
) -> Item:
    """Join ``parts`` with 300-900 ms pauses and stretch each pause inside a part likewise."""
    noise_level = 10 ** (-66 / 20) * 32768
    pieces: list[Int16Array] = [rng.normal(0, noise_level, int(LEAD_S * STT_RATE)).astype(np.int16)]
    pauses: list[tuple[float, float]] = []
    pos = len(pieces[0])
    end = 0
    for k, part in enumerate(parts):
        found, first, last = gaps(part)
        body = part[first:last]
        found = [(a - first, b - first) for a, b in found]
        cursor = 0
        if k > 0:
            n = int(rng.uniform(0.3, 0.9) * STT_RATE)
            bg = part[max(0, first - 1600) : first] if first > 0 else np.zeros(0, dtype=np.int16)
            pieces.append(_fill(bg, n) if len(bg) else rng.normal(0, noise_level, n).astype(np.int16))
            pauses.append((pos / STT_RATE, (pos + n) / STT_RATE))
            pos += n
        for a, b in found:
            pieces.append(body[cursor:a])
            pos += a - cursor
            n = int(rng.uniform(0.3, 0.9) * STT_RATE)
            pieces.append(_fill(body[a:b], n))
            pauses.append((pos / STT_RATE, (pos + n) / STT_RATE))
            pos += n
            cursor = b
        pieces.append(body[cursor:])
        pos += len(body) - cursor
        end = pos
    n_tail = int(TAIL_S * STT_RATE)
    pieces.append(rng.normal(0, noise_level, n_tail).astype(np.int16))
    return Item(uid, source, np.concatenate(pieces), end / STT_RATE, pauses, npc_line)


def dataset(seed: int) -> list[Item]:
    rng = np.random.default_rng(seed)
    items: list[Item] = []
    real = corpus()
    for u in real:
        items.append(build_item(u.uid, u.source, [u.audio], rng))
    for source in ("two_cities", "beckett"):
        seq = [u for u in real if u.source == source]
        for i in range(0, len(seq) - 1, 2):
            items.append(
                build_item(f"{seq[i].uid}+{i + 2:02d}", source, [seq[i].audio, seq[i + 1].audio], rng)
            )
    austen = [u for u in real if u.source == "austen"]
    items.append(build_item("austen-0880+0890", "austen", [austen[1].audio, austen[2].audio], rng))
    voice = shared_tts("piper")._voice(None)  # type: ignore[attr-defined]
    from piper import SynthesisConfig

    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    for i, (line, npc) in enumerate(PIPER_LINES):
        audio = np.concatenate([c.audio_int16_array for c in voice.synthesize(line, cfg)])
        audio = resample(audio.astype(np.int16), voice.config.sample_rate, STT_RATE)
        items.append(build_item(f"piper-{i + 1:02d}", "piper", [audio], rng, npc))
    return items


def transcribe_timeline(items: list[Item]) -> float:
    """pocketsphinx's interim text as the audio arrives (what the runtime's cascade shows while
    the player talks); returns the CPU seconds spent."""
    from npc_runtime.voice.stt import load_stt

    stt = load_stt("pocketsphinx")
    t0 = time.process_time()
    for item in items:
        stream = stt.stream()
        for i in range(0, len(item.audio), 1600):
            text = stream.feed(item.audio[i : i + 1600])
            if text:
                item.text.append(((i + 1600) / STT_RATE, text))
        stream.cancel()
    return time.process_time() - t0


class CachedRunner(SmartTurnRunner):
    """Inline smart-turn whose answers (and their measured cost) are shared by the policies."""

    def __init__(self, model: SmartTurnModel, delay_ms: float | None = None) -> None:
        super().__init__(model, inline=True, delay_ms=delay_ms)
        self.cache: dict[bytes, tuple[float, float]] = {}

    def submit(self, audio: Int16Array, t: float) -> Probe:
        key = hashlib.blake2b(audio[-int(8 * STT_RATE) :].tobytes(), digest_size=16).digest()
        hit = self.cache.get(key)
        if hit is None:
            probe = super().submit(audio, t)
            assert probe.value is not None
            self.cache[key] = (probe.value, probe.cost_ms)
            return probe
        value, cost = hit
        delay = cost if self.delay_ms is None else self.delay_ms
        return Probe(t, value=value, ready_at=t + delay / 1000.0, cost_ms=cost)


class FinalTexts:
    """Whisper's final transcript of the audio up to each pause (what the session's speculation
    hands the policy), with its measured cost; cached so every policy sees the same text."""

    def __init__(self, delay_ms: float | None = None) -> None:
        from npc_runtime.voice.stt.whisper import WhisperStt

        self.stt = WhisperStt(workers=1)
        self.delay_ms = delay_ms
        self.cache: dict[tuple[str, int], tuple[str, float]] = {}

    def get(self, uid: str, audio: Int16Array) -> tuple[str, float]:
        """(text, seconds until it reaches the policy)."""
        key = (uid, len(audio))
        if key not in self.cache:
            t0 = time.perf_counter()
            text = self.stt.decode(audio).text.strip()
            self.cache[key] = (text, time.perf_counter() - t0)
        text, cost = self.cache[key]
        return text, cost if self.delay_ms is None else self.delay_ms / 1000


def run_policy(
    policy: TurnPolicy,
    item: Item,
    vad: Any,
    use_text: bool,
    speculate_ms: float = 120,
    prep_ms: float = 150,
    finals: FinalTexts | None = None,
) -> dict[str, Any]:
    """Where the policy ends the turn; ``audio_ms``: when the reply's first audio could start,
    the later of the decision and the reply prepared speculatively (``prep_ms`` after the pause
    of ``speculate_ms`` that the turn ended in: final transcript, dialogue, first phrase)."""
    seg = Segmenter(vad.stream(), hands_free=True, turn=policy, speculate_ms=speculate_ms)
    policy.npc_said(item.npc_line)
    ti = 0
    paused_at: float | None = None
    pauses = resumed = 0
    final: tuple[str, float] | None = None  # (text, stream time it reaches the policy)
    for i in range(0, len(item.audio), CHUNK):
        t = i / STT_RATE
        if final is not None and final[1] <= t:
            policy.transcribed(final[0])
            final = None
        while use_text and ti < len(item.text) and item.text[ti][0] <= t:
            policy.heard(item.text[ti][1])
            ti += 1
        for ev in seg.process(item.audio[i : i + CHUNK], npc_playing=False):
            if isinstance(ev, SpeechPaused):
                paused_at = seg.t
                pauses += 1
                if finals is not None:
                    text, delay = finals.get(item.uid, item.audio[: i + CHUNK])
                    final = (text, seg.t + delay)
            elif isinstance(ev, SpeechResumed):
                paused_at = None
                final = None
                resumed += 1
            elif isinstance(ev, SpeechEnded):
                early = ev.t_detected < item.end - 0.05
                cut = early and item.speech_after(ev.t_detected)
                ready = (paused_at if paused_at is not None else ev.t_detected) + prep_ms / 1000
                return {
                    "cut": cut,
                    "in_tail": early and not cut,  # ended in the faint tail after the last word
                    "latency_ms": None if cut else (ev.t_detected - item.end) * 1000,
                    "audio_ms": None if cut else (max(ev.t_detected, ready) - item.end) * 1000,
                    "silence_ms": (ev.t_detected - ev.t_last_voice) * 1000,  # after the VAD's end
                    "at": ev.t_detected,
                    "reason": policy.reason,
                    "speculations": pauses,
                    "discarded": resumed,  # speculations dropped because the player went on
                }
    return {
        "cut": False,
        "latency_ms": None,
        "audio_ms": None,
        "at": None,
        "reason": "never ended",
        "speculations": pauses,
        "discarded": resumed,
    }


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-asr", action="store_true", help="no interim transcript (syntax cue off)")
    ap.add_argument("--asr-cache", type=Path, help="keep the interim transcripts in this JSON file")
    ap.add_argument("--sweep", action="store_true", help="also run variants of the auto policy")
    ap.add_argument(
        "--sweep-only", action="store_true", help="the variants, with silence 300/1000 and auto only"
    )
    ap.add_argument(
        "--smart-turn-ms",
        type=float,
        help="count each smart-turn answer as arriving this long after the call (a quieter machine's "
        "cost) instead of the call's measured cost",
    )
    ap.add_argument(
        "--prep-ms",
        type=float,
        default=150.0,
        help="time to prepare the reply once the 120 ms pause starts it (final transcript, dialogue, "
        "first phrase; bench_voice's stages)",
    )
    ap.add_argument(
        "--speculate-ms",
        type=lambda v: [float(x) for x in v.split(",") if x],
        default=[],
        help="also run the auto policy with the speculation starting at these pauses (ms, "
        "comma-separated): same decisions, its audio p50 and the speculations it drops",
    )
    ap.add_argument(
        "--final",
        action="store_true",
        help="hand every policy Whisper's transcript of the audio up to each 120 ms pause (the "
        "session's speculation) after its measured cost, and compare auto with and without "
        "complete_ms (a complete sentence ends the turn sooner)",
    )
    ap.add_argument(
        "--final-ms", type=float, help="with --final: the transcript arrives this long after the pause"
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    items = dataset(args.seed)
    n_pauses = sum(len(it.pauses) for it in items)
    print(
        f"{len(items)} utterances, {n_pauses} internal pauses of 300-900 ms, built in {time.perf_counter() - t0:.1f} s"
    )
    asr_cpu = float("nan")  # cached
    if args.asr_cache and args.asr_cache.exists() and not args.no_asr:
        cached = json.loads(args.asr_cache.read_text())
        for item in items:
            item.text = [(t, x) for t, x in cached.get(item.uid, [])]
    elif not args.no_asr:
        asr_cpu = transcribe_timeline(items)
        if args.asr_cache:
            args.asr_cache.write_text(json.dumps({it.uid: it.text for it in items}))
    print(f"interim transcripts: {asr_cpu:.1f} CPU s", flush=True)
    vad = shared_vad("silero")
    cfg = TurnConfig()
    params = params_of(cfg)
    runner = CachedRunner(SmartTurnModel(), args.smart_turn_ms)
    policies: list[tuple[str, Any]] = [
        ("silence 300 ms (today; speculation prepares at 120)", lambda: SilencePolicy(300)),
        ("silence 120 ms (speculation committed)", lambda: SilencePolicy(120)),
        ("silence 1000 ms", lambda: SilencePolicy(1000)),
        ("smart-turn", lambda: CuePolicy(params, runner=runner, cues=False)),
        ("cheap cues", lambda: CuePolicy(params, cues=True)),
        ("auto (default)", lambda: CuePolicy(params, runner=runner, cues=True)),
    ]
    finals = FinalTexts(args.final_ms) if args.final else None
    if finals is not None:
        off = replace(params, complete_ms=0)
        policies.insert(5, ("auto, complete_ms=0", lambda: CuePolicy(off, runner=runner, cues=True)))
        for label, change in (
            ("complete_questions=false", {"complete_questions": False}),
            ("complete_questions=true", {"complete_questions": True}),
            ("complete_ms=500", {"complete_ms": 500}),
            ("complete_ms=800", {"complete_ms": 800}),
            ("'.?!' (any sentence)", {"complete_marks": ".?!"}),
            ("final_words=false (the interim text's last word only)", {"final_words": False}),
        ):
            p_ms = replace(params, **change)  # type: ignore[arg-type]
            policies.append((f"auto, {label}", lambda p=p_ms: CuePolicy(p, runner=runner, cues=True)))
    if args.sweep_only:  # the trade-off curve alone: the baselines it is read against, then auto's variants
        policies = [policies[0], policies[2], policies[5]]
    speculate: dict[str, float] = {}  # policy -> the pause that starts the speculation (default 120)
    for ms in args.speculate_ms:
        name = f"auto, speculation at {ms:g} ms"
        speculate[name] = ms
        policies.append((name, lambda: CuePolicy(params, runner=runner, cues=True)))
    if args.sweep or args.sweep_only:
        for label, change in SWEEP:
            p = replace(params, **change)
            policies.append((f"auto {label}", lambda p=p: CuePolicy(p, runner=runner, cues=True)))
    report: dict[str, Any] = {
        "utterances": len(items),
        "internal_pauses": n_pauses,
        "seed": args.seed,
        "smart_turn_answer_after": "measured cost" if args.smart_turn_ms is None else args.smart_turn_ms,
    }
    rows: dict[str, Any] = {}
    for name, make in policies:
        results = []
        t1 = time.perf_counter()
        for item in items:
            r = run_policy(
                make(),
                item,
                vad,
                not args.no_asr,
                speculate_ms=speculate.get(name, 120.0),
                prep_ms=args.prep_ms,
                finals=finals,
            )
            r["uid"] = item.uid
            results.append(r)
        lat = [r["latency_ms"] for r in results if r["latency_ms"] is not None]
        cuts = sum(r["cut"] for r in results)
        piper = [r for r, it in zip(results, items, strict=True) if it.source == "piper"]
        real = [r for r, it in zip(results, items, strict=True) if it.source != "piper"]
        rows[name] = {
            "false_cut_ins_per_100": 100.0 * cuts / len(items),
            "cut_ins_per_100_real": 100.0 * sum(r["cut"] for r in real) / max(1, len(real)),
            "cut_ins_per_100_piper": 100.0 * sum(r["cut"] for r in piper) / max(1, len(piper)),
            "vad_silence_p50_ms": pct([r["silence_ms"] for r in results if not r["cut"] and r["at"]], 50),
            "latency_p50_ms_piper": pct([r["latency_ms"] for r in piper if r["latency_ms"] is not None], 50),
            "cut_ins": cuts,
            # ended in the faint tail after the last word (counted as cut-ins before SPEECH_DB)
            "ended_in_tail_per_100": 100.0 * sum(bool(r.get("in_tail")) for r in results) / len(items),
            "latency_p50_ms": pct(lat, 50),
            "latency_p95_ms": pct(lat, 95),
            "audio_p50_ms": pct([r["audio_ms"] for r in results if r["audio_ms"] is not None], 50),
            "latency_ms": {"p50": round(pct(lat, 50)), "p95": round(pct(lat, 95))} if lat else {},
            "ended_under_300ms_pct": 100.0 * sum(v <= 300 for v in lat) / len(items),
            "never_ended": sum(r["reason"] == "never ended" for r in results),
            # speculations started / dropped (the player went on) per 100 utterances
            "speculations_per_100": 100.0 * sum(r["speculations"] for r in results) / len(items),
            "discarded_per_100": 100.0 * sum(r["discarded"] for r in results) / len(items),
            "seconds": time.perf_counter() - t1,
            "results": results,
        }
        print(f"  {name}: {time.perf_counter() - t1:.1f} s", flush=True)
    costs = runner.cost_ms
    report["smart_turn_calls"] = len(costs)
    report["smart_turn_ms_p50"] = pct(costs, 50)
    report["smart_turn_ms_p95"] = pct(costs, 95)
    report["asr_cpu_s"] = asr_cpu
    report["policies"] = rows
    prosody_cost = _prosody_cost(items)
    report["prosody_ms_per_call"] = prosody_cost
    import os

    report["load"] = os.getloadavg()

    print(f"\nload average {report['load'][0]:.2f} {report['load'][1]:.2f} {report['load'][2]:.2f}")
    n_real = sum(it.source != "piper" for it in items)
    print(
        f"{'policy':<52} {'cut-ins/100':>11} {'real':>5} {'piper':>5} {'tail':>5} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'<=300ms %':>9} {'piper p50':>9} {'VAD p50':>7} {'audio p50':>9} {'spec/100':>8} {'dropped':>7}"
    )
    for name, row in rows.items():
        print(
            f"{name:<52} {row['false_cut_ins_per_100']:>11.1f} {row['cut_ins_per_100_real']:>5.0f} "
            f"{row['cut_ins_per_100_piper']:>5.0f} {row['ended_in_tail_per_100']:>5.1f} {row['latency_p50_ms']:>7.0f} "
            f"{row['latency_p95_ms']:>7.0f} {row['ended_under_300ms_pct']:>9.1f} {row['latency_p50_ms_piper']:>9.0f} {row['vad_silence_p50_ms']:>7.0f} {row['audio_p50_ms']:>9.0f}"
            f" {row['speculations_per_100']:>8.0f} {row['discarded_per_100']:>7.0f}"
        )
    print(
        f"(real: {n_real} utterances of real recordings, piper: {len(items) - n_real} Piper lines; latency "
        "over the utterances not cut, after the real end (the last 10 ms within 35 dB of the loudest; a cut-in is an "
        f"end of turn with a word after it, a frame within {SPEECH_DB:g} dB of the loudest; tail: ended more than 50 ms "
        "before the real end with no word after it, per 100, negative latency); <=300ms %: "
        "share of all utterances ended within 300 ms of it; VAD p50: the same after the VAD's last voiced frame; "
        f"audio p50: the reply's first audio, the later of the decision and the reply prepared {args.prep_ms:g} ms "
        "after the 120 ms pause, or the pause a row names; spec/100, dropped: speculations started, and "
        "dropped because the player went on, per 100 utterances)"
    )
    signals = signal_table(items, runner)
    report["signals"] = signals
    print("\nsignals 150 ms into the silence: share of internal pauses vs real ends where each says 'end'")
    for name, (at_pause, at_end) in signals.items():
        print(f"  {name:<44} pauses {at_pause:5.0%}   ends {at_end:5.0%}")
    print(
        f"\nsmart-turn: {len(costs)} calls, p50 {report['smart_turn_ms_p50']:.0f} ms, p95 "
        f"{report['smart_turn_ms_p95']:.0f} ms; prosody {prosody_cost:.2f} ms a call; pocketsphinx "
        f"interim {asr_cpu:.1f} CPU s for all utterances"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    if args.plot:
        plot(rows, args.plot)


def signal_table(items: list[Item], runner: CachedRunner) -> dict[str, tuple[float, float]]:
    """Each cue on its own at every labelled point (each internal pause and each real end, 150 ms
    into the silence): how often it says "the turn is over"."""
    from npc_runtime.voice.turn.base import Utterance
    from npc_runtime.voice.turn.prosody import ProsodyCue
    from npc_runtime.voice.turn.syntax import SyntaxCue

    prosody, syntax = ProsodyCue(), SyntaxCue()
    points: list[tuple[int, dict[str, bool]]] = []
    for item in items:
        for t0, label in [(a, 0) for a, _ in item.pauses] + [(item.end, 1)]:
            t = t0 + 0.15
            utt = Utterance()
            utt.add(item.audio[max(0, int((t - 8) * STT_RATE)) : int(t * STT_RATE)])
            utt.text = ([x for tt, x in item.text if tt <= t] or [""])[-1]
            p = runner.submit(utt.audio(), t).value or 0.0
            m = prosody.measure(utt, 150)
            change, level = m if m is not None else (float("nan"), float("nan"))
            s = syntax.judge(utt, 150)
            points.append(
                (
                    label,
                    {
                        "smart-turn p >= 0.5": p >= 0.5,
                        "smart-turn p >= 0.9": p >= 0.9,
                        "voice faded (last 200 ms <= -12 dB)": level <= -12,
                        "pitch fell >= 2 semitones": change <= -2,
                        "last word not hanging (pocketsphinx)": s is None or s > 0.1,
                        "smart-turn >= 0.5 and faded": p >= 0.5 and level <= -12,
                    },
                )
            )
    out: dict[str, tuple[float, float]] = {}
    for key in points[0][1]:
        at = [[v[key] for lab, v in points if lab == label] for label in (0, 1)]
        out[key] = (float(np.mean(at[0])), float(np.mean(at[1])))
    return out


def _prosody_cost(items: list[Item]) -> float:
    from npc_runtime.voice.turn.prosody import ProsodyCue

    cue = ProsodyCue()
    policy = SilencePolicy()
    t0 = time.perf_counter()
    for item in items:
        policy.begin(item.audio[: int((item.end + 0.2) * STT_RATE)])
        cue.judge(policy.utt, 200)
    return (time.perf_counter() - t0) * 1000 / len(items)


def plot(rows: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, row in rows.items():
        lat = sorted(r["latency_ms"] for r in row["results"] if r["latency_ms"] is not None)
        ax1.step(lat, np.arange(1, len(lat) + 1) / len(row["results"]), where="post", label=name)
        ax2.scatter(row["latency_p50_ms"], row["false_cut_ins_per_100"], s=40)
        ax2.annotate(name.split(" (")[0], (row["latency_p50_ms"], row["false_cut_ins_per_100"]), fontsize=8)
    ax1.set_xlabel("end-of-turn decision after the real end (ms)")
    ax1.set_ylabel("share of utterances ended (cut-ins never count)")
    ax1.axvline(300, color="grey", lw=0.8, ls="--")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("latency p50 (ms)")
    ax2.set_ylabel("false cut-ins per 100 utterances")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
