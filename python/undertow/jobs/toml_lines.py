"""The line of each key of a TOML text: tomllib gives values without positions, and an error
about a job file should name the line of the key at fault.

A small scanner, not a parser: the text has already been parsed by tomllib (so it is valid
TOML); here only table headers (``[a.b]``, ``[[a]]``) and ``key =`` lines are recognized, with
quoted and dotted keys, while the insides of multi-line arrays, inline tables and multi-line
strings are skipped. Arrays of tables are indexed: ``[[a]]`` twice gives paths ("a", 0, ...) and
("a", 1, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key_parts(text: str) -> tuple[list[str], str] | None:
    """A (dotted, quoted) key at the start of `text`: its parts and the rest of the text."""
    parts: list[str] = []
    rest = text.lstrip()
    while True:
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            end = rest.find(quote, 1)
            while quote == '"' and end > 0 and rest[end - 1] == "\\":
                end = rest.find(quote, end + 1)
            if end < 0:
                return None
            parts.append(rest[1:end])
            rest = rest[end + 1 :].lstrip()
        else:
            match = _BARE.match(rest)
            if not match:
                return None
            parts.append(match.group(0))
            rest = rest[match.end() :].lstrip()
        if rest.startswith("."):
            rest = rest[1:].lstrip()
            continue
        return parts, rest


def _open_brackets(value: str) -> int:
    """Net [ and { opened by `value` outside strings and comments (a multi-line value's depth)."""
    depth = 0
    quote = ""
    i = 0
    while i < len(value):
        ch = value[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth


def key_lines(text: str) -> dict[Path, int]:
    """{key path: 1-based line} for every table header and key of a (valid) TOML text; a path's
    first definition wins. Keys of inline tables get the line of the key holding the table."""
    lines: dict[Path, int] = {}
    table: Path = ()
    array_counts: dict[Path, int] = {}
    depth = 0  # inside a multi-line array or inline table
    in_string = ""  # inside a multi-line string: its delimiter
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if in_string:
            if in_string in line:
                in_string = ""
            continue
        if depth > 0:
            depth += _open_brackets(line)
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("[[") or (line.startswith("[") and not line.startswith("[[")):
            double = line.startswith("[[")
            parsed = _key_parts(line[2:] if double else line[1:])
            if parsed is None:
                continue
            parts: Path = tuple(parsed[0])
            if double:
                index = array_counts.get(parts, 0)
                array_counts[parts] = index + 1
                lines.setdefault(parts, number)
                table = (*parts, index)
            else:
                table = parts
            lines.setdefault(table, number)
            continue
        parsed = _key_parts(line)
        if parsed is None or not parsed[1].startswith("="):
            continue
        path = (*table, *parsed[0])
        for end in range(len(table) + 1, len(path) + 1):
            lines.setdefault(path[:end], number)
        value = parsed[1][1:].strip()
        for delimiter in ('"""', "'''"):
            if value.startswith(delimiter) and value.count(delimiter) == 1:
                in_string = delimiter
        if not in_string:
            depth = _open_brackets(value)
    return lines


def line_of(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of `path`, else of its longest defined prefix (a value inside an inline table or
    an array points at its key); None when no prefix is in the file (a missing key)."""
    key = tuple(path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None
