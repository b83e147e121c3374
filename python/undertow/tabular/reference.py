"""PSI over many columns: a fitted Reference, its mergeable accumulator, and the report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_bins_and_binning, check_eps, check_nan_policy, check_thresholds
from undertow._core import UndertowError
from undertow._inputs import table_columns
from undertow._sync import both_locked, locked
from undertow.tabular._categorical import (
    ANY_CLASS,
    UNSEEN,
    category_index,
    classes_of_categories,
    conform,
    count_categories_sparse,
    dtype_class,
    fit_categories,
)
from undertow.tabular._significance import (
    DEFAULT_ALPHA,
    check_alpha,
    column_significance,
    significant_status,
)
from undertow.tabular.results import PsiReport, PsiResult


def fit_numeric_column(
    name: str, values: np.ndarray, bins: int, binning: str, edges: Any, nan_policy: str
) -> Any:
    fit = _core.fit_numeric_f32 if values.dtype == np.float32 else _core.fit_numeric_f64
    return fit(name, values, bins, binning, edges, nan_policy)


class Reference:
    """A fitted PSI reference for many columns at once.

    Bin edges come from the reference alone: quantiles (numpy's "linear" method, duplicates
    removed), equal width over its min..max, or explicit edges; the outer edges are open so
    mass moving outside the reference range counts as drift. Categorical columns bin by the
    reference's categories plus an "unseen" bin.

    >>> import numpy as np, undertow as ut
    >>> ref = ut.Reference.fit({"age": np.arange(1000.0)}, bins=4)
    >>> ref.psi({"age": np.arange(1000.0)}).status
    'stable'
    """

    def __init__(
        self,
        core: Any,
        classes: dict[str, frozenset[str]] | None = None,
        tests: dict[str, tuple[str, ...]] | None = None,
        samples: dict[str, Any] | None = None,
    ) -> None:
        self._core = core
        # two-sample tests per column (None: fitted without tests=) and the reference's sorted
        # values of the columns planned for KS / Wasserstein (see compare.py)
        self._tests = tests
        self._samples = samples or {}
        self._columns = core.columns()
        self._index = {c["name"]: i for i, c in enumerate(self._columns)}
        # dtype classes of the categorical columns: exact when fitted here, inferred from the
        # labels when loaded from bytes (the serialized state holds labels only)
        self._classes = {
            c["name"]: classes_of_categories(c["categories"])
            for c in self._columns
            if c["kind"] == "categorical"
        }
        self._classes.update(classes or {})
        self._category_index: dict[int, dict[str, int]] = {}  # built on first use, then reused
        self._edges: dict[int, np.ndarray] = {}  # open edges of numeric columns, likewise

    def _categories_of(self, j: int) -> dict[str, int]:
        index = self._category_index.get(j)
        if index is None:
            index = self._category_index.setdefault(j, category_index(self._columns[j]["categories"]))
        return index

    @classmethod
    def fit(
        cls,
        table: Any,
        bins: int = 10,
        binning: Any = "quantile",
        categorical: Any = None,
        nan_policy: str = "raise",
        eps: float = 1e-4,
        thresholds: tuple[float, float] = (0.1, 0.25),
        tests: Any = None,
    ) -> Reference:
        """Fits bin edges (numeric) or categories (categorical) per column of `table`: a 2-D
        numpy array (columns named "0", "1", ...), a polars DataFrame, a dict of arrays, or a
        pandas DataFrame / pyarrow Table (through narwhals, see _frames.py; dates and times are
        refused). Integer columns named in `categorical` are treated as categories.

        `tests`: two-sample tests for `compare` besides PSI: "auto" (by kind and size,
        see docs/two_sample.md) or names among "ks", "wasserstein", "chi_square",
        "jensen_shannon", "hellinger" (KS and Wasserstein on numeric columns only; they keep
        the column's sorted values, 8 bytes per row). None (default): PSI only, as before."""
        if tests is not None:
            reference = cls.fit(table, bins, binning, categorical, nan_policy, eps, thresholds)
            return reference._with_tests(table, tests, categorical)
        bins, binning_name, edges = check_bins_and_binning(bins, binning)
        nan_policy = check_nan_policy(nan_policy)
        eps = check_eps(eps)
        moderate, significant = check_thresholds(thresholds)
        columns, matrix = table_columns(table, "table", categorical)
        if matrix is not None and matrix.flags.c_contiguous:
            fit_rows = (
                _core.fit_numeric_rows_f32 if matrix.dtype == np.float32 else _core.fit_numeric_rows_f64
            )
            names = [c.name for c in columns]
            fitted = fit_rows(names, matrix, bins, binning_name, edges, nan_policy)
            return cls(_core.PsiReference(fitted, nan_policy, eps, moderate, significant))
        fitted = []
        classes = {}
        matrix_columns = _matrix_columns(matrix) if matrix is not None else None
        for column in columns:
            if column.categorical:
                kind = dtype_class(column.values.dtype)
                if kind is not None:
                    classes[column.name] = frozenset({kind})
                categories, counts, missing = fit_categories(column.values)
                fitted.append(
                    _core.ReferenceColumn.categorical(column.name, categories, counts.tolist(), missing)
                )
            else:
                values = column.values if matrix_columns is None else next(matrix_columns)
                fitted.append(fit_numeric_column(column.name, values, bins, binning_name, edges, nan_policy))
        return cls(_core.PsiReference(fitted, nan_policy, eps, moderate, significant), classes)

    def _with_tests(self, table: Any, tests: Any, categorical: Any) -> Reference:
        from undertow.tabular.compare import needs_samples, plan_tests
        from undertow.tabular.twosample import sorted_sample

        plan = plan_tests(tests, self._columns)
        wanted = set(needs_samples(plan))
        samples = {}
        if wanted:
            columns, matrix = table_columns(table, "table", categorical)
            for position, column in enumerate(columns):
                if column.name in wanted:
                    values = matrix[:, position] if matrix is not None else column.values
                    samples[column.name] = sorted_sample(
                        values, f"table column {column.name!r}", self.nan_policy
                    )
        return Reference(self._core, self._classes, plan, samples)

    @property
    def tests(self) -> dict[str, tuple[str, ...]]:
        """The two-sample tests per column ({} when fitted without tests=)."""
        return dict(self._tests or {})

    def comparator(self, ks_method: str = "auto") -> Any:
        """An empty CompareAccumulator (PSI plus this reference's two-sample tests): update it
        with batches, merge others, finalize to a TwoSampleReport."""
        from undertow.tabular.compare import CompareAccumulator
        from undertow.tabular.twosample import check_ks_method

        if self._tests is None:
            raise UndertowError("compare: this reference was fitted without tests=; pass tests='auto' to fit")
        return CompareAccumulator(self, self.accumulator(), check_ks_method(ks_method))

    def compare(self, table: Any, ks_method: str = "auto") -> Any:
        """PSI and the two-sample tests chosen at fit (`tests=`) of every column of `table`:
        a TwoSampleReport with one column per test in to_polars() / to_dict()."""
        return self.comparator(ks_method).update(table).finalize()

    @property
    def columns(self) -> list[str]:
        return [c["name"] for c in self._columns]

    @property
    def nan_policy(self) -> str:
        return self._core.nan_policy

    @property
    def thresholds(self) -> tuple[float, float]:
        return self._core.thresholds

    def edges(self, column: str) -> np.ndarray:
        """Bin edges of a numeric column, outer edges open (-inf, +inf)."""
        j = self._index[column]
        if self._columns[j]["kind"] != "numeric":
            raise UndertowError(f"column: {column!r} is categorical")
        return self._open_edges(j)

    def _open_edges(self, j: int) -> np.ndarray:
        """A fresh copy of numeric column j's edges with the open outer edges, built once."""
        edges = self._edges.get(j)
        if edges is None:
            inner = self._columns[j]["edges"]
            edges = self._edges.setdefault(j, np.concatenate(([-np.inf], inner, [np.inf])))
        return edges.copy()

    def accumulator(self) -> PsiAccumulator:
        """An empty accumulator: update it with batches, merge others, finalize to a report."""
        return PsiAccumulator(_core.PsiAccumulator(self._core), self)

    def psi(self, table: Any, alpha: float | None = DEFAULT_ALPHA) -> PsiReport:
        """PSI of every column of `table` (same column set) against this reference; a column's
        status needs its threshold band and p <= `alpha` (None: the band alone), see PsiResult."""
        return self.accumulator().update(table).finalize(alpha)

    def to_bytes(self) -> bytes:
        """Versioned, checksummed bytes (not pickle): safe to store and to load from anywhere.
        A reference fitted with `tests=` keeps its tests and sorted samples (tabular/_tested_state.py)."""
        if self._tests is None:
            return self._core.to_bytes()
        from undertow.tabular._tested_state import pack_tested

        return pack_tested(self._core, self._tests, self._samples)

    @classmethod
    def from_bytes(cls, data: bytes) -> Reference:
        from undertow.tabular._tested_state import is_tested, unpack_tested

        data = _as_bytes(data)
        if is_tested(data):
            core, tests, samples = unpack_tested(data)
            return cls(core, None, tests, samples)
        return cls(_core.PsiReference.from_bytes(data))

    def __reduce__(self) -> Any:
        # to_bytes carries the tests and samples; the pickle adds the exact dtype classes
        return (_restore_reference, (self.to_bytes(), self._classes))

    def __repr__(self) -> str:
        kinds = [f"{c['name']}:{'num' if c['kind'] == 'numeric' else 'cat'}" for c in self._columns[:8]]
        more = "" if len(self._columns) <= 8 else f", ... {len(self._columns) - 8} more"
        return f"Reference(columns=[{', '.join(kinds)}{more}], nan_policy={self.nan_policy!r})"


def _restore_reference(
    data: bytes,
    classes: dict[str, frozenset[str]],
    tests: dict[str, tuple[str, ...]] | None = None,
    samples: dict[str, bytes] | None = None,
) -> Reference:
    loaded = Reference.from_bytes(data)  # state bytes, checked on load, not pickled objects
    if tests is not None:  # a pickle written before to_bytes carried the tests
        loaded._tests = tests
        loaded._samples = {name: _core.SortedSample.from_bytes(b) for name, b in (samples or {}).items()}
    return Reference(loaded._core, classes, loaded._tests, loaded._samples)


def _matrix_columns(matrix: np.ndarray) -> Iterator[np.ndarray]:
    """The columns of a Fortran-ordered matrix: contiguous views, no copy."""
    yield from (matrix[:, j] for j in range(matrix.shape[1]))


def _as_bytes(data: Any) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    return bytes(data)


class PsiAccumulator:
    """Current-side counts against a Reference: update with batches, merge with other
    accumulators (other threads, files, machines), finalize to a PsiReport. Counts are
    integers, so any split of the data gives bit for bit the result of one call.

    >>> import numpy as np, undertow as ut
    >>> ref = ut.Reference.fit({"x": np.arange(100.0)}, bins=4)
    >>> a, b = ref.accumulator(), ref.accumulator()
    >>> a.update({"x": np.arange(50.0)}).merge(b.update({"x": np.arange(50.0, 100.0)})).finalize()["x"].value
    0.0
    """

    def __init__(self, core: Any, reference: Reference | None = None) -> None:
        self._core = core
        self._reference = Reference(core.reference) if reference is None else reference

    @property
    def reference(self) -> Reference:
        return self._reference

    @property
    @locked
    def rows(self) -> int:
        return self._core.rows

    @locked
    def update(self, batch: Any) -> PsiAccumulator:
        """Adds a batch with the reference's column set (any order). Returns self."""
        ref = self._reference
        # An empty batch is a no-op (a filter upstream may leave nothing), not an error.
        columns, matrix = table_columns(
            batch, "actual", _categorical_names(ref), allow_empty=True, absent_ok=True
        )
        names = [c.name for c in columns]
        present = set(names)  # a set: the check stays linear in the column count
        missing = [n for n in ref.columns if n not in present]
        extra = [n for n in names if n not in ref._index]
        if missing or extra:
            raise UndertowError(
                f"actual: columns differ from the reference: missing {missing}, unexpected {extra}"
            )
        if matrix is not None:
            self._update_matrix(names, matrix)
            return self
        # Count every column (refusing missing values under "raise": the kernel counts them in
        # its one pass) before adding anything: a bad batch leaves no partial update, and no
        # copy of the state is needed to guarantee that (a copy costs the whole state).
        plans = []
        for column in columns:
            j = ref._index[column.name]
            kind = ref._columns[j]["kind"]
            if (kind == "categorical") != column.categorical:
                raise UndertowError(
                    f"actual: column {column.name!r} is {kind} in the reference but "
                    f"{'categorical' if column.categorical else 'numeric'} here"
                )
            if column.categorical:
                allowed = ref._classes.get(column.name, ANY_CLASS)
                series = conform(column.values, allowed, column.name, "actual")
                bins, per_bin, missing = count_categories_sparse(series, ref._categories_of(j))
                _refuse_missing(ref, column.name, missing)
                plans.append((j, None, (bins, per_bin), missing))
            else:
                plans.append((j, _count_numeric(self._core, j, column.values), None, 0))
        # Added at once, or none (a column total that would pass 2**64 is refused too); the
        # categorical counts as the batch's categories only: the cost does not grow with the
        # category list.
        self._core.update_counts_all(
            [(j, *dense) for j, dense, sparse, _ in plans if sparse is None],
            [(j, *sparse, missing) for j, _, sparse, missing in plans if sparse is not None],
        )
        return self

    def _copy_core(self) -> Any:
        return _core.PsiAccumulator.from_bytes(self._core.to_bytes())

    def _update_matrix(self, names: list[str], matrix: np.ndarray) -> None:
        ref = self._reference
        indices = [ref._index[n] for n in names]
        if any(ref._columns[j]["kind"] != "numeric" for j in indices):
            raise UndertowError("actual: a numeric matrix cannot update categorical columns")
        if matrix.flags.c_contiguous:
            update = self._core.update_rows_f32 if matrix.dtype == np.float32 else self._core.update_rows_f64
            update(indices, matrix)  # one pass; refused atomically under nan_policy="raise"
            return
        # column-major: contiguous columns, no copy of the data; all counted first (see update)
        counted = [_count_numeric(self._core, j, matrix[:, p]) for p, j in enumerate(indices)]
        self._core.update_counts_all(
            [(j, counts, missing) for j, (counts, missing) in zip(indices, counted, strict=True)], []
        )

    def merge(self, other: PsiAccumulator) -> PsiAccumulator:
        """Adds another accumulator's counts (same reference). Returns self."""
        if not isinstance(other, PsiAccumulator):
            raise TypeError(f"other: expected a PsiAccumulator, got {type(other).__name__}")
        with both_locked(self, other):
            source = other._core if other is not self else self._copy_core()  # acc.merge(acc) doubles
            self._core.merge(source)
        return self

    @locked
    def finalize(self, alpha: float | None = DEFAULT_ALPHA) -> PsiReport:
        """The report: per column PSI, its noise floor, the homogeneity test's p-value and the
        status (band and p <= `alpha`; `alpha=None`: the band alone, the pre-0.x behaviour)."""
        alpha = check_alpha(alpha)
        ref = self._reference
        outs = self._core.finalize()
        for info, out in zip(ref._columns, outs, strict=True):
            # The report's counts are int64: a count of 2**63 or more (a state merged 63 times
            # with itself) would wrap to a negative one.
            if max(out["expected_counts"].max(initial=0), out["actual_counts"].max(initial=0)) >= 2**63:
                raise UndertowError(
                    f"finalize: column {info['name']!r} has a bin count of 2**63 or more; "
                    "the report's int64 counts cannot hold it"
                )
        expected = [out["expected_counts"].astype(np.int64) for out in outs]
        actual = [out["actual_counts"].astype(np.int64) for out in outs]
        # the statistics of all columns in a few numpy calls; per column only the result object
        p_values, methods, floors = column_significance(expected, actual, alpha)
        nan_policy, eps = ref.nan_policy, ref._core.eps
        results = []
        for j, (info, out) in enumerate(zip(ref._columns, outs, strict=True)):
            numeric = info["kind"] == "numeric"
            results.append(
                PsiResult(
                    value=float(out["value"]),
                    status=significant_status(out["status"], p_values[j], alpha),
                    edges=ref._open_edges(j) if numeric else None,
                    expected_counts=expected[j],
                    actual_counts=actual[j],
                    expected_proportions=out["expected_proportions"],
                    actual_proportions=out["actual_proportions"],
                    expected_missing=int(out["expected_missing"]),
                    actual_missing=int(out["actual_missing"]),
                    nan_policy=nan_policy,
                    eps=eps,
                    kind=info["kind"],
                    categories=None if numeric else [*info["categories"]],
                    name=info["name"],
                    noise_floor=floors[j],
                    p_value=p_values[j],
                    p_value_method=methods[j],
                    status_threshold=out["status"],
                    alpha=alpha,
                )
            )
        return PsiReport(results, ref.thresholds, rows=self._core.rows, alpha=alpha)

    @locked
    def to_bytes(self) -> bytes:
        """Versioned, checksummed bytes holding the reference and the counts."""
        return self._core.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PsiAccumulator:
        return cls(_core.PsiAccumulator.from_bytes(_as_bytes(data)))

    def __reduce__(self) -> Any:
        return (_restore_accumulator, (self.to_bytes(), self._reference._classes))

    def __repr__(self) -> str:
        return f"PsiAccumulator(rows={self.rows}, columns={len(self._reference.columns)})"


def _categorical_names(ref: Reference) -> list[str]:
    return [c["name"] for c in ref._columns if c["kind"] == "categorical"]


def _restore_accumulator(data: bytes, classes: dict[str, frozenset[str]]) -> PsiAccumulator:
    core = _core.PsiAccumulator.from_bytes(data)
    return PsiAccumulator(core, Reference(core.reference, classes))


def _count_numeric(core: Any, j: int, values: np.ndarray) -> tuple[list[int], int]:
    """A float column's (bin counts, missing count) against reference column `j`, not added;
    refused under nan_policy="raise" (NaN and +-inf are the values it governs)."""
    return (core.count_f32 if values.dtype == np.float32 else core.count_f64)(j, values)


def _refuse_missing(ref: Reference, name: str, missing: int) -> None:
    # the same refusal the Rust kernel makes, made before any column is counted
    if missing and ref.nan_policy == "raise":
        raise UndertowError(
            f'actual: column "{name}" has {missing} missing values (NaN, inf or null); pass '
            "nan_policy='omit' to drop them or 'bin' to count them in their own bin"
        )


__all__ = ["UNSEEN", "PsiAccumulator", "Reference"]
