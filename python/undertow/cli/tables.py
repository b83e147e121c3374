"""The tables the subcommands read: CSV by its extension, Parquet otherwise.

Parquet pages are checked against their checksums (see `undertow.stream.arrow.parquet_scan_options`):
a damaged data page is an error, not data. Files written without page checksums cannot be checked.
"""

from __future__ import annotations

import polars as pl


def read_table(path: str) -> pl.DataFrame:
    if path.endswith(".csv"):
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
