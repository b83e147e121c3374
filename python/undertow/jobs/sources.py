"""The sources a job reads: streamed ones (``undertow.scan``) for the reference and current
data, whole tables for the audit's documents and fresh vectors.

* A path ending in ``.csv`` (or a list of them) is scanned lazily by polars
  (``pl.scan_csv(..., try_parse_dates=True)``, so an ISO timestamp column is a datetime, which
  PSI then skips, not a string with one category per row); anything else goes to
  ``undertow.scan`` as it is (Parquet/Arrow files, directories, lists of paths, URIs).
* Whole tables (`read_table`): CSV by its extension, Parquet otherwise, with Parquet page
  checksums verified (see `undertow.stream.arrow.parquet_scan_options`): a damaged data page is
  an error, not data. Files written without page checksums cannot be checked.
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl

from undertow._core import UndertowError


def _is_csv(source: Any) -> bool:
    paths = source if isinstance(source, list) else [source]
    return all(isinstance(p, str) and p.lower().endswith(".csv") for p in paths)


def open_scan(source: Any, batch_size: int, progress: bool | None) -> Any:
    """An `undertow.scan` of `source`; a missing path is an error naming it."""
    from undertow.stream.scan import scan

    paths = source if isinstance(source, list) else [source]
    for path in paths:
        if isinstance(path, str) and "://" not in path and not os.path.exists(path):
            raise UndertowError(f"{path!r} does not exist")
    if _is_csv(source):
        return scan(pl.scan_csv(source, try_parse_dates=True), batch_size=batch_size, progress=progress)
    return scan(source, batch_size=batch_size, progress=progress)


def read_columns(source: Any, columns: list[str], batch_size: int) -> pl.DataFrame:
    """`columns` of `source`, read whole (the reference side of a fit: quantile edges need
    every value of a column)."""
    import pyarrow as pa

    from undertow.stream.scan import scan

    if _is_csv(source):
        return pl.scan_csv(source, try_parse_dates=True).select(columns).collect()
    scanned = scan(source, columns, batch_size=batch_size, progress=False)
    fragments = scanned.fragments
    if fragments is None:
        batches = list(scanned.batches())
    else:  # files: every footer checked first, pages read with their checksums verified
        from undertow.stream.arrow import parquet_scan_options
        from undertow.stream.fragments import check_schema, expected_types

        expected = expected_types(fragments[0], columns)
        handles = []
        for fragment in fragments:
            handle = fragment.open()
            check_schema(handle.physical_schema, columns, fragment.label, expected)
            handles.append((fragment, handle))
        batches = []
        for fragment, handle in handles:
            options = (
                {"fragment_scan_options": parquet_scan_options()} if fragment.file_format == "parquet" else {}
            )
            batches += handle.to_batches(columns=columns, batch_size=batch_size, **options)
    if not batches or not sum(b.num_rows for b in batches):
        raise UndertowError("has no rows")
    return pl.from_arrow(pa.Table.from_batches(batches).select(columns))  # type: ignore[return-value]


def read_table(path: str) -> pl.DataFrame:
    if not os.path.exists(path):
        raise UndertowError(f"{path!r} does not exist")
    if path.lower().endswith(".csv"):
        return pl.read_csv(path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except pa.ArrowException as error:
        if isinstance(error, OSError):
            raise
        raise OSError(f"not a readable Parquet file: {error}") from None  # ArrowInvalid is a ValueError
    return pl.from_arrow(table)  # type: ignore[return-value]
