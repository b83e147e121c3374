"""The job file: TOML, parsed with the standard library (``tomllib``; ``tomli`` on Python 3.10)
and validated strictly before anything is read.

Why TOML rather than YAML: it is in the standard library (no dependency, no version drift),
it has one way to write each value (YAML reads ``no`` as false, ``1e3`` as a string and
``2026-01-01`` as a date depending on the version), and it is what pyproject.toml already taught
every Python user. Every key is known: an unknown key, a value of the wrong type or out of range
is a `JobError` (exit 3) naming the key and its line, never a traceback and never ignored.

Relative paths in a job file are relative to the job file's directory, so a job runs the same
from any working directory. The reference of the keys is docs/jobs.md.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from undertow.jobs.exit_codes import ExitCode, JobError
from undertow.jobs.toml_lines import Path, key_lines, line_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

FAIL_ON = ("drift", "warn")


@dataclass
class TabularSpec:
    columns: list[str] | None = None  # None: every usable column (datetime, id-like skipped)
    exclude: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    bins: int = 10
    binning: str = "quantile"
    nan_policy: str = "raise"
    thresholds: tuple[float, float] = (0.1, 0.25)
    time_column: str | None = None  # windows (the shell's --time-column): PSI per window
    every: str = "1d"
    min_rows: int = 100


@dataclass
class EmbeddingSpec:
    columns: list[str] = field(default_factory=list)
    components: int = 32
    sample: int = 5000  # as EmbeddingDrift.fit
    permutations: int = 200
    alpha: float = 0.05
    seed: int = 0


@dataclass
class AuditSpec:
    index: str = ""
    docs: str = ""
    column: str | None = None  # the embedding column the index holds: its width must match
    fresh: str | None = None  # a table of (id, vector) embedded now
    fresh_ids: str = "id"
    fresh_vectors: str | None = None  # default: `column`, else "embedding"
    baseline: str | None = None  # an earlier audit's JSON (outputs.audit_json of the last run)
    encoder_version: str | None = None
    k: int = 10
    query_sample: int = 500
    seed: int = 0
    mmap: bool = False
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass
class OutputsSpec:
    dir: str = "."
    html: str | None = "report.html"
    json: str | None = "report.json"
    junit: str | None = "junit.xml"
    audit_json: str | None = None  # this audit's own JSON: the next run's audit.baseline


@dataclass
class JobSpec:
    """A validated job. `where(key)` / `error(key, ...)` name a key as the user wrote it: the job
    file and line, or the command-line flag (`names`)."""

    reference: Any = None
    current: Any = None
    reference_states: str | None = None
    title: str | None = None
    batch_size: int = 65_536
    fail_on: str = "drift"
    progress: bool | None = None
    tabular: TabularSpec | None = None
    embedding: EmbeddingSpec | None = None
    audit: AuditSpec | None = None
    outputs: OutputsSpec = field(default_factory=OutputsSpec)
    source: str | None = None  # the job file
    lines: dict[Path, int] = field(default_factory=dict, repr=False)
    names: dict[str, str] = field(default_factory=dict, repr=False)  # key -> flag (command line)

    def where(self, key: str) -> str | None:
        if self.source is None:
            return None
        line = line_of(self.lines, tuple(key.split(".")))
        return f"{self.source}:{line}" if line else self.source

    def error(self, key: str, message: str, code: ExitCode = ExitCode.INPUT) -> JobError:
        return JobError(message, code, self.names.get(key, key), self.where(key))


# -- validation -------------------------------------------------------------------------------

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "an array", dict: "a table"}  # fmt: skip


def _type_name(value: Any) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return f"{name} ({value!r:.40})" if kind is not dict else name
    return type(value).__name__


class _Checker:
    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec

    def fail(self, key: str, message: str) -> JobError:
        return self.spec.error(key, message, ExitCode.USAGE)

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_type_name(value)}")
        if not value:
            raise self.fail(key, "is empty")
        return value

    def output(self, key: str, value: Any) -> str | None:
        if value is False:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a file name, or false for none, got {_type_name(value)}")
        return value

    def strings(self, key: str, value: Any, allow_empty: bool = False) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"expected an array of names, got {_type_name(value)}")
        if not value and not allow_empty:
            raise self.fail(key, "is empty")
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise self.fail(key, f"names {repeated} more than once")
        return list(value)

    def sources(self, key: str, value: Any) -> str | list[str]:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
        raise self.fail(key, f"expected a path or an array of paths, got {_type_name(value)}")

    def integer(self, key: str, value: Any, low: int, high: int | None = None) -> int:
        if type(value) is not int:
            raise self.fail(key, f"expected an integer, got {_type_name(value)}")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise self.fail(key, f"must be {bound}, got {value}")
        return value

    def number(self, key: str, value: Any, low: float, high: float, open_low: bool = True) -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise self.fail(key, f"expected a number, got {_type_name(value)}")
        if value < low or value > high or (open_low and value == low):
            raise self.fail(key, f"must be in {'(' if open_low else '['}{low}, {high}], got {value}")
        return float(value)

    def boolean(self, key: str, value: Any) -> bool:
        if type(value) is not bool:
            raise self.fail(key, f"expected true or false, got {_type_name(value)}")
        return value

    def choice(self, key: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices or not isinstance(value, str):
            raise self.fail(key, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r:.40}")
        return value

    def table(
        self, key: str, value: Any, handlers: Mapping[str, Callable[[str, Any], Any]]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table ([{key}]), got {_type_name(value)}")
        out = {}
        for name, item in value.items():
            full = f"{key}.{name}" if key else name
            if name not in handlers:
                raise self.fail(full, f"unknown key (known keys: {', '.join(handlers)})")
            out[name] = handlers[name](full, item)
        return out


def _tabular(c: _Checker, key: str, value: Any) -> TabularSpec:
    fields = c.table(
        key,
        value,
        {
            "columns": lambda k, v: c.strings(k, v),
            "exclude": lambda k, v: c.strings(k, v, allow_empty=True),
            "categorical": lambda k, v: c.strings(k, v, allow_empty=True),
            "bins": lambda k, v: c.integer(k, v, 2, 1_000_000),
            "binning": lambda k, v: c.choice(k, v, ("quantile", "uniform")),
            "nan_policy": lambda k, v: c.choice(k, v, ("raise", "omit", "bin")),
            "thresholds": lambda k, v: _thresholds(c, k, v),
            "time_column": c.string,
            "every": c.string,
            "min_rows": lambda k, v: c.integer(k, v, 1),
        },
    )
    return TabularSpec(**fields)


def _thresholds(c: _Checker, key: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise c.fail(key, f"expected [moderate, significant], got {_type_name(value)}")
    moderate = c.number(key, value[0], 0.0, math.inf)
    significant = c.number(key, value[1], 0.0, math.inf)
    if not moderate < significant:
        raise c.fail(key, f"moderate ({moderate}) must be below significant ({significant})")
    return moderate, significant


def _embedding(c: _Checker, key: str, value: Any) -> EmbeddingSpec:
    fields = c.table(
        key,
        value,
        {
            "columns": lambda k, v: c.strings(k, v),
            "components": lambda k, v: c.integer(k, v, 1, 4096),
            "sample": lambda k, v: c.integer(k, v, 2, 1_000_000),
            "permutations": lambda k, v: c.integer(k, v, 1, 100_000),
            "alpha": lambda k, v: c.number(k, v, 0.0, 1.0),
            "seed": lambda k, v: c.integer(k, v, 0, 2**63 - 1),
        },
    )
    if "columns" not in fields:
        raise c.fail(f"{key}.columns", "is required: the vector column(s) to compare")
    return EmbeddingSpec(**fields)


def _audit(c: _Checker, key: str, value: Any) -> AuditSpec:
    fields = c.table(
        key,
        value,
        {
            "index": c.string,
            "docs": c.string,
            "column": c.string,
            "fresh": c.string,
            "fresh_ids": c.string,
            "fresh_vectors": c.string,
            "baseline": c.string,
            "encoder_version": c.string,
            "k": lambda k, v: c.integer(k, v, 1, 1024),
            "query_sample": lambda k, v: c.integer(k, v, 1, 10_000_000),
            "seed": lambda k, v: c.integer(k, v, 0, 2**63 - 1),
            "mmap": c.boolean,
            "thresholds": lambda k, v: _audit_thresholds(c, k, v),
        },
    )
    for required in ("index", "docs"):
        if required not in fields:
            raise c.fail(f"{key}.{required}", "is required")
    return AuditSpec(**fields)


def _audit_thresholds(c: _Checker, key: str, value: Any) -> dict[str, float]:
    from undertow.audit import DEFAULT_THRESHOLDS

    if not isinstance(value, dict):
        raise c.fail(key, f"expected a table of check thresholds, got {_type_name(value)}")
    out = {}
    for name, item in value.items():
        if name not in DEFAULT_THRESHOLDS:
            raise c.fail(f"{key}.{name}", f"unknown check threshold (known: {', '.join(DEFAULT_THRESHOLDS)})")
        if type(item) not in (int, float) or not math.isfinite(item):
            raise c.fail(f"{key}.{name}", f"expected a number, got {_type_name(item)}")
        out[name] = float(item)
    return out


def _outputs(c: _Checker, key: str, value: Any) -> OutputsSpec:
    fields = c.table(
        key,
        value,
        {
            "dir": c.string,
            "html": c.output,
            "json": c.output,
            "junit": c.output,
            "audit_json": c.output,
        },
    )
    return OutputsSpec(**fields)


def parse_job(text: str, source: str = "job.toml") -> JobSpec:
    """A validated JobSpec from the text of a job file (`source` names it in messages)."""
    spec = JobSpec(source=source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line 3, column 7)"
        raise JobError(f"not valid TOML: {error}", ExitCode.USAGE, where=source) from None
    spec.lines = key_lines(text)
    c = _Checker(spec)
    fields = c.table(
        "",
        data,
        {
            "title": c.string,
            "reference": c.sources,
            "current": c.sources,
            "reference_states": c.string,
            "batch_size": lambda k, v: c.integer(k, v, 1, 1 << 26),
            "fail_on": lambda k, v: c.choice(k, v, FAIL_ON),
            "progress": c.boolean,
            "tabular": lambda k, v: _tabular(c, k, v),
            "embedding": lambda k, v: _embedding(c, k, v),
            "audit": lambda k, v: _audit(c, k, v),
            "outputs": lambda k, v: _outputs(c, k, v),
        },
    )
    for name, item in fields.items():
        setattr(spec, name, item)
    if spec.tabular is None and spec.embedding is None and spec.audit is None:
        spec.tabular = TabularSpec()  # a job naming only the sources: PSI of their columns
    if spec.tabular is not None or spec.embedding is not None:
        for side in ("reference", "current"):
            if getattr(spec, side) is None and not (side == "reference" and spec.reference_states):
                raise c.fail(side, "is required (the Parquet file(s) or directory to compare)")
    base = os.path.dirname(os.path.abspath(source))
    resolve_paths(spec, base)
    return spec


def resolve_paths(spec: JobSpec, base: str) -> None:
    """Relative paths of the job, made relative to `base` (the job file's directory)."""

    def at(path: str | None) -> str | None:
        if path is None or "://" in path or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(base, path))

    for side in ("reference", "current"):
        value = getattr(spec, side)
        if isinstance(value, str):
            setattr(spec, side, at(value))
        elif isinstance(value, list):
            setattr(spec, side, [at(v) for v in value])
    spec.reference_states = at(spec.reference_states)
    if spec.audit is not None:
        a = spec.audit
        a.index, a.docs = at(a.index) or "", at(a.docs) or ""
        a.fresh, a.baseline = at(a.fresh), at(a.baseline)
    spec.outputs.dir = at(spec.outputs.dir) or base


def load_job(path: str | os.PathLike[str]) -> JobSpec:
    """Reads and validates a job file; a `JobError` (exit 3, or 4 when unreadable) otherwise."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise JobError(
            f"cannot read the job file: {error.strerror or error}", ExitCode.INPUT, where=name
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JobError(f"not UTF-8 text ({error})", ExitCode.USAGE, where=name) from None
    return parse_job(text, name)
