"""audit_index: check a faiss index against its source of truth."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_flag, check_int64_ids, check_real, check_seed
from undertow._core import UndertowError
from undertow._inputs import as_matrix
from undertow.audit._checks import encoder_mix, fresh_cosine, id_checks, ivf_checks, norm_profile, not_run
from undertow.audit._docs import read_docs
from undertow.audit._index import IndexView, open_index
from undertow.audit._mix_vectors import encoder_mix_vectors
from undertow.audit._report import CHECKS, AuditReport, Check
from undertow.audit._search import ann_recall, score_shift, scores_of, search, tombstone_pollution

# Check thresholds (shares unless said), then the knobs the checks use.
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "orphaned_vectors": 0.0,
    "missing_vectors": 0.0,
    "duplicate_ids": 0.0,
    "content_stale": 0.0,
    "encoder_mix": 0.0,
    "encoder_mix_vectors": 0.0,  # share of stored vectors that look embedded by another encoder
    "fresh_cosine": 0.0,
    "norm_profile": 0.0,
    "ivf_imbalance": 3.0,  # faiss's imbalance factor; 1.0 is perfectly even
    "ivf_residual_drift": 1.5,  # recent / older median distance to the assigned centroid
    "ann_recall": 0.9,  # a minimum
    "tombstone_pollution": 0.0,
    "score_shift": 0.25,  # PSI, the usual "significant" line
    "fresh_cosine_min": 0.98,  # a stored vector below this cosine to its fresh one is stale
    "encoder_mix_vectors_cosine": 0.1,  # a group whose centroid cosine to the rest is below is foreign
    "norm_tolerance": 0.01,  # |norm - 1| allowed under inner product
    "recent_share": 0.2,  # the latest share of vectors by embedded_at that counts as recent
    "score_cutoff": None,  # the absolute score cutoff to track (default: the baseline's median top-1)
}


# The range each threshold may take: (low, high, open_low, open_high); None leaves a side open.
# Shares lie in [0, 1]; a bound outside its range could never (or would always) fire.
# The checks whose value is not a share of ids or queries; every other check's is.
_UNBOUNDED_CHECKS = ("ivf_imbalance", "ivf_residual_drift", "score_shift")
_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    **{name: (0.0, 1.0, False, False) for name in CHECKS if name not in _UNBOUNDED_CHECKS},
    "ivf_imbalance": (1.0, None, False, False),
    "ivf_residual_drift": (0.0, None, True, False),
    "score_shift": (0.0, None, False, False),
    "fresh_cosine_min": (-1.0, 1.0, False, False),
    "encoder_mix_vectors_cosine": (-1.0, 1.0, False, False),
    "norm_tolerance": (0.0, None, False, False),
    "recent_share": (0.0, 1.0, True, True),
    "score_cutoff": (None, None, False, False),
}


def _limits(thresholds: Mapping[str, float] | None) -> dict[str, Any]:
    limits = dict(DEFAULT_THRESHOLDS)
    if thresholds is None:
        return limits
    if not isinstance(thresholds, Mapping):
        raise TypeError(
            f"thresholds: expected a dict of threshold overrides, got {type(thresholds).__name__}"
        )
    for key, value in thresholds.items():
        if key not in limits:
            raise UndertowError(f"thresholds: unknown key {key!r}; known keys are {', '.join(limits)}")
        if value is None and key == "score_cutoff":  # None: the baseline's median top-1
            limits[key] = None
            continue
        low, high, open_low, open_high = _RANGES[key]
        limits[key] = check_real(
            value, f"thresholds: {key}", low, high, open_low=open_low, open_high=open_high, sep=" "
        )
    return limits


def _fresh(fresh: Any, view: IndexView) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(fresh, tuple | list) or len(fresh) != 2:
        raise TypeError("fresh: expected a pair (ids, vectors)")
    raw_ids, raw_vectors = fresh
    ids = check_int64_ids(raw_ids, "fresh", noun="id")
    vectors = as_matrix(raw_vectors, "fresh: vectors", min_rows=1)
    if vectors.shape[1] != view.dim:
        raise UndertowError(f"fresh: vectors have {vectors.shape[1]} dimensions, the index {view.dim}")
    if vectors.shape[0] != len(ids):
        raise UndertowError(f"fresh: {len(ids)} ids for {vectors.shape[0]} vectors")
    if not np.isfinite(vectors).all():
        raise UndertowError("fresh: vectors hold NaN or inf")
    repeated = np.unique(ids, return_counts=True)
    if (repeated[1] > 1).any():
        first = int(repeated[0][repeated[1] > 1][0])
        raise UndertowError(f"fresh: id {first} appears more than once (one fresh vector per id)")
    return ids, vectors


def _queries(
    queries: Any,
    view: IndexView,
    norms: np.ndarray,
    sample: int,
    seed: int,
    fresh: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray | None, str]:
    if queries is not None:
        q = as_matrix(queries, "queries", min_rows=1)
        if q.shape[1] != view.dim:
            raise UndertowError(f"queries: vectors have {q.shape[1]} dimensions, the index {view.dim}")
        if not np.isfinite(q).all():
            raise UndertowError("queries: vectors hold NaN or inf")
        return q, None, "given"
    rng = np.random.default_rng(seed)
    if view.lossy and fresh is not None:
        # a lossy index's decoded vectors sit near its centroids and are easy to find again;
        # fresh embeddings are real queries (their own stored copy is excluded)
        ids, vectors = fresh
        pick = np.sort(rng.choice(len(ids), size=min(sample, len(ids)), replace=False))
        order = np.argsort(view.ids, kind="stable")
        at = np.minimum(np.searchsorted(view.ids, ids[pick], sorter=order), view.ntotal - 1)
        own = order[at]
        rows = np.where(view.ids[own] == ids[pick], own, -1)
        return np.ascontiguousarray(vectors[pick], dtype=np.float32), rows, "fresh"
    usable = np.flatnonzero(np.isfinite(norms))
    rows = np.sort(rng.choice(usable, size=min(sample, len(usable)), replace=False))
    return view.get(rows), rows, "stored"


def audit_index(
    index: Any,
    docs: Any,
    *,
    encoder_version: str | None = None,
    fresh: Any = None,
    queries: Any = None,
    k: int = 10,
    baseline: Any = None,
    thresholds: Mapping[str, float] | None = None,
    query_sample: int = 500,
    seed: int = 0,
    mmap: bool = False,
) -> AuditReport:
    """Audit a faiss index against its source of truth; see docs/audit.md for every check.

    index: a faiss index, or the path of one, read into memory once (``mmap=True`` maps its IVF
    lists from the file instead: less memory, but a rebuild that truncates the file during the
    audit kills the process with SIGBUS; see docs/audit.md). docs: the
    documents (polars DataFrame or dict of arrays) with id, content_hash, embedded_hash,
    encoder_version and optionally embedded_at, updated_at and deleted. fresh: (ids, vectors)
    embedded now for a sample. queries: query vectors; otherwise `query_sample` stored vectors
    (seeded by `seed`), their self-matches excluded. baseline: an earlier AuditReport or its
    JSON. thresholds: overrides of DEFAULT_THRESHOLDS.
    """
    started = time.perf_counter()
    limits = _limits(thresholds)
    if isinstance(k, bool | np.bool_) or not isinstance(k, int | np.integer) or not 1 <= k <= 1024:
        raise UndertowError(f"k: must be an integer in 1..1024, got {k!r}")
    k = int(k)  # a numpy integer would reach faiss's SWIG search as an unknown overload
    if (
        isinstance(query_sample, bool | np.bool_)
        or not isinstance(query_sample, int | np.integer)
        or query_sample < 1
    ):
        raise UndertowError(f"query_sample: must be a positive integer, got {query_sample!r}")
    query_sample = int(query_sample)
    seed = check_seed(seed)
    if encoder_version is not None and not isinstance(encoder_version, str):
        raise TypeError(f"encoder_version: must be a string or None, got {type(encoder_version).__name__}")
    view = open_index(index, check_flag(mmap, "mmap"))
    table = read_docs(docs)
    fresh_pair = _fresh(fresh, view) if fresh is not None else None
    if view.ntotal == 0:
        raise UndertowError(f"index: {view.kind} holds no vectors")
    rows = table.rows_of(view.ids)
    checks: dict[str, Check] = {c.name: c for c in id_checks(view, table, rows, limits)}
    checks["encoder_mix"] = encoder_mix(table, rows, encoder_version, limits["encoder_mix"])
    checks["fresh_cosine"] = (
        fresh_cosine(view, *fresh_pair, limits)
        if fresh_pair is not None
        else not_run("fresh_cosine", "no fresh (ids, vectors) given")
    )
    norms = np.concatenate([_core.row_norms(block) for _, block in view.chunks()])
    checks["norm_profile"] = norm_profile(view, norms, limits)
    checks["encoder_mix_vectors"] = encoder_mix_vectors(view, limits, seed)
    for check in ivf_checks(view, table, rows, limits):
        checks[check.name] = check
    q, self_rows, source = _queries(queries, view, norms, query_sample, seed, fresh_pair)
    # the search phases are the memory peak (faiss's and the exact kernel's scratch): the
    # per-document arrays are not needed any more
    del table, rows, norms
    if len(q) == 0:
        raise UndertowError("index: no stored vector is finite, nothing to search with")
    found = search(view, q, k, self_rows)
    checks["ann_recall"] = ann_recall(view, found, k, limits["ann_recall"], source)
    checks["tombstone_pollution"] = tombstone_pollution(
        found, checks["orphaned_vectors"].ids, limits["tombstone_pollution"]
    )
    scores = scores_of(view, found)
    checks["score_shift"] = score_shift(scores, baseline, limits)
    return AuditReport(checks, view.describe(), scores, k, seconds=time.perf_counter() - started)
