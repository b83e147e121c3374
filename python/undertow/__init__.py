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
from undertow.embedding.cosine import CosineDrift, cosine_drift
from undertow.embedding.drift import EmbeddingAccumulator, EmbeddingDrift
from undertow.embedding.mmd import MmdResult, RffAccumulator, median_bandwidth, mmd
from undertow.embedding.pca import PCA, CovarianceAccumulator
from undertow.embedding.report import EmbeddingDriftReport
from undertow.embedding.search import exact_search
from undertow.rotation import RotationReport, rotation_preview
from undertow.stream.scan import scan
from undertow.tabular.histogram import HistogramAccumulator, histogram
from undertow.tabular.psi import psi
from undertow.tabular.reference import PsiAccumulator, Reference
from undertow.tabular.results import ColumnPsi, PsiReport, PsiResult
from undertow.windows import drift_over

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "PCA",
    "AuditReport",
    "Check",
    "ColumnPsi",
    "CosineDrift",
    "CovarianceAccumulator",
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
    "UndertowError",
    "__version__",
    "audit_index",
    "cosine_drift",
    "drift_over",
    "exact_search",
    "histogram",
    "median_bandwidth",
    "mmd",
    "psi",
    "rotation_preview",
    "scan",
]
