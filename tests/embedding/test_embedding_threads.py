"""Embedding statistics are bit-identical for any Rayon thread count (fixed block reductions)."""

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json
import numpy as np
import undertow as ut

rng = np.random.default_rng(7)
ref = (rng.normal(size=(30_000, 48)) + 0.2).astype(np.float32)
cur = (rng.normal(size=(20_000, 48)) + 0.25).astype(np.float32)
out = {}
c = ut.cosine_drift(ref, cur)
out["cosine"] = [repr(c.centroid_distance), repr(c.cosine_psi), [repr(float(v)) for v in c.current_quantiles],
                 repr(c.current_mean_norm)]
p = ut.PCA.fit(ref, components=6)
out["pca"] = [p.components.tobytes().hex(), p.explained_variance.tobytes().hex()]
out["transform"] = p.transform(cur[:1000]).tobytes().hex()
m = ut.mmd(ref[:1500], cur[:1300], permutations=50, seed=3)
out["mmd"] = [repr(m.value), repr(m.p_value), repr(m.bandwidth)]
m64 = ut.mmd(ref[:700].astype(np.float64), cur[:600].astype(np.float64), permutations=20)
out["mmd64"] = [repr(m64.value), repr(m64.p_value), repr(m64.bandwidth)]
r = ut.mmd(ref, cur, estimator="rff", features=64, seed=1)
out["rff"] = [repr(r.value), repr(r.p_value)]
print(json.dumps(out))
"""


def _run(threads: int) -> dict:
    env = dict(os.environ)
    env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_embedding_results_do_not_depend_on_thread_count():
    one, two, three = _run(1), _run(2), _run(3)
    for key in one:
        assert one[key] == two[key], key
        assert one[key] == three[key], key
