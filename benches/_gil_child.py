"""Child process of the GIL benchmark (run with RAYON_NUM_THREADS=1 by test_gil_two_threads).

Measures, on two independent pairs of float32 samples of n values each:

* one ut.psi call alone (median wall time);
* two Python threads calling ut.psi at once, one pair each (median wall time of both calls);
* a GIL probe: how many iterations a pure-Python loop in another thread gets through while the
  main thread is inside ut.psi, relative to the same loop while the main thread sleeps for the
  same time. About 1 means the call does not hold the GIL;
* the same one-vs-two-threads ratio for the two halves of ut.psi on their own: fitting the
  edges (ut.Reference.fit, quantile selection) and counting with fixed edges (ut.histogram with
  explicit edges), to tell a held GIL from work queued on the single rayon worker.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np

import undertow as ut


def make_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    expected = rng.standard_normal(n, dtype=np.float32)
    actual = rng.standard_normal(n, dtype=np.float32)
    actual *= np.float32(1.1)
    actual += np.float32(0.1)
    return expected, actual


def one_call(pair: tuple[np.ndarray, np.ndarray]) -> float:
    start = time.perf_counter()
    ut.psi(*pair)
    return time.perf_counter() - start


def two_threads(pairs: list[tuple[np.ndarray, np.ndarray]], call=None) -> float:
    call = call or (lambda pair: ut.psi(*pair))
    barrier = threading.Barrier(len(pairs) + 1)

    def work(pair: tuple[np.ndarray, np.ndarray]) -> None:
        barrier.wait()
        call(pair)

    threads = [threading.Thread(target=work, args=(p,)) for p in pairs]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def part_ratio(pairs: list[tuple[np.ndarray, np.ndarray]], call, repeats: int) -> float:
    """Median wall time of two threads running call(pair) at once over one call alone."""
    call(pairs[0])

    def once() -> float:
        start = time.perf_counter()
        call(pairs[0])
        return time.perf_counter() - start

    single = median([once() for _ in range(repeats)])
    return median([two_threads(pairs, call) for _ in range(repeats)]) / single


def spin_rate(main_work) -> float:
    """Iterations per second of a pure-Python loop in a second thread while main_work() runs."""
    stop = threading.Event()
    count = 0

    def spin() -> None:
        nonlocal count
        k = 0
        while not stop.is_set():
            k += 1
        count = k

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.01)  # let the spinner reach its loop
    start = time.perf_counter()
    main_work()
    elapsed = time.perf_counter() - start
    stop.set()
    spinner.join()
    # The spinner ran a little longer than main_work (start-up and join); both probes share
    # the same overhead, so the ratio of the two rates is what matters.
    return count / elapsed


def main() -> None:
    n = int(float(sys.argv[1]))
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    pairs = [make_pair(n, 1), make_pair(n, 2)]
    ut.psi(*pairs[0])  # warm up (thread pool, page faults of the outputs)
    single = sorted(one_call(pairs[0]) for _ in range(repeats))
    concurrent = sorted(two_threads(pairs) for _ in range(repeats))
    single_median = single[len(single) // 2]
    concurrent_median = concurrent[len(concurrent) // 2]

    calls = max(3, int(0.3 / max(single_median, 1e-4)))

    def busy() -> None:
        for _ in range(calls):
            ut.psi(*pairs[0])

    busy_rate = spin_rate(busy)
    idle_rate = spin_rate(lambda: time.sleep(calls * single_median))

    edges = ut.psi(*pairs[0]).edges[1:-1]
    fit_ratio = part_ratio(pairs, lambda pair: ut.Reference.fit({"x": pair[0]}), repeats)
    count_ratio = part_ratio(pairs, lambda pair: ut.histogram(pair[1], bins=edges), repeats)
    print(
        json.dumps(
            {
                "n": n,
                "rayon_num_threads": os.environ.get("RAYON_NUM_THREADS"),
                "single_median_s": single_median,
                "concurrent_median_s": concurrent_median,
                "concurrent_over_single": concurrent_median / single_median,
                "gil_probe_busy_over_idle": busy_rate / idle_rate,
                "fit_concurrent_over_single": fit_ratio,
                "count_concurrent_over_single": count_ratio,
                "single_all_s": single,
                "concurrent_all_s": concurrent,
            }
        )
    )


if __name__ == "__main__":
    main()
