"""HTML reports: `undertow.report(*results, title=None, path=None)` builds one self-contained
page (summary at the top, one section per result) from PsiReport, EmbeddingDriftReport,
AuditReport, CoverageReport, BalanceReport, RotationReport and drift_over frames; each result's
`.to_html(path=None)` calls it.

A section module per result kind (psi, embedding, audit, over_time, coverage, balance,
rotation)
registers its builder with `register(type, builder)`; a new result kind adds a module here and
imports it below.
"""

from __future__ import annotations

import os
from typing import Any

from undertow.report import (  # noqa: F401  (each registers its kind)
    audit,
    balance,
    coverage,
    embedding,
    over_time,
    psi,
    rotation,
)
from undertow.report._page import FORMAT, build_sections, render, write_atomic
from undertow.report._section import Figure, Section, register


def report(*results: Any, title: str | None = None, path: str | os.PathLike[str] | None = None) -> str:
    """One self-contained HTML page for any number of results, in the order given.

    results: PsiReport, EmbeddingDriftReport, AuditReport, CoverageReport, BalanceReport,
    RotationReport or the polars DataFrame returned by `drift_over`, several at once; a
    ``(name, result)`` pair names its section. The page opens offline (the pinned Vega-Lite
    runtime is inlined; no request of any kind), and holds the numbers of every section as JSON
    (``<script id="undertow-data">``).
    Returns the HTML; with `path` also writes it atomically (a temporary file beside `path`,
    then a rename). The same results give the same bytes.

    >>> import numpy as np, undertow as ut
    >>> page = ut.report(ut.Reference.fit({"x": np.arange(100.0)}).psi({"x": np.arange(100.0)}))
    >>> page.startswith("<!DOCTYPE html>")
    True
    """
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title: expected a string, got {type(title).__name__}")
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a file path (str or PathLike), got {type(path).__name__}")
    sections = build_sections(results)
    html = render(sections, title or "undertow report")
    if path is not None:
        write_atomic(path, html)
    return html


__all__ = ["FORMAT", "Figure", "Section", "register", "report"]
