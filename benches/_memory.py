"""Peak extra resident memory (RSS) of one call, for the benches.

Two measurements, the larger is reported:

* a background thread samples the process RSS (psutil) every millisecond during the call;
* on Linux, the kernel's own high-water mark (VmHWM in /proc/self/status) is reset before the
  call by writing "5" to /proc/self/clear_refs and read after it, which also catches a
  short-lived allocation that falls between two samples.

Both are "peak RSS during the call minus RSS just before it". Memory that the allocator had
already mapped and reuses would not show up as growth, so free heap memory is first handed back
to the kernel with glibc's malloc_trim(0) (all arenas, also those of the rayon worker threads)
where available. Allocations of more than 32 MiB are always fresh mappings in glibc, so a copy
of a large input cannot hide in any case.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

_PROCESS = psutil.Process()
_HWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)


@dataclass
class PeakRss:
    before_bytes: int
    sampled_extra_bytes: int  # from the 1 ms sampler
    hwm_extra_bytes: int | None  # from VmHWM, None where unavailable
    samples: int

    @property
    def extra_bytes(self) -> int:
        return max(self.sampled_extra_bytes, self.hwm_extra_bytes or 0)

    @property
    def extra_mb(self) -> float:
        return self.extra_bytes / 1e6


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _read_hwm() -> int | None:
    try:
        with open("/proc/self/status") as f:
            match = _HWM.search(f.read())
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def peak_rss_growth(fn: Callable[..., Any], *args: Any, interval: float = 0.001) -> tuple[Any, PeakRss]:
    """Calls fn(*args) once; returns its result and the peak extra RSS during the call."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    stop = threading.Event()
    started = threading.Event()
    peak = 0
    samples = 0

    def sample() -> None:
        nonlocal peak, samples
        started.set()
        while True:
            rss = _PROCESS.memory_info().rss
            samples += 1
            peak = max(peak, rss)
            if stop.wait(interval):
                return

    before = _PROCESS.memory_info().rss
    peak = before
    hwm_ok = _reset_hwm()
    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    started.wait()
    try:
        result = fn(*args)
    finally:
        stop.set()
        sampler.join()
    peak = max(peak, _PROCESS.memory_info().rss)
    hwm = _read_hwm() if hwm_ok else None
    return result, PeakRss(
        before_bytes=before,
        sampled_extra_bytes=max(0, peak - before),
        hwm_extra_bytes=None if hwm is None else max(0, hwm - before),
        samples=samples,
    )
