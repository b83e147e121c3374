"""Vector-store sources for `undertow.scan`: Lance datasets, LanceDB tables and plain iterators
of Arrow record batches (to become ``undertow/stream/sources.py``).

* A ``lance.LanceDataset`` (or a local LanceDB table, through ``table.to_lance()``) is split
  into its fragments (``dataset.get_fragments()``), which are the leaves of the reduction tree
  exactly as Parquet files are: each fragment is read with Lance's own scanner, the projection
  pushed down (``columns=``), in batches of exactly ``batch_size`` rows
  (``strict_batch_size``) but the fragment's last, with a bounded read-ahead. A leaf holds the
  ``LanceFragment``, which pickles with the dataset's URI and manifest (so a version pinned at
  `scan` time), so `undertow.dask` sends one task per fragment as it does per file. The same
  rows split the same way into Parquet files give bit-identical results.
* An iterator or generator of ``pyarrow.RecordBatch`` / ``pyarrow.Table`` is one sequential
  stream (one leaf), turned into a ``pyarrow.RecordBatchReader``; its first item is read at
  `scan` time, for the schema. Like any reader it can be read once: a second statistic over the
  same scan is an error (`Scan` says so), never an empty answer.
* Every stream (record-batch iterators, RecordBatchReaders, ``__arrow_c_stream__`` objects,
  LazyFrames) is re-cut into batches of exactly ``batch_size`` rows (`rebatch`), so its result
  does not depend on how the producer chunked it: it equals that of a Table of the same rows, bit
  for bit. Larger batches are sliced without a copy; only the rows of smaller pieces that are
  joined into one batch are copied (at most one batch).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from undertow._core import UndertowError

# Lance decodes this many batches ahead of the one being counted (its default is 16), as for
# Parquet (stream.BATCH_READAHEAD).
LANCE_READAHEAD = 4
# Lance's I/O read-ahead in bytes (its default is 2 GiB): at least LANCE_IO_BUFFER, and 4 batches.
# Measured on 1e6 x 384 float32 vectors, 4 fragments, batches of 4,096 rows, read alone: 543 MB
# peak with the default, 366 MB with 64 MiB (and faster); one fragment (a quarter of the data)
# 321 MB: Lance's reader keeps a few hundred MB whatever the data size.
LANCE_IO_BUFFER = 64 << 20


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        raise ImportError("undertow.scan needs pyarrow: pip install 'undertow[stream]'") from None
    return pa


# ---------------------------------------------------------------------------------------------
# Lance


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def is_lance_dataset(obj: Any) -> bool:
    """A ``lance.LanceDataset`` (checked by type, without importing lance)."""
    return _module(obj).split(".")[0] == "lance" and type(obj).__name__ == "LanceDataset"


def is_lancedb_table(obj: Any) -> bool:
    """A LanceDB table object (``lancedb.table.LanceTable`` and its kin)."""
    return _module(obj).split(".")[0] == "lancedb" and any(
        cls.__name__.endswith("Table") for cls in type(obj).__mro__
    )


def is_lance_source(obj: Any) -> bool:
    return is_lance_dataset(obj) or is_lancedb_table(obj)


def as_lance_dataset(obj: Any) -> Any:
    """The ``lance.LanceDataset`` of a Lance dataset or a LanceDB table."""
    if is_lance_dataset(obj):
        return obj
    to_lance = getattr(obj, "to_lance", None)
    if to_lance is None:
        raise TypeError(
            f"source: this LanceDB table ({type(obj).__name__}) has no to_lance(): a remote or async "
            "table cannot be streamed by fragments; pass table.to_arrow() batches, or a local table"
        )
    try:
        return to_lance()
    except ImportError:
        raise ImportError(
            "source: a LanceDB table is read through pylance: pip install 'undertow[lance]'"
        ) from None
    except NotImplementedError as exc:
        raise TypeError(f"source: this LanceDB table cannot be opened as a Lance dataset ({exc})") from None


class _LanceOpened:
    """A Lance fragment behind the interface `stream.read_fragment` expects of an opened file."""

    def __init__(self, fragment: Any) -> None:
        self._fragment = fragment

    @property
    def physical_schema(self) -> Any:
        return self._fragment.schema

    def count_rows(self) -> int:
        return int(self._fragment.count_rows())

    def to_batches(
        self, columns: list[str] | None = None, batch_size: int = 65_536, batch_readahead: int = 4, **_: Any
    ) -> Iterator[Any]:
        row_bytes = _row_bytes(self._fragment.schema, columns)
        return self._fragment.to_batches(
            columns=columns,
            batch_size=batch_size,
            batch_readahead=min(batch_readahead, LANCE_READAHEAD),
            io_buffer_size=max(LANCE_IO_BUFFER, 4 * batch_size * row_bytes),
            strict_batch_size=True,
        )


def _row_bytes(schema: Any, columns: list[str] | None) -> int:
    """Bytes of one row of `columns` (fixed-width types exact, 16 for variable-width values)."""
    pa = _pyarrow()
    total = 0
    for name in columns if columns is not None else schema.names:
        kind = schema.field(name).type
        width = 1
        while pa.types.is_fixed_size_list(kind):
            width *= kind.list_size
            kind = kind.value_type
        try:
            total += width * max(1, kind.bit_width // 8)
        except ValueError:  # variable width (strings, lists): a guess
            total += width * 16
    return total


@dataclass(frozen=True)
class LanceFragmentLeaf:
    """One leaf of the reduction tree: one fragment of a Lance dataset (picklable: the fragment
    carries its dataset's URI and manifest)."""

    uri: str
    fragment_id: int
    fragment: Any = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.uri} (Lance fragment {self.fragment_id})"

    def open(self) -> _LanceOpened:
        return _LanceOpened(self.fragment)


def lance_fragments(source: Any) -> list[LanceFragmentLeaf]:
    """The fragments of a Lance dataset or LanceDB table, in the dataset's order (an empty
    dataset is an error)."""
    dataset = as_lance_dataset(source)
    fragments = list(dataset.get_fragments())
    uri = str(getattr(dataset, "uri", "lance dataset"))
    if not fragments:
        raise UndertowError(f"source: the Lance dataset {uri} has no fragments (no rows)")
    return [LanceFragmentLeaf(uri, int(f.fragment_id), f) for f in fragments]


# ---------------------------------------------------------------------------------------------
# Iterators of record batches


def is_batch_iterator(obj: Any) -> bool:
    """An iterator (a generator, ``iter(list)``, ...) rather than a container or a path; an Arrow
    stream (a RecordBatchReader is an iterator too) is read as a stream, through its capsule."""
    return (
        isinstance(obj, Iterator)
        and not isinstance(obj, str | bytes | os.PathLike)
        and not hasattr(obj, "__arrow_c_stream__")
    )


def _as_batches(item: Any, index: int) -> list[Any]:
    pa = _pyarrow()
    if isinstance(item, pa.RecordBatch):
        return [item]
    if isinstance(item, pa.Table):
        return item.to_batches()
    raise TypeError(
        f"source: item {index} of the iterator is a {type(item).__name__}, expected a pyarrow "
        "RecordBatch or Table"
    )


def iterator_reader(source: Iterator[Any]) -> Any:
    """A ``pyarrow.RecordBatchReader`` over an iterator of RecordBatch/Table (its first item is
    read now, for the schema; every later one must have the same schema)."""
    pa = _pyarrow()
    try:
        first = next(source)
    except StopIteration:
        raise UndertowError("source: the iterator of record batches is empty") from None
    _as_batches(first, 0)  # a clear TypeError for a wrong first item
    schema = first.schema

    def batches() -> Iterator[Any]:
        for index, item in enumerate(itertools.chain([first], source)):
            for batch in _as_batches(item, index):
                if not batch.schema.equals(schema):
                    raise UndertowError(
                        f"source: item {index} of the iterator has schema {batch.schema}, "
                        f"the first item {schema}"
                    )
                yield batch

    return pa.RecordBatchReader.from_batches(schema, batches())


# ---------------------------------------------------------------------------------------------
# Re-cutting a stream into batches of exactly batch_size rows


def _concat(pieces: list[Any]) -> Any:
    pa = _pyarrow()
    if hasattr(pa, "concat_batches"):  # pyarrow >= 19
        return pa.concat_batches(pieces)
    return pa.Table.from_batches(pieces).combine_chunks().to_batches()[0]  # pragma: no cover


def rebatch(batches: Iterable[Any], batch_size: int) -> Iterator[Any]:
    """Batches of exactly `batch_size` rows (the last may be smaller) from batches of any sizes:
    slices of a large batch without a copy; small pieces joined (a copy of those rows only).

    >>> import pyarrow as pa
    >>> parts = [pa.record_batch({"x": list(range(n))}) for n in (3, 1, 7, 2)]
    >>> [b.num_rows for b in rebatch(parts, 4)]
    [4, 4, 4, 1]
    """
    pending: list[Any] = []
    rows = 0
    for batch in batches:
        n = batch.num_rows
        start = 0
        if pending and n:
            take = batch.slice(0, batch_size - rows)
            pending.append(take)
            rows += take.num_rows
            start = take.num_rows
            if rows < batch_size:
                continue
            yield _concat(pending)
            pending, rows = [], 0
        while n - start >= batch_size:
            yield batch.slice(start, batch_size)
            start += batch_size
        if start < n:
            pending, rows = [batch.slice(start)], n - start
    if pending:
        yield _concat(pending)


__all__ = [
    "LanceFragmentLeaf",
    "as_lance_dataset",
    "is_batch_iterator",
    "is_lance_source",
    "iterator_reader",
    "lance_fragments",
    "rebatch",
]
