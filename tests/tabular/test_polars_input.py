"""polars inputs give the same results as the equivalent numpy inputs (nulls are missing)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import undertow as ut


def test_series_equals_numpy() -> None:
    rng = np.random.default_rng(11)
    e = rng.normal(size=20_000).astype(np.float32)
    a = rng.normal(0.3, 1.2, size=15_000).astype(np.float32)
    from_numpy = ut.psi(e, a)
    from_polars = ut.psi(pl.Series(e), pl.Series(a))
    assert from_polars.value == from_numpy.value
    np.testing.assert_array_equal(from_polars.actual_counts, from_numpy.actual_counts)
    counts, edges = ut.histogram(pl.Series(a), bins=17)
    np_counts, np_edges = np.histogram(a, bins=17)
    np.testing.assert_array_equal(counts, np_counts)
    np.testing.assert_array_equal(edges, np_edges)


def test_null_is_missing_under_each_policy() -> None:
    ref = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, None], "c": ["a", "b", None, "a", "b"]})
    cur = pl.DataFrame({"x": [1.0, None, None, 4.0], "c": ["a", None, None, "z"]})
    with pytest.raises(ValueError, match="missing"):
        ut.Reference.fit(ref)
    rep = ut.Reference.fit(ref, nan_policy="bin", bins=2).psi(cur)
    x = rep["x"]
    assert x.expected_missing == 1 and x.actual_missing == 2
    assert x.expected_counts[-1] == 1 and x.actual_counts[-1] == 2
    c = rep["c"]
    assert c.categories == ["a", "b"]
    # bins: a, b, unseen, missing
    np.testing.assert_array_equal(c.expected_counts, [2, 2, 0, 1])
    np.testing.assert_array_equal(c.actual_counts, [1, 0, 1, 2])
    e = np.maximum(np.array([2, 2, 0, 1]) / 5, 1e-4)
    a = np.maximum(np.array([1, 0, 1, 2]) / 4, 1e-4)
    assert abs(c.value - float(np.sum((a - e) * np.log(a / e)))) < 1e-12
    omitted = ut.Reference.fit(ref, nan_policy="omit", bins=2).psi(cur)["c"]
    np.testing.assert_array_equal(omitted.actual_counts, [1, 0, 1])


def test_enum_categorical_and_boolean_columns_are_categorical() -> None:
    enum = pl.Enum(["low", "mid", "high"])
    ref = pl.DataFrame(
        {"level": pl.Series(["low", "mid", "mid", "high"], dtype=enum), "flag": [True, False, True, True]}
    )
    cur = pl.DataFrame(
        {
            "level": pl.Series(["high", "high", "high", "high"], dtype=enum),
            "flag": [False, False, False, False],
        }
    )
    rep = ut.Reference.fit(ref).psi(cur)
    assert rep["level"].kind == "categorical" and rep["flag"].kind == "categorical"
    assert rep["level"].status_threshold == "significant" and rep["flag"].status_threshold == "significant"
    assert rep.to_polars().get_column("column").to_list() == ["level", "flag"]


def test_frame_columns_in_other_order_match_by_name() -> None:
    rng = np.random.default_rng(3)
    ref = pl.DataFrame({"p": rng.normal(size=1000), "q": rng.uniform(size=1000)})
    cur = pl.DataFrame({"q": rng.uniform(size=800), "p": rng.normal(size=800)})
    reference = ut.Reference.fit(ref)
    swapped = reference.psi(cur)
    direct = reference.psi(cur.select("p", "q"))
    assert swapped.columns == ["p", "q"]
    assert swapped.values == direct.values
