"""Vectors in: what users hold (numpy matrices, polars embedding columns), one layout out.

* float32 / float64, C-contiguous, native byte order: passed to Rust as is (no copy).
* float16 and integers: one copy to float64 (exact for both).
* non-contiguous, unaligned or big-endian float32/float64: one copy to a contiguous aligned array of
  the same type.
* a polars Series (or one-column DataFrame) of Array(Float32|Float64, d): ``to_numpy()``
  (zero-copy for one chunk without nulls); List(Float...) must hold rows of one length and is
  copied once. A null row is an error.
* bool, complex, str and object arrays: TypeError naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from undertow._core import UndertowError

_KIND_NAMES = {"b": "bool", "c": "complex", "O": "object", "U": "string", "S": "bytes"}


def _from_polars(series: pl.Series, argument: str) -> np.ndarray:
    dtype = series.dtype
    if not isinstance(dtype, pl.Array | pl.List):
        raise TypeError(
            f"{argument}: expected a polars Series of Array or List of floats (one vector per row), "
            f"got dtype {dtype}"
        )
    if series.null_count():
        first = int(series.is_null().arg_true()[0])
        raise UndertowError(f"{argument}: {series.null_count()} rows are null (the first at row {first})")
    if isinstance(dtype, pl.List):
        lengths = series.list.len()
        if lengths.n_unique() > 1:
            raise UndertowError(
                f"{argument}: list rows have different lengths ({lengths.min()} to {lengths.max()})"
            )
        width = int(lengths[0]) if len(series) else 0
        series = series.list.to_array(width)
    inner = series.dtype.inner  # type: ignore[union-attr]
    if isinstance(inner, pl.Array | pl.List):
        raise TypeError(f"{argument}: nested arrays are not vectors (dtype {series.dtype})")
    values = series.to_numpy()
    if values.dtype == object:
        raise UndertowError(f"{argument}: some vectors hold nulls")
    return values


def as_matrix(value: Any, argument: str, min_rows: int = 2) -> np.ndarray:
    """`value` as a C-contiguous native float32/float64 matrix with at least `min_rows` rows."""
    if isinstance(value, pl.DataFrame):
        if value.width != 1:
            raise TypeError(
                f"{argument}: a polars DataFrame must hold exactly one embedding column, "
                f"got {value.width} ({value.columns[:5]}); select one"
            )
        value = value.to_series(0)
    if isinstance(value, pl.Series):
        value = _from_polars(value, argument)
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError):  # numpy refuses ragged nested lists
        raise TypeError(f"{argument}: rows have different lengths (a ragged list)") from None
    kind = array.dtype.kind
    if kind not in "fiu":
        raise TypeError(
            f"{argument}: expected real numbers (float or integer dtype), "
            f"got {_KIND_NAMES.get(kind, str(array.dtype))} array (dtype {array.dtype})"
        )
    if array.ndim != 2:
        raise UndertowError(
            f"{argument}: expected a 2-D array (rows x dimensions), "
            f"got {array.ndim}-D with shape {array.shape}"
        )
    if array.shape[1] == 0:
        raise UndertowError(f"{argument}: vectors have 0 dimensions")
    if array.shape[0] < min_rows:
        raise UndertowError(f"{argument}: needs at least {min_rows} rows, got {array.shape[0]}")
    if kind in "iu" or array.dtype.itemsize == 2:
        return np.ascontiguousarray(array, dtype=np.float64)
    if array.dtype.itemsize not in (4, 8):
        raise TypeError(f"{argument}: unsupported float dtype {array.dtype} (use float32 or float64)")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    # an unaligned buffer (a view into a file or a packed struct) is copied once, aligned
    return np.require(array, requirements=["C_CONTIGUOUS", "ALIGNED"])


def same_dims(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    if x.shape[1] != y.shape[1]:
        raise UndertowError(f"{y_name}: vectors have {y.shape[1]} dimensions, {x_name} has {x.shape[1]}")


def common_dtype(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both in one float type (float64 if either is), as the pair kernels need."""
    if x.dtype == y.dtype:
        return x, y
    return x.astype(np.float64), y.astype(np.float64)


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
