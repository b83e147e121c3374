"""PSI's sampling noise: its expected value under no drift (the noise floor), the test that the
two binned samples come from one distribution (the p-value), and the status that needs both.

Why these (docs/calibration_psi.md has the derivation and the simulations):

* Noise floor. With bin probabilities p_i and proportions e_i (n reference rows), a_i (m
  actual rows), a - e = x has mean 0 and variance p(1 - p)(1/n + 1/m), and
  (a - e) ln(a / e) = x^2 / p + O(x^3). Summed over the k bins the reference populates:
  E[PSI] = (k - 1)(1/n + 1/m) + O(1/n^2 + 1/m^2), whatever the p_i. It is the leading term
  only: simulated means are within 2% of it when every bin expects >= 30 actual rows, 6%
  at 10 rows (n = m = 100, 10 bins), and above it when bins expect only a few rows, where
  the eps floor of empty bins adds to PSI (n = m = 30, 10 bins: 1.8x).
* p-value. PSI * nm/(n + m) is, to the same order, Pearson's X^2 of the 2 x k table of
  counts, so the test is Pearson's chi-square test of homogeneity of that table (df = the
  populated bins - 1), the same as ``scipy.stats.chi2_contingency(table, correction=False)``.
  Both rows are samples: a goodness-of-fit test against the reference's proportions as if
  they were exact would understate the noise when n is not much larger than m. When the
  table is too sparse for the chi-square approximation (Cochran's rule: an expected cell
  count < 1, or more than 20% of them < 5), the p-value is a Monte-Carlo permutation test of
  the same X^2: tables with the same margins are drawn (multivariate hypergeometric, a fixed
  seed, so the result is deterministic for a numpy version) and p = (1 + #{X*^2 >= X^2}) /
  (tables + 1), which has its nominal size. 1,999 tables first; when fewer than 10 of them
  reach X^2 and alpha is below 10/2000 (a Bonferroni alpha of 0.01 / c), up to 99,999 in all,
  so that p can go below 1/2000. When one side has fewer rows than a quarter of the cells,
  only that side's rows are drawn (a uniform subset of the pooled rows), so a table of a
  million categories against a small window costs the window's size, not the categories'.
* Status. The plain band (``status_threshold``) is reported only when the drift is also
  significant, p <= alpha (default 0.01, per column); otherwise "stable". Per column, not
  across columns, so a column's status does not change when other columns are added; a
  report of c columns under no drift flags at most about c * alpha of them (pass
  ``alpha=0.01 / c`` for a family-wise rate). ``alpha=None`` gives the plain band.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from undertow import _core
from undertow._core import UndertowError

DEFAULT_ALPHA = 0.01
#: permutation tables of the Monte-Carlo test's first stage: p-values in steps of 1/2000
MONTE_CARLO_TABLES = 1999
#: the first stage draws about this many variates at most (~20 ms); with many cells it draws
#: fewer tables (never below 199: steps of 1/200, still below alpha = 0.01)
MONTE_CARLO_BUDGET = 200_000
MONTE_CARLO_MIN_TABLES = 199
#: a first stage with fewer hits than this goes on to more tables when alpha is below
#: 10 / (first + 1): its p-value is below 11/2000 and 1,999 tables cannot resolve a smaller
#: one, so a per-column alpha of 0.01 / c (Bonferroni over c columns) could never be reached;
#: the second stage draws up to MONTE_CARLO_MAX_TABLES in all, within
#: MONTE_CARLO_EXTENDED_BUDGET variates (0.2-1 s a column)
MONTE_CARLO_EXTEND_BELOW = 10
MONTE_CARLO_MAX_TABLES = 99_999
MONTE_CARLO_EXTENDED_BUDGET = 4_000_000
MONTE_CARLO_SEED = 20261130
#: tables are drawn and tested this many variates at a time: memory stays bounded (tens of
#: MB) whatever the number of cells (a million categories took 11 GB drawn at once)
MONTE_CARLO_CHUNK = 1 << 20
#: numpy's hypergeometric sampler takes fewer than 10^9 balls; past it, a side of at most this
#: many rows is drawn as a subset of the pooled rows (the exact test), a larger one bootstrapped
_HYPERGEOMETRIC_LIMIT = 10**9
_SUBSET_MAX_ROWS = 1 << 16
#: and its multinomial sampler int64 trials
_MULTINOMIAL_LIMIT = 2**63 - 1


def check_alpha(alpha: Any) -> float | None:
    if alpha is None:
        return None
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha: expected a float in (0, 1) or None, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise UndertowError(f"alpha: must be in (0, 1) or None, got {alpha}")
    return alpha


def noise_floor(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """(k - 1)(1/n + 1/m): the expected PSI under no drift, to leading order, for n reference
    and m actual rows in the k bins the reference populates."""
    e = np.asarray(expected_counts, dtype=np.int64)[None, :]
    return float(noise_floors(e, np.asarray(actual_counts, dtype=np.int64)[None, :])[0])


def noise_floors(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """noise_floor of each row of (columns x bins) int64 count tables (NaN where n or m is 0)."""
    return _core.homogeneity_rows(*_tables(expected, actual))[4]


def _tables(expected: Any, actual: Any) -> tuple[np.ndarray, np.ndarray]:
    """The two (columns x bins) tables as the kernel takes them (C-ordered, aligned int64).
    The kernel, ``_core.homogeneity_rows``, gives per row (statistics, populated bins, needs
    Monte Carlo, chi-square p-values, noise floors): numpy's arithmetic in numpy's order,
    without numpy's per-call overhead, which was two thirds of a one-column ``ut.psi`` of a few
    hundred values."""
    e, a = _counts(expected, "expected"), _counts(actual, "actual")
    if e.ndim != 2:
        raise UndertowError(f"expected: a (columns x bins) table of counts, got {e.ndim} dimensions")
    if a.shape != e.shape:
        raise UndertowError(f"actual: shape {a.shape} differs from expected's {e.shape}")
    return e, a


def _counts(table: Any, argument: str) -> np.ndarray:
    """`table` as a C-ordered, aligned int64 array, refusing what is not a count."""
    x = np.asarray(table)
    if x.dtype != np.int64:
        if x.dtype != np.bool_ and not np.issubdtype(x.dtype, np.integer):
            raise UndertowError(f"{argument}: counts must be integers, got dtype {x.dtype}")
        if x.dtype.kind == "u" and x.size and int(x.max()) > np.iinfo(np.int64).max:
            raise UndertowError(f"{argument}: a count is above 2^63 - 1")
    return np.require(x, np.int64, "CA")


def _pearson_terms(expected_side: np.ndarray, actual_side: np.ndarray, n: Any, m: Any) -> Any:
    """Each bin's term of Pearson's X^2 of 2 x k tables (rows: the two samples; NaN in an
    empty bin), vectorized over leading axes; n and m broadcast (ints or (rows, 1) arrays)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # n + m = 0: a row that is not tested
        scale = (expected_side + actual_side) / (n + m)
        want_e, want_a = n * scale, m * scale
        return (expected_side - want_e) ** 2 / want_e + (actual_side - want_a) ** 2 / want_a


def _pearson(expected_side: np.ndarray, actual_side: np.ndarray, n: int, m: int) -> Any:
    """Pearson's X^2 of 2 x k tables, vectorized over leading axes."""
    terms = _pearson_terms(expected_side, actual_side, n, m)
    return np.where(expected_side + actual_side > 0, terms, 0.0).sum(axis=-1)  # an empty bin adds nothing


def homogeneity_test(
    expected_counts: np.ndarray, actual_counts: np.ndarray, alpha: float | None = None
) -> tuple[float, str]:
    """(p-value, method) of the test that both rows of the 2 x k table of counts come from one
    distribution; method is "chi2" or "monte_carlo" (see the module docstring). `alpha` is the
    level the p-value will be compared with: below 10/2000 the Monte-Carlo test draws more
    tables, so that it can reach it."""
    e = np.asarray(expected_counts, dtype=np.int64)[None, :]
    p_values, methods = homogeneity_tests(e, np.asarray(actual_counts, dtype=np.int64)[None, :], alpha)
    return p_values[0], methods[0]


def homogeneity_tests(
    expected: np.ndarray, actual: np.ndarray, alpha: float | None = None
) -> tuple[list[float], list[str]]:
    """homogeneity_test of each row of (columns x bins) int64 count tables; a row's p-value and
    method do not depend on the other rows.

    A row's X^2 sums its populated bins only, by numpy's pairwise summation (in
    ``undertow_core::homogeneity``), so each row sums the same terms in the same order whatever
    its empty bins, and the bits are those of ``np.sum`` over the populated terms."""
    p_values, methods, _ = _tests_and_floors(expected, actual, alpha)
    return p_values, methods


def _tests_and_floors(
    expected: np.ndarray, actual: np.ndarray, alpha: float | None = None
) -> tuple[list[float], list[str], list[float]]:
    """(p-values, methods, noise floors) per row, from one call of the kernel."""
    e, a = _tables(expected, actual)
    statistics, _, monte_carlo, p, floors = _core.homogeneity_rows(e, a)
    p_values, methods = p.tolist(), ["chi2"] * len(p)
    if monte_carlo.any():
        for row in np.flatnonzero(monte_carlo).tolist():
            # Python ints: a merged accumulator's counts can sum past int64
            n, m = sum(e[row].tolist()), sum(a[row].tolist())
            totals = e[row] + a[row]
            if n + m > _MULTINOMIAL_LIMIT:  # no sampler draws tables of 2^63 rows
                p_values[row] = math.nan
            else:
                cells = totals > 0
                statistic = float(statistics[row])
                p_values[row] = _monte_carlo(totals[cells], a[row][cells], n, m, statistic, alpha)
            methods[row] = "monte_carlo"
    return p_values, methods, floors.tolist()


def _monte_carlo(
    totals: np.ndarray, actual: np.ndarray, n: int, m: int, statistic: float, alpha: float | None = None
) -> float:
    """Permutation p-value of X^2 for the 2 x k table with pooled cell totals `totals` (all
    positive), actual counts `actual`, n expected and m actual rows: tables with the same
    margins are drawn, p = (1 + #{X*^2 >= X^2}) / (tables + 1), in two stages (see the
    MONTE_CARLO_* constants). The second stage runs only for an alpha the first cannot reach
    (alpha < 10 / (first + 1)): a drifted column at the default alpha costs no more than one
    stage. Valid at every alpha: where alpha >= 10 / (first + 1) the test is the first stage
    alone; below, a row is rejected only if the full set of tables rejects it (with fewer than
    10 first-stage hits it is that test; with more, p >= 11 / (first + 1) > alpha)."""
    rng = np.random.Generator(np.random.PCG64(MONTE_CARLO_SEED))
    smaller = min(n, m)
    few = 4 * smaller < totals.size or (n + m >= _HYPERGEOMETRIC_LIMIT and smaller <= _SUBSET_MAX_ROWS)
    if 0 < smaller and few:
        # few rows on one side against many cells (a small window, many categories), or a pool
        # too large for the hypergeometric sampler: draw that side's rows, not every cell of
        # every table (past 10^9 rows, the exact test instead of a bootstrap)
        draw, observed = _sparse_sampler(rng, totals, actual, n, m)
        cost = smaller
    else:
        draw, observed = _dense_sampler(rng, totals, actual, n, m)
        cost = totals.size
    statistic = statistic if observed is None else observed
    first = int(min(MONTE_CARLO_TABLES, max(MONTE_CARLO_MIN_TABLES, MONTE_CARLO_BUDGET // cost)))
    most = int(min(MONTE_CARLO_MAX_TABLES, max(first, MONTE_CARLO_EXTENDED_BUDGET // cost)))
    # a relative tolerance: the same table must count as "at least as extreme" despite rounding
    threshold = statistic * (1.0 - 1e-9)
    hits = _hits(draw, first, cost, threshold)
    tables = first
    reach = alpha is not None and alpha < MONTE_CARLO_EXTEND_BELOW / (first + 1)
    if reach and hits < MONTE_CARLO_EXTEND_BELOW and most > first:
        hits += _hits(draw, most - first, cost, threshold)
        tables = most
    return (1 + hits) / (tables + 1)


def _hits(draw: Any, tables: int, cost: int, threshold: float) -> int:
    """#{X*^2 >= threshold} over `tables` more tables, drawn MONTE_CARLO_CHUNK variates at a time."""
    per_chunk = max(1, MONTE_CARLO_CHUNK // cost)
    hits = 0
    for start in range(0, tables, per_chunk):
        hits += int(np.count_nonzero(draw(min(per_chunk, tables - start)) >= threshold))
    return hits


def _dense_sampler(
    rng: np.random.Generator, totals: np.ndarray, actual: np.ndarray, n: int, m: int
) -> tuple[Any, float | None]:
    """(draw, observed): draw(t) gives X^2 of t more tables, every cell drawn, from one stream,
    so the tables do not depend on how they are chunked; `observed` replaces the kernel's X^2
    when the draws take it another way (None: they do not)."""
    if n + m < _HYPERGEOMETRIC_LIMIT:

        def draw(t: int) -> np.ndarray:
            drawn = rng.multivariate_hypergeometric(totals, m, size=t).astype(np.float64)
            return _pearson(totals.astype(np.float64) - drawn, drawn, n, m)

        return draw, None
    # beyond numpy's hypergeometric sampler, with both sides large: both samples drawn from
    # the pooled proportions (a parametric bootstrap, the permutation test's limit for a large
    # pool), table by table. X^2 by the smaller side's closed form, for the observed table
    # too: past 2^53 rows the full-table form lost the tie between equal tables. The cells go
    # smallest first: numpy's multinomial draws them in order, each from the probability left,
    # so a giant cell last takes the remainder; first, its probability rounded to 1.0 past
    # 2^53 rows and the small cells were never drawn
    order = np.argsort(totals, kind="stable")
    pooled = totals[order] / totals.sum()

    def bootstrap(t: int) -> np.ndarray:
        both = rng.multinomial([m, n], pooled, size=(t, 2))
        drawn_a, drawn_e = both[:, 0], both[:, 1]
        return _pooled_pearson(drawn_a, drawn_e, n, m) if m <= n else _pooled_pearson(drawn_e, drawn_a, n, m)

    small, other = (actual, totals - actual) if m <= n else (totals - actual, actual)
    return bootstrap, float(_pooled_pearson(small[order][None], other[order][None], n, m)[0])


def _pooled_pearson(small: np.ndarray, other: np.ndarray, n: int, m: int) -> np.ndarray:
    """X^2 of tables (last axis: cells) from the smaller side's counts and the other side's:
    with c = small + other (exact integers), the sum over c > 0 of
    (N s - min(n, m) c)^2 / (n m c), the closed form of `_sparse_pearson` over every cell."""
    pool, k = float(n + m), float(min(n, m))
    c = small + other
    cf = c.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (pool * small.astype(np.float64) - k * cf) ** 2 / cf
    return np.where(c > 0, terms, 0.0).sum(axis=-1) / (float(n) * float(m))


def _sparse_sampler(
    rng: np.random.Generator, totals: np.ndarray, actual: np.ndarray, n: int, m: int
) -> tuple[Any, float]:
    """(draw, observed): draw(t) gives X^2 of t more tables, drawing only the smaller side: its
    rows are a uniform subset of the n + m pooled rows (which is the multivariate
    hypergeometric draw of its counts), so a table costs min(n, m) variates instead of one per
    cell. `observed` is the observed table's X^2 by the same closed form, so that an equal
    table ties with it."""
    pool, small = n + m, min(n, m)
    ends = np.cumsum(totals)  # pooled row r is in the cell whose range of rows holds it
    small_counts = actual if m <= n else totals - actual
    touched = small_counts > 0
    one_table = np.zeros(int(touched.sum()), np.intp)
    observed = float(_sparse_pearson(small_counts[touched], totals[touched], one_table, 1, n, m)[0])

    def draw(t: int) -> np.ndarray:
        rows = _subsets(rng, pool, small, t)
        cells = np.searchsorted(ends, rows, side="right").ravel()  # sorted within each table
        starts = np.ones(cells.size, dtype=bool)
        starts[1:] = cells[1:] != cells[:-1]
        starts[::small] = True  # a table's first row starts a run even in its neighbour's cell
        first = np.flatnonzero(starts)
        counts = np.diff(first, append=cells.size)
        return _sparse_pearson(counts, totals[cells[first]], first // small, t, n, m)

    return draw, observed


def _subsets(rng: np.random.Generator, pool: int, size: int, t: int) -> np.ndarray:
    """t uniform `size`-subsets of range(pool), each sorted, as a (t, size) array: rows drawn
    with replacement, repeats redrawn until none is left. The result depends on the drawn
    values only through equality, so its law is the same under any relabelling of the pool:
    uniform over subsets. `size` <= pool / 4 here, so few rounds are needed."""
    rows = rng.integers(0, pool, size=(t, size), dtype=np.int64)
    rows.sort(axis=1)
    while True:
        repeat = np.zeros(rows.shape, dtype=bool)
        repeat[:, 1:] = rows[:, 1:] == rows[:, :-1]
        again = int(np.count_nonzero(repeat))
        if not again:
            return rows
        rows[repeat] = rng.integers(0, pool, size=again, dtype=np.int64)
        rows.sort(axis=1)


def _sparse_pearson(
    counts: np.ndarray, cell_totals: np.ndarray, table: np.ndarray, t: int, n: int, m: int
) -> np.ndarray:
    """X^2 of t tables from the smaller side's nonzero counts only: with N = n + m, s the
    smaller side's count and c the pooled total of a cell, a cell's two terms are
    (N s - min(n, m) c)^2 / (n m c), and the cells that side leaves empty add
    min(n, m)^2 (N - seen) / (n m), `seen` the pooled rows of the cells it touches (summed
    exactly). Every term is >= 0: no cancellation. `table` is each count's table index,
    nondecreasing; the observed table goes through the same sums in the same order, so an
    equal table gets equal bits."""
    pool, small, product = float(n + m), float(min(n, m)), float(n) * float(m)
    c = cell_totals.astype(np.float64)
    terms = (pool * counts.astype(np.float64) - small * c) ** 2 / c
    first = np.searchsorted(table, np.arange(t))
    seen = np.add.reduceat(cell_totals, first) if counts.size else np.zeros(t, np.int64)
    missing = (n + m - seen).astype(np.float64)
    return (np.bincount(table, weights=terms, minlength=t) + small * small * missing) / product


def column_significance(
    expected: list[np.ndarray], actual: list[np.ndarray], alpha: float | None = None
) -> tuple[list[float], list[str], list[float]]:
    """(p-values, methods, noise floors) of many columns' int64 count tables: one call of the
    kernel per number of bins (categorical columns differ)."""
    if len(expected) == 1:  # ut.psi: no grouping, no stacking (a fifth of a small call's time)
        return _tests_and_floors(np.asarray(expected[0])[None], np.asarray(actual[0])[None], alpha)
    p_values, methods, floors = [1.0] * len(expected), ["chi2"] * len(expected), [math.nan] * len(expected)
    groups: dict[int, list[int]] = {}
    for j, counts in enumerate(expected):
        groups.setdefault(counts.size, []).append(j)
    for members in groups.values():
        e = np.stack([expected[j] for j in members]).astype(np.int64, copy=False)
        a = np.stack([actual[j] for j in members]).astype(np.int64, copy=False)
        group_p, group_methods, group_floors = _tests_and_floors(e, a, alpha)
        for j, p, method, floor in zip(members, group_p, group_methods, group_floors, strict=True):
            p_values[j], methods[j], floors[j] = p, method, floor
    return p_values, methods, floors


def significant_status(status_threshold: str, p_value: float, alpha: float | None) -> str:
    """The plain band when p <= alpha (or alpha is None), else "stable"."""
    if alpha is None or p_value <= alpha:
        return status_threshold
    return "stable"
