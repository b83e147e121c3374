"""Result objects: small frozen dataclasses with a readable repr, to_dict() and to_polars()."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from undertow._html import HtmlPage
from undertow.tabular._significance import DEFAULT_ALPHA

_STATUS_ORDER = {"stable": 0, "moderate": 1, "significant": 2}


def plain(value: Any) -> Any:
    """`value` as JSON-ready Python (arrays become lists); shared by every result type."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a non-finite statistic is reported as None."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True, eq=False)
class PsiResult:
    """PSI of one column: the value, its status and the bins behind it.

    ``edges`` are float64 with open outer edges (-inf ... +inf); counts are int64 per bin, with a
    trailing missing-values bin when ``nan_policy == "bin"``; proportions are counts / total,
    before the eps floor used in the PSI sum.

    Sampling noise (docs/calibration_psi.md): ``noise_floor`` is the PSI expected under no
    drift for these sample sizes, (k - 1)(1/n + 1/m) for n reference rows, m actual rows and
    the k bins the reference populates (leading order: within ~6% when each bin expects
    >= 10 actual rows, an underestimate when bins expect fewer). ``p_value`` is Pearson's
    chi-square test of homogeneity of the 2 x bins table of counts (``p_value_method``
    "chi2"), or a Monte-Carlo permutation test of the same statistic when the table is too
    sparse for the chi-square approximation ("monte_carlo", fixed seed). ``status_threshold``
    is the plain band of the thresholds; ``status`` is that band when ``p_value <= alpha``,
    else "stable" (``alpha=None``: the plain band).
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
    noise_floor: float = math.nan
    p_value: float = math.nan
    p_value_method: str = "chi2"
    status_threshold: str = ""
    alpha: float | None = DEFAULT_ALPHA

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
            "noise_floor": _finite_or_none(self.noise_floor),
            "p_value": _finite_or_none(self.p_value),
            "p_value_method": self.p_value_method,
            "status_threshold": self.status_threshold,
            "alpha": self.alpha,
        }
        return out

    def __repr__(self) -> str:
        return (
            f"PsiResult(psi={self.value:.6g}, status={self.status!r}, p_value={self.p_value:.3g}, "
            f"noise_floor={self.noise_floor:.3g}, kind={self.kind!r}, bins={self.bins}, "
            f"missing expected/actual={self.expected_missing}/{self.actual_missing})"
        )


ColumnPsi = PsiResult


@dataclass(frozen=True, eq=False)
class PsiReport(HtmlPage):
    """Per-column PSI of a table against a fitted Reference. ``status`` is the worst column
    status (each needs its band and p <= alpha, see PsiResult); ``status_threshold`` the worst
    plain band."""

    results: list[PsiResult]
    thresholds: tuple[float, float]
    rows: int = 0
    alpha: float | None = DEFAULT_ALPHA
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

    @property
    def status_threshold(self) -> str:
        """The worst plain band (thresholds only, no significance) over the columns."""
        return max((r.status_threshold for r in self.results), key=_STATUS_ORDER.__getitem__)

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
                "p_value": [float(r.p_value) for r in self.results],
                "noise_floor": [float(r.noise_floor) for r in self.results],
                "status_threshold": [r.status_threshold for r in self.results],
                "bins": [r.bins for r in self.results],
                "expected_missing": [r.expected_missing for r in self.results],
                "actual_missing": [r.actual_missing for r in self.results],
            },
            schema={
                "column": pl.String,
                "kind": pl.String,
                "psi": pl.Float64,
                "status": pl.String,
                "p_value": pl.Float64,
                "noise_floor": pl.Float64,
                "status_threshold": pl.String,
                "bins": pl.Int64,
                "expected_missing": pl.Int64,
                "actual_missing": pl.Int64,
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "thresholds": list(self.thresholds),
            "alpha": self.alpha,
            "rows": self.rows,
            "columns": {r.name: r.to_dict() for r in self.results},
        }

    def __repr__(self) -> str:
        width = max([len(c) for c in self.columns] + [6])
        lines = [
            f"PsiReport(status={self.status!r}, columns={len(self.results)}, rows={self.rows}, "
            f"alpha={self.alpha})"
        ]
        for r in sorted(self.results, key=lambda r: -r.value)[:20]:
            lines.append(
                f"  {r.name:<{width}}  psi={r.value:<10.4g} {r.status:<11} "
                f"p={r.p_value:<9.3g} noise_floor={r.noise_floor:.3g}"
            )
        if len(self.results) > 20:
            lines.append(f"  ... {len(self.results) - 20} more columns")
        return "\n".join(lines)
