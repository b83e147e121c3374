"""`ut.mmd` against an independent float64 numpy permutation test, on the calibration's draws.

    PYTHONPATH=python python scripts/calibration/mmd_reference_check.py \
        --corpus docs-m2v=/path/docs.npz:emb --design dup-halves --replicates 300 --rows 500

Each replicate draws the two sides exactly as `embedding_calibration.py` does (seed r) and
tests them twice: `ut.mmd` (median bandwidth, `permutations`, seed 0, as the report) and a
numpy test written from the definition: the full float64 kernel matrix of the pooled rows,
the median of all pairwise distances as bandwidth, the unbiased MMD^2 of the observed split
and of `reference_permutations` uniformly random splits drawn with numpy's generator (seed
10**6 + r), p = (1 + #{permuted >= observed}) / (1 + B), ties within 1e-12 of the terms'
scale counted as ties. Both are exact Monte Carlo permutation tests of the same statistic,
so their rates of p < alpha must agree up to the Monte Carlo noise of each p-value, and the
observed statistics must agree to rounding. Prints both rates with their 99% intervals and
the largest differences; writes the per-replicate rows to --out.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embedding_calibration import sides
from embedding_common import load_corpus, rate_interval, write_json

import undertow as ut


def numpy_test(x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator):
    """(observed unbiased MMD^2, permutation p-value, bandwidth), all in float64."""
    z = np.vstack([x, y]).astype(np.float64)
    n, total = len(x), len(z)
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    bandwidth = float(np.median(np.sqrt(d2[np.triu_indices(total, 1)])))
    k = np.exp(-d2 / (2.0 * bandwidth**2))
    np.fill_diagonal(k, 0.0)
    labels = np.zeros((total, permutations + 1))
    labels[:n, 0] = 1.0
    for j in range(1, permutations + 1):
        labels[rng.choice(total, n, replace=False), j] = 1.0
    k_labels = k @ labels
    xx = np.sum(labels * k_labels, axis=0)  # a'Ka
    row = k_labels.sum(axis=0)  # a'K1
    xy = row - xx
    yy = k.sum() - 2.0 * row + xx
    m = total - n
    terms = (xx / (n * (n - 1)), yy / (m * (m - 1)), 2.0 * xy / (n * m))
    stat = terms[0] + terms[1] - terms[2]
    scale = terms[0][0] + terms[1][0] + terms[2][0]
    hits = int(np.sum(stat[1:] >= stat[0] - 1e-12 * scale))
    return float(stat[0]), (1 + hits) / (1 + permutations), bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", required=True, help="NAME=PATH:KEY")
    parser.add_argument("--design", default="dup-halves", choices=["halves", "dup-halves"])
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--first-replicate", type=int, default=0)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--reference-permutations", type=int, default=1000)
    parser.add_argument("--out", default="mmd_reference_check.json")
    args = parser.parse_args()
    name, x, _ = load_corpus(args.corpus)
    rows = []
    first = args.first_replicate
    for r in range(first, first + args.replicates):
        a, b, _ = sides(len(x), args.design, r)
        ref, cur = x[a[: args.rows]], x[b[: args.rows]]
        got = ut.mmd(ref, cur, permutations=args.permutations, seed=0)
        value, p, bandwidth = numpy_test(
            ref, cur, args.reference_permutations, np.random.default_rng(10**6 + r)
        )
        rows.append(
            {
                "replicate": r,
                "p_undertow": got.p_value,
                "p_numpy": p,
                "value_undertow": got.value,
                "value_numpy": value,
                "bandwidth_undertow": got.bandwidth,
                "bandwidth_numpy": bandwidth,
            }
        )
    write_json(args.out, rows)
    k = len(rows)
    print(f"{name} {args.design}, {k} replicates (seeds {first}-{first + k - 1}), {args.rows} rows/side")
    for key, perms in (("p_undertow", args.permutations), ("p_numpy", args.reference_permutations)):
        p = np.array([row[key] for row in rows])
        hits = int(np.sum(p < args.alpha))
        lo, hi = rate_interval(hits, k)
        q = " / ".join(f"{v:.3f}" for v in np.quantile(p, [0.05, 0.25, 0.5, 0.75, 0.95]))
        rate = f"P(p < {args.alpha}) = {hits / k:.3f} [{lo:.3f}, {hi:.3f}]"
        print(f"  {key} ({perms} permutations): {rate}; quantiles {q}")
    dp = np.array([row["p_undertow"] - row["p_numpy"] for row in rows])
    dv = max(abs(row["value_undertow"] - row["value_numpy"]) for row in rows)
    db = max(abs(row["bandwidth_undertow"] / row["bandwidth_numpy"] - 1) for row in rows)
    split = sum((row["p_undertow"] < args.alpha) != (row["p_numpy"] < args.alpha) for row in rows)
    print(
        f"  p difference: mean {dp.mean():+.4f}, sd {dp.std():.4f}, largest {np.abs(dp).max():.4f}; "
        f"replicates on different sides of alpha: {split}; largest |value difference| {dv:.2e}; "
        f"largest relative bandwidth difference {db:.2e}"
    )


if __name__ == "__main__":
    main()
