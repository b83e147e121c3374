"""The tests behind a balance check: Pearson's chi-square (goodness of fit for arm sizes,
homogeneity for binned covariates) and Holm's step-down adjustment. The chi-square tail comes
from the Rust special functions (``_core.chi2_survival``)."""

from __future__ import annotations

import numpy as np

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
