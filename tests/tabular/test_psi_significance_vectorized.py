"""The PSI significance statistics computed for all columns at once (issue 16): the vectorized
homogeneity_tests / noise_floors / column_significance equal, bit for bit, the per-column
functions as they were before (kept below verbatim as the oracle; the Monte-Carlo test as its
rule now stands, two stages and the sparse draw, written out with whole tables), and scipy
where scipy computes the same thing; PsiAccumulator.finalize reports them for every column."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import expected_freq

import undertow as ut
from undertow import _core
from undertow.tabular._significance import (
    _HYPERGEOMETRIC_LIMIT,
    MONTE_CARLO_BUDGET,
    MONTE_CARLO_CHUNK,
    MONTE_CARLO_EXTEND_BELOW,
    MONTE_CARLO_EXTENDED_BUDGET,
    MONTE_CARLO_MAX_TABLES,
    MONTE_CARLO_MIN_TABLES,
    MONTE_CARLO_SEED,
    MONTE_CARLO_TABLES,
    column_significance,
    homogeneity_test,
    homogeneity_tests,
    noise_floor,
    noise_floors,
    significant_status,
)

# --- the per-column functions of main 39004e7, verbatim (the oracle) -------------------------


def old_noise_floor(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    n = int(expected_counts.sum())
    m = int(actual_counts.sum())
    k = int(np.count_nonzero(expected_counts))
    if n == 0 or m == 0:
        return math.nan
    return max(k - 1, 0) * (1.0 / n + 1.0 / m)


def old_pearson(expected_side, actual_side, n, m):
    total = expected_side + actual_side
    scale = total / (n + m)
    want_e, want_a = n * scale, m * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (expected_side - want_e) ** 2 / want_e + (actual_side - want_a) ** 2 / want_a
    return np.where(total > 0, terms, 0.0).sum(axis=-1)


def old_homogeneity_test(
    expected_counts: np.ndarray, actual_counts: np.ndarray, alpha: float | None = None
) -> tuple[float, str]:
    e = np.asarray(expected_counts, dtype=np.int64)
    a = np.asarray(actual_counts, dtype=np.int64)
    populated = (e + a) > 0
    e, a = e[populated], a[populated]
    n, m = int(e.sum()), int(a.sum())
    if e.size < 2 or n == 0 or m == 0:
        return 1.0, "chi2"
    statistic = float(old_pearson(e.astype(np.float64), a.astype(np.float64), n, m))
    totals = e + a
    cells = np.concatenate((n * totals / (n + m), m * totals / (n + m)))
    if cells.min() >= 1.0 and np.count_nonzero(cells < 5.0) <= 0.2 * cells.size:
        return float(_core.chi2_survival(statistic, float(e.size - 1))), "chi2"
    return old_monte_carlo(totals, a, n, m, statistic, alpha), "monte_carlo"


def stage_tables(cost: int) -> tuple[int, int]:
    """(tables of the first stage, tables in all when it goes on) for `cost` variates a table."""
    first = min(MONTE_CARLO_TABLES, max(MONTE_CARLO_MIN_TABLES, MONTE_CARLO_BUDGET // cost))
    return first, min(MONTE_CARLO_MAX_TABLES, max(first, MONTE_CARLO_EXTENDED_BUDGET // cost))


def closed_form(small_side: np.ndarray, totals: np.ndarray, n: int, m: int) -> np.ndarray:
    """X^2 of tables from the smaller side's counts and the cells' totals (both rows of the
    table in one sum per cell; the samplers' form past 2^53 rows)."""
    pool, k = float(n + m), float(min(n, m))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (pool * small_side.astype(np.float64) - k * totals.astype(np.float64)) ** 2 / totals
    return np.where(totals > 0, terms, 0.0).sum(axis=-1) / (float(n) * float(m))


def old_monte_carlo(
    totals: np.ndarray, actual: np.ndarray, n: int, m: int, statistic: float, alpha: float | None
) -> float:
    """The Monte-Carlo rule with whole tables: the hypergeometric draws in one piece per stage
    (their stream does not depend on chunking), the subset draws rebuilt into full tables and
    their X^2 taken by old_pearson; the second stage only for an alpha below 10/(first + 1)."""
    rng = np.random.Generator(np.random.PCG64(MONTE_CARLO_SEED))
    small = min(n, m)
    pool = n + m
    sparse = 0 < small and (4 * small < totals.size or (pool >= _HYPERGEOMETRIC_LIMIT and small <= 1 << 16))
    first, most = stage_tables(small if sparse else totals.size)
    order = np.argsort(totals, kind="stable")  # the bootstrap draws the smallest cells first

    def dense(t: int) -> np.ndarray:
        if pool < _HYPERGEOMETRIC_LIMIT:
            act = rng.multivariate_hypergeometric(totals, m, size=t).astype(np.float64)
            return old_pearson(totals.astype(np.float64) - act, act, n, m)
        both = rng.multinomial([m, n], totals[order] / totals.sum(), size=(t, 2))
        return closed_form(both[:, 0] if m <= n else both[:, 1], both[:, 0] + both[:, 1], n, m)

    def sparse_chunk(t: int) -> np.ndarray:
        rows = rng.integers(0, pool, size=(t, small), dtype=np.int64)
        rows.sort(axis=1)
        while True:
            repeat = np.zeros(rows.shape, dtype=bool)
            repeat[:, 1:] = rows[:, 1:] == rows[:, :-1]
            if not repeat.any():
                break
            rows[repeat] = rng.integers(0, pool, size=int(repeat.sum()), dtype=np.int64)
            rows.sort(axis=1)
        assert all(len(set(r)) == small for r in rows.tolist())
        cells = np.searchsorted(np.cumsum(totals), rows, side="right")
        side = np.array([np.bincount(c, minlength=totals.size) for c in cells], dtype=np.float64)
        other = totals.astype(np.float64) - side
        return old_pearson(other, side, n, m) if m <= n else old_pearson(side, other, n, m)

    def stage(t: int) -> np.ndarray:
        if not sparse:
            return dense(t)
        per_chunk = max(1, MONTE_CARLO_CHUNK // small)
        return np.concatenate([sparse_chunk(min(per_chunk, t - s)) for s in range(0, t, per_chunk)])

    small_side = actual if m <= n else totals - actual
    if sparse:
        statistic = float(old_pearson(totals - actual, actual.astype(np.float64), n, m))
    elif pool >= _HYPERGEOMETRIC_LIMIT:
        statistic = float(closed_form(small_side[order], totals[order], n, m))
    threshold = statistic * (1.0 - 1e-9)
    hits = int(np.count_nonzero(stage(first) >= threshold))
    reach = alpha is not None and alpha < MONTE_CARLO_EXTEND_BELOW / (first + 1)
    if not reach or hits >= MONTE_CARLO_EXTEND_BELOW or most == first:
        return (1 + hits) / (first + 1)
    hits += int(np.count_nonzero(stage(most - first) >= threshold))
    return (1 + hits) / (most + 1)


# --- count tables -----------------------------------------------------------------------------


def random_tables(rng: np.random.Generator, rows: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows x bins) int64 count tables of every kind: dense and large (chi2), tiny (Monte
    Carlo), with empty bins anywhere (one side or both), one populated bin, an empty side."""
    e = np.zeros((rows, bins), dtype=np.int64)
    a = np.zeros((rows, bins), dtype=np.int64)
    for r in range(rows):
        kind = r % 8
        scale = [1, 3, 20, 1000, 10**6][int(rng.integers(0, 5))]
        e[r] = rng.poisson(scale * rng.random(bins) * 2)
        a[r] = rng.poisson(scale * rng.random(bins) * 2 * rng.choice([0.01, 0.3, 1.0, 5.0]))
        if kind == 1:  # both sides empty in random bins (the populated count varies per row)
            empty = rng.random(bins) < 0.4
            e[r, empty], a[r, empty] = 0, 0
        elif kind == 2:  # the reference empty in some bins (an unseen category)
            e[r, rng.random(bins) < 0.3] = 0
        elif kind == 3:  # one populated bin
            e[r], a[r] = 0, 0
            j = int(rng.integers(0, bins))
            e[r, j], a[r, j] = rng.integers(0, 50, size=2)
        elif kind == 4:  # tiny counts: Cochran's rule fails
            e[r] = rng.integers(0, 3, size=bins)
            a[r] = rng.integers(0, 3, size=bins)
        elif kind == 5 and r % 16 == 5:  # an empty side
            (e if rng.random() < 0.5 else a)[r] = 0
        elif kind == 6:  # on the edge of Cochran's rule: expected cells near 1 and 5
            e[r] = rng.integers(0, 12, size=bins)
            a[r] = rng.integers(0, 12, size=bins)
    return e, a


BIN_COUNTS = [1, 2, 3, 5, 7, 8, 9, 10, 11, 16, 17, 31, 129, 300]


@pytest.mark.parametrize("bins", BIN_COUNTS)
def test_vectorized_equals_the_per_column_functions_bit_for_bit(bins: int) -> None:
    rng = np.random.default_rng(1000 + bins)
    e, a = random_tables(rng, 48 if bins < 100 else 24, bins)
    alpha = 1e-4 if bins % 2 else None  # odd: the second stage where the first has few hits
    p_values, methods = homogeneity_tests(e, a, alpha)
    floors = noise_floors(e, a)
    seen = set()
    for r in range(e.shape[0]):
        want_p, want_method = old_homogeneity_test(e[r], a[r], alpha)
        assert (p_values[r], methods[r]) == (want_p, want_method), r
        assert type(p_values[r]) is float
        want_floor = old_noise_floor(e[r], a[r])
        assert floors[r] == want_floor or (math.isnan(floors[r]) and math.isnan(want_floor)), r
        # the scalar functions are the vectorized ones on one row (every third: each of
        # them may draw up to 4e6 variates)
        if r % 3 == 0:
            assert homogeneity_test(e[r], a[r], alpha) == (want_p, want_method)
        assert noise_floor(e[r], a[r]) == want_floor or math.isnan(want_floor)
        seen.add(want_method)
    assert seen == ({"chi2", "monte_carlo"} if bins >= 2 else {"chi2"})


@pytest.mark.parametrize("bins", [2, 3, 10, 17, 129])
def test_p_values_and_methods_against_scipy(bins: int) -> None:
    """Independent float64 references per row: the method by Cochran's rule on scipy's
    expected frequencies; the chi2 p-value is scipy's chi2_contingency (no correction) on the
    populated bins; the Monte-Carlo p-value is (1 + hits) / (tables + 1) with scipy's
    statistic for the observed table."""
    rng = np.random.default_rng(bins)
    e, a = random_tables(rng, 64, bins)
    p_values, methods = homogeneity_tests(e, a)
    for r in range(e.shape[0]):
        table = np.vstack([e[r], a[r]])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
            assert (p_values[r], methods[r]) == (1.0, "chi2"), r
            continue
        cells = expected_freq(table)
        sparse = cells.min() < 1.0 or np.count_nonzero(cells < 5.0) > 0.2 * cells.size
        assert methods[r] == ("monte_carlo" if sparse else "chi2"), r
        if sparse:
            n, m = int(table[0].sum()), int(table[1].sum())
            few = 0 < 4 * min(n, m) < table.shape[1]
            first, _ = stage_tables(min(n, m) if few else table.shape[1])
            # an integer number of hits over the first stage's tables (no alpha: no second)
            hits = p_values[r] * (first + 1) - 1
            assert abs(hits - round(hits)) < 1e-6 and 0 <= round(hits) <= first, r
        else:
            want = stats.chi2_contingency(table, correction=False).pvalue
            assert p_values[r] == pytest.approx(want, rel=1e-9, abs=1e-300), r


def test_noise_floors_hand_computed() -> None:
    e = np.array([[10, 0, 5, 5], [0, 0, 0, 0], [3, 3, 3, 3], [7, 0, 0, 0]], dtype=np.int64)
    a = np.array([[1, 2, 3, 4], [1, 1, 1, 1], [0, 0, 0, 0], [0, 9, 0, 0]], dtype=np.int64)
    floors = noise_floors(e, a)
    assert floors[0] == 2 * (1 / 20 + 1 / 10)
    assert math.isnan(floors[1]) and math.isnan(floors[2])
    assert floors[3] == 0.0  # one populated reference bin


def test_column_significance_groups_columns_by_their_bin_count() -> None:
    """Columns of 1 to 40 bins in a random order: each gets its own table's statistics."""
    rng = np.random.default_rng(77)
    expected, actual = [], []
    for bins in rng.permutation(np.repeat(np.arange(1, 41), 3)):
        e, a = random_tables(rng, 1, int(bins))
        expected.append(e[0])
        actual.append(a[0])
    p_values, methods, floors = column_significance(expected, actual)
    assert len(p_values) == len(methods) == len(floors) == 120
    for j, (e, a) in enumerate(zip(expected, actual, strict=True)):
        assert (p_values[j], methods[j]) == old_homogeneity_test(e, a), j
        want = old_noise_floor(e, a)
        assert floors[j] == want or (math.isnan(floors[j]) and math.isnan(want)), j
    assert column_significance([], []) == ([], [], [])


def test_large_pools_take_the_subset_or_bootstrap_branch_row_by_row() -> None:
    """n + m beyond numpy's hypergeometric sampler with a sparse table: a small side is drawn
    as a subset of the pooled rows (row 0), a large one bootstrapped (row 2), the same as the
    per-column function; at alpha 1e-4 both can go on to the second stage."""
    e = np.array([[2 * 10**9, 0, 1], [5, 5, 5], [2 * 10**9, 0, 1]], dtype=np.int64)
    a = np.array([[10, 1, 0], [5, 5, 5], [2**20, 1, 0]], dtype=np.int64)
    for alpha in (None, 1e-4):
        p_values, methods = homogeneity_tests(e, a, alpha)
        for r in range(3):
            assert (p_values[r], methods[r]) == old_homogeneity_test(e[r], a[r], alpha)
        assert methods[0] == methods[2] == "monte_carlo"


def mixed_table(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    letters = np.array(list("abcdefghijklmnop"))
    return {
        "normal": rng.normal(size=rows),
        "discrete": rng.integers(0, 4, size=rows).astype(np.float64),  # duplicate edges: 4 bins
        "wide": rng.normal(size=rows).astype(np.float32),
        "few": letters[rng.integers(0, 2, size=rows)],
        "many": letters[rng.integers(0, 16, size=rows)],
        "one": np.full(rows, "z"),
    }


@pytest.mark.parametrize(("rows", "actual_rows", "nan_policy"), [(5000, 3000, "raise"), (400, 25, "bin")])
def test_finalize_reports_the_per_column_statistics(rows: int, actual_rows: int, nan_policy: str) -> None:
    rng = np.random.default_rng(rows + actual_rows)
    categorical = ["few", "many", "one"]
    ref = ut.Reference.fit(mixed_table(rng, rows), categorical=categorical, nan_policy=nan_policy)
    current = mixed_table(rng, actual_rows)
    current["normal"] = current["normal"] + 0.3
    current["many"][: actual_rows // 5] = "zz"  # unseen: a bin empty in the reference
    for alpha in (0.01, None):
        report = ref.psi(current, alpha=alpha)
        bins = {r.name: r.bins for r in report}
        assert len(set(bins.values())) >= 4, bins  # several groups of bin counts
        for result in report:
            p_value, method = old_homogeneity_test(result.expected_counts, result.actual_counts, alpha)
            assert (result.p_value, result.p_value_method) == (p_value, method), result.name
            assert result.noise_floor == old_noise_floor(result.expected_counts, result.actual_counts)
            assert result.status == significant_status(result.status_threshold, p_value, alpha)
            assert result.expected_counts.dtype == result.actual_counts.dtype == np.int64
        methods = {r.p_value_method for r in report}
        assert methods == ({"chi2", "monte_carlo"} if actual_rows < 100 else {"chi2"})


def test_result_edges_are_fresh_arrays() -> None:
    """The open edges are built once per reference; each result and each edges() call still
    gets its own array, so writing into one changes no other."""
    rng = np.random.default_rng(3)
    ref = ut.Reference.fit(rng.normal(size=(1000, 3)))
    inner = ref._columns[1]["edges"]
    first, second = ref.psi(rng.normal(size=(200, 3))), ref.psi(rng.normal(size=(200, 3)))
    want = np.concatenate(([-np.inf], inner, [np.inf]))
    np.testing.assert_array_equal(first["1"].edges, want)
    first["1"].edges[1] = 123.0
    ref.edges("1")[2] = 456.0
    np.testing.assert_array_equal(second["1"].edges, want)
    np.testing.assert_array_equal(ref.edges("1"), want)
    np.testing.assert_array_equal(ref.psi(rng.normal(size=(200, 3)))["1"].edges, want)


def test_cochran_cells_of_billions_of_rows_do_not_wrap() -> None:
    """n * total above 2^63 (4e9 x 3e9): numpy's int64 product wrapped negative and sent the
    table to the Monte-Carlo test; the cells are taken exactly, so the chi2 test runs, as
    scipy's float64 expected frequencies say."""
    e = np.array([[1_500_000_000, 2_500_000_000]], dtype=np.int64)
    a = e.copy()
    a[0, 1] += 7
    table = np.vstack([e[0], a[0]])
    assert expected_freq(table.astype(np.float64)).min() >= 5.0
    p_values, methods = homogeneity_tests(e, a)
    assert methods == ["chi2"]
    want = stats.chi2_contingency(table, correction=False).pvalue
    assert p_values[0] == pytest.approx(want, rel=1e-9)


def test_the_kernel_refuses_bad_tables_naming_the_argument() -> None:
    e = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    with pytest.raises(ut.UndertowError, match="actual: shape"):
        _core.homogeneity_rows(e, e[:1])
    with pytest.raises(ut.UndertowError, match=r"actual: count -1 at row 1, bin 0 is negative"):
        _core.homogeneity_rows(e, np.array([[1, 2, 3], [-1, 5, 6]], dtype=np.int64))
    # rows summing past 2^63 are summed in 128 bits: tested, not refused
    big = np.array([[2**62, 2**62, 2**62]], dtype=np.int64)
    _, _, monte_carlo, p, floors = _core.homogeneity_rows(big, big - [[7, 0, 0]])
    assert not monte_carlo[0] and p[0] == pytest.approx(1.0, abs=1e-9)
    assert floors[0] == pytest.approx(2 * 2 / (3 * 2.0**62), rel=1e-12)
    with pytest.raises(TypeError, match="expected: expected a C-contiguous"):
        _core.homogeneity_rows(np.asfortranarray(e), e)
    with pytest.raises(TypeError):
        _core.homogeneity_rows(e.astype(np.float64), e)
    # the facade takes any layout and integer type: the same answers as C-ordered int64
    f = np.asfortranarray(e.astype(np.int32))
    assert homogeneity_tests(f, f[::-1]) == homogeneity_tests(e, np.ascontiguousarray(e[::-1]))


def test_tables_without_rows_or_bins() -> None:
    p_values, methods = homogeneity_tests(np.zeros((0, 4), np.int64), np.zeros((0, 4), np.int64))
    assert (p_values, methods) == ([], [])
    p_values, methods = homogeneity_tests(np.zeros((2, 0), np.int64), np.zeros((2, 0), np.int64))
    assert (p_values, methods) == ([1.0, 1.0], ["chi2", "chi2"])
    assert np.isnan(noise_floors(np.zeros((2, 0), np.int64), np.zeros((2, 0), np.int64))).all()
    # the kernel itself: one untested row per row, whatever the bins
    statistics, populated, monte_carlo, p, floors = _core.homogeneity_rows(
        np.zeros((3, 0), np.int64), np.zeros((3, 0), np.int64)
    )
    assert len(statistics) == len(populated) == len(monte_carlo) == len(p) == len(floors) == 3
    assert p.tolist() == [1.0] * 3 and np.isnan(floors).all() and not monte_carlo.any()


def test_the_facade_refuses_what_is_not_a_table_of_counts() -> None:
    ok = np.ones((2, 3), np.int64)
    with pytest.raises(ut.UndertowError, match=r"^actual: shape \(5, 7\) differs"):
        homogeneity_tests(np.zeros((2, 0), np.int64), np.ones((5, 7), np.int64))
    with pytest.raises(ut.UndertowError, match=r"^actual: shape \(3,\) differs"):
        homogeneity_tests(ok, np.ones(3, np.int64))
    with pytest.raises(ut.UndertowError, match=r"^actual: counts must be integers, got dtype <U5"):
        noise_floors(np.zeros((2, 0), np.int64), "hello")
    with pytest.raises(ut.UndertowError, match=r"^expected: counts must be integers, got dtype float64"):
        homogeneity_tests(ok * 1.5, ok)
    with pytest.raises(ut.UndertowError, match=r"^expected: a count is above 2\^63 - 1"):
        homogeneity_tests(np.array([[2**64 - 1, 1]], np.uint64), np.ones((1, 2), np.int64))
    with pytest.raises(ut.UndertowError, match=r"^expected: a \(columns x bins\) table of counts, got 0 dim"):
        homogeneity_tests(np.int64(3), np.int64(3))
    with pytest.raises(ut.UndertowError, match="got 3 dimensions"):
        column_significance([np.ones((2, 3), np.int64)], [np.ones((2, 3), np.int64)])
    # unaligned int64 (a view one byte into a buffer) is copied, not refused
    raw = np.zeros(8 * 6 + 1, np.uint8)[1:].view(np.int64).reshape(2, 3)
    raw[:] = [[10, 20, 30], [30, 20, 10]]
    assert not raw.flags.aligned
    aligned = np.array([[10, 20, 30], [30, 20, 10]], np.int64)
    assert homogeneity_tests(raw, raw[::-1].copy()) == homogeneity_tests(aligned, aligned[::-1].copy())


def test_an_accumulator_merged_past_2_63_rows_still_finalizes() -> None:
    """Merging an accumulator with itself doubles its counts: 54 times takes 1,000 rows past
    2^63 in all (each bin below it). PSI depends on the proportions only, so it is the
    unmerged one; the test sums in 128 bits and agrees with scipy's in float64."""
    rng = np.random.default_rng(3)
    ref = ut.Reference.fit({"x": rng.normal(size=1000)}, bins=4)
    acc = ref.accumulator().update({"x": rng.normal(0.3, 1.0, size=1000)})
    before = acc.finalize()["x"]
    for _ in range(54):
        acc.merge(acc)
    after = acc.finalize()["x"]
    n, m = int(after.expected_counts.sum()), sum(int(c) for c in after.actual_counts)
    assert m == 1000 * 2**54 > 2**63
    assert after.value == pytest.approx(before.value, rel=1e-12)
    table = np.vstack([after.expected_counts, after.actual_counts]).astype(np.float64)
    assert after.p_value_method == "chi2"
    assert after.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, rel=1e-6)
    assert after.noise_floor == pytest.approx(3 * (1 / n + 1 / m), rel=1e-12)


def test_sparse_tables_past_2_63_rows_get_no_p_value() -> None:
    """A sparse table (one actual row) of 2^63 + 1 rows: no sampler draws such tables, so its
    Monte-Carlo p-value is NaN instead of an overflow inside numpy."""
    e = np.array([[2**62, 2**62]], dtype=np.int64)
    p_values, methods = homogeneity_tests(e, np.array([[1, 0]], dtype=np.int64))
    assert methods == ["monte_carlo"] and math.isnan(p_values[0])
