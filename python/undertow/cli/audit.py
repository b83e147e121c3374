"""`undertow audit INDEX DOCS`: audit a faiss index file against its documents table.

Exit code 2 when a check fails (an integrity problem), 0 otherwise (warnings print)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    audit = sub.add_parser(
        "audit", help="audit a faiss index file against its documents table (Parquet or CSV)"
    )
    audit.add_argument("index", help="a faiss index file (opened with faiss's mmap flags)")
    audit.add_argument("docs", help="id, content_hash, embedded_hash, encoder_version, [deleted, ...]")
    audit.add_argument("--encoder-version", default=None, help="the encoder every vector should come from")
    audit.add_argument("-k", type=int, default=10)
    audit.add_argument("--baseline", default=None, help="an earlier audit's JSON (for score_shift)")
    audit.add_argument("--out", default=None, help="write this audit's JSON here (the next --baseline)")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from undertow.audit import audit_index
    from undertow.cli.tables import read_table

    docs = read_table(args.docs)
    baseline = Path(args.baseline).read_text() if args.baseline else None
    report = audit_index(args.index, docs, encoder_version=args.encoder_version, k=args.k, baseline=baseline)
    if args.out:
        Path(args.out).write_text(report.to_json())
    print(report.to_json(indent=2) if args.json else report.summary())
    return 2 if report.status == "fail" else 0
