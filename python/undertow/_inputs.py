"""Input normalization: what users have in, exactly one layout out to Rust. Shared by every
room (tabular, embedding, audit); the scalar arguments are checked in `undertow._args`.

Rust entry points take C-contiguous, native-endian float32 or float64 arrays only. Everything
else is decided here, once, and documented:

* float32 / float64, contiguous, native byte order: passed as is (no copy).
* 1-D values (`as_float_array`, the columns of `table_columns`): float16 -> float32 and
  integer -> float64, one copy (exact: every float16 is a float32 and integers up to 2**53 are
  exact in float64). polars Series: ``to_numpy()`` (zero-copy for one chunk without nulls; nulls
  become NaN, which the ``nan_policy`` then governs).
* vectors (`as_matrix`, rows x dimensions): float16 and integers, one copy to float64 (exact
  for both); non-contiguous, unaligned or big-endian float32/float64, one copy to a contiguous
  aligned array of the same type. A polars Series (or one-column DataFrame) of
  Array(Float32|Float64, d): ``to_numpy()`` (zero-copy for one chunk without nulls);
  List(Float...) must hold rows of one length and is copied once. A null row is an error.
* non-contiguous, unaligned (a memmap after an odd-sized header, ``np.frombuffer`` at an odd
  offset) or big-endian 1-D arrays: one copy to a contiguous, aligned native array.
* polars Decimal columns: cast to Float64 (one rounding per value, as ``float(Decimal)``).
* polars List/Array columns in a table are refused: a row holding several labels has no single
  category (explode it, or join the labels into one string, if that is what is meant).
* dataframes of any library (pandas, pyarrow, polars) and pandas/pyarrow series: through
  narwhals in ``_frames.py`` (zero-copy numeric columns where the source allows).
* bool, complex, string, object and datetime arrays are refused with a TypeError naming the
  argument, and so are masked arrays with masked values (every conversion would drop the mask
  and count them); a masked array hiding nothing is its data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow._core import UndertowError
from undertow._frames import frame_items, series_values

try:  # polars is a dependency, but keep import errors readable
    import polars as pl
except ImportError:  # pragma: no cover
    pl = None  # type: ignore[assignment]


def is_polars_series(value: Any) -> bool:
    return pl is not None and isinstance(value, pl.Series)


def is_polars_frame(value: Any) -> bool:
    return pl is not None and isinstance(value, pl.DataFrame)


def _refuse_masked(value: Any, argument: str) -> None:
    """numpy's conversions (np.asarray, astype, the buffer Rust reads) drop a mask, so the
    masked values would be counted as data: refused; a mask hiding nothing is no mask."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise TypeError(
            f"{argument}: a masked array with {int(np.ma.count_masked(value))} masked values; "
            "drop them (x.compressed() for values, x[~x.mask.any(axis=1)] for rows) or fill them "
            "(x.filled(np.nan), which nan_policy then governs)"
        )


def _refuse_dtype(array: np.ndarray, argument: str) -> None:
    _refuse_masked(array, argument)
    kind = array.dtype.kind
    if kind in "fiu":
        return
    names = {
        "b": "bool",
        "c": "complex",
        "O": "object",
        "U": "string",
        "S": "bytes",
        "M": "datetime",
        "m": "timedelta",
    }
    raise TypeError(
        f"{argument}: expected real numbers (float or integer dtype), "
        f"got {names.get(kind, str(array.dtype))} array (dtype {array.dtype})"
    )


def as_float_array(value: Any, argument: str, ndim: int = 1, allow_empty: bool = False) -> np.ndarray:
    """`value` as a C-contiguous native float32/float64 array of `ndim` dimensions."""
    value = series_values(value, argument)  # pandas/pyarrow series (_frames.py)
    if is_polars_series(value):
        if not value.dtype.is_numeric():
            raise TypeError(f"{argument}: expected a numeric polars Series, got dtype {value.dtype}")
        if isinstance(value.dtype, pl.Decimal):
            value = value.cast(pl.Float64)
        value = value.to_numpy()
    array = value if isinstance(value, np.ndarray) else _asarray(value, argument)
    _refuse_dtype(array, argument)
    if array.ndim != ndim:
        raise UndertowError(
            f"{argument}: expected a {ndim}-D array, got {array.ndim}-D with shape {array.shape}"
        )
    if array.size == 0 and not allow_empty:
        raise UndertowError(f"{argument}: is empty (shape {array.shape})")
    if array.dtype.kind in "iu":
        array = array.astype(np.float64)
    elif array.dtype.itemsize == 2:
        array = array.astype(np.float32)
    elif array.dtype.itemsize not in (4, 8):
        raise TypeError(f"{argument}: unsupported float dtype {array.dtype} (use float32 or float64)")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if ndim == 2 and array.flags.f_contiguous and not array.flags.c_contiguous and array.flags.aligned:
        return array  # column-major: each column is contiguous; the caller walks columns
    # an unaligned buffer (a view into a file or a packed struct) is copied once, aligned
    return np.require(array, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _asarray(value: Any, argument: str) -> np.ndarray:
    _refuse_masked(value, argument)
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # numpy refuses ragged nested lists
        raise TypeError(f"{argument}: rows have different lengths (a ragged list)") from None


@dataclass(frozen=True)
class Column:
    """One named column of a table: numeric (float array) or categorical (polars Series)."""

    name: str
    categorical: bool
    values: Any


def _is_categorical_series(series: Any) -> bool:
    dtype = series.dtype
    return dtype in (pl.String, pl.Boolean) or isinstance(dtype, pl.Categorical | pl.Enum)


def table_columns(
    table: Any,
    argument: str,
    categorical: Any = None,
    allow_empty: bool = False,
    absent_ok: bool = False,
) -> tuple[list[Column], np.ndarray | None]:
    """Splits a table into columns. Returns (columns, matrix) where matrix is the 2-D numeric
    array when the table was one (so the caller can use the one-pass row kernel). `absent_ok`:
    names in `categorical` that the table lacks are the caller's to report (an accumulator says
    which reference columns are missing)."""
    if isinstance(categorical, str | bytes):
        raise TypeError(
            f"categorical: expected a list of column names, got the string {categorical!r}; "
            f"pass [{categorical!r}]"
        )
    try:
        forced = {str(c) for c in (categorical or [])}
    except TypeError:
        raise TypeError(
            f"categorical: expected a list of column names, got {type(categorical).__name__}"
        ) from None
    if isinstance(table, np.ndarray) or (isinstance(table, list | tuple) and not isinstance(table, Mapping)):
        array = _asarray(table, argument)
        if array.ndim != 2:
            raise UndertowError(f"{argument}: expected a 2-D array (rows x columns), got {array.ndim}-D")
        names = [str(j) for j in range(array.shape[1])]
        if forced & set(names):
            columns = [
                Column(name, name in forced, pl.Series(name, array[:, j]) if name in forced else array[:, j])
                for j, name in enumerate(names)
            ]
            return [_normalize(c, argument, allow_empty) for c in columns], None
        matrix = as_float_array(array, argument, ndim=2, allow_empty=allow_empty)
        return [Column(name, False, None) for name in names], matrix
    if isinstance(table, Mapping):
        items = [(str(name), values) for name, values in table.items()]
    else:  # polars, pandas, pyarrow, ... through one layer (_frames.py); TypeError for the rest
        items = frame_items(table, argument)
    if not items:
        raise UndertowError(f"{argument}: has no columns")
    names = [name for name, _ in items]
    # Counter, not names.count per name: a 10,000-column table would take 1e8 comparisons.
    duplicated = sorted(n for n, c in Counter(names).items() if c > 1)
    if duplicated:
        raise UndertowError(f"{argument}: duplicate column names {duplicated}")
    unknown = forced - set(names)
    if unknown and not absent_ok:
        raise UndertowError(f"categorical: names columns not in {argument}: {sorted(unknown)}")
    columns = []
    for name, values in items:
        series = values if is_polars_series(values) else _to_series(name, values, argument)
        is_cat = name in forced or _is_categorical_series(series)
        columns.append(_normalize(Column(name, is_cat, series), argument, allow_empty))
    lengths = {c.name: len(c.values) for c in columns}
    if len(set(lengths.values())) > 1:
        raise UndertowError(f"{argument}: columns have different lengths: {lengths}")
    return columns, None


def _to_series(name: str, values: Any, argument: str) -> Any:
    _refuse_masked(values, f"{argument} column {name!r}")  # one rule for masks (polars reads them as nulls)
    array = values if isinstance(values, np.ndarray) else _asarray(values, f"{argument} column {name!r}")
    if array.dtype.kind in "cMmV":
        _refuse_dtype(array, f"{argument} column {name!r}")
    if array.ndim != 1:
        raise UndertowError(f"{argument}: column {name!r} must be 1-D, got shape {array.shape}")
    if array.dtype.kind in "USO":
        # NaN and None in object arrays of labels are missing values, not a "nan" category
        items = [None if isinstance(v, float) and v != v else v for v in array.tolist()]
        return pl.Series(name, items, dtype=pl.String if array.dtype.kind in "US" else None, strict=False)
    return pl.Series(name, array)


def _normalize(column: Column, argument: str, allow_empty: bool = False) -> Column:
    series = column.values
    if is_polars_series(series) and isinstance(series.dtype, pl.List | pl.Array | pl.Struct):
        raise TypeError(
            f"{argument}: column {column.name!r} has dtype {series.dtype}; a row holding several "
            "values has no single category or number (explode it, or join the labels into one "
            "string)"
        )
    if column.categorical:
        if not is_polars_series(series):
            series = pl.Series(column.name, series)
        if series.len() == 0 and not allow_empty:
            raise UndertowError(f"{argument}: column {column.name!r} is empty")
        return Column(column.name, True, series)
    arg = f"{argument} column {column.name!r}"
    if is_polars_series(series) and not series.dtype.is_numeric():
        raise TypeError(f"{arg}: dtype {series.dtype} is neither numeric nor categorical")
    return Column(column.name, False, as_float_array(series, arg, allow_empty=allow_empty))


# ---------------------------------------------------------------------------------------------
# Vectors: (rows, dimensions) matrices for the embedding statistics, exact search and the audit


def _vectors_from_polars(series: pl.Series, argument: str) -> np.ndarray:
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
        value = _vectors_from_polars(value, argument)
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError):  # numpy refuses ragged nested lists
        raise TypeError(f"{argument}: rows have different lengths (a ragged list)") from None
    _refuse_dtype(array, argument)
    kind = array.dtype.kind
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
