"""cohort_balance: SRM against scipy, covariate tests against hand computations, the seed's
"power users in contiguous id ranges bucketed by a weak hash" and the false-alarm rate."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

import undertow as ut
from undertow.cohorts import chi2_goodness_of_fit, chi2_homogeneity, holm

MASK = (1 << 64) - 1


def splitmix64(ids: np.ndarray) -> np.ndarray:
    """A good 64-bit hash (splitmix64's finalizer), vectorized."""
    z = (ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(MASK)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def weak_hash(ids: np.ndarray) -> np.ndarray:
    """The seed's failure: a "hash" whose low bits carry no information about neighbours, so
    contiguous ids share a bucket (here the id with its low 8 bits dropped: what hashing a
    block-allocated id, or a timestamp-prefixed one, amounts to)."""
    return ids.astype(np.uint64) >> np.uint64(8)


def users(n: int, seed: int) -> pl.DataFrame:
    """Users whose power users sit in contiguous id ranges (early sign-ups, one enterprise
    import): more sessions, more spend, more on the "pro" plan."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64)
    power = np.zeros(n, dtype=bool)
    for start in (0, n // 3, (2 * n) // 3):
        power[start : start + n // 20] = True
    sessions = rng.poisson(np.where(power, 40, 5))
    spend = rng.gamma(2.0, np.where(power, 50.0, 10.0))
    plan = np.where(rng.random(n) < np.where(power, 0.7, 0.1), "pro", "free")
    country = rng.choice(["de", "fr", "us", "jp"], n)
    age = rng.normal(35, 10, n)
    return pl.DataFrame(
        {"id": ids, "sessions": sessions, "spend": spend, "plan": plan, "country": country, "age": age}
    )


COVARIATES = ["sessions", "spend", "plan", "country", "age"]


def test_weak_hash_clusters_power_users_the_good_hash_does_not() -> None:
    df = users(40_000, 0)
    ids = df["id"].to_numpy()
    bad = df.with_columns(arm=pl.Series(np.where(weak_hash(ids) % 100 < 50, "treatment", "control")))
    good = df.with_columns(arm=pl.Series(np.where(splitmix64(ids) % 100 < 50, "treatment", "control")))
    expected = {"control": 0.5, "treatment": 0.5}
    flagged = ut.cohort_balance(bad, "arm", COVARIATES, expected=expected)
    assert flagged.status == "imbalanced"
    for name in ("sessions", "spend", "plan"):
        assert flagged[name].status == "imbalanced", flagged[name]
    assert flagged["country"].status == "balanced" and flagged["age"].status == "balanced"
    # Two of the three power-user ranges land in treatment: more sessions there (measured 0.051).
    assert flagged["sessions"].smd["treatment"] > 0.03
    fine = ut.cohort_balance(good, "arm", COVARIATES, expected=expected)
    assert fine.status == "balanced", fine
    assert fine.control == "control" and fine.srm.status == "ok"


def test_false_alarm_rate_under_random_assignment_is_alpha() -> None:
    alpha, seeds = 0.05, 300
    alarms = 0
    srm_p = []
    for seed in range(seeds):
        df = users(1_200, seed)
        arm = np.random.default_rng(10_000 + seed).random(df.height) < 0.5
        df = df.with_columns(arm=pl.Series(np.where(arm, "b", "a")))
        report = ut.cohort_balance(df, "arm", COVARIATES, alpha=alpha)
        alarms += bool(report.imbalanced)
        srm_p.append(report.srm.p_value)
    low, high = stats.binom.ppf([0.005, 0.995], seeds, alpha)
    assert low <= alarms <= high, (alarms, low, high)
    # SRM p-values under the null: about uniform.
    assert stats.kstest(srm_p, "uniform").pvalue > 1e-3


@pytest.mark.parametrize(
    ("counts", "shares"),
    [
        ([5010, 4990], [0.5, 0.5]),
        ([480, 520, 1000], [0.25, 0.25, 0.5]),
        ([100, 180], [0.3, 0.7]),
        ([7, 1], [0.5, 0.5]),
    ],
)
def test_srm_matches_scipy_chisquare(counts, shares) -> None:
    statistic, df, p = chi2_goodness_of_fit(np.array(counts), np.array(shares))
    ref = stats.chisquare(counts, np.sum(counts) * np.array(shares))
    assert statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert df == len(counts) - 1
    labels = np.repeat(np.arange(len(counts)), counts)
    frame = pl.DataFrame({"arm": labels, "x": np.random.default_rng(0).normal(size=len(labels))})
    report = ut.cohort_balance(frame, "arm", ["x"], expected=dict(enumerate(shares)))
    assert report.srm.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert report.srm.counts == counts


def test_homogeneity_and_holm_against_references() -> None:
    table = np.array([[10, 20, 30, 0], [15, 25, 20, 0], [5, 9, 12, 0]])
    statistic, df, p = chi2_homogeneity(table)
    ref = stats.chi2_contingency(table[:, :3], correction=False)
    assert statistic == pytest.approx(ref.statistic, rel=1e-12) and df == ref.dof
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    # Holm by hand: sorted 0.01, 0.02, 0.04, 0.3 -> 0.04, 0.06, 0.08, 0.3 (monotone).
    assert holm([0.04, 0.01, 0.3, 0.02]) == pytest.approx([0.08, 0.04, 0.3, 0.06])
    assert holm([0.5, 0.5]) == [1.0, 1.0]


def test_effect_sizes_match_hand_computations() -> None:
    rng = np.random.default_rng(4)
    n = 6000
    arm = rng.integers(0, 2, n)
    x = rng.normal(size=n) + 0.3 * arm
    color = np.where(rng.random(n) < 0.3 + 0.2 * arm, "red", "blue")
    frame = pl.DataFrame({"arm": arm, "x": x, "color": color})
    report = ut.cohort_balance(frame, "arm", ["x", "color"], control=0)
    xc, xt = x[arm == 0], x[arm == 1]
    smd = (xt.mean() - xc.mean()) / np.sqrt((xt.var(ddof=1) + xc.var(ddof=1)) / 2)
    assert report["x"].smd["1"] == pytest.approx(smd, rel=1e-9)
    assert report["x"].psi["1"] == pytest.approx(ut.psi(xc, xt).value, rel=1e-12)
    red_c, red_t = (color[arm == 0] == "red").mean(), (color[arm == 1] == "red").mean()
    assert report["color"].share_diff["1"]["red"] == pytest.approx(red_t - red_c, rel=1e-12)
    counts = np.array([[np.sum((arm == a) & (color == c)) for c in ("blue", "red")] for a in (0, 1)])
    assert report["color"].p_value == pytest.approx(
        stats.chi2_contingency(counts, correction=False).pvalue, rel=1e-9
    )
    assert report.status == "imbalanced" and len(report.imbalanced) == 2
    table = report.to_polars()
    assert table["covariate"].to_list() == ["x", "color"] and table["status"].to_list() == ["imbalanced"] * 2
    assert "imbalanced=[x, color]" in repr(report)
    assert '"kind": "cohort_balance"' in report.to_json()


def test_embedding_covariate_through_mmd() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    arm = rng.integers(0, 2, n)
    v = rng.normal(size=(n, 16)).astype(np.float32)
    shifted = v + 0.4 * arm[:, None].astype(np.float32)
    frame = pl.DataFrame({"arm": arm, "x": rng.normal(size=n), "v": v, "w": shifted})
    report = ut.cohort_balance(frame, "arm", ["x"], embeddings=["v", "w"])
    assert report["v"].test == "mmd_rff" and report["v"].status == "balanced"
    assert report["w"].status == "imbalanced" and report["w"].arm == 1


def test_scan_source_equals_frame(tmp_path) -> None:
    df = users(5000, 1).with_columns(arm=pl.Series(np.where(splitmix64(np.arange(5000)) % 2 == 0, "a", "b")))
    path = tmp_path / "users.parquet"
    df.write_parquet(path)
    a = ut.cohort_balance(df, "arm", COVARIATES)
    b = ut.cohort_balance(ut.scan(str(path), batch_size=777), "arm", COVARIATES)
    # the streamed SMD merges batch moments (Chan): equal to 1e-12, every other number exactly
    da, db = a.to_dict(), b.to_dict()
    for x, y in zip(da["covariates"], db["covariates"], strict=True):
        if x["smd"] is not None:
            assert y.pop("smd") == pytest.approx(x.pop("smd"), rel=1e-12)
    assert da == db


def frame2() -> pl.DataFrame:
    return pl.DataFrame({"arm": ["a", "b"] * 50, "x": np.arange(100.0)})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"expected": {"a": 0.5, "b": 0.25, "c": 0.25}}, ut.UndertowError, "arm: arm 'c' has no rows"),
        ({"expected": {"a": 1.0}}, ut.UndertowError, r"expected: arm labels \['b'\] are in the data but not"),
        ({"covariates": ["x", "y"]}, ut.UndertowError, r"covariates: \['y'\] are not columns"),
        ({"covariates": []}, ut.UndertowError, "covariates: name at least one"),
        ({"control": "z"}, ut.UndertowError, "control: 'z' is not an arm"),
        ({"alpha": 1.5}, ut.UndertowError, "alpha: must lie strictly between 0 and 1"),
        ({"expected": {"a": 0.0, "b": 1.0}}, ut.UndertowError, r"expected\['a'\]: must lie in \(0"),
        ({"categorical": ["q"]}, ut.UndertowError, r"categorical: \['q'\] are not covariates"),
    ],
)
def test_bad_input(kwargs, error, message) -> None:
    args = {"covariates": ["x"], **kwargs}
    with pytest.raises(error, match=message):
        ut.cohort_balance(frame2(), "arm", **args)


def test_bad_frames() -> None:
    with pytest.raises(ut.UndertowError, match="arm: needs at least 2 arms"):
        ut.cohort_balance(pl.DataFrame({"arm": ["a"] * 10, "x": np.arange(10.0)}), "arm", ["x"])
    with pytest.raises(ut.UndertowError, match="arm: 1 rows have no arm"):
        ut.cohort_balance(pl.DataFrame({"arm": ["a", None, "b"], "x": [1.0, 2, 3]}), "arm", ["x"])
    with pytest.raises(TypeError, match="frame: expected a polars DataFrame"):
        ut.cohort_balance({"arm": [1]}, "arm", ["x"])
    dated = pl.DataFrame({"arm": ["a", "b"], "d": [pl.date(2026, 1, 1), pl.date(2026, 1, 2)]})
    with pytest.raises(TypeError, match="covariates: 'd' has dtype Date"):
        ut.cohort_balance(
            pl.DataFrame({"arm": ["a", "b"]}).with_columns(d=pl.Series([1, 2]).cast(pl.Date)), "arm", ["d"]
        )
    assert dated.height == 2
