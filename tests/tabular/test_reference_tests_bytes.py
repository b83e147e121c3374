"""A Reference fitted with tests= keeps them through to_bytes/from_bytes (issue 17): the
loaded reference compares exactly like the fitted one, and crafted plans are refused."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

import undertow as ut
from undertow._core import UndertowError
from undertow.embedding._pack import pack, unpack


def _frames():
    rng = np.random.default_rng(17)
    ref = pl.DataFrame(
        {
            "x": rng.normal(size=3000),
            "y": rng.exponential(size=3000).astype(np.float32),
            "c": rng.choice(["a", "b", "c"], 3000),
        }
    )
    cur = pl.DataFrame(
        {
            "x": rng.normal(0.1, 1.0, size=2000),
            "y": rng.exponential(1.2, size=2000).astype(np.float32),
            "c": rng.choice(["a", "b", "c"], 2000, p=[0.4, 0.3, 0.3]),
        }
    )
    return ref, cur


def _flat(report):
    return {(c, t): (r.statistic, r.pvalue) for c, tests in report.results.items() for t, r in tests.items()}


@pytest.mark.parametrize(
    "tests", ["auto", ["ks", "hellinger"], ["wasserstein", "chi_square", "jensen_shannon"]]
)
def test_tests_and_samples_survive_bytes(tests):
    ref_frame, cur = _frames()
    ref = ut.Reference.fit(ref_frame, categorical=["c"], tests=tests)
    data = ref.to_bytes()
    loaded = ut.Reference.from_bytes(data)
    assert loaded.tests == ref.tests and loaded.tests
    assert loaded.to_bytes() == data  # stable round trip
    want, got = ref.compare(cur), loaded.compare(cur)
    assert _flat(got) == _flat(want) and _flat(want)
    assert [r.value for r in got.psi.results] == [r.value for r in want.psi.results]


def test_loaded_ks_equals_scipy():
    ref_frame, cur = _frames()
    loaded = ut.Reference.from_bytes(ut.Reference.fit(ref_frame, categorical=["c"], tests=["ks"]).to_bytes())
    got = loaded.compare(cur).results["x"]["ks"]
    want = stats.ks_2samp(ref_frame["x"].to_numpy(), cur["x"].to_numpy())
    assert got.statistic == want.statistic
    assert got.pvalue == pytest.approx(want.pvalue, rel=1e-10, abs=1e-300)


def test_a_reference_without_tests_keeps_its_old_bytes():
    ref_frame, _ = _frames()
    plain = ut.Reference.fit(ref_frame, categorical=["c"])
    data = plain.to_bytes()
    assert data[10] == 1  # codec kind 1, a PSI reference: states written before still load
    assert ut.Reference.from_bytes(data).tests == {}
    with pytest.raises(UndertowError, match="without tests="):
        ut.Reference.from_bytes(data).compare(ref_frame)


def _crafted(data: bytes, edit) -> bytes:
    meta, blobs = unpack(data, "tested_reference")
    meta, blobs = edit(meta, dict(blobs))
    return pack("tested_reference", meta, blobs)


def _drop_sample(m, b):
    del b["sample:x"]
    return m, b


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m, b: ({"tests": {**m["tests"], "z": ["ks"]}}, b), "exactly the reference's columns"),
        (lambda m, b: ({"tests": {k: v for k, v in m["tests"].items() if k != "y"}}, b), "exactly"),
        (lambda m, b: ({"tests": {**m["tests"], "x": ["psi2"]}}, b), "unknown test list"),
        (lambda m, b: ({"tests": {**m["tests"], "x": ["wasserstein", "ks"]}}, b), "out of order"),
        (lambda m, b: ({"tests": {**m["tests"], "x": ["ks", "ks"]}}, b), "twice or out of order"),
        (lambda m, b: ({"tests": {**m["tests"], "c": ["ks"]}}, b), "categorical"),
        (lambda m, b: ({"tests": {**m["tests"], "x": "ks"}}, b), "unknown test list"),
        (lambda m, b: ({"tests": {**m["tests"], "x": ["hellinger"]}}, b), "sorted samples do not match"),
        (_drop_sample, "sorted samples do not match"),
        (lambda m, b: (m, {**b, "sample:c": b["sample:x"]}), "sorted samples do not match"),
        (lambda m, b: (m, {**b, "sample:x": b"\x00" * 40}), "data:"),
        (lambda m, b: (m, {**b, "sample:x": np.zeros(3)}), "not a nested state"),
        (lambda m, b: (m, {k: v for k, v in b.items() if k != "reference"}), "no reference"),
        (lambda m, b: (m, {**b, "reference": b["sample:x"]}), "data:"),
        (lambda m, b: ({}, b), "exactly the reference's columns"),
    ],
)
def test_crafted_plans_are_refused_naming_data(edit, message):
    ref_frame, _ = _frames()
    data = ut.Reference.fit(
        ref_frame, categorical=["c"], tests=["ks", "wasserstein", "chi_square"]
    ).to_bytes()
    with pytest.raises(UndertowError, match=message) as info:
        ut.Reference.from_bytes(_crafted(data, edit))
    assert str(info.value).startswith("data:")


def test_a_pickle_of_the_previous_layout_still_loads():
    # before: pickles carried (psi bytes, classes, tests, sample bytes) because to_bytes dropped
    # the tests; such a pickle (e.g. in a Dask spill or a cache) must load to the same reference
    from undertow.tabular.reference import _restore_reference

    ref_frame, cur = _frames()
    ref = ut.Reference.fit(ref_frame, categorical=["c"], tests=["ks", "chi_square"])
    samples = {name: sample.to_bytes() for name, sample in ref._samples.items()}
    old = _restore_reference(ref._core.to_bytes(), ref._classes, ref._tests, samples)
    assert old.tests == ref.tests and old.to_bytes() == ref.to_bytes()
    assert _flat(old.compare(cur)) == _flat(ref.compare(cur))
