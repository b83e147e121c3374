"""Small HTML builders: escaped text, tables (sortable and filterable by the page's script),
status badges and key-value lists."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from undertow.report._section import level


def badge(status: str) -> str:
    return f'<span class="badge {level(status)}">{escape(status)}</span>'


class Cell:
    """A table cell: `html` shown, `sort` the value the column sorts by (a number or text)."""

    __slots__ = ("cls", "html", "sort")

    def __init__(self, html: str, sort: Any = None, cls: str = "") -> None:
        self.html, self.sort, self.cls = html, sort, cls


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell | str]],
    table_id: str,
    sortable: bool = True,
    filterable: bool = False,
) -> str:
    """An HTML table; text cells are escaped, Cell.html is trusted (built here from escaped parts)."""
    out = []
    if filterable:
        out.append(
            f'<input class="filter" type="search" placeholder="filter rows" data-table="{table_id}" '
            f'aria-label="filter the table rows">'
        )
    cls = "data sortable" if sortable else "data"
    out.append(f'<table id="{table_id}" class="{cls}"><thead><tr>')
    out.extend(f"<th>{escape(h)}</th>" for h in headers)
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for cell in row:
            if isinstance(cell, Cell):
                sort = "" if cell.sort is None else f' data-sort="{escape(str(cell.sort))}"'
                klass = f' class="{cell.cls}"' if cell.cls else ""
                out.append(f"<td{sort}{klass}>{cell.html}</td>")
            else:
                out.append(f"<td>{escape(str(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def facts(items: Sequence[tuple[str, str]]) -> str:
    """A definition list of key figures: (label, trusted html)."""
    body = "".join(f"<div><dt>{escape(k)}</dt><dd>{v}</dd></div>" for k, v in items)
    return f'<dl class="facts">{body}</dl>'


def figure_div(figure_id: str, title: str, caption: str = "") -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure class="chart"><h3>{escape(title)}</h3>'
        f'<div class="vega" id="{figure_id}" data-figure="{figure_id}"></div>{cap}</figure>'
    )
