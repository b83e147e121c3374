"""Drift over time: one row of statistics per time window (and group) of a polars DataFrame."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from undertow._core import UndertowError
from undertow._frames import type_name
from undertow.embedding.drift import EmbeddingDrift
from undertow.tabular.reference import Reference

TOO_FEW_ROWS = "too_few_rows"
_EMBEDDING_METRICS = ("mmd_p_value", "centroid_distance", "cosine_psi", "drifted_share", "domain_auc")
_ROW = "__undertow_row"
_DURATION = re.compile(r"^-?(\d+(ns|us|µs|ms|s|m|h|d|w|mo|q|y|i))+(_saturating)?$")


def _check_duration(value: Any, argument: str, positive: bool) -> Any:
    """A polars duration string ("1d", "2h30m", "3i") or a timedelta; every and period must be
    positive (polars divides by them: "0d" panics, a zero period gives empty windows)."""
    if isinstance(value, dt.timedelta):
        if positive and value <= dt.timedelta(0):
            raise UndertowError(f"{argument}: must be a positive duration, got {value!r}")
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"{argument}: expected a duration string like '1d' or a timedelta, got {type(value).__name__}"
        )
    if not _DURATION.match(value):
        raise UndertowError(f"{argument}: not a duration like '1d', '12h' or '2h30m', got {value!r}")
    if positive and (value.startswith("-") or not any(int(n) for n in re.findall(r"\d+", value))):
        raise UndertowError(f"{argument}: must be a positive duration, got {value!r}")
    return value


def _parts(reference: Any, frame: pl.DataFrame) -> tuple[list[Reference], dict[str, EmbeddingDrift]]:
    """Splits `reference` into PSI references and {embedding column: EmbeddingDrift}."""
    items = list(reference) if isinstance(reference, list | tuple) else [reference]
    tables: list[Reference] = []
    embeddings: dict[str, EmbeddingDrift] = {}
    for item in items:
        if isinstance(item, Reference):
            tables.append(item)
        elif isinstance(item, EmbeddingDrift):
            vector_columns = [
                name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Array | pl.List)
            ]
            if len(vector_columns) != 1:
                raise UndertowError(
                    f"reference: an EmbeddingDrift needs the frame's one vector column, the frame has "
                    f"{vector_columns}; pass {{column: drift}}"
                )
            embeddings[vector_columns[0]] = item
        elif isinstance(item, Mapping):
            for column, drift in item.items():
                if not isinstance(drift, EmbeddingDrift):
                    raise TypeError(
                        f"reference: {{column: EmbeddingDrift}} expected, got {type(drift).__name__} "
                        f"for {column!r}"
                    )
                embeddings[str(column)] = drift
        else:
            raise TypeError(
                "reference: expected a Reference, an EmbeddingDrift, a dict {embedding column: "
                f"EmbeddingDrift}} or a list of those, got {type(item).__name__}"
            )
    if not tables and not embeddings:
        raise UndertowError("reference: is empty")
    return tables, embeddings


def _window_rows(frame: pl.DataFrame, indices: np.ndarray) -> pl.DataFrame:
    if len(indices) and indices[-1] - indices[0] + 1 == len(indices):
        return frame.slice(int(indices[0]), len(indices))  # contiguous: a view, no copy
    return frame[indices]


_NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
          "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}  # fmt: skip


def _check_resolution(value: Any, argument: str, dtype: pl.DataType) -> None:
    """A duration shorter than a Datetime column's unit is 0 to polars ("1ns" on microseconds)."""
    if not isinstance(value, str) or not isinstance(dtype, pl.Datetime):
        return
    parts = re.findall(r"(\d+)(ns|us|µs|ms|s|mo|m|h|d|w|q|y|i)", value)
    if any(unit in ("mo", "q", "y", "i") for _, unit in parts):
        return
    total = sum(int(n) * _NANOS[unit] for n, unit in parts)
    if 0 < total < _NANOS[dtype.time_unit or "us"]:
        raise UndertowError(
            f"{argument}: {value!r} is shorter than the time column's resolution ({dtype.time_unit})"
        )


def _windows(
    frame: pl.DataFrame,
    time_column: str,
    keys: list[str],
    every: Any,
    period: Any,
    offset: Any,
    closed: Any,
    start_by: Any,
) -> pl.DataFrame:
    """The row indices of each window (and group): polars' group_by_dynamic."""
    return (
        frame.select([time_column, *keys])
        .with_row_index(_ROW)
        .group_by_dynamic(
            time_column,
            every=every,
            period=period,
            offset=offset,
            closed=closed,  # type: ignore[arg-type]
            start_by=start_by,  # type: ignore[arg-type]
            include_boundaries=True,
            group_by=keys or None,
        )
        .agg(pl.col(_ROW))
    )


def drift_over(
    frame: pl.DataFrame | pl.LazyFrame,
    reference: Any,
    time_column: str,
    every: str = "1d",
    by: str | Sequence[str] | None = None,
    *,
    period: str | None = None,
    offset: str | None = None,
    closed: str = "left",
    start_by: str = "window",
    min_rows: int = 180,
) -> pl.DataFrame:
    """Drift per time window: one row per window (and group of `by`), from polars'
    ``group_by_dynamic(time_column, every=every, period=period, offset=offset, closed=closed,
    start_by=start_by, group_by=by)``.

    `reference`: a fitted Reference (the PSI of each of its columns), an EmbeddingDrift (the
    frame's one Array/List vector column), a dict ``{embedding column: EmbeddingDrift}``, or a
    list of those. Output columns: the `by` keys, ``window_start``, ``window_end``, ``rows``,
    then ``{column}_psi`` and ``{column}_status`` per reference column, and per embedding column
    ``{column}_status``, ``_mmd_p_value``, ``_centroid_distance``, ``_cosine_psi``,
    ``_drifted_share``, ``_domain_auc`` (see EmbeddingDriftReport).

    Requirements: `time_column` is a Date/Datetime (or integer) column without nulls; a frame not
    sorted by it is sorted first (one copy; pass it sorted to avoid that). Each window's rows are
    a zero-copy slice when contiguous (no `by`, ``period == every``), else gathered (one copy of
    that window). Windows with fewer than `min_rows` rows are reported with their row count,
    null statistics and status ``"too_few_rows"``, never an error. The default, 180, is the
    smallest window whose PSI noise floor (the PSI expected under no drift, (bins - 1)(1/n +
    1/m), see PsiResult) is at most half the 0.1 "moderate" threshold at the default 10 bins
    with a large reference: 9/180 = 0.05. Below that a window's PSI is mostly sampling noise
    (at 100 rows: 0.09, and with the thresholds alone 35% of null windows read "moderate");
    the status also needs p <= 0.01 (see PsiResult), so small windows do not cry wolf either
    way, but their PSI says little. Each ``{column}_status`` is the report's status (threshold
    band and significance). Missing values follow each
    reference's ``nan_policy`` (a window with nulls under "raise" raises, naming the column).
    A LazyFrame is collected first.

    >>> import numpy as np, polars as pl, undertow as ut
    >>> day = pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 2, 23), "1h", eager=True)
    >>> df = pl.DataFrame({"ts": day, "x": np.arange(48.0) % 24})
    >>> ref = ut.Reference.fit({"x": np.arange(24.0)}, bins=4)
    >>> ut.drift_over(df, ref, "ts", every="1d", min_rows=10)["x_psi"].to_list()
    [0.0, 0.0]
    """
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(
            f"frame: expected a polars DataFrame or LazyFrame, got {type_name(frame)}"
            " (pandas: pl.from_pandas(frame); pyarrow: pl.from_arrow(table))"
        )
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise UndertowError(f"min_rows: must be a positive integer, got {min_rows!r}")
    if time_column not in frame.columns:
        raise UndertowError(f"time_column: {time_column!r} is not a column of frame ({frame.columns[:20]})")
    every = _check_duration(every, "every", positive=True)
    if period is not None:
        period = _check_duration(period, "period", positive=True)
    if offset is not None:
        offset = _check_duration(offset, "offset", positive=False)
    if by is not None and not isinstance(by, str | list | tuple):
        raise TypeError(f"by: expected a column name or a list of them, got {type(by).__name__}")
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if closed not in ("left", "right", "both", "none"):
        raise UndertowError(f"closed: must be 'left', 'right', 'both' or 'none', got {closed!r}")
    if start_by not in ("window", "datapoint", "monday", "tuesday", "wednesday", "thursday", "friday",
                        "saturday", "sunday"):  # fmt: skip
        raise UndertowError(f"start_by: must be 'window', 'datapoint' or a weekday, got {start_by!r}")
    if not all(isinstance(k, str) for k in keys):
        raise TypeError(f"by: expected column names (str), got {keys!r}")
    missing_keys = [k for k in keys if k not in frame.columns]
    if missing_keys:
        raise UndertowError(f"by: {missing_keys} are not columns of frame")
    time = frame.get_column(time_column)
    if time.null_count():
        raise UndertowError(f"time_column: {time.null_count()} rows of {time_column!r} are null")
    tables, embeddings = _parts(reference, frame)
    for table in tables:
        absent = [c for c in table.columns if c not in frame.columns]
        if absent:
            raise UndertowError(f"frame: has no column(s) {absent} of the reference")
    for column in embeddings:
        if column not in frame.columns:
            raise UndertowError(f"frame: has no embedding column {column!r}")
    taken = {"window_start", "window_end", "rows", time_column}
    for table in tables:
        taken.update(suffixed for c in table.columns for suffixed in (f"{c}_psi", f"{c}_status"))
    for e in embeddings:
        taken.update([f"{e}_status", *(f"{e}_{m}" for m in _EMBEDDING_METRICS)])
    clashing = [k for k in keys if k in taken]
    if clashing:
        raise UndertowError(
            f"by: {clashing} would collide with an output column of drift_over (window_start, "
            "window_end, rows, the time column, {column}_psi/_status, ...); rename it"
        )
    if not time.is_sorted():
        frame = frame.sort(time_column, maintain_order=True)
    for argument, value in (("every", every), ("period", period)):
        _check_resolution(value, argument, time.dtype)
    try:
        windows = _windows(frame, time_column, keys, every, period, offset, closed, start_by)
    except BaseException as exc:
        # a Rust panic inside polars (e.g. a duration below the column's resolution, "1ns" on a
        # microsecond column, is 0) is a BaseException that `except Exception` cannot catch
        if type(exc).__name__ != "PanicException":
            raise
        raise UndertowError(
            f"every/period/offset: polars could not window {time_column!r} with every={every!r}, "
            f"period={period!r}, offset={offset!r} ({exc}); is a duration below the column's "
            "resolution?"
        ) from None
    out: dict[str, list[Any]] = {k: windows.get_column(k).to_list() for k in keys}
    out["window_start"] = windows.get_column("_lower_boundary").to_list()
    out["window_end"] = windows.get_column("_upper_boundary").to_list()
    out["rows"] = []
    schema: dict[str, Any] = {k: frame.schema[k] for k in keys}
    schema.update(
        window_start=windows.schema["_lower_boundary"],
        window_end=windows.schema["_upper_boundary"],
        rows=pl.Int64,
    )
    for table in tables:
        for c in table.columns:
            out[f"{c}_psi"], out[f"{c}_status"] = [], []
            schema[f"{c}_psi"], schema[f"{c}_status"] = pl.Float64, pl.String
    for e in embeddings:
        out[f"{e}_status"] = []
        schema[f"{e}_status"] = pl.String
        for metric in _EMBEDDING_METRICS:
            out[f"{e}_{metric}"] = []
            schema[f"{e}_{metric}"] = pl.Float64
    for row_list in windows.get_column(_ROW).to_list():
        indices = np.asarray(row_list, dtype=np.int64)
        rows = len(indices)
        out["rows"].append(rows)
        enough = rows >= min_rows
        part = _window_rows(frame, indices) if enough else None
        for table in tables:
            report = table.psi(part.select(table.columns)) if part is not None else None
            for c in table.columns:
                out[f"{c}_psi"].append(report[c].value if report is not None else None)
                out[f"{c}_status"].append(report[c].status if report is not None else TOO_FEW_ROWS)
        for e, drift in embeddings.items():
            rep = drift.compare(part.get_column(e)) if part is not None and rows >= 2 else None
            out[f"{e}_status"].append(rep.status if rep is not None else TOO_FEW_ROWS)
            values = (
                (rep.mmd.p_value, rep.cosine.centroid_distance, rep.cosine.cosine_psi, rep.drifted_share,
                 rep.domain_auc)
                if rep is not None
                else (None,) * len(_EMBEDDING_METRICS)
            )  # fmt: skip
            for metric, value in zip(_EMBEDDING_METRICS, values, strict=True):
                out[f"{e}_{metric}"].append(None if value is None else float(value))
    return pl.DataFrame(out, schema=schema)


__all__ = ["TOO_FEW_ROWS", "drift_over"]
