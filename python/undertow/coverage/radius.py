"""The coverage radius: how similar a production query must be to its nearest eval item to
count as covered.

The rule (``radius="auto"``): the `quantile` (default 0.1) of the eval items' similarity to
their nearest *other* eval item. Read it as "a query is covered when it is at least as close to
the suite as 90% of the suite's items are to their nearest sibling". It is a null-calibrated
rule: when the eval set is a random part of production, a held-out production query's nearest
eval similarity has (nearly) the distribution of an eval item's nearest-other-eval similarity,
so coverage is about ``1 - quantile`` (a little more: a query searches all n eval items, an eval
item only the other n - 1). Coverage well below ``1 - quantile`` therefore means production
holds queries the suite has nothing near. A number passed as `radius` overrides the rule.

Why 0.1: on the shared sentence embeddings (all-MiniLM-L6-v2; chatterbot small talk vs Python
reference docs) eval sets are sparse (the median chatterbot sentence's nearest other one has
similarity 0.61, its 5% quantile 0.39), and python-docs queries sit at 0.40 from their nearest
chatterbot sentence: quantile 0.05 called 55% of the docs traffic covered, 0.1 calls 41%
covered while a random half of production still reads 0.95 overall, 0.25 calls 13% covered but
leaves in-distribution traffic at 0.75. 0.1 keeps the headline number near 1 for a
representative suite and the gaps visible per cluster.
"""

from __future__ import annotations

import numpy as np

from undertow import _core
from undertow._core import UndertowError
from undertow.coverage._vectors import cosine_to_assigned

DEFAULT_QUANTILE = 0.1
_CHUNK = 4096


def nearest_other(eval_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, row) of every eval item's nearest other eval item (exact top-1)."""
    n = eval_unit.shape[0]
    rows = np.empty(n, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        own = np.arange(start, stop, dtype=np.int64)
        _, labels = _core.exact_topk(eval_unit, eval_unit[start:stop], 1, "ip", own)
        rows[start:stop] = labels[:, 0]
    return cosine_to_assigned(eval_unit, eval_unit, rows), rows


def auto_radius(eval_unit: np.ndarray, quantile: float) -> tuple[float, np.ndarray]:
    """The rule above: (radius, every eval item's nearest-other similarity)."""
    if eval_unit.shape[0] < 2:
        raise UndertowError(
            f"radius: the automatic rule needs at least 2 eval items, got {eval_unit.shape[0]}; pass radius="
        )
    sims, _ = nearest_other(eval_unit)
    return float(np.quantile(sims, quantile)), sims
