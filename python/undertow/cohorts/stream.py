"""``cohort_balance`` on a ``ut.scan`` source, batch by batch: memory bounded by the batch (plus
one float64 column's worth of control values while bin edges are fitted), results equal to the
in-memory call on the same rows.

Passes, each a job of the scan's reduction tree (one leaf per file, merged in the fixed tree):

1. `ArmJob`: arm sizes (the SRM test, the choice of control) and, per categorical covariate,
   the count of each (arm, value) pair; the control's counts are its reference categories.
2. `ControlValuesJob`, once per group of numeric covariates (`value_groups`: two float32
   columns, or one of any other type): their values in the control rows. Quantile edges are
   exact quantiles of every control value (numpy's "linear" method), which no fixed-size sketch
   gives, so one float64 column's worth of control values (8 bytes per control row) is held at
   a time, never the frame.
3. `BalanceJob`: per treatment arm a `PsiAccumulator` on the control reference (integer counts,
   so any batching gives the same counts), per arm the `Moments` of the numeric covariates
   (Chan's merge), and per arm and embedding column a sample of at most `size` rows chosen by
   position (`Sample`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from undertow import _core
from undertow._args import check_bins_and_binning, check_eps, check_thresholds
from undertow._core import UndertowError
from undertow._inputs import table_columns
from undertow.cohorts.stats import Moments
from undertow.embedding._sample import position_keys, smallest
from undertow.stream.arrow import arrow_frame, arrow_vectors
from undertow.tabular._categorical import _keys, category_index, dtype_class
from undertow.tabular.reference import Reference, fit_numeric_column

NAN_POLICY = "bin"  # missing values in their own bin: a rising missing rate in one arm is imbalance


def categorical_view(series: pl.Series) -> pl.Series:
    """The labels a categorical covariate is counted by: booleans as "true"/"false" (the PSI
    categories of a String column), Categorical/Enum as their String labels, integers as they are."""
    if series.dtype == pl.Boolean or isinstance(series.dtype, pl.Categorical | pl.Enum):
        return series.cast(pl.String)
    return series


def covariate_table(part: pl.DataFrame, covariates: list[str]) -> pl.DataFrame:
    """The covariates of some rows as the PSI accumulator takes them (booleans as strings)."""
    return part.select(
        [pl.col(c).cast(pl.String) if part.schema[c] == pl.Boolean else pl.col(c) for c in covariates]
    )


# -- pass 1: arm sizes and category counts ------------------------------------------------------


@dataclass
class ArmTally:
    rows: int = 0
    nulls: int = 0
    counts: Counter = field(default_factory=Counter)
    categories: dict[str, Counter] = field(default_factory=dict)

    def merge(self, other: ArmTally) -> ArmTally:
        self.rows += other.rows
        self.nulls += other.nulls
        self.counts.update(other.counts)
        for name, counter in other.categories.items():
            self.categories.setdefault(name, Counter()).update(counter)
        return self


@dataclass(frozen=True)
class ArmJob:
    arm: str
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.arm, *self.categorical)

    def new(self) -> ArmTally:
        return ArmTally(categories={c: Counter() for c in self.categorical})

    def update(self, acc: ArmTally, batch: Any) -> None:
        frame = arrow_frame(batch.select(list(self.columns)))
        labels = frame.get_column(self.arm)
        acc.rows += frame.height
        acc.nulls += labels.null_count()
        acc.counts.update(dict(labels.value_counts().iter_rows()))
        for name in self.categorical:
            pairs = pl.DataFrame({"a": labels, "v": categorical_view(frame.get_column(name))})
            counted = pairs.group_by(["a", "v"]).len()
            acc.categories[name].update({(a, v): k for a, v, k in counted.iter_rows()})

    def check_rows(self, acc: ArmTally, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"frame: {label} has no rows")


# -- pass 2: numeric columns' control values, one float64 column's worth at a time -------------


@dataclass
class _Values:
    parts: dict[str, list[pl.Series]]

    def merge(self, other: _Values) -> _Values:
        for name, parts in self.parts.items():
            parts.extend(other.parts[name])
        return self


@dataclass(frozen=True)
class ControlValuesJob:
    arm: str
    control: Any
    numeric: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.arm, *self.numeric)

    def new(self) -> _Values:
        return _Values({name: [] for name in self.numeric})

    def update(self, acc: _Values, batch: Any) -> None:
        frame = arrow_frame(batch.select(list(self.columns)))
        control = frame.filter(pl.col(self.arm) == self.control)
        for name in self.numeric:
            acc.parts[name].append(control.get_column(name))

    def check_rows(self, acc: _Values, label: str) -> None:
        return None  # the arm sizes were checked in pass 1


def value_groups(numeric: list[str], dtypes: dict[str, pl.DataType]) -> list[tuple[str, ...]]:
    """Consecutive numeric columns whose control values fit in one float64 column's bytes (two
    float32 columns, or one of anything else): the columns each pass of `ControlValuesJob` reads,
    so the values held never exceed 8 bytes per control row."""
    groups: list[list[str]] = []
    room = 0
    for name in numeric:
        size = 4 if dtypes[name] == pl.Float32 else 8
        if not groups or size > room:
            groups.append([])
            room = 8
        groups[-1].append(name)
        room -= size
    return [tuple(g) for g in groups]


def control_reference(
    scan: Any,
    arm: str,
    control: Any,
    covariates: list[str],
    kinds: dict[str, str],
    dtypes: dict[str, pl.DataType],
    tally: ArmTally,
    bins: int,
) -> Reference:
    """The control arm's Reference, as ``Reference.fit(control rows, bins=bins,
    nan_policy="bin")`` would fit it: numeric columns from their control values (one column at a
    time), categorical ones from the counts of pass 1."""
    bins, binning, edges = check_bins_and_binning(bins, "quantile")
    numeric = [name for name in covariates if kinds[name] == "numeric"]
    fitted_numeric = {}
    for group in value_groups(numeric, dtypes):
        values = scan.accumulate(ControlValuesJob(arm, control, group)).parts
        for name in group:
            parts = values.pop(name)
            series = pl.concat(parts) if parts else pl.Series(name, [], dtype=dtypes[name])
            parts.clear()  # the pieces go before the fit sorts its copy
            # the same normalization (integers to float64, nulls to NaN) as Reference.fit's
            column = table_columns(pl.DataFrame({name: series}), "table")[0][0]
            del series
            fitted_numeric[name] = fit_numeric_column(name, column.values, bins, binning, edges, NAN_POLICY)
    fitted = []
    classes = {}
    for name in covariates:
        if kinds[name] == "numeric":
            fitted.append(fitted_numeric[name])
            continue
        view = dtypes[name]
        seen = [(v, k) for (a, v), k in tally.categories[name].items() if a == control]
        missing = sum(k for v, k in seen if v is None)
        present = [(v, k) for v, k in seen if v is not None]
        # categories sorted by value (numeric order for integers), labelled as fit_categories does
        distinct = pl.Series(name, [v for v, _ in present], dtype=view).sort()
        categories = _keys(distinct).to_list()
        index = category_index(categories)
        counts = np.zeros(len(categories) + 1, dtype=np.uint64)
        labels = _keys(pl.Series(name, [v for v, _ in present], dtype=view)).to_list()
        for label, (_, k) in zip(labels, present, strict=True):
            counts[index[label]] += k
        kind = dtype_class(view)
        if kind is not None:
            classes[name] = frozenset({kind})
        fitted.append(_core.ReferenceColumn.categorical(name, categories, counts.tolist(), missing))
    moderate, significant = check_thresholds((0.1, 0.25))
    core = _core.PsiReference(fitted, NAN_POLICY, check_eps(1e-4), moderate, significant)
    return Reference(core, classes)


# -- pass 3: PSI counts, moments and embedding samples per arm ----------------------------------


class Sample:
    """At most `size` rows of one arm's vector column: the rows with the smallest position keys
    (`position_keys`, salt "reference" for the control arm, "current" for the others), kept with
    their positions so the sample comes out in source order whatever the batches."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.keys = np.empty(0, dtype=np.uint64)
        self.positions = np.empty(0, dtype=np.int64)
        self.rows: np.ndarray | None = None

    def add(self, keys: np.ndarray, positions: np.ndarray, rows: np.ndarray) -> Sample:
        if self.rows is not None:
            keys = np.concatenate([self.keys, keys])
            positions = np.concatenate([self.positions, positions])
            rows = np.vstack([self.rows, rows.astype(self.rows.dtype, copy=False)])
        pick = smallest(keys, self.size)
        self.keys, self.positions, self.rows = keys[pick], positions[pick], rows[pick]
        return self

    def merge(self, other: Sample) -> Sample:
        return self if other.rows is None else self.add(other.keys, other.positions, other.rows)

    def matrix(self) -> np.ndarray:
        if self.rows is None:
            raise UndertowError("embeddings: an arm has no rows to sample")
        return self.rows[np.argsort(self.positions, kind="stable")]


def sample_rows(
    samples: dict[Any, Sample],
    labels: np.ndarray,
    matrix: np.ndarray,
    start: int,
    control: Any,
    seed: int,
) -> None:
    """Adds the rows at positions start .. start + len(labels) - 1 to each arm's sample."""
    count = len(labels)
    positions = np.arange(start, start + count, dtype=np.int64)
    sides = {"reference": None, "current": None}
    for label, sample in samples.items():
        mask = labels == label
        if not mask.any():
            continue
        side = "reference" if label == control else "current"
        if sides[side] is None:
            sides[side] = position_keys(start, count, seed, side)
        sample.add(sides[side][mask], positions[mask], matrix[mask])


class BalanceTally:
    def __init__(self, job: BalanceJob, start: int) -> None:
        self.rows = 0
        self.position = start
        reference = job.reference
        # no tabular covariates (embeddings only): no reference, no PSI counts
        treatments = [a for a in job.arms if a != job.control] if reference is not None else []
        self.psi = {a: reference.accumulator() for a in treatments}
        self.moments = {a: Moments(len(job.numeric)) for a in job.arms}
        self.samples = {v: {a: Sample(job.sample) for a in job.arms} for v in job.vectors}

    def merge(self, other: BalanceTally) -> BalanceTally:
        self.rows += other.rows
        for a, acc in self.psi.items():
            acc.merge(other.psi[a])
        for a, moments in self.moments.items():
            moments.merge(other.moments[a])
        for v, per_arm in self.samples.items():
            for a, sample in per_arm.items():
                sample.merge(other.samples[v][a])
        return self


@dataclass(frozen=True)
class BalanceJob:
    arm: str
    arms: tuple[Any, ...]
    control: Any
    reference: Reference | None
    covariates: tuple[str, ...]
    numeric: tuple[str, ...]
    vectors: tuple[str, ...]
    sample: int
    seed: int

    @property
    def positional(self) -> bool:
        # embedding samples are chosen by each row's position in the source
        return bool(self.vectors)

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.arm, *self.covariates, *self.vectors)

    def new(self, start: int = 0) -> BalanceTally:
        return BalanceTally(self, start)

    def update(self, acc: BalanceTally, batch: Any) -> None:
        frame = arrow_frame(batch.select([self.arm, *self.covariates]))
        acc.rows += frame.height
        parts = frame.partition_by(self.arm, as_dict=True, include_key=False)
        update_parts(acc, {key[0]: part for key, part in parts.items()}, self.control,
                     list(self.covariates), list(self.numeric))  # fmt: skip
        if self.vectors:
            labels = frame.get_column(self.arm).to_numpy()
            for v in self.vectors:
                matrix = arrow_vectors(batch.column(v), v)
                sample_rows(acc.samples[v], labels, matrix, acc.position, self.control, self.seed)
        acc.position += frame.height

    def check_rows(self, acc: BalanceTally, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"frame: {label} has no rows")


def update_parts(
    acc: BalanceTally, parts: dict[Any, pl.DataFrame], control: Any, covariates: list[str], numeric: list[str]
) -> None:
    """Adds each arm's rows to its PSI counts (treatments) and moments (every arm)."""
    for label, part in parts.items():
        if label not in acc.moments:
            raise UndertowError(f"arm: label {label!r} appeared after the arm sizes were counted")
        if label != control and covariates:
            acc.psi[label].update(covariate_table(part, covariates))
        if numeric:
            acc.moments[label].merge(Moments.of([part.get_column(c) for c in numeric]))
