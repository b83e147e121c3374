"""The checks that search: ANN recall against exact search, deleted documents in the results,
and the shift of the score distribution against a baseline audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow.audit._checks import judged, not_run
from undertow.audit._index import IndexView
from undertow.audit._report import AuditReport, Check
from undertow.embedding.search import exact_search
from undertow.tabular.psi import psi


@dataclass
class Searched:
    ann_ids: np.ndarray  # (q, k) faiss ids from the index's own search, -1 for none
    ann_scores: np.ndarray  # (q, k) float64 distances / similarities
    exact_ids: np.ndarray  # (q, k) ids from exact search over the stored vectors
    exact_scores: np.ndarray  # (q, k) their float64 distances / similarities
    self_rows: np.ndarray | None  # the stored row each query came from, or None


def search(view: IndexView, queries: np.ndarray, k: int, self_rows: np.ndarray | None) -> Searched:
    q32 = np.ascontiguousarray(queries, dtype=np.float32)
    extra = 1 if self_rows is not None else 0
    scores, ids = view.index.search(q32, k + extra)
    scores = scores.astype(np.float64)
    if self_rows is not None:
        # drop the query's own id once (faiss usually returns it first), keep k
        # a query with no stored copy (-1) matches no id: the extra last column is dropped
        own = np.where(self_rows >= 0, view.ids[np.maximum(self_rows, 0)], np.iinfo(np.int64).min)
        hit = ids == own[:, None]
        first = np.where(hit.any(axis=1), hit.argmax(axis=1), k)
        keep = np.ones_like(ids, dtype=bool)
        keep[np.arange(len(ids)), first] = False  # no self-match: first == k drops the last
        ids = ids[keep].reshape(len(ids), k)
        scores = scores[keep].reshape(len(ids), k)
    exact_scores, rows = _exact(view, q32, k, self_rows)
    exact_ids = np.where(rows >= 0, view.ids[np.maximum(rows, 0)], -1)
    return Searched(ids, scores, exact_ids, exact_scores, self_rows)


def _exact(
    view: IndexView, q32: np.ndarray, k: int, self_rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k over the stored rows: one kernel call on a held matrix, or the decoded
    blocks of a lossy index merged (best first, ties to the lower row, as one call would)."""
    best: tuple[np.ndarray, np.ndarray] | None = None
    for start, block in view.chunks():
        exclude = None
        if self_rows is not None:
            local = self_rows - start
            exclude = np.where((local >= 0) & (local < len(block)), local, -1)
        scores, rows = exact_search(block, q32, k=k, metric=view.metric, exclude=exclude)
        rows = np.where(rows >= 0, rows + start, -1)
        if best is not None:
            scores = np.concatenate([best[0], scores], axis=1)
            rows = np.concatenate([best[1], rows], axis=1)
            key = -scores if view.metric == "ip" else scores
            order = np.lexsort((np.where(rows >= 0, rows, np.iinfo(np.int64).max), key), axis=1)[:, :k]
            scores = np.take_along_axis(scores, order, axis=1)
            rows = np.take_along_axis(rows, order, axis=1)
        best = (scores, rows)
    assert best is not None
    return best


def ann_recall(view: IndexView, found: Searched, k: int, limit: float, source: str = "given") -> Check:
    """recall@k by id, where a returned result that ties the exact k-th score (to float32
    rounding: faiss and the exact kernel sum in different orders) also counts as found."""
    larger_is_better = view.metric == "ip"
    valid = (found.exact_ids >= 0).sum(axis=1)
    hits = np.zeros(len(found.ann_ids))
    missed: list[int] = []
    for i, (ann, exact) in enumerate(zip(found.ann_ids, found.exact_ids, strict=True)):
        if valid[i] == 0:
            continue
        want = exact[exact >= 0]
        kth = found.exact_scores[i, valid[i] - 1]
        tol = 1e-5 * (1.0 + abs(kth))
        scores = found.ann_scores[i]
        as_good = (scores >= kth - tol) if larger_is_better else (scores <= kth + tol)
        found_ids = (ann >= 0) & (np.isin(ann, want) | as_good)
        hits[i] = min(int(found_ids.sum()), int(valid[i]))
        if len(missed) < 100 and hits[i] < valid[i]:
            lost = want[~np.isin(want, ann)]
            missed.extend(int(v) for v in lost[: 100 - len(missed)])
    if valid.sum() == 0:
        return not_run("ann_recall", "no query has a neighbour to find (the index holds one vector)", "min")
    recall = float(hits.sum() / valid.sum())
    settings = ", ".join(f"{key}={value}" for key, value in view.settings.items()) or "exact index"
    return judged(
        "ann_recall",
        recall,
        limit,
        len(found.ann_ids),
        np.asarray(missed, dtype=np.int64),
        f"recall@{k} {recall:.4f} at the index's own settings ({settings}) vs exact search"
        + (" over its decoded vectors" if view.lossy else "")
        + {
            "given": "",
            "fresh": "; queries: fresh vectors",
            "stored": "; queries: sampled stored vectors"
            + (" (decoded vectors are easy to find again: pass queries or fresh)" if view.lossy else ""),
        }[source],
        direction="min",
        count=int(valid.sum() - hits.sum()),
        detail={
            "per_query_min": float((hits / np.maximum(valid, 1)).min()) if len(hits) else 1.0,
            "queries": source,
        },
    )


def tombstone_pollution(found: Searched, dead: np.ndarray, limit: float) -> Check:
    """`dead` (sorted) holds the ids in the index that are not live documents."""
    returned = found.ann_ids[found.ann_ids >= 0]
    polluted = np.isin(returned, dead)
    share = float(polluted.mean()) if len(returned) else 0.0
    top1 = found.ann_ids[:, 0]
    top1_share = float(np.isin(top1[top1 >= 0], dead).mean()) if (top1 >= 0).any() else 0.0
    ids = np.unique(returned[polluted])
    return judged(
        "tombstone_pollution",
        share,
        limit,
        len(returned),
        ids,
        f"{share:.2%} of returned results ({top1_share:.2%} of top-1) are deleted or unknown documents",
        detail={"top1_share": top1_share, "results": len(returned)},
    )


def scores_of(view: IndexView, found: Searched) -> dict[str, Any]:
    valid = found.ann_ids >= 0
    top1 = found.ann_scores[:, 0][valid[:, 0]]
    return {"metric": view.metric, "top1": top1, "topk": found.ann_scores[valid]}


def score_shift(current: dict[str, Any], baseline: Any, limits: dict[str, Any]) -> Check:
    if baseline is None:
        return not_run("score_shift", "no baseline audit given (pass an earlier AuditReport or its JSON)")
    if not isinstance(baseline, AuditReport):
        baseline = AuditReport.from_json(baseline)
    before = baseline.scores
    if before["metric"] != current["metric"]:
        from undertow._core import UndertowError

        raise UndertowError(
            f"baseline: its scores are {before['metric']} but this index's are {current['metric']}"
        )
    # a stored vector holding NaN can come back with a NaN score: PSI compares finite scores
    before = {key: value[np.isfinite(value)] for key, value in before.items() if key != "metric"}
    current = {key: value[np.isfinite(value)] for key, value in current.items() if key != "metric"}
    if len(before["top1"]) < 10 or len(current["top1"]) < 10:
        return not_run("score_shift", "fewer than 10 top-1 scores on one side")
    top1 = psi(before["top1"], current["top1"], bins=10)
    topk = psi(before["topk"], current["topk"], bins=10)
    larger_is_better = baseline.scores["metric"] == "ip"
    cutoff = limits.get("score_cutoff")
    if cutoff is None:
        cutoff = float(np.median(before["top1"]))
    cutoff = float(cutoff)
    if larger_is_better:
        rate_before = float((before["top1"] >= cutoff).mean())
        rate_now = float((current["top1"] >= cutoff).mean())
        moved = float(np.quantile(current["top1"], 1.0 - rate_before))
    else:
        rate_before = float((before["top1"] <= cutoff).mean())
        rate_now = float((current["top1"] <= cutoff).mean())
        moved = float(np.quantile(current["top1"], rate_before))
    value = max(top1.value, topk.value)
    return judged(
        "score_shift",
        value,
        limits["score_shift"],
        len(current["top1"]),
        np.empty(0, dtype=np.int64),
        f"PSI of top-1 scores {top1.value:.3g}, of top-k {topk.value:.3g}; a cutoff at "
        f"{cutoff:.4g} passed {rate_before:.1%} then, {rate_now:.1%} now; {moved:.4g} keeps "
        f"{rate_before:.1%}",
        count=0,
        detail={
            "psi_top1": top1.value,
            "psi_topk": topk.value,
            "cutoff": cutoff,
            "pass_rate_baseline": rate_before,
            "pass_rate_now": rate_now,
            "cutoff_for_same_pass_rate": moved,
            "median_top1_baseline": float(np.median(before["top1"])),
            "median_top1_now": float(np.median(current["top1"])),
            # the two top-1 distributions over the baseline's bins (the HTML report draws them)
            "top1_inner_edges": top1.edges[1:-1].tolist(),
            "top1_baseline_proportions": top1.expected_proportions.tolist(),
            "top1_now_proportions": top1.actual_proportions.tolist(),
        },
    )
