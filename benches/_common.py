"""Sizes, data, and the results shared by the benchmarks and the summary in conftest.py."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

MATRIX_COLUMNS = 100


def _is_quick() -> bool:
    return os.environ.get("UNDERTOW_BENCH_QUICK", "").strip() not in ("", "0")


def _parse_size(text: str) -> int:
    value = float(text)
    if value < 1 or value != int(value):
        raise pytest.UsageError(f"UNDERTOW_BENCH_SIZES: {text!r} is not a positive integer")
    return int(value)


#: Sizes below this are gated on their ratio to numpy only: their read passes take microseconds
#: and the call's fixed costs dominate, so a share of the read rate says nothing there.
SMALL = 2**16


def bench_sizes() -> list[int]:
    if _is_quick():
        # 2^21: above the one-pass quantile fit's minimum (select.rs, `min_len`), whether or not
        # 1e6 is; its floors were recorded on that fit. 1,000: the small-input path (quantile.rs,
        # `SMALL_INPUT`) and the per-call costs, which a feature-by-cohort job pays per call.
        return [1000, 10**6, 2**21]
    raw = os.environ.get("UNDERTOW_BENCH_SIZES", "1e7,1e8")
    return [_parse_size(part) for part in raw.split(",") if part.strip()]


def matrix_rows() -> int:
    raw = os.environ.get("UNDERTOW_BENCH_MATRIX_ROWS")
    if raw:
        return _parse_size(raw)
    return 10**5 if _is_quick() else 10**6


def matrix_row_sizes() -> list[int]:
    """The matrices of test_bench_psi: quick mode adds 1,000 rows (`state.rs`, `fit_small_rows`)."""
    small = _is_quick() and "UNDERTOW_BENCH_MATRIX_ROWS" not in os.environ
    return [1000, matrix_rows()] if small else [matrix_rows()]


def size_label(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"1e{exponent}" if 10**exponent == n else str(n)


def is_big(n: int) -> bool:
    """The numpy versions take ~10 s at 1e8 values per side: one round from 1e8 on."""
    return n >= 10**8


# ---------------------------------------------------------------------------------------------
# Results shared with the summary


@dataclass
class Entry:
    median_s: float
    values: int  # values read by one call (both sides)
    rounds: int

    @property
    def rate(self) -> float:
        return self.values / self.median_s


@dataclass
class Group:
    title: str
    entries: dict[str, Entry] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


RESULTS: dict[str, Group] = {}


def record(benchmark: Any, group: str, title: str, name: str, values: int) -> Entry | None:
    """Stores the median of the benchmark just run and writes the rate to extra_info."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: the function ran once, untimed
        return None
    median = float(stats.stats.median)
    entry = Entry(median_s=median, values=values, rounds=int(stats.stats.rounds))
    RESULTS.setdefault(group, Group(title)).entries[name] = entry
    benchmark.extra_info["ratio_group"] = group  # read by benches/harness.py
    benchmark.extra_info["entry"] = name
    benchmark.extra_info["values"] = values
    benchmark.extra_info["median_s"] = median
    benchmark.extra_info["values_per_s"] = entry.rate
    return entry


def interleaved(benchmark: Any, baseline: Callable[[], Any]) -> tuple[Callable[[], None], list[float]]:
    """A `setup` for `benchmark.pedantic` that runs `baseline` once before each round and keeps
    its times. For calls of a fraction of a millisecond the VM's speed drifts more between the
    two benchmarks' minutes than the ratio itself moves; timed round for round, both medians
    come from the same minutes. Store the result with `keep_baseline`."""
    times: list[float] = []

    def setup() -> None:
        start = time.perf_counter()
        baseline()
        times.append(time.perf_counter() - start)

    return setup, times


def keep_baseline(benchmark: Any, times: list[float]) -> None:
    """The interleaved baseline's median, read by benches/harness.py (`baseline_median_s`)."""
    if times and getattr(benchmark, "stats", None) is not None:
        benchmark.extra_info["baseline_median_s"] = float(np.median(times))


def note(group: str, title: str, key: str, value: Any) -> None:
    RESULTS.setdefault(group, Group(title)).notes[key] = value


# ---------------------------------------------------------------------------------------------
# Data


def make_pair(n: int, seed: int = 20240601) -> tuple[np.ndarray, np.ndarray]:
    """expected ~ N(0, 1), actual ~ N(0.1, 1.1), float32, C-contiguous (PSI about 0.02)."""
    rng = np.random.default_rng(seed)
    expected = rng.standard_normal(n, dtype=np.float32)
    actual = rng.standard_normal(n, dtype=np.float32)
    actual *= np.float32(1.1)  # in place: no temporary of the input's size
    actual += np.float32(0.1)
    return expected, actual


def make_matrices(rows: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Two C-ordered rows x 100 float32 matrices; column j of the current one is shifted by
    j * 0.002 standard deviations, so the PSIs range from ~0 to ~0.04."""
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((rows, MATRIX_COLUMNS), dtype=np.float32)
    current = rng.standard_normal((rows, MATRIX_COLUMNS), dtype=np.float32)
    current += (np.arange(MATRIX_COLUMNS, dtype=np.float32) * np.float32(0.002))[None, :]
    return reference, current
