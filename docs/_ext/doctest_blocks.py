"""Griffe extension for the docs site: doctest examples in docstrings become code blocks.

The docstrings are free-form Markdown with bare ``>>>`` examples (they run as doctests in
tests/). Markdown reads ``>>>`` as three nested block quotes, so each run of lines that starts
with ``>>>`` and ends at a blank line is fenced as a ``pycon`` block before rendering. Loaded by
mkdocs.yml (mkdocstrings' ``extensions`` option); the package's source is not changed.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap every doctest run (``>>>`` up to the next blank line) in a ```pycon fence."""
    lines = text.split("\n")
    fenced: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.lstrip().startswith(">>>"):
            fenced.append(line)
            index += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        fenced.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            fenced.append(lines[index])
            index += 1
        fenced.append(f"{indent}```")
    return "\n".join(fenced)


class DoctestBlocks(griffe.Extension):
    """Fence the doctest examples of every object griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
