"""The memory-bandwidth yardstick every benchmark reports its share of: plain numpy sums over
the same arrays, on one thread and on READ_THREADS threads (numpy releases the GIL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

READ_THREADS = 2
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="read-pass")
    return _POOL


def read_pass_single(*arrays: np.ndarray) -> float:
    return float(sum(np.add.reduce(x.reshape(-1)) for x in arrays))


def _sum_chunks(chunks: list[np.ndarray]) -> float:
    # In the array's own float type: a float32 sum of float64 data adds a cast per value and
    # read 800 MB at a third of the memory's rate.
    return float(sum(np.sum(c, dtype=c.dtype if c.dtype.kind == "f" else np.float32) for c in chunks))


def read_pass_threads(*arrays: np.ndarray) -> float:
    """Each of READ_THREADS threads sums its share (a contiguous slice) of every array."""
    flat = [x.reshape(-1) for x in arrays]
    shares = [[np.array_split(x, READ_THREADS)[t] for x in flat] for t in range(READ_THREADS)]
    return float(sum(_pool().map(_sum_chunks, shares)))
