"""BalanceReport: are the arms of an experiment (or the cohorts of a rollout) the same
population? Sample-ratio mismatch plus one test per covariate, Holm-adjusted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from undertow._html import HtmlPage
from undertow.tabular.results import plain


@dataclass(frozen=True, eq=False)
class SrmResult:
    """Sample-ratio mismatch: Pearson's chi-square of the arm sizes against the expected split.
    ``status`` is "mismatch" when ``p_value < alpha`` (default 0.001, the usual SRM alarm:
    arm sizes are large, so a real mismatch gives tiny p-values), else "ok"."""

    arms: list[Any]
    counts: list[int]
    expected_shares: list[float]
    statistic: float
    df: int
    p_value: float
    alpha: float

    @property
    def status(self) -> str:
        return "mismatch" if self.p_value < self.alpha else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "arms": self.arms,
            "counts": self.counts,
            "expected_shares": self.expected_shares,
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "status": self.status,
        }

    def __repr__(self) -> str:
        return f"SrmResult(status={self.status!r}, p_value={self.p_value:.4g}, counts={self.counts})"


@dataclass(frozen=True, eq=False)
class CovariateBalance:
    """One covariate across the arms.

    ``test``: "chi2_homogeneity" (the arms' counts in the PSI bins of the control arm: numeric
    quantile bins or categories, plus unseen and missing bins) or "mmd_rff" (embeddings, each
    treatment arm against control). ``p_value`` raw, ``adjusted_p_value`` Holm's over every
    test of the report; ``status`` "imbalanced" when ``adjusted_p_value <= alpha``.
    Effect sizes per treatment arm (against control): ``psi``, ``smd`` (numeric: mean
    difference over the root of the mean of the two variances), ``share_diff`` (categorical:
    treatment share minus control share per category), ``mmd`` (embeddings)."""

    name: str
    kind: str
    test: str
    statistic: float
    df: int | None
    p_value: float
    adjusted_p_value: float
    alpha: float
    arm: Any = None  # the treatment arm of an embedding test (one test per arm)
    psi: dict[str, float] | None = None
    smd: dict[str, float] | None = None
    share_diff: dict[str, dict[str, float]] | None = None
    mmd: float | None = None

    @property
    def status(self) -> str:
        return "imbalanced" if self.adjusted_p_value <= self.alpha else "balanced"

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["status"] = self.status
        return out


@dataclass(frozen=True, eq=False)
class BalanceReport(HtmlPage):
    """``srm``: the sample-ratio test; ``covariates``: one CovariateBalance per covariate (and
    per treatment arm for embeddings); ``control``: the reference arm. ``status``:
    "imbalanced" when the SRM test or any covariate fires, else "balanced". Multiple testing:
    Holm's step-down over all covariate tests at `alpha` (family-wise error <= alpha); the SRM
    test has its own alpha."""

    control: Any
    srm: SrmResult
    covariates: list[CovariateBalance]
    alpha: float
    rows: int
    multiple_testing: str = "holm"

    @property
    def imbalanced(self) -> list[CovariateBalance]:
        return [c for c in self.covariates if c.status == "imbalanced"]

    @property
    def status(self) -> str:
        return "imbalanced" if self.imbalanced or self.srm.status == "mismatch" else "balanced"

    def __getitem__(self, name: str) -> CovariateBalance:
        for c in self.covariates:
            if c.name == name:
                return c
        raise KeyError(f"{name!r} is not a covariate of this report")

    def to_polars(self) -> pl.DataFrame:
        """One row per covariate test: name, kind, test, statistic, df, p-values, status and
        the largest absolute effect over the treatment arms (psi, smd, share_diff, mmd)."""
        rows = []
        for c in self.covariates:
            rows.append(
                {
                    "covariate": c.name,
                    "kind": c.kind,
                    "arm": None if c.arm is None else str(c.arm),
                    "test": c.test,
                    "statistic": c.statistic,
                    "df": c.df,
                    "p_value": c.p_value,
                    "adjusted_p_value": c.adjusted_p_value,
                    "status": c.status,
                    "max_psi": max(c.psi.values()) if c.psi else None,
                    "max_abs_smd": max(abs(v) for v in c.smd.values()) if c.smd else None,
                    "max_abs_share_diff": (
                        max((abs(v) for d in c.share_diff.values() for v in d.values()), default=0.0)
                        if c.share_diff
                        else None
                    ),
                    "mmd": c.mmd,
                }
            )
        schema = {"covariate": pl.String, "kind": pl.String, "arm": pl.String, "test": pl.String,
                  "statistic": pl.Float64, "df": pl.Int64, "p_value": pl.Float64,
                  "adjusted_p_value": pl.Float64, "status": pl.String, "max_psi": pl.Float64,
                  "max_abs_smd": pl.Float64, "max_abs_share_diff": pl.Float64, "mmd": pl.Float64}  # fmt: skip
        return pl.DataFrame(rows, schema=schema)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "cohort_balance",
            "status": self.status,
            "control": self.control,
            "rows": self.rows,
            "alpha": self.alpha,
            "multiple_testing": self.multiple_testing,
            "srm": self.srm.to_dict(),
            "covariates": [c.to_dict() for c in self.covariates],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=plain, **kwargs)

    def __repr__(self) -> str:
        names = ", ".join(c.name if c.arm is None else f"{c.name}[{c.arm}]" for c in self.imbalanced[:5])
        return (
            f"BalanceReport(status={self.status!r}, rows={self.rows}, control={self.control!r}, "
            f"srm={self.srm.status} (p={self.srm.p_value:.3g}), covariates={len(self.covariates)}, "
            f"imbalanced=[{names}], alpha={self.alpha} ({self.multiple_testing}))"
        )
