"""The encoder rotation section: the verdict and the numbers behind it (self cosine vs random
pairs, the held-out Procrustes residual, cosine and overlap after the map); every check with its
status and the ids behind it; result churn and neighbourhood preservation (overlap@k and RBO
distributions, a histogram of per-query overlap, the most-changed rows with their old and new
top ids); the score shift; the given cutoffs remapped and the old -> new cutoff map."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from undertow.report import _charts as charts
from undertow.report._checks import check_data, check_table, id_blocks
from undertow.report._html import Cell, badge, facts, figure_div, table
from undertow.report._section import Figure, Section, fmt, json_safe, level, number, register, share
from undertow.rotation.churn import ListChurn
from undertow.rotation.report import CHECKS, RotationReport

MOST_CHANGED = 10  # rows of the most-changed tables (the JSON holds the same rows)
SHOWN_TOP = 20  # ids per top-k list in those tables (the JSON holds the whole list)
OVERLAP_BINS = 20  # at most: overlap@k takes the k + 1 values j / k for full lists


def overlap_histogram(overlap: np.ndarray, k: int) -> dict[str, list[Any]]:
    """Counts of overlap@k in bins centred on j / b (b = min(k, OVERLAP_BINS)), so each value
    j / k of a full list has its own bar when k <= OVERLAP_BINS."""
    b = max(1, min(k, OVERLAP_BINS))
    edges = (np.arange(b + 2) - 0.5) / b
    counts, _ = np.histogram(np.clip(overlap, 0.0, 1.0), bins=edges)
    return {"centres": [j / b for j in range(b + 1)], "counts": [int(c) for c in counts]}


def _sides(result: RotationReport) -> list[tuple[str, ListChurn]]:
    """("queries", churn) and ("documents", neighbourhood); one side when the sampled documents
    were the queries (then both are the same lists)."""
    if result.churn is result.neighbourhood:
        return [("documents", result.neighbourhood)]
    return [("queries", result.churn), ("documents", result.neighbourhood)]


def _histogram_chart(histograms: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    rows = [
        {"bin": fmt(centre, 3), "i": i, "side": side, "proportion": count / max(sum(h["counts"]), 1)}
        for side, h in histograms.items()
        for i, (centre, count) in enumerate(zip(h["centres"], h["counts"], strict=True))
    ]
    sides = tuple(histograms)
    return charts.spec(
        charts.paired_bars(rows, "overlap@k of the old and new top-k", width=560, height=170, sides=sides),
        width=None,
    )


def _cutoff_chart(result: RotationReport) -> dict[str, Any]:
    table_ = result.cutoff_table
    old = [number(v) for v in table_["old_cutoff"]]
    line_rows = [
        {
            "old": o,
            "new": number(n),
            "series": "new cutoff keeping the pass rate",
            "rate": number(r),
            "rate_new": number(rn),
        }
        for o, n, r, rn in zip(
            old,
            table_["new_cutoff"],
            table_["pass_rate_old"],
            table_["pass_rate_new_at_old_cutoff"],
            strict=True,
        )
    ]
    finite = [v for v in old if v is not None]
    diagonal = (
        [{"old": v, "new": v, "series": "unchanged"} for v in (min(finite), max(finite))] if finite else []
    )
    points = [
        {"old": number(c.cutoff), "new": number(new), "series": series}
        for c in result.cutoffs
        for series, new in (
            ("given cutoff: keeps the pass rate", c.quantile_cutoff),
            ("given cutoff: keeps the old passing set", c.set_cutoff),
        )
    ]
    colour = {
        "field": "series",
        "type": "nominal",
        "title": None,
        "scale": {
            "domain": [
                "new cutoff keeping the pass rate",
                "unchanged",
                "given cutoff: keeps the pass rate",
                "given cutoff: keeps the old passing set",
            ],
            "range": [charts.CURRENT, charts.REFERENCE, charts.OK, charts.FAIL],
        },
        "legend": {"orient": "bottom", "columns": 2, "labelLimit": 320},
    }
    what = "squared distance" if result.settings.get("metric") == "l2" else "score"
    x = {"field": "old", "type": "quantitative", "title": f"old cutoff ({what})", "scale": {"zero": False}}
    y = {"field": "new", "type": "quantitative", "title": f"new cutoff ({what})", "scale": {"zero": False}}
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": diagonal},
            "mark": {"type": "line", "strokeDash": [4, 3], "strokeWidth": 1},
            "encoding": {"x": x, "y": y, "color": colour},
        },
        {
            "data": {"values": line_rows},
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": x,
                "y": y,
                "color": colour,
                "tooltip": [
                    {"field": "old", "type": "quantitative", "format": ".4g", "title": "old cutoff"},
                    {"field": "rate", "type": "quantitative", "format": ".1%", "title": "old pass rate"},
                    {"field": "new", "type": "quantitative", "format": ".4g", "title": "new cutoff"},
                    {
                        "field": "rate_new",
                        "type": "quantitative",
                        "format": ".1%",
                        "title": "new pass rate at the old cutoff",
                    },
                ],
            },
        },
    ]
    if points:
        layers.append(
            {
                "data": {"values": points},
                "mark": {"type": "point", "filled": True, "size": 90},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": colour,
                    "shape": {"field": "series", "type": "nominal", "legend": None},
                    "tooltip": [
                        {"field": "series"},
                        {"field": "old", "format": ".4g"},
                        {"field": "new", "format": ".4g"},
                    ],
                },
            }
        )
    return charts.spec({"layer": layers}, width=460, height=300)


def _ids(values: np.ndarray, other: np.ndarray | None = None) -> str:
    """A top-k list as text, SHOWN_TOP ids at most; ids absent from `other` in bold."""
    valid = [int(v) for v in values if v >= 0]
    keep = set() if other is None else {int(v) for v in other if v >= 0}
    parts = [str(v) if other is None or v in keep else f"<b>{v}</b>" for v in valid[:SHOWN_TOP]]
    more = f" … (+{len(valid) - SHOWN_TOP})" if len(valid) > SHOWN_TOP else ""
    return f"<span class='ids'>{', '.join(parts)}{more}</span>"


def _most_changed(churn: ListChurn) -> tuple[list[list[Cell | str]], list[dict[str, Any]]]:
    rows, data = [], []
    for i in churn.worst(MOST_CHANGED):
        rows.append(
            [
                Cell(str(int(churn.ids[i])), int(churn.ids[i]), "num"),
                Cell(fmt(churn.overlap[i], 3), number(churn.overlap[i]), "num"),
                Cell(fmt(churn.rbo[i], 3), number(churn.rbo[i]), "num"),
                Cell(_ids(churn.old_top[i])),
                Cell(_ids(churn.new_top[i], churn.old_top[i])),
            ]
        )
        data.append(
            {
                "id": int(churn.ids[i]),
                "overlap": churn.overlap[i],
                "rbo": churn.rbo[i],
                "old_top": [int(v) for v in churn.old_top[i] if v >= 0],
                "new_top": [int(v) for v in churn.new_top[i] if v >= 0],
            }
        )
    return rows, data


def _churn_rows(sides: list[tuple[str, ListChurn]], statuses: dict[str, str]) -> list[list[Cell | str]]:
    rows = []
    for side, churn in sides:
        s = churn.summary
        status = statuses[side]
        rows.append(
            [side, Cell(badge(status), status, level(status)), Cell(fmt(s["rows"]), s["rows"], "num")]
            + [
                Cell(fmt(s.get(key), 3), number(s.get(key)), "num")
                for key in ("overlap_mean", "overlap_p10", "overlap_median")
            ]
            + [
                Cell(
                    share(number(s.get("share_overlap_below_half"))),
                    number(s.get("share_overlap_below_half")),
                    "num",
                ),
                Cell(fmt(s.get("rbo_mean"), 3), number(s.get("rbo_mean")), "num"),
                Cell(fmt(s.get("rbo_p10"), 3), number(s.get("rbo_p10")), "num"),
            ]
        )
    return rows


def _compatibility_rows(numbers: dict[str, Any], limits: dict[str, float]) -> list[list[Cell | str]]:
    def at_least(key: str) -> str:
        return f"≥ {fmt(limits[key], 3)}"

    measures = [
        (
            "self cosine, median (old vs new vector of a document)",
            "self_cosine_median",
            at_least("drop_in_cosine"),
            "-",
        ),
        ("self cosine, p10", "self_cosine_p10", "-", "-"),
        ("cosine of random pairs, median", "random_pair_cosine_median", "-", "-"),
        ("overlap@k of unmapped old vectors", "unmapped_overlap_mean", at_least("drop_in_overlap"), "-"),
        ("held-out cosine after the map, median", "mapped_cosine_median", "-", at_least("alignable_cosine")),
        ("held-out cosine after the map, p10", "mapped_cosine_p10", "-", "-"),
        ("held-out relative residual ‖X_old W − X_new‖² / ‖X_new‖²", "held_out_relative_residual", "-", "-"),
        ("overlap@k of mapped old vectors", "mapped_overlap_mean", "-", at_least("alignable_overlap")),
    ]
    return [
        [name, Cell(fmt(numbers.get(key)), number(numbers.get(key)), "num"), drop_in, alignable]
        for name, key, drop_in, alignable in measures
    ]


def _score_rows(scores: dict[str, Any]) -> list[list[Cell | str]]:
    rows = []
    for key, name in (("top1", "top-1"), ("topk", "top-k")):
        psi = scores.get(f"psi_{key}")
        cells: list[Cell | str] = [name, Cell(fmt(psi, 3), number(psi), "num")]
        for side in ("old", "new"):
            quantiles = scores.get(f"{key}_{side}_quantiles", {})
            cells += [
                Cell(fmt(quantiles.get(q)), number(quantiles.get(q)), "num") for q in ("0.1", "0.5", "0.9")
            ]
        rows.append(cells)
    return rows


def build(result: RotationReport, prefix: str) -> Section:
    checks = [result.checks[name] for name in CHECKS if name in result.checks]
    settings = result.settings
    limits = settings["thresholds"]
    compat = result.compatibility
    sides = _sides(result)
    statuses = {
        "queries": result.checks["result_churn"].status if "result_churn" in result.checks else "not_run",
        "documents": result.checks["neighbourhood"].status if "neighbourhood" in result.checks else "not_run",
    }
    histograms = {
        side: overlap_histogram(churn.overlap, settings["k"]) for side, churn in sides if len(churn.overlap)
    }
    churn = result.churn.summary
    overlap_figure = cutoff_figure = None
    if histograms:
        caption = (
            f"Share of {settings['query_source']} per overlap@{settings['k']} of their old and new top-k: "
            f"mean {fmt(churn.get('overlap_mean'), 3)}, p10 {fmt(churn.get('overlap_p10'), 3)}, "
            f"{share(number(churn.get('share_overlap_below_half')))} keep less than half of it."
        )
        overlap_figure = Figure(
            f"{prefix}-overlap",
            "Overlap@k of the old vs the new top-k",
            _histogram_chart(histograms),
            caption,
        )
    if result.cutoff_table.get("old_cutoff"):
        cutoff_figure = Figure(
            f"{prefix}-cutoffs",
            "Old cutoff → new cutoff",
            _cutoff_chart(result),
            "The line keeps each old cutoff's pass rate (quantile map); the points are the given cutoffs' "
            "two new cutoffs; the dashed diagonal is the old cutoff unchanged.",
        )
    figures = [f for f in (overlap_figure, cutoff_figure) if f is not None]
    changed_rows, changed_data = _most_changed(result.churn)
    lost_rows, lost_data = _most_changed(result.neighbourhood)
    cutoff_rows = [
        [
            Cell(fmt(c.cutoff), number(c.cutoff), "num"),
            Cell(share(number(c.pass_rate_old)), number(c.pass_rate_old), "num"),
            Cell(share(number(c.pass_rate_new)), number(c.pass_rate_new), "num"),
            Cell(fmt(c.quantile_cutoff), number(c.quantile_cutoff), "num"),
            Cell(fmt(c.set_cutoff), number(c.set_cutoff), "num"),
            Cell(share(number(c.set_kept)), number(c.set_kept), "num"),
            Cell(fmt(c.set_jaccard, 3), number(c.set_jaccard), "num"),
        ]
        for c in result.cutoffs
    ]
    table_ = result.cutoff_table
    map_rows = [
        [
            Cell(fmt(o), number(o), "num"),
            Cell(share(number(r)), number(r), "num"),
            Cell(fmt(n), number(n), "num"),
            Cell(share(number(rn)), number(rn), "num"),
        ]
        for o, r, n, rn in zip(
            table_.get("old_cutoff", []),
            table_.get("pass_rate_old", []),
            table_.get("new_cutoff", []),
            table_.get("pass_rate_new_at_old_cutoff", []),
            strict=True,
        )
    ]
    blocks = id_blocks(checks, prefix)
    failing = [c.name for c in checks if c.status in ("warn", "fail")]
    headline = f"{compat.verdict}: mean overlap@k {fmt(churn.get('overlap_mean'), 3)}" + (
        f"; {len(failing)} of {len(checks)} checks warn or fail: {', '.join(failing)}"
        if failing
        else f"; all {len(checks)} checks ok"
    )
    dims = settings["dims"]
    remap = result.checks.get("cutoff_remap")
    defaulted = (
        "No cutoffs were given: the row is the old median top-1 score. "
        if remap is not None and remap.detail.get("defaulted")
        else ""
    )
    which = (
        "The quantile cutoff keeps the old pass rate: use it when the cutoff meters volume (how many "
        "results reach the prompt, a cost or latency budget). The set cutoff keeps the most of the old "
        "passing results: use it when the cutoff is a relevance gate and the old passing set was trusted"
        + (
            "; here the result lists changed too much (mean overlap@k below 0.5) for it to mean much: "
            "use the quantile cutoff."
            if churn.get("overlap_mean", 1.0) < 0.5
            else "."
        )
    )
    body = "".join(
        [
            facts(
                [
                    ("verdict", badge(compat.verdict)),
                    (
                        "documents",
                        escape(f"{settings['documents']:,} ({settings['dropped_documents']:,} dropped)"),
                    ),
                    ("queries", escape(f"{settings['queries']:,} {settings['query_source']}")),
                    ("k, metric", escape(f"{settings['k']}, {settings['metric']}")),
                    ("dimensions", escape(f"{dims[0]} → {dims[1]}")),
                ]
            ),
            f"<p>{escape(compat.reason)}.</p>",
            "<h3>Can the two spaces be compared?</h3>",
            table(
                ["measure", "value", "drop-in needs", "alignable needs"],
                _compatibility_rows(compat.numbers, limits),
                f"{prefix}-compatibility",
                sortable=False,
            ),
            "<p class='note'>"
            + escape(
                f"Orthogonal Procrustes fitted on {compat.numbers.get('fit_rows')} documents, scored on "
                f"{compat.numbers.get('held_out_rows')} held out; overlaps probe with "
                f"{compat.numbers.get('probe_rows')} {compat.numbers.get('probes')} at k = "
                f"{compat.numbers.get('probe_k')}."
            )
            + "</p>",
            "<h3>Checks</h3>",
            check_table(checks, prefix),
            "<h3>Result churn and neighbourhood preservation</h3>",
            table(
                [
                    "rows",
                    "status",
                    "count",
                    "overlap@k mean",
                    "p10",
                    "median",
                    "overlap < 0.5",
                    "RBO mean",
                    "RBO p10",
                ],
                _churn_rows(sides, statuses),
                f"{prefix}-churn",
                sortable=False,
            ),
            *(figure_div(f.id, f.title, f.caption) for f in figures if f is overlap_figure),
            "<h3>Most-changed queries (new ids not in the old top-k in bold)</h3>"
            if result.churn is not result.neighbourhood
            else "<h3>Most-changed documents as queries (new ids not in the old top-k in bold)</h3>",
            table(["id", "overlap@k", "RBO", "old top-k", "new top-k"], changed_rows, f"{prefix}-changed"),
            *(
                [
                    "<h3>Documents that lose their neighbourhood most</h3>",
                    table(
                        ["id", "overlap@k", "RBO", "old neighbours", "new neighbours"],
                        lost_rows,
                        f"{prefix}-lost",
                    ),
                ]
                if result.churn is not result.neighbourhood
                else []
            ),
            "<h3>Score shift</h3>",
            table(
                ["scores", "PSI", "old p10", "old median", "old p90", "new p10", "new median", "new p90"],
                _score_rows(result.scores),
                f"{prefix}-scores",
                sortable=False,
            ),
            "<h3>Cutoffs</h3>",
            table(
                [
                    "cutoff",
                    "pass rate old",
                    "pass rate new",
                    "quantile cutoff",
                    "set cutoff",
                    "set kept",
                    "Jaccard",
                ],
                cutoff_rows,
                f"{prefix}-cutoff-remap",
            ),
            f"<p class='note'>{escape(defaulted + which)}</p>",
            *(figure_div(f.id, f.title, f.caption) for f in figures if f is cutoff_figure),
            table(
                [
                    "old cutoff",
                    "pass rate old",
                    "new cutoff (same pass rate)",
                    "pass rate new at the old cutoff",
                ],
                map_rows,
                f"{prefix}-cutoff-map",
            ),
            "<h3>Offending ids</h3>" if blocks else "",
            *blocks,
        ]
    )
    data = {
        "status": result.status,
        "verdict": compat.verdict,
        "reason": compat.reason,
        "settings": json_safe(settings),
        "checks": check_data(checks),
        "compatibility": json_safe(compat.numbers),
        "churn": json_safe({**result.churn.summary, "most_changed": changed_data}),
        "neighbourhood": json_safe({**result.neighbourhood.summary, "most_changed": lost_data}),
        "overlap_histograms": histograms,
        "scores": json_safe(result.scores),
        "cutoffs": json_safe([c.to_dict() for c in result.cutoffs]),
        "cutoff_table": json_safe(result.cutoff_table),
    }
    return Section("rotation", "Encoder rotation", result.status, headline, body, figures, data)


register(RotationReport, build)
