"""`undertow psi REFERENCE CURRENT`: the JSON report and the exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl


def test_cli_psi_json_and_exit_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    ref = pl.DataFrame({"a": rng.normal(size=5000), "b": rng.integers(0, 5, 5000).astype(str)})
    cur = pl.DataFrame({"a": rng.normal(1.0, 1, size=5000), "b": rng.integers(0, 5, 5000).astype(str)})
    ref.write_parquet(tmp_path / "ref.parquet")
    cur.write_parquet(tmp_path / "cur.parquet")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "undertow",
            "psi",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr  # significant drift in column a
    report = json.loads(out.stdout)["sections"][0]["result"]  # the PsiReport's to_dict
    assert report["columns"]["a"]["status"] == "significant"
    assert report["columns"]["b"]["status"] == "stable"
