"""The embedding section: the verdict and the rule that fired, cosine-to-centroid distributions
(reference vs current over the reference's cosine bins), a 2-D PCA view of the held-out samples
the tests compared, PSI per PCA component, and the MMD² permutation null with the observed value."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from undertow.embedding.report import SEVERE_AUC, SEVERE_CENTROID, EmbeddingDriftReport
from undertow.report import _charts as charts
from undertow.report._html import badge, facts, figure_div
from undertow.report._section import Figure, Section, fmt, number, numbers, register
from undertow.report.psi import bin_labels

# the scatter shows at most this many points per side (the held-out samples are 2000 by default)
MAX_POINTS = 2000


def reason(result: EmbeddingDriftReport) -> str:
    """Which rule of the status fired (EmbeddingDriftReport's own `reason` when it has one)."""
    own = getattr(result, "reason", None)
    if own:
        return str(own)
    p, alpha = result.mmd.p_value, result.alpha
    if p is None:
        return "no permutation test was run (permutations=0), so nothing flags drift"
    if p >= alpha:
        return f"MMD² permutation p-value {fmt(p)} ≥ alpha {fmt(alpha)}: no evidence of drift"
    fired = []
    if result.domain_auc >= SEVERE_AUC:
        fired.append(f"domain AUC {fmt(result.domain_auc)} ≥ {SEVERE_AUC}")
    if result.cosine.centroid_distance >= SEVERE_CENTROID:
        fired.append(f"centroid distance {fmt(result.cosine.centroid_distance)} ≥ {SEVERE_CENTROID}")
    if fired:
        return f"MMD² p-value {fmt(p)} < alpha {fmt(alpha)} and " + " and ".join(fired) + ": severe"
    return (
        f"MMD² p-value {fmt(p)} < alpha {fmt(alpha)}; domain AUC {fmt(result.domain_auc)} < {SEVERE_AUC} "
        f"and centroid distance {fmt(result.cosine.centroid_distance)} < {SEVERE_CENTROID}: drift, not severe"
    )


def _rounded(points: np.ndarray) -> list[list[float]]:
    # plotted positions only: 4 significant digits keep the page small (the statistics are exact)
    return [[float(f"{x:.4g}"), float(f"{y:.4g}")] for x, y in points[:MAX_POINTS].tolist()]


def _projection_chart(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    rows = [{"side": "reference", "pc1": x, "pc2": y} for x, y in _rounded(reference)]
    rows += [{"side": "current", "pc1": x, "pc2": y} for x, y in _rounded(current)]
    return charts.spec(
        {
            "data": {"values": rows},
            "mark": {"type": "circle", "size": 14, "opacity": 0.6},
            "encoding": {
                "x": {"field": "pc1", "type": "quantitative", "title": "PC 1", "scale": {"zero": False}},
                "y": {"field": "pc2", "type": "quantitative", "title": "PC 2", "scale": {"zero": False}},
                "color": {
                    "field": "side",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": ["reference", "current"], "range": [charts.WARN, charts.CURRENT]},
                },
            },
        },
        width=420,
        height=320,
    )


def _component_chart(component_psi: list[float | None], threshold: float) -> dict[str, Any]:
    rows = [{"component": f"PC {i + 1}", "i": i, "psi": v} for i, v in enumerate(component_psi)]
    top = max([v or 0.0 for v in component_psi] + [threshold])
    bars = {
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "component", "type": "ordinal", "sort": {"field": "i"}, "title": None},
            "y": {
                "field": "psi",
                "type": "quantitative",
                "title": "PSI",
                "scale": {"type": "sqrt", "domain": [0, top * 1.05]},
            },
            "color": {
                "condition": {"test": f"datum.psi >= {threshold}", "value": charts.FAIL},
                "value": charts.CURRENT,
            },
            "tooltip": [{"field": "component"}, {"field": "psi", "type": "quantitative", "format": ".6g"}],
        },
    }
    rule = charts.rule_layer([{"at": threshold, "label": f"drifted from PSI {threshold}"}], "y", charts.FAIL)
    return charts.spec({"layer": [bars, rule]}, width=max(240, 18 * len(rows)), height=160)


def _null_chart(null: np.ndarray, observed: float, p_value: float | None) -> dict[str, Any]:
    values = [float(v) for v in null if np.isfinite(v)]
    label = f"observed MMD² {fmt(observed)}" + ("" if p_value is None else f", p = {fmt(p_value)}")
    histogram = {
        "data": {"values": [{"mmd2": v} for v in values]},
        "mark": {"type": "bar", "color": charts.REFERENCE},
        "encoding": {
            "x": {
                "field": "mmd2",
                "type": "quantitative",
                "bin": {"maxbins": 40},
                "title": "MMD² under permutation",
            },
            "y": {"aggregate": "count", "type": "quantitative", "title": "permutations"},
        },
    }
    rule = charts.rule_layer([{"at": float(observed), "label": label}], "x", charts.FAIL, dash=False)
    return charts.spec({"layer": [histogram, rule]}, width=420, height=180)


def build(result: EmbeddingDriftReport, prefix: str) -> Section:
    cos, test = result.cosine, result.mmd
    why = reason(result)
    detail = cos.psi_detail
    cosine_bins = bin_labels(detail)
    null = getattr(result, "mmd_null", None)
    reference_2d = getattr(result, "reference_sample_2d", None)
    current_2d = getattr(result, "current_sample_2d", None)
    data: dict[str, Any] = {
        "status": result.status,
        "reason": why,
        "alpha": number(result.alpha),
        "mmd2": number(test.value),
        "p_value": number(test.p_value),
        "bandwidth": number(test.bandwidth),
        "permutations": int(test.permutations),
        "centroid_distance": number(cos.centroid_distance),
        "cosine_psi": number(cos.cosine_psi),
        "cosine_bins": cosine_bins,
        "cosine_reference_proportions": numbers(detail.expected_proportions),
        "cosine_current_proportions": numbers(detail.actual_proportions),
        "quantile_levels": list(cos.quantile_levels),
        "reference_quantiles": numbers(cos.reference_quantiles),
        "current_quantiles": numbers(cos.current_quantiles),
        "component_psi": numbers(result.component_psi),
        "component_threshold": number(result.component_threshold),
        "drifted_share": number(result.drifted_share),
        "domain_auc": number(result.domain_auc),
        "n_reference": int(result.n_reference),
        "n_current": int(result.n_current),
    }
    for extra in ("n_tested_reference", "n_tested_current"):
        if getattr(result, extra, None) is not None:
            data[extra] = int(getattr(result, extra))
    if null is not None:
        data["mmd_null"] = numbers(null)
    cosine_rows = [
        {"bin": label, "i": i, "side": side, "proportion": p}
        for side, values in (
            ("reference", data["cosine_reference_proportions"]),
            ("current", data["cosine_current_proportions"]),
        )
        for i, (label, p) in enumerate(zip(cosine_bins, values, strict=True))
    ]
    figures = [
        Figure(
            f"{prefix}-cosine",
            "Cosine to the reference centroid",
            charts.spec(
                charts.paired_bars(
                    cosine_rows, "cosine to the reference centroid (reference's bins)", width=560, height=180
                ),
                width=None,
            ),
            "Share of rows per bin of the reference's cosine-to-centroid quantiles (outer bins open).",
        ),
    ]
    if reference_2d is not None and current_2d is not None and np.shape(reference_2d)[1:] == (2,):
        figures.append(
            Figure(
                f"{prefix}-pca",
                "Held-out samples on the first two PCA components",
                _projection_chart(np.asarray(reference_2d), np.asarray(current_2d)),
                "The rows the MMD test and the domain classifier compared, projected on the reference's "
                "PCA basis (fitted without them).",
            )
        )
    figures.append(
        Figure(
            f"{prefix}-components",
            "PSI per PCA component",
            _component_chart(data["component_psi"], float(result.component_threshold)),
            f"Drifted share {fmt(result.drifted_share, 3)}: components with PSI "
            f"≥ {result.component_threshold}.",
        )
    )
    if null is not None and len(null):
        figures.append(
            Figure(
                f"{prefix}-null",
                "MMD² permutation null",
                _null_chart(np.asarray(null), test.value, test.p_value),
                f"{len(null)} permutations; p = (1 + #{{null ≥ observed}}) / (1 + permutations).",
            )
        )
    p_text = "-" if test.p_value is None else fmt(test.p_value)
    quantile_rows = "".join(
        f"<tr><td>{fmt(q)}</td><td class='num'>{fmt(r, 5)}</td><td class='num'>{fmt(c, 5)}</td></tr>"
        for q, r, c in zip(cos.quantile_levels, cos.reference_quantiles, cos.current_quantiles, strict=True)
    )
    tested = ""
    if "n_tested_reference" in data:
        tested = f" (tested {fmt(data['n_tested_reference'])} / {fmt(data.get('n_tested_current'))})"
    body = "".join(
        [
            f'<p class="verdict">{badge(result.status)} {escape(why)}</p>',
            facts(
                [
                    ("MMD² p-value", f"{p_text} <small>(alpha {fmt(result.alpha)})</small>"),
                    ("MMD²", fmt(test.value)),
                    ("domain AUC", fmt(result.domain_auc)),
                    ("centroid distance", fmt(cos.centroid_distance)),
                    ("cosine PSI", fmt(cos.cosine_psi)),
                    ("drifted components", f"{fmt(result.drifted_share, 3)} of {result.components}"),
                    ("rows ref / cur", f"{fmt(result.n_reference)} / {fmt(result.n_current)}{tested}"),
                ]
            ),
            *(figure_div(f.id, f.title, f.caption) for f in figures),
            "<h3>Cosine-to-centroid quantiles</h3>",
            '<table class="data"><thead><tr><th>quantile</th><th>reference</th><th>current</th></tr></thead>'
            f"<tbody>{quantile_rows}</tbody></table>",
        ]
    )
    if null is None:
        body += (
            '<p class="note">This result keeps no permutation statistics, so the null distribution '
            "is not drawn.</p>"
        )
    headline = (
        f"MMD² p = {p_text}, domain AUC {fmt(result.domain_auc, 3)}, "
        f"centroid distance {fmt(cos.centroid_distance, 3)}"
    )
    return Section("embedding", "Embedding drift", result.status, headline, body, figures, data)


register(EmbeddingDriftReport, build)
