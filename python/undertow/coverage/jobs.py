"""The two leaves of a streamed coverage run (``ut.scan`` and ``undertow.dask``): the k-means
sample pass and the counting pass. Picklable, like the jobs of ``undertow.stream.jobs``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from undertow._core import UndertowError
from undertow.coverage.accumulator import CoverageAccumulator, CoverageSettings, TrafficSample
from undertow.stream.arrow import arrow_frame, arrow_vectors


@dataclass(frozen=True)
class CoverageSampleJob:
    """Pass 1: the hash-chosen sample of unit production rows the k-means is fitted on."""

    column: str
    size: int
    seed: int
    dtype: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def new(self) -> TrafficSample:
        return TrafficSample(self.size, self.seed, self.dtype)

    def update(self, acc: TrafficSample, batch: Any) -> None:
        acc.update(arrow_vectors(batch.column(self.column), self.column))

    def check_rows(self, acc: TrafficSample, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"production_vectors: {label} has no rows")


def batch_ids(batch: Any, id_column: str) -> np.ndarray:
    series = arrow_frame(batch.select([id_column])).to_series(0)
    if not series.dtype.is_integer():
        raise UndertowError(f"id_column: {id_column!r} must hold integers, got {series.dtype}")
    if series.null_count():
        raise UndertowError(f"id_column: {series.null_count()} ids are null")
    try:
        return series.cast(pl.Int64).to_numpy()
    except pl.exceptions.InvalidOperationError:
        raise UndertowError(f"id_column: {id_column!r} holds ids that do not fit int64") from None


@dataclass(frozen=True, eq=False)
class CoverageJob:
    """Pass 2: nearest eval item, cluster and windows of every production row."""

    settings: CoverageSettings
    column: str
    id_column: str
    time_column: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        names = (self.column, self.id_column)
        return names if self.time_column is None else (*names, self.time_column)

    def new(self) -> CoverageAccumulator:
        return CoverageAccumulator(self.settings)

    def update(self, acc: CoverageAccumulator, batch: Any) -> None:
        vectors = arrow_vectors(batch.column(self.column), self.column)
        times = None
        if self.time_column is not None:
            times = arrow_frame(batch.select([self.time_column])).to_series(0)
        acc.update(vectors, batch_ids(batch, self.id_column), times)

    def check_rows(self, acc: CoverageAccumulator, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"production_vectors: {label} has no rows")
