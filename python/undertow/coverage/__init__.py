"""Eval coverage: does the eval suite cover what production traffic asks, where are the gaps,
and how did coverage move over time (``undertow.eval_coverage``).

Modules: `api` (``eval_coverage``), `radius` (the coverage radius rule), `clusters` (the
deterministic k-means), `accumulator` (the mergeable counts and the k-means sample), `jobs`
(their streamed leaves), `report` (``CoverageReport``, ``ClusterCoverage``).
"""

from undertow.coverage.accumulator import CoverageAccumulator, CoverageSettings, TrafficSample
from undertow.coverage.api import eval_coverage
from undertow.coverage.clusters import KMeansResult, kmeans
from undertow.coverage.jobs import CoverageJob, CoverageSampleJob
from undertow.coverage.radius import DEFAULT_QUANTILE, auto_radius, nearest_other
from undertow.coverage.report import ClusterCoverage, CoverageReport

__all__ = [
    "DEFAULT_QUANTILE",
    "ClusterCoverage",
    "CoverageAccumulator",
    "CoverageJob",
    "CoverageReport",
    "CoverageSampleJob",
    "CoverageSettings",
    "KMeansResult",
    "TrafficSample",
    "auto_radius",
    "eval_coverage",
    "kmeans",
    "nearest_other",
]
