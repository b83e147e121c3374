"""A mergeable, batch-independent random sample of rows, chosen by POSITION, never by content.

A row's key is a keyed hash of (its position in the source, the seed, the side: reference
hold-out, reference test sample, current test sample); a sample is the `size` rows with the
smallest keys. The same positions are kept whatever the batches, files or merge order (each
batch brings its rows' global positions), so a streamed run samples exactly what a one-shot run
samples, and `undertow.dask` reproduces `scan` bit for bit.

Why not a hash of the row's bytes (the design before issue 17): the selection is then a fixed
function of content. Identical rows (re-sent documents, boilerplate sentences) share one key, so
they are kept or dropped together: the sample is a cluster sample of the duplicate groups, not a
simple random sample, and when the two sides keep different fractions of their rows (a
reference hold-out of n // 2 against a current sample of 2,000) duplicated content is over- or
under-represented on one side only. On real text with repeated sentences the MMD test then
rejected 14.5% of no-drift splits at alpha = 0.05. And a current batch made of copies of
reference rows got exactly the reference's sampled rows back (same bytes, same keys, same seed),
so the two samples were nearly identical and the test returned p near 1 whatever else drifted.
Positions are independent of content, and each side has its own key (salt), so the reference and
current samples are independent of each other and of what the rows hold.
"""

from __future__ import annotations

import numpy as np

# One salt per sample, so the three selections are independent (a copy of reference row i sent
# at current position i is not preferentially in both samples).
SALTS = {"holdout": 0x243F6A8885A308D3, "reference": 0x13198A2E03707344, "current": 0xA4093822299F31D0}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer (a bijection of uint64 with full avalanche), elementwise."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_keys(matrix: np.ndarray, seed: int) -> np.ndarray:
    """uint64 key per row: a seeded multiply-add hash of the row's bit pattern (Rust).

    Content-keyed, so duplicates are kept or dropped together: not for a two-sample test's
    samples (those use `position_keys`, as does `cohort_balance`'s MMD sample). Kept for the
    k-means training sample of `eval_coverage`, whose accumulators merge across workers that know
    no global row positions.
    """
    from undertow import _core

    return _core.row_keys(matrix, seed)


def position_keys(start: int, count: int, seed: int, side: str) -> np.ndarray:
    """uint64 keys of the rows at positions start .. start + count - 1 of one side.

    ``mix(mix(k + (p + 1) * golden) ^ k2)`` with k, k2 derived from (seed, side): splitmix64's
    stream at position p, re-keyed once more, so two sides are two unrelated streams. Distinct
    positions never share a key (both steps are bijections), so ties cannot occur."""
    with np.errstate(over="ignore"):
        base = _mix(np.array([seed ^ SALTS[side]], dtype=np.uint64))
        k2 = _mix(base ^ np.uint64(SALTS[side]))
        positions = np.arange(start, start + count, dtype=np.uint64)
        return _mix(_mix(base + (positions + np.uint64(1)) * _GOLDEN) ^ k2)


def smallest(keys: np.ndarray, size: int) -> np.ndarray:
    """Indices of the `size` smallest keys, in key order (ties by index)."""
    if size >= len(keys):
        return np.lexsort((np.arange(len(keys)), keys))
    part = np.argpartition(keys, size - 1)[:size]
    return part[np.lexsort((part, keys[part]))]


def merge_samples(
    keys_a: np.ndarray, rows_a: np.ndarray, keys_b: np.ndarray, rows_b: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    keys = np.concatenate([keys_a, keys_b])
    rows = np.vstack([rows_a, rows_b.astype(rows_a.dtype, copy=False)])
    pick = smallest(keys, size)
    return keys[pick], rows[pick]
