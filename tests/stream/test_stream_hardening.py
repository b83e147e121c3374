"""Issue 10, items 9 and 11 (stream part): drift_over durations and output names, Parquet page
checksums."""

import datetime as dt
import os
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import undertow as ut

FRAME = pl.DataFrame(
    {"ts": pl.datetime_range(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3), "1h", eager=True)}
).with_columns(x=pl.int_range(pl.len()).cast(pl.Float64) % 24, rows=pl.lit(1), window_start=pl.lit(2))
REF = ut.Reference.fit({"x": np.arange(24.0)}, bins=4)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"every": "0d"}, "every"),
        ({"every": ""}, "every"),
        ({"every": "1ns"}, "every"),
        ({"every": "abc"}, "every"),
        ({"every": "-1d"}, "every"),
        ({"period": "0d"}, "period"),
        ({"period": "1ns"}, "period"),
        ({"every": dt.timedelta(0)}, "every"),
        ({"offset": "x"}, "offset"),
    ],
)
def test_bad_durations_are_errors_naming_the_argument(kwargs, argument):
    # in a subprocess: before the fix "0d" was a Rust panic (a BaseException) inside polars
    code = (
        "import datetime, numpy as np, polars as pl, undertow as ut\n"
        f"from tests.stream.test_stream_hardening import FRAME, REF\n"
        "try:\n"
        f"    ut.drift_over(FRAME, REF, 'ts', min_rows=1, **{kwargs!r})\n"
        "    print('NO ERROR')\n"
        "except (ut.UndertowError, TypeError) as exc:\n"
        "    print('OK', exc)\n"
    )
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("OK"), proc.stdout
    assert argument in proc.stdout


def test_valid_durations_still_work():
    out = ut.drift_over(FRAME.drop("rows", "window_start"), REF, "ts", every="12h", period="1d", min_rows=1)
    assert out["rows"].to_list()[:2] == [24, 24]
    assert (
        ut.drift_over(FRAME, REF, "ts", every=dt.timedelta(days=1), min_rows=1)["x_psi"].to_list()[0] == 0.0
    )


@pytest.mark.parametrize("by", ["rows", "window_start", "x_psi", "ts"])
def test_by_column_colliding_with_an_output_column_is_refused(by):
    frame = FRAME.with_columns(x_psi=pl.lit(0))
    with pytest.raises(ut.UndertowError, match=f"by: \\['{by}'\\]"):
        ut.drift_over(frame, REF, "ts", by=by, min_rows=1)


def _damaged(tmp_path, checksum: bool):
    x = np.arange(100_000, dtype=np.float64)
    path = tmp_path / f"data_{checksum}.parquet"
    pq.write_table(
        pa.table({"x": x}), path, write_page_checksum=checksum, compression="none", use_dictionary=False
    )
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of a data page (the middle of 800 kB of plain doubles)
    path.write_bytes(bytes(data))
    return x, str(path)


def test_damaged_parquet_page_is_an_error_in_scan_and_cli(tmp_path):
    x, path = _damaged(tmp_path, checksum=True)
    ref = ut.Reference.fit({"x": x}, bins=10)
    with pytest.raises(OSError, match="checksum"):
        ut.scan(path).psi(ref)
    with pytest.raises(OSError, match="checksum"):
        ut.scan(path).histogram("x", np.linspace(0, 1e5, 11))
    from undertow.jobs.sources import read_table

    with pytest.raises(OSError, match="checksum"):
        read_table(path)


def test_damaged_parquet_without_checksums_cannot_be_detected(tmp_path):
    # documented limit: without page checksums the flipped bit is read as data
    x, path = _damaged(tmp_path, checksum=False)
    from undertow.jobs.sources import read_table

    assert not np.array_equal(read_table(path)["x"].to_numpy(), x)
