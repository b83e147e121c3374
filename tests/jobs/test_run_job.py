"""`undertow fit job.toml` and `undertow run job.toml` on real files: the outputs, their values
against the library called from Python, the reused reference, and every bad input a clear
message (exit 3 or 4) with no report written."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

import undertow as ut
from undertow.jobs import ExitCode

from .conftest import undertow

JOB = """title = "nightly drift"
reference = "{ref}"
current = "{cur}"
reference_states = "states/reference.undertow"

[tabular]
exclude = ["store"]
bins = 10

[embedding]
columns = ["emb"]
components = 8
permutations = 50

[audit]
index = "{index}"
docs = "{docs}"
fresh = "{fresh}"
fresh_vectors = "embedding"

[outputs]
dir = "out"
html = false
audit_json = "audit.json"
"""


def job_dir(tmp_path: Path, files, text: str = JOB) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / "job"
    d.mkdir()
    (d / "job.toml").write_text(
        text.format(
            ref=files.ref,
            cur=files.cur,
            index=files.index,
            index8=files.index8,
            docs=files.docs,
            fresh=files.fresh,
        )
    )
    return d


def reports(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir())


def test_fit_then_run_reuses_the_reference(files, tmp_path):
    d = job_dir(tmp_path, files)
    no_states = undertow("run", "job.toml", cwd=d)
    assert no_states.returncode == ExitCode.INPUT and "run `undertow fit`" in no_states.stderr
    assert "job.toml:4: reference_states:" in no_states.stderr and reports(d / "out") == []
    fit = undertow("fit", "job.toml", cwd=d)
    assert fit.returncode == ExitCode.OK, fit.stderr
    states = d / "states" / "reference.undertow"
    assert states.exists()
    run = undertow("run", "job.toml", "--quiet", cwd=d)
    assert run.returncode == ExitCode.DRIFT, run.stderr  # amount and emb drifted, ids 7, 8 orphaned
    assert reports(d / "out") == ["audit.json", "junit.xml", "report.json"]
    doc = json.loads((d / "out" / "report.json").read_text())
    assert doc["undertow_report"] == 1 and doc["title"] == "nightly drift" and doc["exit_code"] == 2
    assert [(s["kind"], s["name"]) for s in doc["sections"]] == [
        ("psi", "tabular"),
        ("embedding", "emb"),
        ("audit", "index"),
    ]
    # the numbers are the library's, called from Python on the same files
    ref, cur = pl.read_parquet(files.ref), pl.read_parquet(files.cur)
    reference = ut.Reference.fit(ref.select("amount"), bins=10)
    assert doc["sections"][0]["checks"][0]["value"] == reference.psi(cur.select("amount"))["amount"].value
    drift = ut.EmbeddingDrift.fit(ref.get_column("emb"), components=8, permutations=50)
    assert (
        doc["sections"][1]["result"]["mmd"]["value"]
        == ut.scan(str(files.cur)).embedding(drift, "emb").mmd.value
    )
    # the reused reference is the fitted one: the run's bytes equal a fresh fit's
    from undertow.jobs.states import JobReference

    fitted = JobReference.from_bytes(states.read_bytes())
    assert fitted.tabular.to_bytes() == reference.to_bytes()
    assert fitted.embeddings["emb"].to_bytes() == drift.to_bytes()
    # JUnit: one test case per check of every section
    root = ET.parse(d / "out" / "junit.xml").getroot()
    checks = sum(len(s["checks"]) for s in doc["sections"])
    assert int(root.get("tests")) == checks == len(root.findall(".//testcase"))
    assert int(root.get("failures")) == sum(
        c["status"] == "fail" for s in doc["sections"] for c in s["checks"]
    )
    # the audit's own JSON is the next run's baseline
    assert ut.AuditReport.from_json((d / "out" / "audit.json").read_text()).status == "fail"


def test_a_reference_from_another_job_settings_or_version_is_refused(files, tmp_path):
    d = job_dir(tmp_path, files)
    assert undertow("fit", "job.toml", cwd=d).returncode == 0
    changed = (d / "job.toml").read_text().replace("bins = 10", "bins = 20")
    (d / "job.toml").write_text(changed)
    run = undertow("run", "job.toml", cwd=d)
    assert run.returncode == ExitCode.INPUT and "other [tabular] settings" in run.stderr, run.stderr
    states = d / "states" / "reference.undertow"
    states.write_bytes(states.read_bytes()[:-100])
    run = undertow("run", "job.toml", cwd=d)
    assert run.returncode == ExitCode.INPUT and "truncated or damaged" in run.stderr, run.stderr
    states.write_bytes(ut.Reference.fit({"amount": [1.0, 2.0, 3.0]}).to_bytes())  # another kind
    run = undertow("run", "job.toml", cwd=d)
    assert run.returncode == ExitCode.INPUT and "not an undertow job reference file" in run.stderr
    assert reports(d / "out") == [] and "Traceback" not in run.stderr


def test_a_job_naming_only_its_sources(files, tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "job.toml").write_text(f'reference = "{files.ref}"\ncurrent = "{files.same}"\nfail_on = "warn"\n')
    run = undertow("run", "job.toml", "--json", cwd=d)
    assert run.returncode in (ExitCode.OK, ExitCode.WARN), run.stderr
    doc = json.loads(run.stdout)
    assert [c["name"] for c in doc["sections"][0]["checks"]] == ["amount", "store"]
    assert doc["exit_code"] == run.returncode
    assert reports(d) == ["job.toml", "junit.xml", "report.html", "report.json"]
    # the HTML page is undertow.report's, its section named after the job's
    page = (d / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "PSI per column" in page
    assert page == ut.report(("PSI per column", _psi(files.ref, files.same)))


def _psi(ref_path, cur_path):  # type: ignore[no-untyped-def]
    ref, cur = pl.read_parquet(ref_path), pl.read_parquet(cur_path)
    return ut.Reference.fit(ref.select("amount", "store")).psi(cur.select("amount", "store"))


def _edit(old: str, new: str):  # type: ignore[no-untyped-def]
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return edit


@pytest.mark.parametrize(
    ("edit", "code", "words"),
    [
        (_edit("bins = 10", "bins = 10\nbinz = 3"), ExitCode.USAGE, "job.toml:8: tabular.binz: unknown key"),
        (
            _edit("permutations = 50", 'permutations = "50"'),
            ExitCode.USAGE,
            "job.toml:12: embedding.permutations: expected an integer",
        ),
        (_edit('current = "', 'current = "/nonexistent'), ExitCode.INPUT, "job.toml:3: current: "),
        (
            _edit('exclude = ["store"]', 'columns = ["amount", "price"]'),
            ExitCode.INPUT,
            "job.toml:6: tabular.columns: ['price'] are not columns of the reference",
        ),
        (
            _edit('columns = ["emb"]', 'columns = ["vec"]'),
            ExitCode.INPUT,
            "job.toml:10: embedding.columns: 'vec' is not a column",
        ),
        (
            _edit('index = "{index}"', 'index = "{index8}"'),
            ExitCode.INPUT,
            "job.toml:15: audit.index: holds 8-dimensional vectors, the embedding column 'emb' "
            "16-dimensional",
        ),
        (
            _edit('dir = "out"', 'dir = "job.toml/out"'),
            ExitCode.INPUT,
            "job.toml:21: outputs.dir: cannot write",
        ),
        (
            _edit("html = false", "html = true"),
            ExitCode.USAGE,
            "job.toml:22: outputs.html: expected a file name",
        ),
    ],
)
def test_bad_jobs_name_the_key_and_line_and_write_nothing(files, tmp_path, edit, code, words):
    # without reference_states (line 4): the lines below it move up by one
    text = edit(JOB).replace('reference_states = "states/reference.undertow"\n', "")
    d = job_dir(tmp_path, files, text)
    run = undertow("run", "job.toml", cwd=d)
    assert run.returncode == code, run.stderr
    assert words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert reports(d / "out") == []  # no report, and no temporary file either
    assert [p for p in os.listdir(d) if p.startswith(".")] == []


def test_outputs_are_replaced_only_when_complete(files, tmp_path):
    d = job_dir(tmp_path, files, JOB.replace('reference_states = "states/reference.undertow"\n', ""))
    assert undertow("run", "job.toml", cwd=d).returncode == ExitCode.DRIFT
    before = {name: (d / "out" / name).read_bytes() for name in reports(d / "out")}
    # the next run fails at the audit (docs gone) after PSI and embedding drift ran: the
    # earlier, complete reports stay as they were, and no temporary file is left
    shutil.copy(files.docs, d / "docs.parquet")
    broken = (d / "job.toml").read_text().replace(str(files.docs), "docs.parquet")
    (d / "job.toml").write_text(broken)
    (d / "docs.parquet").unlink()
    run = undertow("run", "job.toml", cwd=d)
    assert run.returncode == ExitCode.INPUT and "audit.docs" in run.stderr, run.stderr
    assert {name: (d / "out" / name).read_bytes() for name in reports(d / "out")} == before
