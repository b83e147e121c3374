"""One accumulator shared by threads.

An accumulator's update runs its Rust kernel with the GIL released, and some updates stage a copy
of the state and swap it in afterwards; two threads on one accumulator would then lose rows (one
swap overwrites the other) or meet PyO3's "Already borrowed". Every method that reads or writes the
state therefore holds the accumulator's own lock: concurrent calls are serialized and every update
counts. Updates of *different* accumulators still run in parallel, which is the fast way to use
threads (one accumulator per thread, then merge).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def lock_of(accumulator: Any) -> threading.RLock:
    """The accumulator's lock, made on first use (so `__reduce__`/`from_bytes` need not know it).
    Re-entrant: a locked method may call another (merge calls to_bytes on a self-merge)."""
    lock = accumulator.__dict__.get("_lock")
    if lock is None:
        # dict.setdefault is atomic, so two threads racing here end up with the same lock
        lock = accumulator.__dict__.setdefault("_lock", threading.RLock())
    return lock


def locked(method: F) -> F:
    """Runs `method` holding its accumulator's lock."""

    @wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock_of(self):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextmanager
def both_locked(first: Any, second: Any) -> Iterator[None]:
    """Both accumulators' locks, taken in one global order (by id), so that `a.merge(b)` and
    `b.merge(a)` in two threads cannot deadlock. The same accumulator twice is locked once."""
    a, b = sorted((first, second), key=id)
    with lock_of(a):
        if b is a:
            yield
            return
        with lock_of(b):
            yield
