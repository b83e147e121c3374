"""Overlap of two ranked id lists: overlap@k and rank-biased overlap, vectorized over rows.

Both take two (rows, k) int64 arrays of ids, best first, where -1 pads a list shorter than k
(the exact search pads so when the corpus has fewer than k documents). Ids are unique within a
list (a search returns each document once). O(rows x k^2) with k^2 booleans per row: cheap for
the k of a search (k <= a few hundred).

* ``overlap_at_k``: |A ∩ B| / max(|A|, |B|), where A and B are the lists' valid ids. That is the
  usual |A ∩ B| / k when both lists are full; when the corpus is shorter than k both lists hold
  the same n < k ids and identical lists still score 1. Two empty lists score 1.
* ``rbo``: extrapolated rank-biased overlap, RBO_EXT of Webber, Moffat & Zobel (2010, "A
  similarity measure for indefinite rankings", eq. 32) for two lists of equal depth k:
  ``RBO_EXT = X_k / k * p^k + (1 - p) / p * sum_{d=1..k} X_d / d * p^d`` with X_d the overlap of
  the two depth-d prefixes. It assumes the agreement seen at depth k continues below it, so two
  identical lists score exactly 1 (truncated RBO would score 1 - p^k). p (default 0.9) weighs
  the top: the first d ranks carry 1 - p^d of the weight. Lists shorter than k (padding) are
  evaluated at their valid depth. Ties are whatever order the lists hold: the search breaks
  score ties by the lower row, so a tie permuted changes RBO but not overlap@k.
"""

from __future__ import annotations

import numpy as np

from undertow._core import UndertowError


def _lists(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape:
        raise UndertowError(
            f"ranked lists: expected two (rows, k) arrays of one shape, got {a.shape} and {b.shape}"
        )
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        raise TypeError(f"ranked lists: ids must be integers, got {a.dtype} and {b.dtype}")
    return a.astype(np.int64, copy=False), b.astype(np.int64, copy=False)


def _match_depth(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For every position i of `a`: the depth (1-based) at which a[i] is in both prefixes, i.e.
    max(i, j) + 1 where b[j] == a[i]; 0 when it is not in `b` (or is padding)."""
    k = a.shape[1]
    same = (a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)
    found = same.any(axis=2)
    j = same.argmax(axis=2)
    depth = np.maximum(np.arange(k)[None, :], j) + 1
    return np.where(found, depth, 0)


def overlap_at_k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|A ∩ B| / max(|A|, |B|) per row (see the module docstring), float64."""
    a, b = _lists(a, b)
    if a.shape[1] == 0:
        raise UndertowError("ranked lists: k must be at least 1")
    shared = (_match_depth(a, b) > 0).sum(axis=1)
    size = np.maximum((a >= 0).sum(axis=1), (b >= 0).sum(axis=1))
    return np.where(size > 0, shared / np.maximum(size, 1), 1.0)


def rbo(a: np.ndarray, b: np.ndarray, p: float = 0.9) -> np.ndarray:
    """Extrapolated rank-biased overlap per row (see the module docstring), float64 in [0, 1]."""
    a, b = _lists(a, b)
    if not 0.0 < float(p) < 1.0:
        raise UndertowError(f"p: must lie strictly between 0 and 1, got {p!r}")
    rows, k = a.shape
    if k == 0:
        raise UndertowError("ranked lists: k must be at least 1")
    depth_of = _match_depth(a, b)
    # X_d: how many ids are in both depth-d prefixes
    counts = (depth_of[:, :, None] == np.arange(1, k + 1)[None, None, :]).sum(axis=1)
    shared = np.cumsum(counts, axis=1).astype(np.float64)
    valid = np.maximum((a >= 0).sum(axis=1), (b >= 0).sum(axis=1))
    d = np.arange(1, k + 1, dtype=np.float64)
    weights = np.float64(p) ** d
    out = np.ones(rows)
    for depth in np.unique(valid):
        if depth == 0:
            continue
        these = valid == depth
        x = shared[these, :depth]
        agreement = x / d[:depth]
        tail = agreement[:, -1] * weights[depth - 1]
        out[these] = tail + (1.0 - p) / p * (agreement * weights[:depth]).sum(axis=1)
    return np.clip(out, 0.0, 1.0)
