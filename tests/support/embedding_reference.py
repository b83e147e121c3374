"""Independent float64 numpy/scipy references for undertow's embedding-drift contract.

Nothing here imports undertow (docs/embedding_api.md is the contract): every expected value in
the embedding tests comes from these functions, from numpy/scipy directly, or from a hand
computation in the test itself. The 1-D PSI of the cosines reuses `reference_impl.psi_reference`,
which is also independent of undertow.
"""

from __future__ import annotations

import numpy as np
from reference_impl import psi_reference, status_reference
from scipy import linalg as sla
from scipy import stats
from scipy.spatial.distance import cdist, pdist

QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def as_f64_matrix(x) -> np.ndarray:
    """The values of a 2-D input as a C-contiguous float64 matrix (float32/16/int values are exact)."""
    return np.ascontiguousarray(np.asarray(x), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# cosine drift


def unit_rows(x) -> np.ndarray:
    x = as_f64_matrix(x)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def centroid_direction(x) -> np.ndarray:
    """mean_i x_i / ||x_i|| (not renormalized)."""
    return unit_rows(x).mean(axis=0)


def cosines_to(x, c) -> np.ndarray:
    """cos(x_i, c) for every row."""
    x = as_f64_matrix(x)
    c = np.asarray(c, dtype=np.float64)
    return (x @ c) / (np.linalg.norm(x, axis=1) * np.linalg.norm(c))


def centroid_distance_reference(reference, current) -> float:
    a = centroid_direction(reference)
    b = centroid_direction(current)
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def cosine_drift_reference(reference, current, bins=10, norm_tolerance=0.01) -> dict:
    """Every field of ut.cosine_drift's result, in float64 numpy."""
    r = as_f64_matrix(reference)
    c = as_f64_matrix(current)
    c_ref = centroid_direction(r)
    ref_cos = cosines_to(r, c_ref)
    cur_cos = cosines_to(c, c_ref)
    psi = psi_reference(ref_cos, cur_cos, bins=bins)
    r_norm = np.linalg.norm(r, axis=1)
    c_norm = np.linalg.norm(c, axis=1)
    return {
        "centroid_distance": centroid_distance_reference(r, c),
        "reference_cosines": ref_cos,
        "current_cosines": cur_cos,
        "cosine_psi": psi["value"],
        "status": status_reference(psi["value"]),
        "quantile_levels": np.array(QUANTILE_LEVELS),
        "reference_quantiles": np.quantile(ref_cos, QUANTILE_LEVELS),
        "current_quantiles": np.quantile(cur_cos, QUANTILE_LEVELS),
        "reference_mean_norm": float(r_norm.mean()),
        "current_mean_norm": float(c_norm.mean()),
        "reference_off_norm_share": float(np.mean(np.abs(r_norm - 1.0) > norm_tolerance)),
        "current_off_norm_share": float(np.mean(np.abs(c_norm - 1.0) > norm_tolerance)),
        "n_reference": r.shape[0],
        "n_current": c.shape[0],
    }


# ---------------------------------------------------------------------------------------------
# PCA


def sign_convention(components: np.ndarray) -> np.ndarray:
    """Flip each row so its entry of largest absolute value is positive."""
    components = np.array(components, dtype=np.float64)
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def pca_reference(x, components: int) -> dict:
    """PCA by numpy's SVD of the centred float64 data (ddof=1 variances, as scikit-learn)."""
    x = as_f64_matrix(x)
    n = x.shape[0]
    mean = x.mean(axis=0)
    centred = x - mean
    if n > 2 * x.shape[1]:
        # tall data: the SVD of the R factor of a QR (Householder) of the centred data has the same
        # singular values and right singular vectors, and numpy's SVD of the tall matrix is slow
        centred = np.linalg.qr(centred, mode="r")
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    ev_all = s**2 / (n - 1)
    total = float(np.var(x, axis=0, ddof=1).sum())
    comps = sign_convention(vt[:components])
    ev = ev_all[:components]
    return {
        "mean": mean,
        "components": comps,
        "explained_variance": ev,
        "explained_variance_ratio": ev / total,
        "total_variance": total,
        "n_samples": n,
        "dim": x.shape[1],
    }


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians) between the row spaces of a and b (scipy.linalg.subspace_angles)."""
    return sla.subspace_angles(np.asarray(a, dtype=np.float64).T, np.asarray(b, dtype=np.float64).T)


def transform_reference(x, mean, components) -> np.ndarray:
    return (as_f64_matrix(x) - np.asarray(mean, dtype=np.float64)) @ np.asarray(components, np.float64).T


# ---------------------------------------------------------------------------------------------
# MMD


def rbf_kernel(a, b, bandwidth: float) -> np.ndarray:
    """exp(-||a_i - b_j||^2 / (2 bandwidth^2)), distances from explicit differences (scipy cdist)."""
    d2 = cdist(as_f64_matrix(a), as_f64_matrix(b), "sqeuclidean")
    return np.exp(-d2 / (2.0 * bandwidth**2))


def mmd2_unbiased_from_kernel(k: np.ndarray, n: int) -> float:
    """Unbiased MMD^2 from the pooled (n + m) x (n + m) kernel matrix (first n rows are x)."""
    m = k.shape[0] - n
    kxx = k[:n, :n]
    kyy = k[n:, n:]
    kxy = k[:n, n:]
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.sum() / (n * m))


def mmd2_unbiased_reference(x, y, bandwidth: float) -> float:
    """Unbiased RBF MMD^2 for a given bandwidth, from the full float64 kernel matrix."""
    x = as_f64_matrix(x)
    y = as_f64_matrix(y)
    pooled = np.vstack([x, y])
    return mmd2_unbiased_from_kernel(rbf_kernel(pooled, pooled, bandwidth), x.shape[0])


def mmd2_biased_reference(x, y, bandwidth: float) -> float:
    """The biased (V-statistic) MMD^2, as used for the table in the data README."""
    return float(
        rbf_kernel(x, x, bandwidth).mean()
        + rbf_kernel(y, y, bandwidth).mean()
        - 2.0 * rbf_kernel(x, y, bandwidth).mean()
    )


def median_bandwidth_reference(x, y) -> float:
    """numpy.median of ||p_i - p_j|| over all pairs i < j of the pooled sample (no subsampling)."""
    pooled = np.vstack([as_f64_matrix(x), as_f64_matrix(y)])
    return float(np.median(pdist(pooled, "euclidean")))


def permutation_pvalue_reference(x, y, bandwidth: float, permutations: int, rng) -> tuple[float, float]:
    """(observed unbiased MMD^2, (1 + #{perm >= observed}) / (1 + permutations)) with numpy's rng."""
    x = as_f64_matrix(x)
    y = as_f64_matrix(y)
    n = x.shape[0]
    pooled = np.vstack([x, y])
    k = rbf_kernel(pooled, pooled, bandwidth)
    observed = mmd2_unbiased_from_kernel(k, n)
    hits = 0
    for _ in range(permutations):
        p = rng.permutation(k.shape[0])
        if mmd2_unbiased_from_kernel(k[np.ix_(p, p)], n) >= observed:
            hits += 1
    return observed, (1 + hits) / (1 + permutations)


def rff_features_reference(v, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z(v) = sqrt(2/D) cos(W v + b) for every row of v."""
    d_feat = w.shape[0]
    return np.sqrt(2.0 / d_feat) * np.cos(as_f64_matrix(v) @ w.T + b)


def rff_reference(x, y, bandwidth: float, features: int, rng) -> tuple[float, float]:
    """(unbiased feature MMD^2, Hotelling T^2 chi^2 p-value) with W, b drawn from numpy's rng.

    The draws cannot match undertow's; this is used to check the formula's own behaviour.
    """
    x = as_f64_matrix(x)
    y = as_f64_matrix(y)
    d = x.shape[1]
    w = rng.normal(0.0, 1.0 / bandwidth, size=(features, d))
    b = rng.uniform(0.0, 2.0 * np.pi, size=features)
    zx = rff_features_reference(x, w, b)
    zy = rff_features_reference(y, w, b)
    n, m = len(zx), len(zy)
    sx, sy = zx.sum(0), zy.sum(0)
    value = (
        (sx @ sx - np.sum(zx * zx)) / (n * (n - 1))
        + (sy @ sy - np.sum(zy * zy)) / (m * (m - 1))
        - 2.0 * (sx @ sy) / (n * m)
    )
    return float(value), hotelling_pvalue_reference(zx, zy)


def hotelling_pvalue_reference(zx: np.ndarray, zy: np.ndarray) -> float:
    """Hotelling T^2 of two mean vectors with the pooled covariance, chi^2(rank) p-value.

    Eigen-directions with eigenvalue < 1e-10 * the largest are dropped.
    """
    n, m = len(zx), len(zy)
    diff = zx.mean(0) - zy.mean(0)
    cx = np.cov(zx, rowvar=False, ddof=1)
    cy = np.cov(zy, rowvar=False, ddof=1)
    pooled = ((n - 1) * cx + (m - 1) * cy) / (n + m - 2)
    evals, evecs = np.linalg.eigh(pooled)
    keep = evals >= 1e-10 * evals.max()
    proj = evecs[:, keep].T @ diff
    t2 = float(np.sum(proj**2 / evals[keep]) / (1.0 / n + 1.0 / m))
    return float(stats.chi2.sf(t2, int(keep.sum())))


# ---------------------------------------------------------------------------------------------
# calibration


def binomial_interval(runs: int, level: float = 0.05, confidence: float = 0.99) -> tuple[float, float]:
    """The share of rejections a calibrated test shows in `runs` runs, `confidence` of the time."""
    lo, hi = stats.binom.interval(confidence, runs, level)
    return lo / runs, hi / runs


def roc_auc_reference(scores_negative, scores_positive) -> float:
    """ROC AUC = P(score_pos > score_neg) + 0.5 P(tie) (Mann-Whitney U / (n m))."""
    u = stats.mannwhitneyu(scores_positive, scores_negative, alternative="two-sided").statistic
    return float(u / (len(scores_negative) * len(scores_positive)))
