"""The options every reporting subcommand shares (outputs, gate, columns), and the step from
them to a JobSpec, printed output and an exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from undertow.jobs.spec import FAIL_ON, OutputsSpec


def add_output_args(parser: Any) -> None:
    group = parser.add_argument_group("outputs and gate")
    group.add_argument("--html", metavar="PATH", default=None, help="write the HTML report here")
    group.add_argument(
        "--json",
        metavar="PATH",
        nargs="?",
        const="-",
        default=None,
        help="write the JSON report (docs/jobs.md) here; without PATH (or -) print it instead of the summary",
    )
    group.add_argument(
        "--junit", metavar="PATH", default=None, help="write a JUnit XML file (one test per check)"
    )
    group.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default=None,
        help="exit 2 on drift (default), or also exit 1 on warnings alone (warn)",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument(
        "--batch-size", type=int, default=65_536, help="rows per streamed batch (memory bound)"
    )


def add_column_args(parser: Any) -> None:
    group = parser.add_argument_group("columns")
    group.add_argument(
        "--columns", metavar="A,B", action="append", default=None, help="compare only these columns"
    )
    group.add_argument(
        "--exclude", metavar="A,B", action="append", default=None, help="leave these columns out"
    )


def names(values: list[str] | None) -> list[str] | None:
    """`--columns a,b --columns c` -> ["a", "b", "c"]."""
    if values is None:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def outputs(args: argparse.Namespace) -> OutputsSpec:
    return OutputsSpec(
        dir=".", html=args.html, json=None if args.json in (None, "-") else args.json, junit=args.junit
    )


FLAG_NAMES = {
    "tabular.columns": "--columns",
    "tabular.exclude": "--exclude",
    "tabular.categorical": "--categorical",
    "tabular.bins": "--bins",
    "tabular.time_column": "--time-column",
    "tabular.every": "--every",
    "embedding.columns": "--column",
    "outputs.html": "--html",
    "outputs.json": "--json",
    "outputs.junit": "--junit",
    "outputs.audit_json": "--out",
    "outputs.dir": "output",
    "audit.index": "index",
    "audit.docs": "docs",
    "audit.baseline": "--baseline",
    "audit.fresh": "--fresh",
    "audit.fresh_ids": "--fresh-ids",
    "audit.fresh_vectors": "--fresh-vectors",
    "audit.thresholds": "--threshold",
    "audit.k": "-k",
    "audit": "audit",
    "batch_size": "--batch-size",
}


def finish(result: Any, args: argparse.Namespace) -> int:
    """Prints the JSON document (``--json`` without a path) or the summary; returns the code."""
    from undertow.jobs.report_json import dumps
    from undertow.jobs.text import summary

    if args.json == "-":
        print(dumps(result.document, indent=2))
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        print(summary(result.sections, result.status, int(result.exit_code), result.notes))
    return int(result.exit_code)


def run(args: argparse.Namespace, outputs_spec: OutputsSpec | None = None, **fields: Any) -> int:
    """Runs the job of a reporting subcommand (psi, embed, audit): the JobSpec of its own
    `fields` (sources, a tabular/embedding/audit section) and of the options they all share
    (--fail-on, --quiet, the outputs, the flag names for errors); prints and returns the code."""
    from undertow.jobs.runner import run_job
    from undertow.jobs.spec import JobSpec

    spec = JobSpec(
        fail_on=args.fail_on or "drift",
        progress=False if args.quiet else None,
        outputs=outputs(args) if outputs_spec is None else outputs_spec,
        names=FLAG_NAMES,
        **fields,
    )
    return finish(run_job(spec), args)
