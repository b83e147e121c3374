"""Vega-Lite building blocks shared by the section modules (plain dicts: no plotting package is
needed to write a report, and the spec is what the page holds)."""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier: never fetched
OK, WARN, FAIL, MUTED = "#1a7f37", "#b35900", "#c62828", "#6e7781"
REFERENCE, CURRENT = "#6e7781", "#0969da"
STATUS_COLOURS = {
    "domain": ["stable", "moderate", "significant", "ok", "warn", "fail", "not_run", "too_few_rows"],
    "range": [OK, WARN, FAIL, OK, WARN, FAIL, MUTED, MUTED],
}


def spec(body: dict[str, Any], width: Any = 640, height: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": SCHEMA, "config": {"view": {"stroke": None}, "font": "system-ui"}}
    if width is not None:
        out["width"] = width
    if height is not None:
        out["height"] = height
    out.update(body)
    return out


def bands(low: float, high: float, top: float) -> list[dict[str, Any]]:
    """Rows of the stable / moderate / significant bands up to `top` (drawn behind the data)."""
    return [
        {"from": 0.0, "to": low, "band": "stable"},
        {"from": low, "to": high, "band": "moderate"},
        {"from": high, "to": max(top, high * 1.2), "band": "significant"},
    ]


def band_layer(rows: list[dict[str, Any]], axis: str) -> dict[str, Any]:
    """A translucent rectangle per band along `axis` ("x" or "y")."""
    other = "x2" if axis == "x" else "y2"
    return {
        "data": {"values": rows},
        "mark": {"type": "rect", "opacity": 0.12},
        "encoding": {
            axis: {"field": "from", "type": "quantitative"},
            other: {"field": "to"},
            "color": {"field": "band", "type": "nominal", "scale": STATUS_COLOURS, "legend": None},
        },
    }


def rule_layer(
    values: list[dict[str, Any]], axis: str, colour: str = "#444", dash: bool = True
) -> dict[str, Any]:
    mark: dict[str, Any] = {"type": "rule", "color": colour, "strokeWidth": 1.5}
    if dash:
        mark["strokeDash"] = [4, 3]
    return {
        "data": {"values": values},
        "mark": mark,
        "encoding": {
            axis: {"field": "at", "type": "quantitative"},
            "tooltip": [{"field": "label", "type": "nominal"}, {"field": "at", "type": "quantitative"}],
        },
    }


def paired_bars(
    rows: list[dict[str, Any]],
    label_title: str,
    width: Any = 320,
    height: int = 160,
    sides: tuple[str, str] = ("reference", "current"),
) -> dict[str, Any]:
    """Reference vs current proportion per bin: rows {bin, i, side, proportion}; `sides` names
    the two sides as the rows do."""
    return {
        "data": {"values": rows},
        "width": width,
        "height": height,
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "bin",
                "type": "ordinal",
                "sort": {"field": "i"},
                "title": label_title,
                "axis": {"labelAngle": -35, "labelLimit": 110, "labelOverlap": True},
            },
            "xOffset": {"field": "side", "sort": list(sides)},
            "y": {
                "field": "proportion",
                "type": "quantitative",
                "title": "share of rows",
                "axis": {"format": "%"},
            },
            "color": {
                "field": "side",
                "type": "nominal",
                "scale": {"domain": list(sides), "range": [REFERENCE, CURRENT]},
                "title": None,
            },
            "tooltip": [
                {"field": "bin", "type": "nominal"},
                {"field": "side", "type": "nominal"},
                {"field": "proportion", "type": "quantitative", "format": ".4%"},
            ],
        },
    }
