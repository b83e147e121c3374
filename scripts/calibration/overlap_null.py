"""Why a batch of copies of reference rows gets p-values near 1, with or without undertow's
sampler (docs/calibration_embedding.md, "copies").

Plain ``ut.mmd`` (no EmbeddingDrift, no sampling of ours) on two 500-row samples of the same
random half of a corpus, per replicate:

* ``overlap``: both drawn without replacement from the half, independently: they share about
  500 * 500 / half rows, as a reference sample and a batch of re-sent reference rows do;
* ``disjoint``: the second drawn from the rows the first did not take;
* ``with-replacement``: 1,000 draws with replacement split in two (exchangeable).

    PYTHONPATH=python python scripts/calibration/overlap_null.py \\
        --corpus sentences-minilm=tests/data/sentences.npz:minilm
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embedding_common import load_corpus

import undertow as ut


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", required=True, help="NAME=PATH:KEY (see embedding_common.load_corpus)")
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()
    _, x, _ = load_corpus(args.corpus)
    p = {"overlap": [], "disjoint": [], "with-replacement": []}
    for r in range(args.replicates):
        rng = np.random.default_rng(r)
        half = x[rng.permutation(len(x))[: len(x) // 2]]
        a = rng.choice(len(half), args.rows, replace=False)
        b = rng.choice(len(half), args.rows, replace=False)
        rest = np.setdiff1d(np.arange(len(half)), a)
        pool = rng.choice(len(half), 2 * args.rows, replace=True)
        pairs = {
            "overlap": (half[a], half[b]),
            "disjoint": (half[a], half[rng.choice(rest, args.rows, replace=False)]),
            "with-replacement": (half[pool[: args.rows]], half[pool[args.rows :]]),
        }
        for name, (u, v) in pairs.items():
            p[name].append(ut.mmd(u, v, permutations=200, seed=r).p_value)
    half = len(x) // 2
    print(f"{args.corpus}: {args.replicates} replicates, {args.rows} rows per side, half = {half} rows")
    print("| design | shared rows (expected) | P(p < 0.05) | p-value quantiles 5/25/50/75/95% |")
    print("|---|---|---|---|")
    shared = {"overlap": args.rows**2 / (len(x) // 2), "disjoint": 0.0, "with-replacement": float("nan")}
    for name, values in p.items():
        q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
        qs = " / ".join(f"{v:.3f}" for v in q)
        print(f"| {name} | {shared[name]:.0f} | {np.mean(np.array(values) < 0.05):.3f} | {qs} |")


if __name__ == "__main__":
    main()
