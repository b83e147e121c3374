"""Dask, the distributed engine: file fragments map to accumulators on the workers, and a fixed
tree of merges reduces them.

Every entry point builds the same graph:

1. ``list_fragments(paths, by)``: the files under `paths` (sorted by path), or one fragment per
   Parquet row group with ``by="row_group"``; the first fragment's footer gives the expected
   Arrow type of every column read;
2. one task per fragment: open it with pyarrow on the worker, check its columns against the
   expected types (a missing or retyped column is an ``UndertowError`` naming the file), update
   a fresh accumulator batch by batch (``batch_size`` rows), return it. Accumulators travel
   between processes as their versioned bytes (their ``__reduce__``);
3. merge tasks in a fixed tree: consecutive groups of `split_every` (default 8), level by level,
   each group folded left to right into a copy of its first member.

`undertow.scan` runs the same leaves and the same tree on one machine, so for the same files,
``by="file"`` and the same `batch_size`/`split_every`, the results are bit-identical: PSI counts
are integers, and the floating-point sums (cosine, covariance, random features) meet the same
operations in the same order. With ``by="row_group"`` the result is identical to any other run
with ``by="row_group"`` (for PSI to every run).

Failures are loud: a task that raises, or a worker that dies (dask's ``KilledWorker`` after the
scheduler's ``allowed-failures`` retries), fails the whole computation; a partial result is
never returned. `dask` is imported lazily: ``import undertow`` does not need it.

>>> import numpy as np, undertow as ut, undertow.dask  # doctest: +SKIP
>>> report = ut.dask.psi(reference, "s3://bucket/features/", client=client)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from undertow._args import check_batch_size, check_split_every
from undertow._core import UndertowError
from undertow.embedding.drift import EmbeddingAccumulator, EmbeddingDrift
from undertow.embedding.mmd import MmdResult, RffAccumulator
from undertow.embedding.pca import PCA, CovarianceAccumulator
from undertow.embedding.report import EmbeddingDriftReport
from undertow.stream import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_SPLIT_EVERY,
    CovarianceJob,
    EmbeddingJob,
    Fragment,
    HistogramJob,
    PsiJob,
    RffJob,
    expected_types,
    fixed_width,
    leaf_starts,
    list_fragments,
    merge_group,
    read_fragment,
    tree_shape,
)
from undertow.tabular.histogram import HistogramAccumulator
from undertow.tabular.reference import PsiAccumulator, Reference
from undertow.tabular.results import PsiReport


def _dask() -> Any:
    try:
        import dask
        import dask.delayed
    except ImportError:  # pragma: no cover
        raise ImportError("undertow.dask needs dask: pip install 'undertow[dask]'") from None
    return dask


def map_reduce(
    function: Callable[..., Any],
    items: Sequence[Any],
    *args: Any,
    client: Any = None,
    split_every: int = DEFAULT_SPLIT_EVERY,
    name: str = "undertow",
) -> Any:
    """``function(item, *args)`` for every item (one task each), then the fixed merge tree.

    `function` returns an accumulator (anything with ``merge``, ``to_bytes`` and
    ``from_bytes``); `args` enter the graph once and are shared by all tasks (a reference of a
    few MB is not sent once per file). `client`: a ``distributed.Client`` (its cluster computes
    the graph); None uses dask's current scheduler (the default Client if one exists, else
    local threads). Any failed task fails the call.
    """
    dask = _dask()
    from dask.base import tokenize

    split_every = check_split_every(split_every)
    if not items:
        raise UndertowError("paths: no fragments to read")
    token = tokenize(function, list(items), *args, split_every)
    shared = [dask.delayed(a, pure=True) for a in args]
    level = [
        dask.delayed(function, pure=True)(item, *shared, dask_key_name=f"{name}-leaf-{i}-{token}")
        for i, item in enumerate(items)
    ]
    for depth, groups in enumerate(tree_shape(len(level), split_every)):
        level = [
            level[g[0]]
            if len(g) == 1
            else dask.delayed(_merge_task, pure=True)(
                *[level[i] for i in g], dask_key_name=f"{name}-merge-{depth}-{j}-{token}"
            )
            for j, g in enumerate(groups)
        ]
    root = level[0]
    if client is not None:
        return client.compute(root).result()
    return dask.compute(root)[0]


def _merge_task(*accumulators: Any) -> Any:
    return merge_group(accumulators)


def _leaf(leaf: tuple[Fragment, int], job: Any, batch_size: int, expected: Mapping[str, Any]) -> Any:
    fragment, start = leaf
    return read_fragment(fragment, job, batch_size, expected, start=start)


def _run(
    job: Any,
    fragments: list[Fragment],
    client: Any,
    split_every: int,
    batch_size: int,
    name: str,
) -> Any:
    batch_size = check_batch_size(batch_size)
    expected = expected_types(fragments[0], job.columns)

    # Positional jobs (embedding drift) need each leaf's global first row: from the footers, here.
    def counts() -> list[int]:
        return [fragment.open().count_rows() for fragment in fragments]

    starts = leaf_starts(job, counts, len(fragments))
    acc = map_reduce(
        _leaf,
        list(zip(fragments, starts, strict=True)),
        job,
        batch_size,
        expected,
        client=client,
        split_every=split_every,
        name=name,
    )
    job.check_rows(acc, f"{len(fragments)} fragment(s) starting with {fragments[0].label}")
    return acc


def fragments(paths: Any, by: str = "file") -> list[Fragment]:
    """The leaves of the tree: files under `paths` (files, directories searched recursively,
    URIs, lists of those; sorted by path), or their Parquet row groups with ``by="row_group"``."""
    return list_fragments(paths, by)


def psi(
    reference: Reference,
    paths: Any,
    columns: Any = None,
    client: Any = None,
    *,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by: str = "file",
    finalize: bool = True,
) -> PsiReport | PsiAccumulator:
    """PSI of every column of `reference` over all rows of the files under `paths`: the same
    PsiReport as ``reference.psi`` of all the files' rows, bit for bit.

    `columns`: None reads the reference's columns by name; a dict maps reference columns to
    the files' column names where they differ (``{"age": "age_years"}``). ``finalize=False``
    returns the merged PsiAccumulator (to merge with other runs).

    >>> import undertow.dask  # doctest: +SKIP
    >>> undertow.dask.psi(ref, "data/2026-11/", client=client).to_polars()  # doctest: +SKIP
    """
    job = PsiJob.make(reference, columns)
    acc = _run(job, list_fragments(paths, by), client, split_every, batch_size, "undertow-psi")
    return acc.finalize() if finalize else acc


def histogram(
    paths: Any,
    column: str,
    edges: Any,
    client: Any = None,
    *,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by: str = "file",
    finalize: bool = True,
) -> tuple[np.ndarray, np.ndarray] | HistogramAccumulator:
    """numpy.histogram (counts, edges) of the numeric column `column` of every file under
    `paths`, over fixed `edges` (numpy's semantics: last bin closed, values outside ignored).
    Integer counts: identical to ``np.histogram`` of all the rows."""
    edges = tuple(float(e) for e in HistogramAccumulator(edges).edges)
    job = HistogramJob(str(column), edges)
    acc = _run(job, list_fragments(paths, by), client, split_every, batch_size, "undertow-histogram")
    return acc.finalize() if finalize else acc


def embedding_drift(
    drift: EmbeddingDrift,
    paths: Any,
    column: str,
    client: Any = None,
    *,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by: str = "file",
    finalize: bool = True,
) -> EmbeddingDriftReport | EmbeddingAccumulator:
    """``drift``'s EmbeddingDriftReport over the vector column `column` (Arrow
    fixed_size_list of floats, polars Array) of every file under `paths`: cosine statistics,
    per-component PSI, the position-keyed sample for the MMD test and the domain classifier
    (each leaf starts at its global row offset, read from the footers before the run).
    Bit-identical to ``undertow.scan(paths).embedding(drift, column)``."""
    if not isinstance(drift, EmbeddingDrift):
        raise TypeError(f"drift: expected an EmbeddingDrift, got {type(drift).__name__}")
    job = EmbeddingJob(drift, str(column))
    acc = _run(job, list_fragments(paths, by), client, split_every, batch_size, "undertow-embedding")
    return acc.finalize() if finalize else acc


def _dim(fragment: Fragment, column: str) -> int:
    schema = fragment.open().physical_schema
    return fixed_width(schema, column, f"{fragment.label} has no column {column!r}")


def covariance(
    paths: Any,
    column: str,
    client: Any = None,
    *,
    components: int = 32,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by: str = "file",
    finalize: bool = True,
) -> PCA | CovarianceAccumulator:
    """The PCA (`components` axes) of the float64 covariance of a vector column over every
    file under `paths`; ``finalize=False`` returns the merged CovarianceAccumulator.
    Bit-identical to ``undertow.scan(paths).pca(column, components)``."""
    found = list_fragments(paths, by)
    job = CovarianceJob(str(column), _dim(found[0], str(column)))
    acc = _run(job, found, client, split_every, batch_size, "undertow-covariance")
    return acc.finalize(components) if finalize else acc


def rff(
    x_paths: Any,
    y_paths: Any,
    column: str,
    bandwidth: float,
    client: Any = None,
    *,
    features: int = 256,
    seed: int = 0,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by: str = "file",
    finalize: bool = True,
) -> MmdResult | RffAccumulator:
    """Random-Fourier-feature MMD between the vector column `column` of the files under
    `x_paths` and those under `y_paths` (see ``undertow.mmd(estimator="rff")``). `bandwidth` is
    a number (compute ``undertow.median_bandwidth`` on samples of both sides first). The leaves
    are the x fragments then the y fragments, merged in one tree."""
    x_fragments = list_fragments(x_paths, by)
    y_fragments = list_fragments(y_paths, by)
    name = str(column)
    dim = _dim(x_fragments[0], name)
    x_job = RffJob(name, dim, float(bandwidth), features, seed, "x")
    y_job = RffJob(name, dim, float(bandwidth), features, seed, "y")
    x_job.new()  # validates the parameters before any task runs
    batch_size = check_batch_size(batch_size)
    expected = expected_types(x_fragments[0], x_job.columns)
    leaves = [(f, x_job) for f in x_fragments] + [(f, y_job) for f in y_fragments]
    acc = map_reduce(
        _rff_leaf, leaves, batch_size, expected, client=client, split_every=split_every, name="undertow-rff"
    )
    x_job.check_rows(acc, "x_paths and y_paths")
    return acc.finalize() if finalize else acc


def _rff_leaf(leaf: tuple[Fragment, RffJob], batch_size: int, expected: Mapping[str, Any]) -> Any:
    fragment, job = leaf
    return read_fragment(fragment, job, batch_size, expected)


def eval_coverage(
    eval_vectors: Any,
    paths: Any,
    column: str,
    id_column: str,
    client: Any = None,
    *,
    time_column: str | None = None,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by: str = "file",
    finalize: bool = True,
    **options: Any,
) -> Any:
    """``undertow.eval_coverage`` of the production vectors in column `column` (ids in
    `id_column`, times in `time_column`) of every file under `paths`: two map-reduce passes
    (the k-means sample, then the counts), bit-identical to ``ut.eval_coverage(eval_vectors,
    ut.scan(paths), column=..., id_column=...)`` with the same `batch_size`. `options`: the
    keyword arguments of ``eval_coverage`` (radius, quantile, clusters, seed, every, ...).
    ``finalize=False`` returns the merged CoverageAccumulator."""
    from undertow.coverage.api import coverage_passes

    fragments = list_fragments(paths, by)
    batch_size = check_batch_size(batch_size)

    def run(job: Any, name: str) -> Any:
        return _run(job, fragments, client, split_every, batch_size, name)

    acc = coverage_passes(eval_vectors, run, column, id_column, time_column, options)
    return acc.finalize() if finalize else acc


__all__ = ["covariance", "embedding_drift", "eval_coverage", "fragments", "map_reduce", "psi", "rff"]
