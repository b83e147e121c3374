"""The deterministic k-means kernel against an independent float64 numpy Lloyd."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import undertow
from undertow.coverage import kmeans


def numpy_lloyd(x: np.ndarray, init: np.ndarray, max_iter: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Plain float64 Lloyd from `init`, stopping when no assignment changes."""
    c = init.astype(np.float64).copy()
    x = x.astype(np.float64)
    previous = None
    for _ in range(max_iter + 1):
        d = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        assign = d.argmin(1)
        if previous is not None and np.array_equal(assign, previous):
            break
        c = np.stack([x[assign == j].mean(0) for j in range(len(c))])
        previous = assign
    d = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    return d.argmin(1), c, float(d.min(1).sum())


def blobs(seed: int, n: int = 600, dim: int = 6, k: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, dim))
    return (centers[rng.integers(0, k, n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lloyd_from_a_given_init_matches_numpy_float64(seed: int) -> None:
    x = blobs(seed)
    init = x[:5].astype(np.float64)
    fit = kmeans(x, 5, init=init, max_iter=100)
    assign, centroids, inertia = numpy_lloyd(x, init, 100)
    assert fit.converged
    np.testing.assert_array_equal(fit.assignment, assign)
    np.testing.assert_allclose(fit.centroids, centroids, rtol=1e-6, atol=1e-6)
    assert fit.inertia == pytest.approx(inertia, rel=1e-5)


def test_seeded_plus_plus_result_is_a_lloyd_fixed_point_and_reproducible() -> None:
    x = blobs(7, n=2000, dim=16, k=8)
    a = kmeans(x, 8, seed=3)
    b = kmeans(x, 8, seed=3)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_array_equal(a.assignment, b.assignment)
    x64 = x.astype(np.float64)
    d = ((x64[:, None, :] - a.centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(a.assignment, d.argmin(1))
    assert a.inertia == pytest.approx(d.min(1).sum(), rel=1e-5)
    # At a fixed point each centroid is the float64 mean of its rows.
    assert a.converged
    for j in range(8):
        np.testing.assert_allclose(a.centroids[j], x64[a.assignment == j].mean(0), rtol=1e-9, atol=1e-9)
    # k-means++ finds the 8 blobs: far better than the inertia of 8 random rows as centroids.
    worse = ((x64[:, None, :] - x64[:8][None]) ** 2).sum(-1).min(1).sum()
    assert a.inertia < 0.5 * worse


def test_same_answer_on_one_thread_as_on_all() -> None:
    code = textwrap.dedent(
        """
        import hashlib, numpy as np
        from undertow.coverage import kmeans
        rng = np.random.default_rng(5)
        x = rng.normal(size=(30000, 24)).astype(np.float32)
        fit = kmeans(x, 12, seed=9, max_iter=10)
        h = hashlib.sha256(fit.centroids.tobytes() + fit.assignment.tobytes() + fit.distances.tobytes())
        print(h.hexdigest())
        """
    )
    path = str(__import__("pathlib").Path(undertow.__file__).parents[1])
    outs = []
    for threads in ("1", "2"):
        env = {"RAYON_NUM_THREADS": threads, "PYTHONPATH": path, "PATH": "/usr/bin:/bin"}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stderr
        outs.append(run.stdout.strip())
    assert outs[0] == outs[1] and len(outs[0]) == 64


def test_empty_cluster_restarts_at_the_farthest_row() -> None:
    x = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]])
    fit = kmeans(x, 2, init=np.zeros((2, 2)), max_iter=10)
    assert fit.assignment.tolist() == [0, 0, 1]
    np.testing.assert_allclose(fit.centroids, [[0.5, 0.0], [10.0, 0.0]])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.zeros((3, 2)), 4), {}, "k: 4 clusters need at least 4 rows"),
        ((np.zeros((3, 2)), 0), {}, "k: must be at least 1"),
        ((np.array([[np.nan, 0.0], [1.0, 1.0]]), 1), {}, "NaN or inf"),
        ((np.zeros((3, 2)), 2), {"init": np.zeros((3, 2))}, "init: expected shape (2, 2)"),
        ((np.zeros((3, 2)), 2), {"max_iter": -1}, "max_iter"),
    ],
)
def test_bad_input_is_refused(args, kwargs, message) -> None:
    with pytest.raises(undertow.UndertowError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kmeans(*args, **kwargs)
