"""Behaviour at the edges of the contract: self-merge, empty batches, ragged dicts, labels."""

from __future__ import annotations

import numpy as np
import pytest

import undertow as ut


def _reference() -> ut.Reference:
    rng = np.random.default_rng(9)
    return ut.Reference.fit({"x": rng.normal(size=2000), "c": rng.choice(["a", "b", "c"], 2000)})


def test_merge_with_itself_doubles_the_counts() -> None:
    ref = _reference()
    batch = {"x": np.linspace(-2, 2, 101), "c": ["a"] * 100 + ["z"]}
    acc = ref.accumulator().update(batch)
    single = acc.finalize()
    doubled = acc.merge(acc).finalize()
    for name in ("x", "c"):
        np.testing.assert_array_equal(doubled[name].actual_counts, 2 * single[name].actual_counts)
        assert doubled[name].value == single[name].value  # proportions unchanged
    assert acc.rows == 202


def test_empty_batch_is_a_no_op() -> None:
    ref = _reference()
    acc = ref.accumulator().update({"x": np.array([0.5, 1.5]), "c": ["a", "b"]})
    before = acc.to_bytes()
    acc.update({"x": np.array([], dtype=np.float64), "c": np.array([], dtype=str)})
    assert acc.to_bytes() == before


def test_ragged_dict_is_refused() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        ut.Reference.fit({"x": np.arange(10.0), "y": np.arange(9.0)})


def test_nan_in_an_object_label_array_is_missing() -> None:
    labels = np.array(["a", "b", np.nan, "a"], dtype=object)
    with pytest.raises(ValueError, match="1 missing"):
        ut.Reference.fit({"c": labels})
    ref = ut.Reference.fit({"c": labels}, nan_policy="omit")
    report = ref.psi({"c": np.array(["a", np.nan], dtype=object)})
    assert report["c"].categories == ["a", "b"]
    np.testing.assert_array_equal(report["c"].expected_counts, [2, 1, 0])
    np.testing.assert_array_equal(report["c"].actual_counts, [1, 0, 0])
    assert report["c"].actual_missing == 1


def test_report_membership_by_column_name() -> None:
    report = _reference().psi({"x": np.zeros(5), "c": ["a"] * 5})
    assert "x" in report and "c" in report and "y" not in report


@pytest.mark.parametrize("order", ["C", "F"])
def test_matrix_fit_matches_per_column_psi(order: str) -> None:
    rng = np.random.default_rng(4)
    ref = np.asarray(rng.normal(size=(3001, 37)).astype(np.float32), order=order)
    cur = rng.normal(0.1, 1.0, size=(2000, 37)).astype(np.float32)
    report = ut.Reference.fit(ref, bins=7).psi(cur)
    for j in (0, 15, 16, 36):
        one = ut.psi(np.ascontiguousarray(ref[:, j]), np.ascontiguousarray(cur[:, j]), bins=7)
        np.testing.assert_array_equal(report[str(j)].edges, one.edges)
        np.testing.assert_array_equal(report[str(j)].expected_counts, one.expected_counts)
        assert report[str(j)].value == one.value


def test_a_constant_reference_at_the_largest_float64_gets_below_and_equal_bins():
    # Its "above" edge would be +inf: it was refused ("edges must be finite"), at any size.
    big = np.finfo(np.float64).max
    for n in (100, 2**19 + 5):  # the radix selection and the one-pass fit
        r = ut.psi(np.full(n, big), np.r_[np.full(5, big), np.ones(5)])
        np.testing.assert_array_equal(r.edges, [-np.inf, big, np.inf])
        np.testing.assert_array_equal(r.expected_counts, [0, n])
        np.testing.assert_array_equal(r.actual_counts, [5, 5])
