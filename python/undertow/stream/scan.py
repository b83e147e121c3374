"""Out-of-core: stream an Arrow source (Parquet files, a pyarrow dataset, a polars LazyFrame,
anything with ``__arrow_c_stream__``) through undertow's accumulators, batch by batch.

Memory is bounded by the batch size, not by the source: one record batch (``batch_size`` rows,
default 65,536) is alive at a time, plus the accumulators (a few KB for PSI; for embeddings the
sums, a 65,536-cell grid and a sample of at most ``sample`` projected rows).

The zero-copy path, column by column:

* numeric columns without nulls: the Arrow buffer is handed to Rust as a numpy view (through
  ``polars.from_arrow`` and ``Series.to_numpy``, both zero-copy for one chunk without nulls);
  integers are copied once to float64 and nulls become NaN (one copy of that column), which the
  reference's ``nan_policy`` then governs, as for polars input;
* string, dictionary, boolean columns: categorical, counted by polars;
* ``fixed_size_list<float32|float64>`` (polars ``Array``) vector columns: a (rows, width) numpy
  view of the child values, without a copy. The child array of a sliced FixedSizeListArray is
  the whole parent's child (``.values`` ignores the slice offset), so the view starts at
  ``offset * width`` of it. A null vector, or a null inside a vector, is an error naming the
  column and the row;
* ``list<float>`` vector columns must hold rows of one length; the values are viewed without a
  copy when they are contiguous.

Files are the leaves of a reduction tree: each file (or row group, see `undertow.dask`) updates
a fresh accumulator and the leaves are merged in a fixed tree (groups of `split_every`
consecutive leaves, level by level). `undertow.dask` runs the same leaves and the same tree on a
cluster, so the two results are bit-identical, floating-point sums included. The fragments of a
Lance dataset are leaves like files (see `undertow.stream.sources`). A stream without files (a
LazyFrame, a RecordBatchReader, an iterator of batches) is one leaf, re-cut into batches of
exactly ``batch_size`` rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from undertow._args import check_batch_size, check_split_every
from undertow._core import UndertowError
from undertow.embedding.drift import EmbeddingDrift
from undertow.embedding.pca import PCA, CovarianceAccumulator
from undertow.embedding.report import EmbeddingDriftReport
from undertow.stream.arrow import fixed_width, parquet_scan_options, require_pyarrow
from undertow.stream.fragments import (
    DEFAULT_BATCH_SIZE,
    Fragment,
    check_schema,
    expected_types,
    is_parquet,
    leaf_starts,
    list_fragments,
    new_leaf,
    read_fragment,
    update_job,
)
from undertow.stream.jobs import CovarianceJob, EmbeddingJob, HistogramJob, PsiJob
from undertow.stream.progress import Progress, progress_wanted
from undertow.stream.sources import (
    is_batch_iterator,
    is_lance_source,
    iterator_reader,
    lance_fragments,
    rebatch,
)
from undertow.stream.tree import DEFAULT_SPLIT_EVERY, TreeReducer
from undertow.tabular.histogram import HistogramAccumulator
from undertow.tabular.reference import Reference
from undertow.tabular.results import PsiReport


class Scan:
    """A streamed Arrow source; see `scan`. Each statistic reads the source once."""

    def __init__(
        self, source: Any, columns: Any, batch_size: int, progress: bool | None, split_every: int
    ) -> None:
        self._source = source
        self._columns = (
            None if columns is None else ([columns] if isinstance(columns, str) else _names(columns))
        )
        self.batch_size = check_batch_size(batch_size)
        self.progress = progress
        self.split_every = check_split_every(split_every)
        self._fragments: list[Fragment] | None = None
        self._dataset: Any = None
        self._read = False
        pa = require_pyarrow()
        if is_batch_iterator(source):
            source = self._source = iterator_reader(source)
        if is_lance_source(source):
            self._fragments = lance_fragments(source)  # type: ignore[assignment]
        elif isinstance(source, str | os.PathLike) or (
            isinstance(source, list | tuple)
            and source
            and all(isinstance(s, str | os.PathLike) for s in source)
        ):
            self._fragments = list_fragments(source)
        elif isinstance(source, pa.dataset.Dataset):
            self._dataset = source
        elif isinstance(source, list | tuple) and not source:
            raise UndertowError("source: is an empty list")
        elif not (
            isinstance(source, pl.DataFrame | pl.LazyFrame | pa.Table | pa.RecordBatch | pa.RecordBatchReader)
            or hasattr(source, "__arrow_c_stream__")
        ):
            raise TypeError(
                "source: expected a Parquet path (or list of paths), a pyarrow Dataset, Table, RecordBatch "
                "or RecordBatchReader, a polars DataFrame or LazyFrame, a Lance dataset or LanceDB table, "
                "an iterator of RecordBatches, or an object with "
                f"__arrow_c_stream__, got {type(source).__name__}"
            )

    # -- what to read ------------------------------------------------------------------------

    def _read_columns(self, needed: Sequence[str]) -> list[str]:
        if self._columns is not None:
            missing = [c for c in needed if c not in self._columns]
            if missing:
                raise UndertowError(f"columns: {missing} are needed but not in columns={self._columns}")
        return list(needed)

    @property
    def fragments(self) -> list[Fragment] | None:
        """The files of a path source (the leaves of the reduction tree), else None."""
        return None if self._fragments is None else list(self._fragments)

    def schema(self) -> Any:
        """The Arrow schema (of the first file, for path sources)."""
        pa = require_pyarrow()
        if self._fragments is not None:
            return self._fragments[0].open().physical_schema
        if self._dataset is not None:
            return self._dataset.schema
        source = self._source
        if isinstance(source, pl.LazyFrame):
            return pa.schema(pl.DataFrame(schema=source.collect_schema()).to_arrow().schema)
        if isinstance(source, pl.DataFrame):
            return source.head(0).to_arrow().schema
        if isinstance(source, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
            return source.schema
        raise UndertowError("source: an Arrow stream's schema is only known once it is read")

    # -- the generic reduction ---------------------------------------------------------------

    def accumulate(self, job: Any) -> Any:
        """Runs `job` (PsiJob, EmbeddingJob, CovarianceJob, RffJob) over the source and returns
        the merged accumulator (not finalized): one leaf per file, merged in the fixed tree."""
        columns = self._read_columns(job.columns)
        if self._fragments is not None:
            return self._accumulate_fragments(job, columns)
        if self._dataset is not None:
            return self._accumulate_dataset(job, columns)
        bar = Progress(self.progress, self._stream_rows(), "undertow")
        try:
            acc = job.new()
            for batch in self._stream(columns):
                update_job(job, acc, batch, "source")
                bar.update(batch.num_rows)
        finally:
            bar.close()
        job.check_rows(acc, "source")
        return acc

    def _accumulate_fragments(self, job: Any, columns: list[str]) -> Any:
        fragments = self._fragments or []
        expected = expected_types(fragments[0], columns)
        total = 0
        opened = []
        for fragment in fragments:  # every footer before any data: fail before the long run
            handle = fragment.open()
            check_schema(handle.physical_schema, columns, fragment.label, expected)
            opened.append(handle)
            total += handle.count_rows() if progress_wanted(self.progress) else 0
        starts = leaf_starts(job, lambda: [handle.count_rows() for handle in opened], len(opened))
        bar = Progress(self.progress, total or None, "undertow")
        reducer = TreeReducer(self.split_every)
        try:
            for fragment, start in zip(fragments, starts, strict=True):
                reducer.push(read_fragment(fragment, job, self.batch_size, expected, bar.update, start))
        finally:
            bar.close()
        acc = reducer.result()
        job.check_rows(acc, f"{len(fragments)} file(s) starting with {fragments[0].label}")
        return acc

    def _accumulate_dataset(self, job: Any, columns: list[str]) -> Any:
        dataset = self._dataset
        fragments = list(dataset.get_fragments())
        if not fragments:
            raise UndertowError("source: the dataset has no fragments (no files)")
        partitioning = getattr(dataset, "partitioning", None)
        partition_names = set(partitioning.schema.names) if partitioning is not None else set()
        physical_columns = [c for c in columns if c not in partition_names]
        label = getattr(fragments[0], "path", "fragment 0")
        first = fragments[0].physical_schema
        check_schema(first, physical_columns, label, None)
        expected = {c: (first.field(c).type, label) for c in physical_columns}
        for fragment in fragments:
            check_schema(fragment.physical_schema, physical_columns, getattr(fragment, "path", "?"), expected)
        total = dataset.count_rows() if progress_wanted(self.progress) else None
        starts = leaf_starts(job, lambda: [fragment.count_rows() for fragment in fragments], len(fragments))
        bar = Progress(self.progress, total, "undertow")
        reducer = TreeReducer(self.split_every)
        try:
            for fragment, start in zip(fragments, starts, strict=True):
                acc = new_leaf(job, start)
                options = {"fragment_scan_options": parquet_scan_options()} if is_parquet(fragment) else {}
                for batch in fragment.to_batches(
                    schema=dataset.schema, columns=columns, batch_size=self.batch_size, **options
                ):
                    if batch.num_rows:
                        update_job(job, acc, batch, getattr(fragment, "path", "fragment"))
                        bar.update(batch.num_rows)
                reducer.push(acc)
        finally:
            bar.close()
        acc = reducer.result()
        job.check_rows(acc, "the dataset")
        return acc

    def _stream_rows(self) -> int | None:
        source = self._source
        if isinstance(source, pl.DataFrame):
            return source.height
        pa = require_pyarrow()
        if isinstance(source, pa.Table | pa.RecordBatch):
            return source.num_rows
        return None

    def _stream(self, columns: list[str]) -> Iterator[Any]:
        """Record batches of at most batch_size rows (larger ones are sliced, without a copy)."""
        pa = require_pyarrow()
        source = self._source
        if isinstance(source, pl.LazyFrame):
            _check_names(source.collect_schema().names(), columns)
            reader: Iterable[Any] = pa.RecordBatchReader.from_stream(
                source.select(columns).collect_batches(chunk_size=self.batch_size)
            )
        elif isinstance(source, pl.DataFrame):
            _check_names(source.columns, columns)
            reader = source.select(columns).to_arrow().to_batches()
        elif isinstance(source, pa.Table):
            _check_names(source.column_names, columns)
            reader = source.select(columns).to_batches()
        elif isinstance(source, pa.RecordBatch):
            _check_names(source.schema.names, columns)
            reader = [source.select(columns)]
        else:
            if isinstance(source, pa.RecordBatchReader):  # one-shot: a second read would be empty
                if self._read:
                    raise UndertowError(
                        "source: a RecordBatchReader (or iterator) can be read only once: one "
                        "statistic per scan; pass a re-readable source or a new reader"
                    )
                self._read = True
            stream = (
                source
                if isinstance(source, pa.RecordBatchReader)
                else pa.RecordBatchReader.from_stream(source)
            )
            _check_names(stream.schema.names, columns)
            reader = (b.select(columns) for b in stream)
        # exactly batch_size rows per batch, whatever the producer's chunks: the same result
        yield from rebatch(reader, self.batch_size)

    def batches(self) -> Iterator[Any]:
        """Every record batch of the source (the `columns` given to `scan`, else all), in order."""
        if self._fragments is not None:
            for fragment in self._fragments:
                yield from fragment.open().to_batches(columns=self._columns, batch_size=self.batch_size)
            return
        if self._dataset is not None:
            yield from self._dataset.to_batches(columns=self._columns, batch_size=self.batch_size)
            return
        columns = self._columns if self._columns is not None else self.schema().names
        yield from self._stream(columns)

    # -- statistics ----------------------------------------------------------------------------

    def psi(self, reference: Reference, rename: Mapping[str, str] | None = None) -> PsiReport:
        """PSI of every column of `reference` over all rows of the source: the same PsiReport as
        ``reference.psi`` of the concatenated rows, bit for bit (counts are integers).
        `rename` maps reference columns to source columns named differently."""
        return self.accumulate(PsiJob.make(reference, rename)).finalize()

    def embedding(self, drift: EmbeddingDrift, column: str | None = None) -> EmbeddingDriftReport:
        """``drift``'s report over the vector column `column` (default: the only column read)."""
        if not isinstance(drift, EmbeddingDrift):
            raise TypeError(f"drift: expected an EmbeddingDrift, got {type(drift).__name__}")
        return self.accumulate(EmbeddingJob(drift, self._vector_column(column))).finalize()

    def histogram(self, column: str, edges: Any) -> tuple[np.ndarray, np.ndarray]:
        """numpy.histogram (counts, edges) of a numeric column over fixed `edges`."""
        job = HistogramJob(str(column), tuple(float(e) for e in HistogramAccumulator(edges).edges))
        return self.accumulate(job).finalize()

    def covariance(self, column: str | None = None) -> CovarianceAccumulator:
        """The merged covariance accumulator of a vector column; ``.finalize(k)`` gives a PCA."""
        name = self._vector_column(column)
        return self.accumulate(CovarianceJob(name, self._dim(name)))

    def pca(self, column: str | None = None, components: int = 32) -> PCA:
        """A PCA fitted on every row of a vector column (one pass, float64 covariance)."""
        return self.covariance(column).finalize(components)

    def _vector_column(self, column: str | None) -> str:
        if column is not None:
            return str(column)
        if self._columns is not None and len(self._columns) == 1:
            return self._columns[0]
        raise UndertowError("column: name the vector column (or scan with columns=[that column])")

    def _dim(self, column: str) -> int:
        schema = self.schema()
        return fixed_width(schema, column, f"has no column {column!r} (it has {schema.names[:20]})")


def _names(columns: Any) -> list[str]:
    if not isinstance(columns, Sequence | set | frozenset) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"columns: expected a column name or a list of them, got {columns!r:.80}")
    return list(columns)


def _check_names(names: Sequence[str], columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        raise UndertowError(f"source: has no column(s) {missing} (it has {list(names)[:20]})")


def scan(
    source: Any,
    columns: Any = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
    split_every: int = DEFAULT_SPLIT_EVERY,
) -> Scan:
    """Streams `source` batch by batch into undertow's accumulators; memory is bounded by
    `batch_size` rows, not by the source.

    `source`: a Parquet/Arrow file, a directory of them (searched recursively, sorted by path),
    a list of paths or URIs (``s3://...``), a pyarrow Dataset, Table, RecordBatch or
    RecordBatchReader, a polars DataFrame or LazyFrame (streamed with ``collect_batches``), a
    Lance dataset or LanceDB table (one leaf per Lance fragment, like files), an iterator of
    pyarrow RecordBatches/Tables, or any object with ``__arrow_c_stream__``. `columns` limits
    what is read (default: what each statistic needs). Streams are re-cut into batches of
    exactly `batch_size` rows (larger ones sliced without a copy). `progress`: a ``tqdm.auto``
    bar on a terminal or in Jupyter, log lines (logger ``"undertow"``, INFO) elsewhere; None
    shows the bar only there and logs only if logging shows INFO (see `undertow.stream.progress`).

    Files are checked before any data is read: a needed column missing from a file, or typed
    differently than in the first file, is an `UndertowError` naming the file. An empty source
    is an error, never an empty report. Each file updates its own accumulator and the files'
    accumulators are merged in a fixed tree (groups of `split_every`), exactly as
    `undertow.dask` merges them: the two agree bit for bit.

    Statistics: ``.psi(reference)`` -> PsiReport, ``.embedding(drift, column)`` ->
    EmbeddingDriftReport, ``.pca(column, components)`` / ``.covariance(column)``, and
    ``.accumulate(job)`` for the merged accumulator itself.

    >>> import numpy as np, polars as pl, undertow as ut
    >>> ref = ut.Reference.fit({"x": np.arange(1000.0)}, bins=4)
    >>> ut.scan(pl.LazyFrame({"x": np.arange(1000.0)}), batch_size=128).psi(ref).status
    'stable'
    """
    return Scan(source, columns, batch_size, progress, split_every)
