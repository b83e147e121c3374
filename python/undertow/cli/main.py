"""Command line: `undertow run JOB`, `undertow fit JOB`, `undertow psi REFERENCE CURRENT`,
`undertow embed REFERENCE CURRENT --column C`, `undertow audit INDEX DOCS`, `undertow demo`.

The dispatcher only: each subcommand's module declares its arguments (`add_parser`) and runs it
(`command`, returning the exit code); the work is in `undertow.jobs`. Exit codes are
`undertow.jobs.ExitCode` (docs/jobs.md): 0 ok, 1 warnings under ``--fail-on warn``, 2 drift or
a failed check, 3 a usage error (argparse's included: its own default, 2, would read as drift),
4 an input error, 5 an internal error. Every error is one line on stderr, never a traceback
(``UNDERTOW_TRACEBACK=1`` prints it for an internal error)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any, NoReturn

from undertow.cli import audit, demo, embed, job, psi
from undertow.jobs.exit_codes import ExitCode, JobError

SUBCOMMANDS: dict[str, Any] = {
    "run": job.Run,
    "fit": job.Fit,
    "psi": psi,
    "embed": embed,
    "audit": audit,
    "demo": demo,
}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="undertow", description="Drift you cannot see from the surface.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in SUBCOMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from undertow._core import UndertowError

    args = build_parser().parse_args(argv)
    name = args.command
    try:
        return int(SUBCOMMANDS[name].command(args))
    except JobError as error:
        print(f"undertow {name}: error: {error}", file=sys.stderr)
        return int(error.code)
    except (UndertowError, TypeError, OSError, MemoryError) as error:
        if isinstance(error, BrokenPipeError):  # `undertow psi ... | head`: not an error
            return int(ExitCode.OK)
        print(f"undertow {name}: error: {error}", file=sys.stderr)
        return int(ExitCode.INPUT)
    except KeyboardInterrupt:
        print(f"undertow {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("UNDERTOW_TRACEBACK"):
            traceback.print_exc()
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"undertow {name}: internal error: {type(error).__name__}: {first} (a bug: please report it; "
            "UNDERTOW_TRACEBACK=1 prints the traceback)",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)
