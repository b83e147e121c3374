"""Result churn and neighbourhood preservation: how much the top-k lists move between encoders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from undertow.rotation.overlap import overlap_at_k, rbo


@dataclass(frozen=True)
class ListChurn:
    """Per-row overlap@k and RBO of the old vs new top-k lists (ids), plus their summary."""

    ids: np.ndarray  # the query or document id of each row
    old_top: np.ndarray  # (rows, k) ids, -1 padding
    new_top: np.ndarray
    overlap: np.ndarray  # overlap@k per row
    rbo: np.ndarray  # extrapolated RBO per row

    @property
    def summary(self) -> dict[str, float]:
        if len(self.overlap) == 0:
            return {"rows": 0}
        return {
            "rows": len(self.overlap),
            "overlap_mean": float(self.overlap.mean()),
            "overlap_p10": float(np.quantile(self.overlap, 0.1)),
            "overlap_median": float(np.median(self.overlap)),
            "share_overlap_below_half": float((self.overlap < 0.5).mean()),
            "rbo_mean": float(self.rbo.mean()),
            "rbo_p10": float(np.quantile(self.rbo, 0.1)),
        }

    def worst(self, count: int) -> np.ndarray:
        """Rows ordered by overlap, then RBO, then position: the most changed first."""
        order = np.lexsort((np.arange(len(self.overlap)), self.rbo, self.overlap))
        return order[:count]


def list_churn(ids: np.ndarray, old_top: np.ndarray, new_top: np.ndarray, p: float) -> ListChurn:
    return ListChurn(ids, old_top, new_top, overlap_at_k(old_top, new_top), rbo(old_top, new_top, p))
