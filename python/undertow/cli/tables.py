"""The tables the subcommands read: CSV by its extension, Parquet otherwise."""

from __future__ import annotations

import polars as pl


def read_table(path: str) -> pl.DataFrame:
    return pl.read_csv(path) if path.endswith(".csv") else pl.read_parquet(path)
