"""``ut.eval_coverage``: does the eval suite cover what production traffic asks?"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from undertow import _core
from undertow._args import check_batch_size, check_count, check_flag, check_int64_ids, check_real, check_seed
from undertow._core import UndertowError
from undertow._inputs import as_matrix
from undertow.coverage._vectors import unit_rows
from undertow.coverage.accumulator import CoverageAccumulator, CoverageSettings, TrafficSample
from undertow.coverage.clusters import POINTS_PER_CENTROID, kmeans
from undertow.coverage.jobs import CoverageJob, CoverageSampleJob
from undertow.coverage.radius import DEFAULT_QUANTILE, auto_radius
from undertow.coverage.report import CoverageReport
from undertow.windows import _check_duration

DEFAULT_BATCH = 16_384


def prepare_eval(
    eval_vectors: Any, eval_ids: Any, dtype: np.dtype, radius: Any, quantile: Any
) -> tuple[np.ndarray, np.ndarray, float, float | None]:
    """(unit eval rows in `dtype`, their ids, the radius, the rule's quantile or None)."""
    matrix = as_matrix(eval_vectors, "eval_vectors", min_rows=1)
    unit = unit_rows(np.ascontiguousarray(matrix, dtype=dtype), "eval_vectors")
    n = unit.shape[0]
    ids = (
        np.arange(n, dtype=np.int64) if eval_ids is None else check_int64_ids(eval_ids, "eval_ids", noun="id")
    )
    if len(ids) != n:
        raise UndertowError(f"eval_ids: {len(ids)} ids for {n} eval vectors")
    if isinstance(radius, str):
        if radius != "auto":
            raise UndertowError(f'radius: must be "auto" or a number in [-1, 1], got {radius!r}')
        q = check_real(quantile, "quantile", 0.0, 1.0)
        value, _ = auto_radius(unit, q)
        return unit, ids, value, q
    return unit, ids, check_real(radius, "radius", -1.0, 1.0), None


def settings_from_sample(
    unit: np.ndarray,
    ids: np.ndarray,
    radius: float,
    quantile: float | None,
    sample: TrafficSample,
    *,
    clusters: int,
    seed: int,
    max_iter: int,
    representatives: int,
    every: str | None,
    min_coverage: float,
    min_share: float,
) -> CoverageSettings:
    """Fits the k-means on the sample (k = min(clusters, sample rows)) and fixes the settings."""
    points = sample.sample
    if points.shape[1] != unit.shape[1]:
        raise UndertowError(
            f"production_vectors: vectors have {points.shape[1]} dimensions, eval_vectors {unit.shape[1]}"
        )
    k = min(clusters, points.shape[0])
    fit = kmeans(points, k, seed=seed, max_iter=max_iter)
    work = np.ascontiguousarray(fit.centroids, dtype=unit.dtype)
    _, eval_cluster = _core.nearest(work, unit, "l2")
    return CoverageSettings(
        eval_unit=unit,
        eval_ids=ids,
        radius=radius,
        quantile=quantile,
        centroids=fit.centroids,
        eval_clusters=np.bincount(eval_cluster, minlength=k).astype(np.int64),
        representatives=representatives,
        every=every,
        min_coverage=min_coverage,
        min_share=min_share,
        kmeans={
            "k": k,
            "sample_rows": int(points.shape[0]),
            "inertia": fit.inertia,
            "iterations": fit.iterations,
            "converged": fit.converged,
            "seed": seed,
        },
    )


def coverage_passes(
    eval_vectors: Any,
    run: Any,
    column: str | None,
    id_column: str | None,
    time_column: str | None,
    options: dict[str, Any],
    checked: bool = False,
) -> CoverageAccumulator:
    """The two streamed passes, `run(job, name)` running a job over every leaf and merging:
    the k-means sample, then the counts. `options` are eval_coverage's keyword arguments
    (checked here unless `checked`)."""
    if id_column is None:
        raise UndertowError("id_column: a streamed production source needs an integer id column")
    if column is None:
        raise UndertowError("column: name the production vector column")
    if not checked:
        known = {"eval_ids", "radius", "quantile", "clusters", "representatives", "min_coverage",
                 "min_share", "seed", "max_iter", "every"}  # fmt: skip
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unexpected keyword arguments {unknown}")
        opts = dict(options)
        options = dict(
            clusters=check_count(opts.get("clusters", 16), "clusters", 1, 100_000),
            seed=check_seed(opts.get("seed", 0)),
            max_iter=check_count(opts.get("max_iter", 25), "max_iter", 0, 10_000),
            representatives=check_count(opts.get("representatives", 3), "representatives", 1, 1000),
            every=None if time_column is None else _check_duration(opts.get("every", "1mo"), "every", True),
            min_coverage=check_real(opts.get("min_coverage", 0.5), "min_coverage", 0.0, 1.0),
            min_share=check_real(opts.get("min_share", 0.01), "min_share", 0.0, 1.0),
            eval_ids=opts.get("eval_ids"),
            radius=opts.get("radius", "auto"),
            quantile=opts.get("quantile", DEFAULT_QUANTILE),
        )
    options = dict(options)
    eval_ids, radius, quantile = options.pop("eval_ids"), options.pop("radius"), options.pop("quantile")
    eval_matrix = as_matrix(eval_vectors, "eval_vectors", min_rows=1)
    unit, e_ids, r, q = prepare_eval(eval_matrix, eval_ids, eval_matrix.dtype, radius, quantile)
    size = options["clusters"] * POINTS_PER_CENTROID
    sample = run(CoverageSampleJob(column, size, options["seed"], unit.dtype.str), "undertow-coverage-sample")
    settings = settings_from_sample(unit, e_ids, r, q, sample, **options)
    return run(CoverageJob(settings, column, id_column, time_column), "undertow-coverage")


def _frame_parts(
    frame: pl.DataFrame, column: str | None, id_column: str | None, time_column: str | None
) -> tuple[np.ndarray, np.ndarray | None, pl.Series | None]:
    if column is None:
        vector_columns = [n for n, t in frame.schema.items() if isinstance(t, pl.Array | pl.List)]
        if len(vector_columns) != 1:
            raise UndertowError(f"column: name the vector column (the frame has {vector_columns})")
        column = vector_columns[0]
    for argument, name in (("column", column), ("id_column", id_column), ("time_column", time_column)):
        if name is not None and name not in frame.columns:
            raise UndertowError(f"{argument}: {name!r} is not a column of the frame ({frame.columns[:20]})")
    matrix = as_matrix(frame.get_column(column), "production_vectors", min_rows=1)
    ids = None
    if id_column is not None:
        series = frame.get_column(id_column)
        if not series.dtype.is_integer() or series.null_count():
            raise UndertowError(
                f"id_column: {id_column!r} must hold integers without nulls, got {series.dtype}"
            )
        ids = check_int64_ids(series.to_numpy(), "id_column", noun="id")
    times = None if time_column is None else frame.get_column(time_column)
    return matrix, ids, times


def eval_coverage(
    eval_vectors: Any,
    production_vectors: Any,
    *,
    ids: Any = None,
    eval_ids: Any = None,
    column: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    every: str = "1mo",
    radius: Any = "auto",
    quantile: float = DEFAULT_QUANTILE,
    clusters: int = 16,
    representatives: int = 3,
    min_coverage: float = 0.5,
    min_share: float = 0.01,
    seed: int = 0,
    max_iter: int = 25,
    batch_size: int = DEFAULT_BATCH,
    keep_queries: bool = True,
) -> CoverageReport:
    """How much of production traffic the eval suite covers, and where it does not.

    **Coverage.** Every production row's nearest eval item by cosine similarity (exact: the
    top-1 search kernel of ``ut.exact_search``) and that similarity; a row is *covered* when
    the similarity is at least `radius`. ``radius="auto"`` (default) takes the `quantile`
    (0.1) of the eval items' similarity to their nearest other eval item: when eval is a random
    part of production, coverage is then about ``1 - quantile`` (see
    ``undertow.coverage.radius``); a number overrides the rule.

    **Gaps.** Production traffic is clustered by a deterministic k-means (``clusters``
    centroids; ``undertow.coverage.clusters``: fitted on a hash-chosen sample of at most
    ``clusters x 256`` unit rows, every row then assigned exactly). Per cluster: traffic share,
    eval share, coverage, ``gap_score = traffic_share x (1 - coverage)`` and `representatives`
    ids (the rows nearest the centroid); flagged when its coverage is below `min_coverage` and
    its traffic share at least `min_share`. ``mix_psi``: PSI of cluster shares, eval vs
    production.

    **Over time.** With `time_column` (Date/Datetime), ``report.windows`` holds rows, covered
    and coverage per calendar window of length `every` (polars ``dt.truncate``, e.g. "1mo").

    `production_vectors`: a 2-D array (ids: `ids` or row numbers), a polars DataFrame or
    LazyFrame (`column`: its vector column; `id_column`, `time_column` optional), or a
    ``ut.scan(...)`` source (streamed in two passes, memory bounded by `batch_size`; needs
    `id_column` and a re-readable source; no per-query frame). Rows are processed in batches
    of `batch_size`; every count is exact, so streamed, Dask (``undertow.dask.eval_coverage``)
    and in-memory runs give the same report. NaN, inf and zero vectors are errors.

    >>> import numpy as np, undertow as ut
    >>> rng = np.random.default_rng(0)
    >>> traffic = rng.normal(size=(400, 8)).astype(np.float32)
    >>> report = ut.eval_coverage(traffic[::2], traffic, clusters=4)
    >>> report.coverage > 0.9, report.status
    (True, 'covered')
    """
    from undertow.stream.scan import Scan

    clusters = check_count(clusters, "clusters", 1, 100_000)
    representatives = check_count(representatives, "representatives", 1, 1000)
    seed = check_seed(seed)
    max_iter = check_count(max_iter, "max_iter", 0, 10_000)
    batch_size = check_batch_size(batch_size)
    min_coverage = check_real(min_coverage, "min_coverage", 0.0, 1.0)
    min_share = check_real(min_share, "min_share", 0.0, 1.0)
    keep_queries = check_flag(keep_queries, "keep_queries")
    window = None if time_column is None else _check_duration(every, "every", positive=True)
    if window is not None and not isinstance(window, str):
        raise TypeError("every: expected a duration string like '1mo' or '7d'")
    size = clusters * POINTS_PER_CENTROID
    options = dict(clusters=clusters, seed=seed, max_iter=max_iter, representatives=representatives,
                   every=window, min_coverage=min_coverage, min_share=min_share)  # fmt: skip

    if isinstance(production_vectors, Scan):
        scan = production_vectors
        streamed = dict(options, eval_ids=eval_ids, radius=radius, quantile=quantile)
        acc = coverage_passes(eval_vectors, lambda job, _: scan.accumulate(job), column, id_column,
                              time_column, streamed, checked=True)  # fmt: skip
        return acc.finalize()

    times = None
    if isinstance(production_vectors, pl.LazyFrame):
        production_vectors = production_vectors.collect()
    if isinstance(production_vectors, pl.DataFrame):
        x, frame_ids, times = _frame_parts(production_vectors, column, id_column, time_column)
        if frame_ids is not None:
            ids = frame_ids
    else:
        if time_column is not None:
            raise UndertowError("time_column: needs production_vectors as a polars DataFrame")
        x = as_matrix(production_vectors, "production_vectors", min_rows=1)
    n = x.shape[0]
    row_ids = np.arange(n, dtype=np.int64) if ids is None else check_int64_ids(ids, "ids", noun="id")
    if len(row_ids) != n:
        raise UndertowError(f"ids: {len(row_ids)} ids for {n} production rows")
    unit, e_ids, r, q = prepare_eval(eval_vectors, eval_ids, x.dtype, radius, quantile)
    if x.shape[1] != unit.shape[1]:
        raise UndertowError(
            f"production_vectors: vectors have {x.shape[1]} dimensions, eval_vectors {unit.shape[1]}"
        )
    sample = TrafficSample(size, seed, x.dtype.str)
    for start in range(0, n, batch_size):
        sample.update(x[start : start + batch_size])
    settings = settings_from_sample(unit, e_ids, r, q, sample, **options)  # type: ignore[arg-type]
    acc = CoverageAccumulator(settings)
    parts: list[Any] = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch_times = None if times is None else times.slice(start, stop - start)
        result = acc.update(x[start:stop], row_ids[start:stop], batch_times)
        if keep_queries:
            parts.append(result)
    queries = None
    if keep_queries:
        nearest = np.concatenate([p.nearest for p in parts])
        queries = pl.DataFrame(
            {
                "id": row_ids,
                "nearest_eval_id": e_ids[nearest],
                "similarity": np.concatenate([p.similarity for p in parts]),
                "covered": np.concatenate([p.covered for p in parts]),
                "cluster": np.concatenate([p.cluster for p in parts]),
            }
        )
    return acc.finalize(queries)
