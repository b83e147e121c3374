"""The one-pass row-major kernel (AVX2 lanes across columns; widths off the lane count read as
super-rows of lcm(columns, lanes) values) against the per-column reference, for every column
count around the lane widths."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_impl import psi_reference

import undertow as ut


@settings(max_examples=40, deadline=None)
@given(
    ncols=st.integers(1, 41),
    nrows=st.integers(1, 700),
    dtype=st.sampled_from([np.float32, np.float64]),
    bins=st.integers(2, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_row_kernel_matches_reference_per_column(ncols, nrows, dtype, bins, seed) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(nrows + 5, ncols)).round(1).astype(dtype)  # ties on purpose
    cur = rng.normal(0.2, 1.3, size=(nrows, ncols)).astype(dtype)
    cur[rng.random(cur.shape) < 0.02] = np.nan
    report = ut.Reference.fit(ref, bins=bins, nan_policy="bin").psi(cur)  # C-ordered: row kernel
    for j in range(ncols):
        want = psi_reference(ref[:, j], cur[:, j], bins=bins, binning="quantile", nan_policy="bin")
        got = report[str(j)]
        np.testing.assert_array_equal(got.edges, want["edges"])
        np.testing.assert_array_equal(got.actual_counts, want["actual_counts"])
        np.testing.assert_array_equal(got.expected_counts, want["expected_counts"])
        np.testing.assert_allclose(got.value, want["value"], rtol=1e-9, atol=1e-12)


def test_references_and_accumulators_pickle_through_their_bytes() -> None:
    rng = np.random.default_rng(2)
    ref = ut.Reference.fit({"x": rng.normal(size=500), "c": rng.choice(["u", "v"], 500)})
    acc = ref.accumulator().update({"x": rng.normal(size=50), "c": ["u"] * 50})
    ref2 = pickle.loads(pickle.dumps(ref))
    acc2 = pickle.loads(pickle.dumps(acc))
    assert ref2.to_bytes() == ref.to_bytes()
    assert acc2.to_bytes() == acc.to_bytes()
    assert acc2.finalize().values == acc.finalize().values
