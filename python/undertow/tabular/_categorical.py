"""Categorical columns: categories from the reference, counts by polars (hashing strings is
polars' job; the PSI arithmetic stays in Rust).

Bins are the reference's distinct values in sorted order, then one "unseen" bin for current
values the reference never had: its expected share is 0, floored at eps, so a new category
counts as drift instead of disappearing. Nulls are missing values under ``nan_policy``.

Categories compare by label, and a label depends on the type: int 1 is "1", float 1.0 is "1.0",
True is "true". A current column of another type than the reference's would therefore land
entirely in "unseen" and read as drift, so each categorical column carries its dtype class
(string, boolean, integer, float, decimal) and a current column of another class is refused,
with one exact normalisation: floats that are all integral (pandas turns an int column with a
null into float64) count against integer categories as the integers they equal.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from undertow._core import UndertowError

UNSEEN = "<unseen>"


def _keys(series: pl.Series) -> pl.Series:
    """Category keys as strings (ints and bools stringified after sorting by value)."""
    if isinstance(series.dtype, pl.Categorical | pl.Enum):
        series = series.cast(pl.String)
    return series.cast(pl.String)


STRING, BOOLEAN, INTEGER, FLOAT, DECIMAL = "string", "boolean", "integer", "float", "decimal"
ANY_CLASS = frozenset({STRING, BOOLEAN, INTEGER, FLOAT, DECIMAL})


def dtype_class(dtype: pl.DataType) -> str | None:
    """The class whose labels a dtype produces; None for the Null dtype (an all-null column has
    no labels, so it matches any class)."""
    if dtype in (pl.String, pl.Utf8) or isinstance(dtype, pl.Categorical | pl.Enum):
        return STRING
    if dtype == pl.Boolean:
        return BOOLEAN
    if dtype.is_integer():
        return INTEGER
    if dtype.is_float():
        return FLOAT
    if isinstance(dtype, pl.Decimal):
        return DECIMAL
    if dtype == pl.Null:
        return None
    return str(dtype)


def classes_of_categories(categories: list[str]) -> frozenset[str]:
    """The classes that could have produced these labels: what a reference loaded from bytes
    allows (the serialized state keeps the labels, not the column's dtype). Labels are strings,
    so STRING is always possible; "1" could also be an integer, "true" a boolean, "1.5" a float."""
    if not categories:
        return ANY_CLASS
    classes = {STRING}
    if all(c in ("false", "true") for c in categories):
        classes.add(BOOLEAN)
    elif all(_parses(int, c) for c in categories):
        classes.add(INTEGER)
    elif all(_parses(float, c) for c in categories):
        classes.update((FLOAT, DECIMAL))
    return frozenset(classes)


def _parses(kind: type, label: str) -> bool:
    try:
        kind(label)
    except ValueError:
        return False
    return True


def conform(series: pl.Series, allowed: frozenset[str], name: str, argument: str) -> pl.Series:
    """`series` if its class is one the reference allows (integral floats cast to Int64 against
    integer categories); an UndertowError naming the column and both types otherwise."""
    kind = dtype_class(series.dtype)
    if kind is None or kind in allowed:
        return series
    if kind == FLOAT and INTEGER in allowed:
        present = series.drop_nulls()
        values = present.to_numpy()
        if (
            np.all(np.isfinite(values))
            and np.all(values == np.round(values))
            and (values.size == 0 or np.abs(values).max() < 2**53)
        ):
            return series.cast(pl.Int64)
        raise UndertowError(
            f"{argument}: column {name!r} holds non-integral floats but the reference's categories "
            "are integers"
        )
    expected = " or ".join(sorted(allowed))
    raise UndertowError(
        f"{argument}: column {name!r} is {kind} ({series.dtype}) but the reference's categories are "
        f"{expected}; categories compare by label (1, 1.0 and True are different), cast the column"
    )


def fit_categories(series: pl.Series) -> tuple[list[str], np.ndarray, int]:
    """(categories, counts including a 0 for unseen, missing) of a reference column."""
    missing = series.null_count()
    present = series.drop_nulls()
    # sorted by value (numeric order for integers); Categorical/Enum by their labels, not by
    # their physical (insertion or declaration) order
    if isinstance(present.dtype, pl.Categorical | pl.Enum):
        present = present.cast(pl.String)
    distinct = present.unique().sort()
    categories = _keys(distinct).to_list()
    counts = count_categories(series, category_index(categories))[0]
    return categories, counts, missing


def category_index(categories: list[str]) -> dict[str, int]:
    """label -> bin; built once per reference column (the caller caches it)."""
    return {c: i for i, c in enumerate(categories)}


def count_categories(series: pl.Series, index: dict[str, int]) -> tuple[np.ndarray, int]:
    """(counts per category plus unseen, missing) of `series` against the categories of `index`."""
    bins, values, missing = count_categories_sparse(series, index)
    counts = np.zeros(len(index) + 1, dtype=np.uint64)
    np.add.at(counts, bins, values)
    return counts, missing


def count_categories_sparse(series: pl.Series, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, int]:
    """(bins, counts, missing) of `series` against the categories of `index`: the bin (category
    position, or len(index) for unseen labels; repeated for several unseen labels) and count of each
    distinct value of the batch. Work grows with the batch, not with the categories."""
    missing = series.null_count()
    frame = _keys(series.drop_nulls()).value_counts()
    unseen = len(index)
    names = frame.get_column(frame.columns[0]).to_list()
    values = np.asarray(frame.get_column("count").to_list(), dtype=np.uint64)
    bins = np.fromiter((index.get(n, unseen) for n in names), dtype=np.uint64, count=len(names))
    return bins, values, missing
