"""Builds python/undertow/data/demo.parquet, the small real example behind `undertow demo`.

Source: ../shared/data/sentences.parquet (real sentences from chatterbot-corpus and Python's
reference manual, embedded with all-MiniLM-L6-v2; see that folder's README). Per sentence we
keep a few features a feature table would have: text length in words and characters, the
source and topic (categorical), and two embedding features: the cosine to the reference
centroid and the projection on the reference's first principal component.

Splits: "reference" (a 50/50 mix of the two sources), "current_same" (a fresh sample of the
same mix: no drift) and "current_shifted" (80% python-docs: the traffic moved).

Run: python scripts/make_demo_data.py [path/to/sentences.parquet]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

SOURCE = (
    Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data/sentences.parquet"
)
OUT = Path(__file__).parents[1] / "python/undertow/data/demo.parquet"


def main() -> None:
    rng = np.random.default_rng(20261123)
    df = pl.read_parquet(SOURCE).sort("id")
    chat = df.filter(pl.col("source") == "chatterbot-corpus")
    docs = df.filter(pl.col("source") == "python-docs")
    chat_idx = rng.permutation(chat.height)
    docs_idx = rng.permutation(docs.height)
    # reference 600 + 600, current_same 300 + 300, current_shifted 120 chat + 480 docs (disjoint)
    parts = {
        "reference": (chat_idx[:600], docs_idx[:600]),
        "current_same": (chat_idx[600:900], docs_idx[600:900]),
        "current_shifted": (chat_idx[900:1020], docs_idx[900:1380]),
    }
    frames = []
    for split, (ci, di) in parts.items():
        frames.append(
            pl.concat([chat[ci.tolist()], docs[di.tolist()]]).with_columns(pl.lit(split).alias("split"))
        )
    table = pl.concat(frames)
    emb = table.get_column("minilm").to_numpy().astype(np.float64)
    is_ref = (table.get_column("split") == "reference").to_numpy()
    centroid = emb[is_ref].mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    cosine = emb @ centroid / np.linalg.norm(emb, axis=1)
    centered = emb[is_ref] - emb[is_ref].mean(axis=0)
    pc1 = np.linalg.svd(centered, full_matrices=False)[2][0]
    projection = (emb - emb[is_ref].mean(axis=0)) @ pc1
    top = set(
        table.filter(pl.col("split") == "reference")
        .get_column("category")
        .value_counts()
        .sort("count", descending=True)
        .head(8)
        .get_column("category")
        .to_list()
    )
    out = table.select(
        "id",
        "split",
        "source",
        pl.when(pl.col("category").is_in(sorted(top)))
        .then(pl.col("category"))
        .otherwise(pl.lit("other"))
        .alias("topic"),
        pl.col("text").str.split(" ").list.len().cast(pl.Float32).alias("words"),
        pl.col("text").str.len_chars().cast(pl.Float32).alias("chars"),
    ).with_columns(
        pl.Series("cosine_to_centroid", cosine.astype(np.float32)),
        pl.Series("pc1", projection.astype(np.float32)),
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(OUT, compression="zstd")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {out.height} rows)")


if __name__ == "__main__":
    main()
