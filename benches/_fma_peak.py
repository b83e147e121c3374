"""The machine's float32 FMA peak, measured in this run.

`rust/core/examples/fma_peak.rs` runs a register-only 256-bit FMA loop on every core at once.
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
def fma_peak() -> tuple[float, str]:
    """(G FMA/s, how it was found): measured by the probe, else the nominal estimate."""
    cargo = shutil.which("cargo")
    if cargo is not None:
        run = subprocess.run(
            [cargo, "run", "--release", "-q", "-p", "undertow-core", "--example", "fma_peak"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        for line in run.stdout.splitlines():
            name, _, value = line.partition(" ")
            if name == "fma_peak_gfma" and float(value) > 0:
                return float(value), "measured in this run (rust/core/examples/fma_peak.rs)"
    return nominal_gfma(), "nominal (cpu MHz x cores x 16; the boost clock can be higher)"
