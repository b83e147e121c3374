"""Power of EmbeddingDrift on planted shifts, beside ut.mmd on the full vectors (issue 17).

Run it once per undertow version (PYTHONPATH picks which) with a --label, then print the merged
table with --table:

    PYTHONPATH=python python scripts/calibration/embedding_power.py \
        --sentences PATH/sentences.parquet --label new --out power_new.json
    PYTHONPATH=/path/to/main/python python scripts/calibration/embedding_power.py \
        --sentences PATH/sentences.parquet --label old --out power_old.json
    python scripts/calibration/embedding_power.py --table power_old.json power_new.json

--sentences is a parquet file with the columns ``minilm``, ``m2v`` (the same texts under two
encoders), ``source`` and ``category`` (the repository's shared data/sentences.parquet).
Designs (replicate r draws with seed r; EmbeddingDrift keeps its default settings, seed 0):

* ``mean+0.1``: N(0, I) in 384-d, 5,000 rows per side, current shifted +0.1 sigma in every
  coordinate; ``mean+0.05`` the same at +0.05 sigma;
* ``topic-20%`` / ``topic-10%``: real sentences (MiniLM), reference 1,500 rows of the corpus'
  mix, current 1,500 rows whose mix has 20% (10%) of its rows replaced by python-docs rows;
* ``swap-5%``: current 5% of rows encoded by the other encoder (m2v instead of MiniLM);
* ``covariance``: N(0, I) 384-d, 2,000 rows per side, the first 38 coordinates scaled by 1.15;
* ``outside-pca``: 384-d, variance 1/(i+1) along coordinate i, 2,000 rows per side, current
  shifted +0.15 along coordinate 300 (far outside the top 32 principal components);
* ``copies+topic``: real sentences; the current batch is 1,500 copies of reference rows plus
  1,500 rows of a 20%-python-docs mix (a re-sent part of the corpus must not mask the drift).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embedding_common import write_json

DESIGNS = {
    "mean+0.1": 50,
    "topic-20%": 50,
    "mean+0.05": 30,
    "topic-10%": 30,
    "swap-5%": 30,
    "covariance": 30,
    "outside-pca": 30,
    "copies+topic": 30,
}


def _sentences(path: str):
    import polars as pl

    frame = pl.read_parquet(path)
    minilm = np.asarray(frame["minilm"].to_numpy(), dtype=np.float64)
    m2v = np.asarray(frame["m2v"].to_numpy(), dtype=np.float64)
    docs = (frame["source"] == "python-docs").to_numpy()
    return minilm, m2v, docs


def _mix(rng, pool: np.ndarray, docs_pool: np.ndarray, n: int, extra_docs: float) -> np.ndarray:
    """n row indices: the corpus mix, with a share `extra_docs` replaced by python-docs rows."""
    k = round(extra_docs * n)
    base = rng.choice(pool, n - k, replace=False)
    extra = rng.choice(np.setdiff1d(docs_pool, base), k, replace=False)
    return np.concatenate([base, extra])


def draw(design: str, r: int, data) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(r)
    if design.startswith("mean"):
        shift = float(design[4:])
        return rng.normal(size=(5000, 384)), rng.normal(size=(5000, 384)) + shift
    if design == "covariance":
        y = rng.normal(size=(2000, 384))
        y[:, :38] *= 1.15
        return rng.normal(size=(2000, 384)), y
    if design == "outside-pca":
        scale = 1.0 / np.sqrt(np.arange(1, 385))
        y = rng.normal(size=(2000, 384)) * scale
        y[:, 300] += 0.15
        return rng.normal(size=(2000, 384)) * scale, y
    minilm, m2v, docs = data
    order = rng.permutation(len(minilm))
    ref_idx, rest = order[:1500], order[1500:]
    if design.startswith("topic"):
        cur_idx = _mix(rng, rest, rest[docs[rest]], 1500, float(design[6:-1]) / 100)
        return minilm[ref_idx], minilm[cur_idx]
    if design == "swap-5%":
        cur_idx = rest[:1500]
        cur = minilm[cur_idx].copy()
        swap = rng.choice(1500, 75, replace=False)
        cur[swap] = m2v[cur_idx[swap]]
        return minilm[ref_idx], cur
    if design == "copies+topic":
        cur_idx = _mix(rng, rest, rest[docs[rest]], 1500, 0.2)
        copies = minilm[rng.choice(ref_idx, 1500, replace=False)]
        return minilm[ref_idx], np.vstack([copies, minilm[cur_idx]])
    raise SystemExit(f"unknown design {design}")


def run(args) -> None:
    import undertow as ut

    data = _sentences(args.sentences)
    rows = []
    for design, replicates in DESIGNS.items():
        if args.design and design not in args.design:
            continue
        t0 = time.time()
        hits_drift = hits_mmd = 0
        for r in range(replicates):
            ref, cur = draw(design, r, data)
            report = ut.EmbeddingDrift.fit(ref).compare(cur)
            hits_drift += report.status != "stable"
            if args.with_mmd:
                hits_mmd += ut.mmd(ref, cur).p_value < 0.05
        row = {
            "design": design,
            "label": args.label,
            "replicates": replicates,
            "embedding_drift": hits_drift,
            "mmd_full": hits_mmd if args.with_mmd else None,
            "seconds": time.time() - t0,
        }
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
        write_json(args.out, rows)


def table(paths: list[str]) -> None:
    runs = [json.load(open(p)) for p in paths]
    labels = [rs[0]["label"] for rs in runs]
    print(
        f"| design | replicates | {' | '.join(f'EmbeddingDrift ({lab})' for lab in labels)} "
        "| ut.mmd, full vectors |"
    )
    print("|---|---|" + "---|" * (len(labels) + 1))
    for design in DESIGNS:
        found = [next((r for r in rs if r["design"] == design), None) for rs in runs]
        if not any(found):
            continue
        n = next(f["replicates"] for f in found if f)
        cells = [f"{f['embedding_drift']}/{n}" if f else "-" for f in found]
        mmd = next((f"{f['mmd_full']}/{n}" for f in found if f and f["mmd_full"] is not None), "-")
        print(f"| {design} | {n} | {' | '.join(cells)} | {mmd} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences")
    parser.add_argument("--label", default="new")
    parser.add_argument("--out", default="embedding_power.json")
    parser.add_argument("--design", action="append")
    parser.add_argument("--with-mmd", action="store_true", help="also run ut.mmd on the full vectors")
    parser.add_argument("--table", nargs="+", help="print the table of these JSON outputs")
    args = parser.parse_args()
    if args.table:
        table(args.table)
    else:
        run(args)


if __name__ == "__main__":
    main()
