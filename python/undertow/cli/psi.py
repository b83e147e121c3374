"""`undertow psi REFERENCE CURRENT`: per-column PSI of a Parquet/CSV file against a reference file.

Exit code 2 when the report's status is "significant", 0 otherwise."""

from __future__ import annotations

import argparse
import json
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
    from undertow.cli.tables import read_table
    from undertow.tabular.reference import Reference

    reference = Reference.fit(
        read_table(args.reference), bins=args.bins, binning=args.binning, nan_policy=args.nan_policy
    )
    report = reference.psi(read_table(args.current))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0 if report.status != "significant" else 2
