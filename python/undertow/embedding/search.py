"""Exact nearest-neighbour search: the yardstick for ANN recall (used by the index auditor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_count, check_int64_ids
from undertow._core import UndertowError
from undertow._inputs import as_matrix, common_dtype, same_dims


def exact_search(
    vectors: Any, queries: Any, k: int = 10, metric: str = "ip", exclude: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest rows of `vectors` for each query, by brute force: (distances, labels),
    each ``(queries, k)``, best first, like ``faiss.IndexFlat.search``.

    ``metric="ip"``: inner product, larger first (faiss's ``METRIC_INNER_PRODUCT``);
    ``metric="l2"``: squared Euclidean distance, smaller first. Distances are float64, labels
    int64 row numbers; ties go to the lower row; with fewer than `k` rows the tail is -1 with
    -inf (ip) or +inf (l2). A stored row whose score is NaN (a row holding NaN) is never
    returned; NaN or inf in `queries` is an error. ``exclude[i]`` is a row never returned for
    query i (its own row, when the queries are stored vectors), -1 for none. Stored rows go
    through blocked faer products on all cores with the GIL released; the result does not
    depend on the thread count.

    >>> import numpy as np, undertow as ut
    >>> x = np.eye(3, dtype=np.float32)
    >>> ut.exact_search(x, x[:1], k=2, metric="l2")[1]
    array([[0, 1]])
    """
    if not isinstance(metric, str) or metric not in ("ip", "l2"):
        raise UndertowError(f'metric: must be "ip" or "l2", got {metric!r}')
    stored = as_matrix(vectors, "vectors", min_rows=1)
    query = as_matrix(queries, "queries", min_rows=1)
    same_dims(stored, query, "vectors", "queries")
    stored, query = common_dtype(stored, query)
    k = check_count(k, "k", 1, 100_000)
    if not np.isfinite(query).all():
        raise UndertowError("queries: hold NaN or inf")
    skip = None
    if exclude is not None:
        skip = check_int64_ids(exclude, "exclude", length=query.shape[0], noun="row")
        if skip.size and not (-1 <= skip.min() and skip.max() < stored.shape[0]):
            bad = int(skip[(skip < -1) | (skip >= stored.shape[0])][0])
            raise UndertowError(
                f"exclude: row {bad} is not a row of vectors (0..{stored.shape[0] - 1}, or -1 for none)"
            )
    return _core.exact_topk(stored, query, k, metric, skip)
