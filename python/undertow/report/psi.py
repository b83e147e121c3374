"""The PSI section: PSI per column (sorted bars over the stable/moderate/significant bands), the
reference vs current bin proportions of every column over the reference's own bins (open
outer bins, missing and unseen bins shown), and a sortable, filterable table; worst first."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from undertow.report import _charts as charts
from undertow.report._html import Cell, badge, facts, figure_div, table
from undertow.report._section import Figure, Section, fmt, level, number, numbers, register, share
from undertow.tabular.results import PsiReport, PsiResult

# more columns than this get the bars of their worst MAX_BIN_PANELS only (the table and the
# JSON hold all); 100 columns of 10 bins render in about a second
MAX_BIN_PANELS = 200
MAX_PANEL_BINS = 30
# bars in the PSI-per-column chart (14 px each): the worst this many
MAX_BARS = 1000


def interval_labels(inner_edges: Any) -> list[str]:
    """Labels of the bins between open outer edges: "< a", "[a, b)", ..., "≥ z" (left-closed)."""
    inner = [f"{e:.4g}" for e in np.asarray(inner_edges, dtype=np.float64).tolist()]
    if not inner:
        return ["all values"]
    labels = [f"< {inner[0]}"]
    labels += [f"[{a}, {b})" for a, b in itertools.pairwise(inner)]
    labels.append(f"≥ {inner[-1]}")
    return labels


def bin_labels(result: PsiResult) -> list[str]:
    """A label per bin of `result`, as PSI counted them: left-closed [a, b), open outer bins."""
    if result.kind == "categorical":
        labels = [*(result.categories or []), "<unseen>"]
    else:
        labels = interval_labels(np.asarray(result.edges, dtype=np.float64)[1:-1])
    if len(labels) < result.bins:  # nan_policy "bin": the trailing missing-values bin
        labels.append("missing")
    return labels


def missing_shares(result: PsiResult) -> tuple[float | None, float | None]:
    """Missing values as a share of all rows (under "bin" they are counted in the bins too)."""
    binned = result.nan_policy == "bin"

    def one(counts: np.ndarray, missing: int) -> float | None:
        total = int(np.sum(counts)) + (0 if binned else int(missing))
        return None if total == 0 else missing / total

    return one(result.expected_counts, result.expected_missing), one(
        result.actual_counts, result.actual_missing
    )


def unseen_share(result: PsiResult) -> float | None:
    if result.kind != "categorical":
        return None
    position = len(result.categories or [])
    return float(result.actual_proportions[position])


def column_data(result: PsiResult) -> dict[str, Any]:
    """The numbers of one column the page shows (and the test reads back)."""
    ref_missing, cur_missing = missing_shares(result)
    out: dict[str, Any] = {
        "column": result.name,
        "kind": result.kind,
        "psi": number(result.value),
        "status": result.status,
        "bins": bin_labels(result),
        "inner_edges": None if result.edges is None else numbers(np.asarray(result.edges)[1:-1]),
        "expected_counts": numbers(result.expected_counts),
        "actual_counts": numbers(result.actual_counts),
        "expected_proportions": numbers(result.expected_proportions),
        "actual_proportions": numbers(result.actual_proportions),
        "expected_missing": int(result.expected_missing),
        "actual_missing": int(result.actual_missing),
        "expected_missing_share": ref_missing,
        "actual_missing_share": cur_missing,
        "unseen_share": unseen_share(result),
        "nan_policy": result.nan_policy,
    }
    for extra in ("noise_floor", "p_value"):  # added by the PSI significance work when present
        value = getattr(result, extra, None)
        if value is not None:
            out[extra] = number(value)
    return out


def _psi_chart(columns: list[dict[str, Any]], thresholds: tuple[float, float]) -> dict[str, Any]:
    low, high = thresholds
    top = max([c["psi"] or 0.0 for c in columns] + [high])
    rows = [
        {"column": c["column"], "psi": c["psi"], "status": c["status"], "rank": i}
        for i, c in enumerate(columns)
    ]
    bars = {
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {
                "field": "column",
                "type": "nominal",
                "sort": {"field": "rank"},
                "title": None,
                "axis": {"labelLimit": 180},
            },
            "x": {
                "field": "psi",
                "type": "quantitative",
                "title": "PSI (square-root scale)",
                "scale": {"type": "sqrt", "domain": [0, top * 1.05]},
            },
            "color": {
                "field": "status",
                "type": "nominal",
                "scale": charts.STATUS_COLOURS,
                "title": "status",
            },
            "tooltip": [
                {"field": "column", "type": "nominal"},
                {"field": "psi", "type": "quantitative", "format": ".6g"},
                {"field": "status", "type": "nominal"},
            ],
        },
    }
    lines = charts.rule_layer(
        [{"at": low, "label": f"moderate from {low}"}, {"at": high, "label": f"significant from {high}"}], "x"
    )
    return charts.spec(
        {
            "height": {"step": 14},
            "layer": [charts.band_layer(charts.bands(low, high, top), "x"), bars, lines],
        }
    )


def panel_bins(column: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(label, reference share, current share) per bar of a column's panel: every bin, or for a
    column of more than MAX_PANEL_BINS bins (a categorical one, mostly) the largest on either
    side, in their order, and the rest summed into one bar (the table and the JSON hold all)."""
    bins = list(
        zip(column["bins"], column["expected_proportions"], column["actual_proportions"], strict=True)
    )
    if len(bins) <= MAX_PANEL_BINS:
        return bins
    largest = sorted(range(len(bins)), key=lambda i: -max(bins[i][1] or 0.0, bins[i][2] or 0.0))
    kept, rest = sorted(largest[: MAX_PANEL_BINS - 1]), largest[MAX_PANEL_BINS - 1 :]
    other = (
        f"{len(rest)} other bins",
        sum(bins[i][1] or 0.0 for i in rest),
        sum(bins[i][2] or 0.0 for i in rest),
    )
    return [bins[i] for i in kept] + [other]


def _bins_chart(columns: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for rank, c in enumerate(columns):
        title = f"{c['column']} · PSI {fmt(c['psi'], 3)} ({c['status']})"
        for i, (label, reference, current) in enumerate(panel_bins(c)):
            for side, p in (("reference", reference), ("current", current)):
                rows.append(
                    {"panel": title, "rank": rank, "bin": label, "i": i, "side": side, "proportion": p}
                )
    inner = charts.paired_bars(rows, "bin (reference's bins)", width=230, height=110)
    inner.pop("data")
    return charts.spec(
        {
            "data": {"values": rows},
            "facet": {
                "field": "panel",
                "type": "nominal",
                "sort": {"field": "rank"},
                "title": None,
                "header": {"labelFontWeight": "bold", "labelLimit": 300},
            },
            "columns": 3,
            "spec": inner,
            "resolve": {"scale": {"x": "independent", "xOffset": "independent", "y": "independent"}},
        },
        width=None,
    )


def build(result: PsiReport, prefix: str) -> Section:
    columns = sorted((column_data(r) for r in result.results), key=lambda c: -(c["psi"] or 0.0))
    low, high = (float(t) for t in result.thresholds)
    counts = {
        name: sum(1 for c in columns if c["status"] == name) for name in ("stable", "moderate", "significant")
    }
    worst = columns[0] if columns else None
    headline = (
        f"{counts['significant']} significant, {counts['moderate']} moderate of {len(columns)} columns"
        + (f"; worst {worst['column']} (PSI {fmt(worst['psi'], 3)})" if worst else "")
    )
    shown = columns[:MAX_BIN_PANELS]
    figures = [
        Figure(f"{prefix}-psi", "PSI per column", _psi_chart(columns[:MAX_BARS], (low, high))),
        Figure(f"{prefix}-bins", "Reference vs current share per bin", _bins_chart(shown)),
    ]
    has_floor = any("noise_floor" in c for c in columns)
    has_p = any("p_value" in c for c in columns)
    headers = ["column", "kind", "PSI", "status", "bins", "missing ref", "missing cur", "unseen cur"]
    headers += ["noise floor"] * has_floor + ["p-value"] * has_p
    rows = []
    for c in columns:
        row: list[Cell | str] = [
            c["column"],
            c["kind"],
            Cell(fmt(c["psi"], 5), c["psi"], "num"),
            Cell(badge(c["status"]), c["status"]),
            Cell(str(len(c["bins"])), len(c["bins"]), "num"),
            Cell(share(c["expected_missing_share"]), c["expected_missing_share"], "num"),
            Cell(share(c["actual_missing_share"]), c["actual_missing_share"], "num"),
            Cell(share(c["unseen_share"]), c["unseen_share"], "num"),
        ]
        if has_floor:
            row.append(Cell(fmt(c.get("noise_floor"), 3), c.get("noise_floor"), "num"))
        if has_p:
            row.append(Cell(fmt(c.get("p_value"), 3), c.get("p_value"), "num"))
        rows.append(row)
    note = (
        f'<p class="note">Bins of the {MAX_BIN_PANELS} worst columns of {len(columns)}; the table and '
        "the JSON hold all.</p>"
        if len(columns) > MAX_BIN_PANELS
        else ""
    )
    body = "".join(
        [
            facts(
                [
                    ("columns", fmt(len(columns))),
                    ("rows compared", fmt(result.rows)),
                    ("significant", f'<span class="{level("significant")}">{counts["significant"]}</span>'),
                    ("moderate", str(counts["moderate"])),
                    ("thresholds", f"{fmt(low)} / {fmt(high)}"),
                ]
            ),
            figure_div(
                figures[0].id,
                figures[0].title,
                f"Worst first. Bands: stable below {fmt(low)}, moderate to {fmt(high)}, significant above."
                + (f" The {MAX_BARS} worst of {len(columns)} columns." if len(columns) > MAX_BARS else ""),
            ),
            figure_div(
                figures[1].id,
                figures[1].title,
                "Each column over the bins PSI used (the reference's own; outer bins open, "
                "[a, b) intervals), with the missing and unseen bins where counted. Past "
                f"{MAX_PANEL_BINS} bins, the largest and the rest summed in one bar.",
            ),
            note,
            '<div class="scroll">',
            table(headers, rows, f"{prefix}-table", filterable=True),
            "</div>",
        ]
    )
    data = {"thresholds": [low, high], "rows": int(result.rows), "status": result.status, "columns": columns}
    return Section("psi", "PSI per column", result.status, headline, body, figures, data)


register(PsiReport, build)
