"""Static (model2vec-style) embeddings: one vector per WordPiece token, averaged. numpy only.

The shipped model (``npc_runtime/memory/models/minilm-static``) was distilled offline from
all-MiniLM-L6-v2 by ``tools/distill_embeddings.py``: ``embeddings.npy`` (vocab x dim, float16,
SIF-weighted, PCA-reduced), ``vocab.txt`` (the tokenizer's vocabulary, id = line) and
``meta.json``. Embedding a sentence costs a tokenizer pass and a mean over a few rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ..tokenizer import WordPiece
from .base import Embedder

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "minilm-static"


class StaticEmbedder(Embedder):
    name = "static"

    def __init__(self, model_dir: str | Path | None = None) -> None:
        folder = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "embeddings.npy", allow_pickle=False)
            self.tokenizer = WordPiece.from_file(folder / "vocab.txt")
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the static embedding model from {folder} ({exc}); reinstall npc-runtime "
                "or set memory.embeddings to 'hashed'"
            ) from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(self.tokenizer.vocab):
            raise ConfigError(
                f"{folder}: embeddings.npy has shape {vectors.shape} but vocab.txt has "
                f"{len(self.tokenizer.vocab)} tokens; the model files do not belong together"
            )
        self.vectors = vectors.astype(np.float32)
        super().__init__(int(vectors.shape[1]), str(meta.get("model_id", folder.name)))

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.tokenizer.encode(text)
            if ids:
                out[row] = self.vectors[ids].mean(axis=0)
        return out
