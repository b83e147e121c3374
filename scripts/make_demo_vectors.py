"""Builds python/undertow/data/demo_vectors.npz, the vectors behind the index audit of
`undertow demo`.

For the 1,200 "reference" sentences of demo.parquet: their all-MiniLM-L6-v2 embeddings, and for
40 of them (seeded choice) the second encoder's (model2vec m2v) embeddings of the same texts,
both from ../shared/data/sentences.parquet and stored as float16 (the demo index is built from
them as float32; float16 keeps the wheel small). The demo plants retrieval debt with them.

Run: python scripts/make_demo_vectors.py [path/to/sentences.parquet]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

SOURCE = (
    Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data/sentences.parquet"
)
DATA = Path(__file__).parents[1] / "python/undertow/data"


def main() -> None:
    demo = pl.read_parquet(DATA / "demo.parquet").filter(pl.col("split") == "reference")
    source = pl.read_parquet(SOURCE).select("id", "minilm", "m2v")
    table = demo.select("id").join(source, on="id", how="left", maintain_order="left")
    if table["minilm"].null_count():
        raise SystemExit("some demo ids are not in the source file")
    swapped = np.sort(np.random.default_rng(20261123).choice(table.height, 40, replace=False))
    out = DATA / "demo_vectors.npz"
    np.savez_compressed(
        out,
        ids=table["id"].to_numpy().astype(np.int64),
        minilm=table["minilm"].to_numpy().astype(np.float16),
        swapped_rows=swapped.astype(np.int64),
        m2v=table["m2v"].to_numpy()[swapped].astype(np.float16),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes, {table.height} vectors)")


if __name__ == "__main__":
    main()
