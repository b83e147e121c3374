"""The drift-over-time section, for the polars frame `drift_over` returns: PSI per column per
window over the stable/moderate/significant bands, and per embedding column the MMD² p-value
and the centroid distance per window."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

import polars as pl

from undertow.embedding.report import SEVERE_CENTROID
from undertow.report import _charts as charts
from undertow.report._html import Cell, facts, figure_div, table
from undertow.report._section import RANK, Figure, Section, fmt, level, number, register
from undertow.windows import _EMBEDDING_METRICS, TOO_FEW_ROWS

# the frame holds statuses, not the thresholds behind them: the bands drawn are the defaults
PSI_BANDS = (0.1, 0.25)
ALPHA = 0.05
# lines drawn in the PSI chart: the columns with the highest PSI in any window (the table and
# the JSON hold all)
MAX_LINES = 12
_FRAME_COLUMNS = ("window_start", "window_end", "rows")


def layout(frame: pl.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """(group keys, PSI columns, embedding columns) of a drift_over frame; TypeError otherwise."""
    if not all(c in frame.columns for c in _FRAME_COLUMNS):
        raise TypeError(
            "results: a polars DataFrame must be the output of drift_over (columns window_start, "
            f"window_end, rows, ...); got columns {frame.columns[:10]}"
        )
    names = set(frame.columns)
    embeddings = [c[: -len("_mmd_p_value")] for c in frame.columns if c.endswith("_mmd_p_value")]
    taken = set(_FRAME_COLUMNS)
    for e in embeddings:
        taken.update([f"{e}_status", *(f"{e}_{m}" for m in _EMBEDDING_METRICS)])
    psi_columns = [
        c[: -len("_psi")]
        for c in frame.columns
        if c.endswith("_psi") and c not in taken and f"{c[: -len('_psi')]}_status" in names
    ]
    for c in psi_columns:
        taken.update([f"{c}_psi", f"{c}_status"])
    keys = [c for c in frame.columns if c not in taken]
    return keys, psi_columns, embeddings


def _time(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return number(value)


def _group_labels(frame: pl.DataFrame, keys: list[str]) -> list[str]:
    if not keys:
        return ["all rows"] * frame.height
    columns = [frame.get_column(k).to_list() for k in keys]
    return [
        ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        for values in zip(*columns, strict=True)
    ]


def _psi_chart(rows: list[dict[str, Any]], x_type: str, grouped: bool, top: float) -> dict[str, Any]:
    low, high = PSI_BANDS
    lines = {
        "data": {"values": rows},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "window_start", "type": x_type, "title": "window start"},
            "y": {
                "field": "psi",
                "type": "quantitative",
                "title": "PSI (square-root scale)",
                "scale": {"type": "sqrt", "domain": [0, top * 1.05]},
            },
            "color": {"field": "column", "type": "nominal", "title": "column"},
            "strokeDash": {"field": "group", "type": "nominal", "title": "group"}
            if grouped
            else {"value": []},
            "tooltip": [
                {"field": "column"},
                {"field": "group"},
                {"field": "window_start", "type": x_type},
                {"field": "psi", "type": "quantitative", "format": ".5g"},
                {"field": "status"},
                {"field": "rows", "type": "quantitative"},
            ],
        },
    }
    return charts.spec(
        {
            "layer": [charts.band_layer(charts.bands(low, high, top), "y"), lines],
            "resolve": {"scale": {"color": "independent"}},
        },
        width=640,
        height=240,
    )


def _embedding_chart(rows: list[dict[str, Any]], x_type: str, grouped: bool) -> dict[str, Any]:
    x = {"field": "window_start", "type": x_type, "title": "window start"}
    colour = {"field": "group", "type": "nominal", "title": "group"} if grouped else {"value": charts.CURRENT}

    def panel(field: str, title: str, rule: float, rule_label: str, log: bool) -> dict[str, Any]:
        y: dict[str, Any] = {"field": field, "type": "quantitative", "title": title}
        if log:
            y["scale"] = {"type": "log"}
        return {
            "width": 640,
            "height": 150,
            "layer": [
                {
                    "data": {"values": rows},
                    "mark": {"type": "line", "point": True},
                    "encoding": {
                        "x": x,
                        "y": y,
                        "color": colour,
                        "tooltip": [
                            {"field": "window_start", "type": x_type},
                            {"field": "group"},
                            {"field": field, "type": "quantitative", "format": ".4g"},
                            {"field": "status"},
                        ],
                    },
                },
                charts.rule_layer([{"at": rule, "label": rule_label}], "y", charts.FAIL),
            ],
        }

    return charts.spec(
        {
            "vconcat": [
                panel("p_value", "MMD² p-value (log scale)", ALPHA, f"alpha {ALPHA}", True),
                panel(
                    "centroid_distance",
                    "centroid distance",
                    SEVERE_CENTROID,
                    f"severe from {SEVERE_CENTROID}",
                    False,
                ),
            ]
        },
        width=None,
    )


def build(frame: pl.DataFrame, prefix: str) -> Section:
    keys, psi_columns, embeddings = layout(frame)
    starts = frame.get_column("window_start")
    x_type = "temporal" if starts.dtype.is_temporal() else "quantitative"
    start_values = [_time(v) for v in starts.to_list()]
    end_values = [_time(v) for v in frame.get_column("window_end").to_list()]
    groups = _group_labels(frame, keys)
    grouped = bool(keys)
    row_counts = frame.get_column("rows").to_list()
    data: dict[str, Any] = {
        "window_start": start_values,
        "window_end": end_values,
        "rows": row_counts,
        "groups": groups if grouped else None,
        "psi": {c: [number(v) for v in frame.get_column(f"{c}_psi").to_list()] for c in psi_columns},
        "psi_status": {c: frame.get_column(f"{c}_status").to_list() for c in psi_columns},
        "embedding": {
            e: {
                "status": frame.get_column(f"{e}_status").to_list(),
                **{
                    m: [number(v) for v in frame.get_column(f"{e}_{m}").to_list()] for m in _EMBEDDING_METRICS
                },
            }
            for e in embeddings
        },
    }
    per_window = [data["psi_status"][c] for c in psi_columns] + [
        data["embedding"][e]["status"] for e in embeddings
    ]
    statuses = [s for column in per_window for s in column]
    # the section's status: the worst status word of any column in any window
    status = max(statuses, key=lambda s: RANK[level(s)], default=TOO_FEW_ROWS)
    too_few = sum(1 for window in zip(*per_window, strict=True) if TOO_FEW_ROWS in window)
    figures = []
    peak = {c: max([v for v in data["psi"][c] if v is not None], default=0.0) for c in psi_columns}
    drawn = sorted(psi_columns, key=lambda c: -peak[c])[:MAX_LINES]
    if drawn:
        rows = [
            {
                "column": c,
                "group": groups[i],
                "window_start": start_values[i],
                "psi": data["psi"][c][i],
                "status": data["psi_status"][c][i],
                "rows": row_counts[i],
            }
            for c in drawn
            for i in range(frame.height)
        ]
        top = max([peak[c] for c in drawn] + [PSI_BANDS[1]])
        caption = f"Bands at the default thresholds {PSI_BANDS[0]} / {PSI_BANDS[1]}."
        if len(psi_columns) > MAX_LINES:
            caption += (
                f" The {MAX_LINES} columns of highest PSI of {len(psi_columns)}; the table and the JSON "
                "hold all."
            )
        figures.append(
            Figure(
                f"{prefix}-psi", "PSI per column over time", _psi_chart(rows, x_type, grouped, top), caption
            )
        )
    for n, e in enumerate(embeddings):
        metrics = data["embedding"][e]
        rows = [
            {
                "group": groups[i],
                "window_start": start_values[i],
                "p_value": metrics["mmd_p_value"][i],
                "centroid_distance": metrics["centroid_distance"][i],
                "status": metrics["status"][i],
            }
            for i in range(frame.height)
        ]
        figures.append(
            Figure(
                f"{prefix}-emb{n}",
                f"Embedding column {e} over time",
                _embedding_chart(rows, x_type, grouped),
                f"MMD² permutation p-value against alpha {ALPHA} (the default), centroid distance against "
                f"{SEVERE_CENTROID}.",
            )
        )
    table_rows = []
    for c in sorted(psi_columns, key=lambda c: -peak[c]):
        values = data["psi"][c]
        flagged = sum(1 for s in data["psi_status"][c] if s in ("moderate", "significant"))
        last = next((v for v in reversed(values) if v is not None), None)
        table_rows.append(
            [
                c,
                Cell(fmt(peak[c], 4), peak[c], "num"),
                Cell(fmt(last, 4), last, "num"),
                Cell(f"{flagged} of {len(values)}", flagged, "num"),
            ]
        )
    body = "".join(
        [
            facts(
                [
                    ("windows", fmt(frame.height)),
                    ("groups", escape(", ".join(keys)) if keys else "-"),
                    ("PSI columns", fmt(len(psi_columns))),
                    ("embedding columns", escape(", ".join(embeddings)) if embeddings else "-"),
                    ("windows with too few rows", fmt(too_few)),
                ]
            ),
            *(figure_div(f.id, f.title, f.caption) for f in figures),
            '<div class="scroll">' if table_rows else "",
            table(
                ["column", "highest PSI", "last PSI", "windows moderate or significant"],
                table_rows,
                f"{prefix}-table",
                filterable=True,
            )
            if table_rows
            else "",
            "</div>" if table_rows else "",
        ]
    )
    headline = f"{frame.height} windows, {len(psi_columns)} PSI columns, {len(embeddings)} embedding columns"
    if drawn:
        headline += f"; highest PSI {drawn[0]} ({fmt(peak[drawn[0]], 3)})"
    return Section("drift_over", "Drift over time", status, headline, body, figures, data)


register(pl.DataFrame, build)
