"""A mergeable, batch-independent sample of rows: the `size` rows with the smallest keys, where
a row's key is a seeded hash of its bytes. Whatever the batches, files or merge order, the same
rows end up in the sample, so a streamed run samples exactly what a one-shot run samples."""

from __future__ import annotations

import numpy as np

_CHUNK = 8192
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def row_keys(matrix: np.ndarray, seed: int) -> np.ndarray:
    """uint64 key per row: a seeded multiply-add hash of the row's 32-bit words, then mixed."""
    words_per_row = matrix.shape[1] * matrix.dtype.itemsize // 4
    rng = np.random.default_rng([seed, 0x5A17])
    multipliers = rng.integers(1, 2**63, size=words_per_row, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    keys = np.empty(matrix.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, matrix.shape[0], _CHUNK):
            block = np.ascontiguousarray(matrix[start : start + _CHUNK]).view(np.uint32)
            block = block.reshape(-1, words_per_row)
            k = (block.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)
            k ^= k >> np.uint64(31)
            k *= np.uint64(0xBF58476D1CE4E5B9)
            k ^= k >> np.uint64(29)
            keys[start : start + _CHUNK] = k & _MASK
    return keys


def smallest(keys: np.ndarray, size: int) -> np.ndarray:
    """Indices of the `size` smallest keys, in key order (ties by index)."""
    if size >= len(keys):
        return np.lexsort((np.arange(len(keys)), keys))
    part = np.argpartition(keys, size - 1)[:size]
    return part[np.lexsort((part, keys[part]))]


def merge_samples(
    keys_a: np.ndarray, rows_a: np.ndarray, keys_b: np.ndarray, rows_b: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    keys = np.concatenate([keys_a, keys_b])
    rows = np.vstack([rows_a, rows_b])
    pick = smallest(keys, size)
    return keys[pick], rows[pick]
