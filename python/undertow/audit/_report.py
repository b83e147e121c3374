"""AuditReport and Check: what the auditor found, as values a pipeline can gate on and keep."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from undertow._args import check_int64_ids
from undertow._core import UndertowError
from undertow._html import HtmlPage

CHECKS = (
    "orphaned_vectors",
    "missing_vectors",
    "duplicate_ids",
    "content_stale",
    "encoder_mix",
    "encoder_mix_vectors",
    "fresh_cosine",
    "norm_profile",
    "ivf_imbalance",
    "ivf_residual_drift",
    "ann_recall",
    "tombstone_pollution",
    "score_shift",
)
STATUSES = ("ok", "warn", "fail", "not_run")
_RANK = {"not_run": 0, "ok": 0, "warn": 1, "fail": 2}
JSON_FORMAT = "undertow.audit/1"


@dataclass(frozen=True)
class Check:
    """One check. `value` is compared with `threshold` in the check's `direction` ("max": the
    value must not exceed it; "min": it must not fall below). `ids` holds every offending id for
    the id-level checks and examples otherwise; `count` is how many ids offend in all;
    `sample_size` is how many rows, ids or queries were examined."""

    name: str
    status: str
    value: float | None
    threshold: float | None
    direction: str
    sample_size: int
    ids: np.ndarray
    count: int
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "not_run")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "value": plain(self.value),
            "threshold": plain(self.threshold),
            "direction": self.direction,
            "sample_size": self.sample_size,
            "count": self.count,
            "ids": [int(i) for i in self.ids],
            "message": self.message,
            "detail": plain(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        value, threshold = data.get("value"), data.get("threshold")
        if data["status"] not in STATUSES:
            raise ValueError(f"check {data['name']!r}: status {data['status']!r} is not one of {STATUSES}")
        if data["direction"] not in ("max", "min"):
            raise ValueError(f"check {data['name']!r}: direction {data['direction']!r} is not max or min")
        return cls(
            name=data["name"],
            status=data["status"],
            value=None if value is None else float(value),
            threshold=None if threshold is None else float(threshold),
            direction=data["direction"],
            sample_size=int(data["sample_size"]),
            ids=check_int64_ids(data["ids"], f"check {data['name']!r}", noun="id"),
            count=int(data["count"]),
            message=data["message"],
            detail=dict(data.get("detail", {})),
        )

    def __repr__(self) -> str:
        value = "-" if self.value is None else f"{self.value:.4g}"
        return f"Check({self.name}: {self.status}, value={value}, count={self.count})"


def plain(value: Any) -> Any:
    """JSON-safe: numpy scalars and arrays to Python, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def check_lines(checks: Mapping[str, Check], value_width: int, bound_width: int) -> list[str]:
    """A summary line per check (name, status, value, threshold, message), as the audit's and
    the rotation preview's repr print them; the widths are each report's own."""
    width = max(len(n) for n in checks) if checks else 10
    lines = []
    for name, check in checks.items():
        value = "" if check.value is None else f"{check.value:.4g}"
        bound = (
            ""
            if check.threshold is None
            else f"{'<=' if check.direction == 'max' else '>='} {check.threshold:.4g}"
        )
        lines.append(
            f"  {name:<{width}}  {check.status:<7}  {value:>{value_width}}  {bound:<{bound_width}}  "
            f"{check.message}"
        )
    return lines


def checks_frame(checks: Mapping[str, Check]) -> pl.DataFrame:
    """One row per check: name, status, value, threshold, direction, sample size, count, the
    first 10 ids and the message (`to_polars` of the audit and of the rotation preview)."""
    rows = [
        {
            "check": c.name,
            "status": c.status,
            "value": c.value,
            "threshold": c.threshold,
            "direction": c.direction,
            "sample_size": c.sample_size,
            "count": c.count,
            "example_ids": [int(i) for i in c.ids[:10]],
            "message": c.message,
        }
        for c in checks.values()
    ]
    return pl.DataFrame(
        rows,
        schema={
            "check": pl.Utf8,
            "status": pl.Utf8,
            "value": pl.Float64,
            "threshold": pl.Float64,
            "direction": pl.Utf8,
            "sample_size": pl.Int64,
            "count": pl.Int64,
            "example_ids": pl.List(pl.Int64),
            "message": pl.Utf8,
        },
    )


def _unplain_float(value: Any) -> float:
    # float("inf") / float("nan") read back the strings plain wrote; true/false are not scores
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


class AuditReport(HtmlPage):
    """The auditor's findings. `status` is the worst check status ("ok", "warn" or "fail");
    `checks` maps each check name (CHECKS) to a Check; `index` describes the audited index;
    `scores` keeps the top-1 and top-k search scores, so a later audit can take this report (or
    its JSON) as its `baseline`."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        index: Mapping[str, Any],
        scores: Mapping[str, Any],
        k: int,
        seconds: float | None = None,
    ) -> None:
        unknown = set(checks) - set(CHECKS)
        if unknown:
            raise UndertowError(f"checks: unknown check names {sorted(unknown)}")
        self.checks: dict[str, Check] = {name: checks[name] for name in CHECKS if name in checks}
        self.index = dict(index)
        self.scores = {
            "metric": scores.get("metric"),
            "top1": np.asarray(scores.get("top1", []), dtype=np.float64),
            "topk": np.asarray(scores.get("topk", []), dtype=np.float64),
        }
        self.k = int(k)
        self.seconds = seconds

    @property
    def status(self) -> str:
        worst = max((_RANK[c.status] for c in self.checks.values()), default=0)
        return ("ok", "warn", "fail")[worst]

    @property
    def failed(self) -> list[str]:
        return [name for name, c in self.checks.items() if c.status in ("warn", "fail")]

    def __getitem__(self, name: str) -> Check:
        return self.checks[name]

    def summary(self) -> str:
        lines = [
            f"undertow index audit: {self.status.upper()} — {self.index.get('type')} "
            f"({self.index.get('ntotal')} vectors x {self.index.get('dim')}, {self.index.get('metric')})"
        ]
        return "\n".join(lines + check_lines(self.checks, value_width=10, bound_width=12))

    def __repr__(self) -> str:
        return self.summary()

    def to_polars(self) -> pl.DataFrame:
        return checks_frame(self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": JSON_FORMAT,
            "status": self.status,
            "k": self.k,
            "seconds": self.seconds,
            "index": plain(self.index),
            "scores": {
                "metric": self.scores["metric"],
                "top1": plain(self.scores["top1"]),
                "topk": plain(self.scores["topk"]),
            },
            "checks": {name: c.to_dict() for name, c in self.checks.items()},
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any]) -> AuditReport:
        if isinstance(text, str | bytes):
            try:
                data = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
                raise UndertowError(f"baseline: not valid JSON ({error})") from error
        elif isinstance(text, Mapping):
            data = dict(text)
        else:
            raise TypeError(
                f"baseline: expected an AuditReport, its JSON text or dict, got {type(text).__name__}"
            )
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            raise UndertowError(f"baseline: not an undertow audit report (expected format {JSON_FORMAT!r})")
        try:
            scores = data["scores"]
            if scores["metric"] not in ("ip", "l2"):
                raise ValueError(f"scores: metric {scores['metric']!r} is not ip or l2")
            checks = data["checks"]
            for name, check in checks.items():
                if check["name"] != name:
                    raise ValueError(f"checks: {name!r} holds the check {check['name']!r}")
            k = data["k"]
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"k: must be a positive integer, got {k!r}")
            seconds = data.get("seconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
                raise ValueError(f"seconds: must be a number or null, got {seconds!r}")
            return cls(
                checks={name: Check.from_dict(c) for name, c in checks.items()},
                index=data["index"],
                scores={
                    "metric": scores["metric"],
                    "top1": [_unplain_float(v) for v in scores["top1"]],
                    "topk": [_unplain_float(v) for v in scores["topk"]],
                },
                k=k,
                seconds=seconds,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UndertowError(
                f"baseline: a malformed audit report ({type(error).__name__}: {error})"
            ) from error
