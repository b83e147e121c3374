"""Score shift and cutoff remap between the old and the new encoder's top-k scores.

Scores are similarities for ip/cosine (a result passes a cutoff when score >= cutoff) and
squared L2 distances for l2 (it passes when distance <= cutoff). The pass rate of a cutoff is
the share of all returned top-k results that pass it (what a RAG score filter keeps).

For every cutoff c two new cutoffs are reported:

* ``quantile``: the new cutoff that keeps the old pass rate: the (1 - rate) quantile of the new
  top-k scores (ip; the rate quantile for l2), numpy's linear ``np.quantile``. Use it when the
  cutoff meters volume (how many results reach the prompt, a latency or cost budget).
* ``set``: the new cutoff whose passing results best match the old passing results, as (query,
  document) pairs: it maximizes the Jaccard index |old ∩ new| / |old ∪ new| over every new cutoff
  (each distinct new score). Use it when the cutoff is a relevance gate and the old passing set
  was trusted; it means little when the result lists themselves changed (low overlap@k), which
  the report then says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow.tabular.psi import psi


@dataclass(frozen=True)
class CutoffRemap:
    cutoff: float
    pass_rate_old: float
    pass_rate_new: float  # the same cutoff applied to the new scores
    quantile_cutoff: float
    set_cutoff: float
    set_jaccard: float  # |old ∩ new| / |old ∪ new| at set_cutoff
    set_kept: float  # share of the old passing pairs that pass at set_cutoff

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def passes(scores: np.ndarray, cutoff: float, larger_is_better: bool) -> np.ndarray:
    return scores >= cutoff if larger_is_better else scores <= cutoff


def quantile_cutoff(new_scores: np.ndarray, rate: float, larger_is_better: bool) -> float:
    return float(np.quantile(new_scores, 1.0 - rate if larger_is_better else rate))


def set_cutoff(
    old_keys: np.ndarray, new_keys: np.ndarray, new_scores: np.ndarray, larger_is_better: bool
) -> tuple[float, float, float]:
    """(cutoff, jaccard, kept share): the new cutoff whose passing (query, doc) keys best match
    `old_keys` (the old passing keys). Cutoffs are taken at distinct new scores, so ties pass
    together."""
    if len(old_keys) == 0:
        edge = (
            float(new_scores.max() if larger_is_better else new_scores.min()) if len(new_scores) else np.nan
        )
        # nothing passed before: the cutoff that passes nothing now (strictly beyond every score)
        return float(np.nextafter(edge, np.inf if larger_is_better else -np.inf)), 1.0, 1.0
    order = np.argsort(-new_scores if larger_is_better else new_scores, kind="stable")
    ordered = new_scores[order]
    in_old = np.isin(new_keys[order], old_keys)
    common = np.cumsum(in_old)
    taken = np.arange(1, len(order) + 1)
    # only cut after the last of a run of equal scores
    last_of_tie = np.append(ordered[1:] != ordered[:-1], True)
    jaccard = np.where(last_of_tie, common / (len(old_keys) + taken - common), -1.0)
    best = int(np.argmax(jaccard))
    return float(ordered[best]), float(jaccard[best]), float(common[best] / len(old_keys))


def remap(
    cutoffs: list[float],
    old_scores: np.ndarray,
    new_scores: np.ndarray,
    old_keys: np.ndarray,
    new_keys: np.ndarray,
    larger_is_better: bool,
) -> list[CutoffRemap]:
    """`*_scores` and `*_keys` are the flattened valid top-k results (key: query * n + doc)."""
    out = []
    for cutoff in cutoffs:
        kept_old = passes(old_scores, cutoff, larger_is_better)
        rate_old = float(kept_old.mean())
        rate_new = float(passes(new_scores, cutoff, larger_is_better).mean())
        by_set, jaccard, kept = set_cutoff(old_keys[kept_old], new_keys, new_scores, larger_is_better)
        out.append(
            CutoffRemap(
                cutoff=float(cutoff),
                pass_rate_old=rate_old,
                pass_rate_new=rate_new,
                quantile_cutoff=quantile_cutoff(new_scores, rate_old, larger_is_better),
                set_cutoff=by_set,
                set_jaccard=jaccard,
                set_kept=kept,
            )
        )
    return out


def cutoff_table(
    old_scores: np.ndarray, new_scores: np.ndarray, larger_is_better: bool, points: int = 21
) -> dict[str, list[float]]:
    """Old cutoff -> new cutoff over the whole old score range: old cutoffs at the old scores'
    quantiles 0, 1/(points-1), ..., 1; each with its old pass rate, the new cutoff keeping that
    rate and the pass rate the old cutoff would have under the new scores."""
    old_cutoffs = np.quantile(old_scores, np.linspace(0.0, 1.0, points))
    rates = [float(passes(old_scores, c, larger_is_better).mean()) for c in old_cutoffs]
    return {
        "old_cutoff": [float(c) for c in old_cutoffs],
        "pass_rate_old": rates,
        "new_cutoff": [quantile_cutoff(new_scores, r, larger_is_better) for r in rates],
        "pass_rate_new_at_old_cutoff": [
            float(passes(new_scores, c, larger_is_better).mean()) for c in old_cutoffs
        ],
    }


def score_shift(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> dict[str, Any]:
    """PSI (undertow's quantile bins from the old scores, open outer edges) of top-1 and top-k."""
    out: dict[str, Any] = {}
    for key in ("top1", "topk"):
        if len(old[key]) < 10 or len(new[key]) < 10:
            out[f"psi_{key}"] = None
            continue
        out[f"psi_{key}"] = psi(old[key], new[key], bins=10).value
        for side, values in (("old", old[key]), ("new", new[key])):
            out[f"{key}_{side}_quantiles"] = {
                str(q): float(v)
                for q, v in zip((0.1, 0.5, 0.9), np.quantile(values, (0.1, 0.5, 0.9)), strict=True)
            }
    return out
