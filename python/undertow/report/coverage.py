"""The eval coverage section: coverage against the radius and its null, the clusters ranked by
gap score (traffic share, eval share, coverage, representatives), the traffic vs eval mix per
cluster and, with a time column, coverage per window."""

from __future__ import annotations

from html import escape
from typing import Any

from undertow.coverage import CoverageReport
from undertow.report import _charts as charts
from undertow.report._html import Cell, badge, facts, figure_div, table
from undertow.report._section import Figure, Section, fmt, json_safe, level, number, register, share


def _mix_chart(report: CoverageReport) -> dict[str, Any]:
    order = [c.cluster for c in report.gaps]
    rows = [
        {"bin": f"#{c.cluster}", "i": order.index(c.cluster), "side": side, "proportion": p}
        for c in report.clusters
        for side, p in (("eval", c.eval_share), ("traffic", c.traffic_share))
    ]
    return charts.spec(
        charts.paired_bars(rows, "cluster (by gap score)", width=560, height=160, sides=("eval", "traffic")),
        width=None,
    )


def _windows_chart(report: CoverageReport) -> dict[str, Any]:
    assert report.windows is not None
    rows = [
        {"start": str(r["window_start"]), "coverage": number(r["coverage"]), "rows": int(r["rows"])}
        for r in report.windows.iter_rows(named=True)
    ]
    line = {
        "data": {"values": rows},
        "mark": {"type": "line", "point": True, "color": charts.CURRENT},
        "encoding": {
            "x": {"field": "start", "type": "temporal", "title": "window start"},
            "y": {"field": "coverage", "type": "quantitative", "title": "coverage", "axis": {"format": "%"}},
            "tooltip": [{"field": "start"}, {"field": "coverage", "format": ".3f"}, {"field": "rows"}],
        },
    }
    layers: list[dict[str, Any]] = [line]
    if report.null_coverage is not None:
        layers.append(charts.rule_layer([{"at": report.null_coverage, "label": "null coverage"}], "y"))
    return charts.spec({"layer": layers}, width=560, height=180)


def build(result: CoverageReport, prefix: str) -> Section:
    rows = []
    for c in result.gaps:
        status = "gaps" if c.flagged else "covered"
        rows.append(
            [
                Cell(f"#{c.cluster}", c.cluster),
                Cell(badge(status), status, level(status)),
                Cell(share(c.traffic_share), c.traffic_share, "num"),
                Cell(share(c.eval_share), c.eval_share, "num"),
                Cell(fmt(c.coverage, 3), c.coverage, "num"),
                Cell(fmt(c.gap_score, 3), c.gap_score, "num"),
                ", ".join(str(i) for i in c.representatives),
            ]
        )
    figures = [
        Figure(
            f"{prefix}-mix",
            "Eval share vs traffic share per cluster",
            _mix_chart(result),
            f"PSI of the cluster shares (eval expected, traffic actual): {fmt(result.mix_psi.value)}.",
        )
    ]
    if result.windows is not None and result.windows.height:
        figures.append(Figure(f"{prefix}-windows", "Coverage per window", _windows_chart(result)))
    flagged = result.flagged
    headline = f"coverage {result.coverage:.3f} of {result.rows:,} queries; " + (
        f"{len(flagged)} cluster(s) flagged" if flagged else "no cluster flagged"
    )
    body = "".join(
        [
            facts(
                [
                    ("coverage", escape(f"{result.coverage:.3f} ({result.covered:,} of {result.rows:,})")),
                    ("null coverage", fmt(result.null_coverage, 3)),
                    ("radius", escape(f"{result.radius:.4f} ({result.radius_rule})")),
                    ("eval items", fmt(result.eval_items)),
                    ("mix PSI", escape(f"{result.mix_psi.value:.4g} ({result.mix_psi.status})")),
                ]
            ),
            table(
                ["cluster", "status", "traffic", "eval", "coverage", "gap score", "representative ids"],
                rows,
                f"{prefix}-clusters",
            ),
            *(figure_div(f.id, f.title, f.caption) for f in figures),
        ]
    )
    data = result.to_dict()
    return Section("coverage", "Eval coverage", result.status, headline, body, figures, json_safe(data))


register(CoverageReport, build)
