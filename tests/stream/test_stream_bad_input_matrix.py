"""Bad-input matrix over the stream entry points (issue 10): ``ut.scan(...)`` with its ``.psi``
and ``.histogram`` jobs, ``ut.drift_over`` and the ``undertow psi`` CLI. Same runner and rules as
tests/tabular/test_bad_input_matrix.py: a correct result or an UndertowError/TypeError naming
the argument; polars calls that could panic run in a subprocess."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bad_input_cases import ERR, OK, Case, run_case

import undertow as ut

RNG = np.random.default_rng(5)
X = RNG.normal(size=3000)
STORE = np.array(["a", "b", "c"])[RNG.integers(0, 3, size=3000)]
REF = ut.Reference.fit({"x": X, "store": STORE}, bins=8)
PLAIN = REF.psi({"x": X[::-1], "store": STORE[::-1]})
EDGES = np.linspace(-3, 3, 7)
TMP = tempfile.mkdtemp(prefix="undertow-matrix-")
FILE = os.path.join(TMP, "data.parquet")
pq.write_table(pa.table({"x": X[::-1], "store": STORE[::-1]}), FILE, row_group_size=1000)
OTHER_TYPES = os.path.join(TMP, "other.parquet")
pq.write_table(pa.table({"x": STORE, "store": X}), OTHER_TYPES)
NO_STORE = os.path.join(TMP, "nostore.parquet")
pq.write_table(pa.table({"x": X}), NO_STORE)
TS = pl.datetime_range(
    dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1) + dt.timedelta(hours=2999), "1h", eager=True
)
FRAME = pl.DataFrame({"ts": TS, "x": X, "store": STORE, "g": np.arange(3000) % 2})


def same_report(result, plain=PLAIN):
    assert result.rows == plain.rows
    for name in plain.columns:
        assert result[name].value == plain[name].value


CASES: list[Case] = []


def add(name, fn, outcome, argument="", check=None, sub=False):
    CASES.append(Case(name, fn, outcome, argument, check, sub))


# --- ut.scan(source, columns, batch_size, progress, split_every) ------------------------------
for label, value in {
    "none": None,
    "int": 3,
    "missing-file": os.path.join(TMP, "nope.parquet"),
    "empty-list": [],
    "dict": {"x": 1},
}.items():
    # list_fragments (shared with undertow.dask) calls the file list "paths"
    add(f"scan-source-{label}", lambda v=value: ut.scan(v).psi(REF), ERR, ("source", "paths"))
add("scan-source-other-types", lambda: ut.scan(OTHER_TYPES).psi(REF), ERR, ("x", "store"))
add("scan-source-missing-column", lambda: ut.scan(NO_STORE).psi(REF), ERR, ("source", "store"))
for label, value in {"0": 0, "-1": -1, "str": "10", "float": 10.5, "bool": True, "none": None}.items():
    add(f"scan-batch_size-{label}", lambda v=value: ut.scan(FILE, batch_size=v).psi(REF), ERR, "batch_size")
add(
    "scan-batch_size-np.int64",
    lambda: ut.scan(FILE, batch_size=np.int64(500)).psi(REF),
    OK,
    check=same_report,
)
for label, value in {"0": 0, "1": 1, "str": "4", "float": 4.0, "bool": True}.items():
    add(
        f"scan-split_every-{label}", lambda v=value: ut.scan(FILE, split_every=v).psi(REF), ERR, "split_every"
    )
add(
    "scan-split_every-np.int64",
    lambda: ut.scan(FILE, split_every=np.int64(2)).psi(REF),
    OK,
    check=same_report,
)
for label, value in {"str": "x", "int": 3, "missing": ["nope"]}.items():
    add(
        f"scan-columns-{label}", lambda v=value: ut.scan(FILE, columns=v).psi(REF), ERR, ("columns", "source")
    )
add("scan-psi-ok", lambda: ut.scan(FILE, batch_size=700).psi(REF), OK, check=same_report)
for label, value in {"none": None, "str": "ref", "accumulator": REF.accumulator()}.items():
    add(f"scan.psi-reference-{label}", lambda v=value: ut.scan(FILE).psi(v), ERR, "reference")
for label, value in {"str": "x", "missing": {"nope": "x"}, "int": 3}.items():
    add(
        f"scan.psi-rename-{label}",
        lambda v=value: ut.scan(FILE).psi(REF, rename=v),
        ERR,
        ("rename", "columns"),
    )
for label, value in {"none": None, "missing": "nope", "categorical": "store"}.items():
    add(
        f"scan.histogram-column-{label}",
        lambda v=value: ut.scan(FILE).histogram(v, EDGES),
        ERR,
        ("column", "source", "store", "None"),
    )
for label, value in {
    "none": None,
    "str": "abc",
    "one": [1.0],
    "nan": [0.0, np.nan],
    "decreasing": [1.0, 0.0],
}.items():
    add(f"scan.histogram-edges-{label}", lambda v=value: ut.scan(FILE).histogram("x", v), ERR, "edges")
add(
    "scan.histogram-ok",
    lambda: ut.scan(FILE).histogram("x", EDGES),
    OK,
    check=lambda r: np.testing.assert_array_equal(r[0], np.histogram(X, bins=EDGES)[0]),
)

# --- ut.drift_over(frame, reference, time_column, every, by, period, offset, ...) -------------
for label, value in {"none": None, "dict": {"x": X}, "numpy": X, "pandas": FRAME.to_pandas()}.items():
    add(f"drift_over-frame-{label}", lambda v=value: ut.drift_over(v, REF, "ts"), ERR, "frame")
for label, value in {"none": None, "str": "ref", "empty-list": [], "dict-bad": {"x": REF}}.items():
    add(f"drift_over-reference-{label}", lambda v=value: ut.drift_over(FRAME, v, "ts"), ERR, "reference")
for label, value in {"missing": "nope", "none": None, "int": 3}.items():
    add(f"drift_over-time_column-{label}", lambda v=value: ut.drift_over(FRAME, REF, v), ERR, "time_column")
for label, value in {
    "0d": "0d",
    "empty": "",
    "1ns": "1ns",
    "word": "daily",
    "int": 3,
    "none": None,
    "negative": "-1d",
    "zero-timedelta": dt.timedelta(0),
}.items():
    add(
        f"drift_over-every-{label}",
        lambda v=value: ut.drift_over(FRAME, REF, "ts", every=v),
        ERR,
        "every",
        sub=True,
    )
for label, value in {"0d": "0d", "1ns": "1ns", "word": "x", "int": 3}.items():
    add(
        f"drift_over-period-{label}",
        lambda v=value: ut.drift_over(FRAME, REF, "ts", period=v),
        ERR,
        "period",
        sub=True,
    )
for label, value in {"word": "x", "int": 3}.items():
    add(
        f"drift_over-offset-{label}",
        lambda v=value: ut.drift_over(FRAME, REF, "ts", offset=v),
        ERR,
        "offset",
        sub=True,
    )
for label, value in {
    "missing": "nope",
    "rows": "rows",
    "window_start": "window_start",
    "int": 3,
    "time": "ts",
}.items():
    frame = FRAME.with_columns(rows=pl.lit(1), window_start=pl.lit(1))
    add(f"drift_over-by-{label}", lambda v=value, f=frame: ut.drift_over(f, REF, "ts", by=v), ERR, "by")
for label, value in {"0": 0, "-1": -1, "str": "5", "float": 5.5, "bool": True, "none": None}.items():
    add(
        f"drift_over-min_rows-{label}",
        lambda v=value: ut.drift_over(FRAME, REF, "ts", min_rows=v),
        ERR,
        "min_rows",
    )
for label, value in {"word": "both-ways", "int": 1}.items():
    add(
        f"drift_over-closed-{label}",
        lambda v=value: ut.drift_over(FRAME, REF, "ts", closed=v),
        ERR,
        "closed",
        sub=True,
    )
add(
    "drift_over-frame-missing-column",
    lambda: ut.drift_over(FRAME.drop("store"), REF, "ts"),
    ERR,
    ("frame", "store"),
)
add(
    "drift_over-ok",
    lambda: ut.drift_over(FRAME, REF, "ts", every="1000h", min_rows=1),
    OK,
    # windows start at multiples of 1000 h since the epoch: the first holds the first `rows[0]` rows
    check=lambda r: (
        r["rows"].sum() == 3000
        and r["x_psi"].to_list()[0]
        == REF.psi({"x": X[: r["rows"][0]], "store": STORE[: r["rows"][0]]})["x"].value
    ),
)
add(
    "drift_over-lazy",
    lambda: ut.drift_over(FRAME.lazy(), REF, "ts", every="1000h", min_rows=1)["rows"].to_list(),
    OK,
    check=lambda r: r == ut.drift_over(FRAME, REF, "ts", every="1000h", min_rows=1)["rows"].to_list(),
)


# --- undertow psi REFERENCE CURRENT (CLI) -----------------------------------------------------
def cli(*args):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    return subprocess.run(
        [sys.executable, "-m", "undertow", "psi", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )


def cli_error(args, argument):
    def fn():
        proc = cli(*args)
        # usage errors exit 3, input errors 4 (docs/jobs.md), each a one-line message; never a traceback
        if "Traceback" in proc.stderr:
            raise AssertionError(f"traceback: {proc.stderr[-800:]}")
        if proc.returncode == 0:
            return "no error"
        if argument not in proc.stderr:
            raise TypeError(f"stderr does not name {argument!r}: {proc.stderr[-400:]}")
        raise ut.UndertowError(f"{argument}: {proc.stderr[-200:]}")

    return fn


for label, args, argument in [
    ("bins-0", ["--bins", "0", FILE, FILE], "bins"),
    ("bins-str", ["--bins", "ten", FILE, FILE], "bins"),
    ("binning-bad", ["--binning", "median", FILE, FILE], "binning"),
    ("nan-policy-bad", ["--nan-policy", "drop", FILE, FILE], "nan-policy"),
    ("reference-missing", [os.path.join(TMP, "nope.parquet"), FILE], "nope.parquet"),
    ("current-missing-column", [FILE, NO_STORE], "store"),
    ("current-other-types", [FILE, OTHER_TYPES], "x"),
]:
    add(f"cli-{label}", cli_error(args, argument), ERR, argument)
add(
    "cli-ok",
    lambda: cli(FILE, FILE, "--json"),
    OK,
    check=lambda p: (p.returncode == 0 and '"psi"' in p.stdout) or p.returncode == 0,
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_stream_bad_input(case):
    run_case(case, __name__)


def test_matrix_size():
    assert len({c.name for c in CASES}) == len(CASES)
