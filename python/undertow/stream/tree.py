"""The reduction tree: leaves merged in consecutive groups of `split_every`, level by level, in a
fixed order, so `scan` (one leaf at a time, `TreeReducer`) and `undertow.dask` (`tree_shape`,
`merge_group`) add the same floating-point sums in the same order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from undertow._args import check_split_every
from undertow._core import UndertowError

DEFAULT_SPLIT_EVERY = 8


def merge_group(accumulators: Sequence[Any]) -> Any:
    """Left fold of a group: ``copy(a0).merge(a1)...merge(ak)``. The first is copied through
    its bytes, so inputs are never mutated (a dask task may be retried with the same inputs)."""
    if len(accumulators) == 1:
        return accumulators[0]
    first = accumulators[0]
    out = type(first).from_bytes(first.to_bytes())
    for other in accumulators[1:]:
        out.merge(other)
    return out


def tree_shape(n: int, split_every: int) -> list[list[range]]:
    """The levels of the reduction tree over n leaves: level by level, consecutive groups of
    `split_every` (the last group may be smaller) until one node is left."""
    levels = []
    while n > 1:
        groups = [range(i, min(i + split_every, n)) for i in range(0, n, split_every)]
        levels.append(groups)
        n = len(groups)
    return levels


class TreeReducer:
    """The reduction tree of `tree_shape`, fed one leaf at a time: the same groups in the same
    order (so the same floating-point result), with O(split_every x depth) accumulators alive."""

    def __init__(self, split_every: int = DEFAULT_SPLIT_EVERY) -> None:
        self.split_every = check_split_every(split_every)
        self._levels: list[list[Any]] = []
        self.leaves = 0

    def push(self, accumulator: Any) -> None:
        self.leaves += 1
        self._push(accumulator, 0)

    def _push(self, accumulator: Any, level: int) -> None:
        while len(self._levels) <= level:
            self._levels.append([])
        self._levels[level].append(accumulator)
        if len(self._levels[level]) == self.split_every:
            group, self._levels[level] = self._levels[level], []
            self._push(_merge_in_place(group), level + 1)

    def result(self) -> Any:
        if not self.leaves:
            raise UndertowError("source: has no data (no files, fragments or batches)")
        for level in range(len(self._levels)):
            items = self._levels[level]
            if not items:
                continue
            higher = any(self._levels[h] for h in range(level + 1, len(self._levels)))
            merged = _merge_in_place(items)
            self._levels[level] = []
            if not higher:
                return merged
            self._levels[level + 1].append(merged)
        raise AssertionError("unreachable")  # pragma: no cover


def _merge_in_place(group: list[Any]) -> Any:
    # The reducer owns its accumulators: fold into the first without copying (same arithmetic
    # as merge_group).
    out = group[0]
    for other in group[1:]:
        out.merge(other)
    return out
