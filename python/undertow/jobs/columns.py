"""Which columns a section reads, decided from the Arrow schema (nothing read yet).

Without an explicit column list, PSI takes every numeric, string, boolean and dictionary column
except, each with a note in the report (never silently):

* date/time columns (timestamp, date, time, duration): PSI needs numbers or categories, and a
  timestamp as a category is one bin per row (a CSV's timestamp column, read as text, gave PSI
  9.2 over 50,000 categories). Use it as the time column of windows instead;
* id-like columns, by name (``id``, ``uuid``, ``user_id``, ``orderId``, ...) when integer or
  string, and, once the reference is read, string columns with more distinct values than half
  the rows (over 50): identifiers or free text, whose "categories" never repeat;
* vector columns (lists): embedding drift compares those ([embedding], ``undertow embed``);
* other types (structs, maps, binary).

An explicit list (``columns`` / ``--columns``) is taken as given: a date/time or vector column
in it is an error, an id-like one is kept.
"""

from __future__ import annotations

import re
from typing import Any

from undertow._core import UndertowError
from undertow.jobs.spec import TabularSpec

ID_NAME = re.compile(
    r"(?i)^(id|uuid|guid|pk|key|row_?id|index|__index_level_\d+__)$|[_\-. ](id|uuid|guid|key)$|[a-z0-9]Id$"
)
MIN_DISTINCT_ID = 50  # a string column with more distinct values than this and than rows / 2


def _kind(arrow_type: Any) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_temporal(t):
        return "temporal"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "vector"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    return "other"


def tabular_columns(
    schema: Any, spec: TabularSpec, embedding_columns: list[str]
) -> tuple[list[str], list[str]]:
    """(the columns PSI reads, notes on the columns skipped), from the reference's schema."""
    names = list(schema.names)
    kinds = {field.name: _kind(field.type) for field in schema}
    unknown = [c for c in spec.exclude if c not in kinds]
    if unknown:
        raise UndertowError(f"{unknown} are not columns of the reference (it has {names[:20]})")
    excluded = set(spec.exclude)
    if spec.columns is not None:
        missing = [c for c in spec.columns if c not in kinds]
        if missing:
            raise UndertowError(f"{missing} are not columns of the reference (it has {names[:20]})")
        for column in spec.columns:
            if kinds[column] == "temporal":
                raise UndertowError(
                    f"{column!r} is a date/time column; PSI needs numbers or categories "
                    "(use it as the time column of windows, or convert it)"
                )
            if kinds[column] in ("vector", "other"):
                raise UndertowError(
                    f"{column!r} has type {schema.field(column).type}, not numbers or categories"
                )
        return [c for c in spec.columns if c not in excluded], []
    chosen, notes = [], []
    for name in names:
        kind = kinds[name]
        if name in excluded or name in embedding_columns:
            continue
        if name == spec.time_column:
            notes.append(f"{name!r}: the time column of the windows")
        elif kind == "temporal":
            notes.append(
                f"skipped {name!r}: a date/time column (PSI needs numbers or categories; use it as "
                "the time column of windows)"
            )
        elif kind == "vector":
            notes.append(f"skipped {name!r}: a vector column (compare it with embedding drift)")
        elif kind == "other":
            notes.append(
                f"skipped {name!r}: type {schema.field(name).type} is neither numbers nor categories"
            )
        elif kind in ("integer", "string") and ID_NAME.search(name):
            notes.append(f"skipped {name!r}: looks like an id (by its name); name it in columns to keep it")
        else:
            chosen.append(name)
    return chosen, notes


def drop_id_like(table: Any, columns: list[str], explicit: bool) -> tuple[list[str], list[str]]:
    """Drops string columns of the (read) reference `table` whose values barely repeat: ids or
    free text (a category per row). Columns named explicitly are kept."""
    if explicit:
        return columns, []
    import polars as pl

    kept, notes = [], []
    rows = table.height
    for name in columns:
        series = table.get_column(name)
        if series.dtype in (pl.String, pl.Categorical) or isinstance(series.dtype, pl.Enum):
            distinct = series.n_unique()
            if distinct > MIN_DISTINCT_ID and distinct > rows / 2:
                notes.append(
                    f"skipped {name!r}: looks like an id or free text ({distinct:,} distinct values "
                    f"in {rows:,} rows); name it in columns to keep it"
                )
                continue
        kept.append(name)
    return kept, notes


def vector_columns(schema: Any) -> list[str]:
    return [field.name for field in schema if _kind(field.type) == "vector"]
