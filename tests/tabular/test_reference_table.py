"""ut.Reference.fit / Reference.psi / PsiReport on numpy, polars and dict tables."""

import math

import numpy as np
import polars as pl
import pytest
from reference_impl import (
    assert_psi_matches,
    assert_same_result,
    categorical_psi_reference,
    psi_reference,
    worst_status,
)

import undertow as ut

EPS = 1e-4


def _numeric_matrix(seed=0, n=3000, k=3, shift=0.0):
    rng = np.random.default_rng(seed)
    cols = [
        rng.normal(shift, 1, n),
        rng.exponential(1 + shift, n),
        rng.integers(0, 6, n).astype(np.float64) + shift,
    ]
    return np.column_stack(cols[:k])


# --------------------------------------------------------------------------------------------
# numeric tables


@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_numpy_2d_table_matches_reference_per_column(binning):
    ref_x = _numeric_matrix(0)
    cur_x = _numeric_matrix(1, n=2000, shift=0.3)
    ref = ut.Reference.fit(ref_x, bins=8, binning=binning)
    assert ref.columns == ["0", "1", "2"]
    report = ref.psi(cur_x)
    assert report.columns == ["0", "1", "2"]
    for j, name in enumerate(report.columns):
        col = report[name]
        assert col.kind == "numeric"
        want = psi_reference(ref_x[:, j], cur_x[:, j], bins=8, binning=binning)
        assert_psi_matches(col, want, check_types=False)
        # same as ut.psi on that column
        assert_same_result(col, ut.psi(ref_x[:, j], cur_x[:, j], bins=8, binning=binning))


def test_fortran_ordered_table_same_as_c_ordered():
    ref_x = _numeric_matrix(2)
    cur_x = _numeric_matrix(3, shift=0.1)
    a = ut.Reference.fit(ref_x).psi(cur_x)
    b = ut.Reference.fit(np.asfortranarray(ref_x)).psi(np.asfortranarray(cur_x))
    for name in a.columns:
        assert_same_result(a[name], b[name])
        j = int(name)
        assert_psi_matches(b[name], psi_reference(ref_x[:, j], cur_x[:, j]), check_types=False)


def test_strided_big_endian_and_float32_tables():
    ref_x = _numeric_matrix(4)
    cur_x = _numeric_matrix(5, shift=0.2)
    base = ut.Reference.fit(ref_x).psi(cur_x)
    strided = ut.Reference.fit(np.repeat(ref_x, 2, axis=1)[:, ::2]).psi(cur_x)
    big = ut.Reference.fit(ref_x.astype(">f8")).psi(cur_x.astype(">f8"))
    for name in base.columns:
        assert_same_result(base[name], strided[name])
        assert_same_result(base[name], big[name])
    r32, c32 = ref_x.astype(np.float32), cur_x.astype(np.float32)
    rep32 = ut.Reference.fit(r32).psi(c32)
    for j, name in enumerate(rep32.columns):
        assert_psi_matches(rep32[name], psi_reference(r32[:, j], c32[:, j]), check_types=False)


def test_integer_2d_table_is_numeric():
    rng = np.random.default_rng(6)
    ref_x = rng.integers(0, 50, (1000, 2))
    cur_x = rng.integers(5, 55, (800, 2))
    report = ut.Reference.fit(ref_x, bins=5).psi(cur_x)
    for j, name in enumerate(report.columns):
        assert report[name].kind == "numeric"
        assert_psi_matches(report[name], psi_reference(ref_x[:, j], cur_x[:, j], bins=5), check_types=False)


def test_dict_table_with_arrays_and_lists():
    rng = np.random.default_rng(7)
    a = rng.normal(size=500)
    b = rng.random(500).astype(np.float32)
    table = {"a": a, "b": b, "c": [float(v) for v in a * 2]}
    cur = {"c": list(a * 2.5), "a": a + 0.5, "b": b * 1.1}
    ref = ut.Reference.fit(table, bins=6, binning="uniform")
    assert ref.columns == ["a", "b", "c"]
    report = ref.psi(cur)  # different column order is fine
    assert report.columns == ["a", "b", "c"]
    for name, ref_values in (("a", a), ("b", b), ("c", a * 2)):
        want = psi_reference(ref_values, np.asarray(cur[name]), bins=6, binning="uniform")
        assert_psi_matches(report[name], want, check_types=False)


def test_explicit_edges_in_fit():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(400, 2))
    y = rng.normal(0.5, 1, size=(300, 2))
    edges = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
    report = ut.Reference.fit(x, binning=edges).psi(y)
    for j, name in enumerate(report.columns):
        assert_psi_matches(report[name], psi_reference(x[:, j], y[:, j], binning=edges), check_types=False)


def test_constant_column_in_table():
    ref_x = np.column_stack([np.full(100, 2.0), np.arange(100.0)])
    up = np.column_stack([np.full(50, 3.0), np.arange(50.0)])
    same = np.column_stack([np.full(50, 2.0), np.arange(50.0)])
    ref = ut.Reference.fit(ref_x)
    r_same = ref.psi(same)["0"]
    assert r_same.value == 0.0 and r_same.status == "stable"
    r_up = ref.psi(up)["0"]
    assert r_up.status == "significant"
    assert r_up.value == pytest.approx(2 * (1 - EPS) * math.log(1 / EPS), rel=1e-12)


@pytest.mark.parametrize("nan_policy", ["omit", "bin"])
def test_numeric_missing_values_in_table(nan_policy):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(600, 2))
    y = rng.normal(size=(400, 2))
    x[[1, 5, 9], 0] = [np.nan, np.inf, -np.inf]
    y[[2, 3], 1] = np.nan
    report = ut.Reference.fit(x, nan_policy=nan_policy).psi(y)
    for j, name in enumerate(report.columns):
        want = psi_reference(x[:, j], y[:, j], nan_policy=nan_policy)
        assert_psi_matches(report[name], want, check_types=False)
    assert report["0"].expected_missing == 3
    assert report["1"].actual_missing == 2


def test_numeric_missing_values_raise_by_default():
    x = np.random.default_rng(10).normal(size=(100, 2))
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="expected"):
        ut.Reference.fit(bad)
    ref = ut.Reference.fit(x)
    with pytest.raises(ValueError, match="actual"):
        ref.psi(bad)


def test_polars_numeric_nulls_are_missing():
    ref_df = pl.DataFrame({"x": [1.0, 2.0, None, 4.0, 5.0, float("nan"), 7.0, 8.0]})
    cur_df = pl.DataFrame({"x": [None, None, 2.5, 7.5]})
    report = ut.Reference.fit(ref_df, bins=3, nan_policy="bin").psi(cur_df)
    e = np.array([1.0, 2.0, np.nan, 4.0, 5.0, np.nan, 7.0, 8.0])
    a = np.array([np.nan, np.nan, 2.5, 7.5])
    assert_psi_matches(report["x"], psi_reference(e, a, bins=3, nan_policy="bin"), check_types=False)


# --------------------------------------------------------------------------------------------
# categorical columns


def test_categorical_hand_computed_with_unseen_category():
    ref = ut.Reference.fit({"c": ["a"] * 6 + ["b"] * 4})
    report = ref.psi({"c": ["a"] * 5 + ["b"] * 3 + ["zz"] * 2})
    col = report["c"]
    assert col.kind == "categorical"
    assert list(col.categories) == ["a", "b"]
    np.testing.assert_array_equal(np.asarray(col.expected_counts), [6, 4, 0])
    np.testing.assert_array_equal(np.asarray(col.actual_counts), [5, 3, 2])
    np.testing.assert_array_equal(np.asarray(col.expected_proportions), [0.6, 0.4, 0.0])
    np.testing.assert_array_equal(np.asarray(col.actual_proportions), [0.5, 0.3, 0.2])
    want = (
        (0.5 - 0.6) * math.log(0.5 / 0.6)
        + (0.3 - 0.4) * math.log(0.3 / 0.4)
        + (0.2 - EPS) * math.log(0.2 / EPS)
    )
    assert col.value == pytest.approx(want, rel=1e-12)
    assert col.status_threshold == "significant"
    assert col.status == "stable" and col.p_value > 0.01  # 10 rows against 10: not significant


def test_categories_are_sorted_not_first_seen():
    e = ["pear", "apple", "fig", "apple", "été", "Zed", "pear"]
    a = ["fig", "fig", "apple", "Zed", "kiwi"]
    col = ut.Reference.fit({"f": e}).psi({"f": a})["f"]
    want = categorical_psi_reference(e, a)
    assert want["categories"] == ["Zed", "apple", "fig", "pear", "été"]
    assert_psi_matches(col, want, check_types=False, categorical=True)


def test_categorical_identical_is_zero():
    e = ["x", "y", "y", "z"] * 25
    col = ut.Reference.fit({"c": e}).psi({"c": list(reversed(e))})["c"]
    assert col.value == 0.0
    assert col.status == "stable"


@pytest.mark.parametrize(
    "make",
    [
        lambda v: pl.DataFrame({"c": v}),
        lambda v: pl.DataFrame({"c": v}, schema={"c": pl.Categorical}),
        lambda v: pl.DataFrame({"c": pl.Series(v, dtype=pl.Enum(["b", "a", "c", "d", "q"]))}),
        lambda v: {"c": np.array(v)},
        lambda v: {"c": np.array(v, dtype=object)},
        lambda v: {"c": list(v)},
    ],
    ids=["pl-string", "pl-categorical", "pl-enum", "np-str", "np-object", "list"],
)
def test_categorical_column_forms(make):
    rng = np.random.default_rng(11)
    e = list(rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2]))
    a = list(rng.choice(["a", "b", "c", "d"], 200, p=[0.3, 0.3, 0.2, 0.2]))
    e = [str(v) for v in e]
    a = [str(v) for v in a]
    col = ut.Reference.fit(make(e)).psi(make(a))["c"]
    assert col.kind == "categorical"
    assert_psi_matches(col, categorical_psi_reference(e, a), check_types=False, categorical=True)


def test_polars_boolean_column_is_categorical():
    e = [True] * 30 + [False] * 70
    a = [True] * 60 + [False] * 40
    col = ut.Reference.fit(pl.DataFrame({"b": e})).psi(pl.DataFrame({"b": a}))["b"]
    assert col.kind == "categorical"
    assert len(col.categories) == 2
    # sorted: False before True, then the unseen bin
    np.testing.assert_array_equal(np.asarray(col.expected_counts), [70, 30, 0])
    np.testing.assert_array_equal(np.asarray(col.actual_counts), [40, 60, 0])
    want = (0.4 - 0.7) * math.log(0.4 / 0.7) + (0.6 - 0.3) * math.log(0.6 / 0.3)
    assert col.value == pytest.approx(want, rel=1e-12)


def test_integer_column_named_categorical():
    rng = np.random.default_rng(12)
    codes_e = rng.integers(1, 4, 500)
    codes_a = rng.integers(1, 6, 300)
    table = {"code": codes_e, "x": rng.normal(size=500)}
    cur = {"code": codes_a, "x": rng.normal(size=300)}
    ref = ut.Reference.fit(table, categorical=["code"])
    report = ref.psi(cur)
    col = report["code"]
    assert col.kind == "categorical"
    assert list(col.categories) == ["1", "2", "3"]
    want = categorical_psi_reference([str(v) for v in codes_e], [str(v) for v in codes_a])
    assert_psi_matches(col, want, check_types=False, categorical=True)
    assert report["x"].kind == "numeric"
    # the same integers without `categorical` are numeric
    assert ut.Reference.fit(table).psi(cur)["code"].kind == "numeric"


def test_polars_integer_column_named_categorical():
    e = [3, 1, 1, 2, 2, 2]
    a = [1, 2, 9, 9]
    col = ut.Reference.fit(pl.DataFrame({"k": e}), categorical=["k"]).psi(pl.DataFrame({"k": a}))["k"]
    want = categorical_psi_reference([str(v) for v in e], [str(v) for v in a])
    assert_psi_matches(col, want, check_types=False, categorical=True)


@pytest.mark.parametrize("nan_policy", ["omit", "bin"])
def test_categorical_nulls_follow_nan_policy(nan_policy):
    e = ["a", None, "b", "a", None, "c", "a"]
    a = ["a", "b", None, None, None, "new"]
    col = ut.Reference.fit({"c": e}, nan_policy=nan_policy).psi({"c": a})["c"]
    want = categorical_psi_reference(e, a, nan_policy=nan_policy)
    assert_psi_matches(col, want, check_types=False, categorical=True)
    assert col.expected_missing == 2 and col.actual_missing == 3
    col2 = ut.Reference.fit(pl.DataFrame({"c": e}), nan_policy=nan_policy).psi(pl.DataFrame({"c": a}))["c"]
    assert_same_result(col, col2, categorical=True)


def test_categorical_nulls_raise_by_default():
    with pytest.raises(ValueError, match="expected"):
        ut.Reference.fit({"c": ["a", None, "b"]})
    ref = ut.Reference.fit({"c": ["a", "b"]})
    with pytest.raises(ValueError, match="actual"):
        ref.psi({"c": ["a", None]})


# --------------------------------------------------------------------------------------------
# mixed polars tables and the report object


def _mixed_frames():
    rng = np.random.default_rng(13)
    n, m = 1000, 700
    ref_df = pl.DataFrame(
        {
            "amount": rng.lognormal(0, 1, n),
            "age": rng.integers(18, 90, n),
            "score": rng.random(n).astype(np.float32),
            "city": rng.choice(["lyon", "paris", "nice"], n),
            "flag": rng.random(n) < 0.3,
        }
    )
    cur_df = pl.DataFrame(
        {
            "flag": rng.random(m) < 0.35,
            "city": rng.choice(["lyon", "paris", "nice", "brest"], m),
            "score": rng.random(m).astype(np.float32),
            "age": rng.integers(18, 90, m),
            "amount": rng.lognormal(0.5, 1, m),
        }
    )
    return ref_df, cur_df


def test_polars_mixed_table_matches_reference():
    ref_df, cur_df = _mixed_frames()
    ref = ut.Reference.fit(ref_df, bins=12)
    assert ref.columns == ["amount", "age", "score", "city", "flag"]
    report = ref.psi(cur_df)
    assert report.columns == ["amount", "age", "score", "city", "flag"]
    for name in ("amount", "age", "score"):
        assert report[name].kind == "numeric"
        want = psi_reference(ref_df[name].to_numpy(), cur_df[name].to_numpy(), bins=12)
        assert_psi_matches(report[name], want, check_types=False)
    assert report["city"].kind == "categorical"
    want_city = categorical_psi_reference(ref_df["city"].to_list(), cur_df["city"].to_list())
    assert_psi_matches(report["city"], want_city, check_types=False, categorical=True)
    assert report["flag"].kind == "categorical"
    statuses = [report[c].status for c in report.columns]
    assert report.status == worst_status(statuses)


def test_report_to_polars_to_dict_repr():
    ref_df, cur_df = _mixed_frames()
    report = ut.Reference.fit(ref_df).psi(cur_df)
    df = report.to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df.height == 5
    assert df["column"].to_list() == ["amount", "age", "score", "city", "flag"]
    assert df["column"].dtype == pl.String
    assert df["psi"].dtype == pl.Float64
    assert df["status"].dtype == pl.String
    for row in df.iter_rows(named=True):
        assert row["psi"] == report[row["column"]].value
        assert row["status"] == report[row["column"]].status
    d = report.to_dict()
    assert isinstance(d, dict)
    text = repr(report)
    for name in report.columns:
        assert name in text


def test_report_status_is_worst_column():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2000, 2))
    y = x.copy()
    y[:, 1] += 3.0
    report = ut.Reference.fit(x).psi(y)
    assert report["0"].status == "stable"
    assert report["1"].status == "significant"
    assert report.status == "significant"
    report2 = ut.Reference.fit(x).psi(x)
    assert report2.status == "stable"


def test_fit_parameters_apply_to_every_column():
    rng = np.random.default_rng(15)
    x = rng.normal(size=(1000, 2))
    y = rng.normal(0.2, 1, size=(800, 2))
    ref = ut.Reference.fit(x, bins=4, binning="uniform", eps=0.01, thresholds=(0.001, 0.002))
    report = ref.psi(y)
    for j, name in enumerate(report.columns):
        want = psi_reference(x[:, j], y[:, j], bins=4, binning="uniform", eps=0.01, thresholds=(0.001, 0.002))
        assert_psi_matches(report[name], want, check_types=False)
        assert len(report[name].edges) == 5


def test_column_set_mismatch_names_the_column():
    x = np.random.default_rng(16).normal(size=(50, 2))
    ref = ut.Reference.fit({"alpha": x[:, 0], "beta": x[:, 1]})
    with pytest.raises(ValueError, match="beta"):
        ref.psi({"alpha": x[:, 0]})
    with pytest.raises(ValueError, match="gamma"):
        ref.psi({"alpha": x[:, 0], "beta": x[:, 1], "gamma": x[:, 1]})
    with pytest.raises(ValueError):
        ref.psi(x[:, :1])  # numpy columns named "0" only


def test_unknown_report_column_raises_key_error_or_value_error():
    x = np.random.default_rng(17).normal(size=(50, 2))
    report = ut.Reference.fit(x).psi(x)
    with pytest.raises((KeyError, ValueError)):
        report["nope"]
