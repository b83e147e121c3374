"""PSI's noise floor, p-value and significance-gated status (issue 17, item 2)."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import polars as pl
import pytest
from permutation_reference import exact_permutation_p_value
from scipy import stats

import undertow as ut


def scipy_p_value(result: ut.PsiResult) -> float:
    table = np.vstack([result.expected_counts, result.actual_counts])
    table = table[:, table.sum(axis=0) > 0]
    return float(stats.chi2_contingency(table, correction=False).pvalue)


@pytest.mark.parametrize("seed", range(6))
def test_p_value_is_scipys_chi2_contingency(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = (5000, 800) if seed % 2 else (300, 300)
    result = ut.psi(rng.normal(size=n), rng.normal(0.05 * seed, 1, size=m))
    assert result.p_value_method == "chi2"
    want = scipy_p_value(result)
    assert result.p_value == pytest.approx(want, rel=1e-9, abs=1e-300)


def test_p_value_counts_missing_and_categorical_bins() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=2000)
    x[rng.random(2000) < 0.1] = np.nan
    y = rng.normal(size=1500)
    y[rng.random(1500) < 0.2] = np.nan
    result = ut.psi(x, y, nan_policy="bin")
    assert result.bins == 11 and result.actual_counts[-1] > 0  # the missing bin is a column
    assert result.p_value == pytest.approx(scipy_p_value(result), rel=1e-9, abs=1e-300)
    labels = np.array(["a", "b", "c"])
    ref = ut.Reference.fit({"c": labels[rng.integers(0, 3, 3000)]})
    got = ref.psi({"c": np.concatenate([labels[rng.integers(0, 3, 990)], ["zz"] * 10])})["c"]
    # the unseen bin is empty in the reference: a column of the table all the same
    assert got.expected_counts[-1] == 0 and got.actual_counts[-1] == 10
    assert got.p_value == pytest.approx(scipy_p_value(got), rel=1e-9, abs=1e-300)


def test_null_false_alarm_rate_is_within_the_99_band_of_alpha() -> None:
    """n = m = 100, 10 bins, 1,000 null replicates: P(p <= alpha) is alpha, the status flags at
    most that often, while the thresholds alone flag most windows."""
    replicates, alpha = 1000, 0.01
    rng = np.random.default_rng(2026)
    results = [ut.psi(rng.normal(size=100), rng.normal(size=100)) for _ in range(replicates)]
    low, high = stats.binom.interval(0.99, replicates, alpha)
    rejected = sum(r.p_value <= alpha for r in results)
    flagged = sum(r.status != "stable" for r in results)
    assert low <= rejected <= high, (rejected, low, high)
    assert flagged <= high
    assert sum(r.status_threshold != "stable" for r in results) > 0.7 * replicates


def test_small_null_windows_are_no_longer_moderate() -> None:
    """main reported 'moderate' or worse on ~86% of null 100-row windows (n = m = 100) and ~35%
    with a 100,000-row reference; the status now needs significance."""
    rng = np.random.default_rng(17)
    small = [ut.psi(rng.normal(size=100), rng.normal(size=100)).status for _ in range(200)]
    ref = ut.Reference.fit({"x": rng.normal(size=100_000)})
    large = [ref.psi({"x": rng.normal(size=100)})["x"].status for _ in range(200)]
    assert sum(s != "stable" for s in small) <= 6
    assert sum(s != "stable" for s in large) <= 6


def test_plain_thresholds_are_one_argument_away() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=100), rng.normal(size=100)
    plain = ut.psi(x, y, alpha=None)
    gated = ut.psi(x, y)
    assert plain.status == plain.status_threshold == gated.status_threshold
    assert plain.alpha is None and gated.alpha == 0.01
    want = "stable" if plain.value < 0.1 else ("moderate" if plain.value <= 0.25 else "significant")
    assert plain.status == want
    with pytest.raises(ut.UndertowError, match="alpha: must be in"):
        ut.psi(x, y, alpha=1.5)
    with pytest.raises(TypeError, match="alpha"):
        ut.psi(x, y, alpha="0.01")


def test_large_drift_keeps_its_band() -> None:
    rng = np.random.default_rng(4)
    result = ut.psi(rng.normal(size=20_000), rng.normal(1.0, 1, size=20_000))
    assert result.p_value < 1e-12
    assert result.status == result.status_threshold == "significant"


def test_noise_floor_hand_computed() -> None:
    rng = np.random.default_rng(5)
    result = ut.psi(rng.normal(size=100), rng.normal(size=100))
    assert result.noise_floor == pytest.approx(9 * (1 / 100 + 1 / 100), rel=1e-15)
    ref = ut.Reference.fit({"x": rng.normal(size=100_000)})
    assert ref.psi({"x": rng.normal(size=100)})["x"].noise_floor == pytest.approx(9 * (1e-5 + 1e-2))
    # categorical: the unseen bin (empty in the reference) is not a populated bin
    cat = ut.Reference.fit({"c": np.array(["a", "b", "c"] * 40)}).psi({"c": np.array(["a", "d"] * 30)})["c"]
    assert cat.bins == 4 and cat.noise_floor == pytest.approx(2 * (1 / 120 + 1 / 60))


@pytest.mark.parametrize(("n", "m"), [(1000, 1000), (5000, 300)])
def test_noise_floor_is_the_null_mean_of_psi(n: int, m: int) -> None:
    """Mean PSI over 600 null replicates (both samples drawn afresh, 10 quantile bins, >= 30
    actual rows per bin) within 6% of (k - 1)(1/n + 1/m): its sd over 600 replicates is ~2% of
    it, the second-order bias +0.5%."""
    rng = np.random.default_rng(n + m)
    values = [ut.psi(rng.normal(size=n), rng.normal(size=m)) for _ in range(600)]
    floor = values[0].noise_floor
    assert floor == pytest.approx(9 * (1 / n + 1 / m))
    assert np.mean([v.value for v in values]) / floor == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [([5, 3, 1, 1], [1, 2, 4, 3]), ([6, 6, 0, 2], [2, 3, 4, 1]), ([9, 1, 1], [3, 3, 4])],
)
def test_sparse_tables_use_a_monte_carlo_permutation_test(expected: list[int], actual: list[int]) -> None:
    from undertow.tabular._significance import MONTE_CARLO_TABLES, homogeneity_test

    p, method = homogeneity_test(np.array(expected), np.array(actual))
    assert method == "monte_carlo"
    assert homogeneity_test(np.array(expected), np.array(actual)) == (p, method)  # fixed seed
    exact = exact_permutation_p_value(expected, actual)
    sd = math.sqrt(exact * (1 - exact) / (MONTE_CARLO_TABLES + 1))
    assert abs(p - exact) <= 4 * sd + 1 / (MONTE_CARLO_TABLES + 1), (p, exact)


def test_monte_carlo_null_rate_with_small_windows() -> None:
    """30-row windows against a 10,000-row reference (3 expected rows per bin: Monte-Carlo):
    p <= alpha within the 99% band of alpha over 250 replicates."""
    rng = np.random.default_rng(30)
    ref = ut.Reference.fit({"x": rng.normal(size=10_000)})
    results = [ref.psi({"x": rng.normal(size=30)}, alpha=0.05)["x"] for _ in range(250)]
    assert all(r.p_value_method == "monte_carlo" for r in results)
    low, high = stats.binom.interval(0.99, 250, 0.05)
    assert low <= sum(r.p_value <= 0.05 for r in results) <= high


def test_report_carries_the_new_fields() -> None:
    rng = np.random.default_rng(8)
    ref = ut.Reference.fit({"a": rng.normal(size=1000), "b": rng.normal(size=1000)})
    report = ref.psi({"a": rng.normal(size=150), "b": rng.normal(2.0, 1, size=150)})
    frame = report.to_polars()
    assert {"p_value", "noise_floor", "status_threshold"} <= set(frame.columns)
    assert frame.schema["p_value"] == pl.Float64
    assert frame["p_value"].to_list() == [report["a"].p_value, report["b"].p_value]
    assert report["b"].status == "significant" and report.status == "significant"
    assert report.status_threshold == "significant"
    data = report.to_dict()
    json.dumps(data)  # plain Python (the open outer edges are the only non-finite values)
    column = data["columns"]["a"]
    assert all(math.isfinite(column[key]) for key in ("p_value", "noise_floor"))
    assert type(column["p_value"]) is float and type(column["noise_floor"]) is float
    assert column["p_value_method"] == "chi2" and column["alpha"] == 0.01 and data["alpha"] == 0.01
    assert "p=" in repr(report) and "noise_floor=" in repr(report["a"])
    assert ref.psi({"a": rng.normal(size=150), "b": rng.normal(size=150)}, alpha=None).alpha is None


def test_split_updates_give_the_same_significance() -> None:
    rng = np.random.default_rng(9)
    ref = ut.Reference.fit({"x": rng.normal(size=5000)})
    y = rng.normal(0.1, 1, size=400)
    whole = ref.psi({"x": y})["x"]
    parts = ref.accumulator()
    for chunk in np.array_split(y, 7):
        parts.merge(ref.accumulator().update({"x": chunk}))
    split = parts.finalize()["x"]
    assert (split.p_value, split.noise_floor, split.status) == (
        whole.p_value,
        whole.noise_floor,
        whole.status,
    )
    restored = ut.PsiAccumulator.from_bytes(parts.to_bytes()).finalize()["x"]
    assert restored.p_value == whole.p_value


def test_drift_over_min_rows_follows_the_noise_floor() -> None:
    """Default min_rows: the smallest window whose noise floor at 10 bins (large reference) is
    at most half the 0.1 threshold; a 150-row window (main: PSI computed) is too small now."""
    default = inspect.signature(ut.drift_over).parameters["min_rows"].default
    assert 9 / default <= 0.05 < 9 / (default - 1)
    day = pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 1, 23, 59), "5m", eager=True)
    rng = np.random.default_rng(10)
    frame = pl.DataFrame({"ts": day[:150], "x": rng.normal(size=150)})
    ref = ut.Reference.fit({"x": rng.normal(size=10_000)})
    out = ut.drift_over(frame, ref, "ts", every="1d")
    assert out["x_status"].to_list() == ["too_few_rows"]
