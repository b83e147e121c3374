"""The encoder rotation section: the page's numbers are the report's and an independent float64
numpy recomputation's; the same input gives the same bytes; hostile text and NaN stay inert."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import report_cases as cases

import undertow as ut
from undertow.report.rotation import overlap_histogram
from undertow.rotation.report import CHECKS


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="undertow-data">(.*?)</script>', html, re.S)
    assert match is not None

    def no_constants(name: str) -> None:  # strict JSON: NaN / Infinity would be a broken page
        raise AssertionError(f"non-JSON constant {name} in the page data")

    return json.loads(match.group(1), parse_constant=no_constants)


@pytest.fixture(scope="module")
def report() -> ut.RotationReport:
    return cases.rotation_report()


def brute_topk(docs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine top-k by a full float64 sort (rows, scores), ties to the lower row."""
    d = docs.astype(np.float64)
    q = queries.astype(np.float64)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scores = q @ d.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def test_section_numbers_equal_the_report(report) -> None:  # type: ignore[no-untyped-def]
    html = report.to_html()
    (section,) = page_data(html)["sections"]
    assert section["kind"] == "rotation" and section["status"] == report.status
    data = section["data"]
    assert data["verdict"] == report.verdict and data["reason"] == report.compatibility.reason
    assert [c["name"] for c in data["checks"]] == list(CHECKS)
    for c in data["checks"]:
        check = report[c["name"]]
        assert (c["status"], c["value"], c["threshold"]) == (check.status, check.value, check.threshold)
        assert c["ids"] == check.ids.tolist() and c["count"] == check.count and c["message"] == check.message
    assert data["compatibility"] == report.compatibility.numbers
    for key in ("held_out_relative_residual", "mapped_cosine_median", "mapped_overlap_mean"):
        assert isinstance(data["compatibility"][key], float)
    # dims 12 -> 10: no self cosine, and the table says so
    assert "self_cosine_median" not in report.compatibility.numbers
    assert re.search(r"<td>self cosine, median[^<]*</td><td class=\"num\">-</td>", html)
    mapped = report.compatibility.numbers["mapped_overlap_mean"]
    assert (
        f'<td>overlap@k of mapped old vectors</td><td data-sort="{mapped!r}" class="num">{mapped:.4g}</td>'
        in html
    )
    for side, churn in (("churn", report.churn), ("neighbourhood", report.neighbourhood)):
        summary = {k: v for k, v in data[side].items() if k != "most_changed"}
        assert summary == churn.summary
        worst = churn.worst(10)
        assert [m["id"] for m in data[side]["most_changed"]] == churn.ids[worst].tolist()
        assert [m["old_top"] for m in data[side]["most_changed"]] == churn.old_top[worst].tolist()
        assert [m["new_top"] for m in data[side]["most_changed"]] == churn.new_top[worst].tolist()
        assert [m["overlap"] for m in data[side]["most_changed"]] == churn.overlap[worst].tolist()
    assert data["cutoffs"] == [c.to_dict() for c in report.cutoffs]
    assert data["cutoff_table"] == report.cutoff_table
    assert data["scores"]["psi_top1"] == report.scores["psi_top1"]
    assert data["scores"]["psi_topk"] == report.scores["psi_topk"]
    # two figures: the overlap histogram (queries and documents) and the cutoff map
    overlap, cutoffs = section["figures"]
    bars = overlap["spec"]["data"]["values"]
    for side, churn in (("queries", report.churn), ("documents", report.neighbourhood)):
        counts = overlap_histogram(churn.overlap, report.settings["k"])["counts"]
        assert [b["proportion"] for b in bars if b["side"] == side] == [c / len(churn.ids) for c in counts]
    line = cutoffs["spec"]["layer"][1]["data"]["values"]
    assert [p["old"] for p in line] == report.cutoff_table["old_cutoff"]
    assert [p["new"] for p in line] == report.cutoff_table["new_cutoff"]
    points = cutoffs["spec"]["layer"][2]["data"]["values"]
    assert [p["new"] for p in points] == [
        v for c in report.cutoffs for v in (c.quantile_cutoff, c.set_cutoff)
    ]


def test_section_numbers_against_numpy(report) -> None:  # type: ignore[no-untyped-def]
    """Mean, p10 and share below one half of overlap@k, the histogram and the pass rates, from a
    brute-force float64 top-k of the same vectors (ids mapped back from the shuffled new side)."""
    s = cases.rotation_spaces()
    k = 5
    old_rows, old_scores = brute_topk(s["old"], s["q_old"], k)
    new_rows, new_scores = brute_topk(s["new_shuffled"], s["q_new"], k)
    old_ids, new_ids = s["doc_ids"][old_rows], s["new_ids_shuffled"][new_rows]
    overlap = np.array([len(set(a) & set(b)) / k for a, b in zip(old_ids, new_ids, strict=True)])
    html = report.to_html()
    data = page_data(html)["sections"][0]["data"]
    churn = data["churn"]
    assert churn["overlap_mean"] == pytest.approx(overlap.mean(), abs=1e-12)
    assert churn["overlap_p10"] == pytest.approx(np.quantile(overlap, 0.1), abs=1e-12)
    assert churn["share_overlap_below_half"] == pytest.approx((overlap < 0.5).mean(), abs=1e-12)
    assert 0.2 < overlap.mean() < 0.95  # the fixture moves some lists, not all
    # k = 5 <= 20 bins: one bar per value j / 5
    want = np.bincount(np.rint(overlap * k).astype(int), minlength=k + 1)
    assert data["overlap_histograms"]["queries"]["counts"] == want.tolist()
    assert data["overlap_histograms"]["queries"]["centres"] == [j / k for j in range(k + 1)]
    for remap in data["cutoffs"]:
        assert remap["pass_rate_old"] == pytest.approx((old_scores >= remap["cutoff"]).mean(), abs=1e-12)
        assert remap["pass_rate_new"] == pytest.approx((new_scores >= remap["cutoff"]).mean(), abs=1e-12)
    # the most changed query of the table, and its old and new top ids
    first = int(np.lexsort((np.arange(len(overlap)), report.churn.rbo, overlap))[0])
    assert data["churn"]["most_changed"][0]["id"] == s["query_ids"][first]
    assert data["churn"]["most_changed"][0]["old_top"] == old_ids[first].tolist()
    assert data["churn"]["most_changed"][0]["new_top"] == new_ids[first].tolist()
    # the text shows the same mean
    assert f"mean overlap@k {overlap.mean():.3g}" in html


def test_without_queries_one_side_and_the_defaulted_cutoff() -> None:
    report = cases.rotation_report(queries=False)
    html = report.to_html()
    (section,) = page_data(html)["sections"]
    assert list(section["data"]["overlap_histograms"]) == ["documents"]
    assert "Documents that lose their neighbourhood most" not in html
    assert "No cutoffs were given: the row is the old median top-1 score." in html
    assert len(section["figures"]) == cases.expected_figures(report) == 2


def test_same_input_same_bytes() -> None:
    a, b = cases.rotation_report(), cases.rotation_report()
    html = a.to_html()
    assert html == b.to_html()
    assert repr(a.seconds) not in html  # the run time (which differs) is not on the page
    assert ut.report(("x", a)).encode() == ut.report(("x", b)).encode()


def test_hostile_text_and_nan_are_inert() -> None:
    report = cases.rotation_report()
    hostile = "</script><script>alert(1)</script><b>&"
    report.checks["score_shift"] = dataclasses.replace(report.checks["score_shift"], message=hostile)
    report.compatibility.numbers["mapped_cosine_median"] = float("nan")
    report.compatibility.numbers["held_out_relative_residual"] = float("inf")
    report.cutoffs[0] = dataclasses.replace(report.cutoffs[0], set_cutoff=float("nan"))
    report.cutoff_table["new_cutoff"][3] = float("nan")
    html = ut.report((hostile, report), title=hostile)
    assert html.count("</script>") == 3  # the data, the runtime, the page script: none injected
    assert "<script>alert(1)" not in html and "<b>&" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;&amp;" in html
    (section,) = page_data(html)["sections"]
    assert section["title"] == f"Encoder rotation: {hostile}"
    data = section["data"]
    assert next(c for c in data["checks"] if c["name"] == "score_shift")["message"] == hostile
    assert data["compatibility"]["mapped_cosine_median"] is None
    assert data["compatibility"]["held_out_relative_residual"] is None
    assert data["cutoffs"][0]["set_cutoff"] is None and data["cutoff_table"]["new_cutoff"][3] is None
    points = section["figures"][1]["spec"]["layer"][2]["data"]["values"]
    assert points[1]["new"] is None


def test_a_mix_of_results_one_page_with_the_summary(report) -> None:  # type: ignore[no-untyped-def]
    psi = cases.psi_report(columns=2, rows=500)
    coverage_frame = cases.over_time_frame(with_embedding=False)
    html = ut.report(psi, ("candidate encoder", report), coverage_frame)
    data = page_data(html)
    assert [s["kind"] for s in data["sections"]] == ["psi", "rotation", "drift_over"]
    summary = re.search(r'<table class="data summary">(.*?)</table>', html, re.S).group(1)
    row = re.search(
        r'<tr><td><a href="#sec-2">(.*?)</a></td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>', summary
    )
    assert row.group(1) == "Encoder rotation: candidate encoder" and row.group(2) == "rotation"
    assert f">{report.status}</span>" in row.group(3)
    assert row.group(4).startswith(f"{report.verdict}: mean overlap@k {report.churn.overlap.mean():.3g}")
    assert 'id="sec-2" data-kind="rotation" data-figures="2"' in html


def test_to_html_writes_the_page(report, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rotation.html"
    html = report.to_html(path)
    assert path.read_text(encoding="utf-8") == html and html.startswith("<!DOCTYPE html>")
