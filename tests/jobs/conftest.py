"""Real Parquet/CSV files for the command-line tests: a reference and a drifted current table
with a timestamp column, an id column, a numeric, a categorical and a vector column, and a
faiss index (16-d, like the vectors) with its documents table."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import undertow as undertow_pkg

ROOT = Path(__file__).parents[2]
ROWS = 6000
DIM = 16


@dataclass
class Files:
    dir: Path
    ref: Path
    cur: Path
    same: Path  # the reference's distribution again, another sample
    ref_csv: Path
    cur_csv: Path
    index: Path
    index8: Path  # 8-d: another width than the vector column
    docs: Path
    fresh: Path


def table(rng: np.random.Generator, shift: float, start: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.datetime_range(start, start + dt.timedelta(minutes=ROWS - 1), "1m", eager=True),
            "user_id": np.arange(ROWS, dtype=np.int64),
            "amount": rng.normal(shift, 1.0, ROWS),
            "store": rng.integers(0, 5, ROWS).astype(str),
            "emb": pl.Series(rng.normal(shift / 2, 1.0, (ROWS, DIM)).astype(np.float32)),
        }
    )


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> Files:  # type: ignore[no-untyped-def]
    import faiss

    d = tmp_path_factory.mktemp("job-data")
    rng = np.random.default_rng(20261130)
    start = dt.datetime(2026, 1, 1)
    ref, cur, same = table(rng, 0.0, start), table(rng, 1.0, start), table(rng, 0.0, start)
    f = Files(
        d,
        d / "ref.parquet",
        d / "cur.parquet",
        d / "same.parquet",
        d / "ref.csv",
        d / "cur.csv",
        d / "index.faiss",
        d / "index8.faiss",
        d / "docs.parquet",
        d / "fresh.parquet",
    )
    ref.write_parquet(f.ref)
    cur.write_parquet(f.cur)
    same.write_parquet(f.same)
    ref.drop("emb").write_csv(f.ref_csv)
    cur.drop("emb").write_csv(f.cur_csv)
    x = rng.normal(size=(400, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(400, dtype=np.int64)
    for path, width in ((f.index, DIM), (f.index8, 8)):
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(width))
        index.add_with_ids(np.ascontiguousarray(x[:, :width]), ids)
        faiss.write_index(index, str(path))
    pl.DataFrame(
        {"id": ids, "content_hash": ["h"] * 400, "embedded_hash": ["h"] * 400, "encoder_version": ["e"] * 400}
    ).filter(~pl.col("id").is_in([7, 8])).write_parquet(f.docs)  # 7 and 8: orphaned vectors
    pl.DataFrame({"id": ids[:40], "embedding": pl.Series(x[:40])}).write_parquet(f.fresh)
    return f


def undertow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m undertow ARGS` in a subprocess, with the package this session imported."""
    # the undertow this test session imported (the installed wheel in CI, a worktree's python/
    # in development), never the source tree's python/, which has no compiled _core in a clone
    env = {**os.environ, "PYTHONPATH": str(Path(undertow_pkg.__file__).resolve().parent.parent)}
    env.pop("UNDERTOW_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "undertow", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )
