"""`fit_job` and `run_job`: a validated JobSpec in, reports and outputs out.

Order of work, so that a bad input fails in seconds and before any output exists: the output
paths are checked (made, written to once), every source is opened and its schema read, the
columns are resolved against it, the faiss index's dimension is compared with the embedding
column; only then is data read. The reference side is read whole per section (quantile edges
and a PCA need every value) unless a fitted reference file (``reference_states``) is reused;
the current side is streamed, batch by batch (``undertow.scan``: memory bounded by
``batch_size``, a progress bar on a terminal). Windows (``time_column``) read the current
side's columns whole (polars' group_by_dynamic).

Every refusal is a `JobError` naming the key at fault (and its line in the job file).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from undertow._core import UndertowError
from undertow.jobs.columns import drop_id_like, tabular_columns, vector_columns
from undertow.jobs.exit_codes import ExitCode, JobError
from undertow.jobs.outputs import preflight, write_all
from undertow.jobs.report_json import document, dumps
from undertow.jobs.sections import Section, audit_section, embedding_section, psi_section, windows_section
from undertow.jobs.sources import open_scan, read_columns, read_table
from undertow.jobs.spec import JobSpec
from undertow.jobs.states import JobReference


@dataclass
class JobResult:
    """What a run found: its sections, notes, the report.json document and the exit code."""

    sections: list[Section]
    notes: list[str]
    status: str
    exit_code: ExitCode
    document: dict[str, Any]
    written: dict[str, str] = field(default_factory=dict)  # output key -> path


# ValueError: a bad input file (a UnicodeDecodeError, a JSON error) is an input error too
_REFUSALS = (ValueError, TypeError, OSError, pl.exceptions.PolarsError)


@contextlib.contextmanager
def blame(spec: JobSpec, key: str, prefixes: dict[str, str] | None = None) -> Iterator[None]:
    """Errors inside become a JobError naming `key` (or, when the message starts with one of
    `prefixes`' argument names, that argument's key), with the line in the job file."""
    try:
        yield
    except JobError:
        raise
    except (*_REFUSALS, _arrow_error()) as error:
        message = _message(error)
        for argument, sub_key in (prefixes or {}).items():
            if message.startswith(f"{argument}:"):
                key, message = sub_key, message[len(argument) + 1 :].strip()
                break
        raise spec.error(key, message) from None


def _arrow_error() -> type[BaseException]:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        return UndertowError
    return pa.ArrowException  # type: ignore[no-any-return]


def _message(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"{error.filename!r} does not exist"
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename!r}: {error.strerror}"
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text


# -- fitting ----------------------------------------------------------------------------------


def _settings(spec: JobSpec) -> dict[str, Any]:
    """What a fitted reference depends on: a reference file fitted under other settings is
    refused by `run` (the job changed since the fit)."""
    out: dict[str, Any] = {}
    if spec.tabular is not None:
        t = asdict(spec.tabular)
        out["tabular"] = {
            k: t[k] for k in ("columns", "exclude", "categorical", "bins", "binning", "nan_policy")
        }
        out["tabular"]["thresholds"] = list(spec.tabular.thresholds)
        out["tabular"]["time_column"] = spec.tabular.time_column
    if spec.embedding is not None:
        out["embedding"] = asdict(spec.embedding)
    return out


def _fit(spec: JobSpec) -> JobReference:
    from undertow.embedding.drift import EmbeddingDrift
    from undertow.tabular.reference import Reference

    with blame(spec, "reference"):
        reference = open_scan(spec.reference, spec.batch_size, spec.progress)
        schema = reference.schema()
    out = JobReference(settings=_settings(spec))
    embedding_columns = spec.embedding.columns if spec.embedding is not None else []
    if spec.tabular is not None:
        t = spec.tabular
        key = "tabular.columns" if t.columns is not None else "reference"
        with blame(spec, "tabular.exclude" if t.exclude and t.columns is None else key):
            columns, notes = tabular_columns(schema, t, embedding_columns)
        if columns:
            with blame(spec, "reference"):
                table = read_columns(spec.reference, columns, spec.batch_size)
            columns, more = drop_id_like(table, columns, explicit=t.columns is not None)
            notes += more
        if not columns:
            raise spec.error(key, f"no column to compare ({'; '.join(notes) or 'the source has none'})")
        missing = [c for c in t.categorical if c not in columns]
        if missing:
            raise spec.error(
                "tabular.categorical", f"{missing} are not among the compared columns {columns[:20]}"
            )
        with blame(spec, "reference", {"table": "reference", "bins": "tabular.bins"}):
            out.tabular = Reference.fit(
                table.select(columns),
                bins=t.bins,
                binning=t.binning,
                categorical=t.categorical or None,
                nan_policy=t.nan_policy,
                thresholds=t.thresholds,
            )
        out.notes = notes
        del table
    if spec.embedding is not None:
        e = spec.embedding
        present = set(schema.names)
        for column in e.columns:
            if column not in present:
                raise spec.error(
                    "embedding.columns", f"{column!r} is not a column of the reference ({schema.names[:20]})"
                )
            if column not in vector_columns(schema):
                raise spec.error(
                    "embedding.columns", f"{column!r} has type {schema.field(column).type}, not vectors"
                )
            with blame(spec, "reference"):
                vectors = read_columns(spec.reference, [column], spec.batch_size).get_column(column)
            with blame(spec, "reference", {"reference": "reference"}):
                from undertow._inputs import as_matrix

                matrix = as_matrix(vectors, f"reference column {column!r}", min_rows=4)
                del vectors
                components = min(e.components, matrix.shape[1])
                if components < e.components:
                    out.notes.append(
                        f"{column!r}: {components} PCA components (the vectors' width), not {e.components}"
                    )
                out.embeddings[column] = EmbeddingDrift.fit(
                    matrix,
                    components=components,
                    sample=e.sample,
                    seed=e.seed,
                    permutations=e.permutations,
                    alpha=e.alpha,
                )
            del matrix
    return out


def fit_job(spec: JobSpec, path: str | None = None) -> str:
    """Fits the job's reference states and writes them to `path` (default: the job's
    ``reference_states``); returns the path."""
    target = path or spec.reference_states
    if target is None:
        raise spec.error(
            "reference_states", "is required to fit (where to write the fitted reference)", ExitCode.USAGE
        )
    if spec.tabular is None and spec.embedding is None:
        raise spec.error(
            "tabular", "nothing to fit: the job has no [tabular] or [embedding] section", ExitCode.USAGE
        )
    if spec.reference is None:
        raise spec.error("reference", "is required to fit", ExitCode.USAGE)
    with blame(spec, "reference_states"):
        preflight(target)
    fitted = _fit(spec)
    with blame(spec, "reference_states"):
        write_all({"reference_states": (target, fitted.to_bytes())})
    return target


def _load_states(spec: JobSpec) -> JobReference:
    path = spec.reference_states or ""
    if not os.path.exists(path):
        raise spec.error("reference_states", f"{path!r} does not exist; run `undertow fit` on the job first")
    with blame(spec, "reference_states"):
        with open(path, "rb") as handle:
            fitted = JobReference.from_bytes(handle.read())
    wanted = _settings(spec)
    for part in ("tabular", "embedding"):
        if fitted.settings.get(part) != wanted.get(part):
            raise spec.error(
                "reference_states",
                f"was fitted with other [{part}] settings ({fitted.settings.get(part)} vs the job's "
                f"{wanted.get(part)}); run `undertow fit` on the job again",
            )
    return fitted


# -- running ----------------------------------------------------------------------------------


def _output_paths(spec: JobSpec) -> dict[str, str]:
    o = spec.outputs
    out = {}
    for name in ("html", "json", "junit", "audit_json"):
        value = getattr(o, name)
        if value is not None:
            out[f"outputs.{name}"] = value if os.path.isabs(value) else os.path.join(o.dir, value)
    if "outputs.audit_json" in out and spec.audit is None:
        raise spec.error("outputs.audit_json", "the job has no [audit] section", ExitCode.USAGE)
    return out


def _check_current(spec: JobSpec, current_schema: Any, fitted: JobReference) -> None:
    names = set(current_schema.names)
    if fitted.tabular is not None:
        missing = [c for c in fitted.tabular.columns if c not in names]
        if missing:
            key = "tabular.columns" if spec.tabular is not None and spec.tabular.columns else "current"
            raise spec.error(
                key, f"{missing} are missing from the current source (it has {current_schema.names[:20]})"
            )
    for column in fitted.embeddings:
        if column not in names:
            raise spec.error("embedding.columns", f"{column!r} is missing from the current source")


def _audit(spec: JobSpec, fitted: JobReference, current_schema: Any) -> Section:
    from undertow._inputs import as_matrix
    from undertow.audit import AuditReport, audit_index
    from undertow.audit._index import _faiss

    a = spec.audit
    assert a is not None
    with blame(spec, "audit.index"):
        if not os.path.isfile(a.index):
            raise UndertowError(f"{a.index!r} does not exist")
        faiss = _faiss()
        try:
            index = faiss.read_index(a.index, faiss.IO_FLAG_MMAP) if a.mmap else faiss.read_index(a.index)
        except RuntimeError as error:
            raise UndertowError(f"faiss cannot read {a.index!r}: {str(error).splitlines()[0]}") from None
    column = a.column
    if column is None and len(fitted.embeddings) == 1:
        column = next(iter(fitted.embeddings))
    if column is not None:
        if column in fitted.embeddings:
            width = fitted.embeddings[column].dim
        else:
            from undertow.stream.arrow import vector_dim

            if current_schema is None or column not in current_schema.names:
                raise spec.error("audit.column", f"{column!r} is not a column of the current source")
            width = vector_dim(current_schema.field(column).type, column)
        if width is not None and width != index.d:
            raise spec.error(
                "audit.index",
                f"holds {index.d}-dimensional vectors, the embedding column {column!r} {width}-dimensional",
            )
    with blame(spec, "audit.docs"):
        docs = read_table(a.docs)
    fresh = None
    if a.fresh is not None:
        with blame(spec, "audit.fresh"):
            table = read_table(a.fresh)
        vectors_column = a.fresh_vectors or column or "embedding"
        for key, name in (("audit.fresh_ids", a.fresh_ids), ("audit.fresh_vectors", vectors_column)):
            if name not in table.columns:
                raise spec.error(key, f"{name!r} is not a column of {a.fresh!r} ({table.columns[:20]})")
        with blame(spec, "audit.fresh"):
            fresh = (
                table.get_column(a.fresh_ids).to_numpy(),
                as_matrix(table.get_column(vectors_column), "fresh: vectors", min_rows=1),
            )
    baseline = None
    if a.baseline is not None:
        with blame(spec, "audit.baseline"):
            with open(a.baseline, encoding="utf-8") as handle:
                baseline = AuditReport.from_json(handle.read())
    prefixes = {
        "baseline": "audit.baseline",
        "fresh": "audit.fresh",
        "docs": "audit.docs",
        "index": "audit.index",
        "thresholds": "audit.thresholds",
        "k": "audit.k",
    }
    with blame(spec, "audit", prefixes):
        report = audit_index(
            index,
            docs,
            encoder_version=a.encoder_version,
            fresh=fresh,
            k=a.k,
            baseline=baseline,
            thresholds=a.thresholds or None,
            query_sample=a.query_sample,
            seed=a.seed,
        )
    return audit_section(report)


def _windows(spec: JobSpec, fitted: JobReference) -> Section:
    from undertow.windows import drift_over

    t = spec.tabular
    assert t is not None and t.time_column is not None and fitted.tabular is not None
    columns = [*fitted.tabular.columns, t.time_column]
    with blame(spec, "current"):
        frame = read_columns(spec.current, columns, spec.batch_size)
    dtype = frame.schema[t.time_column]
    if not (dtype.is_temporal() or dtype.is_integer()):
        raise spec.error(
            "tabular.time_column", f"{t.time_column!r} is {dtype}, not a date/time or integer column"
        )
    with blame(
        spec, "tabular", {"every": "tabular.every", "time_column": "tabular.time_column", "frame": "current"}
    ):
        result = drift_over(frame, fitted.tabular, t.time_column, every=t.every, min_rows=t.min_rows)
    return windows_section(result, fitted.tabular.columns, t.time_column, t.every)


def run_job(spec: JobSpec) -> JobResult:
    """Runs the job: the reports, report.json / JUnit / HTML written (all or none), the code."""
    started = time.perf_counter()
    outputs = _output_paths(spec)
    for key, path in outputs.items():
        # a file named relative to outputs.dir: a directory problem is that key's
        in_dir = os.path.dirname(os.path.abspath(path)) == os.path.abspath(spec.outputs.dir)
        with blame(spec, "outputs.dir" if in_dir and spec.source is not None else key):
            preflight(path)
    if "outputs.html" in outputs:
        from undertow.jobs.html import html_available

        if not html_available():
            raise spec.error("outputs.html", "this undertow has no HTML renderer (undertow.report)")
    fitted = JobReference()
    current = current_schema = None
    if spec.tabular is not None or spec.embedding is not None:
        with blame(spec, "current"):
            current = open_scan(spec.current, spec.batch_size, spec.progress)
            current_schema = current.schema()
        if spec.reference_states is not None:  # never refit silently: `undertow fit` writes it
            fitted = _load_states(spec)
        else:
            fitted = _fit(spec)
        _check_current(spec, current_schema, fitted)
    notes = list(fitted.notes)
    sections: list[Section] = []
    if fitted.tabular is not None:
        with blame(spec, "current", {"actual": "current", "source": "current"}):
            report = current.psi(fitted.tabular)  # type: ignore[union-attr]
        sections.append(psi_section(report, notes))
        if spec.tabular is not None and spec.tabular.time_column is not None:
            sections.append(_windows(spec, fitted))
    for column, drift in fitted.embeddings.items():
        with blame(spec, "current", {"batch": "current", "source": "current", "current": "current"}):
            report = current.embedding(drift, column)  # type: ignore[union-attr]
        sections.append(embedding_section(column, report))
    if spec.audit is not None:
        sections.append(_audit(spec, fitted, current_schema))
    status = "ok"
    for section in sections:
        if section.status == "fail" or (section.status == "warn" and status == "ok"):
            status = section.status
    code = {"fail": ExitCode.DRIFT, "warn": ExitCode.WARN if spec.fail_on == "warn" else ExitCode.OK}.get(
        status, ExitCode.OK
    )
    seconds = time.perf_counter() - started
    doc = document(
        sections, title=spec.title, notes=notes, fail_on=spec.fail_on, exit_code=code, seconds=seconds
    )
    contents: dict[str, tuple[str, str | bytes]] = {}
    for key, path in outputs.items():
        with blame(spec, key):
            if key == "outputs.json":
                contents[key] = (path, dumps(doc))
            elif key == "outputs.junit":
                from undertow.jobs.junit import junit_xml

                contents[key] = (path, junit_xml(sections, spec.fail_on, seconds, spec.title))
            elif key == "outputs.html":
                from undertow.jobs.html import render_html

                contents[key] = (path, render_html(sections, spec.title))
            elif key == "outputs.audit_json":
                contents[key] = (
                    path,
                    next(s.report for s in sections if s.kind == "audit").to_json(indent=2),
                )
    with blame(spec, "outputs.dir"):
        write_all(contents)
    return JobResult(sections, notes, status, code, doc, outputs)
