"""cohort_balance on ut.scan sources: streamed batch by batch, equal to the in-memory call on the
same rows (counts, PSI and p-values exactly, SMD to 1e-12), with memory bounded by the batch and
one column of control values, and the in-memory path's errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import undertow as ut

COVARIATES = ["x32", "x64", "count", "tier", "score", "plan", "paid", "city"]


def mixed(n: int, seed: int) -> pl.DataFrame:
    """Three arms (uneven), float32/float64/integer numeric covariates with nulls, forced
    categorical integer and float columns, String (with nulls), Boolean and Categorical
    covariates, a vector column."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(np.array(["control", "t1", "t2"]), n, p=[0.5, 0.3, 0.2])
    shift = np.where(arm == "t2", 0.3, 0.0)
    x64 = rng.normal(5.0, 2.0, n) + shift
    return pl.DataFrame(
        {
            "arm": arm,
            "x32": rng.standard_normal(n).astype(np.float32),
            "x64": pl.Series(x64).scatter(np.flatnonzero(rng.random(n) < 0.05), None),
            "count": rng.poisson(3 + 2 * shift, n),
            "tier": rng.integers(0, 4, n),
            "score": rng.choice([0.5, 1.5, 2.5], n),
            "plan": pl.Series(rng.choice(["free", "pro", "team"], n)).scatter(
                np.flatnonzero(rng.random(n) < 0.03), None
            ),
            "paid": rng.random(n) < 0.4 + shift,
            "city": pl.Series(rng.choice(["berlin", "paris", "tokyo", "lima"], n)).cast(pl.Categorical),
            "v": (rng.standard_normal((n, 6)) + shift[:, None]).astype(np.float32),
        }
    )


def write_files(frame: pl.DataFrame, directory, sizes: list[int]) -> None:
    """`frame` as consecutive Parquet files of the given row counts (sorted names keep the order)."""
    os.makedirs(directory, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        frame.slice(start, size).write_parquet(os.path.join(directory, f"part-{i:02d}.parquet"))
        start += size
    assert start == frame.height


def assert_same(a: ut.BalanceReport, b: ut.BalanceReport) -> None:
    da, db = a.to_dict(), b.to_dict()
    for x, y in zip(da["covariates"], db["covariates"], strict=True):
        if x.get("smd") is not None:
            sx, sy = x.pop("smd"), y.pop("smd")
            assert sx.keys() == sy.keys()
            for arm in sx:
                assert sy[arm] == pytest.approx(sx[arm], rel=1e-12, abs=1e-15), (x["name"], arm)
    assert da == db


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    frame = mixed(12_000, 3)
    directory = tmp_path_factory.mktemp("cohorts") / "parts"
    write_files(frame, directory, [5_000, 1, 2_999, 4_000])
    return frame, str(directory)


KW = {"categorical": ["tier", "score"], "embeddings": ["v"], "embedding_sample": 700, "seed": 5}


@pytest.mark.parametrize(("batch_size", "split_every"), [(97, 2), (1_000, 8), (65_536, 8)])
def test_streamed_equals_in_memory(data, batch_size, split_every) -> None:
    frame, directory = data
    memory = ut.cohort_balance(frame, "arm", COVARIATES, **KW)
    streamed = ut.cohort_balance(
        ut.scan(directory, batch_size=batch_size, split_every=split_every), "arm", COVARIATES, **KW
    )
    assert_same(memory, streamed)
    # the data has imbalance to find (t2 is shifted), so equality is not of two empty reports
    assert memory["x64"].status == "imbalanced"
    vectors = {c.arm: c.status for c in memory.covariates if c.name == "v"}
    assert vectors == {"t1": "balanced", "t2": "imbalanced"}
    assert memory.srm.counts == [int((frame["arm"] == a).sum()) for a in ("control", "t1", "t2")]


def test_streamed_lazyframe_and_table_equal_in_memory(data) -> None:
    frame, _ = data
    memory = ut.cohort_balance(frame, "arm", COVARIATES, **KW)
    for source, size in ((frame.lazy(), 513), (frame.to_arrow(), 4096)):
        assert_same(memory, ut.cohort_balance(ut.scan(source, batch_size=size), "arm", COVARIATES, **KW))


def test_streamed_smd_and_counts_against_numpy(data) -> None:
    """Independent float64 reference: numpy means and variances per arm, numpy counts per bin."""
    frame, directory = data
    report = ut.cohort_balance(ut.scan(directory, batch_size=333), "arm", ["x64", "count"], control="control")
    for name in ("x64", "count"):
        values = {a: frame.filter(pl.col("arm") == a)[name].drop_nulls().to_numpy().astype(np.float64)
                  for a in ("control", "t1", "t2")}  # fmt: skip
        c = values["control"]
        for t in ("t1", "t2"):
            x = values[t]
            want = (x.mean() - c.mean()) / np.sqrt((x.var(ddof=1) + c.var(ddof=1)) / 2)
            assert report[name].smd[t] == pytest.approx(want, rel=1e-10)
    assert report.rows == frame.height


def test_embedding_sample_is_batch_independent(data) -> None:
    """With the sample (300) smaller than every arm, the same rows are drawn whatever the batches
    and files: the keys come from each row's position in the source."""
    frame, directory = data
    kw = {"embeddings": ["v"], "embedding_sample": 300, "seed": 1}
    reports = [ut.cohort_balance(ut.scan(directory, batch_size=b), "arm", ["x32"], **kw) for b in (50, 7_000)]
    reports.append(ut.cohort_balance(frame, "arm", ["x32"], **kw))
    assert_same(reports[0], reports[1])
    assert_same(reports[0], reports[2])
    other = ut.cohort_balance(frame, "arm", ["x32"], embeddings=["v"], embedding_sample=300, seed=2)
    assert other["v"].statistic != reports[0]["v"].statistic  # the seed picks other rows


def test_embeddings_only(data) -> None:
    frame, directory = data
    kw = {"embeddings": ["v"], "embedding_sample": 500}
    memory = ut.cohort_balance(frame, "arm", [], **kw)
    assert_same(memory, ut.cohort_balance(ut.scan(directory), "arm", [], **kw))
    assert [c.name for c in memory.covariates] == ["v", "v"]


def test_float_named_categorical_is_binned_by_its_values(tmp_path) -> None:
    """A float column named in `categorical` is binned by its values on both paths (it was
    binned by quantiles in memory, and its share differences were meaningless)."""
    frame = pl.DataFrame({"arm": ["a", "b"] * 50, "f": np.tile([0.5, 1.5, 2.5, 3.5], 25)})
    write_files(frame, tmp_path / "f", [30, 70])
    for source in (frame, ut.scan(str(tmp_path / "f"), batch_size=8)):
        report = ut.cohort_balance(source, "arm", ["f"], categorical=["f"])
        # control "a" holds 0.5 and 2.5, arm "b" only 1.5 and 3.5 (unseen by control)
        assert report["f"].share_diff == {"b": {"0.5": -0.5, "2.5": -0.5, "<unseen>": 1.0, "<missing>": 0.0}}


def small(tmp_path) -> str:
    directory = tmp_path / "small"
    frame = pl.DataFrame({"arm": ["a", "b"] * 50, "x": np.arange(100.0), "s": ["u", "v"] * 50})
    write_files(frame, directory, [60, 40])
    return str(directory)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("group", ["x"]), {}, r"arm: 'group' is not a column of frame"),
        (("arm", ["x", "y"]), {}, r"covariates: \['y'\] are not columns of frame"),
        (("arm", ["x"]), {"embeddings": ["w"]}, r"embeddings: \['w'\] are not columns of frame"),
        (("arm", ["x"]), {"expected": {"a": 0.5, "b": 0.25, "c": 0.25}}, "arm: arm 'c' has no rows"),
        (("arm", ["x"]), {"expected": {"a": 1.0}}, r"expected: arm labels \['b'\] are in the data but not"),
        (("arm", ["x"]), {"control": "z"}, "control: 'z' is not an arm"),
    ],
)
def test_streamed_bad_input(tmp_path, args, kwargs, message) -> None:
    with pytest.raises(ut.UndertowError, match=message):
        ut.cohort_balance(ut.scan(small(tmp_path), batch_size=16), *args, **kwargs)
    frame = pl.read_parquet(small(tmp_path))  # the in-memory path says the same
    with pytest.raises(ut.UndertowError, match=message):
        ut.cohort_balance(frame, *args, **kwargs)


def test_streamed_bad_frames(tmp_path) -> None:
    directory = tmp_path / "nulls"
    write_files(pl.DataFrame({"arm": ["a", None, "b", "a"], "x": [1.0, 2, 3, 4]}), directory, [2, 2])
    with pytest.raises(ut.UndertowError, match="arm: 1 rows have no arm"):
        ut.cohort_balance(ut.scan(str(directory)), "arm", ["x"])
    single = tmp_path / "single"
    write_files(pl.DataFrame({"arm": ["a"] * 4, "x": [1.0, 2, 3, 4]}), single, [2, 2])
    with pytest.raises(ut.UndertowError, match="arm: needs at least 2 arms"):
        ut.cohort_balance(ut.scan(str(single)), "arm", ["x"])
    table = pa.table({"arm": ["a", "b"], "x": [1.0, 2.0]})
    with pytest.raises(ut.UndertowError, match=r"frame: cohort_balance reads a ut\.scan source in several"):
        ut.cohort_balance(ut.scan(pa.RecordBatchReader.from_batches(table.schema, table.to_batches())),
                          "arm", ["x"])  # fmt: skip
    empty = pl.DataFrame({"arm": pl.Series([], dtype=pl.String), "x": pl.Series([], dtype=pl.Float64)})
    with pytest.raises(ut.UndertowError, match="has no rows"):
        ut.cohort_balance(ut.scan(empty.lazy()), "arm", ["x"])
    with pytest.raises(TypeError, match="covariates: 'd' has dtype Date"):
        dated = pl.DataFrame({"arm": ["a", "b"], "d": pl.Series([1, 2]).cast(pl.Date)})
        ut.cohort_balance(ut.scan(dated.lazy()), "arm", ["d"])


def test_source_changed_between_passes(tmp_path) -> None:
    """A source that returns other rows on a later pass is refused, not reported."""
    calls = [0]

    def grows(df: pl.DataFrame) -> pl.DataFrame:
        calls[0] += 1
        return df if calls[0] == 1 else pl.concat([df, df.head(5)])

    lazy = pl.LazyFrame({"arm": ["a", "b"] * 50, "x": np.arange(100.0)}).map_batches(grows, streamable=False)
    with pytest.raises(
        ut.UndertowError, match=r"frame: the scan source changed between passes \(100 rows, then 105"
    ):
        ut.cohort_balance(ut.scan(lazy), "arm", ["x"])


MEMORY_SCRIPT = textwrap.dedent(
    """
    import ctypes, gc, json, os, re, sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    import undertow as ut

    directory, files, rows, columns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    names = [f"x{j}" for j in range(columns)]
    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    for i in range(files):
        table = {"arm": pa.array(rng.integers(0, 2, rows).astype(np.int8))}
        table.update({n: pa.array(rng.standard_normal(rows)) for n in names})
        pq.write_table(pa.table(table), os.path.join(directory, f"p{i:02d}.parquet"), row_group_size=65536,
                       compression="none", use_dictionary=False, write_statistics=False)
        del table
    data_bytes = files * rows * (columns * 8 + 1)

    def status(key):
        with open("/proc/self/status") as f:
            return int(re.search(key + r":\\s+(\\d+) kB", f.read()).group(1)) * 1024

    # warm up (thread pools, imports) on the first file, then measure the whole dataset
    ut.cohort_balance(ut.scan(os.path.join(directory, "p00.parquet"), batch_size=65536), "arm", names)
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    report = ut.cohort_balance(ut.scan(directory, batch_size=65536), "arm", names)
    peak = status("VmHWM")
    print(json.dumps({"growth": peak - before, "data": data_bytes, "rows": report.rows}))
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak RSS")
def test_scan_memory_is_bounded_by_batch_and_one_column(tmp_path) -> None:
    """1,000,000 rows x 16 float64 covariates (129 MB in memory) in 4 files, streamed in batches
    of 65,536: the peak RSS growth stays below three quarters of the data, so no copy of it is
    held (measured 24-48 MB: a few batches
    and one column of control values, 4 MB). Collecting the columns into one frame, as before,
    grew by 347 MB here."""
    files, rows, columns = 4, 250_000, 16
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "big"), str(files), str(rows), str(columns)],
        capture_output=True,
        text=True,
        # a hang guard, not a time limit: it failed once at load 8 on 2 cores, most likely past 120 s
        timeout=900,
        env={**os.environ, "POLARS_MAX_THREADS": "2", "RAYON_NUM_THREADS": "2"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == files * rows
    # under a copy of the data (the collecting version grew by 2.7x it); the growth varies with
    # batches in flight and allocator state: 24 MB and 48 MB seen on this machine
    assert result["growth"] < 0.75 * result["data"], result
