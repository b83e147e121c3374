"""CoverageReport: how much of production traffic the eval suite covers, where the gaps are,
and how coverage moved over time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from undertow import _core
from undertow._html import HtmlPage
from undertow.tabular.reference import PsiAccumulator
from undertow.tabular.results import PsiResult, plain


@dataclass(frozen=True, eq=False)
class ClusterCoverage:
    """One k-means cluster of production traffic.

    ``traffic_share``: its share of production rows; ``eval_share``: the share of eval items
    whose nearest centroid it is; ``coverage``: its covered rows / rows; ``gap_score``:
    ``traffic_share x (1 - coverage)`` (the share of all traffic that is uncovered and here);
    ``representatives``: ids of the production rows nearest its centroid; ``flagged``: coverage
    below ``min_coverage`` with a traffic share of at least ``min_share``."""

    cluster: int
    rows: int
    traffic_share: float
    eval_items: int
    eval_share: float
    covered: int
    coverage: float
    gap_score: float
    flagged: bool
    representatives: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, eq=False)
class CoverageReport(HtmlPage):
    """Eval coverage of production traffic (see ``undertow.eval_coverage``).

    ``coverage``: covered / rows, a row being covered when the cosine similarity to its nearest
    eval item is at least ``radius``. ``clusters``: one ClusterCoverage per k-means cluster;
    ``gaps``: the clusters by ``gap_score``, largest first; ``mix_psi``: the PSI of the cluster
    shares, eval (expected) vs production (actual): "is the suite's mix the traffic's mix".
    ``queries``: per production row (``id``, ``nearest_eval_id``, ``similarity``, ``covered``,
    ``cluster``) for in-memory input, None when streamed. ``windows``: coverage per time window
    when a time column was given. ``null_coverage``: ``1 - quantile``, about the coverage to
    expect when eval is a random part of production (None for a given radius).
    ``centroids``: the k-means centroids (float64, of unit rows); ``kmeans``: k, the sample
    size, inertia (on the sample), iterations, converged."""

    radius: float
    radius_rule: str
    null_coverage: float | None
    rows: int
    covered: int
    eval_items: int
    clusters: list[ClusterCoverage]
    mix_psi: PsiResult
    min_coverage: float
    min_share: float
    kmeans: dict[str, Any]
    centroids: np.ndarray
    queries: pl.DataFrame | None = None
    windows: pl.DataFrame | None = None

    @property
    def coverage(self) -> float:
        return self.covered / self.rows

    @property
    def gaps(self) -> list[ClusterCoverage]:
        """Every cluster, ranked by gap_score (ties to the lower cluster number)."""
        return sorted(self.clusters, key=lambda c: (-c.gap_score, c.cluster))

    @property
    def flagged(self) -> list[ClusterCoverage]:
        """The flagged clusters, ranked by gap_score."""
        return [c for c in self.gaps if c.flagged]

    @property
    def status(self) -> str:
        """ "gaps" when a cluster is flagged, else "covered"."""
        return "gaps" if self.flagged else "covered"

    def to_polars(self) -> pl.DataFrame:
        """One row per cluster, ranked by gap_score."""
        rows = [c.to_dict() for c in self.gaps]
        return pl.DataFrame(
            rows,
            schema={
                "cluster": pl.Int64,
                "rows": pl.Int64,
                "traffic_share": pl.Float64,
                "eval_items": pl.Int64,
                "eval_share": pl.Float64,
                "covered": pl.Int64,
                "coverage": pl.Float64,
                "gap_score": pl.Float64,
                "flagged": pl.Boolean,
                "representatives": pl.List(pl.Int64),
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "eval_coverage",
            "status": self.status,
            "coverage": self.coverage,
            "rows": self.rows,
            "covered": self.covered,
            "eval_items": self.eval_items,
            "radius": self.radius,
            "radius_rule": self.radius_rule,
            "null_coverage": self.null_coverage,
            "min_coverage": self.min_coverage,
            "min_share": self.min_share,
            "kmeans": self.kmeans,
            "mix_psi": self.mix_psi.to_dict(),
            "clusters": [c.to_dict() for c in self.gaps],
            "windows": None if self.windows is None else _rows_of(self.windows),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=plain, **kwargs)

    def __repr__(self) -> str:
        top = ", ".join(f"#{c.cluster} {c.traffic_share:.1%} cov {c.coverage:.2f}" for c in self.flagged[:3])
        return (
            f"CoverageReport(coverage={self.coverage:.3f} of {self.rows} rows, radius={self.radius:.4f}, "
            f"eval_items={self.eval_items}, clusters={len(self.clusters)}, flagged={len(self.flagged)}"
            f"{' [' + top + ']' if top else ''}, mix_psi={self.mix_psi.value:.4f})"
        )


def _rows_of(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        for row in frame.to_dicts()
    ]


def mix_psi(eval_clusters: np.ndarray, cluster_rows: np.ndarray) -> PsiResult:
    """PSI of cluster shares: eval counts expected, production counts actual (the PSI kernel
    over a categorical column whose categories are the cluster numbers)."""
    names = [str(i) for i in range(len(eval_clusters))]
    # The trailing 0: the categorical "unseen" bin (every row has a cluster).
    column = _core.ReferenceColumn.categorical("cluster", names, [*map(int, eval_clusters), 0], 0)
    reference = _core.PsiReference([column], "raise", 1e-4, 0.1, 0.25)
    acc = _core.PsiAccumulator(reference)
    acc.update_counts(0, [*map(int, cluster_rows), 0], 0)
    return PsiAccumulator(acc).finalize().results[0]


def build_report(
    settings: Any,
    *,
    rows: int,
    covered: int,
    cluster_rows: np.ndarray,
    cluster_covered: np.ndarray,
    representatives: list[list[int]],
    windows: pl.DataFrame | None,
    queries: pl.DataFrame | None,
) -> CoverageReport:
    n_eval = int(settings.eval_clusters.sum())
    clusters = []
    for j in range(settings.clusters):
        r = int(cluster_rows[j])
        share = r / rows
        cov = int(cluster_covered[j]) / r if r else 1.0
        clusters.append(
            ClusterCoverage(
                cluster=j,
                rows=r,
                traffic_share=share,
                eval_items=int(settings.eval_clusters[j]),
                eval_share=int(settings.eval_clusters[j]) / n_eval,
                covered=int(cluster_covered[j]),
                coverage=cov,
                gap_score=share * (1.0 - cov),
                flagged=bool(r > 0 and cov < settings.min_coverage and share >= settings.min_share),
                representatives=representatives[j],
            )
        )
    rule = (
        f"{settings.quantile:g}-quantile of the eval items' similarity to their nearest other eval item"
        if settings.quantile is not None
        else "given"
    )
    return CoverageReport(
        radius=settings.radius,
        radius_rule=rule,
        null_coverage=None if settings.quantile is None else 1.0 - settings.quantile,
        rows=rows,
        covered=covered,
        eval_items=n_eval,
        clusters=clusters,
        mix_psi=mix_psi(settings.eval_clusters, cluster_rows),
        min_coverage=settings.min_coverage,
        min_share=settings.min_share,
        kmeans=dict(settings.kmeans),
        centroids=settings.centroids.copy(),
        queries=queries,
        windows=windows,
    )
