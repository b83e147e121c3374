"""The benchmark gate: run the quick PSI benches, keep their medians and ratios, compare the
ratios with committed floors.

    python benches/harness.py [--json bench-results.json] [--floors benches/floors.json]
                              [--record] [--full]

* Runs ``pytest benches/test_bench_psi.py --benchmark-only`` (quick mode: 1,000, 1e6 and 2^21 values
  per side, 1,000 x 100 and 1e5 x 100 matrices, where the smallest sizes gate their ratio to numpy
  only; ``--full`` keeps the sizes of the environment) with pytest-benchmark's
  ``--benchmark-json``, then reduces it to medians and ratios measured in that same run:
  undertow against its baseline (the correct numpy version) and undertow's rate as a share of
  the read-pass rate of the same arrays. Ratios only: absolute times differ from machine to
  machine, ratios of two things timed side by side much less.
* Writes them to ``--json`` (the CI artifact), prints a markdown table, and appends it to
  ``$GITHUB_STEP_SUMMARY`` when that is set.
* Fails (exit 1) when a ratio falls below its floor: ``margin`` (0.5) x the ratio recorded in
  ``benches/floors.json``. A kernel made 3x slower trips it; a noisy shared runner (1.5x off)
  does not. ``--record`` rewrites the floors file from this run instead (see BENCHMARKS.md,
  "The benchmark gate").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import SMALL  # noqa: E402

DEFAULT_FLOORS = HERE / "floors.json"
MARGIN = 0.5


def run_benches(out: Path, full: bool) -> None:
    env = dict(os.environ)
    if not full:
        env["UNDERTOW_BENCH_QUICK"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(HERE / "test_bench_psi.py"),
        "--benchmark-only",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={out}",
    ]
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=env, cwd=HERE.parent, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"harness: the benches failed (exit {proc.returncode})")


def medians(raw: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """group -> entry -> {median_s, values} from pytest-benchmark's JSON (extra_info, see
    _common.record)."""
    groups: dict[str, dict[str, dict[str, float]]] = {}
    for bench in raw.get("benchmarks", []):
        info = bench.get("extra_info", {})
        group, entry = info.get("ratio_group"), info.get("entry")
        if group is None or entry is None:
            continue
        groups.setdefault(group, {})[entry] = {
            "median_s": float(bench["stats"]["median"]),
            "values": float(info["values"]),
        }
        if "baseline_median_s" in info:  # numpy timed round for round beside it (small calls)
            groups[group][entry]["baseline_median_s"] = float(info["baseline_median_s"])
    return groups


def _read(entries: dict[str, dict[str, float]]) -> dict[str, float] | None:
    reads = [e for k, e in entries.items() if k.startswith("read_pass")]
    return min(reads, key=lambda e: e["median_s"]) if reads else None


def _rate(e: dict[str, float]) -> float:
    return e["values"] / e["median_s"]


def _small(group: str) -> bool:
    """A group of small calls (fewer than 2^16 values per side, or per matrix 4 x that): its
    read pass takes microseconds, so only the ratios to numpy are gated."""
    kind, _, size = group.partition(":")
    values = int(size) * (100 if kind == "matrix" else 1)
    return values < (4 if kind == "matrix" else 1) * SMALL


def ratios(groups: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """Higher is better for every ratio."""
    out: dict[str, float] = {}
    for group, e in sorted(groups.items()):
        read = None if _small(group) else _read(e)
        if group.startswith("psi:"):
            ut, fit = e.get("undertow_psi"), e.get("undertow_fit_only")
            if ut and "baseline_median_s" in ut:
                out[f"{group}/psi_vs_numpy"] = ut["baseline_median_s"] / ut["median_s"]
            elif ut and "numpy_correct" in e:
                out[f"{group}/psi_vs_numpy"] = e["numpy_correct"]["median_s"] / ut["median_s"]
            if ut and read:
                out[f"{group}/psi_read_share"] = _rate(ut) / _rate(read)
            if fit and read:
                # one side's read pass / the fit of one side: 0.5 = the fit costs 2 read passes
                out[f"{group}/fit_read_share"] = _rate(fit) / _rate(read)
            if "undertow_count_only" in e and read:
                out[f"{group}/count_read_share"] = _rate(e["undertow_count_only"]) / _rate(read)
            fit64 = e.get("undertow_fit_float64")
            if fit64 and "baseline_median_s" in fit64:
                out[f"{group}/fit64_vs_numpy"] = fit64["baseline_median_s"] / fit64["median_s"]
            if fit64 and read:
                # float32 units per second (bytes / 4) against the float32 read pass
                out[f"{group}/fit64_read_share"] = _rate(fit64) / _rate(read)
            if "undertow_reference_psi" in e and read:
                out[f"{group}/ref_psi_read_share"] = _rate(e["undertow_reference_psi"]) / _rate(read)
        elif group.startswith("matrix:"):
            ut, fit = e.get("undertow_ref_psi"), e.get("undertow_fit")
            if ut and "baseline_median_s" in ut:
                out[f"{group}/ref_psi_vs_numpy"] = ut["baseline_median_s"] / ut["median_s"]
            elif ut and "numpy_psi_by_column" in e:
                out[f"{group}/ref_psi_vs_numpy"] = e["numpy_psi_by_column"]["median_s"] / ut["median_s"]
            if fit and "baseline_median_s" in fit:
                out[f"{group}/fit_vs_numpy"] = fit["baseline_median_s"] / fit["median_s"]
            elif fit and "numpy_fit_by_column" in e:
                out[f"{group}/fit_vs_numpy"] = e["numpy_fit_by_column"]["median_s"] / fit["median_s"]
            if ut and read:
                out[f"{group}/ref_psi_read_share"] = _rate(ut) / _rate(read)
            if fit and read:
                out[f"{group}/fit_read_share"] = _rate(fit) / _rate(read)
    return out


def compare(
    measured: dict[str, float], floors: dict[str, Any]
) -> list[tuple[str, float, float | None, bool]]:
    """(name, measured, floor, ok) per ratio; a floor with no measurement fails."""
    margin = float(floors.get("margin", MARGIN))
    recorded: dict[str, float] = floors.get("ratios", {})
    rows = []
    for name in sorted(set(measured) | set(recorded)):
        value = measured.get(name, float("nan"))
        floor = margin * recorded[name] if name in recorded else None
        ok = floor is None or (value == value and value >= floor)
        rows.append((name, value, floor, ok))
    return rows


def table(rows: list[tuple[str, float, float | None, bool]], groups: dict[str, Any]) -> str:
    lines = [
        "| ratio (higher is better) | measured | floor | |",
        "|---|---:|---:|---|",
    ]
    for name, value, floor, ok in rows:
        shown = "n/a" if floor is None else f"{floor:.3f}"
        lines.append(f"| `{name}` | {value:.3f} | {shown} | {'ok' if ok else '**BELOW FLOOR**'} |")
    lines += ["", "| group | entry | median (s) | values |", "|---|---|---:|---:|"]
    for group, entries in sorted(groups.items()):
        for entry, e in entries.items():
            lines.append(f"| {group} | {entry} | {e['median_s']:.5f} | {int(e['values']):,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="results file written")
    parser.add_argument("--floors", type=Path, default=DEFAULT_FLOORS)
    parser.add_argument("--record", action="store_true", help="rewrite the floors from this run")
    parser.add_argument("--full", action="store_true", help="the environment's sizes, not quick mode")
    parser.add_argument(
        "--from-json", type=Path, help="reduce an existing pytest-benchmark JSON, run nothing"
    )
    args = parser.parse_args(argv)

    if args.from_json is not None:
        raw = json.loads(args.from_json.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            raw_path = Path(tmp) / "raw.json"
            run_benches(raw_path, args.full)
            raw = json.loads(raw_path.read_text())
    groups = medians(raw)
    measured = ratios(groups)
    if args.record:
        args.floors.write_text(
            json.dumps({"margin": MARGIN, "ratios": {k: round(v, 3) for k, v in measured.items()}}, indent=2)
            + "\n"
        )
        print(f"harness: recorded {len(measured)} ratios in {args.floors}")
    floors = json.loads(args.floors.read_text()) if args.floors.exists() else {}
    rows = compare(measured, floors)
    failed = [r for r in rows if not r[3]]
    args.json.write_text(
        json.dumps(
            {
                "mode": "full" if args.full else "quick",
                "ratios": measured,
                "floors": {name: floor for name, _, floor, _ in rows if floor is not None},
                "medians": groups,
                "failed": [r[0] for r in failed],
            },
            indent=2,
        )
        + "\n"
    )
    text = table(rows, groups)
    print(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write("## Benchmark gate (ratios measured in one run)\n\n" + text)
    if failed:
        print(f"harness: {len(failed)} ratio(s) below their floor: {', '.join(r[0] for r in failed)}")
        return 1
    print(f"harness: {len(rows)} ratios at or above their floors (margin {floors.get('margin', MARGIN)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
