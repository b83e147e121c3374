"""`undertow run job.toml` beside the sum of its parts called from Python, on the same files.

Data (written once to a temporary directory): a reference and a current Parquet file of ROWS
rows (default 1e6) x COLUMNS float32 columns (default 100), plus a DIM-dimensional float32
vector column (default 32); the current side is shifted in half the columns.

* parts   the same work called from Python, each step timed: ``pl.read_parquet`` of the
          reference columns + ``Reference.fit``; ``ut.scan(current).psi(reference)``; the
          reference vectors read + ``EmbeddingDrift.fit``; ``ut.scan(current).embedding``;
          ``ut.report(...)`` (the HTML page);
* run     ``run_job(load_job("job.toml"))`` in the same process: the parts plus the schema
          reads, the column choice, report.json, the JUnit file and the renames;
* cli     ``python -m undertow run job.toml`` in a subprocess: ``run`` plus starting Python
          and importing undertow (polars, pyarrow, faiss are not imported by a job without
          [audit]).

The headline is run / parts (target: at most 1.3). Each timing is the best of ROUNDS (default
3), the rounds interleaving parts, run and command line (a change of load on a shared machine
hits all of them alike). The run's PSI and embedding values are checked equal to the parts'
(same data, same seeds). No assertion is made on time.

Environment: UNDERTOW_BENCH_JOB_ROWS (default 1e6; 1e5 with UNDERTOW_BENCH_QUICK=1),
UNDERTOW_BENCH_JOB_COLUMNS (100), UNDERTOW_BENCH_JOB_DIM (32), UNDERTOW_BENCH_JOB_ROUNDS (3).

    UNDERTOW_BENCH_QUICK=1 python -m pytest benches/test_bench_job.py -q -s   # ~1 min
    python -m pytest benches/test_bench_job.py -q -s                          # 1e6 x 100
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from _common import _is_quick

import undertow as ut
from undertow.jobs import load_job, run_job


def _env_int(name: str, default: float, quick: float) -> int:
    raw = os.environ.get(name)
    return int(float(raw)) if raw else int(quick if _is_quick() else default)


ROWS = _env_int("UNDERTOW_BENCH_JOB_ROWS", 1e6, 1e5)
COLUMNS = _env_int("UNDERTOW_BENCH_JOB_COLUMNS", 100, 100)
DIM = _env_int("UNDERTOW_BENCH_JOB_DIM", 32, 32)
ROUNDS = _env_int("UNDERTOW_BENCH_JOB_ROUNDS", 3, 3)
PERMUTATIONS = 100


def _table(rng: np.random.Generator, shift: float) -> pl.DataFrame:
    data = rng.standard_normal((ROWS, COLUMNS), dtype=np.float32)
    data[:, : COLUMNS // 2] += np.float32(shift)
    frame = pl.DataFrame({f"c{j}": data[:, j] for j in range(COLUMNS)})
    vectors = rng.standard_normal((ROWS, DIM), dtype=np.float32) + np.float32(shift / 4)
    return frame.with_columns(emb=pl.Series(vectors))


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bench-job")
    rng = np.random.default_rng(0)
    _table(rng, 0.0).write_parquet(d / "ref.parquet", row_group_size=131_072)
    _table(rng, 0.2).write_parquet(d / "cur.parquet", row_group_size=131_072)
    (d / "job.toml").write_text(
        'reference = "ref.parquet"\ncurrent = "cur.parquet"\nprogress = false\n'
        f'[tabular]\n[embedding]\ncolumns = ["emb"]\npermutations = {PERMUTATIONS}\n'
    )
    return d


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def test_run_vs_parts(job: Path) -> None:
    columns = [f"c{j}" for j in range(COLUMNS)]
    ref_path, cur_path = str(job / "ref.parquet"), str(job / "cur.parquet")

    def fit_tabular():  # type: ignore[no-untyped-def]
        return ut.Reference.fit(pl.read_parquet(ref_path, columns=columns))

    def fit_embedding():  # type: ignore[no-untyped-def]
        vectors = pl.read_parquet(ref_path, columns=["emb"]).get_column("emb")
        return ut.EmbeddingDrift.fit(vectors, components=min(32, DIM), permutations=PERMUTATIONS)

    env = {**os.environ, "PYTHONPATH": str(Path(ut.__file__).parents[1])}

    def cli() -> int:
        return subprocess.run(
            [sys.executable, "-m", "undertow", "run", "job.toml", "--quiet"],
            cwd=job,
            env=env,
            capture_output=True,
        ).returncode

    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        timings = {}
        timings["fit_tabular"], reference = _timed(fit_tabular)
        timings["scan_psi"], psi = _timed(ut.scan(cur_path, progress=False).psi, reference)
        timings["fit_embedding"], drift = _timed(fit_embedding)
        timings["scan_embedding"], emb = _timed(ut.scan(cur_path, progress=False).embedding, drift, "emb")
        pages = (("PSI per column", psi), ("embedding drift: emb", emb))
        timings["html"], _ = _timed(ut.report, *pages)
        timings["run"], result = _timed(run_job, load_job(job / "job.toml"))
        timings["cli"], code = _timed(cli)
        for key, value in timings.items():
            best[key] = min(best.get(key, value), value)
        # the same numbers as the parts
        assert [c.value for c in result.sections[0].checks] == [psi[c].value for c in columns]
        assert result.sections[1].result["mmd"]["value"] == emb.mmd.value
        assert code == 2  # half the columns and the vectors drifted
    run_s, cli_s = best.pop("run"), best.pop("cli")
    parts, total = best, sum(best.values())
    summary = {
        "rows": ROWS,
        "columns": COLUMNS,
        "dim": DIM,
        "rounds": ROUNDS,
        "parts_s": {k: round(v, 3) for k, v in parts.items()},
        "parts_total_s": round(total, 3),
        "run_s": round(run_s, 3),
        "cli_s": round(cli_s, 3),
        "run_over_parts": round(run_s / total, 3),
        "cli_over_parts": round(cli_s / total, 3),
    }
    print("\nundertow run vs its parts:", json.dumps(summary, indent=2))


def test_run_memory_with_a_fitted_reference(job: Path) -> None:
    """Peak RSS of `undertow run` reusing a fitted reference (the nightly case): the current
    side streams, so the peak is bounded by the batch, not by the file (ROWS x COLUMNS float32
    plus the vectors, decoded)."""
    env = {**os.environ, "PYTHONPATH": str(Path(ut.__file__).parents[1])}
    text = (job / "job.toml").read_text()
    (job / "job-fitted.toml").write_text(
        text.replace("progress = false\n", 'progress = false\nreference_states = "ref.undertow"\n')
        + '[outputs]\ndir = "fitted-out"\n'
    )
    fit = subprocess.run(
        [sys.executable, "-m", "undertow", "fit", "job-fitted.toml"], cwd=job, env=env, capture_output=True
    )
    assert fit.returncode == 0, fit.stderr
    peaks = {}
    for batch in (16_384, 65_536, 262_144):
        probe = (
            "import resource, subprocess, sys; "
            f"code = subprocess.run([sys.executable, '-m', 'undertow', 'run', 'job-fitted.toml', '--quiet', "
            f"'--batch-size', '{batch}'], capture_output=True).returncode; "
            "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        out = subprocess.run([sys.executable, "-c", probe], cwd=job, env=env, capture_output=True, text=True)
        code, peak_kb = out.stdout.split()
        assert int(code) == 2, out.stderr
        peaks[batch] = round(int(peak_kb) / 1024)
    baseline = subprocess.run(
        [sys.executable, "-c", "import resource, subprocess, sys; subprocess.run([sys.executable, '-c', "
         "'import undertow, undertow.jobs.runner, undertow.report, pyarrow.dataset']); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"],
        cwd=job, env=env, capture_output=True, text=True,
    )  # fmt: skip
    decoded_mb = ROWS * (COLUMNS + DIM) * 4 / 1e6
    summary = {
        "current_decoded_mb": round(decoded_mb),
        "imports_peak_mb": round(int(baseline.stdout) / 1024),
        "run_peak_mb_by_batch": peaks,
    }
    print("\nundertow run (fitted reference) peak RSS:", json.dumps(summary, indent=2))
