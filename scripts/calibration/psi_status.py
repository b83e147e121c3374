"""Calibration of PSI's status against sampling noise (docs/calibration_psi.md).

Null designs: reference and actual drawn from one distribution, so every non-"stable" status is
a false alarm. For each design it prints the old status's false-alarm rate (thresholds only,
``status_threshold``), the new status's (threshold and p <= alpha) with its 99% Clopper-Pearson
interval, the p-value quantiles (uniform under the null: q01 ~ 0.01, q50 ~ 0.5), the mean PSI
against its noise floor, and how often the Monte-Carlo test was used. Then the power of both
statuses under a planted shift of the mean.

    PYTHONPATH=python python scripts/calibration/psi_status.py --replicates 2000

Deterministic for a seed (default 0). Takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

import undertow as ut

Draw = Callable[[np.random.Generator, int], np.ndarray]


@dataclass
class Design:
    name: str
    n: int
    m: int
    draw: Draw
    categorical: bool = False
    nan_policy: str = "raise"


def normal(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.normal(size=size)


def ties(rng: np.random.Generator, size: int) -> np.ndarray:
    # heavy ties: Poisson(2) has ~6 common values, so 10 quantile edges collapse to ~5 bins
    return rng.poisson(2.0, size=size).astype(np.float64)


_CATEGORY_P = 1.0 / np.arange(1, 21) ** 1.2
_CATEGORY_P /= _CATEGORY_P.sum()


def categories(rng: np.random.Generator, size: int) -> np.ndarray:
    # 20 Zipf-like categories: the rarest (p = 0.01) is often absent from one side or the
    # other, so unseen categories and sparse cells (the Monte-Carlo test) occur
    return rng.choice(20, size=size, p=_CATEGORY_P).astype(np.int64)


def with_missing(rng: np.random.Generator, size: int) -> np.ndarray:
    values = rng.normal(size=size)
    values[rng.random(size) < 0.05] = np.nan
    return values


DESIGNS = [
    Design("numeric, n = m = 100", 100, 100, normal),
    Design("numeric, n = 100,000, m = 100", 100_000, 100, normal),
    Design("numeric, n = m = 10,000", 10_000, 10_000, normal),
    Design("numeric, n = 100,000, m = 200", 100_000, 200, normal),
    Design("categorical (20 Zipf), n = m = 200", 200, 200, categories, categorical=True),
    Design("heavy ties (Poisson 2), n = m = 300", 300, 300, ties),
    Design("5% missing, nan_policy='bin', n = m = 300", 300, 300, with_missing, nan_policy="bin"),
]


def one_result(design: Design, rng: np.random.Generator, alpha: float, shift: float = 0.0) -> ut.PsiResult:
    expected = design.draw(rng, design.n)
    actual = design.draw(rng, design.m) + shift
    categorical = ["x"] if design.categorical else None
    ref = ut.Reference.fit({"x": expected}, bins=10, categorical=categorical, nan_policy=design.nan_policy)
    return ref.psi({"x": actual}, alpha=alpha)["x"]


def interval(count: int, total: int) -> tuple[float, float]:
    ci = stats.binomtest(count, total).proportion_ci(confidence_level=0.99, method="exact")
    return ci.low, ci.high


def null_table(replicates: int, alpha: float, seed: int) -> list[str]:
    lo, hi = stats.binom.interval(0.99, replicates, alpha)
    lines = [
        f"Null designs: {replicates} replicates each, alpha = {alpha}, 10 bins requested; the "
        f"99% band of a rate of exactly alpha over {replicates} replicates is "
        f"[{lo / replicates:.4f}, {hi / replicates:.4f}].",
        "",
        "| design | bins (mean) | mean PSI | noise floor | ratio | old status: false alarms "
        "| new status: false alarms [99% CI] | p <= alpha | p-value q01 / q10 / q50 | Monte-Carlo |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, design in enumerate(DESIGNS):
        rng = np.random.default_rng([seed, number])
        results = [one_result(design, rng, alpha) for _ in range(replicates)]
        old = sum(r.status_threshold != "stable" for r in results)
        new = sum(r.status != "stable" for r in results)
        p_values = np.array([r.p_value for r in results])
        rejected = int(np.count_nonzero(p_values <= alpha))
        psi = np.array([r.value for r in results])
        floor = np.array([r.noise_floor for r in results])
        bins = np.mean([np.count_nonzero(r.expected_counts) for r in results])
        monte_carlo = sum(r.p_value_method == "monte_carlo" for r in results) / replicates
        low, high = interval(new, replicates)
        q = np.quantile(p_values, [0.01, 0.1, 0.5])
        lines.append(
            f"| {design.name} | {bins:.1f} | {psi.mean():.4f} | {floor.mean():.4f} | "
            f"{psi.mean() / floor.mean():.3f} | {old / replicates:.3f} | "
            f"{new / replicates:.4f} [{low:.4f}, {high:.4f}] | {rejected / replicates:.4f} | "
            f"{q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f} | {monte_carlo:.2f} |"
        )
    return lines


def power_table(replicates: int, alpha: float, seed: int) -> list[str]:
    # a mean shift of d standard deviations has PSI ~ d^2 for 10 quantile bins of a normal:
    # d = 0.32 is a true PSI of about 0.1, the "moderate" threshold
    lines = [
        "",
        f"Power: reference N(0, 1), actual N(d, 1), {replicates} replicates each; the share of "
        "windows not 'stable'.",
        "",
        "| n | m | shift d | mean PSI | old status | new status |",
        "|---|---|---|---|---|---|",
    ]
    cases = [(100_000, m, d) for m in (100, 200, 500) for d in (0.32, 0.5)] + [(100, 100, 0.5)]
    for number, (n, m, d) in enumerate(cases):
        rng = np.random.default_rng([seed, 100 + number])
        design = Design("", n, m, normal)
        results = [one_result(design, rng, alpha, shift=d) for _ in range(replicates)]
        old = sum(r.status_threshold != "stable" for r in results) / replicates
        new = sum(r.status != "stable" for r in results) / replicates
        psi = np.mean([r.value for r in results])
        lines.append(f"| {n:,} | {m:,} | {d} | {psi:.3f} | {old:.3f} | {new:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicates", type=int, default=2000, help="null replicates per design (>= 1000)")
    parser.add_argument("--power-replicates", type=int, default=500, help="replicates per power case")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    lines = null_table(args.replicates, args.alpha, args.seed)
    lines += power_table(args.power_replicates, args.alpha, args.seed)
    print("\n".join(lines))
    print(f"\n({time.perf_counter() - start:.0f} s, undertow {ut.__version__}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
