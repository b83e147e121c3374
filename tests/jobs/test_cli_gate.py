"""The shell as a pipeline gate, tried as a new user would: real `python -m undertow` runs on
real Parquet/CSV files. Every exit code, strict JSON, messages instead of tracebacks, column
choice, date/time and id columns skipped with a note."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest

import undertow as ut
from undertow.audit._report import CHECKS
from undertow.cli.main import main
from undertow.jobs import ExitCode

from .conftest import undertow


def strict_json(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_psi_on_a_table_with_a_timestamp_and_an_id(files):
    done = undertow("psi", str(files.ref), str(files.cur), "--json")
    # before: a TypeError traceback (the timestamp column), exit 1
    assert done.returncode == ExitCode.DRIFT, done.stderr
    assert "Traceback" not in done.stderr
    doc = strict_json(done.stdout)
    section = doc["sections"][0]
    assert section["kind"] == "psi" and [c["name"] for c in section["checks"]] == ["amount", "store"]
    assert any("'ts': a date/time column" in n for n in doc["notes"])
    assert any("'user_id': looks like an id" in n for n in doc["notes"])
    assert any("'emb': a vector column" in n for n in doc["notes"])
    # the values are the library's own, called from Python
    ref, cur = pl.read_parquet(files.ref), pl.read_parquet(files.cur)
    expected = ut.Reference.fit(ref.select("amount", "store")).psi(cur.select("amount", "store"))
    assert [c["value"] for c in section["checks"]] == [expected["amount"].value, expected["store"].value]
    assert section["checks"][0]["status"] == "fail" and section["checks"][1]["status"] == "ok"
    # the PSI edges hold -inf/inf: strings in the strict JSON (json.dumps would write -Infinity)
    assert section["result"]["columns"]["amount"]["edges"][0] == "-inf"


def test_psi_on_csv_does_not_turn_the_timestamp_into_categories(files):
    done = undertow("psi", str(files.ref_csv), str(files.cur_csv), "--json", "--exclude", "store")
    assert done.returncode == ExitCode.DRIFT, done.stderr
    doc = strict_json(done.stdout)
    assert [c["name"] for c in doc["sections"][0]["checks"]] == ["amount"]
    assert any("'ts': a date/time column" in n for n in doc["notes"])


def test_id_like_text_columns_are_skipped_by_their_values(tmp_path):
    rng = np.random.default_rng(1)
    n = 3000
    for name in ("ref", "cur"):  # labels that never repeat, and differ between the sides
        labels = [f"2026-01-01 {name}{i}" for i in range(n)]
        pl.DataFrame({"x": rng.normal(size=n), "ts_text": labels}).write_parquet(tmp_path / f"{name}.parquet")
    done = undertow("psi", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--json")
    assert done.returncode == ExitCode.OK, done.stderr
    doc = strict_json(done.stdout)
    assert [c["name"] for c in doc["sections"][0]["checks"]] == ["x"]
    assert any("'ts_text': looks like an id or free text (3,000 distinct values" in n for n in doc["notes"])
    # named explicitly it is kept: every current label unseen, PSI far above 0.25
    kept = undertow(
        "psi", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--columns", "x,ts_text"
    )
    assert kept.returncode == ExitCode.DRIFT, kept.stderr


def test_columns_exclude_and_the_warn_gate(files, tmp_path):
    # store alone is stable; amount with a small shift is moderate (a warning)
    rng = np.random.default_rng(2)
    ref = pl.DataFrame({"amount": rng.normal(0, 1, 20000)})
    cur = pl.DataFrame({"amount": rng.normal(0.35, 1, 20000)})
    ref.write_parquet(tmp_path / "r.parquet")
    cur.write_parquet(tmp_path / "c.parquet")
    psi = ut.Reference.fit(ref).psi(cur)["amount"]
    assert psi.status == "moderate"  # the premise
    args = ("psi", str(tmp_path / "r.parquet"), str(tmp_path / "c.parquet"))
    assert undertow(*args).returncode == ExitCode.OK
    assert undertow(*args, "--fail-on", "warn").returncode == ExitCode.WARN
    only_store = undertow("psi", str(files.ref), str(files.cur), "--columns", "store", "--json")
    assert only_store.returncode == ExitCode.OK, only_store.stderr
    assert [c["name"] for c in strict_json(only_store.stdout)["sections"][0]["checks"]] == ["store"]
    no_amount = undertow("psi", str(files.ref), str(files.cur), "--exclude", "amount,store")
    assert no_amount.returncode == ExitCode.INPUT and "no column to compare" in no_amount.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["psi", "REF", "CUR", "--bins", "ten"], ExitCode.USAGE, "--bins: invalid int value"),
        (["psi", "REF"], ExitCode.USAGE, "required: current"),
        (["psi", "REF", "CUR", "--frobnicate"], ExitCode.USAGE, "unrecognized arguments"),
        (["nosuch"], ExitCode.USAGE, "invalid choice"),
        (["psi", "REF", "CUR", "--bins", "1"], ExitCode.INPUT, "--bins: must be >= 2"),
        (["psi", "REF", "MISSING"], ExitCode.INPUT, "current: "),
        (["psi", "REF", "CUR", "--columns", "nope"], ExitCode.INPUT, "--columns: ['nope'] are not columns"),
        (["psi", "REF", "CUR", "--columns", "ts"], ExitCode.INPUT, "'ts' is a date/time column"),
        (
            ["psi", "REF", "CUR", "--time-column", "amount"],
            ExitCode.INPUT,
            "--time-column: 'amount' is Float64",
        ),
        (
            ["psi", "REF", "CUR", "--time-column", "ts", "--every", "soon"],
            ExitCode.INPUT,
            "--every: not a duration",
        ),
        (["embed", "REF", "CUR", "--column", "amount"], ExitCode.INPUT, "--column: 'amount' has type double"),
        (
            ["embed", "REF", "CUR", "--column", "emb", "--alpha", "2"],
            ExitCode.USAGE,
            "--alpha: must be in (0, 1)",
        ),
        (["audit", "INDEX", "MISSING"], ExitCode.INPUT, "docs: "),
        (["audit", "MISSING", "DOCS"], ExitCode.INPUT, "index: "),
        (
            ["audit", "INDEX", "DOCS", "--threshold", "recall=x"],
            ExitCode.USAGE,
            "--threshold: expected CHECK=VALUE",
        ),
        (["audit", "INDEX", "DOCS", "--threshold", "recall=0.9"], ExitCode.INPUT, "unknown key 'recall'"),
        (["audit", "INDEX", "DOCS", "--baseline", "CUR"], ExitCode.INPUT, "--baseline: "),
    ],
)
def test_usage_and_input_errors_are_one_line_with_their_code(files, args, code, words):
    paths = {
        "REF": files.ref,
        "CUR": files.cur,
        "MISSING": files.dir / "missing.parquet",
        "INDEX": files.index,
        "DOCS": files.docs,
    }
    done = undertow(*[str(paths.get(a, a)) for a in args])
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and words in done.stderr, done.stderr
    message = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(message) == 1, done.stderr


def test_a_damaged_parquet_page_is_an_input_error(files, tmp_path):
    x = np.arange(50_000, dtype=np.float64)
    path = tmp_path / "damaged.parquet"
    pl.DataFrame({"x": x}).write_parquet(path, statistics=False, compression="uncompressed")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": x}), path, compression="NONE", write_page_checksum=True)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    done = undertow("psi", str(path), str(path))
    assert done.returncode == ExitCode.INPUT and "checksum" in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr


def test_an_internal_error_is_a_message_with_code_5(monkeypatch, capsys):
    # no real input reaches a bug on purpose: a failure planted in the runner stands for one
    import undertow.jobs.runner as runner

    def broken(spec):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(runner, "run_job", broken)
    assert main(["psi", "a.parquet", "b.parquet"]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: division by zero" in err and "Traceback" not in err


def test_windows_by_time_column(files):
    done = undertow(
        "psi",
        str(files.ref),
        str(files.cur),
        "--time-column",
        "ts",
        "--every",
        "12h",
        "--json",
        "--columns",
        "amount",
    )
    assert done.returncode == ExitCode.DRIFT, done.stderr
    doc = strict_json(done.stdout)
    windows = doc["sections"][1]
    assert windows["kind"] == "psi_windows" and windows["name"] == "ts"
    rows = windows["result"]["windows"]
    assert sum(r["rows"] for r in rows) == 6000 and len(rows) == 9  # 6000 minutes in 12 h windows
    # the first window's PSI is the library's on those rows
    ref, cur = pl.read_parquet(files.ref), pl.read_parquet(files.cur)
    reference = ut.Reference.fit(ref.select("amount"))
    first = reference.psi(cur.head(rows[0]["rows"]).select("amount"))["amount"].value
    assert rows[0]["amount_psi"] == first
    assert windows["checks"][0]["value"] == max(r["amount_psi"] for r in rows if r["amount_psi"] is not None)


def test_embed_matches_the_library_and_gates(files, tmp_path):
    junit = tmp_path / "embed.xml"
    drifted = undertow(
        "embed",
        str(files.ref),
        str(files.cur),
        "--column",
        "emb",
        "--json",
        "--junit",
        str(junit),
        "--permutations",
        "50",
    )
    assert drifted.returncode == ExitCode.DRIFT, drifted.stderr
    section = strict_json(drifted.stdout)["sections"][0]
    ref = pl.read_parquet(files.ref).get_column("emb")
    drift = ut.EmbeddingDrift.fit(ref, components=16, permutations=50)
    expected = ut.scan(str(files.cur)).embedding(drift, "emb")
    assert section["result"]["mmd"]["value"] == expected.mmd.value
    assert section["result"]["cosine"]["centroid_distance"] == expected.cosine.centroid_distance
    root = ET.parse(junit).getroot()
    assert root.find("testsuite").get("name") == "undertow.embedding.emb"
    assert root.find(".//testcase[@name='mmd']/failure") is not None
    same = undertow("embed", str(files.ref), str(files.same), "--column", "emb", "--permutations", "50")
    assert same.returncode == ExitCode.OK, same.stdout + same.stderr


def test_audit_outputs_and_gate(files, tmp_path):
    out = tmp_path / "out"
    done = undertow(
        "audit",
        str(files.index),
        str(files.docs),
        "--fresh",
        str(files.fresh),
        "--out",
        str(out / "audit.json"),
        "--json",
        str(out / "report.json"),
        "--junit",
        str(out / "j.xml"),
    )
    assert done.returncode == ExitCode.DRIFT, done.stderr  # ids 7 and 8 are orphaned
    doc = strict_json((out / "report.json").read_text())
    checks = {c["name"]: c for c in doc["sections"][0]["checks"]}
    assert checks["orphaned_vectors"]["status"] == "fail" and checks["fresh_cosine"]["status"] == "ok"
    assert doc["sections"][0]["result"]["checks"]["orphaned_vectors"]["ids"] == [7, 8]
    baseline = ut.AuditReport.from_json((out / "audit.json").read_text())  # the next --baseline
    assert baseline.checks["orphaned_vectors"].count == 2
    cases = ET.parse(out / "j.xml").getroot().findall(".//testcase")
    assert len(cases) == len(checks) == len(CHECKS)  # one test case per audit check
