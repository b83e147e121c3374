"""Validation of the scalar arguments shared by the public functions (bins, nan_policy, eps,
thresholds, seeds, counts, batch sizes): a checked value back, or an error naming the argument.
Arrays and tables are normalized in `undertow._inputs`."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from undertow._core import UndertowError

NAN_POLICIES = ("raise", "omit", "bin")
# Far beyond any useful PSI resolution; refusing more keeps a typo from allocating gigabytes.
MAX_BINS = 1_000_000


def check_bins_and_binning(bins: Any, binning: Any) -> tuple[int, str, list[float] | None]:
    """(bins, binning name, explicit edges or None). An array in `bins` or `binning` means
    explicit edges."""
    if not isinstance(binning, str):
        edges = _edges(binning, "binning")
        return len(edges) - 1, "explicit", edges
    if isinstance(bins, np.ndarray | list | tuple):
        edges = _edges(bins, "bins")
        return len(edges) - 1, "explicit", edges
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
        raise TypeError(f"bins: expected an int >= 2 or an array of edges, got {type(bins).__name__}")
    if bins < 2:
        raise UndertowError(f"bins: must be >= 2, got {bins}")
    if bins > MAX_BINS:
        raise UndertowError(f"bins: must be <= {MAX_BINS:,}, got {bins:,}")
    if binning not in ("quantile", "uniform"):
        raise UndertowError(f"binning: must be 'quantile', 'uniform' or an array of edges, got {binning!r}")
    return int(bins), binning, None


def _edges(value: Any, argument: str) -> list[float]:
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" or array.ndim != 1:
        raise TypeError(f"{argument}: explicit edges must be a 1-D array of real numbers")
    if array.size < 3:
        raise UndertowError(
            f"{argument}: explicit edges must define at least 2 bins (3 edges), got {array.size}"
        )
    edges = array.astype(np.float64)
    if np.isnan(edges).any() or not np.all(np.diff(edges) > 0):
        raise UndertowError(f"{argument}: explicit edges must be strictly increasing and not NaN")
    return edges.tolist()


def check_nan_policy(nan_policy: Any) -> str:
    if nan_policy not in NAN_POLICIES:
        raise UndertowError(f"nan_policy: must be one of {NAN_POLICIES}, got {nan_policy!r}")
    return str(nan_policy)


def check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (0.0 < float(eps) < 1.0):
        raise UndertowError(f"eps: must be a number in (0, 1), got {eps!r}")
    return float(eps)


def check_thresholds(thresholds: Any) -> tuple[float, float]:
    try:
        moderate, significant = (float(t) for t in thresholds)
    except (TypeError, ValueError):
        raise UndertowError(
            f"thresholds: expected two numbers (moderate, significant), got {thresholds!r}"
        ) from None
    if not (np.isfinite(moderate) and np.isfinite(significant) and 0 <= moderate <= significant):
        raise UndertowError(
            f"thresholds: must be finite with 0 <= moderate <= significant, got ({moderate}, {significant})"
        )
    return moderate, significant


def check_split_every(split_every: Any) -> int:
    if isinstance(split_every, bool) or not isinstance(split_every, int | np.integer) or split_every < 2:
        raise UndertowError(f"split_every: must be an integer >= 2, got {split_every!r}")
    return int(split_every)


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise UndertowError(f"batch_size: must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**64:
        raise UndertowError(f"seed: must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)


def check_count(value: Any, argument: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{argument}: must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UndertowError(f"{argument}: must be {bound}, got {value}")
    return value


def check_flag(value: Any, argument: str) -> bool:
    """A bool (numpy's too); 0/1 and strings are refused, "false" would read as True."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{argument}: must be True or False, got {type(value).__name__}")
    return bool(value)


def check_real(
    value: Any,
    argument: str,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
    sep: str = ": ",
) -> float:
    """A finite real number (Python or numpy, not bool) within [low, high]; `open_low` /
    `open_high` exclude the bound. Messages read f"{argument}{sep}must ..."."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}{sep}must be a number, got {type(value).__name__}")
    number = float(value)
    if not np.isfinite(number):
        raise UndertowError(f"{argument}{sep}must be a finite number, got {value!r}")
    below = low is not None and (number <= low if open_low else number < low)
    above = high is not None and (number >= high if open_high else number > high)
    if below or above:
        if open_low and open_high:
            where = f"strictly between {low:g} and {high:g}"
        else:
            left = "-inf" if low is None else f"{low:g}"
            right = "inf" if high is None else f"{high:g}"
            opening = "(" if open_low or low is None else "["
            closing = ")" if open_high or high is None else "]"
            where = f"in {opening}{left}, {right}{closing}"
        raise UndertowError(f"{argument}{sep}must lie {where}, got {number:g}")
    return number


def check_int64_ids(value: Any, argument: str, length: int | None = None, noun: str = "value") -> np.ndarray:
    """A 1-D array of integers that fit int64 (faiss ids, row numbers), as int64. Floats are
    refused rather than truncated: 0.5 is not a row."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # numpy refuses ragged nested lists
        raise TypeError(f"{argument}: {noun}s must be a 1-D array of integers, got a ragged list") from None
    # an empty list comes out float64: no value in it is a float
    if array.dtype.kind not in "iu" and not (array.dtype.kind == "f" and array.size == 0):
        raise TypeError(f"{argument}: {noun}s must be integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise UndertowError(f"{argument}: {noun}s must be 1-D, got shape {array.shape}")
    if length is not None and len(array) != length:
        raise UndertowError(f"{argument}: needs {length} {noun}s (one per query), got {len(array)}")
    if array.dtype == np.uint64 and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise UndertowError(f"{argument}: {noun} {int(array.max())} does not fit int64 (faiss ids are int64)")
    # aligned too: ascontiguousarray keeps a buffer at an odd offset, which Rust cannot read
    return np.require(array, dtype=np.int64, requirements=["C_CONTIGUOUS", "ALIGNED"])
