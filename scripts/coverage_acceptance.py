"""Acceptance numbers of ut.eval_coverage on the shared sentences (issue 15).

    python scripts/coverage_acceptance.py ../shared/data/sentences.parquet [--clusters 12]

Two scenarios on the float32 minilm vectors of sentences.parquet (chatterbot-corpus and
python-docs sentences):

1. eval = the chatterbot sentences, production = every sentence (streamed with ut.scan):
   the python-docs traffic should be uncovered and the top flagged clusters >= 90% python-docs;
2. eval = a random half of production (seed 0): coverage high, no cluster flagged.

Each scenario also checks the nearest eval item and similarity of every query against a float64
numpy brute force. Prints one JSON object per scenario.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import polars as pl

import undertow as ut


def unit64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def summary(report: ut.CoverageReport, source: np.ndarray, ids: np.ndarray, eval_x: np.ndarray,
            prod_x: np.ndarray) -> dict[str, object]:  # fmt: skip
    sims = unit64(prod_x) @ unit64(eval_x).T
    q = report.queries
    by_id = dict(zip(ids.tolist(), source.tolist(), strict=True))
    qsource = np.array([by_id[i] for i in q["id"].to_list()])
    clusters = q["cluster"].to_numpy()
    covered = q["covered"].to_numpy()
    return {
        "coverage": round(report.coverage, 4),
        "radius": round(report.radius, 4),
        "status": report.status,
        "coverage_chatterbot": round(float(covered[qsource == "chatterbot-corpus"].mean()), 4),
        "coverage_python_docs": round(float(covered[qsource == "python-docs"].mean()), 4),
        "flagged": [
            {
                "cluster": c.cluster,
                "traffic_share": round(c.traffic_share, 4),
                "coverage": round(c.coverage, 4),
                "python_docs_share": round(
                    float((qsource[clusters == c.cluster] == "python-docs").mean()), 4
                ),
            }
            for c in report.flagged
        ],
        "mix_psi": round(report.mix_psi.value, 4),
        "max_abs_similarity_error_vs_numpy_f64": float(
            np.abs(q["similarity"].to_numpy() - sims.max(1)).max()
        ),
        "nearest_equal_to_numpy_f64": float((q["nearest_eval_id"].to_numpy() == sims.argmax(1)).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parquet", help="sentences.parquet of the shared data directory")
    parser.add_argument("--clusters", type=int, default=12)
    args = parser.parse_args()
    frame = pl.read_parquet(args.parquet, columns=["id", "source", "minilm"])
    x = frame["minilm"].to_numpy()
    source = frame["source"].to_numpy()
    ids = frame["id"].to_numpy()
    chat = source == "chatterbot-corpus"

    streamed = ut.eval_coverage(x[chat], ut.scan(args.parquet), column="minilm", id_column="id",
                                clusters=args.clusters)  # fmt: skip
    memory = ut.eval_coverage(x[chat], frame, column="minilm", id_column="id", clusters=args.clusters)
    assert streamed.to_dict() == memory.to_dict(), "streamed and in-memory reports differ"
    out = summary(memory, source, ids, x[chat], x)
    out["scenario"] = "eval = chatterbot, production = all (streamed == in-memory)"
    print(json.dumps(out))

    half = np.sort(np.random.default_rng(0).choice(len(x), len(x) // 2, replace=False))
    report = ut.eval_coverage(x[half], frame, column="minilm", id_column="id", clusters=args.clusters)
    out = summary(report, source, ids, x[half], x)
    held = np.setdiff1d(np.arange(len(x)), half)
    out["coverage_held_out"] = round(float(report.queries["covered"].to_numpy()[held].mean()), 4)
    out["scenario"] = "eval = random half of production"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
