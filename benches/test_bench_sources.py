"""A Lance dataset streamed through ``ut.scan(dataset).embedding(drift)``, beside the same vectors
in Parquet files, with the peak memory of each (issue 11).

Data (written once per session to a temporary directory, in chunks, never whole in memory):
VECTORS rows (default 1e6) of DIM-dimensional float32 vectors (default 384: 1.5 GB), as

* a Lance dataset of FRAGMENT_ROWS-row fragments (default 250,000: 4 fragments, 4 leaves),
* a Lance dataset of its first fragment's rows only (a quarter of the data), and
* Parquet files holding the same fragments' rows, one file each (row groups of 25,000).

Benchmarks:

* lance_scan_embedding    ``ut.scan(dataset, batch_size=16_384).embedding(drift, "v")``, timed
                          in this process, cross-checked against the Parquet files: the same
                          report, bit for bit (the same leaves and the same batches);
* peak extra RSS (VmHWM minus VmRSS before the call, in a fresh child process per
  configuration, as in test_bench_stream.py) and time of the Lance and the Parquet scan at two
  batch sizes, of the quarter-size Lance dataset at the smaller one (the peak follows the batch,
  not the data), and of ``dataset.to_table(columns=["v"])``, the whole-table load the scan
  replaces.

Environment: UNDERTOW_BENCH_VECTORS, UNDERTOW_BENCH_DIM; UNDERTOW_BENCH_QUICK=1 shrinks the data
to 1e5 vectors of 128 dimensions.

    python -m pytest benches/test_bench_sources.py --benchmark-only -q -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _common import _is_quick, note, record

import undertow as ut


def _env_int(name: str, default: float, quick: float) -> int:
    raw = os.environ.get(name)
    return int(float(raw)) if raw else int(quick if _is_quick() else default)


VECTORS = _env_int("UNDERTOW_BENCH_VECTORS", 1e6, 1e5)
DIM = _env_int("UNDERTOW_BENCH_DIM", 384, 128)
CHUNK = 25_000  # rows generated at a time while writing (FRAGMENT_ROWS is a multiple)
FRAGMENT_ROWS = max(CHUNK, VECTORS // 4 // CHUNK * CHUNK)
GROUP = f"sources-lance:{VECTORS}"
TITLE = (
    f"Streaming embedding drift over a Lance dataset: {VECTORS:,} x {DIM} float32 vectors "
    f"({VECTORS * DIM * 4 / 1e6:,.0f} MB, {-(-VECTORS // FRAGMENT_ROWS)} fragments)"
)


def _chunks(start: int, stop: int) -> Any:
    for lo in range(start, stop, CHUNK):
        n = min(CHUNK, stop - lo)
        rng = np.random.default_rng(1_000 + lo)  # by position: the same rows in both formats
        values = rng.standard_normal(n * DIM, dtype=np.float32)
        values += np.float32(0.02)
        yield pa.record_batch({"v": pa.FixedSizeListArray.from_arrays(pa.array(values), DIM)})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str], ut.EmbeddingDrift]:
    root = tmp_path_factory.mktemp("sources-lance")
    schema = pa.schema({"v": pa.list_(pa.float32(), DIM)})
    reader = pa.RecordBatchReader.from_batches(schema, _chunks(0, VECTORS))
    uri = str(root / "vectors.lance")
    lance.write_dataset(reader, uri, max_rows_per_file=FRAGMENT_ROWS, max_rows_per_group=CHUNK)
    quarter = pa.RecordBatchReader.from_batches(schema, _chunks(0, FRAGMENT_ROWS))
    lance.write_dataset(quarter, root / "quarter.lance", max_rows_per_file=FRAGMENT_ROWS)
    paths = []
    for i, start in enumerate(range(0, VECTORS, FRAGMENT_ROWS)):
        path = root / f"vectors-{i:03d}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for batch in _chunks(start, min(start + FRAGMENT_ROWS, VECTORS)):
                writer.write_batch(batch, row_group_size=25_000)
        paths.append(str(path))
    rng = np.random.default_rng(12)
    drift = ut.EmbeddingDrift.fit(rng.standard_normal((50_000, DIM), dtype=np.float32), components=32)
    return uri, paths, drift


_CHILD = r"""
import json, re, sys, time
import lance
import undertow as ut

def rss(key):
    return int(re.search(key + r":\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

kind, state, batch_size, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
drift = ut.EmbeddingDrift.from_bytes(open(state, "rb").read())
if kind != "parquet":
    source = lance.dataset(source[0])
base = rss("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
start = time.perf_counter()
if kind == "to_table":
    rows = source.to_table(columns=["v"]).num_rows
else:
    rows = ut.scan(source, batch_size=batch_size, progress=False).embedding(drift, "v").n_current
seconds = time.perf_counter() - start
print(json.dumps({"extra": rss("VmHWM") - base, "rows": rows, "seconds": seconds}))
"""


def _child(kind: str, drift: ut.EmbeddingDrift, batch_size: int, source: list[str], tmp: Path) -> dict:
    state = tmp / "drift.state"
    state.write_bytes(drift.to_bytes())
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(state), str(batch_size), *source],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_lance_scan_embedding(benchmark: Any, data: tuple[str, list[str], ut.EmbeddingDrift]) -> None:
    uri, paths, drift = data
    dataset = lance.dataset(uri)
    assert dataset.count_rows() == VECTORS
    benchmark.group = "sources lance"

    def run() -> Any:
        return ut.scan(dataset, batch_size=16_384, progress=False).embedding(drift, "v")

    report = benchmark.pedantic(run, rounds=1, iterations=1)
    record(benchmark, GROUP, TITLE, "lance_scan_embedding_batch_16384", VECTORS * DIM)
    assert report.n_current == VECTORS
    parquet = ut.scan(paths, batch_size=16_384, progress=False).embedding(drift, "v")
    assert report.to_dict() == parquet.to_dict()  # the same leaves and batches: bit for bit
    note(GROUP, TITLE, "Lance report == Parquet report (same fragments as files)", "bit for bit")
    tmp = Path(uri).parent
    whole = _child("to_table", drift, 0, [uri], tmp)
    assert whole["rows"] == VECTORS
    note(GROUP, TITLE, "dataset.to_table(columns=['v']) (all in memory)", _fmt(whole))
    benchmark.extra_info["peak_extra_rss_mb_to_table"] = whole["extra"] / 1e6
    quarter = str(tmp / "quarter.lance")
    runs = [(4_096, "lance", [uri]), (4_096, "parquet", paths), (4_096, "lance_quarter", [quarter])]
    runs += [(16_384, "lance", [uri]), (16_384, "parquet", paths)]
    for batch_size, kind, source in runs:
        got = _child("parquet" if kind == "parquet" else "lance", drift, batch_size, source, tmp)
        assert got["rows"] == (FRAGMENT_ROWS if kind == "lance_quarter" else VECTORS)
        benchmark.extra_info[f"peak_extra_rss_mb_{kind}_batch_{batch_size}"] = got["extra"] / 1e6
        note(
            GROUP,
            TITLE,
            f"ut.scan({kind}, batch_size={batch_size:,}).embedding, {got['rows']:,} rows (one batch "
            f"{batch_size * DIM * 4 / 1e6:.1f} MB)",
            _fmt(got),
        )
    note(GROUP, TITLE, "status / MMD p-value", f"{report.status} / {report.mmd.p_value}")


def _fmt(got: dict) -> str:
    return f"peak extra RSS {got['extra'] / 1e6:,.1f} MB, {got['seconds']:.2f} s (fresh process)"
