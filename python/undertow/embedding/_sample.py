"""A mergeable, batch-independent sample of rows: the `size` rows with the smallest keys, where
a row's key is a seeded hash of its bytes. Whatever the batches, files or merge order, the same
rows end up in the sample, so a streamed run samples exactly what a one-shot run samples."""

from __future__ import annotations

import numpy as np

from undertow import _core


def row_keys(matrix: np.ndarray, seed: int) -> np.ndarray:
    """uint64 key per row: a seeded multiply-add hash of the row's bit pattern (Rust)."""
    return _core.row_keys(matrix, seed)


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
