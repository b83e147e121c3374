"""Can vectors from the two encoders be compared at all?

* Self cosine (equal dimensions only): cos(old_i, new_i) of each sampled document with itself
  across encoders, against cos(old_i, new_j) with random other documents j. Two unrelated
  coordinate systems put both near 0.
* Orthogonal Procrustes on a seeded half of the sample ("fit"), scored on the other half
  ("held out"): W = argmin ||X_old W - X_new||_F subject to W having orthonormal columns (or rows),
  W = U V^T from the thin SVD U S V^T of the d_old x d_new cross-product X_old^T X_new (float64).
  With d_old != d_new W is semi-orthogonal: d_old > d_new keeps W^T W = I (old vectors are
  projected onto a d_new-dimensional subspace, then rotated); d_old < d_new gives W W^T = I (old
  vectors are embedded isometrically in a d_old-dimensional subspace of the new space). No
  scaling, no centering: a dual-read migration maps queries with W as they are.
* Neighbour overlap in the held-out documents' new space: each probe (the queries when given,
  else held-out documents) searched among the held-out documents' new vectors with its new
  vector, and with its old vector mapped by W (and unmapped, when the dimensions agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow.embedding.search import exact_search
from undertow.rotation.overlap import overlap_at_k


@dataclass(frozen=True)
class Compatibility:
    verdict: str  # "drop-in", "alignable" or "incompatible"
    reason: str
    numbers: dict[str, Any]


def procrustes(x_old: np.ndarray, y_new: np.ndarray) -> np.ndarray:
    """The d_old x d_new (semi-)orthogonal W minimizing ||x_old W - y_new||_F (float64)."""
    cross = x_old.astype(np.float64).T @ y_new.astype(np.float64)
    u, _, vt = np.linalg.svd(cross, full_matrices=False)
    return u @ vt


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dots = np.einsum("ij,ij->i", a, b)
    norms = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def _neighbours(
    corpus: np.ndarray, probes: np.ndarray, k: int, metric: str, exclude: np.ndarray | None
) -> np.ndarray:
    corpus32 = np.ascontiguousarray(corpus, dtype=np.float32)
    probes32 = np.ascontiguousarray(probes, dtype=np.float32)
    return exact_search(corpus32, probes32, k=k, metric="l2" if metric == "l2" else "ip", exclude=exclude)[1]


def compatibility(
    old: np.ndarray,
    new: np.ndarray,
    probes_old: np.ndarray | None,
    probes_new: np.ndarray | None,
    k: int,
    metric: str,
    limits: dict[str, float],
    rng: np.random.Generator,
) -> Compatibility:
    """`old`, `new`: the sampled documents' vectors (float64, rows aligned; unit rows for
    cosine). `probes_*`: query vectors (aligned) or None to probe with held-out documents."""
    n = len(old)
    order = rng.permutation(n)
    fit, held = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    w = procrustes(old[fit], new[fit])
    mapped_held = old[held] @ w
    mapped_cos = _cosines(mapped_held, new[held])
    residual = float(((mapped_held - new[held]) ** 2).sum() / max((new[held] ** 2).sum(), 1e-300))
    numbers: dict[str, Any] = {
        "fit_rows": len(fit),
        "held_out_rows": len(held),
        "dims": [int(old.shape[1]), int(new.shape[1])],
        "mapped_cosine_median": float(np.median(mapped_cos)),
        "mapped_cosine_p10": float(np.quantile(mapped_cos, 0.1)),
        "held_out_relative_residual": residual,
    }
    same_dims = old.shape[1] == new.shape[1]
    if same_dims:
        self_cos = _cosines(old[held], new[held])
        others = rng.permutation(len(held))
        # a derangement is not needed: a row paired with itself by chance is one in len(held)
        random_cos = _cosines(old[held], new[held][others])
        numbers["self_cosine_median"] = float(np.median(self_cos))
        numbers["self_cosine_p10"] = float(np.quantile(self_cos, 0.1))
        numbers["random_pair_cosine_median"] = float(np.median(random_cos))
    corpus = new[held]
    kk = min(k, max(len(held) - 1, 1))
    if probes_old is not None and probes_new is not None:
        numbers["probes"] = "queries"
        exclude = None
        p_old, p_new = probes_old, probes_new
    else:
        numbers["probes"] = "held-out documents"
        take = np.sort(rng.choice(len(held), size=min(len(held), 1000), replace=False))
        exclude = take.astype(np.int64)
        p_old, p_new = old[held][take], new[held][take]
    want = _neighbours(corpus, p_new, kk, metric, exclude)
    numbers["probe_rows"] = len(p_new)
    numbers["probe_k"] = kk
    numbers["mapped_overlap_mean"] = float(
        overlap_at_k(want, _neighbours(corpus, p_old @ w, kk, metric, exclude)).mean()
    )
    if same_dims:
        numbers["unmapped_overlap_mean"] = float(
            overlap_at_k(want, _neighbours(corpus, p_old, kk, metric, exclude)).mean()
        )
    if (
        same_dims
        and numbers["self_cosine_median"] >= limits["drop_in_cosine"]
        and numbers["unmapped_overlap_mean"] >= limits["drop_in_overlap"]
    ):
        verdict = "drop-in"
        reason = (
            "old and new vectors of the same documents have median cosine "
            f"{numbers['self_cosine_median']:.3f} (>= {limits['drop_in_cosine']}) and old query vectors "
            f"find {numbers['unmapped_overlap_mean']:.1%} of the new top-{kk} among new vectors "
            f"(>= {limits['drop_in_overlap']:.0%}): the spaces agree"
        )
    elif (
        numbers["mapped_cosine_median"] >= limits["alignable_cosine"]
        and numbers["mapped_overlap_mean"] >= limits["alignable_overlap"]
    ):
        verdict = "alignable"
        reason = (
            f"an orthogonal map fitted on {len(fit)} documents gives held-out median cosine "
            f"{numbers['mapped_cosine_median']:.3f} (>= {limits['alignable_cosine']}) and mapped old vectors "
            f"find {numbers['mapped_overlap_mean']:.1%} of the new top-{kk} "
            f"(>= {limits['alignable_overlap']:.0%}): old queries can be mapped during a dual-read migration"
        )
    else:
        verdict = "incompatible"
        reason = (
            "even after an orthogonal map the held-out median cosine is "
            f"{numbers['mapped_cosine_median']:.3f} "
            f"and mapped old vectors find {numbers['mapped_overlap_mean']:.1%} of the new top-{kk}"
            + (
                f" (unmapped: self cosine {numbers['self_cosine_median']:.3f} vs "
                f"{numbers['random_pair_cosine_median']:.3f} for random pairs)"
                if same_dims
                else ""
            )
            + ": re-embed everything before any new vector is served"
        )
    return Compatibility(verdict, reason, numbers)
