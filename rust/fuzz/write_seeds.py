"""Writes the seed corpora of the decoder fuzz targets: small real states, one directory per
target (`python rust/fuzz/write_seeds.py rust/fuzz/seeds`). The committed seeds are its output."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import undertow as ut


def states() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    numeric = ut.Reference.fit({"a": np.arange(30.0), "b": rng.normal(size=30)}, bins=4)
    mixed = ut.Reference.fit(
        {"n": np.r_[np.arange(9.0), np.nan], "c": np.array(["p", "q", None, "p"] * 2 + ["r", "p"])},
        bins=3,
        categorical=["c"],
        nan_policy="bin",
    )
    acc = mixed.accumulator().update({"n": np.array([1.0, np.nan, 7.0]), "c": np.array(["p", "z", None])})
    cov = ut.CovarianceAccumulator(3)
    cov.update(x)
    rff = ut.RffAccumulator(2, 0.7, features=4, seed=5)
    rff.update_x(x[:20, :2])
    rff.update_y(x[20:, :2] + 1.0)
    return {
        "decode_psi_reference": [numeric.to_bytes(), mixed.to_bytes()],
        "decode_psi_accumulator": [numeric.accumulator().to_bytes(), acc.to_bytes()],
        "decode_covariance": [ut.CovarianceAccumulator(2).to_bytes(), cov.to_bytes()],
        "decode_pca": [cov.finalize(2).to_bytes()],
        "decode_rff": [ut.RffAccumulator(3, 1.0, features=2).to_bytes(), rff.to_bytes()],
    }


def main(root: Path) -> None:
    for target, seeds in states().items():
        (root / target).mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds):
            (root / target / f"seed{i}").write_bytes(seed)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
