"""report.json: one versioned schema for every section (docs/jobs.md), strict JSON.

Strict means what RFC 8259 parsers accept: no ``NaN``/``Infinity`` tokens (Python's json module
writes them by default; jq, JavaScript's JSON.parse and Go refuse them). A non-finite number is
written as a string, ``"inf"``, ``"-inf"`` or ``"nan"`` (``float(s)`` reads each back), the
same convention as the audit's own JSON; dates and times as ISO 8601 strings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from undertow.jobs.sections import RANK, Section, worst

SCHEMA_VERSION = 1


def strict(value: Any) -> Any:
    """`value` as JSON-ready Python with no non-finite float (those become "inf", "-inf", "nan")."""
    if isinstance(value, Mapping):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return [strict(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def dumps(value: Any, indent: int | None = None) -> str:
    """Strict JSON text (allow_nan=False: a non-finite number left over is a bug, not output).
    Compact by default: with an indent the json module falls back to its pure-Python encoder,
    ten times slower (0.3 s for a 100-column report); `jq .` indents it."""
    return json.dumps(strict(value), indent=indent, allow_nan=False)


def document(
    sections: list[Section],
    *,
    title: str | None,
    notes: list[str],
    fail_on: str,
    exit_code: int,
    seconds: float,
) -> dict[str, Any]:
    from undertow import __version__

    counts = {status: 0 for status in RANK}
    for section in sections:
        for check in section.checks:
            counts[check.status] += 1
    return {
        "undertow_report": SCHEMA_VERSION,
        "undertow_version": __version__,
        "title": title,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "seconds": round(seconds, 3),
        "status": worst(s.status for s in sections),
        "fail_on": fail_on,
        "exit_code": int(exit_code),
        "summary": {"sections": len(sections), "checks": sum(counts.values()), **counts},
        "notes": notes,
        "sections": [
            {
                "kind": s.kind,
                "name": s.name,
                "status": s.status,
                "native_status": s.native_status,
                "notes": s.notes,
                "checks": [
                    {
                        "name": c.name,
                        "status": c.status,
                        "value": c.value,
                        "threshold": c.threshold,
                        "message": c.message,
                    }
                    for c in s.checks
                ],
                "result": s.result,
            }
            for s in sections
        ],
    }
