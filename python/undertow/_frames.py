"""Dataframes of any library, one layer: narwhals reads pandas (numpy- and Arrow-backed), pyarrow
tables, polars and whatever else it knows, so there is no branch per library here.

Out come the (name, values) items `_inputs.table_columns` already handles:

* numeric columns: a numpy array from narwhals' ``to_numpy()``. Zero-copy when the source holds
  one contiguous buffer without missing values (numpy-backed pandas, one-chunk Arrow, polars);
  otherwise one copy, in which missing values (pd.NA, Arrow/polars nulls, NaN) become NaN and
  ``nan_policy`` governs them, as for polars input. Float32 columns stay float32. Big-endian
  numpy columns (pandas keeps them; narwhals calls their dtype Unknown) are numeric too: their
  values go on to `_inputs`, which swaps them to native order (one copy).
* everything else (strings, categoricals, booleans, nullable booleans): a polars Series
  (narwhals ``to_polars()``: one copy unless the source is polars), which the categorical path
  counts; pandas Categorical becomes a polars Categorical (binned by label, not by code).
* dates, datetimes and durations are refused, naming the column: PSI needs numbers or
  categories, and an implicit epoch would carry the source's unit (pandas ns, polars us, Arrow
  any), so explicit bin edges would silently mean different instants; convert explicitly.
* a polars LazyFrame is refused: collect it (or stream batches into ``ref.accumulator()``), so
  the memory a nightly job takes is its own decision.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from undertow._core import UndertowError

ACCEPTED = (
    "a 2-D numpy array, a polars DataFrame or a dict of arrays, "
    "or a pandas DataFrame / pyarrow Table (any dataframe narwhals reads eagerly)"
)


def frame_items(table: Any, argument: str) -> list[tuple[str, Any]]:
    """(name, values) per column of a dataframe; TypeError when `table` is none."""
    if isinstance(table, pl.LazyFrame):
        raise TypeError(
            f"{argument}: got a polars LazyFrame; collect() it first "
            "(or update ref.accumulator() batch by batch)"
        )
    if isinstance(table, pl.DataFrame):  # the internal representation already
        return [(name, _checked(name, table.get_column(name), argument)) for name in table.columns]
    try:
        frame = nw.from_native(table, eager_only=True)
    except TypeError:
        raise TypeError(f"{argument}: expected {ACCEPTED}, got {type(table).__name__}") from None
    except nw.exceptions.DuplicateError as error:
        raise UndertowError(f"{argument}: {error}") from None
    return [(str(name), _values(frame.get_column(name), str(name), argument)) for name in frame.columns]


def _checked(name: str, series: pl.Series, argument: str) -> pl.Series:
    if series.dtype.is_temporal():
        raise TypeError(_temporal_message(name, series.dtype, argument))
    return series


def _temporal_message(name: str, dtype: Any, argument: str) -> str:
    return (
        f"{argument} column {name!r}: dtype {dtype} is a date/time; PSI needs numbers or categories, "
        "convert it explicitly (e.g. to epoch seconds or to a period label)"
    )


def _values(series: Any, name: str, argument: str) -> Any:
    dtype = series.dtype
    if dtype.is_temporal():
        raise TypeError(_temporal_message(name, dtype, argument))
    # Unknown: narwhals names no big-endian numpy dtype (pandas keeps them); to_polars would
    # fail in Arrow ("Byte-swapped arrays not supported"), the numpy values do not
    if dtype.is_numeric() or dtype == nw.Unknown:
        values = series.to_numpy()
        if values.dtype.kind in "fiu":
            if dtype == nw.Float32 and values.dtype != np.float32:
                values = values.astype(np.float32)  # exact: NaN for the nulls, as polars gives
            return values
    return series.to_polars()


def type_name(value: Any) -> str:
    """The type of `value` with its library: "pandas.DataFrame", not a bare "DataFrame"."""
    kind = type(value)
    library = kind.__module__.partition(".")[0]
    return kind.__qualname__ if library == "builtins" else f"{library}.{kind.__qualname__}"


def to_polars(table: Any, argument: str) -> pl.DataFrame | None:
    """A whole eager dataframe of any library as polars (dates kept), None when `table` is none
    (the audit's docs table: it reads timestamps, so it takes the frame, not the items)."""
    try:
        frame = nw.from_native(table, eager_only=True)
    except TypeError:
        return None
    except nw.exceptions.DuplicateError as error:
        raise UndertowError(f"{argument}: {error}") from None
    if any(dtype == nw.Unknown for dtype in frame.schema.values()):
        return pl.DataFrame([_polars_column(frame.get_column(name), str(name)) for name in frame.columns])
    return frame.to_polars()


def _polars_column(series: Any, name: str) -> pl.Series:
    """One column as polars; a big-endian numpy column (an Unknown dtype to narwhals, refused by
    Arrow) is swapped to native order first (one copy)."""
    if series.dtype == nw.Unknown:
        values = series.to_numpy()
        if values.dtype.kind in "fiu" and not values.dtype.isnative:
            return pl.Series(name, values.astype(values.dtype.newbyteorder("=")))
    return series.to_polars().alias(name)


def series_values(value: Any, argument: str) -> Any:
    """A pandas/pyarrow 1-D series as numpy (numeric) or polars (otherwise); anything else as is."""
    if isinstance(value, np.ndarray | pl.Series | list | tuple):
        return value
    try:
        series = nw.from_native(value, series_only=True)
    except TypeError:
        return value
    return _values(series, str(series.name), argument)
