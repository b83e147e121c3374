"""A list of `undertow.Check`s on the page (the audit's and the rotation preview's): the table of
checks with status colours, values, thresholds and messages; the offending ids of each check (the
first SHOWN_IDS, the count stated, all of them in the JSON); and the checks as page data."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from undertow.audit._report import Check
from undertow.report._html import Cell, badge, table
from undertow.report._section import fmt, json_safe, level, number

SHOWN_IDS = 100


def check_data(checks: Iterable[Check]) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "status": c.status,
            "value": number(c.value),
            "threshold": number(c.threshold),
            "direction": c.direction,
            "sample_size": int(c.sample_size),
            "count": int(c.count),
            "ids": [int(i) for i in c.ids],
            "message": c.message,
            "detail": json_safe(c.detail),
        }
        for c in checks
    ]


def check_table(checks: list[Check], prefix: str) -> str:
    """The checks as a sortable table; a check with ids links to its block of `id_blocks`."""
    rows = []
    for c in checks:
        bound = None if c.threshold is None else f"{'≤' if c.direction == 'max' else '≥'} {fmt(c.threshold)}"
        rows.append(
            [
                Cell(
                    f"<a href='#{prefix}-ids-{c.name}'>{escape(c.name)}</a>"
                    if len(c.ids)
                    else escape(c.name),
                    c.name,
                ),
                Cell(badge(c.status), c.status, level(c.status)),
                Cell(fmt(c.value), number(c.value), "num"),
                Cell(escape(bound or "-"), c.threshold, "num"),
                Cell(fmt(c.sample_size), c.sample_size, "num"),
                Cell(fmt(c.count), c.count, "num"),
                c.message,
            ]
        )
    return table(
        ["check", "status", "value", "threshold", "sample", "offending", "message"], rows, f"{prefix}-checks"
    )


def id_blocks(checks: list[Check], prefix: str) -> list[str]:
    """Per check with ids: its first SHOWN_IDS ids and how many there are in all."""
    blocks = []
    for c in checks:
        if not len(c.ids):
            continue
        shown = ", ".join(str(int(i)) for i in c.ids[:SHOWN_IDS])
        if c.count == len(c.ids):
            what = f"{fmt(c.count)} offending ids"
        else:  # the check keeps examples, not every id
            what = f"{fmt(c.count)} offending, {fmt(len(c.ids))} example ids kept"
        if len(c.ids) > SHOWN_IDS:
            what += f", the first {SHOWN_IDS} shown"
        blocks.append(
            f'<div id="{prefix}-ids-{escape(c.name)}"><h3>{escape(c.name)}: {what} (all in the JSON)</h3>'
            f"<p class='ids'>{shown}</p></div>"
        )
    return blocks
