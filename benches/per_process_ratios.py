"""Per-process ratios of two builds of `ut.psi` (compare_builds.py's child, alternating builds
in fresh processes): the fit against the read pass of the expected side, and psi's share of the
read rate of both arrays, one value per process.

    python benches/per_process_ratios.py OLD_PYTHON_DIR NEW_PYTHON_DIR [n] [processes] [rounds]

On a VM the read pass moves with the process (the page layout numpy's arrays get), so a target
stated in read passes is a distribution over processes: this prints it, and its median.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

from _alternate import alternate  # noqa: E402


def main() -> None:
    old, new = sys.argv[1], sys.argv[2]
    n = int(float(sys.argv[3])) if len(sys.argv) > 3 else 10**7
    processes = int(sys.argv[4]) if len(sys.argv) > 4 else 9
    rounds = sys.argv[5] if len(sys.argv) > 5 else "15"
    script = str(BENCHES / "compare_builds.py")
    found = alternate(script, {"old": old, "new": new}, [str(n), rounds], processes)
    print(f"n = {n:,} per side, {processes} processes per build, {rounds} rounds each")
    for name, runs in found.items():
        fit = [r["fit"] / r["read1"] for r in runs]
        share = [r["read2"] / r["psi"] for r in runs]
        fit_ms = ", ".join(f"{r['fit'] * 1e3:.1f}" for r in runs)
        read_ms = ", ".join(f"{r['read1'] * 1e3:.2f}" for r in runs)
        print(
            f"{name}: fit / read pass of expected {statistics.median(fit):.2f} "
            f"(per process {', '.join(f'{x:.2f}' for x in fit)}); psi share of the read rate "
            f"{statistics.median(share):.2f} ({', '.join(f'{x:.2f}' for x in share)}); "
            f"fit ms {fit_ms}; read pass ms {read_ms}"
        )


if __name__ == "__main__":
    main()
