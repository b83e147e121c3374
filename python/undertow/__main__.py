"""Command line: `undertow demo`, `undertow psi REFERENCE CURRENT`, `undertow audit INDEX DOCS`."""

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
    audit = sub.add_parser(
        "audit", help="audit a faiss index file against its documents table (Parquet or CSV)"
    )
    audit.add_argument("index", help="a faiss index file (read into memory once)")
    audit.add_argument("docs", help="id, content_hash, embedded_hash, encoder_version, [deleted, ...]")
    audit.add_argument("--encoder-version", default=None, help="the encoder every vector should come from")
    audit.add_argument("-k", type=int, default=10)
    audit.add_argument("--baseline", default=None, help="an earlier audit's JSON (for score_shift)")
    audit.add_argument("--out", default=None, help="write this audit's JSON here (the next --baseline)")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.add_argument(
        "--mmap",
        action="store_true",
        help="map the index's IVF lists from the file instead of reading them (less memory; a "
        "rebuild that truncates the file during the audit kills the process with SIGBUS)",
    )
    args = parser.parse_args(argv)

    if args.command == "audit":
        return _audit(args)

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


def _audit(args: argparse.Namespace) -> int:
    """Exit code 2 when a check fails (an integrity problem), 0 otherwise (warnings print); 1 with
    a one-line message naming the argument when an input cannot be read or is refused."""
    from pathlib import Path

    import polars as pl

    from undertow._core import UndertowError
    from undertow.audit import audit_index

    try:
        try:
            # a CSV has no types: read_docs parses ISO dates in embedded_at / updated_at itself
            docs = pl.read_csv(args.docs) if args.docs.endswith(".csv") else pl.read_parquet(args.docs)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise UndertowError(f"docs: could not read {args.docs!r} as CSV or Parquet: {error}") from None
        try:
            baseline = Path(args.baseline).read_text() if args.baseline else None
        except (OSError, UnicodeDecodeError) as error:
            raise UndertowError(f"--baseline: could not read {args.baseline!r}: {error}") from None
        report = audit_index(
            args.index,
            docs,
            encoder_version=args.encoder_version,
            k=args.k,
            baseline=baseline,
            mmap=args.mmap,
        )
        if args.out:
            try:
                Path(args.out).write_text(report.to_json())
            except OSError as error:
                raise UndertowError(f"--out: could not write {args.out!r}: {error}") from None
    except (UndertowError, TypeError, OSError) as error:
        print(f"undertow audit: error: {error}", file=sys.stderr)
        return 1
    print(report.to_json(indent=2) if args.json else report.summary())
    return 2 if report.status == "fail" else 0


if __name__ == "__main__":
    sys.exit(main())
