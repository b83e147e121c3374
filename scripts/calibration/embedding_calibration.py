"""Calibration of EmbeddingDrift under no drift, on real sentence embeddings (issue 17).

    PYTHONPATH=python python scripts/calibration/embedding_calibration.py \
        --corpus sentences-minilm=tests/data/sentences.npz:minilm \
        --corpus docs-m2v=/path/docs.npz:emb --replicates 300 --rows 1000 --out calib.json

For every corpus and design, `replicates` null replicates (replicate r draws with seed r, from
--first-replicate on; the EmbeddingDrift keeps its default seed 0 in every replicate, as a
user's nightly job would):

* ``halves``: a random half of the corpus is the reference, the other half the current batch
  (each subsampled to at most `rows` rows);
* ``dup-halves``: the same on a corpus with planted duplicates (half the rows repeated 2 to 5
  times, the copies spread at random positions), the case a content hash gets wrong;
* ``copies``: the reference is the whole half, the current batch `rows` copies of reference rows
  (drawn without replacement, shuffled) and ``sample=rows``: the re-sent-documents case. A
  content hash picked the copies' originals as the reference sample (p near 1 every time); by
  position the two samples share only the chance overlap (about rows / half of the copies),
  so the p-values must not pile up at 1 (they still lean high, as any test of a batch against
  a reference that contains it does).

Per design: the rate of p < alpha (the MMD test) and of a non-stable status, each with its 99%
Clopper-Pearson interval and the binomial 99% band of alpha, and the p-value quantiles. The
table is printed in Markdown (docs/calibration_embedding.md) and the raw rows written to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embedding_common import binomial_band, load_corpus, rate_interval, write_json

import undertow as ut


def with_duplicates(n: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of a pool with planted duplicates: each of the `n` rows once (probability
    1/2) or 2 to 5 times, shuffled. (Indices, not rows: the pool of the 20,000-row corpus
    would be a 140 MB copy per replicate, of which 1,000 rows are used.)"""
    repeats = np.where(rng.random(n) < 0.5, 1, rng.integers(2, 6, n))
    out = np.repeat(np.arange(n), repeats)
    return out[rng.permutation(len(out))]


def sides(n: int, design: str, r: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """Replicate r's two sides as row indices into the corpus (the halves of the shuffled
    pool, whole), and its generator for what follows."""
    rng = np.random.default_rng(r)
    pool = with_duplicates(n, rng) if design == "dup-halves" else np.arange(n)
    order = rng.permutation(len(pool))
    half = len(pool) // 2
    return pool[order[:half]], pool[order[half:]], rng


def replicate(x: np.ndarray, design: str, rows: int, r: int, alpha: float, permutations: int):
    first, second, rng = sides(len(x), design, r)
    if design == "copies":
        # the whole half is the reference; the MMD tests `rows` of it against `rows` copies
        ref = x[first]
        cur = ref[rng.permutation(len(ref))[:rows]].copy()
        drift = ut.EmbeddingDrift.fit(ref, permutations=permutations, alpha=alpha, sample=rows)
        report = drift.compare(cur)
        return report.mmd.p_value, report.status
    ref = x[first[:rows]]
    cur = x[second[:rows]]
    report = ut.EmbeddingDrift.fit(ref, permutations=permutations, alpha=alpha).compare(cur)
    return report.mmd.p_value, report.status


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus", action="append", default=[], help="NAME=PATH:KEY (npz array or parquet column)"
    )
    parser.add_argument("--design", action="append", choices=["halves", "dup-halves", "copies"])
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument(
        "--first-replicate", type=int, default=0, help="replicates are seeds first .. first + n - 1"
    )
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--out", default="embedding_calibration.json")
    parser.add_argument("--table", nargs="+", help="only print the table of these JSON outputs")
    args = parser.parse_args()
    if args.table:
        print_table([row for path in args.table for row in json.load(open(path))])
        return
    designs = args.design or ["halves", "dup-halves", "copies"]
    lo_band, hi_band = binomial_band(args.replicates, args.alpha)
    results = []
    print(
        f"undertow {ut.__file__}; alpha {args.alpha}; {args.replicates} replicates; binomial 99% band "
        f"of alpha: {lo_band:.3f}-{hi_band:.3f}\n",
        file=sys.stderr,
    )
    for spec in args.corpus:
        name, x, _ = load_corpus(spec)
        for design in designs:
            t0 = time.time()
            p_values, statuses = [], []
            first = args.first_replicate
            for r in range(first, first + args.replicates):
                p, status = replicate(x, design, args.rows, r, args.alpha, args.permutations)
                p_values.append(p)
                statuses.append(status)
            p = np.array(p_values)
            k_mmd = int(np.sum(p < args.alpha))
            k_status = int(np.sum(np.array(statuses) != "stable"))
            row = {
                "corpus": name,
                "corpus_rows": len(x),
                "design": design,
                "rows_per_side": min(args.rows, len(x) // 2),
                "replicates": args.replicates,
                "first_replicate": first,
                "mmd_rate": k_mmd / args.replicates,
                "mmd_ci99": rate_interval(k_mmd, args.replicates),
                "status_rate": k_status / args.replicates,
                "status_ci99": rate_interval(k_status, args.replicates),
                "band": [lo_band, hi_band],
                "in_band": bool(
                    lo_band <= k_mmd / args.replicates <= hi_band
                    and lo_band <= k_status / args.replicates <= hi_band
                ),
                "p_quantiles": {q: float(np.quantile(p, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
                "seconds": time.time() - t0,
                "p_values": p.tolist(),
            }
            results.append(row)
            print(
                f"{name} {design}: mmd {row['mmd_rate']:.3f} status {row['status_rate']:.3f} "
                f"median p {row['p_quantiles'][0.5]:.3f} ({row['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            write_json(args.out, results)
    print_table(results)


def print_table(results: list[dict]) -> None:
    print(
        "| corpus (rows) | design | rows/side | replicates (seeds) | P(p < alpha) [99% CI] "
        "| P(status != stable) [99% CI] "
        "| in band | p-value quantiles 5/25/50/75/95% |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in results:
        q = {float(k): v for k, v in row["p_quantiles"].items()}
        first = row.get("first_replicate", 0)
        print(
            f"| {row['corpus']} ({row['corpus_rows']}) | {row['design']} | {row['rows_per_side']} "
            f"| {row['replicates']} ({first}-{first + row['replicates'] - 1}) "
            f"| {row['mmd_rate']:.3f} [{row['mmd_ci99'][0]:.3f}, {row['mmd_ci99'][1]:.3f}] "
            f"| {row['status_rate']:.3f} [{row['status_ci99'][0]:.3f}, {row['status_ci99'][1]:.3f}] "
            f"| {'yes' if row['in_band'] else 'NO'} "
            f"| {q[0.05]:.3f} / {q[0.25]:.3f} / {q[0.5]:.3f} / {q[0.75]:.3f} / {q[0.95]:.3f} |"
        )


if __name__ == "__main__":
    main()
