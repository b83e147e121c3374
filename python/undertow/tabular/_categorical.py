"""Categorical columns: categories from the reference, counts by polars (hashing strings is
polars' job; the PSI arithmetic stays in Rust).

Bins are the reference's distinct values in sorted order, then one "unseen" bin for current
values the reference never had: its expected share is 0, floored at eps, so a new category
counts as drift instead of disappearing. Nulls are missing values under ``nan_policy``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

UNSEEN = "<unseen>"


def _keys(series: pl.Series) -> pl.Series:
    """Category keys as strings (ints and bools stringified after sorting by value)."""
    if isinstance(series.dtype, pl.Categorical | pl.Enum):
        series = series.cast(pl.String)
    return series.cast(pl.String)


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
    counts = count_categories(series, categories)[0]
    return categories, counts, missing


def count_categories(series: pl.Series, categories: list[str]) -> tuple[np.ndarray, int]:
    """(counts per category plus unseen, missing) of `series` against `categories`."""
    missing = series.null_count()
    frame = _keys(series.drop_nulls()).value_counts()
    index = {c: i for i, c in enumerate(categories)}
    counts = np.zeros(len(categories) + 1, dtype=np.uint64)
    names = frame.get_column(frame.columns[0]).to_list()
    values = frame.get_column("count").to_list()
    for name, count in zip(names, values, strict=True):
        counts[index.get(name, len(categories))] += count
    return counts, missing
