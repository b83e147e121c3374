"""Command line: `undertow demo`, `undertow psi REFERENCE CURRENT`."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="undertow", description="Drift you cannot see from the surface.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="a drift report on a small real example shipped with undertow")
    psi = sub.add_parser("psi", help="per-column PSI of a current Parquet/CSV file against a reference file")
    psi.add_argument("reference")
    psi.add_argument("current")
    psi.add_argument("--bins", type=int, default=10)
    psi.add_argument("--binning", default="quantile", choices=["quantile", "uniform"])
    psi.add_argument("--nan-policy", default="raise", choices=["raise", "omit", "bin"])
    psi.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from undertow.demo import run

        run()
        return 0
    import polars as pl

    from undertow.reference import Reference

    def read(path: str) -> pl.DataFrame:
        return pl.read_csv(path) if path.endswith(".csv") else pl.read_parquet(path)

    reference = Reference.fit(
        read(args.reference), bins=args.bins, binning=args.binning, nan_policy=args.nan_policy
    )
    report = reference.psi(read(args.current))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0 if report.status != "significant" else 2


if __name__ == "__main__":
    sys.exit(main())
