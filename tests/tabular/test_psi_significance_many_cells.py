"""The Monte-Carlo homogeneity test past a thousand cells and below alpha = 1/2000 (issue 16's
side finding): a small window against many categories draws only the window's rows, memory
stays bounded whatever the cells, and a strong drift reaches p-values a Bonferroni alpha
needs, keeping the test's size."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from permutation_reference import exact_permutation_p_value
from scipy import stats

import undertow as ut
from undertow.tabular import _significance as sig


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ([1, 1, 1, 1, 1, 1, 1, 1, 3, 2], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),  # the window: 2 rows, 10 cells
        ([0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0], [2, 1, 1, 3, 1, 1, 2, 1, 4, 1, 2, 1]),  # a small reference
        ([4, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1], [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ],
)
def test_the_sparse_draw_is_the_permutation_test(expected: list[int], actual: list[int]) -> None:
    e, a = np.array(expected), np.array(actual)
    assert 0 < 4 * min(e.sum(), a.sum()) < np.count_nonzero(e + a)  # the sparse draw
    p, method = sig.homogeneity_test(e, a)
    assert method == "monte_carlo"
    exact = exact_permutation_p_value(expected, actual)
    tables = sig.MONTE_CARLO_TABLES if p > 11 / 2000 else sig.MONTE_CARLO_MAX_TABLES
    sd = math.sqrt(exact * (1 - exact) / (tables + 1))
    assert abs(p - exact) <= 4 * sd + 1 / (tables + 1), (p, exact)


def test_the_sparse_statistic_is_pearsons() -> None:
    """The closed form over the small side's cells equals scipy's X^2 of the whole table."""
    rng = np.random.default_rng(5)
    for cells, small in [(50, 7), (1000, 3), (400, 99), (10, 1)]:
        totals = rng.integers(1, 20, size=cells)
        act = rng.multivariate_hypergeometric(totals, small)
        n = int(totals.sum()) - small
        touched = act > 0
        got = sig._sparse_pearson(
            act[touched], totals[touched], np.zeros(int(touched.sum()), np.intp), 1, n, small
        )
        want = stats.chi2_contingency(np.vstack([totals - act, act]), correction=False).statistic
        assert got[0] == pytest.approx(want, rel=1e-12)


def test_subsets_are_uniform_and_distinct() -> None:
    """2-subsets of 6 rows: all 15 equally likely (a chi-square goodness of fit over 30,000
    draws, fixed seed), every row sorted and without repeats."""
    rng = np.random.Generator(np.random.PCG64(11))
    rows = sig._subsets(rng, 6, 2, 30_000)
    assert rows.shape == (30_000, 2)
    assert (rows[:, 0] < rows[:, 1]).all() and rows.min() >= 0 and rows.max() <= 5
    pairs = {pair: i for i, pair in enumerate(itertools.combinations(range(6), 2))}
    counts = np.bincount([pairs[(x, y)] for x, y in rows.tolist()], minlength=15)
    assert stats.chisquare(counts).pvalue > 1e-3
    big = sig._subsets(rng, 2**62, 50, 100)  # a pool past 2^53: exact int64 rows
    assert (np.diff(big, axis=1) > 0).all() and big.max() < 2**62


def test_a_pool_past_2_53_rows_keeps_the_most_likely_table_at_p_1() -> None:
    """Every actual row in the one giant cell is the table the null draws almost surely; its
    X^2 must tie with the drawn ones (float64 lost them past 2^53 rows before: p = 1/2000)."""
    e = np.array([2**55] + [1] * 39)
    a = np.array([3] + [0] * 39)
    assert sig.homogeneity_test(e, a) == (1.0, "monte_carlo")


def test_a_strong_sparse_drift_reaches_a_bonferroni_alpha() -> None:
    """1,999 tables cannot give p < 1/2000; a drift that no permutation reaches goes on to the
    second stage when alpha asks for it (below 10/2000) and gets p = 1/(tables + 1) <
    0.01 / 100, so a 100-column alpha flags it. At the default alpha (0.01) the first stage
    already decides, and no more tables are drawn."""
    for e, a in [([30] * 10, [0] * 8 + [1, 9]), ([5] * 300, [12] + [0] * 299), ([100] * 40, [6] + [0] * 39)]:
        small = min(sum(e), sum(a))
        cost = small if 4 * small < len(e) else len(e)  # the sparse draw costs the window's rows
        first = min(sig.MONTE_CARLO_TABLES, max(sig.MONTE_CARLO_MIN_TABLES, sig.MONTE_CARLO_BUDGET // cost))
        most = min(sig.MONTE_CARLO_MAX_TABLES, max(first, sig.MONTE_CARLO_EXTENDED_BUDGET // cost))
        p, method = sig.homogeneity_test(np.array(e), np.array(a), 0.01 / 100)
        assert method == "monte_carlo"
        assert p == 1 / (most + 1) < 0.01 / 100, (e, a, p)
        for alpha in (None, 0.01):
            assert sig.homogeneity_test(np.array(e), np.array(a), alpha) == (1 / (first + 1), "monte_carlo")
    ref = ut.Reference.fit({"c": np.repeat(np.array(list("abcdefghij")), 30)}, categorical=["c"])
    window = {"c": np.array(["i"] + ["j"] * 9)}
    assert ref.psi(window, alpha=0.01 / 100)["c"].status == "significant"
    assert ref.psi(window, alpha=0.01 / 100)["c"].p_value == 1 / (sig.MONTE_CARLO_MAX_TABLES + 1)
    assert ref.psi(window)["c"].p_value == 1 / (sig.MONTE_CARLO_TABLES + 1)


def test_pools_past_2_53_rows_keep_the_null_table_unremarkable() -> None:
    """A giant cell of 2^60 rows and eleven singletons, the window all in the giant cell: the
    table the null draws almost surely. A small window takes the exact subset draw (p = 1),
    a large one the bootstrap (its p-value is that of a Poisson count of the singletons, about
    0.5); both gave p = 1e-5 when the giant cell's probability rounded to 1.0 and the
    full-table X^2 lost its last digits. Also through an accumulator merged 60 times."""
    e = np.array([2**60] + [1] * 11)
    assert sig.homogeneity_test(e, np.array([3] + [0] * 11), 1e-4) == (1.0, "monte_carlo")
    p, method = sig.homogeneity_test(e, np.array([2**31] + [0] * 11), 1e-4)
    assert method == "monte_carlo" and 0.2 < p < 0.9, p
    ref = ut.Reference.fit({"c": np.array(["a", "a", "a"])}, categorical=["c"])
    big = ref.accumulator().update({"c": np.array(["a"])})
    for _ in range(60):
        big.merge(big)
    acc = ref.accumulator().update({"c": np.array(["zzz"])}).merge(big)
    result = acc.finalize(alpha=0.01 / 200)["c"]
    assert result.actual_counts.tolist() == [2**60, 1]
    assert (result.p_value, result.p_value_method, result.status) == (1.0, "monte_carlo", "stable")


def test_the_test_keeps_its_size_at_small_alpha() -> None:
    """400 null windows of 12 rows against 80 categories (the sparse draw): the share with
    p <= alpha stays within the 99% binomial band of alpha at 0.05 and 0.01, and none at
    alpha = 1e-4 (the second stage must not invent significance)."""
    rng = np.random.default_rng(8)
    probabilities = rng.dirichlet(np.ones(80) * 2)
    p_values, small_alpha = [], []
    for _ in range(400):
        e = rng.multinomial(400, probabilities)
        a = rng.multinomial(12, probabilities)
        assert 4 * 12 < np.count_nonzero(e + a)
        p_values.append(sig.homogeneity_test(e, a)[0])
        small_alpha.append(sig.homogeneity_test(e, a, 1e-4)[0])
    p_values = np.array(p_values)
    for alpha in (0.05, 0.01):
        low, high = stats.binom.interval(0.99, 400, alpha)
        assert low <= np.count_nonzero(p_values <= alpha) <= high, alpha
    assert np.count_nonzero(np.array(small_alpha) <= 1e-4) <= 1


def test_chunks_do_not_change_the_dense_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hypergeometric and multinomial streams run table after table: drawing them a few
    cells at a time gives the same p-values as in one piece. (The subset draws redraw repeats
    within a chunk, so their p-values depend on the chunk size, a constant.)"""
    tables = [
        (np.array([3, 2, 1, 1, 1, 4, 2]), np.array([0, 0, 4, 5, 3, 1, 0])),
        (np.array([2 * 10**9, 0, 1]), np.array([2**20, 1, 0])),  # the bootstrap
        (np.array([30] * 10), np.array([0] * 8 + [1, 9])),  # a second stage
    ]
    whole = [sig.homogeneity_test(e, a, 1e-4) for e, a in tables]
    monkeypatch.setattr(sig, "MONTE_CARLO_CHUNK", 7)
    assert [sig.homogeneity_test(e, a, 1e-4) for e, a in tables] == whole


def test_a_million_categories_finalize_in_bounded_memory() -> None:
    """A 60-row window against 1e6 reference categories (each seen once): the finalize took
    54 s and 11.3 GB drawing 199 full-width tables; now the whole run stays below 2 GB.
    Run in a subprocess so its peak memory is its own."""
    code = textwrap.dedent(
        """
        import resource
        import numpy as np
        import undertow as ut
        labels = np.array([f"k{i}" for i in range(1_000_000)])
        ref = ut.Reference.fit({"c": labels}, categorical=["c"])
        acc = ref.accumulator()
        for _ in range(6):
            acc.update({"c": labels[:10]})
        result = acc.finalize()["c"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(result.p_value_method, result.p_value, peak)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    method, p_value, peak = out.stdout.split()
    assert method == "monte_carlo"
    assert 0.0 < float(p_value) <= 1.0
    assert int(peak) < 2 * 2**30, f"peak {int(peak) / 2**30:.2f} GiB"
