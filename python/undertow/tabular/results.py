"""Result objects: small frozen dataclasses with a readable repr, to_dict() and to_polars()."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

_STATUS_ORDER = {"stable": 0, "moderate": 1, "significant": 2}


def plain(value: Any) -> Any:
    """`value` as JSON-ready Python (arrays become lists); shared by every result type."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@dataclass(frozen=True, eq=False)
class PsiResult:
    """PSI of one column: the value, its status and the bins behind it.

    ``edges`` are float64 with open outer edges (-inf ... +inf); counts are int64 per bin, with a
    trailing missing-values bin when ``nan_policy == "bin"``; proportions are counts / total,
    before the eps floor used in the PSI sum.
    """

    value: float
    status: str
    edges: np.ndarray | None
    expected_counts: np.ndarray
    actual_counts: np.ndarray
    expected_proportions: np.ndarray
    actual_proportions: np.ndarray
    expected_missing: int
    actual_missing: int
    nan_policy: str
    eps: float
    kind: str = "numeric"
    categories: list[str] | None = None
    name: str = "x"

    @property
    def psi(self) -> float:
        return self.value

    @property
    def bins(self) -> int:
        return len(self.expected_counts)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "column": self.name,
            "kind": self.kind,
            "value": self.value,
            "status": self.status,
            "edges": plain(self.edges),
            "categories": self.categories,
            "expected_counts": plain(self.expected_counts),
            "actual_counts": plain(self.actual_counts),
            "expected_proportions": plain(self.expected_proportions),
            "actual_proportions": plain(self.actual_proportions),
            "expected_missing": self.expected_missing,
            "actual_missing": self.actual_missing,
            "nan_policy": self.nan_policy,
            "eps": self.eps,
        }
        return out

    def __repr__(self) -> str:
        return (
            f"PsiResult(psi={self.value:.6g}, status={self.status!r}, kind={self.kind!r}, "
            f"bins={self.bins}, missing expected/actual={self.expected_missing}/{self.actual_missing})"
        )


ColumnPsi = PsiResult


@dataclass(frozen=True, eq=False)
class PsiReport:
    """Per-column PSI of a table against a fitted Reference."""

    results: list[PsiResult]
    thresholds: tuple[float, float]
    rows: int = 0
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {r.name: i for i, r in enumerate(self.results)})

    @property
    def columns(self) -> list[str]:
        return [r.name for r in self.results]

    @property
    def values(self) -> dict[str, float]:
        return {r.name: r.value for r in self.results}

    @property
    def status(self) -> str:
        """The worst status over the columns."""
        return max((r.status for r in self.results), key=_STATUS_ORDER.__getitem__)

    def __getitem__(self, name: str) -> PsiResult:
        try:
            return self.results[self._index[name]]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {self.columns}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def to_polars(self) -> pl.DataFrame:
        """One row per column, in the reference's column order."""
        return pl.DataFrame(
            {
                "column": [r.name for r in self.results],
                "kind": [r.kind for r in self.results],
                "psi": [float(r.value) for r in self.results],
                "status": [r.status for r in self.results],
                "bins": [r.bins for r in self.results],
                "expected_missing": [r.expected_missing for r in self.results],
                "actual_missing": [r.actual_missing for r in self.results],
            },
            schema={
                "column": pl.String,
                "kind": pl.String,
                "psi": pl.Float64,
                "status": pl.String,
                "bins": pl.Int64,
                "expected_missing": pl.Int64,
                "actual_missing": pl.Int64,
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "thresholds": list(self.thresholds),
            "rows": self.rows,
            "columns": {r.name: r.to_dict() for r in self.results},
        }

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """This result as a self-contained HTML page (see `undertow.report`); with `path` the
        page is also written there (atomically). Returns the HTML."""
        from undertow.report import report

        return report(self, path=path)

    def __repr__(self) -> str:
        width = max([len(c) for c in self.columns] + [6])
        lines = [f"PsiReport(status={self.status!r}, columns={len(self.results)}, rows={self.rows})"]
        for r in sorted(self.results, key=lambda r: -r.value)[:20]:
            lines.append(f"  {r.name:<{width}}  psi={r.value:<10.4g} {r.status}")
        if len(self.results) > 20:
            lines.append(f"  ... {len(self.results) - 20} more columns")
        return "\n".join(lines)
