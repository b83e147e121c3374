"""Shared by the embedding calibration scripts: corpus loading and the binomial band."""

from __future__ import annotations

import json
import os

import numpy as np


def load_corpus(spec: str) -> tuple[str, np.ndarray, np.ndarray | None]:
    """``NAME=PATH:KEY`` -> (name, float64 unit rows, labels or None). PATH is an .npz (KEY an
    array in it) or a .parquet file (KEY a vector column); labels come from a ``category``
    array/column when there is one (for topic changes)."""
    name, _, rest = spec.partition("=")
    path, _, key = rest.rpartition(":")
    if not path:
        raise SystemExit(f"corpus {spec!r}: expected NAME=PATH:KEY")
    labels = None
    if path.endswith(".npz"):
        data = np.load(path)
        x = np.asarray(data[key], dtype=np.float64)
        if key == "m2v" and "m2v_rows" in data:  # tests/data/sentences.npz: m2v for some rows
            rows = data["m2v_rows"]
            labels = np.asarray(data["category"])[rows] if "category" in data else None
        elif "category" in data:
            labels = np.asarray(data["category"])
    else:
        import polars as pl

        frame = pl.read_parquet(path)
        x = np.asarray(frame[key].to_numpy(), dtype=np.float64)
        if "category" in frame.columns:
            labels = frame["category"].to_numpy()
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return name, x, labels


def binomial_band(n: int, p: float, level: float = 0.99) -> tuple[float, float]:
    """The central `level` interval of Binomial(n, p) / n: rates outside it reject "the true
    rate is p" at 1 - level."""
    from scipy.stats import binom

    lo, hi = binom.interval(level, n, p)
    return float(lo) / n, float(hi) / n


def rate_interval(k: int, n: int, level: float = 0.99) -> tuple[float, float]:
    """Clopper-Pearson `level` interval of a rate k / n."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def write_json(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(rows, f, indent=1)
