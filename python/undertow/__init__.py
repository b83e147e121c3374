"""undertow: drift you cannot see from the surface.

Fast, correct drift statistics with a Rust core: numpy-compatible histograms, PSI per column,
embedding drift (cosine, PCA, MMD with a calibrated permutation test), all with mergeable
accumulators and safe serialization.

>>> import numpy as np, undertow as ut
>>> ut.psi(np.arange(1000.0), np.arange(1000.0)).value
0.0
"""

from undertow._core import FORMAT_VERSION, UndertowError
from undertow.audit import AuditReport, Check, audit_index
from undertow.cohorts import BalanceReport, CovariateBalance, SrmResult, cohort_balance
from undertow.coverage import ClusterCoverage, CoverageAccumulator, CoverageReport, eval_coverage
from undertow.embedding.cosine import CosineDrift, cosine_drift
from undertow.embedding.drift import EmbeddingAccumulator, EmbeddingDrift
from undertow.embedding.mmd import MmdResult, RffAccumulator, median_bandwidth, mmd
from undertow.embedding.pca import PCA, CovarianceAccumulator
from undertow.embedding.report import EmbeddingDriftReport
from undertow.embedding.search import exact_search
from undertow.report import report
from undertow.rotation import RotationReport, rotation_preview
from undertow.stream.scan import scan
from undertow.tabular.compare import CompareAccumulator, TwoSampleReport
from undertow.tabular.histogram import HistogramAccumulator, histogram
from undertow.tabular.psi import psi
from undertow.tabular.reference import PsiAccumulator, Reference
from undertow.tabular.results import ColumnPsi, PsiReport, PsiResult
from undertow.tabular.twosample import (
    TwoSampleResult,
    chi_square,
    hellinger,
    jensen_shannon,
    ks,
    two_sample,
    wasserstein,
)
from undertow.windows import drift_over

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "PCA",
    "AuditReport",
    "BalanceReport",
    "Check",
    "ClusterCoverage",
    "ColumnPsi",
    "CompareAccumulator",
    "CosineDrift",
    "CovarianceAccumulator",
    "CovariateBalance",
    "CoverageAccumulator",
    "CoverageReport",
    "EmbeddingAccumulator",
    "EmbeddingDrift",
    "EmbeddingDriftReport",
    "HistogramAccumulator",
    "MmdResult",
    "PsiAccumulator",
    "PsiReport",
    "PsiResult",
    "Reference",
    "RffAccumulator",
    "RotationReport",
    "SrmResult",
    "TwoSampleReport",
    "TwoSampleResult",
    "UndertowError",
    "__version__",
    "audit_index",
    "chi_square",
    "cohort_balance",
    "cosine_drift",
    "drift_over",
    "eval_coverage",
    "exact_search",
    "hellinger",
    "histogram",
    "jensen_shannon",
    "ks",
    "median_bandwidth",
    "mmd",
    "psi",
    "report",
    "rotation_preview",
    "scan",
    "two_sample",
    "wasserstein",
]
