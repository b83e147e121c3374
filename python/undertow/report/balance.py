"""The cohort balance section: the sample-ratio test, then one row per covariate test with its
raw and Holm-adjusted p-values and effect sizes, and the adjusted p-values against alpha."""

from __future__ import annotations

from html import escape
from typing import Any

from undertow.cohorts import BalanceReport
from undertow.report import _charts as charts
from undertow.report._html import Cell, badge, facts, figure_div, table
from undertow.report._section import Figure, Section, fmt, json_safe, level, number, register


def _p_chart(report: BalanceReport) -> dict[str, Any]:
    rows = [
        {
            "covariate": c.name if c.arm is None else f"{c.name} [{c.arm}]",
            "adjusted": number(max(c.adjusted_p_value, 1e-300)),
            "status": c.status,
        }
        for c in report.covariates
    ]
    bars = {
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "covariate", "type": "nominal", "sort": None, "title": None},
            "x": {
                "field": "adjusted",
                "type": "quantitative",
                "scale": {"type": "log"},
                "title": "Holm-adjusted p-value (log)",
            },
            "color": {
                "field": "status",
                "type": "nominal",
                "scale": {"domain": ["balanced", "imbalanced"], "range": [charts.OK, charts.FAIL]},
            },
        },
    }
    rule = charts.rule_layer([{"at": report.alpha, "label": "alpha"}], "x")
    return charts.spec({"layer": [bars, rule]}, width=520, height=max(60, 18 * len(rows)))


def build(result: BalanceReport, prefix: str) -> Section:
    rows = []
    for c in result.covariates:
        effect = ""
        if c.smd:
            effect = "SMD " + ", ".join(f"{k}: {fmt(v, 3)}" for k, v in c.smd.items())
        elif c.share_diff:
            worst = {k: max(d.items(), key=lambda kv: abs(kv[1])) for k, d in c.share_diff.items()}
            effect = "share diff " + ", ".join(f"{k}: {n} {fmt(v, 3)}" for k, (n, v) in worst.items())
        elif c.mmd is not None:
            effect = f"MMD² {fmt(c.mmd, 3)}"
        psi = ", ".join(f"{k}: {fmt(v, 3)}" for k, v in (c.psi or {}).items())
        rows.append(
            [
                c.name if c.arm is None else f"{c.name} [{c.arm}]",
                c.kind,
                Cell(badge(c.status), c.status, level(c.status)),
                Cell(fmt(c.p_value, 3), c.p_value, "num"),
                Cell(fmt(c.adjusted_p_value, 3), c.adjusted_p_value, "num"),
                psi or "-",
                effect or "-",
            ]
        )
    srm = result.srm
    figures = [Figure(f"{prefix}-p", "Covariate tests (Holm-adjusted)", _p_chart(result))]
    names = [c.name for c in result.imbalanced]
    headline = f"SRM {srm.status} (p={srm.p_value:.3g}); " + (
        f"{len(names)} imbalanced: {', '.join(names[:5])}" if names else "every covariate balanced"
    )
    body = "".join(
        [
            facts(
                [
                    (
                        "arms",
                        escape(", ".join(f"{a}: {n:,}" for a, n in zip(srm.arms, srm.counts, strict=True))),
                    ),
                    ("expected split", escape(", ".join(f"{s:.3g}" for s in srm.expected_shares))),
                    ("SRM", f"{badge(srm.status)} p = {fmt(srm.p_value, 3)}"),
                    ("control", escape(str(result.control))),
                    ("multiple testing", escape(f"{result.multiple_testing}, alpha {result.alpha}")),
                ]
            ),
            table(
                ["covariate", "kind", "status", "p-value", "adjusted", "PSI", "effect"],
                rows,
                f"{prefix}-covariates",
            ),
            *(figure_div(f.id, f.title, f.caption) for f in figures),
        ]
    )
    return Section(
        "balance", "Cohort balance", result.status, headline, body, figures, json_safe(result.to_dict())
    )


register(BalanceReport, build)
