"""Acceptance of the audit's vector-only encoder-mix check (encoder_mix_vectors) on real data.

Reads sentences.parquet (minilm and m2v embeddings of the same 4,304 sentences; default
../shared/data/sentences.parquet beside the clone) and audits, with several seeds:

* mix: a minilm index with `--share` of its rows silently replaced by the m2v vectors of the same
  texts; prints precision and recall of the flagged ids against the replaced ones;
* two-topic: the clean minilm index (chatterbot vs python-docs, centroid distance ~0.74);
* each topic alone, and a clean m2v index: no alarm expected.

    python scripts/mix_vectors_acceptance.py [path/to/sentences.parquet] [--seeds 10] [--share 0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import faiss
import numpy as np
import polars as pl

import undertow as ut


def audit(vectors: np.ndarray, ids: np.ndarray, seed: int) -> ut.Check:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    docs = pl.DataFrame(
        {
            "id": ids,
            "content_hash": ["h"] * len(ids),
            "embedded_hash": ["h"] * len(ids),
            "encoder_version": ["minilm"] * len(ids),
        }
    )
    return ut.audit_index(index, docs, seed=seed)["encoder_mix_vectors"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # ../shared/data beside the clone, as scripts/make_test_vectors.py
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sentences.parquet"
    parser.add_argument("parquet", nargs="?", default=str(default))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--share", type=float, default=0.05)
    args = parser.parse_args()
    table = pl.read_parquet(args.parquet)
    minilm = table["minilm"].to_numpy().astype(np.float32)
    m2v = table["m2v"].to_numpy().astype(np.float32)
    source = table["source"].to_numpy()
    ids = table["id"].to_numpy().astype(np.int64)
    n = len(ids)
    precisions, recalls = [], []
    for seed in range(args.seeds):
        rng = np.random.default_rng(1000 + seed)
        swapped = np.sort(rng.choice(n, round(args.share * n), replace=False))
        stored = minilm.copy()
        stored[swapped] = m2v[swapped]
        check = audit(stored, ids, seed)
        hit = np.isin(check.ids, ids[swapped]).sum()
        precision = hit / max(len(check.ids), 1)
        recall = hit / len(swapped)
        precisions.append(precision)
        recalls.append(recall)
        print(
            f"mix {args.share:.0%} seed {seed}: {check.status}, flagged {len(check.ids)} of "
            f"{len(swapped)} replaced, precision {precision:.4f} recall {recall:.4f}"
        )
    print(
        f"mix: precision min {min(precisions):.4f} mean {np.mean(precisions):.4f}; "
        f"recall min {min(recalls):.4f} mean {np.mean(recalls):.4f} over {args.seeds} seeds"
    )
    clean = {
        "two-topic minilm (chatterbot + python-docs)": (minilm, ids),
        "chatterbot minilm alone": (
            minilm[source == "chatterbot-corpus"],
            ids[source == "chatterbot-corpus"],
        ),
        "python-docs minilm alone": (minilm[source == "python-docs"], ids[source == "python-docs"]),
        "two-topic m2v": (m2v, ids),
    }
    for label, (vectors, these) in clean.items():
        statuses = [audit(vectors, these, seed) for seed in range(args.seeds)]
        worst = min(c.detail.get("min_cluster_cosine", np.nan) for c in statuses)
        alarms = sum(c.status != "ok" for c in statuses)
        print(f"{label}: {alarms} alarms in {args.seeds} seeds; lowest cluster centroid cosine {worst:.3f}")


if __name__ == "__main__":
    main()
