"""k-means of production traffic ("where are the gaps"): the deterministic Rust kernel, fitted
on a hash-chosen sample of at most ``clusters x 256`` rows (faiss's default cap of points per
centroid), then every row assigned to its nearest centroid with the exact top-1 search kernel.

Why not faiss: it is only an optional extra of undertow, and its k-means sums partials per
thread (the answer moves with the thread count). The kernel here (``rust/core/src/kmeans.rs``)
seeds with k-means++ from a seeded generator, assigns with the blocked GEMM top-1 kernel and
sums every centroid over its rows in row order: the same seed gives the same centroids on any
thread count, and a streamed or Dask run samples the same rows as a one-shot run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_count, check_seed
from undertow._core import UndertowError
from undertow._inputs import as_matrix

POINTS_PER_CENTROID = 256


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """centroids (k x dim, float64), assignment and squared distance per row, their sum
    (inertia), the Lloyd updates made and whether the assignment reached a fixed point."""

    centroids: np.ndarray
    assignment: np.ndarray
    distances: np.ndarray
    inertia: float
    iterations: int
    converged: bool

    def __repr__(self) -> str:
        return (
            f"KMeansResult(k={self.centroids.shape[0]}, inertia={self.inertia:.6g}, "
            f"iterations={self.iterations}, converged={self.converged})"
        )


def kmeans(x: Any, k: int, *, seed: int = 0, max_iter: int = 25, init: Any = None) -> KMeansResult:
    """Deterministic k-means of the rows of `x` (squared L2): k-means++ seeding from `seed` (or
    the `init` centroids), at most `max_iter` Lloyd updates, stopping at a fixed point. An
    emptied cluster restarts at the row farthest from its centroid. Bit-identical for any
    thread count; Ctrl-C stops it.

    >>> import numpy as np
    >>> from undertow.coverage import kmeans
    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> kmeans(x, 2).assignment.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    matrix = as_matrix(x, "x", min_rows=1)
    k = check_count(k, "k", 1)
    max_iter = check_count(max_iter, "max_iter", 0, 10_000)
    seed = check_seed(seed)
    start = None
    if init is not None:
        start = np.ascontiguousarray(as_matrix(init, "init", min_rows=1), dtype=np.float64)
        if start.shape != (k, matrix.shape[1]):
            raise UndertowError(f"init: expected shape ({k}, {matrix.shape[1]}), got {start.shape}")
    if matrix.shape[0] < k:
        raise UndertowError(f"k: {k} clusters need at least {k} rows, x has {matrix.shape[0]}")
    centroids, assignment, distances, inertia, iterations, converged = _core.kmeans_fit(
        matrix, k, max_iter, seed, start
    )
    return KMeansResult(centroids, assignment, distances, float(inertia), int(iterations), bool(converged))
