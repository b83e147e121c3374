"""ut.report / .to_html: the page's embedded numbers equal the results', one section per result,
deterministic bytes, atomic writes, escaping, size and the errors for what it cannot render."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import polars as pl
import pytest
import report_cases as cases

import undertow as ut
from undertow.audit._report import CHECKS
from undertow.report._checks import SHOWN_IDS
from undertow.report._page import _asset


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="undertow-data">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def psi_report() -> ut.PsiReport:
    return cases.psi_report()


@pytest.fixture(scope="module")
def audits():  # type: ignore[no-untyped-def]
    return cases.audit_reports()


def test_psi_numbers_in_the_page_equal_the_report(psi_report) -> None:  # type: ignore[no-untyped-def]
    data = page_data(psi_report.to_html())
    (section,) = data["sections"]
    assert section["kind"] == "psi" and section["status"] == psi_report.status
    columns = section["data"]["columns"]
    # worst first, every column
    assert [c["column"] for c in columns] == sorted(psi_report.columns, key=lambda n: -psi_report[n].value)
    for c in columns:
        r = psi_report[c["column"]]
        assert c["psi"] == r.value and c["status"] == r.status
        assert c["expected_proportions"] == r.expected_proportions.tolist()
        assert c["actual_proportions"] == r.actual_proportions.tolist()
        assert c["expected_counts"] == r.expected_counts.tolist()
        assert len(c["bins"]) == r.bins
    x0 = next(c for c in columns if c["column"] == "x0")
    assert x0["actual_missing_share"] == 30 / 3000  # nan_policy "bin": the missing bin is counted
    assert x0["bins"][0].startswith("< ") and x0["bins"][-2].startswith("≥ ") and x0["bins"][-1] == "missing"
    assert x0["inner_edges"] == psi_report["x0"].edges[1:-1].tolist()
    city = next(c for c in columns if c["column"] == "city")
    assert city["bins"] == ["oslo", "paris", "rome", "<unseen>", "missing"]
    assert city["unseen_share"] == psi_report["city"].actual_proportions[3] > 0.25  # lima, unseen
    # the bar chart's data is the same numbers
    bars = section["figures"][0]["spec"]["layer"][1]["data"]["values"]
    assert {b["column"]: b["psi"] for b in bars} == psi_report.values


def test_embedding_numbers_and_the_reason() -> None:
    report = cases.with_null(cases.embedding_report())
    data = page_data(ut.report(report))["sections"][0]["data"]
    assert data["mmd2"] == report.mmd.value and data["p_value"] == report.mmd.p_value
    assert data["domain_auc"] == report.domain_auc
    assert data["centroid_distance"] == report.cosine.centroid_distance
    assert data["component_psi"] == report.component_psi.tolist()
    assert data["cosine_reference_proportions"] == report.cosine.psi_detail.expected_proportions.tolist()
    assert data["cosine_current_proportions"] == report.cosine.psi_detail.actual_proportions.tolist()
    assert data["mmd_null"] == report.mmd_null.tolist()
    assert report.mmd.p_value < report.alpha and report.status == "drift"
    assert "< alpha" in data["reason"]
    # the report's own reason, when it has one, is what the page says
    object.__setattr__(report, "reason", "rule 7 fired")
    assert page_data(ut.report(report))["sections"][0]["data"]["reason"] == "rule 7 fired"


def test_embedding_reason_names_each_rule_when_the_report_has_none() -> None:
    from undertow.report.embedding import reason

    reports = {shift: cases.embedding_report(shift=shift) for shift in (0.0, 0.25, 3.0)}
    for report in reports.values():
        object.__setattr__(report, "reason", "")  # the rule derived by the page itself
    stable, drift, severe = reports.values()
    assert stable.status == "stable" and "no evidence of drift" in reason(stable)
    assert drift.status == "drift" and "< alpha" in reason(drift) and "not severe" in reason(drift)
    assert severe.status == "severe" and "domain AUC" in reason(severe) and reason(severe).endswith("severe")


def test_embedding_keeps_the_held_out_samples_it_tested() -> None:
    report = cases.embedding_report()
    # the held-out samples are min(sample, n // 2) rows of each side, on two PCA components
    assert report.reference_sample_2d.shape == (400, 2) and report.current_sample_2d.shape == (400, 2)
    assert report.mmd.n_x == 400 and report.mmd.n_y == 400


def test_audit_checks_ids_and_scores(audits) -> None:  # type: ignore[no-untyped-def]
    _, audit = audits
    html = audit.to_html()
    data = page_data(html)["sections"][0]["data"]
    assert [c["name"] for c in data["checks"]] == list(audit.checks)
    assert len(data["checks"]) == len(CHECKS) == 13
    for c in data["checks"]:
        check = audit[c["name"]]
        assert c["status"] == check.status and c["value"] == check.value and c["threshold"] == check.threshold
        assert c["ids"] == check.ids.tolist() and c["count"] == check.count
    assert data["scores"]["top1"] == audit.scores["top1"].tolist()
    shift = audit["score_shift"]
    assert shift.status == "ok"  # the same index against itself
    assert shift.detail["top1_baseline_proportions"] == pytest.approx([0.1] * 10, abs=0.02)
    assert "orphaned_vectors: 25 offending ids (all in the JSON)" in html


def test_audit_shows_the_first_ids_and_states_the_count() -> None:
    from undertow.audit import AuditReport, Check

    ids = np.arange(250, dtype=np.int64) * 7
    check = Check("orphaned_vectors", "fail", 0.5, 0.0, "max", 500, ids, 250, "250 orphans")
    report = AuditReport({"orphaned_vectors": check}, {"type": "flat"}, {"metric": "ip"}, k=10)
    html = report.to_html()
    assert "250 offending ids, the first 100 shown (all in the JSON)" in html
    shown = re.search(r"<p class='ids'>(.*?)</p>", html).group(1).split(", ")
    assert shown == [str(7 * i) for i in range(SHOWN_IDS)]
    assert page_data(html)["sections"][0]["data"]["checks"][0]["ids"] == ids.tolist()


def test_drift_over_numbers() -> None:
    frame = cases.over_time_frame()
    data = page_data(ut.report(frame))["sections"][0]["data"]
    assert data["psi"]["a"] == frame["a_psi"].to_list() and data["psi"]["b"] == frame["b_psi"].to_list()
    assert data["embedding"]["vec"]["mmd_p_value"] == frame["vec_mmd_p_value"].to_list()
    assert data["embedding"]["vec"]["centroid_distance"] == frame["vec_centroid_distance"].to_list()
    assert data["window_start"] == [t.isoformat() for t in frame["window_start"]]
    assert data["rows"] == frame["rows"].to_list()


def test_several_results_one_page_with_a_summary(psi_report, audits) -> None:  # type: ignore[no-untyped-def]
    embedding = cases.embedding_report()
    frame = cases.over_time_frame(with_embedding=False)
    html = ut.report(("today", psi_report), embedding, audits[1], frame, title="nightly <check>")
    data = page_data(html)
    assert [s["kind"] for s in data["sections"]] == ["psi", "embedding", "audit", "drift_over"]
    assert data["sections"][0]["title"] == "PSI per column: today"
    assert "<title>nightly &lt;check&gt;</title>" in html
    assert html.count('<section class="result') == 4
    summary = re.search(r'<table class="data summary">(.*?)</table>', html, re.S).group(1)
    assert summary.count("<tr>") == 5  # a header and a row per result
    for i in range(1, 5):
        assert f'href="#sec-{i}"' in summary and f'id="sec-{i}"' in html


def test_same_results_same_bytes(psi_report) -> None:  # type: ignore[no-untyped-def]
    assert ut.report(psi_report) == ut.report(psi_report)
    assert psi_report.to_html() == ut.report(psi_report)


def test_path_writes_atomically(psi_report, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "report.html"
    target.write_text("old")
    html = psi_report.to_html(target)
    assert target.read_text(encoding="utf-8") == html
    assert os.listdir(tmp_path) == ["report.html"]  # no temporary file left
    with pytest.raises(FileNotFoundError):
        ut.report(psi_report, path=tmp_path / "absent" / "report.html")
    assert os.listdir(tmp_path) == ["report.html"]


def test_no_external_reference_in_the_page(psi_report) -> None:  # type: ignore[no-untyped-def]
    # outside the pinned Vega bundle (whose templates hold tags; the browser test proves it
    # requests nothing)
    html = ut.report(psi_report).replace(_asset("vega.min.js"), "")
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "@import" not in html and "url(http" not in html


def test_hostile_names_are_escaped() -> None:
    name = "</script><script>alert(1)</script>&amp;"
    reference = ut.Reference.fit({name: np.arange(100.0)}, bins=4)
    html = reference.psi({name: np.arange(100.0) + 50}).to_html()
    assert html.count("<script>alert(1)") == 0
    assert page_data(html)["sections"][0]["data"]["columns"][0]["column"] == name


def test_size_of_100_columns_an_embedding_and_an_audit(audits) -> None:  # type: ignore[no-untyped-def]
    html = ut.report(cases.psi_report(columns=100, rows=2000), cases.embedding_report(), audits[1])
    assert len(html.encode()) < 3_000_000


def test_what_it_cannot_render() -> None:
    with pytest.raises(TypeError, match="cannot render a dict"):
        ut.report({"psi": 0.1})
    with pytest.raises(TypeError, match="output of drift_over"):
        ut.report(pl.DataFrame({"x": [1]}))
    with pytest.raises(TypeError, match="at least one result"):
        ut.report()
    with pytest.raises(TypeError, match=r"\(name, result\)"):
        ut.report((1, 2, 3))
    with pytest.raises(TypeError, match="title"):
        ut.report(cases.psi_report(columns=1, rows=100), title=3)


def test_psi_noise_floor_and_p_value_in_the_page() -> None:
    report = cases.psi_report(columns=2, rows=500)
    html = report.to_html()
    assert "<th>noise floor</th>" in html and "<th>p-value</th>" in html
    columns = page_data(html)["sections"][0]["data"]["columns"]
    for c in columns:
        result = report[c["column"]]
        assert c["noise_floor"] == result.noise_floor and c["p_value"] == result.p_value
        # the floor is (populated bins - 1)(1/n + 1/m) for the sample sizes PSI saw
        n = int(result.expected_counts.sum())
        m = int(result.actual_counts.sum())
        k = int((result.expected_counts > 0).sum())
        assert result.noise_floor == pytest.approx((k - 1) * (1 / n + 1 / m), rel=1e-12)


def test_drift_over_status_and_windows_with_too_few_rows() -> None:
    frame = cases.over_time_frame(with_embedding=False, by="shop")
    statuses = set(frame["a_status"].to_list()) | set(frame["b_status"].to_list())
    assert "too_few_rows" in statuses  # some (shop, day) windows hold under 10 rows
    html = ut.report(frame)
    section = page_data(html)["sections"][0]
    rank = ["too_few_rows", "stable", "moderate", "significant"]
    assert section["status"] == max(statuses, key=rank.index)
    too_few = sum(
        1 for a, b in zip(frame["a_status"], frame["b_status"], strict=True) if "too_few_rows" in (a, b)
    )
    assert f"<dt>windows with too few rows</dt><dd>{too_few}</dd>" in html
    assert section["data"]["groups"] == [f"shop={s}" for s in frame["shop"]]


def test_one_component_has_no_pca_view() -> None:
    rng = np.random.default_rng(5)
    report = ut.EmbeddingDrift.fit(rng.normal(size=(400, 5)) + 1, components=1, permutations=20).compare(
        rng.normal(size=(300, 5)) + 1
    )
    assert report.reference_sample_2d.shape[1] == 1
    ids = [f["id"] for f in page_data(ut.report(report))["sections"][0]["figures"]]
    assert "s1-pca" not in ids and ids[:2] == ["s1-cosine", "s1-components"]
    assert cases.expected_figures(report) == len(ids)
