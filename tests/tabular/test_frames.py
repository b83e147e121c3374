"""Dataframes of any library (python/undertow/_frames.py): pandas (numpy- and Arrow-backed),
pyarrow and polars give bit-identical PSI reports, which match the independent float64 reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from reference_impl import (
    assert_psi_matches,
    assert_reports_identical,
    categorical_psi_reference,
    psi_reference,
)

import undertow as ut
from undertow._frames import frame_items

N = 6_000
LABELS = ["red", "green", "blue", "teal"]


def _sample(rng: np.random.Generator, shift: float) -> dict[str, list]:
    """Plain Python columns (None = missing) from which every library's frame is built."""

    def holes(values: list) -> list:
        return [None if rng.random() < 0.04 else v for v in values]

    return {
        "x": holes(rng.normal(shift, 1.0, N).tolist()),
        "f32": holes(rng.normal(shift, 2.0, N).astype(np.float32).tolist()),
        "count": holes(rng.poisson(3 + shift, N).tolist()),
        "colour": holes(rng.choice(LABELS[:3] if shift == 0 else LABELS, N).tolist()),
        "flag": holes((rng.random(N) < 0.3 + 0.1 * shift).tolist()),
    }


def _pandas(cols: dict[str, list]) -> pd.DataFrame:
    """numpy-backed where pandas can (float64 NaN), nullable dtypes where it must."""
    return pd.DataFrame(
        {
            "x": np.array([np.nan if v is None else v for v in cols["x"]]),
            "f32": pd.array(cols["f32"], dtype="Float32"),
            "count": pd.array(cols["count"], dtype="Int64"),
            # declared in reverse: bins follow the labels, not pandas' category codes
            "colour": pd.Categorical(cols["colour"], categories=LABELS[::-1]),
            "flag": pd.array(cols["flag"], dtype="boolean"),
        }
    )


def _polars(cols: dict[str, list]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": pl.Series(cols["x"], dtype=pl.Float64),
            "f32": pl.Series(cols["f32"], dtype=pl.Float32),
            "count": pl.Series(cols["count"], dtype=pl.Int64),
            "colour": pl.Series(cols["colour"], dtype=pl.Categorical),
            "flag": pl.Series(cols["flag"], dtype=pl.Boolean),
        }
    )


BUILDERS = {
    "pandas": _pandas,
    "pandas-arrow": lambda cols: _pandas(cols).convert_dtypes(dtype_backend="pyarrow"),
    "pyarrow": lambda cols: pa.Table.from_pandas(_pandas(cols), preserve_index=False),
    "polars": _polars,
}


@pytest.fixture(scope="module")
def samples() -> tuple[dict[str, list], dict[str, list]]:
    rng = np.random.default_rng(2026)
    return _sample(rng, 0.0), _sample(rng, 0.3)


def _f64(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@pytest.mark.parametrize("nan_policy", ["bin", "omit"])
def test_four_kinds_of_frame_give_bit_identical_reports(samples, nan_policy) -> None:
    expected, actual = samples
    reports = {
        kind: ut.Reference.fit(build(expected), nan_policy=nan_policy).psi(build(actual))
        for kind, build in BUILDERS.items()
    }
    for kind, report in reports.items():
        assert report.columns == ["x", "f32", "count", "colour", "flag"], kind
        assert_reports_identical(report, reports["polars"])
    report = reports["pandas"]
    # and they are right: the independent float64 reference, None/NA/NaN all missing
    for name in ("x", "f32", "count"):
        assert report[name].kind == "numeric"
        want = psi_reference(_f64(expected[name]), _f64(actual[name]), nan_policy=nan_policy)
        assert_psi_matches(report[name], want)
        assert report[name].expected_missing == sum(v is None for v in expected[name]) > 0
    for name in ("colour", "flag"):
        assert report[name].kind == "categorical"
        as_text = [[None if v is None else str(v).lower() for v in s[name]] for s in samples]
        want = categorical_psi_reference(*as_text, nan_policy=nan_policy)
        assert_psi_matches(report[name], want, categorical=True)
    # teal is new in the actual colours: the unseen bin sees it
    assert report["colour"].categories == ["blue", "green", "red"]
    assert report["colour"].actual_counts[3] == sum(v == "teal" for v in actual["colour"]) > 0


def test_frames_of_different_libraries_mix(samples) -> None:
    expected, actual = samples
    ref = ut.Reference.fit(_polars(expected), nan_policy="bin")
    want = ref.psi(_polars(actual))
    for build in BUILDERS.values():
        assert_reports_identical(ref.psi(build(actual)), want)
    acc = ref.accumulator().update(_pandas(actual).iloc[:2000]).update(_polars(actual)[2000:])
    assert_reports_identical(acc.finalize(), want)


def test_float32_stays_float32() -> None:
    # the nullable Float32 column with a missing value must not reach the kernel as float64
    items = dict(frame_items(pd.DataFrame({"a": pd.array([1.5, None], dtype="Float32")}), "table"))
    assert items["a"].dtype == np.float32
    np.testing.assert_array_equal(items["a"], np.array([1.5, np.nan], dtype=np.float32))


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "boolean", "Int8", "UInt32"])
def test_pandas_na_is_missing_under_nan_policy(dtype) -> None:
    values = [1, 0, None, 1, 1, None, 0] * 10
    frame = pd.DataFrame({"v": pd.array(values, dtype=dtype)})
    with pytest.raises(ut.UndertowError, match=r"missing"):
        ut.Reference.fit(frame)
    report = ut.Reference.fit(frame, nan_policy="bin").psi(frame)
    assert report["v"].expected_missing == report["v"].actual_missing == 20
    assert report["v"].value == 0.0
    assert report["v"].kind == ("categorical" if dtype == "boolean" else "numeric")
    omitted = ut.Reference.fit(frame, nan_policy="omit").psi(frame)["v"]
    assert omitted.expected_counts.sum() == 50 and omitted.expected_missing == 20


def test_pandas_strings_and_forced_integer_categories() -> None:
    e_city, a_city = ["a", "b", None, "b"] * 50, ["b", "b", "c", None] * 50
    e_code, a_code = [3, 1, 2, 2] * 50, [1, 1, 7, 2] * 50
    e = pd.DataFrame({"city": e_city, "code": e_code})  # pandas' default string dtype
    a = pd.DataFrame({"city": a_city, "code": a_code})
    report = ut.Reference.fit(e, categorical=["code"], nan_policy="bin").psi(a)
    want = categorical_psi_reference(e_city, a_city, nan_policy="bin")
    assert_psi_matches(report["city"], want, categorical=True)
    want = categorical_psi_reference(list(map(str, e_code)), list(map(str, a_code)), nan_policy="bin")
    assert_psi_matches(report["code"], want, categorical=True)


def test_numeric_columns_of_numpy_backed_pandas_are_not_copied() -> None:
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10, dtype=np.int32)})
    items = dict(frame_items(frame, "table"))
    assert np.shares_memory(items["a"], frame["a"].to_numpy())
    table = pa.table({"a": np.arange(10.0)})
    assert np.shares_memory(dict(frame_items(table, "table"))["a"], table["a"].chunks[0].to_numpy())


@pytest.mark.parametrize("kind", ["pandas", "pandas-arrow", "pyarrow", "polars"])
def test_datetime_columns_are_refused_naming_the_column(kind) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "ts": pd.to_datetime(["2026-01-01", "2026-02-01"])})
    build = {
        "pandas": lambda f: f,
        "pandas-arrow": lambda f: f.convert_dtypes(dtype_backend="pyarrow"),
        "pyarrow": lambda f: pa.Table.from_pandas(f, preserve_index=False),
        "polars": pl.from_pandas,
    }[kind]
    with pytest.raises(TypeError, match=r"table column 'ts': dtype .* is a date/time.*convert it explicitly"):
        ut.Reference.fit(build(frame))
    ref = ut.Reference.fit({"x": np.arange(10.0), "ts": np.arange(10.0)})
    with pytest.raises(TypeError, match=r"actual column 'ts'"):
        ref.psi(build(frame))
    with pytest.raises(TypeError, match=r"column 'd'"):
        ut.Reference.fit(pd.DataFrame({"d": pd.to_timedelta([1, 2], unit="s")}))


def test_lazy_and_unknown_inputs_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match=r"table: got a polars LazyFrame; collect\(\) it first"):
        ut.Reference.fit(pl.LazyFrame({"a": [1.0, 2.0]}))
    with pytest.raises(TypeError, match=r"table: expected a 2-D numpy array.*pandas.*got set"):
        ut.Reference.fit({1.0, 2.0})
    with pytest.raises(ut.UndertowError, match=r"table: .*unique column names"):
        ut.Reference.fit(pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]))


def test_pandas_integer_column_names_match_numpy_names() -> None:
    x = np.random.default_rng(3).normal(size=(500, 3))
    from_pandas = ut.Reference.fit(pd.DataFrame(x)).psi(pd.DataFrame(x[::-1]))
    assert from_pandas.columns == ["0", "1", "2"]
    assert_reports_identical(from_pandas, ut.Reference.fit(x).psi(x[::-1].copy()))


def test_one_dimensional_pandas_and_arrow_series_in_psi() -> None:
    rng = np.random.default_rng(5)
    e, a = rng.normal(size=3000), rng.normal(0.2, 1.0, size=2000)
    want = ut.psi(e, a)
    two_chunks = lambda v: pa.chunked_array([v[:1000], v[1000:]])  # noqa: E731
    for conv in (pd.Series, lambda v: pd.Series(v, dtype="double[pyarrow]"), two_chunks):
        got = ut.psi(conv(e), conv(a))
        assert got.value == want.value
        np.testing.assert_array_equal(got.actual_counts, want.actual_counts)
    nullable = pd.Series(pd.array([1, None, 2, 3] * 100, dtype="Int64"))
    with pytest.raises(ut.UndertowError, match=r"missing"):
        ut.psi(nullable, nullable)
    assert ut.psi(nullable, nullable, nan_policy="bin").expected_missing == 100
    with pytest.raises(TypeError, match=r"expected column 'when'"):
        ut.psi(pd.Series(pd.to_datetime(["2026-01-01"] * 3), name="when"), [1.0, 2.0])


def test_audit_docs_from_pandas_and_pyarrow_match_polars() -> None:
    # the audit's docs table goes through the same layer: timestamps kept, categoricals as labels
    from audit_corpus import corpus, docs_table, make_index

    index, ids = make_index("IndexFlatIP", corpus().vectors)
    docs = docs_table(ids, minutes=np.arange(len(ids)) % 90)
    docs = docs.with_columns(
        pl.when(pl.col("id") % 7 == 0)
        .then(pl.lit("enc-v2"))
        .otherwise("encoder_version")
        .alias("encoder_version")
    )
    want = ut.audit_index(index, docs)
    assert want["encoder_mix"].status != "ok"  # the planted mix is seen
    as_pandas = docs.to_pandas().astype({"encoder_version": "category"})
    for frame in (as_pandas, pa.Table.from_pandas(as_pandas, preserve_index=False)):
        got = ut.audit_index(index, frame)
        for name, check in want.checks.items():
            assert got[name].status == check.status, name
            np.testing.assert_array_equal(got[name].ids, check.ids, err_msg=name)
            assert got[name].count == check.count, name
    with pytest.raises(ut.UndertowError, match=r"docs: .*unique column names"):
        ut.audit_index(index, pd.DataFrame([[1, 2]], columns=["id", "id"]))
