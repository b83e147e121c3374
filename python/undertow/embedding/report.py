"""EmbeddingDriftReport: the result of an embedding-drift comparison (`EmbeddingDrift.compare`,
`EmbeddingAccumulator.finalize`, `scan(...).embedding`), its status rule and serialization."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from undertow.embedding.cosine import CosineDrift
from undertow.embedding.mmd import MmdResult
from undertow.tabular.results import plain

# the "severe" status: a classifier separates the sides, or the centroids moved this far
SEVERE_AUC = 0.9
SEVERE_CENTROID = 0.25


@dataclass(frozen=True, eq=False)
class EmbeddingDriftReport:
    """Embedding drift of current vectors against a fitted EmbeddingDrift.

    status: "stable" when ``mmd.p_value >= alpha``; otherwise "drift", or "severe" when also
    ``domain_auc >= 0.9`` or ``cosine.centroid_distance >= 0.25``. Under no drift a non-stable
    status is exactly as frequent as a permutation p-value below alpha (the test is calibrated).
    ``drifted_share`` is the share of PCA components whose PSI is at least
    ``component_threshold`` (0.25, the PSI "significant" threshold).
    """

    status: str
    cosine: CosineDrift
    mmd: MmdResult
    component_psi: np.ndarray
    component_threshold: float
    drifted_share: float
    domain_auc: float
    alpha: float
    n_reference: int
    n_current: int
    components: int
    # the held-out samples the MMD test and the domain classifier compared, on the first two PCA
    # components (at most `sample` rows each): what the HTML report's scatter shows
    reference_sample_2d: np.ndarray | None = None
    current_sample_2d: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "cosine": self.cosine.to_dict(),
            "mmd": self.mmd.to_dict(),
            "component_psi": plain(self.component_psi),
            "component_threshold": self.component_threshold,
            "drifted_share": self.drifted_share,
            "domain_auc": self.domain_auc,
            "alpha": self.alpha,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "components": self.components,
        }

    def to_polars(self) -> pl.DataFrame:
        """One row per metric: section, metric, value, threshold and whether it flags drift."""
        c, m = self.cosine, self.mmd
        rows = [
            ("cosine", "centroid_distance", c.centroid_distance, SEVERE_CENTROID),
            ("cosine", "cosine_psi", c.cosine_psi, None),
            ("cosine", "current_off_norm_share", c.current_off_norm_share, None),
            ("mmd", "mmd2", m.value, None),
            ("mmd", "p_value", m.p_value, self.alpha),
            ("pca", "drifted_share", self.drifted_share, None),
            ("pca", "max_component_psi", float(np.max(self.component_psi)), self.component_threshold),
            ("classifier", "domain_auc", self.domain_auc, SEVERE_AUC),
        ]
        flags = {
            "centroid_distance": c.centroid_distance >= SEVERE_CENTROID,
            "cosine_psi": c.status == "significant",
            "p_value": m.p_value is not None and m.p_value < self.alpha,
            "max_component_psi": self.drifted_share > 0,
            "domain_auc": self.domain_auc >= SEVERE_AUC,
        }
        return pl.DataFrame(
            {
                "section": [r[0] for r in rows],
                "metric": [r[1] for r in rows],
                "value": [None if r[2] is None else float(r[2]) for r in rows],
                "threshold": [None if r[3] is None else float(r[3]) for r in rows],
                "flagged": [flags.get(r[1]) for r in rows],
            },
            schema={
                "section": pl.String,
                "metric": pl.String,
                "value": pl.Float64,
                "threshold": pl.Float64,
                "flagged": pl.Boolean,
            },
        )

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """This result as a self-contained HTML page (see `undertow.report`); with `path` the
        page is also written there (atomically). Returns the HTML."""
        from undertow.report import report

        return report(self, path=path)

    def __repr__(self) -> str:
        p = "None" if self.mmd.p_value is None else f"{self.mmd.p_value:.4g}"
        return (
            f"EmbeddingDriftReport(status={self.status!r}\n"
            f"  mmd: MMD^2={self.mmd.value:.4g}, p={p} (alpha {self.alpha}), "
            f"bandwidth={self.mmd.bandwidth:.4g}, rows {self.mmd.n_x}/{self.mmd.n_y}\n"
            f"  cosine: centroid distance={self.cosine.centroid_distance:.4g}, "
            f"cosine PSI={self.cosine.cosine_psi:.4g} ({self.cosine.status})\n"
            f"  pca: {self.components} components, drifted share={self.drifted_share:.3g} "
            f"(PSI >= {self.component_threshold}), max PSI={float(np.max(self.component_psi)):.4g}\n"
            f"  classifier: domain AUC={self.domain_auc:.4f}\n"
            f"  rows: reference {self.n_reference}, current {self.n_current})"
        )
