"""The rotation bench's data (benches/test_bench_rotation.py, benches/compare_rotation_builds.py):
`rows` documents x 384 float32 unit vectors per encoder, the new encoder a random orthogonal
rotation of the old one plus noise (so the result lists are realistic), and `queries` queries."""

from __future__ import annotations

import numpy as np

DIM = 384


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def rotation_spaces(rows: int, queries: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    rotation, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    rotation = rotation.astype(np.float32)
    old = _unit(rng.standard_normal((rows, DIM), dtype=np.float32))
    new = np.empty_like(old)
    for start in range(0, rows, 65_536):  # no whole-matrix temporaries
        block = old[start : start + 65_536] @ rotation
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(0.02)
        new[start : start + 65_536] = _unit(block)
    q_old = _unit(rng.standard_normal((queries, DIM), dtype=np.float32))
    q_new = _unit(q_old @ rotation)
    return {"old": old, "new": new, "q_old": q_old, "q_new": q_new}
