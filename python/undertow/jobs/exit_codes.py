"""The exit codes of every subcommand, defined once (docs/jobs.md lists them), and JobError,
the one error the command line turns into a message and a code."""

from __future__ import annotations

from enum import IntEnum

from undertow._core import UndertowError


class ExitCode(IntEnum):
    """0 all stable/ok; 1 warnings only (only under ``--fail-on warn``, else 0); 2 drift or a
    failed check; 3 a usage error (the command line or the job file: an unknown key, a wrong
    type, a bad value); 4 an input error (a source, column, index, reference file or output that
    cannot be read, written or used); 5 an internal error (a bug: please report it)."""

    OK = 0
    WARN = 1
    DRIFT = 2
    USAGE = 3
    INPUT = 4
    INTERNAL = 5


class JobError(UndertowError):
    """A refusal with its exit code and, for a job file, the key at fault and its line.

    ``str(error)`` is the whole one-line message: ``job.toml:12: tabular.columns: ...``."""

    def __init__(
        self, message: str, code: ExitCode = ExitCode.INPUT, key: str | None = None, where: str | None = None
    ) -> None:
        self.code = ExitCode(code)
        self.key = key
        self.where = where
        self.detail = message
        prefix = f"{where}: " if where else ""
        keyed = f"{key}: " if key and not message.startswith(f"{key}:") else ""
        super().__init__(f"{prefix}{keyed}{message}")
