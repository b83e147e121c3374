"""Reference.fit(..., tests=...) and ref.compare / ref.comparator: a column per test, the automatic
choice, the mergeable accumulator, and the default behaviour unchanged without tests=."""

from __future__ import annotations

import math
import pickle

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import undertow as ut
from undertow.tabular.compare import AUTO_PVALUE_ROWS


def _table(n: int, shift: float, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "age": rng.normal(40 + shift, 10, size=n),
        "score": rng.integers(0, 7, size=n).astype(np.float32),
        "city": pl.Series(rng.choice(["a", "b", "c"] if shift == 0 else ["a", "b", "d"], size=n)),
    }


def test_compare_columns_match_scipy() -> None:
    ref_table, cur_table = _table(3000, 0.0, 1), _table(2000, 2.0, 2)
    ref = ut.Reference.fit(
        ref_table, tests=["ks", "wasserstein", "chi_square", "jensen_shannon", "hellinger"]
    )
    report = ref.compare(cur_table)
    for column in ("age", "score"):
        x = np.asarray(ref_table[column], dtype=np.float64)
        y = np.asarray(cur_table[column], dtype=np.float64)
        want = stats.ks_2samp(x, y)
        got = report[column]["ks"]
        assert got.statistic == float(want.statistic)
        assert math.isclose(got.pvalue, float(want.pvalue), rel_tol=1e-10, abs_tol=1e-300)
        assert math.isclose(
            report[column]["wasserstein"].statistic, stats.wasserstein_distance(x, y), rel_tol=1e-11
        )
    # categorical: no KS / Wasserstein; count tests on the categories + unseen bin
    city = report["city"]
    assert set(city) == {"chi_square", "jensen_shannon", "hellinger"}
    psi = report.psi["city"]
    e, a = psi.expected_counts, psi.actual_counts
    keep = (e + a) > 0
    want = stats.chi2_contingency(np.vstack([e[keep], a[keep]]))
    assert math.isclose(city["chi_square"].statistic, float(want.statistic), rel_tol=1e-11)
    assert math.isclose(city["chi_square"].pvalue, float(want.pvalue), rel_tol=1e-9, abs_tol=1e-300)
    js = float(jensenshannon(e / e.sum(), a / a.sum()))
    assert math.isclose(city["jensen_shannon"].statistic, js, rel_tol=1e-12)
    frame = report.to_polars()
    assert frame.columns[:4] == ["column", "kind", "psi", "status"]
    for name in (
        "ks",
        "ks_pvalue",
        "wasserstein",
        "chi_square",
        "chi_square_pvalue",
        "jensen_shannon",
        "hellinger",
    ):
        assert name in frame.columns
    row = frame.filter(pl.col("column") == "city").row(0, named=True)
    assert row["ks"] is None and row["chi_square"] == city["chi_square"].statistic
    d = report.to_dict()
    assert d["tests"]["age"]["ks"]["pvalue"] == report["age"]["ks"].pvalue
    assert "age" in repr(report)


def test_auto_choice_by_kind_and_size() -> None:
    small = ut.Reference.fit(_table(1000, 0.0, 3), tests="auto")
    assert small.tests == {
        "age": ("ks", "wasserstein"),
        "score": ("ks", "wasserstein"),
        "city": ("chi_square",),
    }
    n = AUTO_PVALUE_ROWS + 1
    big = ut.Reference.fit(_table(n, 0.0, 4), tests="auto")
    assert big.tests == {c: ("jensen_shannon",) for c in ("age", "score", "city")}
    assert big._samples == {}  # no O(n) state when no KS / Wasserstein is planned


def test_default_behaviour_unchanged_without_tests() -> None:
    table = _table(500, 0.0, 5)
    plain = ut.Reference.fit(table)
    assert plain.tests == {}
    # the tested reference's bytes nest the very PSI state a plain fit writes
    from undertow.embedding._pack import unpack

    _, blobs = unpack(ut.Reference.fit(table, tests="auto").to_bytes(), "tested_reference")
    assert blobs["reference"] == plain.to_bytes()
    with pytest.raises(ut.UndertowError, match="without tests="):
        plain.compare(table)
    report = ut.Reference.fit(table, tests="auto").compare(table)
    assert report.psi.to_dict() == plain.psi(table).to_dict()


def test_comparator_merges_exactly() -> None:
    ref_table, cur = _table(2000, 0.0, 6), _table(1500, 1.0, 7)
    ref = ut.Reference.fit(ref_table, tests=["ks", "wasserstein", "hellinger"])
    whole = ref.compare(cur)
    parts = []
    for lo, hi in ((0, 700), (700, 701), (701, 1500)):
        acc = ref.comparator()
        acc.update({k: v[lo:hi] for k, v in cur.items()})
        parts.append(acc)
    parts[0].merge(parts[2]).merge(parts[1])
    merged = parts[0].finalize()
    assert merged.to_dict() == whole.to_dict()
    with pytest.raises(ut.UndertowError, match="itself"):
        parts[0].merge(parts[0])
    with pytest.raises(TypeError, match="CompareAccumulator"):
        parts[0].merge(ref.accumulator())  # type: ignore[arg-type]


def test_matrix_table_and_nan_policy() -> None:
    rng = np.random.default_rng(8)
    ref_m = rng.normal(size=(400, 3))
    cur_m = rng.normal(0.5, 1, size=(300, 3))
    report = ut.Reference.fit(ref_m, tests=["ks"]).compare(cur_m)
    for j in range(3):
        want = stats.ks_2samp(ref_m[:, j], cur_m[:, j])
        assert report[str(j)]["ks"].statistic == float(want.statistic)
    cur_m[0, 1] = np.nan
    with pytest.raises(ut.UndertowError, match="missing"):
        ut.Reference.fit(ref_m, tests=["ks"]).compare(cur_m)
    omitted = ut.Reference.fit(ref_m, tests=["ks"], nan_policy="omit").compare(cur_m)
    want = stats.ks_2samp(ref_m[:, 1], cur_m[1:, 1])
    assert omitted["1"]["ks"].statistic == float(want.statistic)


def test_pickle_keeps_the_tests() -> None:
    table = _table(800, 0.0, 9)
    ref = ut.Reference.fit(table, tests="auto")
    back = pickle.loads(pickle.dumps(ref))
    assert back.tests == ref.tests
    cur = _table(600, 1.0, 10)
    assert back.compare(cur).to_dict() == ref.compare(cur).to_dict()


def test_bad_tests_argument() -> None:
    table = _table(100, 0.0, 11)
    with pytest.raises(ut.UndertowError, match="unknown test"):
        ut.Reference.fit(table, tests=["anderson"])
    with pytest.raises(ut.UndertowError, match="tests"):
        ut.Reference.fit(table, tests="ks")
    with pytest.raises(ut.UndertowError, match="method"):
        ut.Reference.fit(table, tests="auto").compare(table, ks_method="fast")
