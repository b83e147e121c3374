"""Fragments: the files (or Parquet row groups) of a path source, listed in a fixed order, their
columns checked against the first file's types, and read into one accumulator each (a leaf)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from undertow._core import UndertowError
from undertow.stream.arrow import BATCH_READAHEAD, file_format, parquet_scan_options, require_pyarrow
from undertow.stream.sources import is_lance_source, lance_fragments

DEFAULT_BATCH_SIZE = 65_536


@dataclass(frozen=True)
class Fragment:
    """One leaf of the reduction tree: a file, or some row groups of a Parquet file.

    Holds a path and a (picklable) pyarrow filesystem, so it can be opened on any worker.
    """

    path: str
    filesystem: Any = field(repr=False)
    file_format: str = "parquet"
    row_groups: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        if self.row_groups is None:
            return self.path
        return f"{self.path} (row groups {', '.join(map(str, self.row_groups))})"

    def open(self) -> Any:
        """The pyarrow dataset fragment (reads nothing but, lazily, the footer)."""
        pa = require_pyarrow()
        file_format = (
            pa.dataset.ParquetFileFormat() if self.file_format == "parquet" else pa.dataset.IpcFileFormat()
        )
        if self.row_groups is not None:
            return file_format.make_fragment(
                self.path, filesystem=self.filesystem, row_groups=list(self.row_groups)
            )
        return file_format.make_fragment(self.path, filesystem=self.filesystem)


def _is_hidden(path: str) -> bool:
    return any(part.startswith(("_", ".")) for part in path.replace("\\", "/").split("/") if part)


def list_fragments(paths: Any, by: str = "file") -> list[Fragment]:
    """The files under `paths` (a file, a directory searched recursively, a URI such as
    ``s3://bucket/prefix``, or a list of those), sorted by path within each directory, in the
    order given across entries. Hidden files (``_SUCCESS``, ``.crc``) are skipped. ``by="row_group"``
    splits every Parquet file into one fragment per row group (reads every footer here). A Lance
    dataset or LanceDB table gives one leaf per Lance fragment, whatever `by`."""
    require_pyarrow()
    import pyarrow.fs as pafs

    if by not in ("file", "row_group"):
        raise UndertowError(f'by: must be "file" or "row_group", got {by!r}')
    if is_lance_source(paths):  # a Lance dataset / LanceDB table: one leaf per Lance fragment
        return lance_fragments(paths)  # type: ignore[return-value]
    entries = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not entries:
        raise UndertowError("paths: is empty")
    out: list[Fragment] = []
    for entry in entries:
        if not isinstance(entry, str | os.PathLike):
            raise TypeError(f"paths: expected paths (str or os.PathLike), got {type(entry).__name__}")
        text = os.fspath(entry)
        if "://" not in text:
            text = os.path.abspath(text)
        filesystem, path = pafs.FileSystem.from_uri(text)
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise UndertowError(f"paths: {text} does not exist")
        if info.type == pafs.FileType.Directory:
            found = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
            files = sorted(
                f.path
                for f in found
                if f.type == pafs.FileType.File
                and file_format(f.path)
                and not _is_hidden(os.path.relpath(f.path, path))
            )
            if not files:
                raise UndertowError(f"paths: no Parquet or Arrow files under {text}")
        else:
            files = [path]
        for file in files:
            fmt = file_format(file) or "parquet"
            fragment = Fragment(file, filesystem, fmt)
            if by == "row_group" and fmt == "parquet":
                groups = len(fragment.open().row_groups)
                out.extend(Fragment(file, filesystem, fmt, (g,)) for g in range(groups))
            else:
                out.append(fragment)
    return out


def check_schema(
    physical: Any, columns: Sequence[str], label: str, expected: Mapping[str, Any] | None
) -> None:
    """Every column is in the file, with the type of the first file: else an error naming both."""
    names = physical.names
    for name in columns:
        if name not in names:
            raise UndertowError(f"source: {label} has no column {name!r} (it has {names[:20]})")
        if expected is not None and name in expected and physical.field(name).type != expected[name][0]:
            want, first = expected[name]
            raise UndertowError(
                f"source: column {name!r} is {physical.field(name).type} in {label} "
                f"but {want} in {first} (the schema differs between files)"
            )


def expected_types(fragment: Fragment, columns: Sequence[str]) -> dict[str, Any]:
    """{column: (Arrow type, first file)} from the first fragment's footer."""
    physical = fragment.open().physical_schema
    check_schema(physical, columns, fragment.label, None)
    return {name: (physical.field(name).type, fragment.label) for name in columns}


def read_fragment(
    fragment: Fragment,
    job: Any,
    batch_size: int = DEFAULT_BATCH_SIZE,
    expected: Mapping[str, Any] | None = None,
    on_rows: Callable[[int], None] | None = None,
    start: int = 0,
) -> Any:
    """One leaf: a fresh accumulator updated with every batch of `fragment` (columns checked
    against `expected` first, so a file with a missing or retyped column is named). `start`: the
    position of the leaf's first row in the whole source, for jobs that sample rows by position."""
    opened = fragment.open()
    check_schema(opened.physical_schema, job.columns, fragment.label, expected)
    acc = new_leaf(job, start)
    for batch in _fragment_batches(fragment, opened, list(job.columns), batch_size):
        if batch.num_rows:
            update_job(job, acc, batch, fragment.label)
            if on_rows is not None:
                on_rows(batch.num_rows)
    return acc


def _fragment_batches(fragment: Fragment, opened: Any, columns: list[str], batch_size: int) -> Any:
    """Record batches of one leaf. Vector (list) columns of a Parquet file are read with
    ``ParquetFile.iter_batches`` without pre-buffering: Arrow decodes nested columns with
    per-value level buffers, and its dataset scanner holds whole row groups of them (600 MB for
    25k-row groups of 384-d vectors), while iter_batches holds about 9x one batch (75 MB at 4,096
    rows x 384, 220 MB at 16,384) whatever the file or row-group size."""
    pa = require_pyarrow()
    schema = opened.physical_schema
    nested = any(pa.types.is_list(schema.field(c).type) or pa.types.is_fixed_size_list(schema.field(c).type)
                 for c in columns)  # fmt: skip
    if is_parquet(opened) and nested:
        import pyarrow.parquet as pq

        handle = fragment.filesystem.open_input_file(fragment.path)
        reader = pq.ParquetFile(
            handle, pre_buffer=False, buffer_size=1 << 20, page_checksum_verification=True
        )
        groups = list(fragment.row_groups) if fragment.row_groups is not None else None
        return reader.iter_batches(batch_size=batch_size, row_groups=groups, columns=columns)
    options = {"fragment_scan_options": parquet_scan_options()} if is_parquet(opened) else {}
    return opened.to_batches(
        columns=columns, batch_size=batch_size, batch_readahead=BATCH_READAHEAD, **options
    )


def new_leaf(job: Any, start: int) -> Any:
    """A fresh accumulator of `job`; positional jobs (embedding drift, which samples rows by their
    position in the source) get the global position of the leaf's first row."""
    return job.new(start) if getattr(job, "positional", False) else job.new()


def leaf_starts(job: Any, counts: Any, leaves: int) -> list[int]:
    """The global position of each of the `leaves` leaves' first row: the running sum of the
    leaves' row counts for positional jobs (`counts()` gives them, read from the footers only
    then), else zeros (no footer read: a multi-pass caller such as cohort_balance would pay it
    on every pass)."""
    if not getattr(job, "positional", False):
        return [0] * leaves
    sizes = counts()
    return [int(sum(sizes[:i])) for i in range(len(sizes))]


def is_parquet(fragment: Any) -> bool:
    return type(fragment).__name__ == "ParquetFileFragment"


def update_job(job: Any, acc: Any, batch: Any, label: str) -> None:
    try:
        job.update(acc, batch)
    except UndertowError as exc:
        raise UndertowError(f"{exc} (in {label})") from exc
