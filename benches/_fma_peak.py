"""The machine's float32 FMA peak, measured in this run.

`rust/core/examples/fma_peak.rs` runs a register-only FMA loop on every core at once, 256-bit and,
where the CPU has AVX-512, 512-bit: the peak is the better of the two (on an AVX-512 machine the
256-bit rate is half the peak, and a kernel that uses 512-bit FMAs would show over 100% of it).
It also measures `vpdpbusd` (AVX-512 VNNI, 64 int8 multiply-adds each), the instruction of the
exact search's int8 prefilter: `vnni_peak()`.
The clock /proc/cpuinfo reports is the nominal one (2,445 MHz on the reference VM) while the cores
run at their boost clock (about 2.9 GHz there): cores x MHz x 16 understated the peak by 16% and
so overstated every "share of peak" by as much. The nominal figure stays only as a fallback,
labelled so, when cargo cannot build the probe.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FMA_PER_CYCLE = 16  # AVX2: two 256-bit FMA units x 8 float32 lanes


def nominal_gfma() -> float:
    """cores x the clock /proc/cpuinfo reports x 16 FMA per cycle, in G FMA/s."""
    mhz = 0.0
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
    return len(os.sched_getaffinity(0)) * mhz * FMA_PER_CYCLE / 1e3


@functools.cache
def _probe() -> dict[str, float]:
    """The probe's lines as {name: G per second}; empty when cargo cannot run it."""
    cargo = shutil.which("cargo")
    if cargo is None:
        return {}
    run = subprocess.run(
        [cargo, "run", "--release", "-q", "-p", "undertow-core", "--example", "fma_peak"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    found = {}
    for line in run.stdout.splitlines():
        name, _, value = line.partition(" ")
        try:
            found[name] = float(value)
        except ValueError:
            continue
    return found


def fma_peak() -> tuple[float, str]:
    """(G FMA/s, how it was found): measured by the probe, else the nominal estimate."""
    measured = _probe().get("fma_peak_gfma", 0.0)
    if measured > 0:
        return measured, "measured in this run (rust/core/examples/fma_peak.rs)"
    return nominal_gfma(), "nominal (cpu MHz x cores x 16; the boost clock can be higher)"


def vnni_peak() -> float:
    """G int8 multiply-adds per second of `vpdpbusd` on every core, 0 without AVX-512 VNNI."""
    return _probe().get("vnni_peak_gmac", 0.0)
