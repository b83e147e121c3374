"""Results of every kind the HTML report renders, small and seeded, for tests/report/ and the
browser test: {name: (results, expected figures per section)}."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

import undertow as ut


def psi_report(columns: int = 4, rows: int = 3000, seed: int = 0) -> ut.PsiReport:
    """Numeric columns of growing shift, one with missing values, and a categorical column with
    a category the reference never saw."""
    rng = np.random.default_rng(seed)
    ref = {f"x{i}": rng.normal(size=rows) for i in range(columns)}
    cur = {f"x{i}": rng.normal(0.15 * i, 1.0, size=rows) for i in range(columns)}
    cur["x0"][:30] = np.nan
    ref["city"] = rng.choice(["paris", "rome", "oslo"], rows)
    cur["city"] = rng.choice(["paris", "rome", "lima"], rows)
    reference = ut.Reference.fit(pl.DataFrame(ref), bins=10, nan_policy="bin")
    return reference.psi(pl.DataFrame(cur))


def embedding_report(seed: int = 1, shift: float = 0.25) -> ut.EmbeddingDriftReport:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(1200, 12)) + 2.0
    cur = rng.normal(size=(800, 12)) + 2.0
    cur[:, 0] += shift * 4
    return ut.EmbeddingDrift.fit(ref, components=6, permutations=100, sample=400).compare(cur)


def with_null(report: ut.EmbeddingDriftReport, seed: int = 2) -> ut.EmbeddingDriftReport:
    """The report with permutation statistics attached as `mmd_null` (the field the embedding
    work adds to EmbeddingDriftReport; attached here until it is in this branch)."""
    null = np.random.default_rng(seed).gamma(2.0, report.mmd.value / 4 + 1e-4, size=report.mmd.permutations)
    object.__setattr__(report, "mmd_null", null)
    return report


def audit_reports() -> tuple[Any, Any]:
    """(an audit of the demo index, an audit of it against the first as baseline)."""
    from undertow.cli.demo_audit import planted_index

    case = planted_index()
    first = ut.audit_index(case["index"], case["docs"], fresh=case["fresh"])
    second = ut.audit_index(case["index"], case["docs"], fresh=case["fresh"], baseline=first)
    return first, second


def rotation_spaces(seed: int = 5) -> dict[str, Any]:
    """Old and new encoders of 300 documents and 40 queries: the new one a noisy linear image of
    the old (other dimension), ids 1000.. for documents, 50.. for queries, the new side shuffled."""
    rng = np.random.default_rng(seed)
    old = rng.normal(size=(300, 12)).astype(np.float32)
    mix = rng.normal(size=(12, 10))
    new = (old @ mix / 3 + rng.normal(scale=0.4, size=(300, 10))).astype(np.float32)
    q_old = rng.normal(size=(40, 12)).astype(np.float32)
    q_new = (q_old @ mix / 3 + rng.normal(scale=0.4, size=(40, 10))).astype(np.float32)
    doc_ids, query_ids = np.arange(300) + 1000, np.arange(40) + 50
    order = rng.permutation(300)
    return {
        "old": old, "new": new, "q_old": q_old, "q_new": q_new, "doc_ids": doc_ids,
        "query_ids": query_ids, "new_shuffled": new[order], "new_ids_shuffled": doc_ids[order],
    }  # fmt: skip


def rotation_report(queries: bool = True, k: int = 5) -> ut.RotationReport:
    s = rotation_spaces()
    if not queries:
        return ut.rotation_preview(s["old"], s["new"], k=k, sample=120, seed=1)
    return ut.rotation_preview(
        s["old"],
        s["new_shuffled"],
        s["q_old"],
        s["q_new"],
        doc_ids=(s["doc_ids"], s["new_ids_shuffled"]),
        query_ids=s["query_ids"],
        k=k,
        cutoffs=[0.3, 0.6],
        sample=120,
        seed=1,
    )


def over_time_frame(with_embedding: bool = True, by: str | None = None) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    hours = pl.datetime_range(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 6, 23), "1h", eager=True)
    n = len(hours)
    trend = np.linspace(0.0, 1.5, n)
    frame = pl.DataFrame(
        {
            "ts": hours,
            "a": rng.normal(size=n) + trend,
            "b": rng.normal(size=n),
            "shop": rng.choice(["north", "south"], n),
        }
    )
    reference: list[Any] = [
        ut.Reference.fit({"a": rng.normal(size=2000), "b": rng.normal(size=2000)}, bins=5)
    ]
    if with_embedding:
        vectors = rng.normal(size=(n, 8)) + 1.0
        vectors[:, 0] += trend
        frame = frame.with_columns(
            pl.Series("vec", vectors.astype(np.float32), dtype=pl.Array(pl.Float32, 8))
        )
        reference.append(
            ut.EmbeddingDrift.fit(rng.normal(size=(1000, 8)) + 1.0, components=4, permutations=50)
        )
    return ut.drift_over(frame.drop("shop") if by is None else frame, reference, "ts", every="1d", by=by,
                         min_rows=10)  # fmt: skip


def expected_figures(result: Any) -> int:
    """Figures a section of `result` must render, counted from the result itself."""
    if isinstance(result, ut.PsiReport):
        return 2  # PSI per column, bins per column
    if isinstance(result, ut.EmbeddingDriftReport):
        two_d = result.reference_sample_2d is not None and result.reference_sample_2d.shape[1] == 2
        # cosine, components, the PCA view (two components or more), the permutation null (kept)
        null = getattr(result, "mmd_null", None)  # empty when no permutations were run
        return 2 + two_d + (null is not None and len(null) > 0)
    if isinstance(result, ut.AuditReport):
        shift = result.checks.get("score_shift")
        return 1 + (shift is not None and shift.status != "not_run")  # scores (+ baseline bins)
    if isinstance(result, ut.RotationReport):
        return (len(result.churn.ids) > 0) + bool(
            result.cutoff_table.get("old_cutoff")
        )  # overlap, cutoff map
    if isinstance(result, pl.DataFrame):
        return 1 + sum(c.endswith("_mmd_p_value") for c in result.columns)  # PSI lines + per embedding
    raise TypeError(type(result).__name__)
