"""Jobs: what one leaf of the reduction tree computes (PSI counts, a histogram, embedding drift,
a covariance, random features), from Arrow record batches. Picklable, so `undertow.dask` ships
them to workers (they hold references, which pickle through their bytes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow._core import UndertowError
from undertow.embedding.drift import EmbeddingAccumulator, EmbeddingDrift
from undertow.embedding.mmd import RffAccumulator
from undertow.embedding.pca import CovarianceAccumulator
from undertow.stream.arrow import arrow_frame, arrow_vectors
from undertow.tabular.histogram import HistogramAccumulator
from undertow.tabular.reference import PsiAccumulator, Reference


@dataclass(frozen=True)
class PsiJob:
    """PSI counts of `reference`'s columns; `source_columns[i]` is read for reference column i."""

    reference: Reference
    source_columns: tuple[str, ...]

    @classmethod
    def make(cls, reference: Reference, columns: Any = None) -> PsiJob:
        if not isinstance(reference, Reference):
            raise TypeError(f"reference: expected an undertow Reference, got {type(reference).__name__}")
        names = reference.columns
        if columns is None:
            return cls(reference, tuple(names))
        if isinstance(columns, Mapping):
            unknown = sorted(set(columns) - set(names))
            if unknown:
                raise UndertowError(f"columns: renames columns the reference does not have: {unknown}")
            return cls(reference, tuple(str(columns.get(n, n)) for n in names))
        if not isinstance(columns, str | list | tuple):
            raise TypeError(
                f"rename: expected a dict {{reference column: source column}}, got {columns!r:.80}"
            )
        given = [columns] if isinstance(columns, str) else [str(c) for c in columns]
        missing = [n for n in names if n not in given]
        extra = [c for c in given if c not in names]
        if missing or extra:
            raise UndertowError(
                f"columns: must be the reference's columns (a Reference counts all of them), "
                f"missing {missing}, unexpected {extra}; pass a dict to rename"
            )
        return cls(reference, tuple(names))

    @property
    def columns(self) -> tuple[str, ...]:
        return self.source_columns

    def new(self) -> PsiAccumulator:
        return self.reference.accumulator()

    def update(self, acc: PsiAccumulator, batch: Any) -> None:
        batch = batch.select(list(self.source_columns))
        if list(self.source_columns) != self.reference.columns:
            batch = batch.rename_columns(self.reference.columns)
        acc.update(arrow_frame(batch))

    def check_rows(self, acc: PsiAccumulator, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"source: {label} has no rows")


@dataclass(frozen=True)
class HistogramJob:
    """numpy.histogram counts of the numeric column `column` over fixed `edges`."""

    column: str
    edges: tuple[float, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def new(self) -> HistogramAccumulator:
        return HistogramAccumulator(np.asarray(self.edges))

    def update(self, acc: HistogramAccumulator, batch: Any) -> None:
        series = arrow_frame(batch.select([self.column])).to_series(0)
        if not series.dtype.is_numeric():
            raise UndertowError(f"{self.column}: a histogram needs a numeric column, got {series.dtype}")
        acc.update(series.to_numpy())

    def check_rows(self, acc: HistogramAccumulator, label: str) -> None:
        return None  # a histogram of zero counted values is a valid answer


@dataclass(frozen=True)
class EmbeddingJob:
    """Embedding drift of the vector column `column` against `drift`."""

    drift: EmbeddingDrift
    column: str
    # Its sample is chosen by row position: each leaf starts at its global offset (new(start)).
    positional = True

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def new(self, start: int = 0) -> EmbeddingAccumulator:
        return self.drift.accumulator(start)

    def update(self, acc: EmbeddingAccumulator, batch: Any) -> None:
        acc.update(arrow_vectors(batch.column(self.column), self.column))

    def check_rows(self, acc: EmbeddingAccumulator, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"source: {label} has no rows")


@dataclass(frozen=True)
class CovarianceJob:
    """The float64 covariance of the vector column `column` (for a PCA)."""

    column: str
    dim: int

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def new(self) -> CovarianceAccumulator:
        return CovarianceAccumulator(self.dim)

    def update(self, acc: CovarianceAccumulator, batch: Any) -> None:
        acc.update(arrow_vectors(batch.column(self.column), self.column))

    def check_rows(self, acc: CovarianceAccumulator, label: str) -> None:
        if acc.n_samples < 2:
            raise UndertowError(f"source: {label} has {acc.n_samples} rows, a covariance needs 2")


@dataclass(frozen=True)
class RffJob:
    """Random Fourier features of the vector column `column`, on side "x" or "y"."""

    column: str
    dim: int
    bandwidth: float
    features: int
    seed: int
    side: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def new(self) -> RffAccumulator:
        return RffAccumulator(self.dim, self.bandwidth, features=self.features, seed=self.seed)

    def update(self, acc: RffAccumulator, batch: Any) -> None:
        vectors = arrow_vectors(batch.column(self.column), self.column)
        (acc.update_x if self.side == "x" else acc.update_y)(vectors)

    def check_rows(self, acc: RffAccumulator, label: str) -> None:
        if acc.n_x < 2 or acc.n_y < 2:
            raise UndertowError(f"source: {label}: needs 2 rows on each side, got {acc.n_x} and {acc.n_y}")
