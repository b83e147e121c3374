"""Out-of-core and distributed runs beside pyarrow's own read of the same files, in one run.

Data (written once per session to a temporary directory):

* a Parquet dataset of FILES files (default 20) x ROWS_PER_FILE rows (default 1e6), with
  COLUMNS float32 columns (default 4), row groups of 128k rows; the current side is shifted;
* a Parquet dataset of VECTORS rows (default 1e6) of DIM-dimensional float32 embeddings
  (default 384, a fixed_size_list column), in files of 100k rows.

Benchmarks:

* pyarrow_read_table      ``pq.read_table(paths, columns)``: pyarrow's own (multithreaded) read
                          of the same files into memory: the yardstick;
* pyarrow_stream_batches  ``dataset.to_batches(batch_size)`` consumed: pyarrow's own streaming read;
* undertow_scan_psi       ``ut.scan(paths).psi(reference)``: PSI of every column, streamed;
                          its rate as a share of the faster pyarrow read is the headline ratio;
* undertow_dask_psi       ``undertow.dask.psi`` on a LocalCluster of 2 worker processes (one
                          thread each), beside the serial scan: the overhead of the distributed run;
* undertow_scan_embedding ``ut.scan(paths).embedding(drift, "v")`` over the vectors, beside
                          pyarrow's streaming read of the same files.

Peak extra RSS (VmHWM minus VmRSS before the call, in a fresh child process, since pyarrow's
memory pool keeps earlier rounds' memory mapped) of the streamed PSI for three batch sizes and of the
streamed embedding drift: bounded by the batch, not by the dataset. Each undertow result is
cross-checked (PSI against ``reference.psi`` of the table read in memory, bit for bit; the
dask result against the serial one, bit for bit). No assertion is made on time.

Environment: UNDERTOW_BENCH_STREAM_FILES, UNDERTOW_BENCH_STREAM_ROWS (rows per file),
UNDERTOW_BENCH_STREAM_COLUMNS, UNDERTOW_BENCH_VECTORS, UNDERTOW_BENCH_DIM;
UNDERTOW_BENCH_QUICK=1 shrinks everything (20 x 1e5 rows, 1e5 vectors of 128 dimensions).

    python -m pytest benches/test_bench_stream.py --benchmark-only -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from _common import _is_quick, note, record

import undertow as ut
import undertow.dask as utd

BATCH = 65_536
ROW_GROUP = 131_072


def _env_int(name: str, default: float, quick: float) -> int:
    raw = os.environ.get(name)
    return int(float(raw)) if raw else int(quick if _is_quick() else default)


FILES = _env_int("UNDERTOW_BENCH_STREAM_FILES", 20, 20)
ROWS_PER_FILE = _env_int("UNDERTOW_BENCH_STREAM_ROWS", 1e6, 1e5)
COLUMNS = _env_int("UNDERTOW_BENCH_STREAM_COLUMNS", 4, 4)
VECTORS = _env_int("UNDERTOW_BENCH_VECTORS", 1e6, 1e5)
DIM = _env_int("UNDERTOW_BENCH_DIM", 384, 128)
VECTOR_FILE_ROWS = 100_000

GROUP = f"stream:{FILES * ROWS_PER_FILE}"
TITLE = (
    f"Streaming PSI over Parquet: {FILES} files x {ROWS_PER_FILE:,} rows x {COLUMNS} float32 columns "
    f"({FILES * ROWS_PER_FILE * COLUMNS * 4 / 1e6:,.0f} MB decoded)"
)
EMB_GROUP = f"stream-embedding:{VECTORS}"
EMB_TITLE = (
    f"Streaming embedding drift over Parquet: {VECTORS:,} x {DIM} float32 vectors "
    f"({VECTORS * DIM * 4 / 1e6:,.0f} MB)"
)


@pytest.fixture(scope="module")
def table_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], ut.Reference]:
    root = tmp_path_factory.mktemp("stream-psi")
    rng = np.random.default_rng(11)
    names = [f"c{j}" for j in range(COLUMNS)]
    reference = ut.Reference.fit({n: rng.standard_normal(200_000, dtype=np.float32) for n in names})
    paths = []
    for i in range(FILES):
        columns = {}
        for j, name in enumerate(names):
            x = rng.standard_normal(ROWS_PER_FILE, dtype=np.float32)
            x += np.float32(0.01 * j)
            columns[name] = x
        path = root / f"part-{i:03d}.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=ROW_GROUP)
        paths.append(str(path))
    return paths, reference


@pytest.fixture(scope="module")
def vector_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], ut.EmbeddingDrift]:
    root = tmp_path_factory.mktemp("stream-vectors")
    rng = np.random.default_rng(12)
    drift = ut.EmbeddingDrift.fit(rng.standard_normal((50_000, DIM), dtype=np.float32), components=32)
    paths = []
    for i, start in enumerate(range(0, VECTORS, VECTOR_FILE_ROWS)):
        n = min(VECTOR_FILE_ROWS, VECTORS - start)
        values = rng.standard_normal(n * DIM, dtype=np.float32)
        values += np.float32(0.02)
        column = pa.FixedSizeListArray.from_arrays(pa.array(values), DIM)
        path = root / f"vectors-{i:03d}.parquet"
        pq.write_table(pa.table({"v": column}), path, row_group_size=VECTOR_FILE_ROWS // 4)
        paths.append(str(path))
    return paths, drift


# Peak RSS is measured in a fresh child process: pyarrow's memory pool (jemalloc/mimalloc) keeps
# the memory of earlier rounds mapped, so growth inside this process would read as ~0.
_CHILD = r"""
import json, re, sys
import pyarrow.parquet as pq
import undertow as ut

def rss(key):
    return int(re.search(key + r":\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

kind, state, batch_size, paths = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
if kind == "psi":
    target = ut.Reference.from_bytes(open(state, "rb").read())
elif kind == "embedding":
    target = ut.EmbeddingDrift.from_bytes(open(state, "rb").read())
base = rss("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
if kind == "read_table":
    rows = pq.read_table(paths).num_rows
elif kind == "psi":
    rows = ut.scan(paths, batch_size=batch_size, progress=False).psi(target).rows
else:
    rows = ut.scan(paths, batch_size=batch_size, progress=False).embedding(target, "v").n_current
print(json.dumps({"extra": rss("VmHWM") - base, "rows": rows}))
"""


def _child_peak_rss(kind: str, state: bytes, batch_size: int, paths: list[str], tmp: Path) -> int:
    state_path = tmp / f"{kind}.state"
    state_path.write_bytes(state)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(state_path), str(batch_size), *paths],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(out.stdout)["extra"])


def _read_table(paths: list[str], columns: list[str]) -> int:
    return pq.read_table(paths, columns=columns).num_rows


def _stream_batches(paths: list[str], columns: list[str]) -> int:
    return sum(
        b.num_rows for b in ds.dataset(paths, format="parquet").to_batches(columns=columns, batch_size=BATCH)
    )


def _scan_psi(paths: list[str], reference: ut.Reference, batch_size: int = BATCH) -> Any:
    return ut.scan(paths, batch_size=batch_size, progress=False).psi(reference)


def _values() -> int:
    return FILES * ROWS_PER_FILE * COLUMNS


def _mb(extra: int) -> str:
    return f"{extra / 1e6:.1f} MB"


def test_pyarrow_read_table(benchmark: Any, table_files: tuple[list[str], ut.Reference]) -> None:
    paths, reference = table_files
    benchmark.group = "stream psi"
    rows = benchmark.pedantic(_read_table, args=(paths, reference.columns), rounds=3, iterations=1)
    assert rows == FILES * ROWS_PER_FILE
    record(benchmark, GROUP, TITLE, "pyarrow_read_table", _values())
    extra = _child_peak_rss("read_table", b"", 0, paths, Path(paths[0]).parent)
    note(GROUP, TITLE, "peak extra RSS (fresh process), pyarrow_read_table (all in memory)", _mb(extra))


def test_pyarrow_stream_batches(benchmark: Any, table_files: tuple[list[str], ut.Reference]) -> None:
    paths, reference = table_files
    benchmark.group = "stream psi"
    rows = benchmark.pedantic(_stream_batches, args=(paths, reference.columns), rounds=3, iterations=1)
    assert rows == FILES * ROWS_PER_FILE
    record(benchmark, GROUP, TITLE, "pyarrow_stream_batches", _values())


def test_undertow_scan_psi(benchmark: Any, table_files: tuple[list[str], ut.Reference]) -> None:
    from _common import RESULTS

    paths, reference = table_files
    benchmark.group = "stream psi"
    report = benchmark.pedantic(_scan_psi, args=(paths, reference), rounds=3, iterations=1, warmup_rounds=1)
    entry = record(benchmark, GROUP, TITLE, "undertow_scan_psi", _values())
    assert report.rows == FILES * ROWS_PER_FILE
    # cross-check: the PSI of the whole table read in memory, bit for bit
    want = reference.psi(pl_frame(pq.read_table(paths, columns=reference.columns)))
    for name in reference.columns:
        assert report[name].value == want[name].value
        np.testing.assert_array_equal(report[name].actual_counts, want[name].actual_counts)
    reads = [e for k, e in RESULTS[GROUP].entries.items() if k.startswith("pyarrow")]
    if entry is not None and reads:
        best = min(reads, key=lambda e: e.median_s)
        share = entry.rate / best.rate
        benchmark.extra_info["share_of_pyarrow_read_rate"] = share
        note(GROUP, TITLE, "undertow_scan_psi rate / fastest pyarrow read rate", f"{share:.2f}")
    for batch_size in (16_384, 65_536, 262_144):
        extra = _child_peak_rss("psi", reference.to_bytes(), batch_size, paths, Path(paths[0]).parent)
        batch_mb = batch_size * COLUMNS * 4 / 1e6
        benchmark.extra_info[f"peak_extra_rss_mb_batch_{batch_size}"] = extra / 1e6
        note(
            GROUP,
            TITLE,
            f"peak extra RSS (fresh process), undertow_scan_psi, batch_size={batch_size:,}",
            f"{_mb(extra)} (one decoded batch is {batch_mb:.1f} MB)",
        )


def pl_frame(table: pa.Table) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def test_undertow_dask_psi(benchmark: Any, table_files: tuple[list[str], ut.Reference]) -> None:
    from distributed import Client, LocalCluster

    paths, reference = table_files
    benchmark.group = "stream psi"
    serial = _scan_psi(paths, reference)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        report = benchmark.pedantic(
            utd.psi,
            args=(reference, paths),
            kwargs={"client": client},
            rounds=3,
            iterations=1,
            warmup_rounds=1,
        )
    entry = record(benchmark, GROUP, TITLE, "undertow_dask_psi_2_processes", _values())
    for name in reference.columns:  # bit-identical to the serial run
        assert report[name].value == serial[name].value
        np.testing.assert_array_equal(report[name].actual_counts, serial[name].actual_counts)
    from _common import RESULTS

    scan_entry = RESULTS[GROUP].entries.get("undertow_scan_psi")
    if entry is not None and scan_entry is not None:
        ratio = entry.median_s / scan_entry.median_s
        benchmark.extra_info["dask_time_over_serial_time"] = ratio
        note(
            GROUP,
            TITLE,
            "dask (2 worker processes x 1 thread) time / serial scan time (2 rayon threads)",
            f"{ratio:.2f} ({entry.median_s:.2f} s vs {scan_entry.median_s:.2f} s, {FILES} tasks)",
        )


def test_undertow_scan_embedding(benchmark: Any, vector_files: tuple[list[str], ut.EmbeddingDrift]) -> None:
    paths, drift = vector_files
    benchmark.group = "stream embedding"
    start = time.perf_counter()  # the pyarrow yardstick: a streaming read of the same files
    rows = _stream_batches(paths, ["v"])
    read_s = time.perf_counter() - start
    assert rows == VECTORS

    def run() -> Any:
        return ut.scan(paths, batch_size=16_384, progress=False).embedding(drift, "v")

    report = benchmark.pedantic(run, rounds=1, iterations=1)
    entry = record(benchmark, EMB_GROUP, EMB_TITLE, "undertow_scan_embedding", VECTORS * DIM)
    assert report.n_current == VECTORS
    note(EMB_GROUP, EMB_TITLE, "pyarrow streaming read of the same files", f"{read_s:.2f} s")
    if entry is not None:
        note(EMB_GROUP, EMB_TITLE, "undertow time / pyarrow read time", f"{entry.median_s / read_s:.2f}")
    # Bounded by the batch, not the data: the same files read with two batch sizes, and half of
    # the files with the smaller one.
    half = paths[: max(1, len(paths) // 2)]
    for batch_size, files in ((4_096, half), (4_096, paths), (16_384, paths)):
        extra = _child_peak_rss("embedding", drift.to_bytes(), batch_size, files, Path(paths[0]).parent)
        benchmark.extra_info[f"peak_extra_rss_mb_batch_{batch_size}_files_{len(files)}"] = extra / 1e6
        note(
            EMB_GROUP,
            EMB_TITLE,
            f"peak extra RSS (fresh process), batch_size={batch_size:,}, {len(files)} files",
            f"{_mb(extra)} (one batch is {batch_size * DIM * 4 / 1e6:.1f} MB; "
            f"the data {len(files) * VECTOR_FILE_ROWS * DIM * 4 / 1e6:,.0f} MB)",
        )
    note(EMB_GROUP, EMB_TITLE, "status / MMD p-value", f"{report.status} / {report.mmd.p_value}")
