"""The checks that read the index's ids and vectors against the docs table (no search)."""

from __future__ import annotations

from typing import Any

import numpy as np

from undertow import _core
from undertow.audit._docs import Docs
from undertow.audit._index import IndexView
from undertow.audit._report import Check

# Which status a check gets when its value crosses its threshold: integrity problems (a wrong
# or deleted document can be served) fail; statistical signals that need a look warn.
SEVERITY = {
    "orphaned_vectors": "fail",
    "missing_vectors": "fail",
    "duplicate_ids": "fail",
    "content_stale": "fail",
    "encoder_mix": "fail",
    "encoder_mix_vectors": "fail",
    "fresh_cosine": "fail",
    "norm_profile": "fail",
    "ivf_imbalance": "warn",
    "ivf_residual_drift": "warn",
    "ann_recall": "warn",
    "tombstone_pollution": "fail",
    "score_shift": "warn",
}
_EMPTY = np.empty(0, dtype=np.int64)


def judged(
    name: str,
    value: float,
    threshold: float,
    sample_size: int,
    ids: np.ndarray,
    message: str,
    *,
    direction: str = "max",
    count: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Check:
    crossed = value > threshold if direction == "max" else value < threshold
    return Check(
        name=name,
        status=SEVERITY[name] if crossed else "ok",
        value=float(value),
        threshold=float(threshold),
        direction=direction,
        sample_size=int(sample_size),
        ids=np.ascontiguousarray(ids, dtype=np.int64),
        count=len(ids) if count is None else int(count),
        message=message,
        detail=detail or {},
    )


def not_run(name: str, why: str, direction: str = "max") -> Check:
    return Check(name, "not_run", None, None, direction, 0, _EMPTY, 0, why)


def unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sort and mask: numpy 2.x's np.unique takes ~10x longer on 1e6 int64."""
    if len(values) == 0:
        return values.copy()
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def indexed_docs(docs: Docs, rows: np.ndarray) -> np.ndarray:
    """The docs rows (ascending) of the live documents that have a vector."""
    mask = np.zeros(len(docs.ids), dtype=bool)
    mask[rows[rows >= 0]] = True
    mask &= docs.live
    return np.flatnonzero(mask)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def id_checks(view: IndexView, docs: Docs, rows: np.ndarray, limits: dict[str, Any]) -> list[Check]:
    """orphaned_vectors, missing_vectors, duplicate_ids, content_stale. `rows` is the docs row
    of every stored vector (-1: not a document)."""
    n = view.ntotal
    live_row = rows >= 0
    live_row[live_row] = docs.live[rows[live_row]]
    orphan_ids = unique(view.ids[~live_row])
    orphan_rows = int((~live_row).sum())
    deleted = int(np.isin(orphan_ids, docs.ids[~docs.live]).sum())
    out = [
        judged(
            "orphaned_vectors",
            _share(orphan_rows, n),
            limits["orphaned_vectors"],
            n,
            orphan_ids,
            f"{len(orphan_ids)} ids in the index are not live documents "
            f"({deleted} flagged deleted, {len(orphan_ids) - deleted} absent from docs)",
            detail={"rows": orphan_rows, "flagged_deleted": deleted},
        )
    ]
    ordered = np.sort(view.ids)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    unique_ids = ordered[starts]
    counts = np.diff(np.append(starts, len(ordered)))
    del ordered
    live_ids = docs.ids[docs.live]
    has_vector = np.zeros(len(docs.ids), dtype=bool)
    has_vector[rows[rows >= 0]] = True
    missing = docs.ids[docs.live & ~has_vector]
    out.append(
        judged(
            "missing_vectors",
            _share(len(missing), len(live_ids)),
            limits["missing_vectors"],
            len(live_ids),
            missing,
            f"{len(missing)} live documents have no vector in the index",
        )
    )
    repeated = unique_ids[counts > 1]
    extra = int(n - len(unique_ids))
    out.append(
        judged(
            "duplicate_ids",
            _share(extra, n),
            limits["duplicate_ids"],
            n,
            repeated,
            f"{len(repeated)} ids are stored more than once ({extra} extra vectors)",
            detail={"extra_vectors": extra, "max_copies": int(counts.max()) if len(counts) else 0},
        )
    )
    indexed_live = indexed_docs(docs, rows)
    stale_rows = indexed_live[docs.stale[indexed_live]]
    detail: dict[str, Any] = {}
    if docs.stale_for is not None and len(stale_rows):
        lag = docs.stale_for[stale_rows]
        lag = lag[np.isfinite(lag)]
        if len(lag):
            detail = {"max_stale_seconds": float(lag.max()), "median_stale_seconds": float(np.median(lag))}
    out.append(
        judged(
            "content_stale",
            _share(len(stale_rows), len(indexed_live)),
            limits["content_stale"],
            len(indexed_live),
            docs.ids[stale_rows],
            f"{len(stale_rows)} indexed documents changed since they were embedded "
            "(content_hash != embedded_hash)",
            detail=detail,
        )
    )
    return out


def encoder_mix(docs: Docs, rows: np.ndarray, expected: str | None, limit: float) -> Check:
    indexed = indexed_docs(docs, rows)
    if len(indexed) == 0:
        return not_run("encoder_mix", "no live document is in the index")
    versions = docs.encoder.gather(indexed)
    counted = versions.value_counts(sort=True)
    table = {str(v): int(c) for v, c in counted.iter_rows()}
    if expected is None:
        expected = str(counted[0, 0])
        how = "the most common version"
    else:
        how = "the expected version"
    off = indexed[(versions != expected).fill_null(True).to_numpy()]
    return judged(
        "encoder_mix",
        _share(len(off), len(indexed)),
        limit,
        len(indexed),
        docs.ids[off],
        f"{len(off)} indexed documents were embedded by another encoder than {expected!r} ({how})",
        detail={"expected": expected, "versions": table},
    )


def _cosines(a: np.ndarray, a_rows: np.ndarray, b: np.ndarray, b_rows: np.ndarray) -> np.ndarray:
    """cos(a[a_rows[i]], b[b_rows[i]]) in float64, 4,096 pairs at a time: whole float64 copies of
    10,000 x 384 pairs were the audit's peak memory (measured)."""
    out = np.empty(len(a_rows))
    for start in range(0, len(a_rows), 4096):
        x = a[a_rows[start : start + 4096]].astype(np.float64)
        y = b[b_rows[start : start + 4096]].astype(np.float64)
        dots = np.einsum("ij,ij->i", x, y)
        norms = np.sqrt(np.einsum("ij,ij->i", x, x) * np.einsum("ij,ij->i", y, y))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + len(x)] = np.where(norms > 0, dots / norms, 0.0)
    return out


def fresh_cosine(view: IndexView, fresh_ids: np.ndarray, fresh: np.ndarray, limits: dict[str, Any]) -> Check:
    """Stored vs freshly embedded vectors of the same ids; lossy indexes compare the stored
    code with the index's own encode-decode of the fresh vector."""
    cut = float(limits["fresh_cosine_min"])
    order = np.argsort(view.ids, kind="stable")
    sorted_ids = view.ids[order]
    lo = np.searchsorted(sorted_ids, fresh_ids, side="left")
    hi = np.searchsorted(sorted_ids, fresh_ids, side="right")
    present = hi > lo
    absent = int((~present).sum())
    if not present.any():
        return not_run("fresh_cosine", f"none of the {len(fresh_ids)} fresh ids is in the index")
    compared = (
        fresh
        if view.encode_decode is None
        else view.encode_decode(np.ascontiguousarray(fresh, dtype=np.float32))
    )
    # every stored copy of an id is compared (a duplicate add may hold the old vector)
    copies = (hi - lo)[present]
    which = np.repeat(np.flatnonzero(present), copies)
    starts = np.repeat(lo[present], copies)
    offsets = np.arange(len(which)) - np.repeat(np.cumsum(copies) - copies, copies)
    stored_rows = order[starts + offsets]
    cos = _cosines(compared, which, view.get(stored_rows), np.arange(len(stored_rows)))
    worst = np.full(len(fresh_ids), np.inf)
    np.minimum.at(worst, which, cos)
    worst = worst[present]
    ids = fresh_ids[present]
    below = ids[~(worst >= cut)]
    return judged(
        "fresh_cosine",
        _share(len(below), len(ids)),
        limits["fresh_cosine"],
        len(ids),
        unique(below),
        f"{len(below)} of {len(ids)} sampled ids have stored vs fresh cosine below {cut}",
        detail={
            "cosine_min": cut,
            "min_cosine": float(worst.min()),
            "median_cosine": float(np.median(worst)),
            "not_in_index": absent,
            "lossy_compare": view.encode_decode is not None,
        },
    )


def norm_profile(view: IndexView, norms: np.ndarray, limits: dict[str, Any]) -> Check:
    tolerance = float(limits["norm_tolerance"])
    if view.encode_decode is not None and view.ntotal:
        # a lossy code moves norms by itself: widen the band to twice the codec's largest norm
        # error on 10,000 unit vectors taken from the index (a 99th percentile flagged clean
        # vectors of a 1e6-row IVFPQ: measured)
        take = np.linspace(0, view.ntotal - 1, min(view.ntotal, 10_000)).astype(np.int64)
        unit = view.get(take).astype(np.float64)
        scale = np.linalg.norm(unit, axis=1, keepdims=True)
        unit = (unit / np.where(scale > 0, scale, 1.0)).astype(np.float32)
        codec = np.abs(np.linalg.norm(view.encode_decode(unit).astype(np.float64), axis=1) - 1.0)
        tolerance = max(tolerance, 2.0 * float(codec.max()))
    finite = np.isfinite(norms)
    off = ~finite | (np.abs(norms - 1.0) > tolerance)
    nonfinite = int((~finite).sum())
    detail = {
        "tolerance": tolerance,
        "nonfinite_vectors": nonfinite,
        "zero_vectors": int((norms == 0).sum()),
        "norm_quantiles": {
            str(q): float(v)
            for q, v in zip(
                (0.0, 0.01, 0.5, 0.99, 1.0),
                np.quantile(norms[finite], (0.0, 0.01, 0.5, 0.99, 1.0)) if finite.any() else [np.nan] * 5,
                strict=True,
            )
        },
    }
    off_ids = unique(view.ids[off])
    share = _share(int(off.sum()), view.ntotal)
    if view.metric == "l2":
        # L2 ranks by distance, norms included by design: only broken vectors are an error
        bad = unique(view.ids[~finite])
        return judged(
            "norm_profile",
            _share(nonfinite, view.ntotal),
            0.0,
            view.ntotal,
            bad,
            f"L2 index: {share:.2%} of vectors are off unit norm (not judged); {nonfinite} hold NaN or inf",
            detail={**detail, "off_unit_share": share},
        )
    return judged(
        "norm_profile",
        share,
        limits["norm_profile"],
        view.ntotal,
        off_ids,
        f"{int(off.sum())} vectors are off unit norm by more than {tolerance:.3g} under inner "
        f"product ({nonfinite} hold NaN or inf); an unnormalized-by-design index sets "
        "thresholds={'norm_profile': 1.0}",
        detail=detail,
    )


def ivf_checks(view: IndexView, docs: Docs, rows: np.ndarray, limits: dict[str, Any]) -> list[Check]:
    if view.ivf is None:
        why = f"{view.kind} is not an IVF index"
        return [not_run("ivf_imbalance", why), not_run("ivf_residual_drift", why)]
    ivf = view.ivf
    sizes = np.bincount(ivf.lists, minlength=ivf.nlist)
    n = int(sizes.sum())
    # faiss's own definition (InvertedLists::imbalance_factor): 1.0 when every list is equal
    factor = float(ivf.nlist * np.square(sizes.astype(np.float64)).sum() / n**2) if n else 0.0
    empty = int((sizes == 0).sum())
    biggest = np.argsort(sizes)[::-1][:5]
    out = [
        judged(
            "ivf_imbalance",
            factor,
            limits["ivf_imbalance"],
            n,
            _EMPTY,
            f"imbalance factor {factor:.3g} over {ivf.nlist} lists ({empty} empty; the largest "
            f"holds {int(sizes.max()) if n else 0} of {n})",
            count=0,
            detail={
                "empty_lists": empty,
                "largest_lists": {int(i): int(sizes[i]) for i in biggest},
                "expected_size": n / ivf.nlist,
            },
        )
    ]
    if docs.embedded_at is None:
        out.append(
            not_run(
                "ivf_residual_drift", "docs has no embedded_at column to tell recent vectors from older ones"
            )
        )
        return out
    when = np.where(rows >= 0, docs.embedded_at[np.maximum(rows, 0)], np.nan)
    known = np.isfinite(when)
    if known.sum() < 20:
        out.append(not_run("ivf_residual_drift", "fewer than 20 stored vectors have an embedded_at time"))
        return out
    recent_share = float(limits["recent_share"])
    since = float(np.quantile(when[known], 1.0 - recent_share))
    recent = known & (when >= since)
    older = known & (when < since)
    if not recent.any() or not older.any():
        out.append(not_run("ivf_residual_drift", "all embedded_at times are equal"))
        return out
    distance = np.sqrt(
        np.concatenate(
            [
                _core.assigned_distances(block, ivf.centroids, ivf.lists[start : start + len(block)])
                for start, block in view.chunks()
            ]
        )
    )
    ratio = float(np.median(distance[recent]) / max(np.median(distance[older]), 1e-30))
    worst = np.flatnonzero(recent)[np.argsort(distance[recent])[::-1][:20]]
    out.append(
        judged(
            "ivf_residual_drift",
            ratio,
            limits["ivf_residual_drift"],
            int(known.sum()),
            view.ids[worst],
            f"recent vectors sit {ratio:.3g}x as far from their IVF centroid as older ones "
            f"(median; recent = the last {recent_share:.0%} by embedded_at): "
            + (
                "retrain the coarse quantizer"
                if ratio > limits["ivf_residual_drift"]
                else "the quantizer still fits"
            ),
            count=int(recent.sum()),
            detail={
                "recent_since": since,
                "recent_median_distance": float(np.median(distance[recent])),
                "older_median_distance": float(np.median(distance[older])),
                "recent_vectors": int(recent.sum()),
            },
        )
    )
    return out
