"""The mergeable state of eval coverage: the settings every leaf shares (unit eval vectors,
radius, centroids) and the counts one pass over production traffic adds up.

Everything a batch adds is exact and per row: the nearest eval item and centroid come from the
exact top-1 kernel, the similarity and the distance of that pair are recomputed per row in
float64 (``cosine_to_assigned``), and the rest are integer counts plus, per cluster, the
`representatives` rows nearest its centroid (ties to the lower id). So any cut of the traffic
into batches, files or Dask partitions, merged in any order, gives the same state bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from undertow import _core
from undertow._core import UndertowError
from undertow._sync import both_locked, locked
from undertow.coverage._vectors import cosine_to_assigned, unit_rows
from undertow.embedding import _state_checks as check
from undertow.embedding._pack import naming_data, pack, unpack
from undertow.embedding._sample import merge_samples, row_keys, smallest


@dataclass(frozen=True, eq=False)
class CoverageSettings:
    """What every leaf of a coverage pass shares (fixed before production is read)."""

    eval_unit: np.ndarray  # (eval items, dim), unit rows, in the work dtype
    eval_ids: np.ndarray  # int64 id per eval item
    radius: float
    quantile: float | None  # the automatic rule's quantile, None when the radius was given
    centroids: np.ndarray  # (k, dim) float64
    eval_clusters: np.ndarray  # int64 eval items per cluster
    representatives: int
    every: str | None  # window length of the over-time counts (polars duration)
    min_coverage: float
    min_share: float
    kmeans: dict[str, Any]  # sample_rows, inertia, iterations, converged, seed

    @property
    def dim(self) -> int:
        return int(self.eval_unit.shape[1])

    @property
    def clusters(self) -> int:
        return int(self.centroids.shape[0])

    def work(self, x: np.ndarray) -> np.ndarray:
        """`x` in the work dtype (the eval matrix's), C-contiguous."""
        return np.ascontiguousarray(x, dtype=self.eval_unit.dtype)

    def meta(self) -> dict[str, Any]:
        return {
            "radius": self.radius,
            "quantile": self.quantile,
            "representatives": self.representatives,
            "every": self.every,
            "min_coverage": self.min_coverage,
            "min_share": self.min_share,
            "kmeans": self.kmeans,
            "dtype": self.eval_unit.dtype.str,
        }

    def blobs(self) -> dict[str, Any]:
        return {
            "eval_unit": self.eval_unit,
            "eval_ids": self.eval_ids,
            "centroids": self.centroids,
            "eval_clusters": self.eval_clusters,
        }

    @classmethod
    def restore(cls, meta: dict[str, Any], blobs: dict[str, Any]) -> CoverageSettings:
        dtype = meta["dtype"]
        if dtype not in ("<f4", "<f8"):
            raise check.bad(f"dtype {dtype!r} is not float32 or float64")
        eval_unit = np.ascontiguousarray(check.array(blobs, "eval_unit", "f", (None, None)), dtype=dtype)
        n, dim = eval_unit.shape
        centroids = check.array(blobs, "centroids", "f", (None, dim)).copy()
        k = centroids.shape[0]
        counts = check.array(blobs, "eval_clusters", "i", (k,)).copy()
        if n < 1 or k < 1 or counts.min() < 0 or int(counts.sum()) != n:
            raise check.bad("the eval items and clusters do not add up")
        quantile = meta["quantile"]
        every = meta["every"]
        if every is not None and not isinstance(every, str):
            raise check.bad("every must be a duration string")
        kmeans = check.as_dict(meta["kmeans"], "kmeans")
        return cls(
            eval_unit=eval_unit,
            eval_ids=check.array(blobs, "eval_ids", "i", (n,)).copy(),
            radius=check.number(meta["radius"], "radius", -1.0, 1.0),
            quantile=None if quantile is None else check.number(quantile, "quantile", 0.0, 1.0),
            centroids=centroids,
            eval_clusters=counts,
            representatives=check.integer(meta["representatives"], "representatives", 1, 1000),
            every=every,
            min_coverage=check.number(meta["min_coverage"], "min_coverage", 0.0, 1.0),
            min_share=check.number(meta["min_share"], "min_share", 0.0, 1.0),
            kmeans=kmeans,
        )


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Per production row of one batch: nearest eval row, its similarity, covered, cluster."""

    nearest: np.ndarray
    similarity: np.ndarray
    covered: np.ndarray
    cluster: np.ndarray


def _smallest_per_cluster(
    k: int, m: int, cluster: np.ndarray, dist: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster, the `m` rows with the smallest (distance, id): (distances, ids), each
    (k, m), padded with +inf and -1."""
    out_d = np.full((k, m), np.inf)
    out_i = np.full((k, m), -1, dtype=np.int64)
    if len(cluster) == 0:
        return out_d, out_i
    order = np.lexsort((ids, dist, cluster))
    c = cluster[order]
    starts = np.searchsorted(c, np.arange(k))
    rank = np.arange(len(c)) - starts[c]
    keep = rank < m
    out_d[c[keep], rank[keep]] = dist[order[keep]]
    out_i[c[keep], rank[keep]] = ids[order[keep]]
    return out_d, out_i


def _time_keys(times: pl.Series, every: str) -> tuple[np.ndarray, str]:
    """Window start of each row (polars ``dt.truncate(every)``: calendar-aligned, so the same
    for any batching) as int64 physical values, and the column's dtype as text."""
    if not isinstance(times.dtype, pl.Date | pl.Datetime):
        raise UndertowError(f"time_column: must be a Date or Datetime column, got {times.dtype}")
    if times.null_count():
        raise UndertowError(f"time_column: {times.null_count()} rows are null")
    starts = times.dt.truncate(every)
    return starts.to_physical().cast(pl.Int64).to_numpy(), str(times.dtype)


class CoverageAccumulator:
    """Counts of one pass over production traffic against fixed `settings`: rows and covered
    rows (overall, per cluster, per time window) and each cluster's representatives. Merge
    with other accumulators (files, threads, Dask workers), serialize with ``to_bytes``,
    finalize to a CoverageReport."""

    def __init__(self, settings: CoverageSettings) -> None:
        k, m = settings.clusters, settings.representatives
        self._settings = settings
        self._rows = 0
        self._covered = 0
        self._cluster_rows = np.zeros(k, dtype=np.int64)
        self._cluster_covered = np.zeros(k, dtype=np.int64)
        self._rep_dist = np.full((k, m), np.inf)
        self._rep_ids = np.full((k, m), -1, dtype=np.int64)
        self._window_keys = np.zeros(0, dtype=np.int64)
        self._window_rows = np.zeros(0, dtype=np.int64)
        self._window_covered = np.zeros(0, dtype=np.int64)
        self._time_dtype: str | None = None

    @property
    def settings(self) -> CoverageSettings:
        return self._settings

    @property
    @locked
    def rows(self) -> int:
        return self._rows

    @locked
    def update(self, vectors: np.ndarray, ids: np.ndarray, times: pl.Series | None = None) -> BatchResult:
        """Adds one batch of production rows (raw vectors, their int64 ids, their times when
        the settings have windows) and returns the per-row results."""
        s = self._settings
        x = s.work(vectors)
        if x.ndim != 2 or x.shape[1] != s.dim:
            raise UndertowError(
                f"production_vectors: vectors have {x.shape[-1] if x.ndim else 0} dimensions, "
                f"the eval vectors {s.dim}"
            )
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) != len(x):
            raise UndertowError(f"ids: {len(ids)} ids for {len(x)} rows")
        if s.every is not None and times is None:
            raise UndertowError("time_column: the settings count time windows, the batch has no times")
        unit = unit_rows(x, "production_vectors", self._rows)
        _, nearest = _core.nearest(s.eval_unit, unit, "ip")
        similarity = cosine_to_assigned(unit, s.eval_unit, nearest)
        covered = similarity >= s.radius
        centroids = s.work(s.centroids)
        _, cluster = _core.nearest(centroids, unit, "l2")
        distance = _core.assigned_distances(
            unit, np.ascontiguousarray(s.centroids, dtype=np.float32), cluster
        )
        k = s.clusters
        self._rows += len(x)
        self._covered += int(covered.sum())
        self._cluster_rows += np.bincount(cluster, minlength=k)
        self._cluster_covered += np.bincount(cluster[covered], minlength=k)
        self._add_representatives(cluster, distance, ids)
        if s.every is not None and times is not None:
            if len(times) != len(x):
                raise UndertowError(f"time_column: {len(times)} times for {len(x)} rows")
            keys, dtype = _time_keys(times, s.every)
            self._check_time_dtype(dtype)
            uniq, inverse = np.unique(keys, return_inverse=True)
            self._add_windows(
                uniq,
                np.bincount(inverse, minlength=len(uniq)).astype(np.int64),
                np.bincount(inverse[covered], minlength=len(uniq)).astype(np.int64),
            )
        return BatchResult(nearest, similarity, covered, cluster)

    def _check_time_dtype(self, dtype: str | None) -> None:
        if dtype is None:
            return
        if self._time_dtype is None:
            self._time_dtype = dtype
        elif self._time_dtype != dtype:
            raise UndertowError(f"time_column: is {dtype} here, {self._time_dtype} elsewhere")

    def _add_representatives(self, cluster: np.ndarray, dist: np.ndarray, ids: np.ndarray) -> None:
        held = self._rep_ids >= 0
        k, m = self._rep_ids.shape
        rows_held = np.nonzero(held)[0]
        self._rep_dist, self._rep_ids = _smallest_per_cluster(
            k,
            m,
            np.concatenate([rows_held, cluster]).astype(np.int64),
            np.concatenate([self._rep_dist[held], dist]),
            np.concatenate([self._rep_ids[held], ids]),
        )

    def _add_windows(self, keys: np.ndarray, rows: np.ndarray, covered: np.ndarray) -> None:
        all_keys = np.concatenate([self._window_keys, keys])
        uniq, inverse = np.unique(all_keys, return_inverse=True)
        self._window_rows = np.bincount(
            inverse, weights=np.concatenate([self._window_rows, rows]), minlength=len(uniq)
        ).astype(np.int64)
        self._window_covered = np.bincount(
            inverse, weights=np.concatenate([self._window_covered, covered]), minlength=len(uniq)
        ).astype(np.int64)
        self._window_keys = uniq

    def merge(self, other: CoverageAccumulator) -> CoverageAccumulator:
        """Adds another accumulator's counts (same settings). Returns self."""
        if not isinstance(other, CoverageAccumulator):
            raise TypeError(f"other: expected a CoverageAccumulator, got {type(other).__name__}")
        if other is self:
            other = CoverageAccumulator.from_bytes(self.to_bytes())
        with both_locked(self, other):
            if other._settings is not self._settings and not _same_settings(self._settings, other._settings):
                raise UndertowError("other: was built for other eval vectors, radius or clusters")
            self._rows += other._rows
            self._covered += other._covered
            self._cluster_rows += other._cluster_rows
            self._cluster_covered += other._cluster_covered
            held = other._rep_ids >= 0
            self._add_representatives(np.nonzero(held)[0], other._rep_dist[held], other._rep_ids[held])
            self._check_time_dtype(other._time_dtype)
            self._add_windows(other._window_keys, other._window_rows, other._window_covered)
        return self

    @locked
    def finalize(self, queries: pl.DataFrame | None = None) -> Any:
        """The CoverageReport of the rows counted so far."""
        from undertow.coverage.report import build_report

        if self._rows == 0:
            raise UndertowError("production_vectors: no rows were counted")
        windows = None
        if self._settings.every is not None and self._time_dtype is not None:
            starts = pl.Series("window_start", self._window_keys).cast(_polars_dtype(self._time_dtype))
            windows = pl.DataFrame(
                {
                    "window_start": starts,
                    "rows": self._window_rows,
                    "covered": self._window_covered,
                    "coverage": self._window_covered / self._window_rows,
                }
            )
        return build_report(
            self._settings,
            rows=self._rows,
            covered=self._covered,
            cluster_rows=self._cluster_rows.copy(),
            cluster_covered=self._cluster_covered.copy(),
            representatives=[[int(i) for i in row if i >= 0] for row in self._rep_ids],
            windows=windows,
            queries=queries,
        )

    @locked
    def to_bytes(self) -> bytes:
        s = self._settings
        meta = {"what": "counts", "settings": s.meta(), "rows": self._rows, "covered": self._covered,
                "time_dtype": self._time_dtype}  # fmt: skip
        blobs = {
            **s.blobs(),
            "cluster_rows": self._cluster_rows,
            "cluster_covered": self._cluster_covered,
            # +inf pads are stored as -1 (blobs must be finite): the id pad marks them.
            "rep_dist": np.where(self._rep_ids >= 0, self._rep_dist, -1.0),
            "rep_ids": self._rep_ids,
            "window_keys": self._window_keys,
            "window_rows": self._window_rows,
            "window_covered": self._window_covered,
        }
        return pack("coverage", meta, blobs)

    @classmethod
    def from_bytes(cls, data: bytes) -> CoverageAccumulator:
        with naming_data():
            meta, blobs = unpack(data, "coverage")
            with check.decoding("eval coverage accumulator"):
                if meta.get("what") != "counts":
                    raise check.bad("not the counts of a coverage pass")
                settings = CoverageSettings.restore(check.as_dict(meta["settings"], "settings"), blobs)
                out = cls(settings)
                k, m = settings.clusters, settings.representatives
                out._rows = check.integer(meta["rows"], "rows", 0, 2**63 - 1)
                out._covered = check.integer(meta["covered"], "covered", 0, out._rows)
                out._cluster_rows = check.array(blobs, "cluster_rows", "i", (k,)).copy()
                out._cluster_covered = check.array(blobs, "cluster_covered", "i", (k,)).copy()
                if int(out._cluster_rows.sum()) != out._rows or np.any(
                    out._cluster_covered > out._cluster_rows
                ):
                    raise check.bad("the cluster counts do not add up")
                out._rep_ids = check.array(blobs, "rep_ids", "i", (k, m)).copy()
                dist = check.array(blobs, "rep_dist", "f", (k, m))
                out._rep_dist = np.where(out._rep_ids >= 0, dist, np.inf)
                keys = check.array(blobs, "window_keys", "i", (None,)).copy()
                out._window_keys = keys
                out._window_rows = check.array(blobs, "window_rows", "i", keys.shape).copy()
                out._window_covered = check.array(blobs, "window_covered", "i", keys.shape).copy()
                if np.any(np.diff(keys) <= 0) or np.any(out._window_covered > out._window_rows):
                    raise check.bad("the window counts are malformed")
                time_dtype = meta["time_dtype"]
                if time_dtype is not None and not isinstance(time_dtype, str):
                    raise check.bad("time_dtype must be text")
                if time_dtype is not None:
                    _polars_dtype(time_dtype)
                out._time_dtype = time_dtype
        return out

    def __reduce__(self) -> Any:
        return (CoverageAccumulator.from_bytes, (self.to_bytes(),))

    @locked
    def __repr__(self) -> str:
        share = self._covered / self._rows if self._rows else math.nan
        return (
            f"CoverageAccumulator(rows={self._rows}, covered={self._covered} ({share:.3f}), "
            f"clusters={self._settings.clusters}, radius={self._settings.radius:.4f})"
        )


def _polars_dtype(text: str) -> Any:
    """The polars dtype written as `text` by ``str(dtype)`` (Date or Datetime)."""
    if text == "Date":
        return pl.Date
    import re

    found = re.fullmatch(r"Datetime\(time_unit='(ns|us|ms)', time_zone=(None|'[^']*')\)", text)
    if not found:
        raise check.bad(f"unknown time dtype {text!r}")
    zone = None if found.group(2) == "None" else found.group(2)[1:-1]
    return pl.Datetime(found.group(1), zone)  # type: ignore[arg-type]


def _same_settings(a: CoverageSettings, b: CoverageSettings) -> bool:
    return (
        a.meta() == b.meta()
        and a.eval_unit.shape == b.eval_unit.shape
        and bool(np.array_equal(a.eval_unit, b.eval_unit))
        and bool(np.array_equal(a.centroids, b.centroids))
        and bool(np.array_equal(a.eval_ids, b.eval_ids))
    )


class TrafficSample:
    """The k-means sample of a pass over production: the `size` unit rows with the smallest
    seeded row keys (see ``undertow.embedding._sample``), the same rows for any batching."""

    def __init__(self, size: int, seed: int, dtype: str) -> None:
        self.size, self.seed, self.dtype = size, seed, np.dtype(dtype)
        self._rows = 0
        self._dim: int | None = None
        self._keys = np.zeros(0, dtype=np.uint64)
        self._sample = np.zeros((0, 0), dtype=self.dtype)

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def sample(self) -> np.ndarray:
        return self._sample

    def update(self, vectors: np.ndarray) -> None:
        x = np.ascontiguousarray(vectors, dtype=self.dtype)
        if self._dim is None:
            self._dim = x.shape[1]
            self._sample = np.zeros((0, self._dim), dtype=self.dtype)
        elif x.shape[1] != self._dim:
            raise UndertowError(
                f"production_vectors: vectors have {x.shape[1]} dimensions, earlier ones {self._dim}"
            )
        unit = unit_rows(x, "production_vectors", self._rows)
        keys = row_keys(unit, self.seed)
        pick = smallest(keys, self.size)
        self._keys, self._sample = merge_samples(self._keys, self._sample, keys[pick], unit[pick], self.size)
        self._sample = np.ascontiguousarray(self._sample, dtype=self.dtype)
        self._rows += len(x)

    def merge(self, other: TrafficSample) -> TrafficSample:
        if other._dim is None:
            self._rows += other._rows
            return self
        if self._dim is None:
            self._dim, self._sample = other._dim, np.zeros((0, other._dim), dtype=self.dtype)
        self._keys, self._sample = merge_samples(
            self._keys, self._sample, other._keys, other._sample, self.size
        )
        self._sample = np.ascontiguousarray(self._sample, dtype=self.dtype)
        self._rows += other._rows
        return self

    def to_bytes(self) -> bytes:
        meta = {"what": "sample", "size": self.size, "seed": self.seed, "dtype": self.dtype.str,
                "rows": self._rows, "dim": self._dim}  # fmt: skip
        return pack("coverage", meta, {"keys": self._keys, "sample": self._sample})

    @classmethod
    def from_bytes(cls, data: bytes) -> TrafficSample:
        with naming_data():
            meta, blobs = unpack(data, "coverage")
            with check.decoding("coverage traffic sample"):
                if meta.get("what") != "sample" or meta["dtype"] not in ("<f4", "<f8"):
                    raise check.bad("not a coverage traffic sample")
                out = cls(check.integer(meta["size"], "size", 1), check.integer(meta["seed"], "seed", 0),
                          meta["dtype"])  # fmt: skip
                out._rows = check.integer(meta["rows"], "rows", 0)
                dim = meta["dim"]
                if dim is not None:
                    out._dim = check.integer(dim, "dim", 1)
                    out._keys = check.array(blobs, "keys", "u", (None,)).copy()
                    if len(out._keys) > out.size:
                        raise check.bad("the sample is larger than its size")
                    out._sample = np.ascontiguousarray(
                        check.array(blobs, "sample", "f", (len(out._keys), dim)), dtype=out.dtype
                    )
        return out

    def __reduce__(self) -> Any:
        return (TrafficSample.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"TrafficSample(rows={self._rows}, sample={len(self._keys)}, size={self.size})"
