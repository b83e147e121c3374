"""`undertow audit INDEX DOCS`: audit a faiss index file against its documents table.

Exit code 2 when a check fails (an integrity problem), 0 otherwise (warnings print); 1 with a
one-line message naming the argument when an input cannot be read or is refused."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
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


def command(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import polars as pl

    from undertow._core import UndertowError
    from undertow.audit import audit_index
    from undertow.cli.tables import read_table

    try:
        try:
            # a CSV has no types: read_docs parses ISO dates in embedded_at / updated_at itself
            docs = read_table(args.docs)
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
