"""encoder_mix_vectors beside the audit it is part of and beside an older version of itself, in
one process (issue 14: the check must add under 20% to a 1e6 x 384 audit).

Builds the mixed index of benches/test_bench_audit.py group 4 (ROWS rows of one synthetic
encoder, 5% of them written by another), then alternates, ROUNDS times: `ut.audit_index` of
it (this tree), the check alone, and the check of REF (a git revision, default main) alone,
loaded from `git show REF:python/undertow/audit/_mix_vectors.py`, or from
REF/undertow/audit/_mix_vectors.py when REF is a directory (a tree's python/, such as a reference
build of main). The three must flag the same
ids. overhead = check / (audit - check), wall and CPU. On a shared machine run it on one thread
(OPENBLAS_NUM_THREADS=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1): CPU time is then the work.

    python benches/mix_vectors_overhead.py [ROWS=1e6] [ROUNDS=2] [REF=main]
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import polars as pl

import undertow as ut
from undertow.audit import DEFAULT_THRESHOLDS
from undertow.audit import _mix_vectors as new
from undertow.audit._index import open_index

sys.path.insert(0, str(Path(__file__).parent))
from test_bench_audit import BLOCK, DIM, MIX_SHARE, _encoder_rows


def _old(ref: str):
    if Path(ref).is_dir():  # a tree's python/ directory, e.g. a reference build of main
        source = (Path(ref) / "undertow" / "audit" / "_mix_vectors.py").read_text()
    else:
        source = subprocess.run(
            ["git", "show", f"{ref}:python/undertow/audit/_mix_vectors.py"],
            cwd=Path(__file__).parents[1], check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "mix_vectors_ref.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("mix_vectors_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**6
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    old = _old(sys.argv[3] if len(sys.argv) > 3 else "main")
    rng = np.random.default_rng(11)  # as benches/test_bench_audit.py _mixed_index
    x = np.empty((rows, DIM), dtype=np.float32)
    _encoder_rows(x, rng)
    replaced = np.sort(rng.choice(rows, int(rows * MIX_SHARE), replace=False))
    other = np.empty((len(replaced), DIM), dtype=np.float32)
    _encoder_rows(other, rng)
    x[replaced] = other
    ids = 3 * np.arange(rows, dtype=np.int64) + 1
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    for start in range(0, rows, BLOCK):
        index.add_with_ids(x[start : start + BLOCK], ids[start : start + BLOCK])
    del x, other
    hashes = pl.Series("content_hash", ids).hash(7).cast(pl.Utf8)
    docs = pl.DataFrame({"id": ids, "content_hash": hashes, "embedded_hash": hashes,
                         "encoder_version": ["all-MiniLM-L6-v2"] * rows})  # fmt: skip
    view = open_index(index, False)
    limits = dict(DEFAULT_THRESHOLDS)
    runs = {
        "audit": lambda: ut.audit_index(index, docs, k=10, query_sample=500)["encoder_mix_vectors"],
        "check": lambda: new.encoder_mix_vectors(view, limits, 0),
        "old check": lambda: old.encoder_mix_vectors(view, limits, 0),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    found = {}
    for _ in range(rounds):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            found[name] = run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            print(f"{name:9s} wall {times[name][-1][0]:7.2f} s  cpu {times[name][-1][1]:7.2f} s  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    for name in ("check", "old check"):
        np.testing.assert_array_equal(found[name].ids, found["audit"].ids)
    hits = np.isin((found["audit"].ids - 1) // 3, replaced).sum()
    med = {n: [statistics.median(t[i] for t in ts) for i in (0, 1)] for n, ts in times.items()}
    rest = [med["audit"][i] - med["check"][i] for i in (0, 1)]
    print(
        f"medians (wall, cpu): {med}; the three flag the same {found['audit'].count} ids "
        f"(precision {hits / max(found['audit'].count, 1):.4f}, recall {hits / len(replaced):.4f})"
    )
    for name in ("check", "old check"):
        print(f"{name}: adds {med[name][0] / rest[0]:.1%} wall, {med[name][1] / rest[1]:.1%} CPU "
              "to the rest of the audit (target < 20%)")  # fmt: skip


if __name__ == "__main__":
    main()
