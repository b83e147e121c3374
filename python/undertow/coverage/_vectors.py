"""Rows as unit vectors (coverage is cosine similarity), checked: NaN, inf and zero rows are
errors naming the first bad row. Each row is normalized on its own (its float64 norm from the
Rust kernel), so a row gets the same unit vector whatever batch it arrives in."""

from __future__ import annotations

import numpy as np

from undertow import _core
from undertow._core import UndertowError


def unit_rows(x: np.ndarray, argument: str, offset: int = 0) -> np.ndarray:
    """`x` (C-contiguous float32/float64) with every row scaled to norm 1, in x's dtype."""
    norms = _core.row_norms(x)
    bad = ~np.isfinite(norms)
    if bad.any():
        first = int(np.flatnonzero(bad)[0]) + offset
        raise UndertowError(f"{argument}: {int(bad.sum())} rows hold NaN or inf (the first: row {first})")
    zero = norms == 0
    if zero.any():
        first = int(np.flatnonzero(zero)[0]) + offset
        raise UndertowError(
            f"{argument}: {int(zero.sum())} rows are zero vectors, whose cosine similarity is "
            f"undefined (the first: row {first})"
        )
    return np.ascontiguousarray(x / norms[:, None], dtype=x.dtype)


def cosine_to_assigned(x_unit: np.ndarray, targets: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """Cosine of each unit row with its assigned unit target, from the exact float64 squared
    distance of the pair (1 - d^2 / 2): per row, so independent of how rows were batched."""
    d2 = _core.assigned_distances(x_unit, np.ascontiguousarray(targets, dtype=np.float32), assigned)
    return 1.0 - 0.5 * d2
