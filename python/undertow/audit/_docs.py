"""The source-of-truth table: one row per document, keyed by its faiss id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from undertow._core import UndertowError
from undertow._frames import to_polars

REQUIRED = ("id", "content_hash", "embedded_hash", "encoder_version")
OPTIONAL = ("embedded_at", "updated_at", "deleted")
_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class Docs:
    """Documents sorted by id. `live` is False for rows flagged deleted."""

    ids: np.ndarray  # int64, sorted, unique
    live: np.ndarray  # bool
    stale: np.ndarray  # bool: content_hash != embedded_hash (or nothing was embedded)
    encoder: pl.Series  # Utf8, in id order (kept as Arrow strings: 1e6 Python strings cost 70 MB)
    embedded_at: np.ndarray | None  # float64 ordering key (NaN for null), or None
    stale_for: np.ndarray | None  # updated_at - embedded_at in seconds, where both exist

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The docs row of every id, -1 where the id is not a document."""
        if len(self.ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        at = np.searchsorted(self.ids, ids)
        at = np.minimum(at, len(self.ids) - 1)
        return np.where(self.ids[at] == ids, at, -1).astype(np.int64)


def _frame(docs: Any) -> pl.DataFrame:
    if isinstance(docs, pl.LazyFrame):
        try:
            return docs.collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise UndertowError(f"docs: the LazyFrame failed to collect: {error}") from error
    if isinstance(docs, pl.DataFrame):
        return docs
    if isinstance(docs, dict):
        ids = docs.get("id")
        if ids is not None:
            _check_python_ids(ids)
        try:
            return pl.DataFrame(docs)
        except (pl.exceptions.PolarsError, ValueError, TypeError, OverflowError) as error:
            raise UndertowError(f"docs: could not build a table from the dict: {error}") from error
    frame = to_polars(docs, "docs")  # pandas, pyarrow, ... through the PSI tables' layer (_frames.py)
    if frame is not None:
        return frame
    if hasattr(docs, "__arrow_c_stream__"):
        try:
            return pl.DataFrame(docs)
        except (pl.exceptions.PolarsError, ValueError, TypeError) as error:
            raise UndertowError(f"docs: could not read the table: {error}") from error
    raise TypeError(f"docs: expected a polars DataFrame or a dict of arrays, got {type(docs).__name__}")


def _check_python_ids(ids: Any) -> None:
    array = np.asarray(ids)
    if array.dtype == object:
        big = [v for v in array.ravel()[:1_000_000] if isinstance(v, int) and not -(2**63) <= v <= _INT64_MAX]
        if big:
            raise UndertowError(f"docs: id {big[0]} does not fit int64 (faiss ids are int64)")
    elif array.dtype == np.uint64 and array.size and int(array.max()) > _INT64_MAX:
        raise UndertowError(f"docs: id {int(array.max())} does not fit int64 (faiss ids are int64)")


def _seconds(column: pl.Series, name: str) -> np.ndarray:
    """Seconds since the epoch (NaN for null) of a datetime, date, number or ISO-8601 text column
    (a CSV has no types: its dates arrive as text)."""
    dtype = column.dtype
    if dtype == pl.Utf8:
        try:
            column = column.str.to_datetime(strict=True, time_unit="us")
        except pl.exceptions.PolarsError:
            try:
                parsed = column.str.to_datetime(strict=False, time_unit="us")
                bad = parsed.is_null() & column.is_not_null()
            except pl.exceptions.PolarsError:  # no format fits even one value
                bad = column.is_not_null()
            first = int(bad.arg_true()[0]) if bad.any() else 0
            raise UndertowError(
                f"docs: column {name!r} must be a datetime, date, number or ISO-8601 text; row "
                f"{first} holds {column[first]!r}"
            ) from None
        dtype = column.dtype
    if dtype == pl.Date:
        column = column.cast(pl.Datetime("ms"))
        dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        return column.dt.epoch("ms").cast(pl.Float64).fill_null(np.nan).to_numpy() / 1000.0
    if dtype.is_numeric():
        values = column.cast(pl.Float64).fill_null(np.nan).to_numpy()
        if np.isinf(values).any():
            raise UndertowError(f"docs: column {name!r} holds inf")
        return values
    raise UndertowError(
        f"docs: column {name!r} must be a datetime, date, number or ISO-8601 text, got {dtype}"
    )


def _text(frame: pl.DataFrame, name: str) -> pl.Series:
    """A hash or version column as text; numbers and categoricals are cast, nested values refused."""
    column = frame[name]
    if column.dtype.is_nested() or column.dtype == pl.Object:
        raise UndertowError(f"docs: column {name!r} must hold strings, got {column.dtype}")
    return column.cast(pl.Utf8)


def read_docs(docs: Any) -> Docs:
    frame = _frame(docs)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UndertowError(
            f"docs: missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
            f" (required: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)})"
        )
    ids = frame["id"]
    if not ids.dtype.is_integer():
        raise UndertowError(f"docs: column 'id' must hold integers (faiss ids), got {ids.dtype}")
    if ids.null_count():
        first = int(ids.is_null().arg_true()[0])
        raise UndertowError(f"docs: column 'id' has {ids.null_count()} nulls (the first at row {first})")
    if ids.dtype == pl.UInt64 and len(ids) and int(ids.max()) > _INT64_MAX:  # type: ignore[arg-type]
        raise UndertowError(f"docs: id {ids.max()} does not fit int64 (faiss ids are int64)")
    # only small per-row arrays are built, in id order; the table itself is never copied whole
    id_values = ids.cast(pl.Int64).to_numpy()
    order = np.argsort(id_values, kind="stable")
    id_values = id_values[order]
    repeated = np.flatnonzero(id_values[1:] == id_values[:-1])
    if len(repeated):
        examples = np.unique(id_values[repeated])[:5].tolist()
        raise UndertowError(
            f"docs: {len(np.unique(id_values[repeated]))} ids appear more than once (e.g. {examples});"
            " the source of truth needs one row per document"
        )
    if "deleted" in frame.columns:
        deleted = frame["deleted"]
        if deleted.dtype != pl.Boolean:
            raise UndertowError(f"docs: column 'deleted' must be boolean, got {deleted.dtype}")
        live = ~deleted.fill_null(False).to_numpy()[order]
    else:
        live = np.ones(len(frame), dtype=bool)
    content = _text(frame, "content_hash")
    embedded = _text(frame, "embedded_hash")
    stale = ((content != embedded).fill_null(True) | embedded.is_null()).to_numpy()[order]
    del content, embedded
    embedded_at = None
    if "embedded_at" in frame.columns:
        embedded_at = _seconds(frame["embedded_at"], "embedded_at")[order]
    stale_for = None
    if embedded_at is not None and "updated_at" in frame.columns:
        stale_for = _seconds(frame["updated_at"], "updated_at")[order] - embedded_at
    return Docs(
        ids=np.ascontiguousarray(id_values, dtype=np.int64),
        live=live,
        stale=stale,
        encoder=_text(frame, "encoder_version").gather(order),
        embedded_at=embedded_at,
        stale_for=stale_for,
    )
