"""The reports of a job as sections of checks, with one status vocabulary for all of them:
``ok``, ``warn``, ``fail``, ``skipped``. report.json, the JUnit file and the exit code read
these, never the reports' own statuses.

* PSI (one check per column): stable -> ok, moderate -> warn, significant -> fail.
* Embedding drift (per vector column): ``mmd`` is the calibrated gate (p < alpha -> fail);
  ``cosine_psi``, ``centroid_distance``, ``component_psi`` and ``domain_auc`` are warnings when
  they flag (see EmbeddingDriftReport.to_polars).
* Index audit (one check per audit check): ok, warn, fail as the auditor says; not_run ->
  skipped.
* PSI over time windows (one check per column): the worst window; too_few_rows windows do not
  count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RANK = {"skipped": 0, "ok": 0, "warn": 1, "fail": 2}
PSI_STATUS = {"stable": "ok", "moderate": "warn", "significant": "fail"}


@dataclass
class Check:
    name: str
    status: str
    value: float | None
    threshold: float | None
    message: str


@dataclass
class Section:
    kind: str  # "psi", "embedding", "audit", "psi_windows"
    name: str
    native_status: str  # the report's own status word
    checks: list[Check]
    result: dict[str, Any]  # the report's to_dict()
    report: Any = field(default=None, repr=False)  # the report object (for the HTML page)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)


def worst(statuses: Any) -> str:
    out = "ok"
    for status in statuses:
        if RANK[status] > RANK[out]:
            out = status
    return out


def psi_section(report: Any, notes: list[str]) -> Section:
    moderate, significant = report.thresholds
    checks = []
    for r in report.results:
        bound = significant if r.status == "significant" else moderate
        relation = ">=" if r.status != "stable" else "<"
        checks.append(
            Check(
                r.name,
                PSI_STATUS[r.status],
                float(r.value),
                float(significant),
                f"PSI {r.value:.4g} {relation} {bound:g} ({r.status}, {r.kind})",
            )
        )
    return Section("psi", "tabular", report.status, checks, report.to_dict(), report, notes)


def embedding_section(column: str, report: Any) -> Section:
    from undertow.embedding.report import SEVERE_AUC, SEVERE_CENTROID

    c, m = report.cosine, report.mmd
    p = m.p_value
    drifted = report.status != "stable"
    checks = [
        Check(
            "mmd",
            "fail" if drifted else "ok",
            p,
            report.alpha,
            f"MMD permutation p={p:.4g} {'<' if drifted else '>='} alpha {report.alpha:g} ({report.status})"
            if p is not None
            else f"MMD {report.status}",
        ),
        Check(
            "cosine_psi",
            "ok" if c.status == "stable" else "warn",
            float(c.cosine_psi),
            None,
            f"PSI of the cosine to the reference direction {c.cosine_psi:.4g} ({c.status})",
        ),
        Check(
            "centroid_distance",
            "warn" if c.centroid_distance >= SEVERE_CENTROID else "ok",
            float(c.centroid_distance),
            SEVERE_CENTROID,
            f"1 - cosine of the centroids {c.centroid_distance:.4g}",
        ),
        Check(
            "component_psi",
            "warn" if report.drifted_share > 0 else "ok",
            float(report.drifted_share),
            0.0,
            f"{report.drifted_share:.1%} of {report.components} PCA components with PSI >= "
            f"{report.component_threshold:g}",
        ),
        Check(
            "domain_auc",
            "warn" if report.domain_auc >= SEVERE_AUC else "ok",
            float(report.domain_auc),
            SEVERE_AUC,
            f"a classifier tells the sides apart with AUC {report.domain_auc:.4f}",
        ),
    ]
    return Section("embedding", column, report.status, checks, report.to_dict(), report)


def audit_section(report: Any) -> Section:
    checks = []
    for name, check in report.checks.items():
        status = "skipped" if check.status == "not_run" else check.status
        checks.append(Check(name, status, check.value, check.threshold, check.message))
    return Section("audit", "index", report.status, checks, report.to_dict(), report)


def windows_section(frame: Any, columns: list[str], time_column: str, every: str) -> Section:
    checks = []
    starts = frame.get_column("window_start").to_list()
    for column in columns:
        statuses = frame.get_column(f"{column}_status").to_list()
        values = frame.get_column(f"{column}_psi").to_list()
        counted = [(s, v, t) for s, v, t in zip(statuses, values, starts, strict=True) if v is not None]
        if not counted:
            checks.append(Check(column, "skipped", None, None, "every window has too few rows"))
            continue
        status, value, start = max(counted, key=lambda x: (RANK[PSI_STATUS[x[0]]], x[1]))
        checks.append(
            Check(
                column,
                PSI_STATUS[status],
                float(value),
                None,
                f"worst window starts {start}: PSI {value:.4g} ({status}), {len(counted)} windows",
            )
        )
    rows = frame.to_dicts()
    result = {"time_column": time_column, "every": every, "windows": rows}
    native = worst(c.status for c in checks)
    return Section("psi_windows", time_column, native, checks, result, frame)
