"""The audit section: every check with status colours, values, thresholds and messages;
offending ids (the first 100 per check, the count stated, all of them in the JSON); the score
distribution of this audit (and of the baseline, over its own bins) with the cutoff; recall."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from undertow.audit import AuditReport
from undertow.audit._report import CHECKS
from undertow.report import _charts as charts
from undertow.report._checks import check_data, check_table, id_blocks
from undertow.report._html import facts, figure_div
from undertow.report._section import Figure, Section, fmt, json_safe, numbers, register
from undertow.report.psi import interval_labels


def _score_chart(top1: np.ndarray, detail: dict[str, Any], metric: str | None) -> dict[str, Any]:
    scores = [float(v) for v in top1 if np.isfinite(v)]
    histogram = {
        "data": {"values": [{"score": v} for v in scores]},
        "mark": {"type": "bar", "color": charts.CURRENT, "opacity": 0.8},
        "encoding": {
            "x": {
                "field": "score",
                "type": "quantitative",
                "bin": {"maxbins": 40},
                "title": f"top-1 score ({metric or 'score'}) of this audit's queries",
            },
            "y": {"aggregate": "count", "type": "quantitative", "title": "queries"},
        },
    }
    layers: list[dict[str, Any]] = [histogram]
    marks = []
    if detail.get("cutoff") is not None:
        marks.append({"at": detail["cutoff"], "label": "cutoff"})
    if detail.get("cutoff_for_same_pass_rate") is not None:
        marks.append(
            {"at": detail["cutoff_for_same_pass_rate"], "label": "cutoff keeping the baseline's pass rate"}
        )
    if detail.get("median_top1_baseline") is not None:
        marks.append({"at": detail["median_top1_baseline"], "label": "baseline median top-1"})
    if marks:
        layers.append(
            {
                "data": {"values": marks},
                "mark": {"type": "rule", "strokeWidth": 2, "strokeDash": [4, 3]},
                "encoding": {
                    "x": {"field": "at", "type": "quantitative"},
                    "color": {
                        "field": "label",
                        "type": "nominal",
                        "title": None,
                        "scale": {"range": [charts.FAIL, charts.OK, charts.REFERENCE]},
                    },
                    "tooltip": [{"field": "label"}, {"field": "at", "type": "quantitative", "format": ".5g"}],
                },
            }
        )
    return charts.spec({"layer": layers}, width=560, height=180)


def _baseline_chart(detail: dict[str, Any]) -> dict[str, Any]:
    labels = interval_labels(detail["top1_inner_edges"])
    rows = [
        {"bin": label, "i": i, "side": side, "proportion": p}
        for side, key in (("baseline", "top1_baseline_proportions"), ("this audit", "top1_now_proportions"))
        for i, (label, p) in enumerate(zip(labels, detail[key], strict=True))
    ]
    return charts.spec(
        charts.paired_bars(
            rows, "top-1 score, the baseline's bins", width=560, height=160, sides=("baseline", "this audit")
        ),
        width=None,
    )


def build(result: AuditReport, prefix: str) -> Section:
    checks = [result.checks[name] for name in CHECKS if name in result.checks]
    blocks = id_blocks(checks, prefix)
    shift = result.checks.get("score_shift")
    detail = dict(shift.detail) if shift is not None else {}
    figures = []
    top1 = result.scores["top1"]
    if len(top1):
        caption = (
            "No baseline was given: the score shift was not measured."
            if shift is None or shift.status == "not_run"
            else f"Cutoff {fmt(detail.get('cutoff'))} passed {fmt(detail.get('pass_rate_baseline'))} of the "
            f"baseline's queries and {fmt(detail.get('pass_rate_now'))} now; "
            f"{fmt(detail.get('cutoff_for_same_pass_rate'))} keeps the baseline's pass rate."
        )
        figures.append(
            Figure(
                f"{prefix}-scores",
                "Top-1 score distribution",
                _score_chart(top1, detail, result.scores["metric"]),
                caption,
            )
        )
    if "top1_inner_edges" in detail:
        figures.append(
            Figure(
                f"{prefix}-baseline",
                "Top-1 scores: baseline vs this audit",
                _baseline_chart(detail),
                "Share of queries per bin of the baseline's top-1 scores (outer bins open).",
            )
        )
    recall = result.checks.get("ann_recall")
    failing = [c.name for c in checks if c.status in ("warn", "fail")]
    index = result.index
    headline = f"{len(failing)} of {len(checks)} checks warn or fail" + (
        f": {', '.join(failing)}" if failing else ""
    )
    body = "".join(
        [
            facts(
                [
                    (
                        "index",
                        escape(f"{index.get('type')}, {index.get('ntotal')} vectors × {index.get('dim')}"),
                    ),
                    ("metric", escape(str(index.get("metric")))),
                    (
                        "recall@k" if recall is None else f"recall@{result.k}",
                        "-" if recall is None or recall.value is None else fmt(recall.value),
                    ),
                    (
                        "checks failing / warning",
                        f"{sum(c.status == 'fail' for c in checks)} / "
                        f"{sum(c.status == 'warn' for c in checks)}",
                    ),
                ]
            ),
            check_table(checks, prefix),
            "</div>",
            *(figure_div(f.id, f.title, f.caption) for f in figures),
            "<h3>Offending ids</h3>" if blocks else "",
            *blocks,
        ]
    )
    data = {
        "status": result.status,
        "k": result.k,
        "index": json_safe(result.index),
        "checks": check_data(checks),
        "scores": {"metric": result.scores["metric"], "top1": numbers(top1)},
    }
    return Section("audit", "Index audit", result.status, headline, body, figures, data)


register(AuditReport, build)
