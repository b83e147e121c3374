"""`undertow demo` and the shipped demo data: the README's first command must keep working."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np

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


def test_cli_demo_runs_and_writes_its_html_here(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run(
        [sys.executable, "-m", "undertow", "demo"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert "current_shifted" in out.stdout
    assert "significant" in out.stdout
    page = tmp_path / "undertow-demo.html"
    assert out.stdout.rstrip().endswith(f"HTML report: {page.resolve()}")
    match = re.search(
        r'<script type="application/json" id="undertow-data">(.*?)</script>', page.read_text(), re.S
    )
    sections = json.loads(match.group(1))["sections"]
    assert [s["kind"] for s in sections] == ["psi", "psi", "embedding", "drift_over", "audit"]
    assert [s["status"] for s in sections[:2]] == ["significant", "stable"]


def test_demo_embedding_and_over_time_show_the_moved_mix() -> None:
    reports = run(print_fn=lambda *_: None)
    # the sentence vectors: 50/50 sources vs 80% python-docs is detected by the MMD test
    assert reports["embedding"].status in ("drift", "severe")
    assert reports["embedding"].mmd.p_value < 0.05
    # six days: the first three hold the same mix as the reference, the last three the moved one
    frame = reports["over_time"]
    assert frame.height == 6 and frame["rows"].to_list() == [200] * 6
    source = frame["source_psi"].to_list()
    assert max(source[:3]) < 0.1 < 0.25 < min(source[3:])


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


def test_demo_audit_finds_the_silent_encoder_swap_from_the_vectors_alone() -> None:
    """The 40 rows re-embedded by m2v under minilm metadata (3.4% of 1,190): encoder_mix sees
    nothing; encoder_mix_vectors must flag them with no false ids. (It once passed them: its
    foreign cluster was linked into the majority by one noise cosine of 0.105.)"""
    from undertow.cli.demo_audit import planted_index, run

    report = run(print_fn=lambda *_: None)
    swapped = planted_index()["foreign_encoder"]
    check = report["encoder_mix_vectors"]
    assert report["encoder_mix"].status == "ok"
    assert check.status == "fail"
    hits = np.isin(check.ids, swapped).sum()
    assert hits == len(check.ids)  # precision 1
    assert hits >= 0.95 * len(swapped)  # 38 of 40
