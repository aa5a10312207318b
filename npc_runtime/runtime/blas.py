"""How many threads numpy's BLAS may use in the runtime's process (``Settings.blas_threads``).

numpy's OpenBLAS starts a helper thread per extra core, and after each multiplication big enough
to be split (a Whisper log-mel, smart-turn's features, memory retrieval) the helpers spin while
they wait for the next one. On the 2-core machines this project measures on, a Whisper decode in
a process that embeds the runtime (the demo game, a game's own Python, the tests) cost 226-275 ms
of CPU with the default two BLAS threads against 115-147 ms with one, for the same wall time
(128-170 ms), and memory retrieval was 2-3x slower (tools/bench_memory.py). ``npc-runtime serve``
sets ``OPENBLAS_NUM_THREADS`` before numpy loads (npc_runtime/cli.py); a process that loaded
numpy first is limited here, at run time, with threadpoolctl (joblib's and scikit-learn's
library for exactly this), when the :class:`~npc_runtime.runtime.app.Runtime` is built.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def limit_blas(threads: int | None) -> int | None:
    """Limit every BLAS library loaded in the process to ``threads`` (None: leave them alone).
    Returns the BLAS thread count now in force (None when none could be read)."""
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # pragma: no cover - a core dependency
        log.warning("threadpoolctl is not installed; numpy's BLAS keeps its own thread count")
        return None
    threadpool_limits(limits=threads, user_api="blas")
    counts = [int(info["num_threads"]) for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None
