"""Two-sample tests per column against a fitted Reference: the plan (which tests on which
column), the mergeable accumulator and the report with one column per test.

The count tests (chi-square, Jensen–Shannon, Hellinger) read PSI's bin counts, so they cost
nothing beyond PSI and merge exactly. KS and Wasserstein need both samples sorted: the
reference keeps its sorted values per column (O(n) memory, float64) and the accumulator keeps
the current side's; merging two accumulators merges their sorted runs, so any split of the data
gives bit for bit the result of one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from undertow._core import UndertowError
from undertow.tabular.results import PsiReport
from undertow.tabular.twosample import (
    COUNT_TESTS,
    SAMPLE_TESTS,
    TESTS,
    TwoSampleResult,
    count_test,
    ks_from_sorted,
    wasserstein_from_sorted,
)

#: Reference sizes up to this get the tests with p-values (KS, chi-square) under tests="auto";
#: above it every p-value is ~0 for any visible drift, and KS would keep O(n) memory.
AUTO_PVALUE_ROWS = 100_000

#: Tests with a p-value column in the report.
PVALUE_TESTS = ("ks", "chi_square")


def auto_tests(kind: str, rows: int) -> tuple[str, ...]:
    """The automatic choice (docs/two_sample.md): numeric columns KS + Wasserstein up to
    AUTO_PVALUE_ROWS reference rows, Jensen–Shannon above (binned, O(bins) memory);
    categorical columns chi-square up to AUTO_PVALUE_ROWS, Jensen–Shannon above."""
    small = rows <= AUTO_PVALUE_ROWS
    if kind == "numeric":
        return ("ks", "wasserstein") if small else ("jensen_shannon",)
    return ("chi_square",) if small else ("jensen_shannon",)


def plan_tests(tests: Any, columns: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Per column, the tests to run: "auto", or an iterable of names (KS and Wasserstein apply to
    numeric columns only and are left out on categorical ones). "psi" may be named; PSI is
    always computed, so it adds nothing."""
    plan: dict[str, tuple[str, ...]] = {}
    if isinstance(tests, str) and tests == "auto":
        for c in columns:
            rows = int(c["counts"].sum()) + int(c["missing"])
            plan[c["name"]] = auto_tests(c["kind"], rows)
        return plan
    if isinstance(tests, str | bytes) or not isinstance(tests, Iterable):
        raise UndertowError(f"tests: expected 'auto' or a list of test names, got {tests!r}")
    names = list(tests)
    unknown = [t for t in names if t not in (*TESTS, "psi")]
    if unknown:
        raise UndertowError(f"tests: unknown test(s) {unknown}; choose from {['psi', *TESTS]} or 'auto'")
    chosen = tuple(t for t in TESTS if t in names)  # canonical order, duplicates dropped
    for c in columns:
        numeric = c["kind"] == "numeric"
        plan[c["name"]] = tuple(t for t in chosen if numeric or t not in SAMPLE_TESTS)
    return plan


def needs_samples(plan: Mapping[str, tuple[str, ...]]) -> list[str]:
    return [name for name, tests in plan.items() if any(t in SAMPLE_TESTS for t in tests)]


@dataclass(frozen=True, eq=False)
class TwoSampleReport:
    """PSI plus the planned two-sample tests of every column against a Reference.

    ``report[column]`` maps test name -> TwoSampleResult; ``psi`` is the PsiReport of the same
    data. ``to_polars()`` has PSI's columns plus one column per test (its statistic) and a
    ``<test>_pvalue`` column for KS and chi-square; null where a test was not planned.
    """

    psi: PsiReport
    results: dict[str, dict[str, TwoSampleResult]]
    tests: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return self.psi.columns

    @property
    def status(self) -> str:
        """PSI's status (the two-sample tests report values and p-values, not bands)."""
        return self.psi.status

    def __getitem__(self, column: str) -> dict[str, TwoSampleResult]:
        try:
            return self.results[column]
        except KeyError:
            raise KeyError(f"no column {column!r}; columns are {self.columns}") from None

    def __contains__(self, column: object) -> bool:
        return column in self.results

    def __len__(self) -> int:
        return len(self.results)

    def to_polars(self) -> pl.DataFrame:
        frame = self.psi.to_polars()
        extra: dict[str, list[float | None]] = {}
        for test in self.tests:
            extra[test] = [_field(self.results[c].get(test), "statistic") for c in self.columns]
            if test in PVALUE_TESTS:
                extra[f"{test}_pvalue"] = [_field(self.results[c].get(test), "pvalue") for c in self.columns]
        return frame.with_columns(pl.Series(k, v, dtype=pl.Float64) for k, v in extra.items())

    def to_dict(self) -> dict[str, Any]:
        out = self.psi.to_dict()
        out["tests"] = {c: {t: r.to_dict() for t, r in tests.items()} for c, tests in self.results.items()}
        return out

    def __repr__(self) -> str:
        lines = [
            f"TwoSampleReport(status={self.status!r}, columns={len(self.results)}, tests={list(self.tests)})"
        ]
        for column in self.columns[:20]:
            parts = [f"psi={self.psi[column].value:.4g}"]
            for test, r in self.results[column].items():
                p = "" if r.pvalue is None else f" (p={r.pvalue:.3g})"
                parts.append(f"{test}={r.statistic:.4g}{p}")
            lines.append(f"  {column}: " + ", ".join(parts))
        if len(self.columns) > 20:
            lines.append(f"  ... {len(self.columns) - 20} more columns")
        return "\n".join(lines)


def _field(result: TwoSampleResult | None, name: str) -> float | None:
    if result is None:
        return None
    value = getattr(result, name)
    return None if value is None else float(value)


def build_report(
    psi: PsiReport,
    plan: Mapping[str, tuple[str, ...]],
    reference_samples: Mapping[str, Any],
    current_samples: Mapping[str, Any],
    ks_method: str = "auto",
) -> TwoSampleReport:
    results: dict[str, dict[str, TwoSampleResult]] = {}
    for column in psi.columns:
        counted = psi[column]
        per_test: dict[str, TwoSampleResult] = {}
        for test in plan.get(column, ()):
            try:
                if test in COUNT_TESTS:
                    per_test[test] = count_test(test, counted.expected_counts, counted.actual_counts, column)
                elif test == "ks":
                    per_test[test] = ks_from_sorted(
                        reference_samples[column], current_samples[column], ks_method, column
                    )
                else:
                    per_test[test] = wasserstein_from_sorted(
                        reference_samples[column], current_samples[column], column
                    )
            except UndertowError as error:
                raise UndertowError(f"column {column!r}, test {test!r}: {error}") from None
        results[column] = per_test
    used = tuple(t for t in TESTS if any(t in r for r in results.values()))
    return TwoSampleReport(psi, results, used)


class CompareAccumulator:
    """PSI counts plus, for the columns whose plan has KS or Wasserstein, the current side's
    sorted values: update with batches, merge with other accumulators, finalize to a
    TwoSampleReport. Made by ``Reference.comparator()``.

    >>> import numpy as np, undertow as ut
    >>> ref = ut.Reference.fit({"x": np.arange(100.0)}, bins=4, tests=["ks"])
    >>> a, b = ref.comparator(), ref.comparator()
    >>> a.update({"x": np.arange(50.0)}).merge(b.update({"x": np.arange(50.0, 100.0)}))
    CompareAccumulator(rows=100, columns=1)
    >>> a.finalize()["x"]["ks"].pvalue
    1.0
    """

    def __init__(self, reference: Any, psi_accumulator: Any, ks_method: str = "auto") -> None:
        from undertow import _core

        self._reference = reference
        self._psi = psi_accumulator
        self._ks_method = ks_method
        self._samples = {name: _core.SortedSample() for name in needs_samples(reference.tests)}

    @property
    def reference(self) -> Any:
        return self._reference

    @property
    def rows(self) -> int:
        return int(self._psi.rows)

    def update(self, batch: Any) -> CompareAccumulator:
        """Adds a batch (the reference's column set, any order). Returns self."""
        from undertow._inputs import table_columns
        from undertow.tabular.twosample import sorted_sample

        self._psi.update(batch)  # validates columns, kinds and missing values first
        if not self._samples:
            return self
        columns, matrix = table_columns(batch, "actual", None, allow_empty=True, absent_ok=True)
        policy = self._reference.nan_policy
        for position, column in enumerate(columns):
            if column.name not in self._samples:
                continue
            values = matrix[:, position] if matrix is not None else column.values
            if len(values) == 0:
                continue
            run = sorted_sample(values, f"actual column {column.name!r}", policy)
            self._samples[column.name].merge(run)
        return self

    def merge(self, other: CompareAccumulator) -> CompareAccumulator:
        """Adds another accumulator of the same reference (counts added, sorted runs merged)."""
        if not isinstance(other, CompareAccumulator):
            raise TypeError(f"other: expected a CompareAccumulator, got {type(other).__name__}")
        if other is self:
            raise UndertowError("other: an accumulator cannot be merged into itself")
        if other._reference.tests != self._reference.tests:
            raise UndertowError("other: was made from a reference with other tests")
        self._psi.merge(other._psi)
        for name, sample in self._samples.items():
            sample.merge(other._samples[name])
        return self

    def finalize(self) -> TwoSampleReport:
        ref = self._reference
        return build_report(self._psi.finalize(), ref.tests, ref._samples, self._samples, self._ks_method)

    def __repr__(self) -> str:
        return f"CompareAccumulator(rows={self.rows}, columns={len(self._reference.columns)})"


__all__ = ["CompareAccumulator", "TwoSampleReport", "auto_tests", "plan_tests"]
