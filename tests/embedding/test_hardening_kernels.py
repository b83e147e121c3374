"""Hardening of the kernels (issue 10, items 1, 4, 5, 7): sizes are checked before anything
is allocated (MemoryError naming the bytes), overflowing values are refused, a forked child
does not hang on rayon, and Ctrl-C stops a long kernel.

Each case that could abort, hang or take the machine's memory runs in a subprocess, under an
address-space limit (RLIMIT_AS) where memory is at stake and a timeout where a hang is."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import undertow as ut

PYTHON_DIR = str(Path(ut.__file__).resolve().parent.parent)


def run_child(code: str, timeout: float = 120, limit_gb: float | None = None):
    """Runs `code` in a fresh interpreter importing this undertow; RLIMIT_AS of `limit_gb`
    above the interpreter's size after the imports, so a runaway allocation fails at once."""
    prelude = "import numpy as np, undertow as ut\n"
    if limit_gb is not None:
        prelude += textwrap.dedent(f"""
            import resource
            with open("/proc/self/statm") as f:
                size = int(f.read().split()[0]) * resource.getpagesize()
            cap = size + int({limit_gb} * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            """)
    # Two malloc arenas: each thread's own 64 MB arena would count against RLIMIT_AS.
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, MALLOC_ARENA_MAX="2")
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# --- item 1: sizes from the arguments are checked before allocating ---------------------------

REFUSED = {
    "pca_fit_wide": "ut.PCA.fit(np.zeros((5, 100_000)))",
    "embedding_drift_fit_wide": "ut.EmbeddingDrift.fit(np.ones((8, 100_000), np.float32))",
    "covariance_accumulator": "ut.CovarianceAccumulator(10**6)",
    "rff_accumulator_dim": "ut.RffAccumulator(10**9, 1.0)",
    "exact_search_huge_k": (
        "ut.exact_search(np.ones((100, 8), np.float32), np.ones((5000, 8), np.float32), k=100_000)"
    ),
}


@pytest.mark.parametrize("call", REFUSED.values(), ids=REFUSED.keys())
def test_allocations_from_arguments_raise_memory_error(call):
    # Each call would need > 8 GB; under a 2 GB address-space limit it must be a MemoryError
    # that says how many bytes, never an abort (SIGABRT) or an OOM kill.
    proc = run_child(
        f"""
        try:
            {call}
        except MemoryError as e:
            print("MemoryError:", e)
        else:
            print("no error")
        """,
        limit_gb=2,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith("MemoryError:"), out + proc.stderr[-2000:]
    assert "bytes" in out


def test_memory_error_names_the_argument_and_the_ceiling():
    proc = run_child(
        """
        try:
            ut.CovarianceAccumulator(10**6)
        except MemoryError as e:
            print(e)
        """,
        limit_gb=2,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # d(d+1)/2 float64 sums of d = 1e6, and the available memory it exceeds.
    assert f"{(10**6 * (10**6 + 1) // 2) * 8} bytes" in proc.stdout
    assert "dim=1000000" in proc.stdout
    assert "UNDERTOW_MEMORY_LIMIT" in proc.stdout


def test_memory_ceiling_can_be_lowered_by_environment():
    proc = run_child(
        """
        import os
        try:
            ut.CovarianceAccumulator(4096)  # 67 MB of sums
        except MemoryError as e:
            print("refused", e)
        """,
    )
    assert proc.stdout == ""  # fits in this machine's memory
    env_code = """
        import os
        os.environ["UNDERTOW_MEMORY_LIMIT"] = str(10**6)
        try:
            ut.CovarianceAccumulator(4096)
        except MemoryError as e:
            print("refused", e)
        acc = ut.CovarianceAccumulator(64)  # small requests skip the ceiling
        print("small ok", acc.dim)
        """
    proc = run_child(env_code)
    assert "refused" in proc.stdout and "1000000 bytes" in proc.stdout, proc.stderr
    assert "small ok 64" in proc.stdout


def test_mmd_many_permutations_runs_in_bounded_memory():
    # 600 rows and 100,000 permutations held 600 x 200,002 float64 labels (960 MB) at once;
    # batched, the labels are at most 64 MB, so the resident peak grows by far less than 700 MB.
    # (Resident memory, not RLIMIT_AS: faer's matrix product reserves twice the CPU's L3 of
    # address space per thread on its first call, 629 MB on a CPU with a 300 MiB L3, mostly
    # never touched; under a 0.7 GB address-space cap that reservation aborted the child.)
    proc = run_child(
        """
        import resource
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rng = np.random.default_rng(3)
        x, y = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
        full = ut.mmd(x, y, bandwidth=1.0, permutations=100_000, seed=1)
        none = ut.mmd(x, y, bandwidth=1.0, permutations=0)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        print(repr(full.value), repr(none.value), repr(full.p_value), grown)
        """,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    value, reference, p, grown = (float(v) for v in proc.stdout.split())
    assert grown < 0.7 * 2**30, grown
    assert value == reference  # the observed statistic does not depend on the permutations
    # Same distribution: a p-value on the grid 1/(1+P), far from 0.
    assert 0.01 < p <= 1.0
    assert abs(p * 100_001 - round(p * 100_001)) < 1e-6


def test_rff_features_are_capped_with_the_reason():
    with pytest.raises(ut.UndertowError, match=r"between 1 and 4096.*O\(features\^3\)"):
        ut.RffAccumulator(4, 1.0, features=8192)
    with pytest.raises(ut.UndertowError, match="4096"):
        ut.mmd(np.zeros((3, 2)), np.ones((3, 2)), bandwidth=1.0, estimator="rff", features=16384)
    assert ut.RffAccumulator(4, 1.0, features=4096).features == 4096


# --- item 7: values whose squares overflow are refused, not answered wrong --------------------


def test_pca_of_values_whose_squares_overflow_is_refused():
    x = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ut.UndertowError, match=r"too large.*overflow"):
        ut.PCA.fit(x * 1e200, components=2)
    # Just below the overflow the answer scales exactly like the float64 reference.
    fit = ut.PCA.fit(x * 1e100, components=2)
    want = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1][:2] * 1e200
    np.testing.assert_allclose(fit.explained_variance, want, rtol=1e-9)


def test_pca_sums_that_overflow_across_batches_are_refused():
    acc = ut.CovarianceAccumulator(2)
    big = np.array([[1e153, 0.0], [-1e153, 1.0]])
    for _ in range(200):  # each batch fine, the sum of squares past 1.8e308
        acc.update(np.vstack([big, -big]) * 3)
    with pytest.raises(ut.UndertowError, match="too large"):
        acc.finalize(1)


def test_mmd_of_values_whose_squares_overflow_is_refused():
    rng = np.random.default_rng(1)
    huge = np.where(rng.random((40, 3)) < 0.5, -1e308, 1e308)
    normal = rng.normal(size=(40, 3))
    with pytest.raises(ut.UndertowError, match="too large"):
        ut.mmd(huge, normal, bandwidth=1.0, permutations=10)
    with pytest.raises(ut.UndertowError, match="too large"):
        ut.median_bandwidth(huge, normal)
    with pytest.raises(ut.UndertowError, match="too large"):
        # Squared norms 1.1e308 fit; squared distances (up to 4x that) do not.
        ut.mmd(huge * 6e-155, normal, bandwidth=1.0, permutations=10)
    # float32: products of values near 1e20 overflow float32 although the values do not.
    x32 = (normal * 1e20).astype(np.float32)
    with pytest.raises(ut.UndertowError, match="float32"):
        ut.mmd(x32, x32[::-1].copy(), bandwidth=1e20, permutations=10)


# --- item 4: fork after use -------------------------------------------------------------------

FORK_CODE = """
import os, sys, multiprocessing as mp
rng = np.random.default_rng(0)
stored = rng.normal(size=(40_000, 32)).astype(np.float32)
queries = rng.normal(size=(300, 32)).astype(np.float32)

def work(_=None):
    d, i = ut.exact_search(stored, queries, k=5)
    pca = ut.PCA.fit(stored, components=4)
    return d.tobytes() + i.tobytes() + pca.explained_variance.tobytes()

parent = work()  # the parent has used the thread pool before forking
pid = os.fork()
if pid == 0:
    os._exit(0 if work() == parent else 3)
_, status = os.waitpid(pid, 0)
print("os.fork child exit", os.waitstatus_to_exitcode(status))
with mp.get_context("fork").Pool(2) as pool:
    results = pool.map(work, range(3))
print("pool identical", all(r == parent for r in results))
"""


def test_forked_child_runs_kernels_identically_instead_of_hanging():
    proc = run_child(FORK_CODE, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "os.fork child exit 0" in proc.stdout
    assert "pool identical True" in proc.stdout


# --- item 5: Ctrl-C stops a long kernel ---------------------------------------------------------

LONG_KERNELS = {
    "mmd_exact": """
        rng = np.random.default_rng(0)
        x = rng.normal(size=(8000, 64)).astype(np.float32)
        call = lambda: ut.mmd(x, x[::-1].copy(), bandwidth=1.0, permutations=2000)
        """,
    "exact_search": """
        rng = np.random.default_rng(0)
        stored = rng.normal(size=(400_000, 128)).astype(np.float32)
        queries = rng.normal(size=(20_000, 128)).astype(np.float32)
        call = lambda: ut.exact_search(stored, queries, k=10)
        """,
}


@pytest.mark.parametrize("setup", LONG_KERNELS.values(), ids=LONG_KERNELS.keys())
def test_sigint_interrupts_a_long_kernel(setup):
    code = (
        "import numpy as np, undertow as ut, sys, time\n"
        + textwrap.dedent(setup)
        + textwrap.dedent("""
        print("start", flush=True)
        t = time.perf_counter()
        try:
            call()
            print("finished", time.perf_counter() - t, flush=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
        """)
    )
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout.readline().strip() == "start"
        time.sleep(1.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
        elapsed = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
    assert "KeyboardInterrupt" in out, out + err[-2000:]
    # Generous: the kernel stops at its next block (well under a second here).
    assert elapsed < 3.0, f"{elapsed:.2f} s from SIGINT to exit"
