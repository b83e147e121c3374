"""undertow.drift_over: one row per time window (and group), each equal to the statistic of
that window's rows computed directly."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

import undertow as ut

DIM = 6


def _frame(seed: int = 0, days: int = 5, per_hour: int = 12) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * 24 * per_hour
    start = datetime(2026, 3, 1)
    ts = [start + timedelta(minutes=5 * i) for i in range(n)]
    day = np.arange(n) // (24 * per_hour)
    return pl.DataFrame(
        {
            "ts": ts,
            "shop": rng.choice(["north", "south"], n),
            "x": rng.normal(0, 1, n) + 0.4 * day,  # drifts a little more every day
            "city": rng.choice(["a", "b", "c"], n),
            "v": pl.Series((rng.normal(size=(n, DIM)) + 0.8 * day[:, None]).astype(np.float32)),
        }
    )


@pytest.fixture(scope="module")
def reference() -> ut.Reference:
    base = _frame(1, days=1)
    return ut.Reference.fit(base.select("x", "city"), bins=6)


@pytest.fixture(scope="module")
def drift() -> ut.EmbeddingDrift:
    return ut.EmbeddingDrift.fit(_frame(2, days=1).get_column("v"), components=3, sample=200, permutations=30)


def _day_rows(frame: pl.DataFrame, day: datetime) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= day) & (pl.col("ts") < day + timedelta(days=1)))


def test_one_row_per_day_equal_to_psi_of_that_day(reference):
    frame = _frame()
    out = ut.drift_over(frame, reference, "ts", every="1d")
    assert out.columns == [
        "window_start",
        "window_end",
        "rows",
        "x_psi",
        "x_status",
        "city_psi",
        "city_status",
    ]
    assert out.height == 5
    for row in out.iter_rows(named=True):
        rows = _day_rows(frame, row["window_start"])
        assert row["window_end"] - row["window_start"] == timedelta(days=1)
        assert row["rows"] == rows.height == 288
        want = reference.psi(rows.select("x", "city"))
        assert row["x_psi"] == want["x"].value and row["x_status"] == want["x"].status
        assert row["city_psi"] == want["city"].value
    assert out["x_psi"].to_list() == sorted(out["x_psi"].to_list())  # the drift grows by day
    assert out["x_status"][-1] == "significant"


def test_groups_and_unsorted_input(reference):
    frame = _frame(3)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=4)
    # the per-shop windows are smaller than the default min_rows (180)
    out = ut.drift_over(shuffled, reference, "ts", every="1d", by="shop", min_rows=100)
    assert out.columns[:4] == ["shop", "window_start", "window_end", "rows"]
    assert out.height == 10
    for row in out.iter_rows(named=True):
        rows = _day_rows(frame, row["window_start"]).filter(pl.col("shop") == row["shop"])
        assert row["rows"] == rows.height
        want = reference.psi(rows.select("x", "city"))
        assert row["x_psi"] == want["x"].value and row["city_psi"] == want["city"].value
    assert out.equals(ut.drift_over(frame, reference, "ts", every="1d", by="shop", min_rows=100))


def test_windows_with_too_few_rows_are_reported(reference):
    frame = _frame(5, days=2)
    sparse = pl.concat([frame.head(20), frame.tail(288)])  # day one keeps 20 rows
    out = ut.drift_over(sparse, reference, "ts", every="1d", min_rows=50)
    assert out["rows"].to_list() == [20, 288]
    assert out["x_status"].to_list()[0] == "too_few_rows" and out["x_psi"][0] is None
    assert out["x_psi"][1] == reference.psi(frame.tail(288).select("x", "city"))["x"].value


def test_embedding_columns(reference, drift):
    frame = _frame(6, days=3)
    out = ut.drift_over(frame, [reference, {"v": drift}], "ts", every="1d")
    for row in out.iter_rows(named=True):
        rows = _day_rows(frame, row["window_start"])
        want = drift.compare(rows.get_column("v"))
        assert row["v_status"] == want.status
        assert row["v_mmd_p_value"] == want.mmd.p_value
        assert row["v_centroid_distance"] == want.cosine.centroid_distance
        assert row["v_domain_auc"] == want.domain_auc
        assert row["v_drifted_share"] == want.drifted_share
    assert out["v_status"][-1] != "stable"
    # a bare EmbeddingDrift takes the frame's one vector column; List(Float32) works too
    listed = frame.with_columns(pl.col("v").cast(pl.List(pl.Float32)))
    bare = ut.drift_over(listed, drift, "ts", every="1d")
    assert bare["v_mmd_p_value"].to_list() == out["v_mmd_p_value"].to_list()


def test_nulls_follow_nan_policy_and_bad_input(reference):
    frame = _frame(7, days=1).with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    with pytest.raises(ValueError, match="missing"):
        ut.drift_over(frame, reference, "ts")
    binned = ut.Reference.fit(_frame(1, days=1).select("x", "city"), bins=6, nan_policy="bin")
    out = ut.drift_over(frame, binned, "ts")
    assert out["x_psi"][0] == binned.psi(frame.select("x", "city"))["x"].value
    with pytest.raises(ValueError, match="time_column"):
        ut.drift_over(frame, reference, "when")
    with pytest.raises(ValueError, match="null"):
        ut.drift_over(frame.with_columns(pl.lit(None, dtype=pl.Datetime).alias("ts")), reference, "ts")
    with pytest.raises(ValueError, match="no column"):
        ut.drift_over(frame.drop("city"), reference, "ts")
    with pytest.raises(TypeError, match="reference"):
        ut.drift_over(frame, "x", "ts")
