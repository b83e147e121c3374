"""The CLI and the shipped demo: the README's first command must keep working."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl

from undertow.cli.demo import DATA, FEATURES, load, run


def test_demo_data_ships_with_the_package() -> None:
    table = load()
    assert DATA.exists()
    assert set(table.get_column("split").unique()) == {"reference", "current_same", "current_shifted"}
    assert set(FEATURES) <= set(table.columns)


def test_demo_flags_the_shifted_mix_and_not_the_same_mix() -> None:
    reports = run(print_fn=lambda *_: None)
    assert reports["current_same"].status == "stable"
    assert reports["current_shifted"].status == "significant"
    # the source column moved from 50/50 to 20/80: PSI by hand
    e = np.array([0.5, 0.5])
    a = np.array([0.2, 0.8])
    expected_psi = float(np.sum((a - e) * np.log(a / e)))  # unseen bin is 0 on both sides: 0 term
    assert abs(reports["current_shifted"]["source"].value - expected_psi) < 1e-12


def test_cli_demo_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "undertow", "demo"], capture_output=True, text=True, check=True, timeout=120
    )
    assert "current_shifted" in out.stdout
    assert "significant" in out.stdout


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
    report = json.loads(out.stdout)
    assert report["columns"]["a"]["status"] == "significant"
    assert report["columns"]["b"]["status"] == "stable"


def test_demo_audit_reports_exactly_the_planted_debt() -> None:
    from undertow.cli.demo_audit import planted_index, run

    report = run(print_fn=lambda *_: None)
    planted = planted_index()["planted"]
    assert report.status == "fail"
    for name, ids in planted.items():
        assert report[name].status == "fail", name
        np.testing.assert_array_equal(np.sort(report[name].ids), ids, err_msg=name)
    assert len(planted["fresh_cosine"]) > 0
    # the tombstones served are a subset of the deleted documents left in the index
    assert set(report["tombstone_pollution"].ids) <= set(planted["orphaned_vectors"])
    assert report["ann_recall"].value == 1.0 and report["encoder_mix"].status == "ok"


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
    report = json.loads(dirty.stdout)
    assert sorted(report["checks"]["orphaned_vectors"]["ids"]) == [0, 5, 10]
    assert report["checks"]["score_shift"]["status"] == "ok"  # same index, same sampled queries
