"""Streamed, Dask and in-memory eval coverage agree bit for bit; windows over time; the
accumulator's merge and bytes; bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sentences_data import load_sentences

import undertow as ut
from undertow.coverage import CoverageAccumulator


@pytest.fixture(scope="module")
def traffic() -> pl.DataFrame:
    """The sentences as production traffic over three months: chatterbot only in January,
    python-docs joining in February and dominating March."""
    d = load_sentences()
    x, source = d["minilm"], d["source"]
    rng = np.random.default_rng(1)
    chat = np.flatnonzero(source == "chatterbot-corpus")
    docs = np.flatnonzero(source == "python-docs")
    rng.shuffle(chat)
    rng.shuffle(docs)
    months = np.empty(len(x), dtype="datetime64[us]")
    months[chat[:900]] = np.datetime64("2026-01-10")
    months[chat[900:1400]] = np.datetime64("2026-02-10")
    months[chat[1400:]] = np.datetime64("2026-03-10")
    months[docs[:400]] = np.datetime64("2026-02-20")
    months[docs[400:]] = np.datetime64("2026-03-20")
    return pl.DataFrame(
        {
            "id": d["ids"] * 10 + 7,
            "ts": months,
            "source": source,
            "vector": pl.Series(x).cast(pl.Array(pl.Float32, 384)),
        }
    )


@pytest.fixture(scope="module")
def eval_x() -> np.ndarray:
    d = load_sentences()
    chat = np.flatnonzero(d["source"] == "chatterbot-corpus")
    return d["minilm"][chat[::3]]


def write_parts(frame: pl.DataFrame, tmp_path, parts: int = 3) -> list[str]:
    paths = []
    for i, part in enumerate(np.array_split(np.arange(frame.height), parts)):
        path = tmp_path / f"part-{i}.parquet"
        frame[part].write_parquet(path)
        paths.append(str(path))
    return paths


OPTIONS = dict(clusters=8, time_column="ts", every="1mo")


def test_windows_show_coverage_falling_month_by_month(traffic, eval_x) -> None:
    report = ut.eval_coverage(eval_x, traffic, column="vector", id_column="id", **OPTIONS)
    w = report.windows
    assert w["window_start"].to_list() == [dt.datetime(2026, m, 1) for m in (1, 2, 3)]
    q = report.queries.join(traffic.select("id", "ts"), on="id")
    by_month = q.group_by(pl.col("ts").dt.month()).agg(pl.len(), pl.col("covered").sum()).sort("ts")
    assert w["rows"].to_list() == by_month["len"].to_list()
    assert w["covered"].to_list() == by_month["covered"].to_list()
    cov = w["coverage"].to_list()
    assert cov[0] > 0.85 and cov[0] > cov[1] > cov[2] and cov[2] < 0.6, cov  # measured 0.93, 0.69, 0.52
    assert report.queries["id"].to_list() == traffic["id"].to_list()


def test_scan_and_dask_equal_in_memory_bit_for_bit(traffic, eval_x, tmp_path) -> None:
    import dask

    import undertow.dask

    memory = ut.eval_coverage(eval_x, traffic, column="vector", id_column="id", batch_size=1000, **OPTIONS)
    paths = write_parts(traffic, tmp_path)
    streamed = ut.eval_coverage(
        eval_x, ut.scan(paths, batch_size=700), column="vector", id_column="id", **OPTIONS
    )
    with dask.config.set(scheduler="threads"):
        acc = undertow.dask.eval_coverage(
            eval_x,
            paths,
            "vector",
            "id",
            time_column="ts",
            batch_size=700,
            finalize=False,
            clusters=8,
            every="1mo",
        )
    assert isinstance(acc, CoverageAccumulator)
    distributed = acc.finalize()
    expected = memory.to_dict()
    assert streamed.to_dict() == expected
    assert distributed.to_dict() == expected
    np.testing.assert_array_equal(streamed.centroids, memory.centroids)
    assert streamed.queries is None
    # The same rows give the same bytes whatever the cut.
    with dask.config.set(scheduler="synchronous"):
        again = undertow.dask.eval_coverage(
            eval_x, paths, "vector", "id", time_column="ts", batch_size=333, finalize=False, clusters=8
        )
    assert again.to_bytes() == acc.to_bytes()


def test_accumulator_merge_and_bytes(traffic, eval_x, tmp_path) -> None:
    paths = write_parts(traffic, tmp_path, parts=2)
    scan = ut.scan(paths)
    whole = ut.eval_coverage(eval_x, scan, column="vector", id_column="id", **OPTIONS)
    from undertow.coverage.jobs import CoverageJob
    from undertow.stream import read_fragment

    # Rebuild the settings once through the streamed pass, then count the two files apart.
    acc = scan.accumulate(CoverageJob(_settings(eval_x, scan), "vector", "id", "ts"))
    leaves = [read_fragment(f, CoverageJob(acc.settings, "vector", "id", "ts")) for f in scan.fragments]
    merged = CoverageAccumulator.from_bytes(leaves[1].to_bytes()).merge(leaves[0])
    assert merged.to_bytes() == acc.to_bytes()
    assert merged.finalize().to_dict() == whole.to_dict()
    restored = CoverageAccumulator.from_bytes(acc.to_bytes())
    assert restored.to_bytes() == acc.to_bytes()
    assert "CoverageAccumulator(rows=4304" in repr(restored)
    doubled = CoverageAccumulator.from_bytes(acc.to_bytes()).merge(acc)
    assert doubled.rows == 2 * acc.rows
    bad = bytearray(acc.to_bytes())
    bad[-5] ^= 0xFF
    with pytest.raises(ut.UndertowError, match="data:"):
        CoverageAccumulator.from_bytes(bytes(bad))
    other = scan.accumulate(CoverageJob(_settings(eval_x[:50], scan), "vector", "id", "ts"))
    with pytest.raises(ut.UndertowError, match="other eval vectors"):
        other.merge(acc)


def _settings(eval_x, scan):
    from undertow.coverage.api import prepare_eval, settings_from_sample
    from undertow.coverage.jobs import CoverageSampleJob

    unit, ids, r, q = prepare_eval(eval_x, None, eval_x.dtype, "auto", 0.1)
    sample = scan.accumulate(CoverageSampleJob("vector", 8 * 256, 0, unit.dtype.str))
    return settings_from_sample(unit, ids, r, q, sample, clusters=8, seed=0, max_iter=25, representatives=3,
                                every="1mo", min_coverage=0.5, min_share=0.01)  # fmt: skip


def test_report_outputs(traffic, eval_x) -> None:
    import json

    report = ut.eval_coverage(eval_x, traffic, column="vector", id_column="id", **OPTIONS)
    table = report.to_polars()
    assert table.height == 8 and table["gap_score"].is_sorted(descending=True)
    assert table["rows"].sum() == traffic.height
    decoded = json.loads(report.to_json())
    assert decoded["coverage"] == report.coverage and len(decoded["windows"]) == 3
    assert decoded["mix_psi"]["value"] == report.mix_psi.value
    assert repr(report).startswith(f"CoverageReport(coverage={report.coverage:.3f}")


RNG = np.random.default_rng(3)
GOOD = RNG.normal(size=(50, 8)).astype(np.float32)


@pytest.mark.parametrize(
    ("eval_vectors", "production", "kwargs", "error", "message"),
    [
        (np.zeros((0, 8), np.float32), GOOD, {}, ut.UndertowError, "eval_vectors: needs at least 1 rows"),
        (GOOD[:, :4], GOOD, {}, ut.UndertowError, "vectors have 8 dimensions, eval_vectors 4"),
        (np.where(np.arange(8) == 2, np.nan, GOOD[:5]), GOOD, {}, ut.UndertowError, "eval_vectors: 5 rows"),
        (GOOD, np.vstack([GOOD, np.full((1, 8), np.nan, np.float32)]), {}, ut.UndertowError,
         "production_vectors: 1 rows hold NaN or inf \\(the first: row 50\\)"),
        (GOOD, np.vstack([GOOD, np.zeros((1, 8), np.float32)]), {}, ut.UndertowError, "zero vectors"),
        (GOOD[:1], GOOD, {}, ut.UndertowError, "radius: the automatic rule needs at least 2 eval items"),
        (GOOD, GOOD, {"radius": 1.5}, ut.UndertowError, "radius: must lie in"),
        (GOOD, GOOD, {"radius": "wide"}, ut.UndertowError, "radius: must be \"auto\""),
        (GOOD, GOOD, {"ids": np.arange(3)}, ut.UndertowError, "ids: 3 ids for 50 production rows"),
        (GOOD, GOOD, {"eval_ids": [1.5] * 50}, TypeError, "eval_ids: ids must be integers"),
        (GOOD, GOOD, {"clusters": 0}, ut.UndertowError, "clusters: must be between 1"),
        (GOOD, GOOD, {"time_column": "ts"}, ut.UndertowError, "time_column: needs production_vec"),
        (GOOD, np.zeros((0, 8), np.float32), {}, ut.UndertowError, "production_vectors: needs at least 1"),
    ],
)  # fmt: skip
def test_bad_input(eval_vectors, production, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        ut.eval_coverage(eval_vectors, production, **kwargs)


def test_streamed_source_needs_ids(tmp_path, traffic, eval_x) -> None:
    paths = write_parts(traffic, tmp_path, parts=1)
    with pytest.raises(ut.UndertowError, match="id_column: a streamed production source needs"):
        ut.eval_coverage(eval_x, ut.scan(paths), column="vector")
    with pytest.raises(ut.UndertowError, match="id_column: 'source' must hold integers"):
        ut.eval_coverage(eval_x, ut.scan(paths), column="vector", id_column="source")


def test_few_rows_reduce_the_cluster_count() -> None:
    report = ut.eval_coverage(GOOD, GOOD[:5], clusters=16)
    assert len(report.clusters) == 5 and report.kmeans["k"] == 5
    assert report.coverage == 1.0  # every query is an eval item
