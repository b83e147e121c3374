"""Cohort balance: sample-ratio mismatch and covariate balance between the arms of an
experiment or rollout (``undertow.cohort_balance``).

Modules: `api` (``cohort_balance``), `stats` (chi-square tests, Holm's adjustment, mergeable
moments), `stream` (the passes over a ``ut.scan`` source and the per-arm accumulators), `report`
(``BalanceReport``, ``CovariateBalance``, ``SrmResult``).
"""

from undertow.cohorts.api import cohort_balance
from undertow.cohorts.report import BalanceReport, CovariateBalance, SrmResult
from undertow.cohorts.stats import chi2_goodness_of_fit, chi2_homogeneity, holm

__all__ = [
    "BalanceReport",
    "CovariateBalance",
    "SrmResult",
    "chi2_goodness_of_fit",
    "chi2_homogeneity",
    "cohort_balance",
    "holm",
]
