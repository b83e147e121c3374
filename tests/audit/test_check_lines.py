"""The audit's and the rotation preview's summary() and to_polars(): one helper prints and tabulates
both reports' checks; the layout of each is pinned here, character for character."""

from __future__ import annotations

import numpy as np

from undertow.audit import AuditReport, Check
from undertow.rotation.compatibility import Compatibility
from undertow.rotation.report import RotationReport


def checks() -> dict[str, Check]:
    return {
        "ann_recall": Check("ann_recall", "warn", 0.912345, 0.95, "min", 500, np.empty(0, np.int64), 0,
                            "low"),
        "orphaned_vectors": Check(
            "orphaned_vectors", "fail", None, None, "max", 9, np.arange(12, dtype=np.int64), 12, "12 orphans"
        ),
    }  # fmt: skip


def test_audit_summary_layout() -> None:
    report = AuditReport(
        checks(), {"type": "flat", "ntotal": 10, "dim": 4, "metric": "ip"}, {"metric": "ip"}, k=5
    )
    assert report.summary() == (
        "undertow index audit: FAIL — flat (10 vectors x 4, ip)\n"
        "  orphaned_vectors  fail" + " " * 31 + "12 orphans\n"  # no value, no threshold
        "  ann_recall        warn         0.9123  >= 0.95       low"
    )  # fmt: skip


def test_rotation_summary_layout() -> None:
    settings = {"documents": 300, "queries": 40, "query_source": "queries", "k": 5, "metric": "cosine",
                "dims": [12, 10]}  # fmt: skip
    shift = Check("score_shift", "ok", 0.0123, 0.25, "max", 40, np.empty(0, np.int64), 0, "PSI")
    churn = Check("result_churn", "warn", 0.5, 0.8, "min", 40, np.arange(3, dtype=np.int64), 3, "churn")
    report = RotationReport(
        {"score_shift": shift, "result_churn": churn}, None, None, [], {}, {},  # type: ignore[arg-type]
        Compatibility("alignable", "", {}), settings,
    )  # fmt: skip
    assert report.summary() == (
        "undertow rotation preview: ALIGNABLE (warn) — 300 documents, 40 queries, k=5, cosine, "
        "dims 12 -> 10\n"
        "  result_churn  warn          0.5  >= 0.8      churn\n"
        "  score_shift   ok         0.0123  <= 0.25     PSI"
    )  # fmt: skip


def test_both_tables_have_one_row_per_check() -> None:
    frame = AuditReport(checks(), {"type": "flat"}, {"metric": "ip"}, k=5).to_polars()
    assert frame["check"].to_list() == ["orphaned_vectors", "ann_recall"]
    assert frame["example_ids"].to_list() == [list(range(10)), []]
    assert frame["value"].to_list() == [None, 0.912345] and frame["count"].to_list() == [12, 0]
    renamed = {
        new: Check(new, *[getattr(c, f) for f in ("status", "value", "threshold", "direction", "sample_size",
                                                   "ids", "count", "message")])
        for new, c in zip(("result_churn", "neighbourhood"), checks().values(), strict=True)
    }  # fmt: skip
    rotation = RotationReport(renamed, None, None, [], {}, {}, Compatibility("drop-in", "", {}), {})  # type: ignore[arg-type]
    table = rotation.to_polars()
    assert table["check"].to_list() == ["result_churn", "neighbourhood"]
    assert table.drop("check").equals(frame.sort("check").drop("check"))
