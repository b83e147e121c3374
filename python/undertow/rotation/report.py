"""RotationReport: what an encoder rotation would do, as checks a pipeline can gate on."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl

from undertow._html import HtmlPage
from undertow.audit._report import Check, check_lines, checks_frame, plain
from undertow.rotation.churn import ListChurn
from undertow.rotation.compatibility import Compatibility
from undertow.rotation.cutoffs import CutoffRemap

CHECKS = ("result_churn", "neighbourhood", "score_shift", "cutoff_remap", "compatibility")
JSON_FORMAT = "undertow.rotation/1"
_RANK = {"not_run": 0, "ok": 0, "warn": 1, "fail": 2}


def _lists(churn: ListChurn, rows: np.ndarray) -> list[dict[str, Any]]:
    return [
        {
            "id": int(churn.ids[i]),
            "overlap": float(churn.overlap[i]),
            "rbo": float(churn.rbo[i]),
            "old_top": [int(v) for v in churn.old_top[i] if v >= 0],
            "new_top": [int(v) for v in churn.new_top[i] if v >= 0],
        }
        for i in rows
    ]


class RotationReport(HtmlPage):
    """The preview of an encoder rotation (see `ut.rotation_preview` and docs/rotation.md).

    `checks` maps each of CHECKS to a Check (value, threshold, status, ids); `verdict` is the
    compatibility verdict ("drop-in", "alignable" or "incompatible"); `churn` and
    `neighbourhood` keep the per-query and per-document lists; `cutoffs` the remap of every
    given cutoff; `cutoff_table` old -> new cutoffs over the whole score range."""

    def __init__(
        self,
        checks: dict[str, Check],
        churn: ListChurn,
        neighbourhood: ListChurn,
        cutoffs: list[CutoffRemap],
        cutoff_table: dict[str, list[float]],
        scores: dict[str, Any],
        compatibility: Compatibility,
        settings: dict[str, Any],
        seconds: float | None = None,
    ) -> None:
        self.checks = {name: checks[name] for name in CHECKS if name in checks}
        self.churn = churn
        self.neighbourhood = neighbourhood
        self.cutoffs = cutoffs
        self.cutoff_table = cutoff_table
        self.scores = scores
        self.compatibility = compatibility
        self.settings = settings
        self.seconds = seconds

    @property
    def verdict(self) -> str:
        return self.compatibility.verdict

    @property
    def status(self) -> str:
        worst = max((_RANK[c.status] for c in self.checks.values()), default=0)
        return ("ok", "warn", "fail")[worst]

    def __getitem__(self, name: str) -> Check:
        return self.checks[name]

    def summary(self) -> str:
        s = self.settings
        lines = [
            f"undertow rotation preview: {self.verdict.upper()} ({self.status}) — "
            f"{s['documents']} documents, {s['queries']} {s['query_source']}, k={s['k']}, "
            f"{s['metric']}, dims {s['dims'][0]} -> {s['dims'][1]}"
        ]
        return "\n".join(lines + check_lines(self.checks, value_width=8, bound_width=10))

    def __repr__(self) -> str:
        return self.summary()

    def to_polars(self) -> pl.DataFrame:
        """One row per check (as AuditReport.to_polars)."""
        return checks_frame(self.checks)

    def churn_frame(self, which: str = "queries") -> pl.DataFrame:
        """Per query (``"queries"``) or per sampled document (``"documents"``): id, overlap@k,
        RBO and the old and new top-k ids."""
        churn = {"queries": self.churn, "documents": self.neighbourhood}[which]
        return pl.DataFrame(
            {
                "id": churn.ids,
                "overlap": churn.overlap,
                "rbo": churn.rbo,
                "old_top": [[int(v) for v in row if v >= 0] for row in churn.old_top],
                "new_top": [[int(v) for v in row if v >= 0] for row in churn.new_top],
            },
            schema={
                "id": pl.Int64,
                "overlap": pl.Float64,
                "rbo": pl.Float64,
                "old_top": pl.List(pl.Int64),
                "new_top": pl.List(pl.Int64),
            },
        )

    def cutoff_frame(self) -> pl.DataFrame:
        """Old cutoff -> new cutoff over the whole old score range (quantile map)."""
        return pl.DataFrame(self.cutoff_table, schema={key: pl.Float64 for key in self.cutoff_table})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": JSON_FORMAT,
            "status": self.status,
            "verdict": self.verdict,
            "seconds": self.seconds,
            "settings": plain(self.settings),
            "checks": {name: c.to_dict() for name, c in self.checks.items()},
            "compatibility": {
                "verdict": self.verdict,
                "reason": self.compatibility.reason,
                **plain(self.compatibility.numbers),
            },
            "cutoffs": [plain(c.to_dict()) for c in self.cutoffs],
            "cutoff_table": plain(self.cutoff_table),
            "scores": plain(self.scores),
            "churn": {**self.churn.summary, "most_changed": _lists(self.churn, self.churn.worst(10))},
            "neighbourhood": {
                **self.neighbourhood.summary,
                "most_changed": _lists(self.neighbourhood, self.neighbourhood.worst(10)),
            },
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)
