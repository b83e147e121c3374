"""encoder_mix_vectors: find rows embedded by another encoder from the stored vectors alone.

Every encoder writes into its own coordinate system with its own anisotropy: its vectors share a
mean direction (all-MiniLM-L6-v2's rows sit at cosine ~0.28 from their centroid) and a low-rank
subspace. Two topics embedded by one encoder still share that mean direction (chatterbot vs
python-docs centroids: cosine 0.26); rows of another encoder do not (minilm vs m2v centroids of
the same texts: cosine -0.003). Cosines across encoders are noise around 0. So:

1. a seeded sample of at most `SAMPLE` stored rows, unit-normalized, is clustered by spherical
   k-means (`CLUSTERS` clusters, k-means++ seeding);
2. clusters linked by centroid cosine >= `cosine_max` (default 0.1) form families; a cluster
   outside the largest family whose centroid has cosine below `cosine_max` with that family's
   rows is a candidate foreign group (_foreign_clusters); no such cluster: no alarm, and no pass
   over the whole index;
3. the group is refined on the sample by a subspace test: a row belongs to the group when the
   group's top-`RANK` (uncentered) singular subspace captures more of the row's energy than the
   rest's does; refit and repeat until stable (at most `REFINE` rounds). The refined group must
   still pass step 2 and hold at least `MIN_GROUP` sampled rows;
4. every stored row is classified by the same subspace test (one product of the rows with the two
   d x RANK bases, in blocks); those rows are the check's ids.

Measured on the shared real data (scripts/mix_vectors_acceptance.py, docs/audit.md): 5% of a
minilm index silently replaced by the m2v vectors of the same texts is found with precision and
recall >= 0.95; a clean minilm index of two unrelated topics gives no candidate group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from undertow import _core
from undertow.audit._checks import judged, not_run
from undertow.audit._index import IndexView
from undertow.audit._report import Check

SAMPLE = 10_000  # rows clustered and refined; the final pass reads every row
CLUSTERS = 16
KMEANS_ROUNDS = 25
RANK = 48  # the subspace rank per group (see _RANK_WHY)
REFINE = 4
MIN_MAJORITY = 0.6  # the largest family of clusters must hold this share of the sample
MIN_GROUP = 10  # sampled rows a foreign group needs before it is reported
MIN_ROWS = 200
GRAPH_K = 10
REFERENCES = 500  # sampled rows per side that confirm a row by its nearest neighbours
NEIGHBOURS = 3
NOISE_MADS = 4.0
EARLY = 64  # group references a row is first compared with (_confirmed)
BAND = 0.05  # rows whose margin is above -BAND (of their squared norm) are confirmed
CHOOSE = 2_000  # sampled rows that choose the bound's directions (_mean_form)
SLACK = 1e-3  # float32 rounding of the bound of _mean_form, of the squared norm
BLOCK = 32_768  # rows per float32 block of the final pass (48 MB of scratch at d=384)
# _RANK_WHY: on the real data, rank 32 left precision at 0.96 on some seeds, rank 64 reached
# 0.98-1.0; 48 keeps >= 0.95 over 10 seeds at 3/4 of rank 64's cost (measured,
# scripts/mix_vectors_acceptance.py).


def _unit(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 unit rows and the mask of usable (finite, non-zero) rows."""
    x = np.asarray(block, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    usable = np.isfinite(norms) & (norms > 0)
    out = np.zeros_like(x)
    out[usable] = x[usable] / norms[usable, None]
    return out, usable


def spherical_kmeans(x: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Labels of unit rows `x` by spherical k-means with k-means++ seeding on cosine distance."""
    centres = np.empty((clusters, x.shape[1]))
    centres[0] = x[rng.integers(len(x))]
    distance = np.maximum(1.0 - x @ centres[0], 0.0)
    for j in range(1, clusters):
        weight = distance**2
        total = weight.sum()
        pick = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=weight / total)
        centres[j] = x[pick]
        distance = np.minimum(distance, np.maximum(1.0 - x @ centres[j], 0.0))
    # the rounds in float32: they only compare cosines of unit rows, and half the bytes halve
    # their time (the seeding above stays float64: its draws follow the distances)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    labels = np.argmax(x32 @ centres.T.astype(np.float32), axis=1)
    for _ in range(KMEANS_ROUNDS):
        sums = np.eye(clusters, dtype=np.float32)[labels].T @ x32  # np.add.at: 0.25 s a round
        norms = np.linalg.norm(sums, axis=1)
        keep = norms > 0
        centres[keep] = sums[keep] / norms[keep, None]
        updated = np.argmax(x32 @ centres.T.astype(np.float32), axis=1)
        if np.array_equal(updated, labels):
            break
        labels = updated
    return labels


def centroid_cosine(x: np.ndarray, group: np.ndarray) -> float:
    """Cosine between the mean of the rows in `group` and the mean of the others."""
    inside, outside = x[group].mean(axis=0), x[~group].mean(axis=0)
    scale = float(np.linalg.norm(inside) * np.linalg.norm(outside))
    return float(inside @ outside / scale) if scale > 0 else 0.0


def _basis(x: np.ndarray, moment: np.ndarray | None = None, rows: int | None = None) -> np.ndarray:
    """The top right singular vectors of `x` (uncentered), d x r: at most RANK, and at most a
    quarter of the rows, so that a small group's subspace cannot fit its rows one by one.
    `moment`: x'x when the caller has it; then `rows` (x's row count) may stand for x."""
    count, dim = (rows, len(moment)) if rows is not None and moment is not None else x.shape
    rank = max(1, min(RANK, count // 4, dim - 1))
    # eigenvectors of the d x d second moment: the same subspace as an SVD of the rows, and
    # ~100x faster (numpy's SVD of 2,000 x 384 took seconds on a loaded 2-core machine)
    _, vectors = np.linalg.eigh(x.T @ x if moment is None else moment)
    return np.ascontiguousarray(vectors[:, ::-1][:, :rank])


def _margin(x: np.ndarray, bases: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """How much more of each row's energy the group's subspace captures than the rest's."""
    group_basis, rest_basis = bases
    in_group, in_rest = x @ group_basis, x @ rest_basis
    return np.einsum("ij,ij->i", in_group, in_group) - np.einsum("ij,ij->i", in_rest, in_rest)


def _margins(x: np.ndarray, stacked: np.ndarray, cuts: np.ndarray) -> list[np.ndarray]:
    """_margin of `x` with each fold's bases, from one product with the bases side by side
    (group 0, rest 0, group 1, rest 1; `cuts`: where each ends)."""
    energy = [np.einsum("ij,ij->i", p, p) for p in np.split(x @ stacked, cuts, axis=1)]
    return [energy[0] - energy[1], energy[2] - energy[3]]


def _mean_form(
    fold_bases: list[tuple[np.ndarray, np.ndarray]], sample: np.ndarray
) -> tuple[np.ndarray, int, float]:
    """An upper bound of the mean margin of the two folds from few directions: (d x r scaled
    directions, of which the first p add and the others subtract; the weight t of the
    squared norm).

    mean margin(x) = x'Mx with M = (G0 G0' - R0 R0' + G1 G1' - R1 R1') / 2 = sum_i l_i c_i^2
    over M's orthonormal eigenvectors v_i (c_i = v_i'x, sum_i c_i^2 = |x|^2). Keep the p
    largest positive and the m most negative eigenvalues; every other one is at most t (the
    largest positive one not kept, or 0), so x'Mx <= t |x|^2 + sum_kept (l_i - t) c_i^2. Each
    kept direction costs a column for every row; each row the bound leaves in costs the exact
    margin's 4 x RANK columns: (p, m) is chosen for the least cost on the (unit) sampled rows,
    a uniform sample of the index. The bound decides nothing: it only spares the exact test
    the rows it rules out."""
    m = np.zeros((fold_bases[0][0].shape[0],) * 2)
    for group_basis, rest_basis in fold_bases:
        g, r = group_basis.astype(np.float64), rest_basis.astype(np.float64)
        m += (g @ g.T - r @ r.T) / 2
    values, vectors = np.linalg.eigh(m)  # ascending
    positive = np.flatnonzero(values > 0)[::-1]  # largest first
    negative = np.flatnonzero(values < 0)  # most negative first
    squares = (sample[:CHOOSE] @ vectors) ** 2  # the sample is in random order
    best = (np.inf, 0, 0)
    for p in sorted({*range(0, len(positive), 8), len(positive)}):
        if p >= best[0]:
            break  # every cost from here on is at least p
        t = float(values[positive[p]]) if p < len(positive) else 0.0
        # bounds[:, j]: with the p largest and the j most negative directions; a cost is at
        # least p + j, so j >= best - p cannot win (a cumulative sum's prefix is the same floats)
        used = negative[: max(0, int(np.ceil(best[0])) - p)] if np.isfinite(best[0]) else negative
        base = t + squares[:, positive[:p]] @ (values[positive[:p]] - t)
        bounds = base[:, None] + np.cumsum(squares[:, used] * (values[used] - t), axis=1)
        left = np.mean(np.column_stack([base, bounds]) > -(BAND + SLACK), axis=0)
        cost = p + np.arange(len(used) + 1) + left * (4 * RANK)
        j = int(np.argmin(cost))
        best = min(best, (float(cost[j]), p, j))
    _, p, j = best
    t = float(values[positive[p]]) if p < len(positive) else 0.0
    # the kept directions scaled by sqrt(|l_i - t|): the bound is t |x|^2 plus the squared
    # length of x's first p projections minus that of the next j
    scale = np.sqrt(np.abs(values[np.concatenate([positive[:p], negative[:j]])] - t))
    directions = vectors[:, np.concatenate([positive[:p], negative[:j]])] * scale
    return np.ascontiguousarray(directions, dtype=np.float64), p, t


def _may_pass(part: np.ndarray, form: tuple[np.ndarray, int, float]) -> np.ndarray:
    """Rows of `part` whose mean margin may exceed -BAND x their squared norm: those where the
    bound of _mean_form does; SLACK (of the squared norm) covers the float32 rounding of the
    projections. One Rust pass (_core.form_bound_pass) reads the rows once for their norms and
    projections; rows holding NaN or inf go on to the exact test."""
    directions, p, t = form
    return _core.form_bound_pass(np.ascontiguousarray(part), directions, p, t, BAND + SLACK)


def _fit(
    x: np.ndarray, group: np.ndarray, total: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The group's and the rest's bases; `total`: x'x, from which the rest's second moment is
    the total minus the group's (the group is the small side: one short product per refit)."""
    if group.sum() < MIN_GROUP // 2 or (~group).sum() < MIN_GROUP // 2:
        return None
    inside = x[group]
    moment = inside.T @ inside
    rest = (x.T @ x if total is None else total) - moment
    return _basis(inside, moment), _basis(x, rest, rows=int((~group).sum()))


def _fold_totals(x: np.ndarray, fold: np.ndarray) -> list[np.ndarray]:
    """x'x over the rows outside each fold (the rows each fold's bases are fitted on)."""
    return [x[fold != f].T @ x[fold != f] for f in (0, 1)]


def _cross_fitted(
    x: np.ndarray, group: np.ndarray, fold: np.ndarray, totals: list[np.ndarray]
) -> np.ndarray | None:
    """The group test of every sampled row with bases fitted on the other fold (two folds): a
    row never votes for itself, which in-sample refits did (they absorbed 10% false rows)."""
    out = np.empty(len(x), dtype=bool)
    for f in (0, 1):
        bases = _fit(x[fold != f], group[fold != f], totals[f])
        if bases is None:
            return None
        out[fold == f] = _margin(x[fold == f], bases) > 0
    return out


def _graph_vote(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Relabel the sample by its own nearest-neighbour graph until stable: a row is in the group
    when most of its GRAPH_K nearest sampled rows are. Across encoders cosines are noise, so a
    row's nearest neighbours come from its own encoder (99.98% of top-1 neighbours on the real
    data); this removes the rows of the majority that the subspace test let in."""
    # the sample's own graph scores each pair once (_core.knn_graph: half the products of an
    # exact search of the sample against itself, the same neighbours)
    k = min(GRAPH_K, len(x) - 1)
    _, neighbours = _core.knn_graph(np.ascontiguousarray(x, dtype=np.float32), k)
    for _ in range(REFINE * 2):
        updated = group[neighbours].mean(axis=1) > 0.5
        if np.array_equal(updated, group):
            break
        group = updated
    return group


def _references(
    x: np.ndarray, group: np.ndarray, sampled_rows: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to REFERENCES sampled unit rows of each side (float32, group rows first), their index
    rows, and how many are group rows."""
    inside = np.flatnonzero(group)
    outside = np.flatnonzero(~group)
    inside = np.sort(rng.choice(inside, size=min(REFERENCES, len(inside)), replace=False))
    outside = np.sort(rng.choice(outside, size=min(REFERENCES, len(outside)), replace=False))
    chosen = np.concatenate([inside, outside])
    return np.ascontiguousarray(x[chosen], dtype=np.float32), sampled_rows[chosen], np.array(len(inside))


def _best_matches(
    unit: np.ndarray, index_rows: np.ndarray, references: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The mean cosine of each unit row to its NEIGHBOURS most similar sampled group rows, and
    to its most similar sampled rows of the rest (a row never counts itself)."""
    vectors, reference_rows, inside = references
    cut, take = int(inside), _take(references)
    group = _scores(unit, index_rows, vectors[:cut], reference_rows[:cut])
    rest = _scores(unit, index_rows, vectors[cut:], reference_rows[cut:])
    return _top_mean(group, take), _top_mean(rest, take)


def _confirmed(
    unit: np.ndarray,
    index_rows: np.ndarray,
    references: tuple[np.ndarray, np.ndarray, np.ndarray],
    ceiling: float,
) -> np.ndarray:
    """best_group > best_rest <= ceiling for each unit row (_best_matches), computing no more
    than that needs: a row over the ceiling is out without its group scores, and a row whose
    best matches among every EARLY-th group reference already beat best_rest is in (the top
    scores of a subset are at most those of the whole)."""
    vectors, reference_rows, inside = references
    cut, take = int(inside), _take(references)
    step = cut // EARLY
    if step >= 2:
        # the rest's and the first group references' scores in one product: the rows are packed
        # once (the same floats as two products), and a row over the ceiling wastes few columns
        both = _scores(unit, index_rows, np.concatenate([vectors[cut:], vectors[:cut:step]]), None)
        rest_scores, first_scores = both[:, : len(vectors) - cut], both[:, len(vectors) - cut :]
        _exclude_self(rest_scores, index_rows, reference_rows[cut:])
        _exclude_self(first_scores, index_rows, reference_rows[:cut:step])
    else:
        rest_scores = _scores(unit, index_rows, vectors[cut:], reference_rows[cut:])
    best_rest = _top_mean(rest_scores, take)
    out = np.zeros(len(unit), dtype=bool)
    live = np.flatnonzero(best_rest <= ceiling)
    if step >= 2 and len(live):
        early = _top_mean(first_scores[live], take) > best_rest[live]
        out[live[early]] = True
        live = live[~early]
    if len(live):
        group = _scores(unit[live], index_rows[live], vectors[:cut], reference_rows[:cut])
        out[live] = _top_mean(group, take) > best_rest[live]
    return out


def _take(references: tuple[np.ndarray, np.ndarray, np.ndarray]) -> int:
    cut, total = int(references[2]), len(references[1])
    return max(1, min(NEIGHBOURS, cut - 1, total - cut - 1))


def _scores(
    unit: np.ndarray, index_rows: np.ndarray, vectors: np.ndarray, vector_rows: np.ndarray | None
) -> np.ndarray:
    """unit @ vectors.T, with -inf where a row meets itself (vector_rows: sorted index rows;
    None: the caller excludes)."""
    scores = unit @ np.ascontiguousarray(vectors).T
    if vector_rows is not None:
        _exclude_self(scores, index_rows, vector_rows)
    return scores


def _exclude_self(scores: np.ndarray, index_rows: np.ndarray, vector_rows: np.ndarray) -> None:
    """-inf in `scores` (rows x vectors) where a row meets itself (vector_rows: sorted)."""
    if len(vector_rows):
        at = np.minimum(np.searchsorted(vector_rows, index_rows), len(vector_rows) - 1)
        hit = np.flatnonzero(vector_rows[at] == index_rows)
        scores[hit, at[hit]] = -np.inf


def _top_mean(scores: np.ndarray, take: int) -> np.ndarray:
    """The mean of each row's `take` largest scores, summed largest first (as a full sort
    would: the same floats); a partition instead of a sort of all 1,000 columns."""
    if take < scores.shape[1]:
        scores = np.partition(scores, scores.shape[1] - take, axis=1)[:, scores.shape[1] - take :]
    return -np.sort(-scores, axis=1)[:, :take].mean(axis=1)


def _largest(family: np.ndarray, sizes: np.ndarray) -> tuple[int, dict[int, int]]:
    """The family holding the most rows (the lowest label on a tie), and the rows per family."""
    rows = {f: int(sizes[family == f].sum()) for f in set(family.tolist()) if f >= 0}
    return max(rows, key=lambda f: (rows[f], -f)), rows


def _foreign_clusters(
    x: np.ndarray, labels: np.ndarray, sizes: np.ndarray, cosine_max: float
) -> tuple[np.ndarray, float, float, float]:
    """(candidate clusters, the share of rows in the majority family, the least centroid cosine
    of a cluster to all other rows, the median centroid cosine of two clusters of the majority
    family).

    Clusters linked by centroid cosine >= cosine_max form families: one encoder's topics link
    up; another encoder's clusters link only among themselves (they share their own mean
    direction). A candidate is a cluster outside the largest family whose centroid has cosine
    < cosine_max to that family's rows.

    A foreign cluster can enter the largest family through one noise link (cosines across
    encoders are noise: the demo's 37 foreign rows linked at 0.105 to a 17-row minilm cluster).
    So a cluster of that family that points away from its other rows (cosine < cosine_max) and
    joined it through one weak link only (< 2 x cosine_max) is taken out of it again. Within one
    encoder the clusters that point away from the rest link more strongly than that (clean m2v
    index: a strongest link of 0.18-0.41 and a second >= 0.12; scripts/mix_vectors_acceptance.py)."""
    clusters = len(sizes)
    sums = np.eye(clusters)[labels].T @ x
    norms = np.linalg.norm(sums, axis=1)
    centres = sums / np.where(norms > 0, norms, 1.0)[:, None]
    total = sums.sum(axis=0)
    to_rest = [
        float(centres[j] @ (total - sums[j]) / max(np.linalg.norm(total - sums[j]), 1e-300))
        for j in range(clusters)
        if 0 < sizes[j] < len(x)
    ]
    present = sizes > 0
    pair_cosine = centres @ centres.T
    linked = (pair_cosine >= cosine_max) & present[:, None] & present[None, :]
    np.fill_diagonal(linked, False)
    family = np.full(clusters, -1)
    for start in range(clusters):
        if family[start] >= 0 or sizes[start] == 0:
            continue
        family[start] = start
        stack = [start]
        while stack:
            j = stack.pop()
            for other in np.flatnonzero(linked[j] & (family < 0)):
                family[other] = start
                stack.append(other)
    majority, _ = _largest(family, sizes)
    members = family == majority
    majority_sum = sums[members].sum(axis=0)
    others = majority_sum[None, :] - sums
    away = np.einsum("ij,ij->i", centres, others) / np.maximum(np.linalg.norm(others, axis=1), 1e-300)
    one_weak_link = (linked[:, members].sum(axis=1) == 1) & (
        (pair_cosine * linked)[:, members].max(axis=1) < 2 * cosine_max
    )
    family[members & (away < cosine_max) & one_weak_link] = -2  # out again: each its own family
    family[family == -2] = np.flatnonzero(family == -2) + clusters
    majority, rows_per_family = _largest(family, sizes)
    majority_sum = sums[family == majority].sum(axis=0)
    majority_dir = majority_sum / max(float(np.linalg.norm(majority_sum)), 1e-300)
    candidates = np.flatnonzero(
        (family != majority) & (sizes >= MIN_GROUP) & (centres @ majority_dir < cosine_max)
    )
    # the premise is tested within the majority family: pairs across encoders are ~0, and at a
    # 20% mix they pulled the median of all pairs under the bound (not_run in 3 of 5 seeds)
    inside = present & (family == majority)
    pairs = pair_cosine[np.ix_(inside, inside)][np.triu_indices(int(inside.sum()), 1)]
    median_pair = float(np.median(pairs)) if len(pairs) else 1.0
    return candidates, rows_per_family[majority] / len(x), min(to_rest) if to_rest else 1.0, median_pair


def encoder_mix_vectors(view: IndexView, limits: dict[str, Any], seed: int) -> Check:
    """The check (the pass over every row reads each row once, norms included:
    _core.form_bound_pass), with numpy's BLAS on one thread.

    Its BLAS calls are small (384 x 384 eigendecompositions, k-means and confirmation products
    of a few thousand rows) and run beside Rayon's threads: on a loaded 2-core machine OpenBLAS's
    own threads made the check 2-3x slower (1e6 x 384, load ~8: 32-48 s wall and 10-18 s CPU
    with its default 2 threads, 17-18 s wall and 3.5 s CPU with one; docs/audit.md)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _encoder_mix_vectors(view, limits, seed)


def _encoder_mix_vectors(view: IndexView, limits: dict[str, Any], seed: int) -> Check:
    name = "encoder_mix_vectors"
    cosine_max = float(limits["encoder_mix_vectors_cosine"])
    n = view.ntotal
    if n < MIN_ROWS:
        return not_run(name, f"the index holds {n} vectors; the check needs at least {MIN_ROWS}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(n, SAMPLE), replace=False))
    x, usable = _unit(view.get(rows))
    x = x[usable]
    if len(x) < MIN_ROWS:
        return not_run(name, f"fewer than {MIN_ROWS} sampled vectors are finite and non-zero")
    clusters = max(2, min(CLUSTERS, len(x) // 50))
    labels = spherical_kmeans(x, clusters, rng)
    sizes = np.bincount(labels, minlength=clusters)
    candidates, majority_share, min_cosine, median_pair = _foreign_clusters(x, labels, sizes, cosine_max)
    detail: dict[str, Any] = {
        "sampled": len(x),
        "clusters": clusters,
        "cosine_max": cosine_max,
        "min_cluster_cosine": min_cosine,
        "majority_share": majority_share,
        "median_cluster_pair_cosine": median_pair,
    }

    def clear(why: str) -> Check:
        return judged(name, 0.0, limits[name], n, np.empty(0, dtype=np.int64), why, detail=detail)

    if median_pair < cosine_max or majority_share < MIN_MAJORITY:
        # the premise of the check: one encoder's clusters share a mean direction (median pair
        # cosine 0.21-0.25 for minilm, 0.45-0.54 for m2v; ~0 for isotropic synthetic clusters)
        return not_run(
            name,
            f"the sampled clusters share no mean direction (the largest family linked by cosine "
            f">= {cosine_max} holds {majority_share:.0%}; the median centroid cosine of two of its "
            f"clusters is {median_pair:.3f}): another encoder's rows cannot be told from other topics",
        )
    if len(candidates) == 0:
        return clear(
            f"no group of stored vectors points away from the rest: the least similar of {clusters} "
            f"sampled clusters has centroid cosine {min_cosine:.3f} to the others (>= {cosine_max})"
        )
    group = np.isin(labels, candidates)
    fold = rng.integers(0, 2, size=len(x))
    totals = _fold_totals(x, fold)
    for _ in range(REFINE):
        updated = _cross_fitted(x, group, fold, totals)
        if updated is None or np.array_equal(updated, group):
            break
        group = updated
    group = _graph_vote(x, group)
    bases = [_fit(x[fold != f], group[fold != f], totals[f]) for f in (0, 1)]
    if group.sum() < MIN_GROUP or (~group).sum() < MIN_GROUP or bases[0] is None or bases[1] is None:
        return clear(f"a candidate group dissolved on refinement (below {MIN_GROUP} sampled rows)")
    group_cosine = centroid_cosine(x, group)
    detail["group_cosine"] = group_cosine
    if group_cosine >= cosine_max:
        return clear(
            f"a candidate group shares the others' mean direction after refinement (cosine "
            f"{group_cosine:.3f} >= {cosine_max}): one encoder, several topics"
        )
    # the pass over every row runs in float32: it compares two captured energies, and float64
    # products doubled its time at 1e6 x 384. A sampled row is judged by the other fold's bases
    # (out of sample); any other row by the mean margin of both folds. Rows on the group's side
    # (and a band just below) are then confirmed by their nearest sampled neighbours.
    fold_bases = [(g.astype(np.float32), r.astype(np.float32)) for g, r in bases]  # type: ignore[misc]
    fold_of_row = np.full(n, -1, dtype=np.int8)
    fold_of_row[rows[usable]] = fold
    # the sampled rows the refinement put in the group are confirmed whatever their margin: the
    # subspace of a small group (the demo's 40 foreign rows of 1,190: rank 4 per fold) misses
    # some of its own rows, and the graph vote that placed them has already seen every sampled row
    group_row = np.zeros(n, dtype=bool)
    group_row[rows[usable][group]] = True
    references = _references(x, group, rows[usable], rng)
    # Across encoders the best matches are noise: a group row's best match among the rest
    # must not exceed the group's own noise level (median + NOISE_MADS robust SDs). A small
    # tight topic of the majority encoder that the graph kept (20 tech-support sentences on the
    # real data) has real matches in the rest (0.25-0.41 vs the m2v rows' <= 0.2).
    _, group_rest = _best_matches(
        np.ascontiguousarray(x[group], dtype=np.float32), rows[usable][group], references
    )
    centre = float(np.median(group_rest))
    ceiling = centre + NOISE_MADS * 1.4826 * float(np.median(np.abs(group_rest - centre)))
    detail["noise_ceiling"] = ceiling
    form = _mean_form(fold_bases, x)
    # the four bases side by side: one product per block packs its rows once, not four times
    # (the same floats as four products)
    stacked = np.ascontiguousarray(np.hstack([b for pair in fold_bases for b in pair]))
    cuts = np.cumsum([b.shape[1] for pair in fold_bases for b in pair])[:-1]
    flagged: list[np.ndarray] = []
    for start, block in view.chunks():
        for first in range(0, len(block), BLOCK):
            part = np.asarray(block[first : first + BLOCK], dtype=np.float32)
            lo = start + first
            where = fold_of_row[lo : lo + len(part)]
            # the exact test below runs on the rows that may pass it: the sampled rows and the
            # rows the bound of _mean_form does not rule out (about the group's share)
            rows_in = np.flatnonzero((where >= 0) | _may_pass(part, form))
            if len(rows_in) == 0:
                continue
            part, where = part[rows_in], where[rows_in]
            with np.errstate(invalid="ignore", over="ignore"):
                margins = _margins(part, stacked, cuts)
                # bases[f] was fitted on the rows outside fold f, so fold f's rows use it
                mean = (margins[0] + margins[1]) / 2
                margin = np.where(where == 0, margins[0], np.where(where == 1, margins[1], mean))
                row_norms = np.sqrt(np.einsum("ij,ij->i", part, part))
            ok = np.isfinite(row_norms) & (row_norms > 0)
            in_group = group_row[lo + rows_in]
            maybe = np.flatnonzero(ok & ((margin > -BAND * row_norms**2) | in_group))
            if len(maybe):
                unit = part[maybe] / row_norms[maybe, None]
                confirmed = _confirmed(unit, lo + rows_in[maybe], references, ceiling)
                flagged.append(lo + rows_in[maybe[confirmed]])
    found = np.concatenate(flagged) if flagged else np.empty(0, dtype=np.int64)
    detail["sampled_group"] = int(group.sum())
    share = len(found) / n
    return judged(
        name,
        share,
        limits[name],
        n,
        np.sort(view.ids[found]),
        f"{len(found)} stored vectors ({share:.2%}) look embedded by another encoder: their "
        f"centroid has cosine {group_cosine:.3f} to the rest's (one encoder's topics share a mean "
        "direction); re-embed them or check the write path",
        detail=detail,
    )
