"""EmbeddingDriftReport: the result of an embedding-drift comparison (`EmbeddingDrift.compare`,
`EmbeddingAccumulator.finalize`, `scan(...).embedding`), its status rule and serialization."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from undertow._html import HtmlPage
from undertow.embedding.cosine import CosineDrift
from undertow.embedding.mmd import MmdResult
from undertow.tabular.results import plain

# the "severe" status: a classifier separates the sides, or the centroids moved this far
SEVERE_AUC = 0.9
SEVERE_CENTROID = 0.25
# Below this norm of the reference centroid (the mean of its unit rows) the embeddings are
# mean-centred (or isotropic): the centroid direction is sampling noise, so the centroid distance
# of two no-drift halves is anywhere in [0, 2] (1.46-1.61 on centred real sentences) and is not
# used. Real uncentred sentence encoders sit far above (MiniLM 0.3-0.5, model2vec about 0.6);
# the noise of a centroid of n unit rows is about 1 / sqrt(n), 0.014 at 5,000 rows.
CENTRED_NORM = 0.05


def component_ks_p_values(holdout: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per PCA component, the exact two-sample Kolmogorov-Smirnov p-value (``ut.ks``, scipy's
    rule) of the reference rows held out of the PCA fit against the current test sample.

    KS rather than a chi-square over the 10 PSI bins: a topic change moves each component's
    distribution a little, mostly in location, and the binned test threw that signal away
    (the 20% topic change of scripts/calibration/embedding_power.py on the real sentences: a
    non-zero drifted_share in 3 of the first 10 replicates with the binned test, 7 of 10 with
    KS, 12 of 20). The hold-out rows were not used to fit
    the axes, so under no drift both sides are samples of the same distribution."""
    from undertow.tabular.twosample import ks

    return np.array([ks(holdout[:, j], current[:, j]).pvalue for j in range(holdout.shape[1])])


def shared_rows(reference: np.ndarray, current: np.ndarray) -> int:
    """How many current rows equal some reference row exactly (the bytes of the float64 rows)."""
    seen = {row.tobytes() for row in np.ascontiguousarray(reference, dtype=np.float64)}
    return sum(row.tobytes() in seen for row in np.ascontiguousarray(current, dtype=np.float64))


def shared_rows_note(shared: int, tested: int) -> str:
    """The reason's warning when at least 1% of the tested current rows are copies of tested
    reference rows: those pairs always sit on opposite sides of the test, so the statistic is
    pulled towards "same" and the p-value up, whatever the sampler (docs/calibration_embedding.md)."""
    if tested == 0 or shared < max(1, 0.01 * tested):
        return ""
    return (
        f"; {shared:,} of the {tested:,} tested current rows are exact copies of tested reference "
        "rows (re-sent documents or boilerplate): a batch that repeats the reference is partly "
        "tested against itself, which raises the p-value and can hide drift in the other rows; "
        "drop re-sent rows to test only the new ones"
    )


def rejected_by_fdr(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg at level alpha: which tests are rejected. When nothing drifted the
    chance of any rejection is at most alpha (as with Bonferroni), and it finds more of the
    components that moved when several did (a topic change moves many a little)."""
    p = np.asarray(p_values, dtype=np.float64)
    k = len(p)
    ranked = np.sort(p)
    passing = np.flatnonzero(ranked <= alpha * np.arange(1, k + 1) / k)
    if passing.size == 0:
        return np.zeros(k, dtype=bool)
    return p <= ranked[passing[-1]]


def status_and_reason(
    test: MmdResult, auc: float, centroid_distance: float, centred: bool, centroid_norm: float, alpha: float,
    n_current: int,
) -> tuple[str, str]:  # fmt: skip
    """The status and the rule that set it, in words."""
    tested = f"{test.n_x:,} reference vs {test.n_y:,} current rows tested of {n_current:,}"
    if test.p_value is None or test.p_value >= alpha:
        p = "None" if test.p_value is None else f"{test.p_value:.3g}"
        return "stable", f"MMD p-value {p} >= alpha {alpha} ({tested}): no evidence of drift"
    reasons = []
    if auc >= SEVERE_AUC:
        reasons.append(f"the domain classifier separates the sides (AUC {auc:.3f} >= {SEVERE_AUC})")
    if not centred and centroid_distance >= SEVERE_CENTROID:
        reasons.append(f"the centroids moved (cosine distance {centroid_distance:.3g} >= {SEVERE_CENTROID})")
    head = f"MMD p-value {test.p_value:.3g} < alpha {alpha} ({tested})"
    if centred:
        head += (
            f"; the reference is mean-centred (centroid norm {centroid_norm:.3g} < {CENTRED_NORM}), "
            "so the centroid distance is not used"
        )
    if reasons:
        return "severe", f"{head}, and {' and '.join(reasons)}"
    return "drift", head


@dataclass(frozen=True, eq=False)
class EmbeddingDriftReport(HtmlPage):
    """Embedding drift of current vectors against a fitted EmbeddingDrift.

    status: "stable" when ``mmd.p_value >= alpha``; otherwise "drift", or "severe" when also
    ``domain_auc >= 0.9`` or ``cosine.centroid_distance >= 0.25`` (the centroid rule only when
    the reference is not mean-centred, see ``mean_centred``). ``reason`` says which rule fired.
    The MMD test is exact (permutations) on ``n_tested_reference`` x ``n_tested_current`` ambient
    vectors sampled by position; under no drift a non-stable status is exactly as frequent as a
    permutation p-value below alpha (see docs/calibration_embedding.md). ``mmd_null`` holds the
    permutation statistics the p-value counts against. ``n_shared_rows``: how many tested
    current rows are exact copies of tested reference rows; from 1% of them on, ``reason``
    warns that the test is pulled towards "no drift" (a re-sent reference masks drift).

    ``drifted_share`` is the share of PCA components whose two-sample Kolmogorov-Smirnov test
    (the reference rows held out of the PCA against the current test sample,
    ``component_p_values``) is rejected by Benjamini-Hochberg at ``alpha`` (under no drift any
    rejection has probability at most alpha). It says how widespread a change is; a change
    spread thinly over many components can be found by the joint MMD test while no single
    component is significant (then ``reason`` says so). ``component_psi``
    and ``component_threshold`` keep the PSI values and their "significant" threshold (0.25).
    ``mean_centred``: the reference centroid (mean of the unit rows) has norm
    ``reference_centroid_norm`` below 0.05, so the centroid distance is noise and is ignored.
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
    mmd_null: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_tested_reference: int = 0
    n_tested_current: int = 0
    reason: str = ""
    mean_centred: bool = False
    reference_centroid_norm: float = math.nan
    component_p_values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # the held-out samples the MMD test and the domain classifier compared, on the first two PCA
    # components (at most `sample` rows each): what the HTML report's scatter shows
    reference_sample_2d: np.ndarray | None = None
    current_sample_2d: np.ndarray | None = None
    n_shared_rows: int = 0

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
            "mmd_null": plain(self.mmd_null),
            "n_tested_reference": self.n_tested_reference,
            "n_tested_current": self.n_tested_current,
            "reason": self.reason,
            "mean_centred": self.mean_centred,
            "reference_centroid_norm": self.reference_centroid_norm,
            "component_p_values": plain(self.component_p_values),
            "n_shared_rows": self.n_shared_rows,
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
            "centroid_distance": not self.mean_centred and c.centroid_distance >= SEVERE_CENTROID,
            "cosine_psi": c.status == "significant",
            "p_value": m.p_value is not None and m.p_value < self.alpha,
            "max_component_psi": float(np.max(self.component_psi)) >= self.component_threshold,
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

    def __repr__(self) -> str:
        p = "None" if self.mmd.p_value is None else f"{self.mmd.p_value:.4g}"
        centred = (
            " (not meaningful: the reference is mean-centred, centroid norm "
            f"{self.reference_centroid_norm:.3g})"
            if self.mean_centred
            else ""
        )
        return (
            f"EmbeddingDriftReport(status={self.status!r}\n"
            f"  reason: {self.reason}\n"
            f"  mmd: MMD^2={self.mmd.value:.4g}, p={p} (alpha {self.alpha}), "
            f"bandwidth={self.mmd.bandwidth:.4g}, "
            f"rows tested {self.n_tested_reference}/{self.n_tested_current} "
            f"({self.n_shared_rows} current rows copies of reference rows)\n"
            f"  cosine: centroid distance={self.cosine.centroid_distance:.4g}{centred}, "
            f"cosine PSI={self.cosine.cosine_psi:.4g} ({self.cosine.status})\n"
            f"  pca: {self.components} components, drifted share={self.drifted_share:.3g} "
            f"(KS tests, Benjamini-Hochberg at alpha), max PSI={float(np.max(self.component_psi)):.4g}\n"
            f"  classifier: domain AUC={self.domain_auc:.4f}\n"
            f"  rows: reference {self.n_reference}, current {self.n_current})"
        )
