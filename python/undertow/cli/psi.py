"""`undertow psi REFERENCE CURRENT`: per-column PSI of a Parquet/CSV file against a reference file.

Exit code 2 when the report's status is "significant", 0 otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    psi = sub.add_parser("psi", help="per-column PSI of a current Parquet/CSV file against a reference file")
    psi.add_argument("reference")
    psi.add_argument("current")
    psi.add_argument("--bins", type=int, default=10)
    psi.add_argument("--binning", default="quantile", choices=["quantile", "uniform"])
    psi.add_argument("--nan-policy", default="raise", choices=["raise", "omit", "bin"])
    psi.add_argument("--json", action="store_true", help="print the report as JSON")


def command(args: argparse.Namespace) -> int:
    import polars as pl

    from undertow._core import UndertowError
    from undertow.cli.tables import read_table
    from undertow.tabular.reference import Reference

    try:
        tables = {}
        for side in ("reference", "current"):
            path = getattr(args, side)
            try:
                tables[side] = read_table(path)
            except (OSError, pl.exceptions.PolarsError, ValueError) as error:
                # a missing file, an unreadable one, a damaged Parquet page (checksum)
                raise UndertowError(f"{side}: could not read {path!r}: {error}") from None
        reference = Reference.fit(
            tables["reference"], bins=args.bins, binning=args.binning, nan_policy=args.nan_policy
        )
        report = reference.psi(tables["current"])
    except (UndertowError, TypeError) as error:
        print(f"undertow psi: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0 if report.status != "significant" else 2
