"""The eval coverage and cohort balance sections: the page's numbers are the report's."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl

import undertow as ut


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="undertow-data">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def coverage_report() -> ut.CoverageReport:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 16))
    traffic = (centers[rng.integers(0, 6, 600)] + 0.3 * rng.normal(size=(600, 16))).astype(np.float32)
    suite = traffic[np.isin(np.arange(600) % 6, [0, 1, 2, 3])][:200]  # never rows 4, 5 mod 6
    times = np.datetime64("2026-01-01") + (np.arange(600) // 200).astype("timedelta64[M]").astype(
        "timedelta64[D]"
    )
    frame = pl.DataFrame({"v": traffic, "ts": times.astype("datetime64[us]"), "id": np.arange(600) + 1000})
    return ut.eval_coverage(suite, frame, column="v", id_column="id", time_column="ts", clusters=6)


def test_coverage_section_numbers_equal_the_report() -> None:
    report = coverage_report()
    html = report.to_html()
    (section,) = page_data(html)["sections"]
    assert section["kind"] == "coverage" and section["status"] == report.status
    data = section["data"]
    assert data["coverage"] == report.coverage and data["radius"] == report.radius
    assert [c["cluster"] for c in data["clusters"]] == [c.cluster for c in report.gaps]
    assert [c["representatives"] for c in data["clusters"]] == [c.representatives for c in report.gaps]
    assert len(data["windows"]) == report.windows.height
    assert len(section["figures"]) == 2  # the mix and the windows
    mix = section["figures"][0]["spec"]["data"]["values"]
    assert {(m["bin"], m["side"]): m["proportion"] for m in mix} == {
        **{(f"#{c.cluster}", "eval"): c.eval_share for c in report.clusters},
        **{(f"#{c.cluster}", "traffic"): c.traffic_share for c in report.clusters},
    }


def test_balance_section_numbers_equal_the_report() -> None:
    rng = np.random.default_rng(1)
    arm = rng.integers(0, 2, 4000)
    frame = pl.DataFrame(
        {"arm": arm, "x": rng.normal(size=4000) + 0.2 * arm, "c": rng.choice(["a", "b"], 4000)}
    )
    report = ut.cohort_balance(frame, "arm", ["x", "c"], control=0)
    (section,) = page_data(report.to_html())["sections"]
    assert section["kind"] == "balance" and section["status"] == report.status == "imbalanced"
    rows = section["data"]["covariates"]
    assert [r["name"] for r in rows] == ["x", "c"]
    for r, c in zip(rows, report.covariates, strict=True):
        assert (
            r["p_value"] == c.p_value
            and r["adjusted_p_value"] == c.adjusted_p_value
            and r["status"] == c.status
        )
    assert section["data"]["srm"]["p_value"] == report.srm.p_value
    html = ut.report(report, coverage_report())
    assert len(page_data(html)["sections"]) == 2
