"""The old and new encoders' vectors of one set of items, aligned by id.

A side is a matrix (numpy, a polars Series of Array/List, or a one-column DataFrame; rows are
aligned by position, ids 0..n-1 unless `ids` are given), a polars DataFrame with an id column
and one vector column, or a ``ut.scan`` source holding those two columns (read batch by batch
into one preallocated matrix). The old and new sides may have different dimensions. Neither
side is copied to align them: the new side keeps its row order and `new_row_of[i]` is the new
row holding old row i's id (rows are gathered only for samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from undertow._args import check_int64_ids
from undertow._core import UndertowError
from undertow._inputs import as_matrix
from undertow.stream.scan import Scan


@dataclass
class Side:
    ids: np.ndarray  # int64, one per row
    vectors: np.ndarray  # C-contiguous float32/float64 rows


@dataclass
class Pair:
    """Old and new vectors of the same items: old row i and new row new_row_of[i] share ids[i]."""

    ids: np.ndarray
    old: np.ndarray
    new: np.ndarray
    new_row_of: np.ndarray  # int64, len(old)

    @property
    def aligned(self) -> bool:
        return bool(np.array_equal(self.new_row_of, np.arange(len(self.new_row_of))))

    def new_rows(self, old_rows: np.ndarray) -> np.ndarray:
        return self.new_row_of[old_rows]


def _from_frame(frame: pl.DataFrame, argument: str, id_column: str) -> Side:
    if id_column not in frame.columns:
        raise UndertowError(f"{argument}: has no id column {id_column!r} (columns: {frame.columns[:8]})")
    vector_columns = [
        c for c in frame.columns if c != id_column and isinstance(frame[c].dtype, pl.Array | pl.List)
    ]
    if len(vector_columns) != 1:
        raise UndertowError(
            f"{argument}: needs exactly one Array/List vector column beside {id_column!r}, "
            f"got {vector_columns}"
        )
    ids = check_int64_ids(frame[id_column].to_numpy(), f"{argument}: {id_column}", noun="id")
    return Side(ids, as_matrix(frame[vector_columns[0]], argument, min_rows=1))


def _from_scan(source: Scan, argument: str, id_column: str) -> Side:
    ids: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for batch in source.batches():
        side = _from_frame(pl.from_arrow(batch), argument, id_column)  # type: ignore[arg-type]
        ids.append(side.ids)
        blocks.append(side.vectors)
    if not blocks:
        raise UndertowError(f"{argument}: the scanned source holds no rows")
    return Side(np.concatenate(ids), np.ascontiguousarray(np.concatenate(blocks)))


def read_side(value: Any, argument: str, ids: Any, id_column: str) -> Side:
    if isinstance(value, Scan):
        side = _from_scan(value, argument, id_column)
    elif isinstance(value, pl.DataFrame) and value.width > 1:
        side = _from_frame(value, argument, id_column)
    else:
        vectors = as_matrix(value, argument, min_rows=1)
        side = Side(np.arange(len(vectors), dtype=np.int64), vectors)
    if ids is not None:
        given = check_int64_ids(ids, f"{argument}: ids", noun="id")
        if len(given) != len(side.vectors):
            raise UndertowError(f"{argument}: {len(given)} ids for {len(side.vectors)} vectors")
        side = Side(given, side.vectors)
    return side


def _check_unique(ids: np.ndarray, argument: str) -> None:
    ordered = np.sort(ids)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        raise UndertowError(f"{argument}: id {int(repeated[0])} appears more than once")


def pair(old: Side, new: Side, old_name: str, new_name: str) -> Pair:
    """Align `new` to `old` by id; both must hold the same ids, each once."""
    if len(old.ids) != len(new.ids):
        raise UndertowError(
            f"{new_name}: has {len(new.ids)} rows, {old_name} {len(old.ids)}; "
            "both encoders must embed the same items"
        )
    _check_unique(old.ids, old_name)
    _check_unique(new.ids, new_name)
    if np.array_equal(old.ids, new.ids):
        where = np.arange(len(old.ids), dtype=np.int64)
    else:
        order = np.argsort(new.ids, kind="stable")
        at = np.minimum(np.searchsorted(new.ids, old.ids, sorter=order), len(order) - 1)
        where = order[at]
        missing = new.ids[where] != old.ids
        if missing.any():
            first = int(old.ids[np.flatnonzero(missing)[0]])
            raise UndertowError(
                f"{new_name}: ids are not aligned with {old_name}: {int(missing.sum())} of {old_name}'s "
                f"ids are absent (the first: {first})"
            )
    return Pair(old.ids, old.vectors, new.vectors, where)


def finite_rows(x: np.ndarray) -> np.ndarray:
    """Rows holding only finite values, in blocks (no whole-matrix temporary)."""
    out = np.empty(len(x), dtype=bool)
    for start in range(0, len(x), 65_536):
        out[start : start + 65_536] = np.isfinite(x[start : start + 65_536]).all(axis=1)
    return out
