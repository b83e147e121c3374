"""One embedding accumulator shared by real threads (issue 10, item 3).

Every thread updates with the same batch, so the order in which the lock admits the threads
cannot change a single rounding: the shared accumulator must equal, bit for bit, one thread
doing all the updates. A lost update shows as a short row count, a missed lock as PyO3's
"Already borrowed" raised in a thread.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import undertow as ut

THREADS = 4
UPDATES = 30


def _hammer(work, threads: int = THREADS) -> None:
    """Runs `work(i)` in `threads` threads started together; re-raises the first error."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return rng.normal(size=(3000, 16)), rng.normal(size=(400, 16)) + 0.1


def test_covariance_updates_from_threads_all_count(data):
    _, batch = data
    shared, alone = ut.CovarianceAccumulator(16), ut.CovarianceAccumulator(16)
    _hammer(lambda i: [shared.update(batch) for _ in range(UPDATES)])
    for _ in range(THREADS * UPDATES):
        alone.update(batch)
    assert shared.n_samples == THREADS * UPDATES * len(batch)
    assert shared.to_bytes() == alone.to_bytes()


def test_rff_updates_from_threads_all_count(data):
    _, batch = data
    shared, alone = ut.RffAccumulator(16, 2.0, features=64), ut.RffAccumulator(16, 2.0, features=64)

    def work(i: int) -> None:
        for _ in range(UPDATES):
            (shared.update_x if i % 2 else shared.update_y)(batch)

    _hammer(work)
    for i in range(THREADS):
        for _ in range(UPDATES):
            (alone.update_x if i % 2 else alone.update_y)(batch)
    assert (shared.n_x, shared.n_y) == (2 * UPDATES * len(batch), 2 * UPDATES * len(batch))
    assert shared.to_bytes() == alone.to_bytes()


def test_embedding_accumulator_updates_from_threads_all_count(data):
    ref, batch = data
    drift = ut.EmbeddingDrift.fit(ref, components=4, sample=300, permutations=20)
    shared, alone = drift.accumulator(), drift.accumulator()
    _hammer(lambda i: [shared.update(batch) for _ in range(UPDATES // 3)])
    for _ in range(THREADS * (UPDATES // 3)):
        alone.update(batch)
    assert shared.rows == THREADS * (UPDATES // 3) * len(batch)
    assert shared.to_bytes() == alone.to_bytes()
    assert shared.finalize().to_dict() == alone.finalize().to_dict()


def _pair(kind: str, data):
    ref = data[0]
    if kind == "covariance":
        make = lambda: ut.CovarianceAccumulator(16)  # noqa: E731
        feed = lambda acc, m: acc.update(m)  # noqa: E731
    elif kind == "rff":
        make = lambda: ut.RffAccumulator(16, 2.0, features=32)  # noqa: E731
        feed = lambda acc, m: (acc.update_x(m), acc.update_y(m))  # noqa: E731
    else:
        drift = ut.EmbeddingDrift.fit(ref, components=4, sample=300, permutations=20)
        make = drift.accumulator
        feed = lambda acc, m: acc.update(m)  # noqa: E731
    return make, feed


@pytest.mark.parametrize("kind", ["covariance", "rff", "embedding"])
def test_crossed_merges_in_two_threads_neither_deadlock_nor_lose(kind, data):
    """a.merge(b) and b.merge(a) at once: both locks in one order, so no deadlock, and each
    side ends up with its own rows plus the other's (either before or after the other merge)."""
    _, batch = data
    make, feed = _pair(kind, data)
    a, b = make(), make()
    feed(a, batch)
    feed(b, batch)
    _hammer(lambda i: a.merge(b) if i == 0 else b.merge(a), threads=2)
    rows = {"covariance": "n_samples", "rff": "n_x", "embedding": "rows"}[kind]
    counted = sorted([getattr(a, rows), getattr(b, rows)])
    # one merge ran first (its target: 2 batches), the second saw that (3 batches)
    assert counted == [2 * len(batch), 3 * len(batch)]


@pytest.mark.parametrize("kind", ["covariance", "rff", "embedding"])
def test_self_merge_doubles_like_feeding_the_batches_twice(kind, data):
    _, batch = data
    make, feed = _pair(kind, data)
    merged, twice = make(), make()
    feed(merged, batch)
    merged.merge(merged)
    feed(twice, batch)
    copy = make()
    feed(copy, batch)
    twice.merge(copy)
    assert merged.to_bytes() == twice.to_bytes()
