"""The top-k searches of a rotation preview: one exact kernel call per encoder.

The queries and the sampled documents (for neighbourhood preservation) go to
``ut.exact_search`` as one batch per encoder, so each document matrix is read once per encoder.
Results are returned as old-side row numbers on both sides, so ids compare directly.
"""

from __future__ import annotations

import numpy as np

from undertow.embedding.search import exact_search

# Documents holding NaN or inf on one side are dropped from both sides' results: up to this many
# by searching k + their count and filtering (no copy); more, and a compact copy is searched.
MAX_FILTERED = 1024


def topk(
    docs: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str,
    exclude: np.ndarray | None,
    dropped_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of the k best docs rows per query, skipping `dropped_rows` (sorted) and
    exclude[i] for query i; padded with -1 (and -inf / +inf) when fewer remain."""
    kernel_metric = "l2" if metric == "l2" else "ip"
    if len(dropped_rows) > MAX_FILTERED:
        keep = np.ones(len(docs), dtype=bool)
        keep[dropped_rows] = False
        kept_rows = np.flatnonzero(keep)
        local_exclude = None
        if exclude is not None:
            at = np.searchsorted(kept_rows, exclude)
            hit = (
                (exclude >= 0)
                & (at < len(kept_rows))
                & (kept_rows[np.minimum(at, len(kept_rows) - 1)] == exclude)
            )
            local_exclude = np.where(hit, at, -1)
        scores, rows = exact_search(
            docs[kept_rows], queries, k=k, metric=kernel_metric, exclude=local_exclude
        )
        return scores, np.where(rows >= 0, kept_rows[np.maximum(rows, 0)], -1)
    extra = min(len(dropped_rows), len(docs))
    scores, rows = exact_search(docs, queries, k=k + extra, metric=kernel_metric, exclude=exclude)
    if extra == 0:
        return scores, rows
    bad = np.isin(rows, dropped_rows)
    # keep each row's first k results that are not dropped, in order
    rank = np.where(bad, k + extra, np.cumsum(~bad, axis=1) - 1)
    order = np.argsort(rank, axis=1, kind="stable")[:, :k]
    picked_scores = np.take_along_axis(scores, order, axis=1)
    picked_rows = np.take_along_axis(rows, order, axis=1)
    gone = np.take_along_axis(bad, order, axis=1)
    pad = -np.inf if kernel_metric == "ip" else np.inf
    return np.where(gone, pad, picked_scores), np.where(gone, -1, picked_rows)
