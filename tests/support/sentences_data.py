"""The real sentence embeddings shipped with the tests (tests/data/sentences.npz, see its README).

Read relative to this file: the suite never depends on a path outside the clone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).parents[1] / "data" / "sentences.npz"


def unit_float32(vectors_f16: np.ndarray) -> np.ndarray:
    """float16 rows decoded and re-normalized in float64, returned as C-contiguous float32.

    The source vectors are unit-normalized float32; float16 rounding moves their norms by up to
    2.3e-4, which re-normalizing removes (the README's "unit-normalized" holds again to float32).
    """
    x = vectors_f16.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def load_sentences() -> dict[str, np.ndarray]:
    """ids, source, category, minilm (every row) and m2v (the python-docs rows, m2v_rows)."""
    with np.load(DATA, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["minilm_f16"] = out["minilm"]
    out["minilm"] = unit_float32(out["minilm"])
    out["m2v"] = unit_float32(out["m2v"])
    return out
