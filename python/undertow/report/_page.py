"""The page: a summary of every result at the top, one section per result, the numbers as
embedded JSON, and the pinned Vega runtime inlined, so the file opens offline and renders the
same on any later day (no CDN, no request of any kind)."""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from undertow.report._html import badge
from undertow.report._section import Section, builder_for, worst

FORMAT = "undertow.report/1"


@cache
def _asset(name: str) -> str:
    return resources.files("undertow.report").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON safe inside an inline <script>: strict (no NaN), and no "<" that could close the tag."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_sections(results: tuple[Any, ...]) -> list[Section]:
    """A Section per result; a `(name, result)` pair names its section."""
    if not results:
        raise TypeError(
            "report: expected at least one result (a PsiReport, EmbeddingDriftReport, AuditReport, "
            "CoverageReport, BalanceReport, RotationReport or a drift_over frame)"
        )
    sections = []
    for i, item in enumerate(results, start=1):
        name = None
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], str):
                raise TypeError(f"results: a tuple must be (name, result), got a tuple of {len(item)} items")
            name, item = item
        section = builder_for(item)(item, f"s{i}")
        if name:
            section.title = f"{section.title}: {name}"
        sections.append(section)
    return sections


def render(sections: list[Section], title: str) -> str:
    from undertow import __version__

    overall = worst([s.level for s in sections])
    word = {"ok": "ok", "warn": "warning", "fail": "drift or failed checks", "muted": "not judged"}[overall]
    summary_rows = "".join(
        f'<tr><td><a href="#sec-{i}">{escape(s.title)}</a></td><td>{escape(s.kind)}</td>'
        f"<td>{badge(s.status)}</td>"
        f"<td>{escape(s.headline)}</td></tr>"
        for i, s in enumerate(sections, start=1)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_asset('report.css')}</style></head><body>",
        f'<header><h1>{escape(title)}</h1><p>Overall: <span class="badge {overall}">{word}</span> '
        f"&middot; {len(sections)} result{'s' if len(sections) != 1 else ''}</p>",
        '<table class="data summary"><thead><tr><th>result</th><th>kind</th><th>status</th>'
        f"<th>summary</th></tr></thead><tbody>{summary_rows}</tbody></table></header><main>",
    ]
    for i, s in enumerate(sections, start=1):
        parts.append(
            f'<section class="result kind-{escape(s.kind)}" id="sec-{i}" data-kind="{escape(s.kind)}" '
            f'data-figures="{len(s.figures)}"><h2>{escape(s.title)}{badge(s.status)}</h2>{s.body}</section>'
        )
    page_data = {
        "format": FORMAT,
        "undertow": __version__,
        "title": title,
        "sections": [
            {
                "kind": s.kind,
                "title": s.title,
                "status": s.status,
                "data": s.data,
                "figures": [{"id": f.id, "title": f.title, "spec": f.spec} for f in s.figures],
            }
            for s in sections
        ],
    }
    parts += [
        f"</main><footer>undertow {escape(__version__)} &middot; a self-contained file: charts by Vega-Lite, "
        "inlined; the numbers behind every section are in the JSON block of this page.</footer>",
        f'<script type="application/json" id="undertow-data">{script_json(page_data)}</script>',
        f"<script>{_asset('vega.min.js')}</script>",
        f"<script>{_asset('report.js')}</script>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Writes `text` to a temporary file beside `path`, then renames it over `path`: a reader
    never sees half a report, and a failed write leaves the old file as it was."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
