"""``ut.cohort_balance``: are the arms of an experiment the same population?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from undertow._args import check_count, check_real, check_seed
from undertow._core import UndertowError
from undertow._inputs import as_matrix
from undertow.cohorts.report import BalanceReport, CovariateBalance, SrmResult
from undertow.cohorts.stats import chi2_goodness_of_fit, chi2_homogeneity, holm
from undertow.embedding._sample import row_keys, smallest
from undertow.embedding.mmd import mmd
from undertow.stream.arrow import arrow_frame
from undertow.tabular.psi import PsiResult
from undertow.tabular.reference import Reference

_CATEGORICAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


def _names(value: Any, argument: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{argument}: expected a column name or a list of them, got {value!r:.80}")
    return list(value)


def _collect(frame: Any, columns: list[str]) -> pl.DataFrame:
    from undertow.stream.scan import Scan

    if isinstance(frame, Scan):
        # The needed columns only, batch by batch (memory: those columns, not the source).
        return frame.accumulate(_CollectJob(tuple(columns))).frame()
    if isinstance(frame, pl.LazyFrame):
        schema = frame.collect_schema().names()
        _check_columns(schema, columns)
        return frame.select(columns).collect()
    if isinstance(frame, pl.DataFrame):
        _check_columns(frame.columns, columns)
        return frame.select(columns)
    raise TypeError(
        f"frame: expected a polars DataFrame or LazyFrame or a ut.scan source, got {type(frame).__name__}"
    )


class _Frames:
    """The batches of a scan, as polars frames in source order (merge appends)."""

    def __init__(self) -> None:
        self.parts: list[pl.DataFrame] = []
        self.rows = 0

    def merge(self, other: _Frames) -> _Frames:
        self.parts.extend(other.parts)
        self.rows += other.rows
        return self

    def frame(self) -> pl.DataFrame:
        return pl.concat(self.parts, how="vertical", rechunk=True)


class _CollectJob:
    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns

    def new(self) -> _Frames:
        return _Frames()

    def update(self, acc: _Frames, batch: Any) -> None:
        part = arrow_frame(batch.select(list(self.columns)))
        acc.parts.append(part)
        acc.rows += part.height

    def check_rows(self, acc: _Frames, label: str) -> None:
        if acc.rows == 0:
            raise UndertowError(f"frame: {label} has no rows")


def _check_columns(names: Sequence[str], columns: list[str]) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        raise UndertowError(f"covariates: {missing} are not columns of frame (it has {list(names)[:20]})")


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
    treatment arm against control, on hash-chosen samples of at most `embedding_sample` rows
    per arm. Multiple testing: Holm's step-down over every covariate test at `alpha`
    (family-wise error rate <= alpha); a covariate is "imbalanced" when its adjusted p-value
    is <= alpha.

    `frame`: a polars DataFrame or LazyFrame (only the needed columns are collected), or a
    ``ut.scan`` source (its needed columns are read batch by batch into one frame).

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
    data = _collect(frame, [arm, *covs, *vectors])
    labels = data.get_column(arm)
    if labels.null_count():
        raise UndertowError(f"arm: {labels.null_count()} rows have no arm (null)")
    counted = labels.value_counts()
    counts = dict(zip(counted.get_column(arm).to_list(), counted.get_column("count").to_list(), strict=True))
    arms, shares = _expected_shares(counts, expected)
    if len(arms) < 2:
        raise UndertowError(f"arm: needs at least 2 arms, got {arms}")
    if control is None:
        control = arms[0]
    elif control not in arms:
        raise UndertowError(f"control: {control!r} is not an arm ({arms})")
    statistic, df, p = chi2_goodness_of_fit(np.array([counts.get(a, 0) for a in arms]), shares)
    srm = SrmResult(arms, [int(counts.get(a, 0)) for a in arms], shares.tolist(), statistic, df, p, srm_alpha)
    treatments = [a for a in arms if a != control]

    parts = {key[0]: part for key, part in data.partition_by(arm, as_dict=True).items()}
    kinds = {}
    for c in covs:
        dtype = data.schema[c]
        if c in forced or isinstance(dtype, _CATEGORICAL):
            kinds[c] = "categorical"
        elif dtype.is_numeric():
            kinds[c] = "numeric"
        else:
            raise TypeError(f"covariates: {c!r} has dtype {dtype}, neither numeric nor categorical")

    def table(part: pl.DataFrame) -> pl.DataFrame:
        return part.select(
            [pl.col(c).cast(pl.String) if data.schema[c] == pl.Boolean else pl.col(c) for c in covs]
        )

    tests: list[dict[str, Any]] = []
    if covs:
        int_categories = [c for c in covs if c in forced and data.schema[c].is_integer()]
        reference = Reference.fit(
            table(parts[control]), bins=bins, categorical=int_categories or None, nan_policy="bin"
        )
        reports = {t: reference.psi(table(parts[t])) for t in treatments}
        numeric = [c for c in covs if kinds[c] == "numeric"]
        moments: dict[str, dict[Any, tuple[float, float]]] = {c: {} for c in numeric}
        if numeric:
            agg = data.group_by(arm).agg(
                [pl.col(c).cast(pl.Float64).mean().alias(f"m{i}") for i, c in enumerate(numeric)]
                + [pl.col(c).cast(pl.Float64).var().alias(f"v{i}") for i, c in enumerate(numeric)]
            )
            for row in agg.iter_rows(named=True):
                for i, c in enumerate(numeric):
                    moments[c][row[arm]] = (row[f"m{i}"], row[f"v{i}"])
        for c in covs:
            first = reports[treatments[0]][c]
            rows = [first.expected_counts] + [reports[t][c].actual_counts for t in treatments]
            stat, dof, pv = chi2_homogeneity(np.vstack(rows))
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
        base = _sampled(parts[control], v, embedding_sample, seed)
        for t in treatments:
            result = mmd(base, _sampled(parts[t], v, embedding_sample, seed), estimator="rff",
                         features=features, seed=seed)  # fmt: skip
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
    return BalanceReport(control=control, srm=srm, covariates=results, alpha=alpha, rows=data.height)


def _sampled(part: pl.DataFrame, column: str, size: int, seed: int) -> np.ndarray:
    """At most `size` rows of a vector column, chosen by a seeded hash of each row's values."""
    matrix = as_matrix(part.get_column(column), column)
    if matrix.shape[0] <= size:
        return matrix
    return matrix[np.sort(smallest(row_keys(matrix, seed), size))]
