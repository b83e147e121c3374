"""key_lines: the line of each key of a TOML text (tomllib gives no positions)."""

from __future__ import annotations

import tomllib

from undertow.jobs.toml_lines import key_lines, line_of

TEXT = '''# a job
title = "x = y"            # an "=" inside a string
reference = [
  "a.parquet",
  "b = c.parquet",
]
"quoted key" = 1
dotted.inner = 2

[tabular]
columns = ["a", "b"]
description = """
fake = 1
"""
thresholds = { moderate = 0.1 }

[audit.thresholds]
ann_recall = 0.9

[[windows]]
every = "1d"

[[windows]]
every = "2d"
'''


def test_every_key_has_its_line():
    tomllib.loads(TEXT)  # the text is valid TOML
    lines = key_lines(TEXT)
    assert lines[("title",)] == 2
    assert lines[("reference",)] == 3
    assert lines[("quoted key",)] == 7
    assert lines[("dotted",)] == 8 and lines[("dotted", "inner")] == 8
    assert lines[("tabular",)] == 10
    assert lines[("tabular", "columns")] == 11
    assert lines[("tabular", "description")] == 12
    assert lines[("tabular", "thresholds")] == 15
    assert lines[("audit", "thresholds")] == 17
    assert lines[("audit", "thresholds", "ann_recall")] == 18
    assert lines[("windows", 0, "every")] == 21
    assert lines[("windows", 1, "every")] == 24


def test_no_key_is_read_from_inside_values():
    lines = key_lines(TEXT)
    # "b = c.parquet" sits in an array, "fake = 1" in a multi-line string, "x = y" in a string
    assert ("b",) not in lines and ("fake",) not in lines and ("tabular", "fake") not in lines
    assert ("x",) not in lines


def test_line_of_falls_back_to_the_nearest_key():
    lines = key_lines(TEXT)
    # a key inside an inline table, or a missing key of a present table: the enclosing key's line
    assert line_of(lines, ("tabular", "thresholds", "moderate")) == 15
    assert line_of(lines, ("tabular", "bins")) == 10
    assert line_of(lines, ("outputs", "dir")) is None
