"""`undertow audit INDEX DOCS`: the exit code, --json, --out and --baseline."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl


def test_cli_audit_exit_code_json_and_baseline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import faiss

    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(300, dtype=np.int64) * 5
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    index.add_with_ids(x, ids)
    faiss.write_index(index, str(tmp_path / "index.faiss"))
    docs = pl.DataFrame(
        {"id": ids, "content_hash": ["h"] * 300, "embedded_hash": ["h"] * 300, "encoder_version": ["e"] * 300}
    )
    docs.write_parquet(tmp_path / "docs.parquet")
    command = [sys.executable, "-m", "undertow", "audit", str(tmp_path / "index.faiss")]
    clean = subprocess.run(
        [*command, str(tmp_path / "docs.parquet"), "--out", str(tmp_path / "base.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    assert "orphaned_vectors" in clean.stdout
    # three documents deleted at the source but still in the index: exit 2, exactly those ids
    docs.filter(~pl.col("id").is_in([0, 5, 10])).write_parquet(tmp_path / "docs2.parquet")
    dirty = subprocess.run(
        [*command, str(tmp_path / "docs2.parquet"), "--json", "--baseline", str(tmp_path / "base.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dirty.returncode == 2, dirty.stderr
    report = json.loads(dirty.stdout)["sections"][0]["result"]  # the audit's own to_dict
    assert sorted(report["checks"]["orphaned_vectors"]["ids"]) == [0, 5, 10]
    assert report["checks"]["score_shift"]["status"] == "ok"  # same index, same sampled queries
