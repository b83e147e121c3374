"""The one-pass fit's buffers are kept between calls (`rust/core/src/scratch.rs`) and taken back
unzeroed: a fit must not see what an earlier fit left in them, the pool must not grow with the
number of fits, and a child forked while a thread of the parent fits must fit on its own."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import undertow as ut


def _numpy_edges_and_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = x[np.isfinite(x)]
    edges = np.r_[-np.inf, np.unique(np.quantile(finite, np.linspace(0, 1, 11))[1:-1]), np.inf]
    return edges, np.histogram(finite, edges)[0]


def test_fits_of_every_size_and_shape_in_turn_see_nothing_of_the_earlier_ones():
    # A large fit fills the buffers with its keys and counters; the smaller ones after it take
    # those same buffers (more room than they need, stale values past what they write), then a
    # large one takes them back from the smaller ones. Each fit checked against numpy.
    rng = np.random.default_rng(17)
    sizes = [3_000_000, (1 << 19) + 5, 1_500_000, (1 << 20) + 1, 3_000_000]
    shapes = {
        "normal": lambda n: rng.standard_normal(n),
        "shifted narrow": lambda n: 1e4 + rng.standard_normal(n) * 1e-2,
        "lognormal": lambda n: rng.lognormal(0, 2, n),
        "ties": lambda n: np.floor(rng.uniform(0, 40, n)),
    }
    fits = 0
    for n in sizes:
        for name, make in shapes.items():
            for dtype in (np.float32, np.float64):
                x = make(n).astype(dtype)
                edges, counts = _numpy_edges_and_counts(x)
                r = ut.psi(x, x[: n // 3], nan_policy="omit")
                np.testing.assert_array_equal(r.edges, edges, err_msg=f"{name} {n} {dtype}")
                np.testing.assert_array_equal(r.expected_counts, counts, err_msg=f"{name} {n} {dtype}")
                fits += 1
    assert fits == len(sizes) * len(shapes) * 2


_RETAINED_CHILD = textwrap.dedent(
    """
    import re
    import numpy as np
    import undertow as ut

    def rss():
        text = open("/proc/self/status").read()
        return int(re.search(r"VmRSS:\\s+(\\d+)", text).group(1)) * 1024

    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(n).astype(np.float32) for n in (2_000_000, 8_000_000, 600_000)]
    for x in xs:
        ut.Reference.fit({"x": x})
    after_first = rss()
    for _ in range(15):
        for x in xs:
            ut.Reference.fit({"x": x})
    print(rss() - after_first)
    """
)


def test_the_kept_buffers_do_not_grow_with_the_number_of_fits():
    # After one round of three sizes the pool holds their buffers; 45 fits more reuse them.
    done = subprocess.run(
        [sys.executable, "-c", _RETAINED_CHILD], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    grown = int(done.stdout.split()[-1])
    assert grown < 24 << 20, f"RSS grew by {grown / 2**20:.1f} MiB over 45 fits"


_FORK_CHILD = textwrap.dedent(
    """
    import os, sys, threading
    import numpy as np
    import undertow as ut

    rng = np.random.default_rng(9)
    x = rng.standard_normal(1_500_000).astype(np.float32)
    y = rng.standard_normal(1_000_000).astype(np.float32) + 0.1
    want = ut.psi(x, y).value
    stop = threading.Event()

    def fit_forever():
        while not stop.is_set():
            ut.psi(x, y)

    workers = [threading.Thread(target=fit_forever) for _ in range(2)]
    for w in workers:
        w.start()
    bad = 0
    for _ in range(12):
        pid = os.fork()
        if pid == 0:
            # The pool's locks may be held by a parent thread at the fork: the child must
            # neither wait on them nor get a different answer.
            os._exit(0 if ut.psi(x, y).value == want else 3)
        _, status = os.waitpid(pid, 0)
        bad += os.waitstatus_to_exitcode(status) != 0
    stop.set()
    for w in workers:
        w.join()
    print(bad)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="fork while threads run: Linux")
def test_a_child_forked_while_the_parent_fits_fits_on_its_own():
    done = subprocess.run([sys.executable, "-c", _FORK_CHILD], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "0"
