"""The exact conditional p-value of Pearson's X^2 of a 2 x k table, by enumeration: the
independent reference of the Monte-Carlo homogeneity test's tests."""

from __future__ import annotations

import itertools
import math


def exact_permutation_p_value(expected: list[int], actual: list[int]) -> float:
    """P(X*^2 >= X^2) over every table with the margins, each with its hypergeometric
    probability (float64, enumerated)."""
    if sum(expected) < sum(actual):  # X^2 is symmetric in the rows: enumerate the smaller
        expected, actual = actual, expected
    totals = [e + a for e, a in zip(expected, actual, strict=True)]
    n, m = sum(expected), sum(actual)

    def x2(act: tuple[int, ...]) -> float:
        out = 0.0
        for total, a in zip(totals, act, strict=True):
            want_a, want_e = m * total / (n + m), n * total / (n + m)
            out += (a - want_a) ** 2 / want_a + (total - a - want_e) ** 2 / want_e
        return out

    observed = x2(tuple(actual))
    p = 0.0
    for act in itertools.product(*(range(min(t, m) + 1) for t in totals)):
        if sum(act) == m and x2(act) >= observed * (1 - 1e-9):
            p += math.prod(math.comb(t, a) for t, a in zip(totals, act, strict=True)) / math.comb(n + m, m)
    return p
