"""The baselines of the embedding-drift benches (benches/test_bench_embedding.py): numpy, scipy
and scikit-learn versions of what undertow computes, per docs/embedding_api.md.

Every numpy version here accumulates in float64 and reads a float32 matrix in blocks of rows (a
float64 copy of one block at a time), so its memory stays bounded like undertow's: the baselines
are meant to be *careful* versions of the same statistics, not strawmen. The one deliberate
exception is `numpy_mmd_permute`, which permutes the full kernel matrix the way alibi-detect's
MMDDrift does (`kernel_mat[idx][:, idx]` per permutation); `numpy_mmd_batched` is the careful
version of the same permutation test (all permutations in one matrix product).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from _read_pass import READ_THREADS, read_pass_single, read_pass_threads  # noqa: F401 (re-exported)

QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
PSI_EPS = 1e-4
PSI_THRESHOLDS = (0.1, 0.25)
BLOCK_ROWS = 16384  # 16384 x 384 float64 = 50 MB per block

# ---------------------------------------------------------------------------------------------
# Shared pieces


def row_blocks(n: int, block: int = BLOCK_ROWS) -> Iterator[slice]:
    for start in range(0, n, block):
        yield slice(start, min(start + block, n))


def psi_status(value: float, thresholds: tuple[float, float] = PSI_THRESHOLDS) -> str:
    if value < thresholds[0]:
        return "stable"
    return "moderate" if value < thresholds[1] else "significant"


def numpy_psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10, eps: float = PSI_EPS) -> float:
    """undertow.psi in numpy: quantile edges of `expected` (numpy's linear method, float64,
    duplicates removed), outer edges open, a value on an edge goes right, proportions floored."""
    interior = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1))[1:-1])
    edges = np.r_[-np.inf, interior, np.inf]
    e = np.histogram(expected, bins=edges)[0]
    a = np.histogram(actual, bins=edges)[0]
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


# ---------------------------------------------------------------------------------------------
# Read passes (the memory-bandwidth yardstick; as in test_bench_psi.py)


# ---------------------------------------------------------------------------------------------
# 1. Cosine statistics


def _norms(block64: np.ndarray, name: str, offset: int) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", block64, block64))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name}: zero rows, first {(zero[:5] + offset).tolist()}")
    return norms


def numpy_cosine_drift(
    reference: np.ndarray,
    current: np.ndarray,
    bins: int = 10,
    norm_tolerance: float = 0.01,
    block: int = BLOCK_ROWS,
) -> dict[str, Any]:
    """undertow.cosine_drift in numpy, float64 throughout, one block of rows at a time.

    Reads the reference twice (pass 1: norms and the sum of unit rows -> centroid; pass 2: the
    cosine of each row to the centroid) and the current once (norms, unit-row sum and cosines in
    the same pass), like the contract forces undertow to. Keeps the n reference norms (8 bytes a
    row) between the two passes instead of recomputing them.
    """
    n, m = len(reference), len(current)
    ref_norms = np.empty(n)
    ref_unit_sum = np.zeros(reference.shape[1])
    for s in row_blocks(n, block):
        b = reference[s].astype(np.float64)
        ref_norms[s] = norms = _norms(b, "reference", s.start)
        ref_unit_sum += (1.0 / norms) @ b
    c_ref = ref_unit_sum / n
    c_ref_norm = float(np.sqrt(c_ref @ c_ref))
    ref_cos = np.empty(n)
    for s in row_blocks(n, block):
        ref_cos[s] = (reference[s].astype(np.float64) @ c_ref) / (ref_norms[s] * c_ref_norm)

    cur_norms = np.empty(m)
    cur_unit_sum = np.zeros(current.shape[1])
    cur_cos = np.empty(m)
    for s in row_blocks(m, block):
        b = current[s].astype(np.float64)
        cur_norms[s] = norms = _norms(b, "current", s.start)
        cur_unit_sum += (1.0 / norms) @ b
        cur_cos[s] = (b @ c_ref) / (norms * c_ref_norm)
    c_cur = cur_unit_sum / m

    cos_centroids = float(c_ref @ c_cur) / (c_ref_norm * float(np.sqrt(c_cur @ c_cur)))
    value = numpy_psi(ref_cos, cur_cos, bins)
    return {
        "centroid_distance": 1.0 - cos_centroids,
        "cosine_psi": value,
        "reference_quantiles": np.quantile(ref_cos, QUANTILE_LEVELS),
        "current_quantiles": np.quantile(cur_cos, QUANTILE_LEVELS),
        "reference_mean_norm": float(np.mean(ref_norms)),
        "current_mean_norm": float(np.mean(cur_norms)),
        "reference_off_norm_share": float(np.mean(np.abs(ref_norms - 1.0) > norm_tolerance)),
        "current_off_norm_share": float(np.mean(np.abs(cur_norms - 1.0) > norm_tolerance)),
        "n_reference": n,
        "n_current": m,
        "status": psi_status(value),
    }


# ---------------------------------------------------------------------------------------------
# 2. PCA


def _sign_convention(components: np.ndarray) -> np.ndarray:
    """Each row's entry of largest absolute value made positive (the contract's convention)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def numpy_pca_cov_eigh(x: np.ndarray, components: int = 32, block: int = BLOCK_ROWS) -> dict[str, Any]:
    """Covariance (ddof=1) accumulated in float64 block by block, exactly centred (two passes:
    the mean, then the centred cross-products), then numpy.linalg.eigh; top `components`."""
    n, d = x.shape
    total = np.zeros(d)
    for s in row_blocks(n, block):
        total += x[s].sum(axis=0, dtype=np.float64)
    mean = total / n
    cross = np.zeros((d, d))
    for s in row_blocks(n, block):
        b = x[s].astype(np.float64)
        b -= mean
        cross += b.T @ b
    cov = cross / (n - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1][:components]
    total_variance = float(np.trace(cov))
    explained = eigenvalues[order]
    return {
        "mean": mean,
        "components": _sign_convention(eigenvectors[:, order].T),
        "explained_variance": explained,
        "explained_variance_ratio": explained / total_variance,
        "total_variance": total_variance,
        "n_samples": n,
        "dim": d,
    }


def sklearn_pca_randomized(x: np.ndarray, components: int = 32, seed: int = 0) -> Any:
    from sklearn.decomposition import PCA

    return PCA(n_components=components, svd_solver="randomized", random_state=seed).fit(x)


def max_principal_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Largest principal angle (radians) between the row spaces of a and b (k x d each)."""
    from scipy.linalg import subspace_angles

    return float(np.max(subspace_angles(np.asarray(a, np.float64).T, np.asarray(b, np.float64).T)))


def max_component_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Largest angle (radians) between matching rows of a and b, sign ignored (from the chord
    between the unit rows, accurate near 0 where arccos of the dot product is not)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    b = b * np.where(np.einsum("ij,ij->i", a, b) < 0, -1.0, 1.0)[:, None]
    return float(np.max(2.0 * np.arcsin(np.minimum(np.linalg.norm(a - b, axis=1) / 2.0, 1.0))))


# ---------------------------------------------------------------------------------------------
# 3. Exact MMD with a permutation test


def median_bandwidth(x: np.ndarray, y: np.ndarray, sample: int = 1000, seed: int = 0) -> float:
    """The contract's median heuristic: numpy.median of the pairwise Euclidean distances of the
    pooled sample (all of a side when it has <= `sample` rows, else `sample` rows drawn without
    replacement; numpy's generator, so not undertow's rows)."""
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(seed)
    parts = []
    for side in (x, y):
        if len(side) > sample:
            side = side[np.sort(rng.choice(len(side), sample, replace=False))]
        parts.append(np.asarray(side, np.float64))
    median = float(np.median(pdist(np.concatenate(parts))))
    if median == 0:
        raise ValueError("median pairwise distance is 0")
    return median


def rbf_kernel_matrix(pooled: np.ndarray, bandwidth: float) -> np.ndarray:
    """k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)) over all pairs, float64, in place on one
    (N, N) matrix (from the Gram matrix: ||a||^2 + ||b||^2 - 2 <a, b>, clipped at 0)."""
    z = np.asarray(pooled, np.float64)
    sq = np.einsum("ij,ij->i", z, z)
    k = z @ z.T
    k *= -2.0
    k += sq[:, None]
    k += sq[None, :]
    np.maximum(k, 0.0, out=k)
    k *= -1.0 / (2.0 * bandwidth * bandwidth)
    np.exp(k, out=k)
    return k


def _resolve_bandwidth(x: np.ndarray, y: np.ndarray, bandwidth: float | str, seed: int) -> float:
    return median_bandwidth(x, y, seed=seed) if bandwidth == "median" else float(bandwidth)


def mmd2_unbiased_from_kernel(k: np.ndarray, n: int) -> float:
    """Unbiased MMD^2 with the first n rows as x and the rest as y; k's diagonal must be 0."""
    m = len(k) - n
    return float(
        k[:n, :n].sum() / (n * (n - 1)) + k[n:, n:].sum() / (m * (m - 1)) - 2.0 * k[:n, n:].sum() / (n * m)
    )


def numpy_mmd_permute(
    x: np.ndarray, y: np.ndarray, permutations: int = 100, bandwidth: float | str = "median", seed: int = 0
) -> tuple[float, float | None, float]:
    """What alibi-detect's MMDDrift does, in numpy float64: the full (n+m)^2 kernel matrix, its
    diagonal zeroed, and for each permutation `k[idx][:, idx]` (two full copies) and the block
    sums. Returns (MMD^2, p-value with the contract's (1 + #>=) / (1 + permutations), bandwidth)."""
    n = len(x)
    bw = _resolve_bandwidth(x, y, bandwidth, seed)
    k = rbf_kernel_matrix(np.concatenate([x, y]), bw)
    np.fill_diagonal(k, 0.0)
    observed = mmd2_unbiased_from_kernel(k, n)
    if permutations == 0:
        return observed, None, bw
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):
        idx = rng.permutation(len(k))
        hits += mmd2_unbiased_from_kernel(k[idx][:, idx], n) >= observed
    return observed, (1 + hits) / (1 + permutations), bw


def numpy_mmd_batched(
    x: np.ndarray, y: np.ndarray, permutations: int = 100, bandwidth: float | str = "median", seed: int = 0
) -> tuple[float, float | None, float]:
    """The same permutation test, done carefully: the full float64 kernel matrix once (diagonal
    zeroed), and every permutation's block sums from one matrix product k @ S, where column p of
    S is the 0/1 indicator of the rows labelled x (column 0 the observed labels):
    sum_xx = s.(k s), sum_xy = s.(k 1) - sum_xx, sum_yy = 1.(k 1) - sum_xx - 2 sum_xy."""
    n, m = len(x), len(y)
    big_n = n + m
    bw = _resolve_bandwidth(x, y, bandwidth, seed)
    k = rbf_kernel_matrix(np.concatenate([x, y]), bw)
    np.fill_diagonal(k, 0.0)
    rng = np.random.default_rng(seed)
    labels = np.zeros((big_n, permutations + 1))
    labels[:n, 0] = 1.0
    for p in range(1, permutations + 1):
        labels[rng.permutation(big_n)[:n], p] = 1.0
    ks = k @ labels
    row_sums = k.sum(axis=1)
    total = float(row_sums.sum())
    s_xx = np.einsum("ij,ij->j", labels, ks)
    s_xy = labels.T @ row_sums - s_xx
    s_yy = total - s_xx - 2.0 * s_xy
    stats = s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)
    observed = float(stats[0])
    if permutations == 0:
        return observed, None, bw
    return observed, (1 + int(np.sum(stats[1:] >= observed))) / (1 + permutations), bw


def numpy_mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """The unbiased MMD^2 alone (no permutations) with a given bandwidth: the cross-check."""
    k = rbf_kernel_matrix(np.concatenate([x, y]), bandwidth)
    np.fill_diagonal(k, 0.0)
    return mmd2_unbiased_from_kernel(k, len(x))


# ---------------------------------------------------------------------------------------------
# 4. MMD with random Fourier features


def numpy_rff_mmd(
    x: np.ndarray,
    y: np.ndarray,
    features: int = 256,
    bandwidth: float | str = "median",
    seed: int = 0,
    block: int = 65536,
) -> dict[str, Any]:
    """estimator="rff" in numpy, float64: z(v) = sqrt(2/D) cos(W v + b), W ~ N(0, I / bw^2),
    b ~ U[0, 2 pi) (numpy's generator, so not undertow's W). Per side, block by block: the feature
    sum, the sum of |z|^2, and the shifted cross-product matrix for the covariance. value = the
    unbiased MMD^2 of the features; p-value = Hotelling's T^2 of the two feature means with the
    pooled covariance (eigenvalues < 1e-10 x the largest dropped), chi^2 with rank d.o.f."""
    from scipy.stats import chi2

    bw = _resolve_bandwidth(x, y, bandwidth, seed)
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    w = rng.standard_normal((d, features)) / bw
    b = rng.uniform(0.0, 2.0 * np.pi, features)
    scale = np.sqrt(2.0 / features)

    def side(v: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, int]:
        total = np.zeros(features)
        sq = 0.0
        shift: np.ndarray | None = None
        cross = np.zeros((features, features))
        for s in row_blocks(len(v), block):
            z = v[s].astype(np.float64) @ w
            z += b
            np.cos(z, out=z)
            z *= scale
            total += z.sum(axis=0)
            sq += float(np.einsum("ij,ij->", z, z))
            if shift is None:
                shift = z.mean(axis=0)
            z -= shift
            cross += z.T @ z
        assert shift is not None
        n = len(v)
        mean = total / n
        centred = mean - shift  # cross-products about the mean: C = cross - n (mean-shift)(mean-shift)^T
        cov = (cross - n * np.outer(centred, centred)) / (n - 1)
        return total, sq, cov, n

    sx, qx, cx, n = side(x)
    sy, qy, cy, m = side(y)
    value = (sx @ sx - qx) / (n * (n - 1)) + (sy @ sy - qy) / (m * (m - 1)) - 2.0 * (sx @ sy) / (n * m)
    pooled = ((n - 1) * cx + (m - 1) * cy) / (n + m - 2) * (1.0 / n + 1.0 / m)
    eigenvalues, eigenvectors = np.linalg.eigh(pooled)
    keep = eigenvalues >= 1e-10 * eigenvalues.max()
    diff = eigenvectors[:, keep].T @ (sx / n - sy / m)
    t2 = float(np.sum(diff * diff / eigenvalues[keep]))
    rank = int(keep.sum())
    return {
        "value": float(value),
        "p_value": float(chi2.sf(t2, rank)),
        "bandwidth": bw,
        "t2": t2,
        "rank": rank,
    }


# ---------------------------------------------------------------------------------------------
# 5. EmbeddingDrift.fit + compare, step by step


def domain_auc(ref_sample: np.ndarray, cur_sample: np.ndarray, seed: int = 0) -> float:
    """ROC AUC of a logistic-regression domain classifier (reference 0, current 1) on standardized
    features (scikit-learn's StandardScaler + LogisticRegression, default C=1), out-of-fold scores
    of a stratified, shuffled 5-fold cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.concatenate([ref_sample, cur_sample]).astype(np.float64)
    labels = np.r_[np.zeros(len(ref_sample)), np.ones(len(cur_sample))]
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    scores = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(labels, scores))


def numpy_embedding_drift(
    reference: np.ndarray,
    current: np.ndarray,
    components: int = 32,
    bins: int = 10,
    sample: int = 2000,
    seed: int = 0,
    permutations: int = 200,
    alpha: float = 0.05,
    component_threshold: float = 0.25,
) -> dict[str, Any]:
    """EmbeddingDrift.fit(reference).compare(current) with numpy/scipy/scikit-learn, step by step
    as undertow's implementation does them (python/undertow/embedding/drift.py):

    * fit: cosine statistics of the reference; min(sample, n // 2) reference rows held out (a
      seeded numpy draw; undertow picks them by a seeded row hash, so not the same rows), the PCA
      (float64 covariance + eigh) fitted on the other rows, the held-out rows projected;
    * compare: cosine statistics of the current rows; every current row projected; per component
      the PSI with quantile bins on the held-out reference projections; at most `sample` current
      projections drawn; exact MMD (batched permutations, median bandwidth) and the domain
      classifier's AUC of held-out reference vs current sample; the status rule.
    """
    n = len(reference)
    cosine = numpy_cosine_drift(reference, current, bins=bins)
    rng = np.random.default_rng(seed)
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, min(sample, n // 2), replace=False)] = True
    pca = numpy_pca_cov_eigh(reference[~held], components)
    axes = pca["components"].T
    ref_proj = (reference[held].astype(np.float64) - pca["mean"]) @ axes
    cur_proj = (current.astype(np.float64) - pca["mean"]) @ axes
    component_psi = np.array([numpy_psi(ref_proj[:, j], cur_proj[:, j], bins) for j in range(components)])
    cur_s = cur_proj
    if len(cur_proj) > sample:
        cur_s = cur_proj[np.sort(rng.choice(len(cur_proj), sample, replace=False))]
    value, p_value, bw = numpy_mmd_batched(ref_proj, cur_s, permutations, "median", seed)
    auc = domain_auc(ref_proj, cur_s, seed)
    if p_value is None or p_value >= alpha:
        status = "stable"
    elif auc >= 0.9 or cosine["centroid_distance"] >= 0.25:
        status = "severe"
    else:
        status = "drift"
    return {
        "cosine": cosine,
        "pca": pca,
        "mmd": {"value": value, "p_value": p_value, "bandwidth": bw},
        "component_psi": component_psi,
        "drifted_share": float(np.mean(component_psi >= component_threshold)),
        "domain_auc": auc,
        "status": status,
        "held_out": int(held.sum()),
    }
