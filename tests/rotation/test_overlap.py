"""overlap@k and extrapolated RBO against plain-Python references, hand values and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from undertow import UndertowError
from undertow.rotation import overlap_at_k, rbo


def rbo_reference(a, b, p):
    """RBO_EXT (Webber et al. 2010, eq. 32) by its definition, with sets, for one pair."""
    a = [v for v in a if v >= 0]
    b = [v for v in b if v >= 0]
    depth = max(len(a), len(b))
    if depth == 0:
        return 1.0
    total = 0.0
    x_d = 0
    for d in range(1, depth + 1):
        x_d = len(set(a[:d]) & set(b[:d]))
        total += x_d / d * p**d
    return x_d / depth * p**depth + (1 - p) / p * total


def overlap_reference(a, b):
    a = {v for v in a if v >= 0}
    b = {v for v in b if v >= 0}
    return 1.0 if not a and not b else len(a & b) / max(len(a), len(b))


def test_hand_values():
    a = np.array([[5, 6, 7, 8], [1, 2, 3, 4], [1, 2, -1, -1]])
    b = np.array([[8, 7, 6, 5], [9, 10, 11, 12], [2, 1, -1, -1]])
    np.testing.assert_allclose(overlap_at_k(a, b), [1.0, 0.0, 1.0])
    # X = 0, 0, 2, 4: 4/4 * 0.9^4 + (0.1/0.9) * (2/3 * 0.9^3 + 0.9^4)
    expected = 0.9**4 + (0.1 / 0.9) * (2 / 3 * 0.9**3 + 0.9**4)
    got = rbo(a, b, 0.9)
    assert got[0] == pytest.approx(expected, abs=1e-15)
    assert got[1] == 0.0
    # depth 2 (padding): X = 0, 2 -> 0.9^2 + (0.1/0.9) * (0.9^2)
    assert got[2] == pytest.approx(0.81 + 0.1 / 0.9 * 0.81, abs=1e-15)


ids = st.lists(st.integers(0, 30), min_size=0, max_size=12, unique=True)


@settings(max_examples=300, deadline=None)
@given(ids, ids, st.integers(1, 12), st.floats(0.05, 0.95))
def test_matches_reference_on_any_lists(a, b, k, p):
    # lists of k slots; fewer ids than k pad with -1 (a corpus shorter than k)
    pad = lambda v: (v[:k] + [-1] * k)[:k]  # noqa: E731
    left, right = np.array([pad(a)]), np.array([pad(b)])
    # both lists hold the same number of valid ids when the corpus is short (both sides search
    # the same documents): trim to the shorter one
    m = min(len(a), len(b), k)
    left[0, m:] = -1
    right[0, m:] = -1
    got_overlap = overlap_at_k(left, right)[0]
    got_rbo = rbo(left, right, p)[0]
    assert got_overlap == pytest.approx(overlap_reference(left[0], right[0]), abs=1e-12)
    assert got_rbo == pytest.approx(rbo_reference(left[0], right[0], p), abs=1e-12)
    assert 0.0 <= got_rbo <= 1.0
    # symmetric, and 1 exactly on identical lists
    assert rbo(right, left, p)[0] == pytest.approx(got_rbo, abs=1e-12)
    assert rbo(left, left, p)[0] == pytest.approx(1.0, abs=1e-12)
    assert overlap_at_k(left, left)[0] == 1.0


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(10))), st.integers(1, 10))
def test_ties_permuted_within_the_list_keep_overlap(perm, k):
    # ties broken another way permute ids inside the top-k: overlap@k cannot change, and RBO of a
    # list against its own permutation is 1 only for the identity
    base = np.array([list(range(10))[:k]])
    moved = np.array([[v for v in perm if v < k][:k]])
    assert overlap_at_k(base, moved)[0] == 1.0
    value = rbo(base, moved, 0.9)[0]
    assert (value == pytest.approx(1.0)) == bool(np.array_equal(base, moved))


def test_k_larger_than_corpus():
    # 3 documents, k = 5: both lists hold 3 ids then padding; identical sets score 1
    a = np.array([[0, 1, 2, -1, -1]])
    b = np.array([[2, 1, 0, -1, -1]])
    assert overlap_at_k(a, b)[0] == 1.0
    assert rbo(a, b)[0] == pytest.approx(rbo_reference(a[0], b[0], 0.9))
    assert overlap_at_k(np.full((1, 4), -1), np.full((1, 4), -1))[0] == 1.0


def test_bad_lists():
    with pytest.raises(UndertowError, match="one shape"):
        overlap_at_k(np.zeros((2, 3), int), np.zeros((2, 4), int))
    with pytest.raises(TypeError, match="integers"):
        rbo(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(UndertowError, match="p: must lie"):
        rbo(np.zeros((1, 3), int), np.zeros((1, 3), int), p=1.0)
