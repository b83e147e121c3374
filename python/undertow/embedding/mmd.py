"""Maximum mean discrepancy: exact permutation test and random-Fourier-feature accumulators."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_count, check_seed
from undertow._core import UndertowError
from undertow._inputs import as_matrix, common_dtype, same_dims
from undertow._sync import both_locked, locked
from undertow.embedding._pack import naming_data, state_bytes


@dataclass(frozen=True)
class MmdResult:
    """Unbiased MMD^2 with an RBF kernel, and its test.

    ``p_value`` is the permutation p-value ``(1 + #{permuted >= observed}) / (1 + permutations)``
    for the exact estimator, a permuted statistic within rounding of the observed one counting
    as a tie (None when permutations=0; never below ``1 / (1 + permutations)``),
    and Hotelling's T^2 p-value on the random-feature means (F distribution) for
    ``estimator="rff"``, floored at 2.2e-308 (the smallest normal double: the F tail of a strong
    drift underflows, and 0.0 would read as an exact, impossible value).
    """

    value: float
    p_value: float | None
    bandwidth: float
    permutations: int
    n_x: int
    n_y: int
    estimator: str = "exact"
    features: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "p_value": self.p_value,
            "bandwidth": self.bandwidth,
            "permutations": self.permutations,
            "n_x": self.n_x,
            "n_y": self.n_y,
            "estimator": self.estimator,
            "features": self.features,
        }

    def __repr__(self) -> str:
        p = "None" if self.p_value is None else f"{self.p_value:.4g}"
        extra = f", features={self.features}" if self.features is not None else ""
        return (
            f"MmdResult(value={self.value:.6g}, p_value={p}, bandwidth={self.bandwidth:.6g}, "
            f"estimator={self.estimator!r}, permutations={self.permutations}{extra}, "
            f"n_x={self.n_x}, n_y={self.n_y})"
        )


def _result(raw: dict[str, Any], estimator: str, features: int | None) -> MmdResult:
    return MmdResult(
        value=float(raw["value"]),
        p_value=None if raw["p_value"] is None else float(raw["p_value"]),
        bandwidth=float(raw["bandwidth"]),
        permutations=int(raw["permutations"]),
        n_x=int(raw["n_x"]),
        n_y=int(raw["n_y"]),
        estimator=estimator,
        features=features,
    )


# The kernel divides by 2 bandwidth^2: below this the square underflows (0 or subnormal) and
# every kernel value is 0/0 or loses its digits.
SMALLEST_BANDWIDTH = math.sqrt(np.finfo(np.float64).tiny)


def _median(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """The Rust median heuristic, with the causes it cannot see named: distances that overflow
    (finite values above ~1e154 give a NaN median) or underflow (subnormal rows)."""
    try:
        value = float(_core.median_bandwidth(x, y, seed))
    except UndertowError as exc:
        # distances of subnormal rows underflow to 0: not "identical points"
        tiny = max(float(np.abs(x).max()), float(np.abs(y).max())) < SMALLEST_BANDWIDTH
        if "median distance" not in str(exc) or not tiny or not (x.any() or y.any()):
            raise
        value = 0.0
    if not math.isfinite(value):
        raise UndertowError(
            "x, y: values are too large: squared distances overflow float64 (|x| above about 1e154); "
            "rescale the data"
        )
    if value < SMALLEST_BANDWIDTH:
        raise UndertowError(
            f"x, y: the median distance {value:.3g} is too small for a kernel bandwidth (its square "
            f"underflows float64, below {SMALLEST_BANDWIDTH:.3g}); rescale the data"
        )
    return value


def _bandwidth(bandwidth: Any, x: Any, y: Any, seed: int) -> float:
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise UndertowError(f'bandwidth: must be "median" or a positive number, got {bandwidth!r}')
        return _median(x, y, seed)
    # numpy scalars (np.float32(1.0), np.int64(2)) are numbers like Python's; bools are not
    if isinstance(bandwidth, bool | np.bool_) or not isinstance(bandwidth, numbers.Real):
        raise TypeError(f'bandwidth: must be "median" or a positive number, got {type(bandwidth).__name__}')
    value = float(bandwidth)
    if not (math.isfinite(value) and value > 0):
        raise UndertowError(f"bandwidth: must be a positive finite number, got {bandwidth!r}")
    if value < SMALLEST_BANDWIDTH:
        raise UndertowError(
            f"bandwidth: {value:.3g} is too small (its square underflows float64); "
            f"must be at least {SMALLEST_BANDWIDTH:.3g}"
        )
    return value


def median_bandwidth(x: Any, y: Any, seed: int = 0) -> float:
    """The median heuristic: the median Euclidean distance over all pairs i < j of the pooled
    sample (each side whole up to 1,000 rows, otherwise 1,000 rows drawn with `seed`)."""
    xm, ym = as_matrix(x, "x"), as_matrix(y, "y")
    same_dims(xm, ym, "x", "y")
    xm, ym = common_dtype(xm, ym)
    return _median(xm, ym, check_seed(seed))


def mmd_with_null(x: np.ndarray, y: np.ndarray, permutations: int, seed: int) -> tuple[MmdResult, np.ndarray]:
    """The exact test of `mmd` (median bandwidth) on checked matrices, with the statistic of each
    permutation (float64, in permutation order): the null distribution behind the p-value."""
    xm, ym = common_dtype(x, y)
    raw = _core.mmd_exact(xm, ym, _median(xm, ym, seed), permutations, seed)
    return _result(raw, "exact", None), np.asarray(raw["null"], dtype=np.float64)


def mmd(
    x: Any,
    y: Any,
    kernel: str = "rbf",
    bandwidth: Any = "median",
    permutations: int = 200,
    seed: int = 0,
    estimator: str = "exact",
    features: int = 256,
) -> MmdResult:
    """Unbiased MMD^2 between the rows of `x` and `y`, with a test of "same distribution".

    Kernel ``k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2))``; ``bandwidth="median"`` is the
    median heuristic (see `median_bandwidth`). ``estimator="exact"``: the kernel is computed in
    blocks (never the (n+m)^2 matrix), all permutations are scored in the same pass (one matrix
    of labels times each kernel block; labels go in batches of at most 64 MB, the kernel
    recomputed per batch), so memory stays bounded for any permutation count; the p-value is
    ``(1 + #{permuted >= observed}) / (1 + permutations)``, ties (equal within rounding: splits
    that differ only by swapping equal rows) counted. ``estimator="rff"``: `features`
    random Fourier features approximate the kernel, the value is the unbiased MMD^2 of the
    features, and the p-value is Hotelling's T^2 test of the two feature means (F distribution);
    linear in the rows, for millions of vectors, mergeable through RffAccumulator.
    The same seed and input give the same result whatever the thread count.

    >>> import numpy as np, undertow as ut
    >>> rng = np.random.default_rng(0)
    >>> r = ut.mmd(rng.normal(size=(300, 5)), rng.normal(size=(300, 5)) + 1.0, permutations=100)
    >>> r.p_value
    0.009900990099009901
    """
    if kernel != "rbf":
        raise UndertowError(f'kernel: only "rbf" is supported, got {kernel!r}')
    if estimator not in ("exact", "rff"):
        raise UndertowError(f'estimator: must be "exact" or "rff", got {estimator!r}')
    seed = check_seed(seed)
    permutations = check_count(permutations, "permutations", 0, 100_000)
    xm, ym = as_matrix(x, "x"), as_matrix(y, "y")
    same_dims(xm, ym, "x", "y")
    xm, ym = common_dtype(xm, ym)
    h = _bandwidth(bandwidth, xm, ym, seed)
    if estimator == "exact":
        return _result(_core.mmd_exact(xm, ym, h, permutations, seed), "exact", None)
    acc = RffAccumulator(xm.shape[1], h, features=features, seed=seed)
    acc.update_x(xm)
    acc.update_y(ym)
    return acc.finalize()


class RffAccumulator:
    """Random-Fourier-feature MMD over streams of x and y rows; mergeable and serializable.

    ``z(v) = sqrt(2/D) cos(W v + b)``, ``W ~ N(0, I / bandwidth^2)``, ``b ~ U[0, 2 pi)``, drawn
    from `seed` (never stored: the same seed gives the same features everywhere). Each side
    keeps the count, sum and cross-products of its features (float64), so batches, files and
    machines merge. ``finalize()`` gives the unbiased MMD^2 of the features and Hotelling's T^2
    p-value of the two feature means against the pooled covariance (F distribution; directions
    with eigenvalue below 1e-10 of the largest are dropped; floored at 2.2e-308, never 0.0).
    """

    def __init__(self, dim: int, bandwidth: float, features: int = 256, seed: int = 0) -> None:
        # Sizes past usize are refused here (PyO3 would raise a bare OverflowError); the real
        # bounds (memory for dim, 4096 features since finalize is cubic) are the core's, whose
        # errors say why.
        dim = check_count(dim, "dim", 1, 2**63 - 1)
        features = check_count(features, "features", 1, 2**63 - 1)
        h = _bandwidth(bandwidth, None, None, 0) if not isinstance(bandwidth, str) else None
        if h is None:
            raise UndertowError("bandwidth: an accumulator needs a number (compute the median first)")
        self._core = _core.Rff(dim, h, features, check_seed(seed))

    @classmethod
    def _wrap(cls, core: Any) -> RffAccumulator:
        out = cls.__new__(cls)
        out._core = core
        return out

    @locked
    def update_x(self, x: Any) -> None:
        self._core.update_x(as_matrix(x, "x", min_rows=0))

    @locked
    def update_y(self, y: Any) -> None:
        self._core.update_y(as_matrix(y, "y", min_rows=0))

    def merge(self, other: RffAccumulator) -> None:
        if not isinstance(other, RffAccumulator):
            raise TypeError(f"other: expected an RffAccumulator, got {type(other).__name__}")
        with both_locked(self, other):
            # acc.merge(acc) doubles: merge a copy (the core cannot lend itself to itself)
            source = other._core if other is not self else _core.Rff.from_bytes(self._core.to_bytes())
            self._core.merge(source)

    @property
    @locked
    def n_x(self) -> int:
        return self._core.rows[0]

    @property
    @locked
    def n_y(self) -> int:
        return self._core.rows[1]

    @property
    def features(self) -> int:
        return self._core.features

    @locked
    def finalize(self) -> MmdResult:
        return _result(self._core.finalize(), "rff", self._core.features)

    @locked
    def to_bytes(self) -> bytes:
        return self._core.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> RffAccumulator:
        with naming_data():
            return cls._wrap(_core.Rff.from_bytes(state_bytes(data)))

    def __reduce__(self) -> Any:
        return (RffAccumulator.from_bytes, (self.to_bytes(),))

    @locked
    def __repr__(self) -> str:
        return (
            f"RffAccumulator(dim={self._core.dim}, features={self.features}, "
            f"bandwidth={self._core.bandwidth:.6g}, n_x={self.n_x}, n_y={self.n_y})"
        )
