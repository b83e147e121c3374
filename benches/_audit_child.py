"""One `ut.audit_index` run in a fresh process, for benches/test_bench_audit.py.

    python benches/_audit_child.py '<json config>'

Config keys: index (path of the faiss index file), docs (Parquet file of the docs table), fresh
(.npz with ids and vectors), k, query_sample, mode, phases, cold.

mode, how the index reaches the auditor:

* "path":        `ut.audit_index(path, ...)`: the auditor opens the file itself (since 5f340fc
                 with IO_FLAG_MMAP | IO_FLAG_READ_ONLY: a flat index's codes are read into
                 faiss's own buffer, IVF lists stay mapped);
* "mmap_object": the fallback should the path mode fail again: this script opens the file with
                 913c083's flags (IO_FLAG_MMAP | IO_FLAG_READ_ONLY | IO_FLAG_MMAP_IFC, inside
                 the timed part), keeps the object alive and hands it over. At 913c083 the path
                 mode segfaulted (open_index rebound the only reference to read_index's result
                 to `faiss.downcast_index(...)`, a proxy that does not own it) and this mode
                 raised TypeError in row_norms (flat codes mapped at their file offset are not
                 4-byte aligned: the Rust kernels refuse them, "expected a C-contiguous matrix");
* "memory":      the file is read into memory (`faiss.read_index(path)`, no mmap, not timed),
                 then the object is audited.

phases: instead of one `audit_index` call, its steps (python/undertow/audit/auditor.py, the
same at 913c083 and 5f340fc) one by one on the index opened as `mode` says ("path": the
auditor's own `open_index(path)`), each timed, with the process RSS after each and its peak
during each (VmHWM is reset at each step): where the time and the memory go. It copies the
auditor's sequence, so it must be kept in step with auditor.py; the bench prints its sum beside
the audit_index median. A step that raises ends the breakdown and is reported.

profile: run the audit under cProfile and report the functions with the most own time.

cold: evict the index file's pages from the page cache (posix_fadvise DONTNEED) right before
the audit, so the index is read from disk.

Prints one JSON line: wall time of the audit, the process's RSS after the imports, before the
audit (after loading docs and fresh) and its peak (VmHWM, and getrusage's ru_maxrss: start this
script from a small process, e.g. through /bin/sh, since a process forked from a large one
inherits that one's RSS as its ru_maxrss across exec), the phases,
what the audit found; or the error an audit raised.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
import traceback
from typing import Any

_T0 = time.perf_counter()

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

import undertow as ut  # noqa: E402

_IMPORT_S = time.perf_counter() - _T0


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in bytes."""
    with open("/proc/self/status") as f:
        text = f.read()
    out = {}
    for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        out[key] = int(match.group(1)) * 1024 if match else -1
    return out


def _reset_hwm() -> None:
    """VmHWM := VmRSS (Linux; also lowers ru_maxrss, so phases mode reports the phases' peaks)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KB on Linux


def _open_mmap(path: str) -> Any:
    """The file opened with the flags of undertow/audit/_index.py's open_index."""
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY | getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
    return faiss.read_index(path, flags)


def _evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _summary(report: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"status": report.status, "seconds": report.seconds}
    for name, check in report.checks.items():
        out[name] = {
            "status": check.status,
            "value": check.value,
            "count": check.count,
            "ids": [int(i) for i in check.ids[:1000]],
        }
    return out


def _phases(
    phases: dict[str, dict[str, float]],
    mode: str,
    index: Any,
    docs: pl.DataFrame,
    fresh: tuple[np.ndarray, np.ndarray],
    k: int,
    query_sample: int,
) -> Any:
    """audit_index's steps one by one (auditor.py at 5f340fc), timed, RSS after each, into
    `phases` (which keeps the steps done when one raises)."""
    from undertow import _core
    from undertow.audit import auditor
    from undertow.audit._checks import encoder_mix, fresh_cosine, id_checks, ivf_checks, norm_profile
    from undertow.audit._docs import read_docs
    from undertow.audit._index import open_index
    from undertow.audit._mix_vectors import encoder_mix_vectors
    from undertow.audit._report import AuditReport
    from undertow.audit._search import Searched, ann_recall, score_shift, scores_of, tombstone_pollution
    from undertow.embedding.search import exact_search

    last = time.perf_counter()
    started = last

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        s = _status()
        phases[name] = {
            "s": now - last,
            "rss_mb": s["VmRSS"] / 1e6,
            "rss_file_mb": s["RssFile"] / 1e6,
            "rss_anon_mb": s["RssAnon"] / 1e6,
            "peak_mb": s["VmHWM"] / 1e6,  # the peak during this phase (reset below)
        }
        _reset_hwm()
        last = time.perf_counter()  # the /proc work is not charged to the next phase

    _reset_hwm()

    limits = auditor._limits(None)
    if mode == "mmap_object":
        index = _open_mmap(index)  # kept alive: see "mmap_object"
        mark("faiss.read_index (913c083's mmap flags)")
    view = open_index(index)
    mark("open_index (path: read_index + views)" if mode == "path" else "open_index (views)")
    table = read_docs(docs)
    mark("read_docs (polars -> numpy, sort, stale, encoder)")
    fresh_pair = auditor._fresh(fresh, view)
    mark("_fresh (validate the fresh pair)")
    rows = table.rows_of(view.ids)
    mark("rows_of (docs row of every stored id)")
    checks = {c.name: c for c in id_checks(view, table, rows, limits)}
    mark("id_checks (orphaned/missing/duplicate/stale)")
    checks["encoder_mix"] = encoder_mix(table, rows, None, limits["encoder_mix"])
    mark("encoder_mix")
    checks["fresh_cosine"] = fresh_cosine(view, *fresh_pair, limits)
    mark("fresh_cosine (argsort ids, gather, cosines)")
    norms = _core.row_norms(view.vectors)
    mark("row_norms (Rust, one pass over the matrix)")
    checks["norm_profile"] = norm_profile(view, norms, limits)
    mark("norm_profile (quantiles, off-norm ids)")
    checks["encoder_mix_vectors"] = encoder_mix_vectors(view, limits, 0)
    mark("encoder_mix_vectors (sample, k-means; the full pass on a candidate group)")
    for check in ivf_checks(view, table, rows, limits):
        checks[check.name] = check
    mark("ivf_checks (not run: flat index)")
    q, self_rows, source = auditor._queries(None, view, norms, query_sample, 0, fresh_pair)
    mark(f"_queries (queries: {source} vectors)")
    # search() of _search.py, split into its faiss half and its exact half
    q32 = np.ascontiguousarray(q, dtype=np.float32)
    scores, ids = view.index.search(q32, k + 1)
    mark(f"faiss search (index.search, {len(q32)} queries, k+1)")
    scores = scores.astype(np.float64)
    own = view.ids[self_rows]
    hit = ids == own[:, None]
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), k)
    keep = np.ones_like(ids, dtype=bool)
    keep[np.arange(len(ids)), first] = False
    ids = ids[keep].reshape(len(ids), k)
    scores = scores[keep].reshape(len(ids), k)
    exact_scores, exact_rows = exact_search(view.vectors, q32, k=k, metric=view.metric, exclude=self_rows)
    exact_ids = np.where(exact_rows >= 0, view.ids[np.maximum(exact_rows, 0)], -1)
    found = Searched(ids, scores, exact_ids, exact_scores, self_rows)
    mark(f"exact_search (Rust top-k, {len(q32)} queries)")
    checks["ann_recall"] = ann_recall(view, found, k, limits["ann_recall"], source)
    checks["tombstone_pollution"] = tombstone_pollution(
        found, checks["orphaned_vectors"].ids, limits["tombstone_pollution"]
    )
    score_data = scores_of(view, found)
    checks["score_shift"] = score_shift(score_data, None, limits)
    report = AuditReport(checks, view.describe(), score_data, k, seconds=time.perf_counter() - started)
    mark("ann_recall + tombstone_pollution + report")
    return report


def main() -> None:
    config = json.loads(sys.argv[1])
    path, k, query_sample, mode = config["index"], config["k"], config["query_sample"], config["mode"]
    after_imports = _status()
    t = time.perf_counter()
    docs = pl.read_parquet(config["docs"])
    with np.load(config["fresh"]) as f:
        fresh = (f["ids"], f["vectors"])
    load_s = time.perf_counter() - t
    index: Any = path
    read_s = 0.0
    if mode == "memory":
        t = time.perf_counter()
        index = faiss.read_index(path)
        read_s = time.perf_counter() - t
    if config.get("cold"):
        _evict(path)
    before = _status()
    maxrss_before = _maxrss()
    phases: dict[str, dict[str, float]] | None = {} if config.get("phases") else None
    report = None
    error = None
    profile = None
    t = time.perf_counter()
    try:
        if phases is not None:
            report = _phases(phases, mode, index, docs, fresh, k, query_sample)
        elif config.get("profile"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            target = _open_mmap(path) if mode == "mmap_object" else index
            profiler.enable()
            report = ut.audit_index(target, docs, fresh=fresh, k=k, query_sample=query_sample)
            profiler.disable()
            stats = pstats.Stats(profiler)
            rows = []
            for (file, line, func), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
                where = func if file == "~" else f"{os.path.basename(file)}:{line}({func})"
                rows.append({"function": where, "calls": calls, "own_s": own, "cum_s": cum})
            profile = sorted(rows, key=lambda r: -r["own_s"])[:25]
        elif mode == "mmap_object":
            owner = _open_mmap(path)
            report = ut.audit_index(owner, docs, fresh=fresh, k=k, query_sample=query_sample)
        else:
            report = ut.audit_index(index, docs, fresh=fresh, k=k, query_sample=query_sample)
    except Exception as exc:  # reported to the bench, which records it
        error = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
    wall = time.perf_counter() - t
    after = _status()
    if phases:  # VmHWM was reset at each phase: the peak is the largest phase peak
        after["VmHWM"] = max(
            [after["VmHWM"], before["VmHWM"]] + [int(p["peak_mb"] * 1e6) for p in phases.values()]
        )
    out = {
        "mode": mode,
        "cold": bool(config.get("cold")),
        "error": error,
        "import_s": _IMPORT_S,
        "load_docs_fresh_s": load_s,
        "read_index_s": read_s,
        "audit_s": wall,
        "rss_after_imports": after_imports["VmRSS"],
        "rss_before": before["VmRSS"],
        "rss_anon_before": before["RssAnon"],
        "rss_file_before": before["RssFile"],
        "maxrss_before": maxrss_before,
        "maxrss": _maxrss(),
        "hwm": after["VmHWM"],
        "rss_after": after["VmRSS"],
        "rss_anon_after": after["RssAnon"],
        "rss_file_after": after["RssFile"],
        "threads": {"faiss_omp": faiss.omp_get_max_threads()},
        "report": None if report is None else _summary(report),
        "phases": phases,
        "profile": profile,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
