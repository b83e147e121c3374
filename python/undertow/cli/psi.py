"""`undertow psi REFERENCE CURRENT`: per-column PSI of a current Parquet/CSV source against a
reference one (files, directories, as `undertow.scan` takes them; CSV by its suffix), streamed.

Date/time and id-like columns are skipped with a note unless named in ``--columns``;
``--time-column ts --every 1d`` adds PSI per time window. Exit codes: docs/jobs.md."""

from __future__ import annotations

import argparse
from typing import Any

from undertow.cli.common import add_column_args, add_output_args, names, run


def add_parser(sub: Any) -> None:
    psi = sub.add_parser("psi", help="per-column PSI of a current Parquet/CSV source against a reference")
    psi.add_argument("reference", help="Parquet/Arrow file or directory, or a CSV file")
    psi.add_argument("current")
    psi.add_argument("--bins", type=int, default=10)
    psi.add_argument("--binning", default="quantile", choices=["quantile", "uniform"])
    psi.add_argument("--nan-policy", default="raise", choices=["raise", "omit", "bin"])
    psi.add_argument("--categorical", metavar="A,B", action="append", default=None,
                     help="integer columns to treat as categories")  # fmt: skip
    psi.add_argument("--time-column", default=None, help="a date/time column: also PSI per window of it")
    psi.add_argument("--every", default="1d", help="the window length with --time-column (polars duration)")
    psi.add_argument("--min-rows", type=int, default=100, help="windows with fewer rows are not compared")
    add_column_args(psi)
    add_output_args(psi)


def command(args: argparse.Namespace) -> int:
    from undertow.jobs.spec import TabularSpec

    return run(
        args,
        reference=args.reference,
        current=args.current,
        batch_size=args.batch_size,
        tabular=TabularSpec(
            columns=names(args.columns),
            exclude=names(args.exclude) or [],
            categorical=names(args.categorical) or [],
            bins=args.bins,
            binning=args.binning,
            nan_policy=args.nan_policy,
            time_column=args.time_column,
            every=args.every,
            min_rows=args.min_rows,
        ),
    )
