"""Builds tests/data/sentences.npz, the real sentence embeddings behind tests/embedding/test_embedding_real.py
and tests/audit/test_audit_real.py, so the test suite carries its own data.

From sentences.parquet (see tests/data/README.md for its source and licence) it keeps what the two
tests read and nothing else (no text):

- ids (int64), source and category (fixed-width unicode: no pickle is needed to load them);
- minilm: every row's all-MiniLM-L6-v2 embedding as float16;
- m2v: the second encoder's embedding as float16, only for the python-docs rows (m2v_rows holds
  their row numbers), which is all the encoder-swap tests need; it keeps the file at 4.8 MB
  instead of 6.1 MB.

float16 halves the size; the tests decode to float32 and re-normalize the rows (the source vectors
are unit-normalized), see tests/sentences_data.py. The arrays are reproducible; the zip's file dates
are not, so a rebuild shows as a binary change.

Run: python scripts/make_test_vectors.py [path/to/sentences.parquet] [--out tests/data/sentences.npz]
(default source: ../shared/data/sentences.parquet beside the clone)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=ROOT.parent / "shared/data/sentences.parquet")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/data/sentences.npz")
    args = parser.parse_args()

    df = pl.read_parquet(args.source, columns=["id", "source", "category", "minilm", "m2v"])
    source = df["source"].to_numpy().astype(str)
    m2v_rows = np.flatnonzero(source == "python-docs").astype(np.int64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        ids=df["id"].to_numpy().astype(np.int64),
        source=source,
        category=df["category"].to_numpy().astype(str),
        minilm=df["minilm"].to_numpy().astype(np.float16),
        m2v_rows=m2v_rows,
        m2v=df["m2v"].to_numpy()[m2v_rows].astype(np.float16),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, {df.height} rows, {len(m2v_rows)} with m2v)")


if __name__ == "__main__":
    main()
