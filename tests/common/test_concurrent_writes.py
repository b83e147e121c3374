"""Another Python thread writing to an array while a multi-pass kernel reads it (the kernels run
with the GIL released). Before: `Reference.fit` of a C-ordered matrix said "the counts sum past
2**64", the float64 fit blamed the `reference` edges, and `ut.ks` raised pyo3's PanicException
(a BaseException, which `except Exception` does not catch). Now each pass checks the counts of
the pass before and the call raises an UndertowError that says what happened, or returns.

The writes race the kernels, so each child makes several calls under a writer that never
pauses and checks every outcome; the kernels' checks themselves are tested deterministically in
Rust (`rows_rewritten_between_the_passes_are_reported_*`, `values_rewritten_after_the_first_
pass_are_reported`, `samples_rewritten_after_the_first_pass_are_reported`). Children run in a
subprocess so that a crash fails the test instead of killing pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import undertow as ut

PYTHON_DIR = str(Path(ut.__file__).resolve().parent.parent)
CHANGED = "its values changed while undertow was reading them"

CHILD = textwrap.dedent(
    """
    import json, sys, threading
    import numpy as np
    import undertow as ut

    kind, calls = sys.argv[1], int(sys.argv[2])
    FLIPPED = ("psi_actual", "psi_uniform", "histogram")
    rng = np.random.default_rng(0)
    if kind == "matrix_f32":
        target = rng.standard_normal((200_000, 20)).astype(np.float32)
        call = lambda: ut.Reference.fit(target)
    elif kind == "matrix_f64":
        target = rng.standard_normal((200_000, 20))
        call = lambda: ut.Reference.fit(target)
    elif kind == "column_f64":
        target = rng.standard_normal(2_000_000)
        other = rng.standard_normal(100_000)
        call = lambda: ut.psi(target, other)
    elif kind == "psi_actual":
        # `actual` flipped whole between the counting kernel's reads of a block (one per edge)
        other = rng.standard_normal(100_000)
        target = rng.standard_normal(2_000_000)
        call = lambda: ut.psi(other, target)
    elif kind == "psi_uniform":
        target = rng.standard_normal(2_000_000)
        other = rng.standard_normal(100_000)
        call = lambda: ut.psi(target, other, binning="uniform")
    elif kind == "histogram":
        target = rng.standard_normal(2_000_000)
        call = lambda: ut.histogram(target, bins=np.linspace(-2, 2, 9))
    elif kind == "embedding":
        # rows flipped between zero and ones: a zero row is a true refusal, never "too small"
        target = rng.standard_normal((20_000, 64)).astype(np.float32)
        target[:1000] = 1.0
        call = lambda: ut.EmbeddingDrift.fit(target, components=8, permutations=20)
    elif kind == "ks":
        target = rng.standard_normal(2_000_000).astype(np.float32)
        other = rng.standard_normal(2_000_000).astype(np.float32)
        call = lambda: ut.ks(target, other)
    flat = target.reshape(-1)
    stop = threading.Event()

    def write():
        w = np.random.default_rng(1)
        while not stop.is_set():
            if kind == "embedding":
                target[:1000] = 0.0
                target[:1000] = 1.0
                continue
            if kind in FLIPPED:
                flat[:] = -1e30
                flat[:] = 1e30
                continue
            i = int(w.integers(0, flat.size - 50_000))
            flat[i : i + 50_000] = w.standard_normal(50_000) * w.uniform(0.1, 10.0)

    writer = threading.Thread(target=write)
    writer.start()
    outcomes = []
    try:
        for _ in range(calls):
            try:
                call()
                outcomes.append("returned")
            except Exception as e:  # anything but a BaseException is reported as it is
                outcomes.append(f"{type(e).__name__}: {e}")
    finally:
        stop.set()
        writer.join()
    print(json.dumps(outcomes))
    """
)


def _outcomes(kind: str, calls: int) -> tuple[list[str], str]:
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "RUST_BACKTRACE": "0"}
    run = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(calls)], capture_output=True, text=True, timeout=300, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = json.loads(run.stdout)
    assert len(outcomes) == calls
    assert "panicked" not in run.stderr, run.stderr[-3000:]
    return outcomes, run.stderr


@pytest.mark.parametrize("kind", ["matrix_f32", "matrix_f64", "column_f64", "ks"])
def test_a_kernel_reading_an_array_another_thread_writes_reports_it(kind: str) -> None:
    # 40 matrix fits: a value rewritten between the row scan's two reads of it named a bucket
    # past its column's groups and panicked (index out of bounds) in about 1 fit in 100; 6
    # fits caught it in one CI run of two
    outcomes, _ = _outcomes(kind, 40 if kind.startswith("matrix") else 6)
    for outcome in outcomes:
        # A call either returns (it read between writes, or no count it checks moved) or says
        # the values changed, naming the argument; never another error.
        reported = outcome.startswith("UndertowError: ") and CHANGED in outcome
        assert outcome == "returned" or reported, outcome
    # A writer that never pauses is seen: before, none of these calls said so.
    assert any(CHANGED in outcome for outcome in outcomes), outcomes


@pytest.mark.parametrize("kind", ["psi_actual", "psi_uniform", "histogram"])
def test_counts_read_across_a_whole_array_rewrite_never_wrap(kind: str) -> None:
    # The counting kernel reads each block once per edge: an array flipped between -1e30 and
    # 1e30 meanwhile gave counts that rise with the edge, whose differences wrapped ("counts:
    # ... would sum past 2**64", a `counts` argument nobody passed; ut.histogram's bins wrapped
    # silently). Such calls are rare (a few in 300, so none may happen here): each outcome must
    # be a result or the named error; the check itself is tested in Rust
    # (`counts_that_rise_with_the_threshold_are_reported_not_wrapped`).
    outcomes, _ = _outcomes(kind, 40)
    for outcome in outcomes:
        reported = outcome.startswith("UndertowError: ") and CHANGED in outcome
        assert outcome == "returned" or reported, outcome


def test_a_panicking_kernel_raises_a_runtime_error_not_a_base_exception() -> None:
    # The guard in the binding's `detached`: a panic (a bug) reaches Python as a RuntimeError,
    # which `except Exception` catches, with the panic's message; the process goes on.
    child = textwrap.dedent(
        """
        from undertow import _core
        try:
            _core._panic_in_kernel()
        except Exception as e:
            print(type(e).__name__, "|", e)
        print("alive")
        """
    )
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "RUST_BACKTRACE": "0"}
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    first, alive = run.stdout.strip().splitlines()
    name, message = first.split(" | ")
    assert name == "RuntimeError"
    assert "internal error in a kernel (a test of the panic guard)" in message
    assert alive == "alive"


def test_rows_zeroed_during_an_embedding_fit_are_not_called_too_small() -> None:
    # The cosine pass refuses zero rows; its error path read the matrix twice to tell zero rows
    # from rows whose squared norms underflow, so a row zeroed in between was reported as
    # "too small to normalise ... rescale the data" (2 in 40 calls in the review), for data
    # holding only 0 and +-1. Allowed: a result, the zero-vector refusal (true when read), or
    # the changed-values error.
    outcomes, _ = _outcomes("embedding", 40)
    for outcome in outcomes:
        assert "too small to normalise" not in outcome, outcome
        assert outcome == "returned" or outcome.startswith("UndertowError: "), outcome
