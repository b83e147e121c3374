"""The job file: strict validation, each refusal naming the key and its line (exit 3)."""

from __future__ import annotations

import os

import pytest

from undertow.jobs import ExitCode, JobError
from undertow.jobs.spec import load_job, parse_job

GOOD = """reference = "ref.parquet"
current = "data/cur"
[tabular]
columns = ["a"]
bins = 20
[outputs]
dir = "out"
html = false
"""


def refused(text: str) -> JobError:
    with pytest.raises(JobError) as info:
        parse_job(text, "job.toml")
    return info.value


def test_a_good_job_and_its_paths_relative_to_the_job_file(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text(GOOD)
    spec = load_job(path)
    assert spec.reference == str(tmp_path / "ref.parquet")
    assert spec.current == str(tmp_path / "data" / "cur")
    assert spec.tabular is not None and spec.tabular.columns == ["a"] and spec.tabular.bins == 20
    assert spec.outputs.dir == str(tmp_path / "out")
    assert spec.outputs.html is None and spec.outputs.json == "report.json"
    assert spec.embedding is None and spec.audit is None


@pytest.mark.parametrize(
    ("text", "where", "key", "words"),
    [
        ('reference = "r"\ncurrent = "c"\ncolums = ["a"]\n', "job.toml:3", "colums", "unknown key"),
        (GOOD.replace("bins = 20", "bins = 20\nbinz = 3"), "job.toml:6", "tabular.binz", "unknown key"),
        (GOOD.replace("bins = 20", 'bins = "20"'), "job.toml:5", "tabular.bins", "expected an integer"),
        (GOOD.replace("bins = 20", "bins = 1"), "job.toml:5", "tabular.bins", "in 2..1000000"),
        (GOOD.replace('columns = ["a"]', 'columns = "a"'), "job.toml:4", "tabular.columns", "array of names"),
        (
            GOOD.replace('columns = ["a"]', 'columns = ["a", "a"]'),
            "job.toml:4",
            "tabular.columns",
            "more than once",
        ),
        (GOOD.replace("html = false", "html = true"), "job.toml:8", "outputs.html", "false for none"),
        ('fail_on = "never"\n' + GOOD, "job.toml:1", "fail_on", "must be one of"),
        (GOOD + 'fail_on = "warn"\n', "job.toml:9", "outputs.fail_on", "unknown key"),  # after [outputs]
        ('reference = "r"\n[tabular]\n', "job.toml: ", "current", "is required"),  # absent: no line
        ('reference = 3\ncurrent = "c"\n', "job.toml:1", "reference", "a path or an array of paths"),
        ('[audit]\nindex = "i.faiss"\n', "job.toml:1", "audit.docs", "is required"),
        (
            '[audit]\nindex = "i"\ndocs = "d"\nthresholds = { recall = 0.9 }\n',
            "job.toml:4",
            "audit.thresholds.recall",
            "unknown",
        ),
        (
            '[embedding]\ncolumns = ["e"]\ncomponents = 0\n',
            "job.toml:3",
            "embedding.components",
            "in 1..4096",
        ),
        (
            'reference = "r"\ncurrent = "c"\n[tabular]\nthresholds = [0.3, 0.2]\n',
            "job.toml:4",
            "tabular.thresholds",
            "below",
        ),
    ],
)
def test_refusals_name_the_key_and_its_line(text, where, key, words):
    error = refused(text)
    assert error.code == ExitCode.USAGE
    message = str(error)
    assert message.startswith(where), message
    assert f"{key}: " in message and words in message, message
    assert "\n" not in message


def test_invalid_toml_names_the_line():
    error = refused('reference = "r\ncurrent = "c"\n')
    assert error.code == ExitCode.USAGE and "not valid TOML" in str(error) and "line 1" in str(error)


def test_an_unreadable_job_file_is_an_input_error(tmp_path):
    with pytest.raises(JobError) as info:
        load_job(tmp_path / "missing.toml")
    assert info.value.code == ExitCode.INPUT and "missing.toml" in str(info.value)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(JobError) as info:
        load_job(binary)
    assert info.value.code == ExitCode.USAGE and "UTF-8" in str(info.value)


def test_a_job_naming_only_sources_compares_their_columns(tmp_path):
    spec = parse_job('reference = "r.parquet"\ncurrent = "c.parquet"\n', os.fspath(tmp_path / "j.toml"))
    assert spec.tabular is not None and spec.tabular.columns is None
