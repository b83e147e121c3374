"""Embedding drift (docs/embedding_api.md) beside numpy, scikit-learn and alibi-detect, in one run.

Run (add UNDERTOW_BENCH_QUICK=1 for the small sizes):

    python -m pytest benches/test_bench_embedding.py --benchmark-only -q

Groups (each undertow benchmark runs beside its baselines in the same session; the ratios, the
memory and the cross-checks are in each benchmark's extra_info and in the summary at the end):

1. emb-cosine  `ut.cosine_drift(reference, current)` on two rows x 384 float32 matrices
   (synthetic, see make_embeddings) beside `numpy_cosine_drift` (float64, block by block, the
   reference read twice like undertow must) and two read passes over both matrices. Reported:
   time / numpy, and undertow's rate as a share of the read-pass rate two ways:
   * "share of read rate (input bytes)"  = (bytes of reference + current) / undertow's time /
     read rate = read-pass time / undertow's time: how close the call is to one read of its input;
   * "share of read rate (bytes actually read)" = (2 x reference + current bytes) / undertow's
     time / read rate: the contract needs the reference twice (the centroid, then each row's
     cosine to it), so 1.0 here means every pass it must make runs at the read rate.
2. emb-pca  `ut.PCA.fit(reference, components=32)` beside scikit-learn's
   PCA(n_components=32, svd_solver="randomized") and numpy float64 covariance + eigh (block by
   block); the principal angles to the numpy result and the explained variances are checked.
3. emb-mmd  `ut.mmd(x, y, permutations=100)` (exact, RBF kernel, median bandwidth) on n + n x 384
   float32 (synthetic) beside numpy's full (2n)^2 float64 kernel matrix permuted 100 times the way
   alibi-detect does it (`numpy_mmd_permute`), the same test with all permutations in one matrix
   product (`numpy_mmd_batched`), and alibi-detect's MMDDrift itself in a subprocess
   (benches/_alibi_child.py, run by a separate virtualenv's python, float32 as alibi computes),
   given undertow's bandwidth. Peak extra memory of undertow (target < 200 MB). In the full
   mode also n = 20,000 (target: under a minute), undertow only: the numpy kernel matrix would be
   12.8 GB there (and alibi's permuted copies three times that in float32).
4. emb-rff  `ut.mmd(x, y, estimator="rff")` over n + n x 32 float32 (synthetic, shaped like PCA
   projections) beside `numpy_rff_mmd` (the same features statistic and Hotelling test in numpy,
   float64, block by block; its random W is numpy's, so values agree only statistically).
5. emb-real  `ut.EmbeddingDrift.fit(python-docs).compare(chatterbot)` on the real minilm
   sentence embeddings of tests/data/sentences.npz (2,403 vs 1,901 rows, float16) beside
   `numpy_embedding_drift` (the same steps as undertow's implementation, held-out reference rows
   included, with numpy/scipy/scikit-learn). Only the cosine statistics are compared exactly: the
   held-out and sampled rows are drawn differently, so the rest agrees only statistically.

Environment (besides UNDERTOW_BENCH_QUICK):

* UNDERTOW_BENCH_EMB_ROWS   rows per side for groups 1-2 (default 1e6, quick 1e5);
* UNDERTOW_BENCH_MMD_SIZES  rows per side for group 3, comma-separated (default "5000,20000",
  quick "1000");
* UNDERTOW_BENCH_MMD_BASELINE_MAX  largest n + m for the numpy kernel-matrix baselines and
  alibi-detect (default 20000: a 3.2 GB float64 matrix);
* UNDERTOW_BENCH_RFF_ROWS   rows per side for group 4 (default 1e6, quick 1e5);
* UNDERTOW_BENCH_ALIBI_PYTHON  python of the virtualenv with alibi-detect (default
  /work/venvs/alibi/bin/python); when missing or broken, the alibi benchmark says so in its
  extra_info and in the summary (it is never replaced by something else);
* UNDERTOW_BENCH_SENTENCES  the data of group 5: the test data tests/data/sentences.npz (default)
  or a sentences.parquet with float32 vectors (tests/data/README.md); skipped when absent.

alibi-detect (its own virtualenv: it needs numpy < 2 and tensorflow < 2.19; the plain
`tensorflow-cpu` 2.21 wheel fails alibi's import, it wants the [tensorflow] extra):

    python -m venv /work/venvs/alibi
    /work/venvs/alibi/bin/pip install "alibi-detect[tensorflow]==0.13.0"   # tensorflow 2.18.1

The alibi figure compared is the child's MMDDrift(...) + predict time (imports excluded); alibi
computes in float32 and its p-value is the share of permuted statistics >= the observed one
(no +1), so its p differs from undertow's (1 + #) / (1 + permutations) by design.

Cross-checks (recorded in extra_info before any assertion, so a failing check still leaves the
timing in the summary): cosine statistics to 1e-9 relative / 1e-12 absolute (the contract); PCA
principal angles < 1e-6 rad and explained variances to 1e-9; exact MMD^2 vs numpy float64 with
undertow's bandwidth: to 1e-9 for the same values given as float64, and for the float32 input
itself (float32 kernel) within the contract's 1e-5 |value| + 1e-6; its relative difference is
reported.

Memory: peak extra RSS as in benches/_memory.py. Calls that are timed once (the slow baselines,
undertow at 20,000 + 20,000) are measured in that same call, i.e. with the 1 ms RSS sampler
thread running beside the timed call; the others in one extra call after the timing.

The undertow benchmarks skip (with the reason) while a function of the contract is missing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _embedding_baselines as bl
import numpy as np
import pytest
from _common import RESULTS, _is_quick, note, record, size_label
from _memory import PeakRss, peak_rss_growth

import undertow as ut

DIM = 384
COMPONENTS = 32
MMD_PERMUTATIONS = 100
RFF_DIM = 32
REAL_PERMUTATIONS = 200  # EmbeddingDrift's default
REL_TOL = 1e-9
ABS_TOL = 1e-12
MMD_MEMORY_TARGET_MB = 200.0
MMD_TIME_TARGET_S = 60.0  # 20,000 + 20,000

DEFAULT_ALIBI_PYTHON = "/work/venvs/alibi/bin/python"
DEFAULT_SENTENCES = Path(__file__).parents[1] / "tests/data/sentences.npz"

# ---------------------------------------------------------------------------------------------
# Sizes


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = float(raw)
    if value < 2 or value != int(value):
        raise pytest.UsageError(f"{name}: {raw!r} is not an integer >= 2")
    return int(value)


def emb_rows() -> int:
    return _env_int("UNDERTOW_BENCH_EMB_ROWS", 10**5 if _is_quick() else 10**6)


def rff_rows() -> int:
    return _env_int("UNDERTOW_BENCH_RFF_ROWS", 10**5 if _is_quick() else 10**6)


def mmd_sizes() -> list[int]:
    raw = os.environ.get("UNDERTOW_BENCH_MMD_SIZES", "").strip()
    if not raw:
        return [1000] if _is_quick() else [5000, 20000]
    sizes = []
    for part in raw.split(","):
        if part.strip():
            value = float(part)
            if value < 2 or value != int(value):
                raise pytest.UsageError(f"UNDERTOW_BENCH_MMD_SIZES: {part!r} is not an integer >= 2")
            sizes.append(int(value))
    return sizes


def mmd_baseline_max() -> int:
    return _env_int("UNDERTOW_BENCH_MMD_BASELINE_MAX", 20000)


def _label(n: int) -> str:
    return size_label(n) if n >= 10**5 else f"{n:,}"


# ---------------------------------------------------------------------------------------------
# Data


def make_embeddings(
    n: int, seed: int, drift: float = 0.0, dim: int = DIM, factors: int = 48, block: int = 65536
) -> np.ndarray:
    """Synthetic sentence-embedding-like rows, float32, C-contiguous: a common direction, 48 latent
    factors with geometrically decaying scales (a clear PCA spectrum), isotropic noise, each row
    scaled to norm 1 +- 0.5% (about 5% of the rows are off-norm at the default tolerance 0.01).
    `drift` tilts the common direction and rescales the factors. The directions come from a fixed
    seed, so two calls with different `seed` share the same geometry. Built block by block."""
    geometry = np.random.default_rng(12345)
    mu = geometry.standard_normal(dim)
    mu /= np.linalg.norm(mu)
    tilt = geometry.standard_normal(dim)
    tilt -= (tilt @ mu) * mu
    tilt /= np.linalg.norm(tilt)
    basis = geometry.standard_normal((factors, dim)) / np.sqrt(dim)
    scales = 0.6 * 0.93 ** np.arange(factors) * (1.0 + drift)
    direction = mu + drift * tilt
    direction /= np.linalg.norm(direction)
    mix = (scales[:, None] * basis).astype(np.float32)
    direction32 = direction.astype(np.float32)

    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for s in bl.row_blocks(n, block):
        rows = s.stop - s.start
        b = out[s]
        rng.standard_normal((rows, dim), dtype=np.float32, out=b)
        b *= np.float32(0.02)
        b += rng.standard_normal((rows, factors), dtype=np.float32) @ mix
        b += direction32
        norms = np.sqrt(np.einsum("ij,ij->i", b, b, dtype=np.float64))
        target = 1.0 + 0.005 * rng.standard_normal(rows)
        b *= (target / norms).astype(np.float32)[:, None]
    return out


def make_projections(n: int, seed: int, shift: float = 0.0, dim: int = RFF_DIM) -> np.ndarray:
    """Rows shaped like 32 PCA components: independent normals with variances 0.9^j; `shift`
    moves the first three means by shift x their standard deviation and widens every axis by it."""
    rng = np.random.default_rng(seed)
    std = (0.9 ** (np.arange(dim) / 2)).astype(np.float32)
    out = rng.standard_normal((n, dim), dtype=np.float32)
    out *= std * np.float32(1.0 + shift)
    out[:, :3] += np.float32(shift) * std[:3]
    return out


@pytest.fixture(scope="module")
def embeddings() -> tuple[np.ndarray, np.ndarray]:
    n = emb_rows()
    return make_embeddings(n, seed=1), make_embeddings(n, seed=2, drift=0.15)


@pytest.fixture(scope="module", params=mmd_sizes(), ids=lambda n: f"n={n}")
def mmd_pair(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    n = request.param
    return make_embeddings(n, seed=3), make_embeddings(n, seed=4, drift=0.02)


@pytest.fixture(scope="module")
def rff_pair() -> tuple[np.ndarray, np.ndarray]:
    n = rff_rows()
    return make_projections(n, seed=5), make_projections(n, seed=6, shift=0.01)


@pytest.fixture(scope="module")
def sentences() -> tuple[np.ndarray, np.ndarray]:
    path = Path(os.environ.get("UNDERTOW_BENCH_SENTENCES", DEFAULT_SENTENCES))
    if not path.exists():
        pytest.skip(f"{path} not found")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            source, minilm = z["source"], z["minilm"]
    else:
        import polars as pl

        df = pl.read_parquet(path, columns=["source", "minilm"])
        source, minilm = df["source"].to_numpy(), df["minilm"].to_numpy()
    docs, chat = minilm[source == "python-docs"], minilm[source == "chatterbot-corpus"]
    return np.ascontiguousarray(docs, dtype=np.float32), np.ascontiguousarray(chat, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Helpers


def _require(*names: str) -> None:
    missing = [n for n in names if not hasattr(ut, n)]
    if missing:
        pytest.skip(f"undertow has no {', '.join(missing)} yet")


def _once_with_rss(benchmark: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, PeakRss]:
    """One timed round whose call is also the memory measurement (sampler running)."""
    holder: dict[str, PeakRss] = {}

    def call() -> Any:
        result, rss = peak_rss_growth(lambda: fn(*args, **kwargs))
        holder["rss"] = rss
        return result

    result = benchmark.pedantic(call, rounds=1, iterations=1)
    return result, holder["rss"]


def _timed(
    benchmark: Any, rounds: int, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, PeakRss]:
    """`rounds` timed rounds (warm-up first when more than one) and the peak extra RSS: of the
    single call when rounds == 1, else of one more call."""
    if rounds == 1:
        return _once_with_rss(benchmark, fn, *args, **kwargs)
    result = benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=rounds, iterations=1, warmup_rounds=1)
    _, rss = peak_rss_growth(lambda: fn(*args, **kwargs))
    return result, rss


def _record(benchmark: Any, group: str, title: str, name: str, values: int) -> None:
    """record() of _common, plus the 1-minute load average when the group's first entry lands
    (this guest has 2 cores: a compile running beside the benches skews every figure)."""
    if group not in RESULTS or "load average (1 min) at the group's first result" not in RESULTS[group].notes:
        note(group, title, "load average (1 min) at the group's first result", f"{os.getloadavg()[0]:.2f}")
    record(benchmark, group, title, name, values)
    benchmark.extra_info["loadavg_1min"] = os.getloadavg()[0]


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f} MB" if nbytes >= 1e5 else f"{nbytes / 1e3:.0f} kB"


def _memory(benchmark: Any, group: str, title: str, name: str, rss: PeakRss, input_bytes: int) -> None:
    benchmark.extra_info["peak_extra_rss_mb"] = rss.extra_mb
    benchmark.extra_info["rss_samples"] = rss.samples
    benchmark.extra_info["input_mb"] = input_bytes / 1e6
    note(
        group,
        title,
        f"peak extra RSS, {name}",
        f"{_mb(rss.extra_bytes)} for {_mb(input_bytes)} of input "
        f"({100 * rss.extra_bytes / input_bytes:.1f}%)",
    )


def _median(group: str, name: str) -> float | None:
    entry = RESULTS.get(group).entries.get(name) if group in RESULTS else None
    return None if entry is None else entry.median_s


def _speedups(benchmark: Any, group: str, title: str, undertow_name: str, baselines: list[str]) -> None:
    """undertow vs each baseline present in the group so far: 'baseline time / undertow time',
    into the summary and into this benchmark's extra_info."""
    ut_s = _median(group, undertow_name)
    if ut_s is None:
        return
    for base in baselines:
        base_s = _median(group, base)
        if base_s is None:
            continue
        ratio = base_s / ut_s
        benchmark.extra_info[f"speedup_vs_{base}"] = ratio
        verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x SLOWER"
        note(group, title, f"{undertow_name} vs {base}", f"{verdict} ({base_s:.4g} s / {ut_s:.4g} s)")


def _read_median(group: str) -> tuple[str, float] | None:
    if group not in RESULTS:
        return None
    reads = [(k, e.median_s) for k, e in RESULTS[group].entries.items() if k.startswith("read_pass")]
    return min(reads, key=lambda kv: kv[1]) if reads else None


def _close(a: Any, b: Any, rtol: float = REL_TOL, atol: float = ABS_TOL) -> bool:
    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol))


def _rel_diff(a: Any, b: Any) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ---------------------------------------------------------------------------------------------
# 1. Cosine statistics

COSINE_FIELDS = [
    "centroid_distance",
    "cosine_psi",
    "reference_quantiles",
    "current_quantiles",
    "reference_mean_norm",
    "current_mean_norm",
    "reference_off_norm_share",
    "current_off_norm_share",
]

_NP_COSINE: dict[int, dict[str, Any]] = {}


def _cosine_group(n: int) -> tuple[str, str]:
    mb = n * DIM * 4 / 1e6
    return (
        f"emb-cosine:{n}",
        f"cosine_drift, {_label(n)} x {DIM} float32 per side (synthetic; {mb:,.0f} MB per side, "
        f"undertow reads {3 * mb:,.0f} MB: reference twice, current once)",
    )


def _np_cosine(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    n = len(reference)
    if n not in _NP_COSINE:
        _NP_COSINE[n] = bl.numpy_cosine_drift(reference, current)
    return _NP_COSINE[n]


def _cosine_rounds(n: int) -> tuple[int, int]:
    """(fast rounds, numpy rounds)."""
    return (10, 3) if n <= 2 * 10**5 else (5, 1)


def test_cosine_numpy(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = embeddings
    n = len(reference)
    benchmark.group = f"embedding cosine n={_label(n)}"
    group, title = _cosine_group(n)
    result, rss = _timed(benchmark, _cosine_rounds(n)[1], bl.numpy_cosine_drift, reference, current)
    _NP_COSINE[n] = result
    _record(benchmark, group, title, "numpy_cosine_float64", reference.size + current.size)
    _memory(benchmark, group, title, "numpy_cosine_float64", rss, reference.nbytes + current.nbytes)
    benchmark.extra_info.update({k: result[k] for k in ("centroid_distance", "cosine_psi", "status")})
    note(
        group,
        title,
        "numpy: centroid distance, cosine PSI, status",
        f"{result['centroid_distance']:.6f}, {result['cosine_psi']:.6f}, {result['status']}",
    )


def test_cosine_read_pass_single(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = embeddings
    n = len(reference)
    benchmark.group = f"embedding cosine n={_label(n)}"
    benchmark.pedantic(
        bl.read_pass_single,
        args=(reference, current),
        rounds=_cosine_rounds(n)[0],
        iterations=1,
        warmup_rounds=1,
    )
    _record(benchmark, *_cosine_group(n), "read_pass_single", reference.size + current.size)


def test_cosine_read_pass_threads(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = embeddings
    n = len(reference)
    benchmark.group = f"embedding cosine n={_label(n)}"
    benchmark.pedantic(
        bl.read_pass_threads,
        args=(reference, current),
        rounds=_cosine_rounds(n)[0],
        iterations=1,
        warmup_rounds=1,
    )
    _record(benchmark, *_cosine_group(n), "read_pass_threads", reference.size + current.size)
    benchmark.extra_info["threads"] = bl.READ_THREADS


def test_cosine_undertow(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    _require("cosine_drift")
    reference, current = embeddings
    n = len(reference)
    benchmark.group = f"embedding cosine n={_label(n)}"
    group, title = _cosine_group(n)
    result, rss = _timed(benchmark, _cosine_rounds(n)[0], ut.cosine_drift, reference, current)
    _record(benchmark, group, title, "undertow_cosine_drift", reference.size + current.size)
    input_bytes = reference.nbytes + current.nbytes
    _memory(benchmark, group, title, "undertow_cosine_drift", rss, input_bytes)
    _speedups(benchmark, group, title, "undertow_cosine_drift", ["numpy_cosine_float64"])

    ut_s = _median(group, "undertow_cosine_drift")
    read = _read_median(group)
    if read is not None and ut_s is not None:
        read_name, read_s = read
        read_rate = input_bytes / read_s  # bytes/s of the faster read pass (reads each input once)
        actual_bytes = 2 * reference.nbytes + current.nbytes
        share_input = input_bytes / ut_s / read_rate
        share_actual = actual_bytes / ut_s / read_rate
        benchmark.extra_info.update(
            {
                "read_pass": read_name,
                "read_rate_gb_s": read_rate / 1e9,
                "share_of_read_rate_input_bytes": share_input,
                "share_of_read_rate_bytes_actually_read": share_actual,
            }
        )
        note(
            group,
            title,
            "share of read rate (input bytes / time / read rate)",
            f"{share_input:.2f} ({read_name}: {read_rate / 1e9:.1f} GB/s)",
        )
        note(
            group,
            title,
            "share of read rate (bytes actually read = 2 x reference + current)",
            f"{share_actual:.2f}",
        )

    # Cross-check against the float64 numpy version, in the same run (contract: 1e-9 relative,
    # 1e-12 absolute); recorded first, asserted last.
    expected = _np_cosine(reference, current)
    diffs = {f: _rel_diff(getattr(result, f), expected[f]) for f in COSINE_FIELDS}
    benchmark.extra_info["rel_diff_vs_numpy"] = diffs
    benchmark.extra_info.update(
        {
            "centroid_distance": result.centroid_distance,
            "cosine_psi": result.cosine_psi,
            "status": result.status,
        }
    )
    note(
        group,
        title,
        "undertow: centroid distance, cosine PSI, status; worst rel. diff vs numpy",
        f"{result.centroid_distance:.6f}, {result.cosine_psi:.6f}, {result.status}; "
        f"{max(diffs.values()):.1e}",
    )
    bad = [f for f in COSINE_FIELDS if not _close(getattr(result, f), expected[f])]
    assert not bad, {f: (getattr(result, f), expected[f]) for f in bad}
    assert (result.n_reference, result.n_current, result.status) == (n, len(current), expected["status"])


# ---------------------------------------------------------------------------------------------
# 2. PCA

_NP_PCA: dict[int, dict[str, Any]] = {}


def _pca_group(n: int) -> tuple[str, str]:
    return (
        f"emb-pca:{n}",
        f"PCA fit to {COMPONENTS} components, {_label(n)} x {DIM} float32 (synthetic; "
        f"{n * DIM * 4 / 1e6:,.0f} MB)",
    )


def _np_pca(reference: np.ndarray) -> dict[str, Any]:
    n = len(reference)
    if n not in _NP_PCA:
        _NP_PCA[n] = bl.numpy_pca_cov_eigh(reference, COMPONENTS)
    return _NP_PCA[n]


def _pca_rounds(n: int) -> tuple[int, int]:
    """(undertow rounds, baseline rounds)."""
    return (5, 3) if n <= 2 * 10**5 else (3, 1)


def test_pca_numpy_cov_eigh(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    reference, _ = embeddings
    n = len(reference)
    benchmark.group = f"embedding PCA n={_label(n)}"
    group, title = _pca_group(n)
    result, rss = _timed(benchmark, _pca_rounds(n)[1], bl.numpy_pca_cov_eigh, reference, COMPONENTS)
    _NP_PCA[n] = result
    _record(benchmark, group, title, "numpy_cov_eigh_float64", reference.size)
    _memory(benchmark, group, title, "numpy_cov_eigh_float64", rss, reference.nbytes)
    ev = result["explained_variance"]
    benchmark.extra_info["explained_variance_ratio_sum"] = float(result["explained_variance_ratio"].sum())
    note(
        group,
        title,
        "numpy: explained variance ratio of the 32 components",
        f"{result['explained_variance_ratio'].sum():.4f} (first {ev[0]:.3g}, last {ev[-1]:.3g})",
    )


def test_pca_sklearn_randomized(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("sklearn")
    reference, _ = embeddings
    n = len(reference)
    benchmark.group = f"embedding PCA n={_label(n)}"
    group, title = _pca_group(n)
    model, rss = _timed(benchmark, _pca_rounds(n)[1], bl.sklearn_pca_randomized, reference, COMPONENTS)
    _record(benchmark, group, title, "sklearn_randomized", reference.size)
    _memory(benchmark, group, title, "sklearn_randomized", rss, reference.nbytes)
    exact = _np_pca(reference)
    angle = bl.max_principal_angle(model.components_, exact["components"])
    ev_diff = _rel_diff(model.explained_variance_, exact["explained_variance"])
    benchmark.extra_info["max_principal_angle_vs_numpy_rad"] = angle
    benchmark.extra_info["explained_variance_rel_diff_vs_numpy"] = ev_diff
    note(
        group,
        title,
        "sklearn randomized vs numpy eigh",
        f"largest principal angle {angle:.1e} rad, explained variance rel. diff {ev_diff:.1e} "
        "(randomized SVD is approximate; sklearn computes in float32 for float32 input)",
    )


def test_pca_read_pass_threads(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    reference, _ = embeddings
    n = len(reference)
    benchmark.group = f"embedding PCA n={_label(n)}"
    benchmark.pedantic(
        bl.read_pass_threads, args=(reference,), rounds=_cosine_rounds(n)[0], iterations=1, warmup_rounds=1
    )
    _record(benchmark, *_pca_group(n), "read_pass_threads", reference.size)
    benchmark.extra_info["threads"] = bl.READ_THREADS


def test_pca_undertow(benchmark: Any, embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    _require("PCA")
    reference, _ = embeddings
    n = len(reference)
    benchmark.group = f"embedding PCA n={_label(n)}"
    group, title = _pca_group(n)
    pca, rss = _timed(benchmark, _pca_rounds(n)[0], ut.PCA.fit, reference, components=COMPONENTS)
    _record(benchmark, group, title, "undertow_pca_fit", reference.size)
    _memory(benchmark, group, title, "undertow_pca_fit", rss, reference.nbytes)
    _speedups(benchmark, group, title, "undertow_pca_fit", ["sklearn_randomized", "numpy_cov_eigh_float64"])
    ut_s = _median(group, "undertow_pca_fit")
    read = _read_median(group)
    if ut_s is not None:
        # n x d x d multiply-adds for the covariance (half of it when symmetric blocks are used).
        gflops = 2 * n * DIM * DIM / ut_s / 1e9
        benchmark.extra_info["gflop_s_full_gram"] = gflops
        share = "" if read is None else f"; share of read rate (input bytes) {read[1] / ut_s:.2f}"
        note(group, title, "undertow: arithmetic rate", f"{gflops:.1f} GFLOP/s counting 2 n d^2 flops{share}")
        if read is not None:
            benchmark.extra_info["share_of_read_rate_input_bytes"] = read[1] / ut_s

    exact = _np_pca(reference)
    angle = bl.max_principal_angle(pca.components, exact["components"])
    comp_angle = bl.max_component_angle(pca.components, exact["components"])
    checks = {
        "max_principal_angle_rad": angle,
        "max_component_angle_rad": comp_angle,
        "explained_variance_rel_diff": _rel_diff(pca.explained_variance, exact["explained_variance"]),
        "explained_variance_ratio_rel_diff": _rel_diff(
            pca.explained_variance_ratio, exact["explained_variance_ratio"]
        ),
        "mean_max_abs_diff": float(np.max(np.abs(np.asarray(pca.mean) - exact["mean"]))),
        "total_variance_rel_diff": _rel_diff(pca.total_variance, exact["total_variance"]),
    }
    benchmark.extra_info.update(checks)
    note(
        group,
        title,
        "undertow vs numpy eigh",
        f"largest principal angle {angle:.1e} rad (per component {comp_angle:.1e}), explained variance "
        f"rel. diff {checks['explained_variance_rel_diff']:.1e}",
    )
    assert angle < 1e-6 and comp_angle < 1e-6, checks
    assert _close(pca.explained_variance, exact["explained_variance"], rtol=1e-9, atol=0), checks
    assert _close(pca.mean, exact["mean"], rtol=1e-9, atol=1e-12), checks
    assert np.asarray(pca.components).shape == (COMPONENTS, DIM)


# ---------------------------------------------------------------------------------------------
# 3. Exact MMD with 100 permutations

_UT_BANDWIDTH: dict[int, float] = {}


def _mmd_group(n: int) -> tuple[str, str]:
    return (
        f"emb-mmd:{n}",
        f"exact MMD, RBF median bandwidth, {MMD_PERMUTATIONS} permutations, {n:,} + {n:,} x {DIM} "
        "float32 (synthetic)",
    )


def _skip_big_baseline(n: int, what: str) -> None:
    if 2 * n > mmd_baseline_max():
        gb = (2 * n) ** 2 * 8 / 1e9
        group, title = _mmd_group(n)
        note(
            group,
            title,
            f"{what}: not run",
            f"n + m = {2 * n:,} > UNDERTOW_BENCH_MMD_BASELINE_MAX = {mmd_baseline_max():,} "
            f"(the float64 kernel matrix alone is {gb:,.1f} GB)",
        )
        pytest.skip(f"{what}: {2 * n:,} pooled rows need a {gb:,.1f} GB kernel matrix")


def _bandwidth_for(x: np.ndarray, y: np.ndarray) -> float:
    """undertow's median bandwidth (from ut.mmd without permutations) when undertow has mmd, so
    that alibi-detect uses the same kernel; numpy's median heuristic before that."""
    n = len(x)
    if n not in _UT_BANDWIDTH:
        if hasattr(ut, "mmd"):
            _UT_BANDWIDTH[n] = float(ut.mmd(x, y, permutations=0).bandwidth)
        else:
            _UT_BANDWIDTH[n] = bl.median_bandwidth(x, y)
    return _UT_BANDWIDTH[n]


def test_mmd_numpy_permute(benchmark: Any, mmd_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = mmd_pair
    n = len(x)
    benchmark.group = f"embedding MMD n={n}"
    _skip_big_baseline(n, "numpy_kernel_permute (alibi-style)")
    group, title = _mmd_group(n)
    (value, p_value, bw), rss = _once_with_rss(benchmark, bl.numpy_mmd_permute, x, y, MMD_PERMUTATIONS)
    _record(benchmark, group, title, "numpy_kernel_permute", x.size + y.size)
    _memory(benchmark, group, title, "numpy_kernel_permute", rss, x.nbytes + y.nbytes)
    benchmark.extra_info.update({"mmd2": value, "p_value": p_value, "bandwidth": bw})
    note(group, title, "numpy_kernel_permute: MMD^2, p, bandwidth", f"{value:.6g}, {p_value:.3f}, {bw:.4f}")


def test_mmd_numpy_batched(benchmark: Any, mmd_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = mmd_pair
    n = len(x)
    benchmark.group = f"embedding MMD n={n}"
    _skip_big_baseline(n, "numpy_kernel_batched")
    group, title = _mmd_group(n)
    rounds = 3 if 2 * n <= 4000 else 1
    (value, p_value, bw), rss = _timed(benchmark, rounds, bl.numpy_mmd_batched, x, y, MMD_PERMUTATIONS)
    _record(benchmark, group, title, "numpy_kernel_batched", x.size + y.size)
    _memory(benchmark, group, title, "numpy_kernel_batched", rss, x.nbytes + y.nbytes)
    benchmark.extra_info.update({"mmd2": value, "p_value": p_value, "bandwidth": bw})
    note(group, title, "numpy_kernel_batched: MMD^2, p, bandwidth", f"{value:.6g}, {p_value:.3f}, {bw:.4f}")


def _alibi_python() -> str:
    return os.environ.get("UNDERTOW_BENCH_ALIBI_PYTHON", DEFAULT_ALIBI_PYTHON)


def _run_alibi_child(x: np.ndarray, y: np.ndarray, bandwidth: float) -> dict[str, Any]:
    python = _alibi_python()
    if not Path(python).exists():
        return {"available": False, "error": f"no python at {python} (set UNDERTOW_BENCH_ALIBI_PYTHON)"}
    child = Path(__file__).with_name("_alibi_child.py")
    with tempfile.TemporaryDirectory(prefix="undertow-alibi-") as tmp:
        np.save(Path(tmp) / "x.npy", x)
        np.save(Path(tmp) / "y.npy", y)
        config = {
            "x": str(Path(tmp) / "x.npy"),
            "y": str(Path(tmp) / "y.npy"),
            "permutations": MMD_PERMUTATIONS,
            "bandwidth": bandwidth,
            "backend": os.environ.get("UNDERTOW_BENCH_ALIBI_BACKEND", "auto"),
        }
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run(
            [python, str(child), json.dumps(config)], env=env, capture_output=True, text=True, check=False
        )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"available": False, "error": f"child exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"}
    return json.loads(lines[-1])


def test_mmd_alibi_detect(benchmark: Any, mmd_pair: tuple[np.ndarray, np.ndarray]) -> None:
    """alibi-detect's MMDDrift in a subprocess (separate virtualenv). The benchmark's own time is
    the whole child (interpreter start, imports, loading the .npy files); the figure compared with
    undertow is the child's own init + predict time, stored as the 'alibi_detect_mmddrift' entry."""
    x, y = mmd_pair
    n = len(x)
    benchmark.group = f"embedding MMD n={n}"
    _skip_big_baseline(n, "alibi_detect_mmddrift")
    group, title = _mmd_group(n)
    bandwidth = _bandwidth_for(x, y)
    out = benchmark.pedantic(_run_alibi_child, args=(x, y, bandwidth), rounds=1, iterations=1)
    benchmark.extra_info["alibi_detect"] = out
    if not out.get("available"):
        note(group, title, "alibi-detect", f"NOT AVAILABLE: {out.get('error')}")
        pytest.skip(f"alibi-detect not available: {out.get('error', '')[:300]}")
    # The child's timed part (MMDDrift(...) + predict), as its own entry beside the others.
    from _common import Entry, Group

    RESULTS.setdefault(group, Group(title)).entries["alibi_detect_mmddrift"] = Entry(
        median_s=out["total_s"], values=x.size + y.size, rounds=1
    )
    note(
        group,
        title,
        "alibi-detect",
        f"{out['alibi_detect_version']} ({out['backend']} {out['backend_version']}, CPU, float32): "
        f"MMDDrift(...) {out['init_s']:.2f} s + predict {out['predict_s']:.2f} s = {out['total_s']:.2f} s; "
        f"peak extra RSS {out['peak_extra_rss_mb']:,.0f} MB (process max {out['max_rss_mb']:,.0f} MB); "
        f"MMD^2 {out['mmd2']:.6g}, p {out['p_value']:.3f} (alibi's p = share of permuted >= observed); "
        f"imports {out['import_s']:.1f} s not counted",
    )


def test_mmd_undertow_exact(benchmark: Any, mmd_pair: tuple[np.ndarray, np.ndarray]) -> None:
    _require("mmd")
    x, y = mmd_pair
    n = len(x)
    benchmark.group = f"embedding MMD n={n}"
    group, title = _mmd_group(n)
    rounds = 1 if n >= 10000 else 3
    result, rss = _timed(benchmark, rounds, ut.mmd, x, y, permutations=MMD_PERMUTATIONS)
    _record(benchmark, group, title, "undertow_mmd_exact", x.size + y.size)
    _memory(benchmark, group, title, "undertow_mmd_exact", rss, x.nbytes + y.nbytes)
    _speedups(
        benchmark,
        group,
        title,
        "undertow_mmd_exact",
        ["numpy_kernel_permute", "numpy_kernel_batched", "alibi_detect_mmddrift"],
    )
    ut_s = _median(group, "undertow_mmd_exact")
    mem_ok = rss.extra_mb < MMD_MEMORY_TARGET_MB
    benchmark.extra_info["memory_target_met"] = mem_ok
    note(
        group,
        title,
        f"target: peak extra RSS < {MMD_MEMORY_TARGET_MB:.0f} MB",
        f"{'met' if mem_ok else 'MISSED'} ({rss.extra_mb:,.1f} MB)",
    )
    if n == 20000 and ut_s is not None:
        time_ok = ut_s < MMD_TIME_TARGET_S
        benchmark.extra_info["time_target_met"] = time_ok
        note(
            group,
            title,
            "target: 20,000 + 20,000 under a minute",
            f"{'met' if time_ok else 'MISSED'} ({ut_s:.1f} s)",
        )
    benchmark.extra_info.update(
        {"mmd2": result.value, "p_value": result.p_value, "bandwidth": result.bandwidth}
    )

    # Cross-check the statistic against numpy with undertow's bandwidth (when the kernel matrix
    # fits): undertow on this float32 input, and on the same values as float64.
    if 2 * n <= mmd_baseline_max():
        expected = bl.numpy_mmd2(x, y, result.bandwidth)
        diff = abs(result.value - expected) / max(abs(expected), 1e-300)
        value64 = ut.mmd(
            x.astype(np.float64), y.astype(np.float64), permutations=0, bandwidth=result.bandwidth
        ).value
        diff64 = abs(value64 - expected) / max(abs(expected), 1e-300)
        np_bw = bl.median_bandwidth(x, y)
        benchmark.extra_info.update(
            {
                "mmd2_numpy_float64_same_bandwidth": expected,
                "mmd2_rel_diff_vs_numpy": diff,
                "mmd2_float64_input_rel_diff_vs_numpy": diff64,
                "numpy_median_bandwidth": np_bw,
            }
        )
        note(
            group,
            title,
            "undertow: MMD^2, p, bandwidth; vs numpy float64 (same bandwidth)",
            f"{result.value:.6g}, {result.p_value:.3f}, {result.bandwidth:.4f}; MMD^2 rel. diff "
            f"{diff:.1e} (abs {abs(result.value - expected):.1e}) for this float32 input, {diff64:.1e} "
            "for the same values as float64; "
            f"numpy's own median bandwidth {np_bw:.4f} (its own 1000-row sample)",
        )
        assert math.isclose(value64, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL), (value64, expected)
        # float32 input keeps the kernel in float32; the contract's bound: 1e-5 |value| + 1e-6.
        assert abs(result.value - expected) <= 1e-5 * abs(expected) + 1e-6, (result.value, expected)
    else:
        note(
            group,
            title,
            "undertow: MMD^2, p, bandwidth",
            f"{result.value:.6g}, {result.p_value:.3f}, {result.bandwidth:.4f} "
            "(no numpy cross-check at this size)",
        )
    assert result.permutations == MMD_PERMUTATIONS and result.n_x == n and result.n_y == len(y)
    assert result.p_value is not None and 0 < result.p_value <= 1


# ---------------------------------------------------------------------------------------------
# 4. RFF MMD over 1e6 + 1e6 x 32


def _rff_group(n: int) -> tuple[str, str]:
    return (
        f"emb-rff:{n}",
        f"MMD with random Fourier features (D=256), {_label(n)} + {_label(n)} x {RFF_DIM} float32 "
        "(synthetic, shaped like PCA projections)",
    )


def test_rff_numpy(benchmark: Any, rff_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = rff_pair
    n = len(x)
    benchmark.group = f"embedding RFF n={_label(n)}"
    group, title = _rff_group(n)
    result, rss = _timed(benchmark, 3 if n <= 2 * 10**5 else 1, bl.numpy_rff_mmd, x, y)
    _record(benchmark, group, title, "numpy_rff_float64", x.size + y.size)
    _memory(benchmark, group, title, "numpy_rff_float64", rss, x.nbytes + y.nbytes)
    benchmark.extra_info.update(result)
    note(
        group,
        title,
        "numpy: MMD^2, p, bandwidth",
        f"{result['value']:.4g}, {result['p_value']:.3g}, {result['bandwidth']:.4f} (rank {result['rank']})",
    )


def test_rff_undertow(benchmark: Any, rff_pair: tuple[np.ndarray, np.ndarray]) -> None:
    _require("mmd")
    x, y = rff_pair
    n = len(x)
    benchmark.group = f"embedding RFF n={_label(n)}"
    group, title = _rff_group(n)
    result, rss = _timed(benchmark, 5 if n <= 2 * 10**5 else 3, ut.mmd, x, y, estimator="rff")
    _record(benchmark, group, title, "undertow_mmd_rff", x.size + y.size)
    _memory(benchmark, group, title, "undertow_mmd_rff", rss, x.nbytes + y.nbytes)
    _speedups(benchmark, group, title, "undertow_mmd_rff", ["numpy_rff_float64"])
    benchmark.extra_info.update(
        {
            "mmd2": result.value,
            "p_value": result.p_value,
            "bandwidth": result.bandwidth,
            "features": result.features,
        }
    )
    note(
        group,
        title,
        "undertow: MMD^2, p, bandwidth",
        f"{result.value:.4g}, {result.p_value:.3g}, {result.bandwidth:.4f} (W differs from numpy's: "
        "values agree only statistically)",
    )
    assert result.estimator == "rff" and result.features == 256 and result.permutations == 0
    assert math.isfinite(result.value) and result.p_value is not None and 0 <= result.p_value <= 1


# ---------------------------------------------------------------------------------------------
# 5. EmbeddingDrift.fit + compare on real sentence embeddings

_NP_REAL: dict[str, dict[str, Any]] = {}
REAL_GROUP = (
    "emb-real:0",
    "EmbeddingDrift.fit(python-docs) + compare(chatterbot), real minilm 384-d sentence embeddings "
    "(2,403 vs 1,901 rows; sample 2000, 200 permutations, 32 components)",
)


def test_real_numpy_sklearn(benchmark: Any, sentences: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("sklearn")
    docs, chat = sentences
    benchmark.group = "embedding drift real data"
    result, rss = _timed(benchmark, 3, bl.numpy_embedding_drift, docs, chat, permutations=REAL_PERMUTATIONS)
    _NP_REAL["docs-chat"] = result
    _record(benchmark, *REAL_GROUP, "numpy_sklearn_steps", docs.size + chat.size)
    _memory(benchmark, *REAL_GROUP, "numpy_sklearn_steps", rss, docs.nbytes + chat.nbytes)
    summary = {
        "status": result["status"],
        "centroid_distance": result["cosine"]["centroid_distance"],
        "cosine_psi": result["cosine"]["cosine_psi"],
        "mmd2": result["mmd"]["value"],
        "p_value": result["mmd"]["p_value"],
        "domain_auc": result["domain_auc"],
        "drifted_share": result["drifted_share"],
    }
    benchmark.extra_info.update(summary)
    note(
        *REAL_GROUP,
        "numpy/sklearn",
        ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()),
    )


def _fit_compare(reference: np.ndarray, current: np.ndarray) -> Any:
    return ut.EmbeddingDrift.fit(reference, COMPONENTS).compare(current)


def test_real_undertow(benchmark: Any, sentences: tuple[np.ndarray, np.ndarray]) -> None:
    _require("EmbeddingDrift")
    docs, chat = sentences
    benchmark.group = "embedding drift real data"
    report, rss = _timed(benchmark, 5, _fit_compare, docs, chat)
    _record(benchmark, *REAL_GROUP, "undertow_fit_compare", docs.size + chat.size)
    _memory(benchmark, *REAL_GROUP, "undertow_fit_compare", rss, docs.nbytes + chat.nbytes)
    _speedups(benchmark, *REAL_GROUP, "undertow_fit_compare", ["numpy_sklearn_steps"])
    summary = {
        "status": report.status,
        "centroid_distance": report.cosine.centroid_distance,
        "cosine_psi": report.cosine.cosine_psi,
        "mmd2": report.mmd.value,
        "p_value": report.mmd.p_value,
        "domain_auc": report.domain_auc,
        "drifted_share": report.drifted_share,
    }
    benchmark.extra_info.update(summary)
    note(
        *REAL_GROUP,
        "undertow",
        ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()),
    )

    # The cosine statistics need no scikit-learn; the rest only when the baseline ran.
    expected = _NP_REAL.get("docs-chat") or {"cosine": bl.numpy_cosine_drift(docs, chat)}
    cosine_diffs = {f: _rel_diff(getattr(report.cosine, f), expected["cosine"][f]) for f in COSINE_FIELDS}
    benchmark.extra_info["cosine_rel_diff_vs_numpy"] = cosine_diffs
    psi_text = "not run"
    if "component_psi" in expected:
        psi_diff = float(np.max(np.abs(np.asarray(report.component_psi) - expected["component_psi"])))
        benchmark.extra_info["component_psi_max_abs_diff_vs_numpy"] = psi_diff
        psi_text = f"{psi_diff:.2g}"
    note(
        *REAL_GROUP,
        "undertow vs numpy",
        f"cosine statistics worst rel. diff {max(cosine_diffs.values()):.1e}; component PSI max abs diff "
        f"{psi_text}, MMD, AUC: not compared (different held-out and sampled rows)",
    )
    bad = [f for f in COSINE_FIELDS if not _close(getattr(report.cosine, f), expected["cosine"][f])]
    assert not bad, {f: (getattr(report.cosine, f), expected["cosine"][f]) for f in bad}
    # chatterbot vs python-docs is a large shift (README: centroid cosine distance 0.74).
    assert report.status != "stable"
