"""undertow: drift you cannot see from the surface.

Fast, correct drift statistics with a Rust core: numpy-compatible histograms, PSI per column
with mergeable accumulators and safe serialization.

>>> import numpy as np, undertow as ut
>>> ut.psi(np.arange(1000.0), np.arange(1000.0)).value
0.0
"""

from undertow._core import FORMAT_VERSION, UndertowError
from undertow._results import ColumnPsi, PsiReport, PsiResult
from undertow.histogram import histogram
from undertow.psi import psi
from undertow.reference import PsiAccumulator, Reference

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "ColumnPsi",
    "PsiAccumulator",
    "PsiReport",
    "PsiResult",
    "Reference",
    "UndertowError",
    "__version__",
    "histogram",
    "psi",
]
