"""ut.rotation_preview: what swapping the encoder would do to search, before anything is served."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_count, check_real, check_seed
from undertow._core import UndertowError
from undertow.audit._report import Check
from undertow.rotation._inputs import Pair, pair, read_side
from undertow.rotation.churn import ListChurn, list_churn
from undertow.rotation.compatibility import compatibility
from undertow.rotation.cutoffs import cutoff_table, remap, score_shift
from undertow.rotation.report import RotationReport
from undertow.rotation.search import topk

DEFAULT_THRESHOLDS: dict[str, float] = {
    "overlap_min": 0.8,  # mean overlap@k of the queries' old vs new top-k (result_churn)
    "neighbourhood_min": 0.8,  # mean overlap@k of the sampled documents' neighbours
    "score_psi": 0.25,  # PSI of top-1 / top-k scores, the usual "significant" line
    "pass_rate_change": 0.05,  # largest |new - old| pass rate of a given cutoff
    "drop_in_cosine": 0.95,  # median self cosine across encoders for drop-in
    "drop_in_overlap": 0.8,  # unmapped old-vector overlap@k for drop-in
    "alignable_cosine": 0.8,  # held-out median cosine after the orthogonal map
    "alignable_overlap": 0.7,  # mapped old-vector overlap@k
    "changed_below": 0.5,  # a query or document whose overlap@k is below this is listed
}
METRICS = ("ip", "cosine", "l2")


def _limits(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    limits = dict(DEFAULT_THRESHOLDS)
    if thresholds is None:
        return limits
    if not isinstance(thresholds, Mapping):
        raise TypeError(f"thresholds: expected a dict of overrides, got {type(thresholds).__name__}")
    for key, value in thresholds.items():
        if key not in limits:
            raise UndertowError(f"thresholds: unknown key {key!r}; known keys are {', '.join(limits)}")
        high = None if key == "score_psi" else 1.0
        limits[key] = check_real(value, f"thresholds: {key}", 0.0, high, sep=" ")
    return limits


def _ids_pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, tuple) and len(value) == 2:
        return value
    return value, value


def _unit_or_copy(x: np.ndarray, norms: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Unit rows for the cosine metric: `x` itself when its usable rows already are (to 1e-3),
    else a normalized copy (the one extra copy cosine on unnormalized vectors costs)."""
    if np.all(np.abs(norms[usable] - 1.0) <= 1e-3):
        return x
    scale = np.where(usable & (norms > 0), norms, 1.0).astype(x.dtype)
    return x / scale[:, None]


def _side_scores(scores: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    valid = rows >= 0
    return {"top1": scores[:, 0][valid[:, 0]], "topk": scores[valid]}


def rotation_preview(
    old_docs: Any,
    new_docs: Any,
    old_queries: Any = None,
    new_queries: Any = None,
    *,
    doc_ids: Any = None,
    query_ids: Any = None,
    k: int = 10,
    cutoffs: Any = None,
    metric: str = "cosine",
    sample: int = 500,
    fit_sample: int = 20_000,
    p: float = 0.9,
    seed: int = 0,
    thresholds: Mapping[str, float] | None = None,
    id_column: str = "id",
) -> RotationReport:
    """Preview an embedding-model rotation: the same documents (and queries) embedded by the old
    and the new encoder, compared as search would see them. See docs/rotation.md.

    Sides: numpy matrices, polars Array/List vector columns, polars DataFrames with an
    `id_column` and one vector column, or ``ut.scan`` sources of those two columns; aligned by id
    (``doc_ids``/``query_ids``: one array for both sides, or an (old, new) pair; else the id
    column, else the row order). Old and new may have different dimensions. Reported (each a
    Check with value, threshold, status and ids):

    * result_churn: per query, overlap@k and extrapolated RBO (Webber et al. 2010, p) of the
      old vs new top-k document ids (exact search); mean, p10, share below 0.5, the most changed;
    * neighbourhood: the same for `sample` documents' k nearest documents (self excluded);
    * score_shift: PSI (quantile bins of the old scores) of top-1 and top-k scores;
    * cutoff_remap: each cutoff's pass rate (share of top-k results that pass) old vs new, the
      new cutoff keeping the old pass rate and the one best keeping the old passing set;
    * compatibility: drop-in / alignable / incompatible from self cosines and an orthogonal
      Procrustes map fitted on half of `fit_sample` documents and scored on the other half.

    Without queries, the `sample` documents are the queries. Documents holding NaN or inf on
    either side are left out of both sides (counted in ``settings["dropped_documents"]``);
    queries must be finite. metric: "cosine" (rows normalized; a copy only when they are not
    unit already), "ip" or "l2" (squared distances, smaller passes).

    >>> import numpy as np, undertow as ut
    >>> x = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    >>> ut.rotation_preview(x, x, x[:20], x[:20], k=5).verdict
    'drop-in'
    """
    started = time.perf_counter()
    if not isinstance(metric, str) or metric not in METRICS:
        raise UndertowError(f"metric: must be one of {', '.join(METRICS)}, got {metric!r}")
    k = check_count(k, "k", 1, 10_000)
    sample = check_count(sample, "sample", 1)
    fit_sample = check_count(fit_sample, "fit_sample", 4)
    p = check_real(p, "p", 0.0, 1.0, open_low=True, open_high=True)
    seed = check_seed(seed)
    limits = _limits(thresholds)
    if not isinstance(id_column, str):
        raise TypeError(f"id_column: must be a string, got {type(id_column).__name__}")
    old_ids, new_ids = _ids_pair(doc_ids)
    docs = pair(
        read_side(old_docs, "old_docs", old_ids, id_column),
        read_side(new_docs, "new_docs", new_ids, id_column),
        "old_docs",
        "new_docs",
    )
    have_queries = old_queries is not None or new_queries is not None
    if have_queries and (old_queries is None or new_queries is None):
        raise UndertowError("queries: give both old_queries and new_queries, or neither")
    queries: Pair | None = None
    if have_queries:
        old_qids, new_qids = _ids_pair(query_ids)
        queries = pair(
            read_side(old_queries, "old_queries", old_qids, id_column),
            read_side(new_queries, "new_queries", new_qids, id_column),
            "old_queries",
            "new_queries",
        )
        for name, q, d in (("old_queries", queries.old, docs.old), ("new_queries", queries.new, docs.new)):
            if q.shape[1] != d.shape[1]:
                side = name.split("_")[0]
                raise UndertowError(f"{name}: vectors have {q.shape[1]} dimensions, {side}_docs {d.shape[1]}")
            bad = ~np.isfinite(q).all(axis=1)
            if bad.any():
                raise UndertowError(
                    f"{name}: {int(bad.sum())} rows hold NaN or inf "
                    f"(the first: row {int(np.flatnonzero(bad)[0])})"
                )
    cutoff_list = None
    if cutoffs is not None:
        raw = np.atleast_1d(np.asarray(cutoffs))
        if raw.ndim != 1 or raw.dtype.kind not in "iuf" or not np.isfinite(raw).all():
            raise UndertowError(f"cutoffs: expected a list of finite numbers, got {cutoffs!r}")
        cutoff_list = [float(c) for c in raw]

    n = len(docs.ids)
    old_norms = _core.row_norms(docs.old)
    new_norms_in_new = _core.row_norms(docs.new)
    new_norms = new_norms_in_new[docs.new_row_of]
    usable = np.isfinite(old_norms) & np.isfinite(new_norms)
    if metric == "cosine":
        usable &= (old_norms > 0) & (new_norms > 0)
    if usable.sum() < 2:
        raise UndertowError(
            f"docs: {int(usable.sum())} of {n} documents are finite (and non-zero) on both sides; need 2"
        )
    old_matrix, new_matrix = docs.old, docs.new
    if metric == "cosine":
        old_matrix = _unit_or_copy(docs.old, old_norms, usable)
        usable_new = np.zeros(len(new_norms_in_new), dtype=bool)
        usable_new[docs.new_row_of[usable]] = True
        new_matrix = _unit_or_copy(docs.new, new_norms_in_new, usable_new)
    old_dropped = np.flatnonzero(~usable)
    new_dropped = np.sort(docs.new_row_of[old_dropped])
    old_row_of_new = np.empty(n, dtype=np.int64)
    old_row_of_new[docs.new_row_of] = np.arange(n)

    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(usable)
    probe_rows = np.sort(rng.choice(candidates, size=min(sample, len(candidates)), replace=False))
    kk = k
    results = {}
    for side, matrix, rows_in_side in (
        ("old", old_matrix, probe_rows),
        ("new", new_matrix, docs.new_row_of[probe_rows]),
    ):
        batch = [matrix[rows_in_side]]
        exclude = [rows_in_side]
        if queries is not None:
            q = queries.old if side == "old" else queries.new[queries.new_row_of]
            if metric == "cosine":
                qn = np.linalg.norm(q.astype(np.float64), axis=1)
                if (qn == 0).any():
                    raise UndertowError(
                        f"{side}_queries: row {int(np.flatnonzero(qn == 0)[0])} is a zero vector (no cosine)"
                    )
                q = (q / qn[:, None]).astype(matrix.dtype)
            batch.insert(0, np.asarray(q, dtype=matrix.dtype))
            exclude.insert(0, np.full(len(q), -1, dtype=np.int64))
        probes = np.ascontiguousarray(np.concatenate(batch))
        scores, rows = topk(
            matrix,
            probes,
            kk,
            metric,
            np.concatenate(exclude).astype(np.int64),
            old_dropped if side == "old" else new_dropped,
        )
        if side == "new":
            rows = np.where(rows >= 0, old_row_of_new[np.maximum(rows, 0)], -1)
            # the kernel breaks score ties by the lower new row: re-break them by the old row, so
            # the lists do not depend on the new side's row order
            key = -scores if metric != "l2" else scores
            order = np.lexsort((np.where(rows >= 0, rows, np.iinfo(np.int64).max), key), axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
            rows = np.take_along_axis(rows, order, axis=1)
        results[side] = (scores, rows)
    nq = 0 if queries is None else len(queries.ids)
    id_of = lambda rows: np.where(rows >= 0, docs.ids[np.maximum(rows, 0)], -1)  # noqa: E731
    neighbourhood = list_churn(
        docs.ids[probe_rows], id_of(results["old"][1][nq:]), id_of(results["new"][1][nq:]), p
    )
    if queries is not None:
        churn = list_churn(queries.ids, id_of(results["old"][1][:nq]), id_of(results["new"][1][:nq]), p)
        probe_slice = slice(0, nq)
        query_source = "queries"
    else:
        churn = neighbourhood
        probe_slice = slice(nq, None)
        query_source = "sampled documents as queries"
    old_scores = _side_scores(results["old"][0][probe_slice], results["old"][1][probe_slice])
    new_scores = _side_scores(results["new"][0][probe_slice], results["new"][1][probe_slice])
    larger_is_better = metric != "l2"
    shift = score_shift(old_scores, new_scores)

    def keys(rows: np.ndarray) -> np.ndarray:
        valid = rows >= 0
        return (np.arange(len(rows))[:, None] * np.int64(n) + rows)[valid]

    old_keys = keys(results["old"][1][probe_slice])
    new_keys = keys(results["new"][1][probe_slice])
    given_cutoffs = cutoff_list
    if given_cutoffs is None:
        given_cutoffs = [float(np.median(old_scores["top1"]))] if len(old_scores["top1"]) else []
    remaps = remap(
        given_cutoffs, old_scores["topk"], new_scores["topk"], old_keys, new_keys, larger_is_better
    )
    table = cutoff_table(old_scores["topk"], new_scores["topk"], larger_is_better)

    fit_rows = np.sort(rng.choice(candidates, size=min(fit_sample, len(candidates)), replace=False))
    fit_old = np.asarray(old_matrix[fit_rows], dtype=np.float64)
    fit_new = np.asarray(new_matrix[docs.new_row_of[fit_rows]], dtype=np.float64)
    probes_old = probes_new = None
    if queries is not None:
        probes_old = results_probe(queries.old, metric)
        probes_new = results_probe(queries.new[queries.new_row_of], metric)
    compat = compatibility(fit_old, fit_new, probes_old, probes_new, k, metric, limits, rng)

    checks = {
        "result_churn": _churn_check("result_churn", churn, limits["overlap_min"], limits, query_source),
        "neighbourhood": _churn_check(
            "neighbourhood", neighbourhood, limits["neighbourhood_min"], limits, "sampled documents"
        ),
        "score_shift": _shift_check(shift, limits["score_psi"], len(old_scores["top1"])),
        "cutoff_remap": _cutoff_check(remaps, limits["pass_rate_change"], cutoff_list is None, churn),
        "compatibility": _compat_check(compat, limits),
    }
    settings = {
        "k": k,
        "metric": metric,
        "p": p,
        "documents": n,
        "dropped_documents": len(old_dropped),
        "queries": len(churn.ids),
        "query_source": query_source,
        "sampled_documents": len(probe_rows),
        "dims": [int(docs.old.shape[1]), int(docs.new.shape[1])],
        "seed": seed,
        "thresholds": limits,
    }
    return RotationReport(
        checks,
        churn,
        neighbourhood,
        remaps,
        table,
        {**shift, "larger_is_better": larger_is_better},
        compat,
        settings,
        seconds=time.perf_counter() - started,
    )


def results_probe(q: np.ndarray, metric: str) -> np.ndarray:
    out = np.asarray(q, dtype=np.float64)
    if metric == "cosine":
        out = out / np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _churn_check(name: str, churn: ListChurn, limit: float, limits: dict[str, float], what: str) -> Check:
    summary = churn.summary
    if summary["rows"] == 0:
        return Check(name, "not_run", None, None, "min", 0, np.empty(0, np.int64), 0, f"no {what}")
    worst = churn.worst(len(churn.overlap))
    changed = worst[churn.overlap[worst] < limits["changed_below"]]
    value = summary["overlap_mean"]
    return Check(
        name=name,
        status="warn" if value < limit else "ok",
        value=value,
        threshold=limit,
        direction="min",
        sample_size=summary["rows"],
        ids=np.ascontiguousarray(churn.ids[changed], dtype=np.int64),
        count=len(changed),
        message=(
            f"{what}: mean overlap@k {value:.3f} (p10 {summary['overlap_p10']:.3f}, "
            f"RBO {summary['rbo_mean']:.3f}); "
            f"{summary['share_overlap_below_half']:.1%} keep less than half of their top-k"
        ),
        detail={**summary, "most_changed": [int(churn.ids[i]) for i in worst[:10]]},
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _shift_check(shift: dict[str, Any], limit: float, size: int) -> Check:
    values = [v for v in (shift.get("psi_top1"), shift.get("psi_topk")) if v is not None]
    if not values:
        return Check(
            "score_shift",
            "not_run",
            None,
            limit,
            "max",
            size,
            np.empty(0, np.int64),
            0,
            "fewer than 10 scores",
        )
    value = max(values)
    return Check(
        "score_shift",
        "warn" if value > limit else "ok",
        value,
        limit,
        "max",
        size,
        np.empty(0, np.int64),
        0,
        f"PSI of top-1 scores {_fmt(shift['psi_top1'])}, of top-k {_fmt(shift['psi_topk'])} "
        "(old scores' quantile bins; under 10 scores: -)",
        detail=shift,
    )


def _cutoff_check(remaps: list, limit: float, defaulted: bool, churn: ListChurn) -> Check:
    if not remaps:
        return Check("cutoff_remap", "not_run", None, limit, "max", 0, np.empty(0, np.int64), 0, "no scores")
    changes = [abs(r.pass_rate_new - r.pass_rate_old) for r in remaps]
    value = max(changes)
    worst = remaps[int(np.argmax(changes))]
    low_overlap = churn.summary.get("overlap_mean", 1.0) < 0.5
    message = (
        f"cutoff {worst.cutoff:.4g}{' (the old median top-1, no cutoffs given)' if defaulted else ''} passes "
        f"{worst.pass_rate_old:.1%} of old results, {worst.pass_rate_new:.1%} of new; "
        f"{worst.quantile_cutoff:.4g} keeps the pass rate, {worst.set_cutoff:.4g} keeps the most "
        "of the old passing set "
        f"({worst.set_kept:.1%} of it, Jaccard {worst.set_jaccard:.2f})"
        + (
            "; the result lists changed too much for the set cutoff to mean much: use the quantile cutoff"
            if low_overlap
            else ""
        )
    )
    return Check(
        "cutoff_remap",
        "warn" if value > limit else "ok",
        value,
        limit,
        "max",
        len(churn.ids),
        np.empty(0, np.int64),
        0,
        message,
        detail={"cutoffs": [r.to_dict() for r in remaps], "defaulted": defaulted},
    )


def _compat_check(compat: Any, limits: dict[str, float]) -> Check:
    status = {"drop-in": "ok", "alignable": "warn", "incompatible": "fail"}[compat.verdict]
    return Check(
        "compatibility",
        status,
        compat.numbers["mapped_overlap_mean"],
        limits["alignable_overlap"],
        "min",
        compat.numbers["held_out_rows"],
        np.empty(0, np.int64),
        0,
        f"{compat.verdict}: {compat.reason}",
        detail={"verdict": compat.verdict, **compat.numbers},
    )
