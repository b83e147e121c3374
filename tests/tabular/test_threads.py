"""Results do not depend on the Rayon thread count; concurrent Python threads are safe."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
from reference_impl import assert_psi_matches, assert_same_result, psi_reference

import undertow as ut

N = 3_000_000

SCRIPT = r"""
import json, sys
import numpy as np
import undertow as ut

N = int(sys.argv[1])
rng = np.random.default_rng(12345)
e = rng.standard_t(4, N)
a = rng.standard_t(4, N) * 1.05 + 0.02
e[::1001] = np.nan
a[::777] = np.inf
out = {}
for binning in ("quantile", "uniform"):
    for dtype in ("float64", "float32"):
        r = ut.psi(e.astype(dtype), a.astype(dtype), bins=37, binning=binning, nan_policy="bin")
        out[f"{binning}-{dtype}"] = {
            "value": repr(r.value),
            "edges": [repr(float(v)) for v in r.edges],
            "expected_counts": [int(v) for v in r.expected_counts],
            "actual_counts": [int(v) for v in r.actual_counts],
        }
c, edges = ut.histogram(e[np.isfinite(e)], bins=50)
out["histogram"] = {"counts": [int(v) for v in c], "edges": [repr(float(v)) for v in edges]}
table = np.column_stack([e[: N // 3], e[N // 3 : 2 * (N // 3)]])
ref = ut.Reference.fit(table, nan_policy="omit")
acc = ref.accumulator()
for part in np.array_split(table, 4):
    acc.update(part)
rep = acc.finalize()
out["table"] = {
    c: [repr(rep[c].value), [int(v) for v in rep[c].actual_counts]] for c in rep.columns
}
print(json.dumps(out))
"""


def _run(threads: int) -> dict:
    env = dict(os.environ)
    env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(N)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_thread_count_does_not_change_results():
    one = _run(1)
    two = _run(2)
    assert one == two
    # and the values are the right ones
    rng = np.random.default_rng(12345)
    e = rng.standard_t(4, N)
    a = rng.standard_t(4, N) * 1.05 + 0.02
    e[::1001] = np.nan
    a[::777] = np.inf
    want = psi_reference(e, a, bins=37, binning="quantile", nan_policy="bin")
    got = one["quantile-float64"]
    np.testing.assert_allclose(float(got["value"]), want["value"], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal([float(v) for v in got["edges"]], want["edges"])
    np.testing.assert_array_equal(got["expected_counts"], want["expected_counts"])
    np.testing.assert_array_equal(got["actual_counts"], want["actual_counts"])
    hc, he = np.histogram(e[np.isfinite(e)], bins=50)
    np.testing.assert_array_equal(one["histogram"]["counts"], hc)
    np.testing.assert_array_equal([float(v) for v in one["histogram"]["edges"]], he)


def test_concurrent_python_threads_match_sequential():
    rng = np.random.default_rng(99)
    inputs = [(rng.normal(size=400_000), rng.normal(0.1 * i, 1, size=300_000)) for i in range(4)]
    inputs[1] = (inputs[1][0].astype(np.float32), inputs[1][1].astype(np.float32))
    sequential = [ut.psi(e, a, bins=20) for e, a in inputs]
    results = [[None] * 3 for _ in inputs]
    errors = []
    barrier = threading.Barrier(len(inputs))

    def work(i):
        try:
            barrier.wait()
            for k in range(3):
                results[i][k] = ut.psi(inputs[i][0], inputs[i][1], bins=20)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, (e, a) in enumerate(inputs):
        for k in range(3):
            assert_same_result(results[i][k], sequential[i])
        assert_psi_matches(sequential[i], psi_reference(e, a, bins=20))


def test_concurrent_accumulator_updates_on_separate_accumulators():
    rng = np.random.default_rng(7)
    ref_x = rng.normal(size=(50_000, 2))
    ref = ut.Reference.fit(ref_x)
    batches = [rng.normal(size=(100_000, 2)) for _ in range(4)]
    accs = [ref.accumulator() for _ in batches]
    barrier = threading.Barrier(len(batches))
    errors = []

    def work(i):
        try:
            barrier.wait()
            accs[i].update(batches[i])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    total = ref.accumulator()
    for acc in accs:
        total.merge(acc)
    whole = ref.psi(np.vstack(batches))
    report = total.finalize()
    for name in whole.columns:
        assert_same_result(report[name], whole[name])
