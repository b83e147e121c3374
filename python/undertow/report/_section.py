"""What a section module hands the page: a Section (its HTML, its figures and the numbers it
shows), and the registry that picks the section module for a result's type."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# status words of every result kind -> the colour level the page shows them in (a word not
# listed shows grey: a new result kind adds its words here)
LEVELS = {
    "stable": "ok",
    "ok": "ok",
    "moderate": "warn",
    "warn": "warn",
    "drift": "warn",
    "significant": "fail",
    "fail": "fail",
    "severe": "fail",
    "covered": "ok",
    "balanced": "ok",
    "gaps": "warn",
    "imbalanced": "fail",
    "mismatch": "fail",
    "drop-in": "ok",
    "alignable": "warn",
    "incompatible": "fail",
    "not_run": "muted",
    "too_few_rows": "muted",
}
RANK = {"muted": 0, "ok": 1, "warn": 2, "fail": 3}


def level(status: str) -> str:
    return LEVELS.get(status, "muted")


def worst(levels: list[str]) -> str:
    return max(levels, key=RANK.__getitem__, default="muted")


@dataclass
class Figure:
    """One chart: a Vega-Lite spec with its data inline; the page renders it into a div `id`."""

    id: str
    title: str
    spec: dict[str, Any]
    caption: str = ""


@dataclass
class Section:
    """One result on the page. `data` holds the numbers the section shows, embedded as JSON."""

    kind: str
    title: str
    status: str
    headline: str
    body: str
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return level(self.status)


Builder = Callable[[Any, str], Section]
_BUILDERS: list[tuple[type, Builder]] = []


def register(kind: type, builder: Builder) -> None:
    """Renders results of type `kind` with `builder(result, prefix) -> Section`; `prefix` is a
    page-unique string for the section's element ids. A section module calls this on import."""
    _BUILDERS.append((kind, builder))


def builder_for(result: Any) -> Builder:
    for kind, builder in _BUILDERS:
        if isinstance(result, kind):
            return builder
    known = ", ".join(k.__name__ for k, _ in _BUILDERS)
    raise TypeError(f"results: cannot render a {type(result).__name__}; expected one of: {known}")


def number(value: Any) -> float | int | None:
    """A JSON-safe number: numpy scalars to Python; NaN and +-inf to None (strict JSON has none)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)  # type: ignore[return-value]
    if isinstance(value, int | np.integer):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def numbers(values: Any) -> list[float | int | None]:
    """`number` of each value, vectorised: the page of 100 columns converts ~5,000 of them."""
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        return array.tolist()
    array = array.astype(np.float64, copy=False)
    out = array.tolist()
    if not np.isfinite(array).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def json_safe(value: Any) -> Any:
    """Page data from a result's `to_dict()` or its fields: string keys, numpy arrays to lists,
    every number (numpy scalars too) through `number`, anything else not JSON as its text."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int | float | np.generic):
        return number(value)
    return str(value)


def fmt(value: Any, digits: int = 4) -> str:
    """A number as the page's text shows it ("-" for none, "inf" for infinities)."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3g}%"
