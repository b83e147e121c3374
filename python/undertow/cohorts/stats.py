"""The tests behind a balance check: Pearson's chi-square (goodness of fit for arm sizes,
homogeneity for binned covariates), Holm's step-down adjustment, and the mergeable per-arm
moments behind the standardized mean difference. The chi-square tail comes from the Rust special
functions (``_core.chi2_survival``)."""

from __future__ import annotations

import numpy as np
import polars as pl

from undertow import _core


def chi2_goodness_of_fit(counts: np.ndarray, shares: np.ndarray) -> tuple[float, int, float]:
    """(statistic, df, p-value) of observed `counts` against expected `shares` (summing to 1):
    ``sum (n_i - N p_i)^2 / (N p_i)`` on ``arms - 1`` degrees of freedom, like
    ``scipy.stats.chisquare(counts, N * shares)``."""
    counts = np.asarray(counts, dtype=np.float64)
    expected = counts.sum() * np.asarray(shares, dtype=np.float64)
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    df = len(counts) - 1
    return statistic, df, (_core.chi2_survival(statistic, df) if df > 0 else 1.0)


def chi2_homogeneity(table: np.ndarray) -> tuple[float, int, float]:
    """(statistic, df, p-value) of Pearson's test that every row (arm) of the count `table`
    (arms x bins) has the same bin distribution, like ``scipy.stats.chi2_contingency(table,
    correction=False)`` on the bins that hold any row. One bin left: df 0, p-value 1."""
    table = np.asarray(table, dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    rows, cols = table.shape
    df = (rows - 1) * (cols - 1)
    if df <= 0:
        return 0.0, 0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, df, _core.chi2_survival(statistic, df)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values: the i-th smallest p becomes
    ``max over j <= i of min(1, (m - j + 1) p_(j))``. Rejecting where adjusted <= alpha keeps
    the family-wise error rate at most alpha under any dependence between the tests."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


class Moments:
    """Per numeric column of one arm: the count of non-null values, their float64 mean and sum of
    squared deviations (M2). Batches merge with Chan, Golub and LeVeque's parallel update
    (``delta = mean_b - mean_a``, ``M2 = M2_a + M2_b + delta^2 n_a n_b / n``), which stays
    accurate where sums of squares would cancel. Nulls are skipped (like polars' mean/var);
    a NaN makes that column's mean NaN."""

    def __init__(self, columns: int) -> None:
        self.n = np.zeros(columns, dtype=np.int64)
        self.mean = np.zeros(columns, dtype=np.float64)
        self.m2 = np.zeros(columns, dtype=np.float64)

    @classmethod
    def of(cls, columns: list[pl.Series]) -> Moments:
        out = cls(len(columns))
        for j, series in enumerate(columns):
            if series.null_count():
                series = series.drop_nulls()
            if series.len() == 0:
                continue
            x = series.to_numpy().astype(np.float64, copy=False)
            mean = x.mean()  # pairwise summation
            d = x - mean
            # squares summed pairwise by numpy (np.dot would go to BLAS, whose threads spin on a
            # busy machine: 30x slower here)
            out.n[j], out.mean[j], out.m2[j] = x.size, mean, float(np.square(d, out=d).sum())
        return out

    def merge(self, other: Moments) -> Moments:
        na, nb = self.n, other.n
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            delta = other.mean - self.mean
            share = nb / np.maximum(n, 1)
            mean = self.mean + delta * share
            m2 = self.m2 + other.m2 + delta * delta * na * share
        # an empty side contributes nothing (and an infinite mean must not meet a zero count)
        mean = np.where(nb == 0, self.mean, np.where(na == 0, other.mean, mean))
        m2 = np.where(nb == 0, self.m2, np.where(na == 0, other.m2, m2))
        self.n, self.mean, self.m2 = n, mean, m2
        return self

    def mean_var(self, j: int) -> tuple[float | None, float | None]:
        """(mean, sample variance with ddof 1) of column j; None where undefined (polars'
        convention: no values, or one value for the variance)."""
        n = int(self.n[j])
        mean = float(self.mean[j]) if n else None
        return mean, (float(self.m2[j]) / (n - 1) if n > 1 else None)
