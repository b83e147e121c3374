"""PCA from a mergeable float64 covariance accumulator (faer eigen-decomposition in Rust)."""

from __future__ import annotations

from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_count
from undertow._core import UndertowError
from undertow._inputs import as_matrix
from undertow._sync import both_locked, locked
from undertow.embedding._pack import naming_data, state_bytes


class PCA:
    """A fitted principal-component basis.

    ``components`` (k x d) are unit axes by decreasing variance, each signed so that its entry
    of largest magnitude is positive; ``explained_variance`` are the covariance eigenvalues
    (ddof=1, as scikit-learn); ``explained_variance_ratio`` divides them by the total variance
    (the trace). The covariance is accumulated in float64 from rows centred by a shift, in
    blocks through faer, and is exactly mergeable (see CovarianceAccumulator).

    >>> import numpy as np, undertow as ut
    >>> x = np.random.default_rng(0).normal(size=(1000, 8)) * np.arange(1, 9)
    >>> pca = ut.PCA.fit(x, components=2)
    >>> int(np.argmax(np.abs(pca.components[0])))
    7
    """

    def __init__(self, core: Any, argument: str = "x") -> None:
        # Finite values whose squares or sums overflow float64 leave NaN in the basis; refuse
        # them here rather than hand back NaN axes (the kernel may refuse them first).
        if not (np.isfinite(core.explained_variance).all() and np.isfinite(core.components).all()):
            raise UndertowError(
                f"{argument}: values are too large: their squares or sums overflow float64 "
                "(|x| above about 1e154); rescale the data"
            )
        self._core = core

    @classmethod
    def fit(cls, x: Any, components: int = 32) -> PCA:
        """Fits `components` axes to the rows of `x` (numpy 2-D or a polars embedding Series)."""
        matrix = as_matrix(x, "x")
        components = check_count(components, "components", 1, matrix.shape[1])
        acc = _core.Covariance(matrix.shape[1])
        acc.update(matrix)
        return cls(acc.finalize(components))

    @property
    def mean(self) -> np.ndarray:
        return self._core.mean

    @property
    def components(self) -> np.ndarray:
        return self._core.components

    @property
    def explained_variance(self) -> np.ndarray:
        return self._core.explained_variance

    @property
    def total_variance(self) -> float:
        return self._core.total_variance

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        total = self.total_variance
        return self.explained_variance / total if total > 0 else np.zeros_like(self.explained_variance)

    @property
    def n_samples(self) -> int:
        return self._core.rows

    @property
    def dim(self) -> int:
        return self._core.dim

    @property
    def n_components(self) -> int:
        return int(self.explained_variance.shape[0])

    def transform(self, x: Any) -> np.ndarray:
        """``(x - mean) @ components.T``: float32 for float32 input, float64 otherwise."""
        return self._core.transform(as_matrix(x, "x", min_rows=1))

    def to_bytes(self) -> bytes:
        return self._core.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PCA:
        with naming_data():
            return cls(_core.Pca.from_bytes(state_bytes(data)))

    def __reduce__(self) -> Any:
        return (PCA.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        ratio = float(np.sum(self.explained_variance_ratio))
        return (
            f"PCA(components={self.n_components}, dim={self.dim}, n_samples={self.n_samples}, "
            f"explained_variance_ratio_sum={ratio:.4f})"
        )


class CovarianceAccumulator:
    """Mergeable covariance of rows (float64): update with batches, merge, then finalize.

    Batches from files, threads or machines give the same PCA as one fit up to float64 rounding
    (sums are re-centred on merge, never cancel catastrophically).

    >>> import numpy as np, undertow as ut
    >>> x = np.random.default_rng(1).normal(size=(600, 4))
    >>> a, b = ut.CovarianceAccumulator(4), ut.CovarianceAccumulator(4)
    >>> a.update(x[:250]); b.update(x[250:]); a.merge(b)
    >>> bool(np.allclose(a.finalize(2).explained_variance, ut.PCA.fit(x, 2).explained_variance))
    True
    """

    def __init__(self, dim: int) -> None:
        self._core = _core.Covariance(check_count(dim, "dim", 1))

    @classmethod
    def _wrap(cls, core: Any) -> CovarianceAccumulator:
        out = cls.__new__(cls)
        out._core = core
        return out

    @locked
    def update(self, x: Any) -> None:
        self._core.update(as_matrix(x, "x", min_rows=0))

    def merge(self, other: CovarianceAccumulator) -> None:
        if not isinstance(other, CovarianceAccumulator):
            raise TypeError(f"other: expected a CovarianceAccumulator, got {type(other).__name__}")
        with both_locked(self, other):
            # acc.merge(acc) doubles: merge a copy (the core cannot lend itself to itself)
            source = other._core if other is not self else _core.Covariance.from_bytes(self._core.to_bytes())
            self._core.merge(source)

    @property
    @locked
    def n_samples(self) -> int:
        return self._core.rows

    @property
    def dim(self) -> int:
        return self._core.dim

    @locked
    def finalize(self, components: int = 32) -> PCA:
        components = check_count(components, "components", 1, self.dim)
        return PCA(self._core.finalize(components))

    @locked
    def to_bytes(self) -> bytes:
        return self._core.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> CovarianceAccumulator:
        with naming_data():
            return cls._wrap(_core.Covariance.from_bytes(state_bytes(data)))

    def __reduce__(self) -> Any:
        return (CovarianceAccumulator.from_bytes, (self.to_bytes(),))

    @locked
    def __repr__(self) -> str:
        return f"CovarianceAccumulator(dim={self.dim}, n_samples={self.n_samples})"
