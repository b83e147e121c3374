"""`undertow run JOB` and `undertow fit JOB`: a job file (docs/jobs.md) run, or its reference
fitted once for the runs to reuse."""

from __future__ import annotations

import argparse
import os
from typing import Any

from undertow.cli.common import add_output_args, finish


class Run:
    @staticmethod
    def add_parser(sub: Any) -> None:
        run = sub.add_parser(
            "run", help="run a job file: PSI, embedding drift, index audit; HTML/JSON/JUnit out"
        )
        run.add_argument("job", help="the job file (TOML, docs/jobs.md)")
        add_output_args(run)

    @staticmethod
    def command(args: argparse.Namespace) -> int:
        from undertow.jobs.runner import run_job
        from undertow.jobs.spec import load_job

        spec = load_job(args.job)
        # the command line's output paths (relative to the working directory) replace the job's
        for name in ("html", "json", "junit"):
            value = getattr(args, name)
            if value is not None and value != "-":
                setattr(spec.outputs, name, os.path.abspath(value))
        if args.fail_on is not None:
            spec.fail_on = args.fail_on
        if args.quiet:
            spec.progress = False
        if args.batch_size != 65_536:
            spec.batch_size = args.batch_size
        return finish(run_job(spec), args)


class Fit:
    @staticmethod
    def add_parser(sub: Any) -> None:
        fit = sub.add_parser("fit", help="fit a job's reference once and write it (its reference_states)")
        fit.add_argument("job", help="the job file (TOML, docs/jobs.md)")
        fit.add_argument("--out", default=None, help="write here instead of the job's reference_states")

    @staticmethod
    def command(args: argparse.Namespace) -> int:
        from undertow.jobs.runner import fit_job
        from undertow.jobs.spec import load_job

        spec = load_job(args.job)
        path = fit_job(spec, os.path.abspath(args.out) if args.out else None)
        print(f"undertow fit: wrote {path}")
        return 0
