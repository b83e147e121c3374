"""`undertow audit INDEX DOCS`: audit a faiss index file against its documents table.

Exit codes (docs/jobs.md): 2 when a check fails, 1 on warnings under ``--fail-on warn`` (else
0); 3/4 with a one-line message naming the argument when the command line or an input is
refused."""

from __future__ import annotations

import argparse
from typing import Any

from undertow.cli.common import add_output_args, outputs, run


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
    audit.add_argument("--fresh", default=None, help="a table of (id, vector) embedded now (fresh_cosine)")
    audit.add_argument("--fresh-ids", default="id", help="its id column")
    audit.add_argument("--fresh-vectors", default="embedding", help="its vector column")
    audit.add_argument("--threshold", action="append", default=None, metavar="CHECK=VALUE",
                       help="override a check's threshold (docs/audit.md), e.g. ann_recall=0.95")  # fmt: skip
    audit.add_argument(
        "--mmap",
        action="store_true",
        help="map the index's IVF lists from the file instead of reading them (less memory; a "
        "rebuild that truncates the file during the audit kills the process with SIGBUS)",
    )
    add_output_args(audit)


def _thresholds(values: list[str] | None) -> dict[str, float]:
    from undertow.jobs.exit_codes import ExitCode, JobError

    out = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise JobError(f"expected CHECK=VALUE, got {item!r}", ExitCode.USAGE, "--threshold")
    return out


def command(args: argparse.Namespace) -> int:
    from undertow.jobs.spec import AuditSpec

    outputs_spec = outputs(args)
    outputs_spec.audit_json = args.out
    return run(
        args,
        outputs_spec,
        audit=AuditSpec(
            index=args.index,
            docs=args.docs,
            fresh=args.fresh,
            fresh_ids=args.fresh_ids,
            fresh_vectors=args.fresh_vectors,
            baseline=args.baseline,
            encoder_version=args.encoder_version,
            k=args.k,
            mmap=args.mmap,
            thresholds=_thresholds(args.threshold),
        ),
    )
