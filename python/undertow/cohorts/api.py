"""``ut.cohort_balance``: are the arms of an experiment the same population?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from undertow._args import check_count, check_real, check_seed
from undertow._core import UndertowError
from undertow._frames import type_name
from undertow._inputs import as_matrix
from undertow.cohorts.report import BalanceReport, CovariateBalance, SrmResult
from undertow.cohorts.stats import chi2_goodness_of_fit, chi2_homogeneity, holm
from undertow.cohorts.stream import (
    NAN_POLICY,
    ArmJob,
    BalanceJob,
    BalanceTally,
    categorical_view,
    control_reference,
    covariate_table,
    sample_rows,
    update_parts,
)
from undertow.embedding.mmd import mmd
from undertow.stream.arrow import arrow_frame
from undertow.tabular.reference import Reference
from undertow.tabular.results import PsiResult

_CATEGORICAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


def _names(value: Any, argument: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{argument}: expected a column name or a list of them, got {value!r:.80}")
    return list(value)


def _collect(frame: Any, arm: str, covariates: list[str], vectors: list[str]) -> pl.DataFrame:
    columns = [arm, *covariates, *vectors]
    if isinstance(frame, pl.LazyFrame):
        _check_columns(frame.collect_schema().names(), arm, covariates, vectors)
        return frame.select(columns).collect()
    if isinstance(frame, pl.DataFrame):
        _check_columns(frame.columns, arm, covariates, vectors)
        return frame.select(columns)
    raise TypeError(
        f"frame: expected a polars DataFrame or LazyFrame or a ut.scan source, got {type_name(frame)}"
        " (pandas: pl.from_pandas(frame); pyarrow: pl.from_arrow(table))"
    )


def _check_columns(names: Sequence[str], arm: str, covariates: list[str], vectors: list[str]) -> None:
    shown = list(names)[:20]
    if arm not in names:
        raise UndertowError(f"arm: {arm!r} is not a column of frame (it has {shown})")
    for argument, wanted in (("covariates", covariates), ("embeddings", vectors)):
        missing = [c for c in wanted if c not in names]
        if missing:
            raise UndertowError(f"{argument}: {missing} are not columns of frame (it has {shown})")


def _kinds(schema: Mapping[str, Any], covariates: list[str], forced: set[str]) -> dict[str, str]:
    kinds = {}
    for c in covariates:
        dtype = schema[c]
        if c in forced or isinstance(dtype, _CATEGORICAL):
            kinds[c] = "categorical"
        elif dtype.is_numeric():
            kinds[c] = "numeric"
        else:
            raise TypeError(f"covariates: {c!r} has dtype {dtype}, neither numeric nor categorical")
    return kinds


def _scan_schema(scan: Any) -> pl.Schema:
    """The polars dtypes of a scan source's columns, before any data is read. A one-shot stream
    (a RecordBatchReader, an iterator of batches) cannot be read several times: refused."""
    import pyarrow as pa

    if isinstance(scan._source, pa.RecordBatchReader):
        raise UndertowError(
            "frame: cohort_balance reads a ut.scan source in several passes, and this one is a "
            "one-shot stream (a RecordBatchReader or iterator); scan files, a dataset or a "
            "LazyFrame, or pass the collected polars DataFrame"
        )
    try:
        schema = scan.schema()
    except UndertowError:
        raise UndertowError(
            "frame: cohort_balance needs the schema of a ut.scan source before reading it "
            "(several passes); scan files, a dataset, a Table or a LazyFrame"
        ) from None
    return arrow_frame(schema.empty_table()).schema


def _expected_shares(
    counts: dict[Any, int], expected: Mapping[Any, float] | None
) -> tuple[list[Any], np.ndarray]:
    """The arms (expected's order, else sorted) and their expected shares (summing to 1)."""
    if expected is None:
        arms = sorted(counts, key=lambda a: (str(type(a)), a))
        return arms, np.full(len(arms), 1.0 / len(arms))
    if not isinstance(expected, Mapping) or not expected:
        raise TypeError(f"expected: a dict {{arm: share}} expected, got {expected!r:.80}")
    unknown = [a for a in counts if a not in expected]
    if unknown:
        raise UndertowError(
            f"expected: arm labels {unknown} are in the data but not in expected {list(expected)}"
        )
    shares = np.array([check_real(v, f"expected[{k!r}]", 0.0, open_low=True) for k, v in expected.items()])
    empty = [a for a in expected if counts.get(a, 0) == 0]
    if empty:
        raise UndertowError(f"arm: arm {empty[0]!r} has no rows (expected {list(expected)})")
    return list(expected), shares / shares.sum()


def _smd(stats: dict[Any, tuple[float, float]], control: Any, arm: Any) -> float:
    (mc, vc), (mt, vt) = stats[control], stats[arm]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (mc, vc, mt, vt)):
        return math.nan
    pooled = math.sqrt((vc + vt) / 2.0)
    if pooled == 0.0:
        return 0.0 if mt == mc else math.copysign(math.inf, mt - mc)
    return (mt - mc) / pooled


def _share_diff(result: PsiResult) -> dict[str, float]:
    names = [*(result.categories or []), "<unseen>"]
    if len(result.expected_counts) > len(names):
        names.append("<missing>")
    diff = result.actual_proportions - result.expected_proportions
    return {n: float(d) for n, d in zip(names, diff, strict=False)}


def cohort_balance(
    frame: Any,
    arm: str,
    covariates: Any,
    *,
    expected: Mapping[Any, float] | None = None,
    embeddings: Any = None,
    control: Any = None,
    categorical: Any = None,
    alpha: float = 0.05,
    srm_alpha: float = 0.001,
    bins: int = 10,
    embedding_sample: int = 20_000,
    features: int = 256,
    seed: int = 0,
) -> BalanceReport:
    """Are the arms (column `arm`) of an experiment or rollout the same population?

    **Sample-ratio mismatch**: Pearson's chi-square of the arm sizes against `expected`
    (``{arm: share}``, shares normalized; default an equal split), status "mismatch" when
    ``p < srm_alpha`` (0.001). Every arm in the data must be in `expected`, and every arm of
    `expected` must have rows.

    **Covariates**, each arm against the control arm (`control`, default: `expected`'s first
    arm, else the smallest label): PSI with undertow's binning fitted on the control arm
    (``Reference.fit``: 10 quantile bins, or the categories of String/Categorical/Boolean columns
    and of integer columns named in `categorical`; missing values in their own bin); the
    standardized mean difference for numeric columns; share differences for categorical ones.
    Test per covariate: Pearson's chi-square of homogeneity of the arms' counts in those bins.
    `embeddings` (vector columns): the RFF MMD test (``ut.mmd(estimator="rff")``) of each
    treatment arm against control, on samples of at most `embedding_sample` rows per arm chosen
    by a seeded hash of each row's position (never its content, so duplicated rows are sampled
    like any other). Multiple testing: Holm's step-down over every covariate test at `alpha`
    (family-wise error rate <= alpha); a covariate is "imbalanced" when its adjusted p-value
    is <= alpha.

    `frame`: a polars DataFrame or LazyFrame (only the needed columns are collected), or a
    ``ut.scan`` source, streamed in passes with memory bounded by the batch plus one column of
    the control arm's values (see `undertow.cohorts.stream`); the result equals the in-memory
    call's (the SMD to about 1e-13 relative: batch moments merged by Chan's update).

    >>> import numpy as np, polars as pl, undertow as ut
    >>> rng = np.random.default_rng(0)
    >>> df = pl.DataFrame({"arm": rng.integers(0, 2, 4000), "x": rng.normal(size=4000)})
    >>> ut.cohort_balance(df, "arm", ["x"]).status
    'balanced'
    """
    if not isinstance(arm, str):
        raise TypeError(f"arm: expected the name of the arm column, got {type(arm).__name__}")
    covs = _names(covariates, "covariates")
    vectors = _names(embeddings, "embeddings")
    if not covs and not vectors:
        raise UndertowError("covariates: name at least one covariate (or embedding column)")
    forced = set(_names(categorical, "categorical"))
    stray = sorted(forced - set(covs))
    if stray:
        raise UndertowError(f"categorical: {stray} are not covariates")
    alpha = check_real(alpha, "alpha", 0.0, 1.0, open_low=True, open_high=True)
    srm_alpha = check_real(srm_alpha, "srm_alpha", 0.0, 1.0, open_low=True, open_high=True)
    bins = check_count(bins, "bins", 2, 10_000)
    embedding_sample = check_count(embedding_sample, "embedding_sample", 2)
    seed = check_seed(seed)
    if arm in covs or arm in vectors:
        raise UndertowError(f"covariates: {arm!r} is the arm column")
    from undertow.stream.scan import Scan

    plan = _Plan(expected, control, srm_alpha)
    if isinstance(frame, Scan):
        rows, kinds, tally = _from_scan(frame, arm, covs, vectors, forced, plan, bins,
                                        embedding_sample, seed)  # fmt: skip
    else:
        rows, kinds, tally = _from_frame(frame, arm, covs, vectors, forced, plan, bins,
                                         embedding_sample, seed)  # fmt: skip
    control, treatments = plan.control, plan.treatments

    tests: list[dict[str, Any]] = []
    if covs:
        reports = {t: tally.psi[t].finalize() for t in treatments}
        numeric = [c for c in covs if kinds[c] == "numeric"]
        moments = {c: {a: tally.moments[a].mean_var(j) for a in plan.arms} for j, c in enumerate(numeric)}
        for c in covs:
            first = reports[treatments[0]][c]
            table = [first.expected_counts] + [reports[t][c].actual_counts for t in treatments]
            stat, dof, pv = chi2_homogeneity(np.vstack(table))
            tests.append(
                {
                    "name": c,
                    "kind": kinds[c],
                    "test": "chi2_homogeneity",
                    "statistic": stat,
                    "df": dof,
                    "p_value": pv,
                    "psi": {str(t): reports[t][c].value for t in treatments},
                    "smd": {str(t): _smd(moments[c], control, t) for t in treatments}
                    if c in moments
                    else None,
                    "share_diff": (
                        {str(t): _share_diff(reports[t][c]) for t in treatments}
                        if kinds[c] == "categorical"
                        else None
                    ),
                }
            )
    for v in vectors:
        base = tally.samples[v][control].matrix()
        for t in treatments:
            result = mmd(base, tally.samples[v][t].matrix(), estimator="rff", features=features,
                         seed=seed)  # fmt: skip
            tests.append(
                {
                    "name": v,
                    "kind": "embedding",
                    "test": "mmd_rff",
                    "statistic": result.value,
                    "df": None,
                    "p_value": float(result.p_value if result.p_value is not None else 1.0),
                    "arm": t,
                    "mmd": result.value,
                }
            )
    adjusted = holm([t["p_value"] for t in tests])
    results = [
        CovariateBalance(**t, adjusted_p_value=a, alpha=alpha) for t, a in zip(tests, adjusted, strict=True)
    ]
    return BalanceReport(control=control, srm=plan.srm, covariates=results, alpha=alpha, rows=rows)


class _Plan:
    """The arms, their expected shares, the control arm and the SRM test, from the arm sizes."""

    def __init__(self, expected: Mapping[Any, float] | None, control: Any, srm_alpha: float) -> None:
        self.expected, self.control, self.srm_alpha = expected, control, srm_alpha

    def fix(self, counts: dict[Any, int], nulls: int) -> None:
        if nulls:
            raise UndertowError(f"arm: {nulls} rows have no arm (null)")
        arms, shares = _expected_shares(counts, self.expected)
        if len(arms) < 2:
            raise UndertowError(f"arm: needs at least 2 arms, got {arms}")
        if self.control is None:
            self.control = arms[0]
        elif self.control not in arms:
            raise UndertowError(f"control: {self.control!r} is not an arm ({arms})")
        observed = [int(counts.get(a, 0)) for a in arms]
        statistic, df, p = chi2_goodness_of_fit(np.array(observed), shares)
        self.srm = SrmResult(arms, observed, shares.tolist(), statistic, df, p, self.srm_alpha)
        self.arms = arms
        self.treatments = [a for a in arms if a != self.control]


def _from_frame(
    frame: Any,
    arm: str,
    covs: list[str],
    vectors: list[str],
    forced: set[str],
    plan: _Plan,
    bins: int,
    sample: int,
    seed: int,
) -> tuple[int, dict[str, str], BalanceTally]:
    """The in-memory path: the needed columns collected once, split by arm once."""
    data = _collect(frame, arm, covs, vectors)
    # split by arm once (the arm sizes are the parts' heights, no separate value count)
    split = data.select([arm, *covs]).partition_by(arm, as_dict=True, include_key=False)
    parts = {key[0]: part for key, part in split.items()}
    counts = {label: part.height for label, part in parts.items()}
    nulls = counts.pop(None, 0)
    plan.fix(counts, nulls)
    kinds = _kinds(data.schema, covs, forced)
    reference = None
    if covs:
        # every numeric column named in `categorical` (floats too: their kind says categorical)
        numeric_categories = [c for c in covs if c in forced and data.schema[c].is_numeric()]
        reference = Reference.fit(
            covariate_table(parts[plan.control], covs),
            bins=bins,
            categorical=numeric_categories or None,
            nan_policy=NAN_POLICY,
        )
    numeric = tuple(c for c in covs if kinds[c] == "numeric")
    job = BalanceJob(arm, tuple(plan.arms), plan.control, reference, tuple(covs), numeric, tuple(vectors),
                     sample, seed)  # fmt: skip
    tally = job.new()
    tally.rows = data.height
    update_parts(tally, parts, plan.control, covs, list(numeric))
    if vectors:
        values = data.get_column(arm).to_numpy()
        for v in vectors:
            sample_rows(tally.samples[v], values, as_matrix(data.get_column(v), v), 0, plan.control, seed)
    return data.height, kinds, tally


def _from_scan(
    scan: Any,
    arm: str,
    covs: list[str],
    vectors: list[str],
    forced: set[str],
    plan: _Plan,
    bins: int,
    sample: int,
    seed: int,
) -> tuple[int, dict[str, str], BalanceTally]:
    """The streamed path (see `undertow.cohorts.stream`): arm sizes and category counts, the
    control's bin edges one numeric column at a time, then the per-arm counts, moments and
    samples; memory bounded by the batch and one column of control values."""
    schema = _scan_schema(scan)
    _check_columns(schema.names(), arm, covs, vectors)
    kinds = _kinds(schema, covs, forced)
    categorical = [c for c in covs if kinds[c] == "categorical"]
    counted = scan.accumulate(ArmJob(arm, tuple(categorical)))
    counts = dict(counted.counts)
    counts.pop(None, None)
    plan.fix(counts, counted.nulls)
    reference = None
    if covs:
        views = {c: categorical_view(pl.Series(c, [], dtype=schema[c])).dtype for c in covs}
        reference = control_reference(scan, arm, plan.control, covs, kinds, views, counted, bins)
    numeric = tuple(c for c in covs if kinds[c] == "numeric")
    job = BalanceJob(arm, tuple(plan.arms), plan.control, reference, tuple(covs), numeric, tuple(vectors),
                     sample, seed)  # fmt: skip
    tally = scan.accumulate(job)
    # a source rewritten between the passes must not mix two datasets into one report
    changed = [str(t) for t, acc in tally.psi.items() if acc.rows != counts[t]]
    if tally.rows != counted.rows or changed:
        raise UndertowError(
            f"frame: the scan source changed between passes ({counted.rows} rows, then {tally.rows})"
        )
    return counted.rows, kinds, tally
