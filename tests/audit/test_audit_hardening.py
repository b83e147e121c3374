"""Hardening of the index auditor (issue 10): an index file rebuilt during the audit, and a
table-driven bad-input matrix over every argument of audit_index, AuditReport.from_json,
exact_search and `undertow audit`.

Every matrix case ends in a correct result (compared with the same call on canonical arguments,
or with a hand-derived property) or in an UndertowError / TypeError whose message names the
argument; never a raw faiss, SWIG, numpy or polars error, an AttributeError or a panic.
Anything that could crash the interpreter (SIGBUS) runs in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import polars as pl
import pytest
from audit_corpus import DIM, corpus, docs_table, make_index

import undertow as ut
from undertow.audit import CHECKS

HERE = Path(__file__).parents[1] / "support"  # audit_corpus, for the scripts run in a subprocess
N_SMALL = 1000


# ---------------------------------------------------------------------------------------------
# an IVF index file truncated or rewritten while it is audited

# The nightly rebuild racing the audit cron, made deterministic: the file is truncated (or
# overwritten in place with another index) right after faiss's real read_index returns, before
# the audit walks the lists and searches.
RACE = """
import os, sys
import faiss, numpy as np
import undertow as ut
from audit_corpus import corpus, docs_table, make_index
kind, path, how, mmap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
data = corpus()
index, ids = make_index(kind, data.vectors, data.ids)
faiss.write_index(index, path)
other, _ = make_index(kind, data.vectors[::-1].copy(), data.ids + 1)
other_bytes = faiss.serialize_index(other).tobytes()
real_read_index = faiss.read_index

def racing_read_index(*args, **kwargs):
    opened = real_read_index(*args, **kwargs)
    if how == "truncate":
        os.truncate(path, 0)
    else:  # rewritten in place: same size, other ids and vectors
        with open(path, "r+b") as file:
            file.write(other_bytes[: os.path.getsize(path)])
    return opened

faiss.read_index = racing_read_index
kwargs = {"mmap": True} if mmap else {}
print(ut.audit_index(path, docs_table(ids), k=5, **kwargs).to_json())
"""


def run_race(kind: str, path: Path, how: str, mmap: bool) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RACE, kind, str(path), how, "1" if mmap else "0"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )


def same_findings(a: ut.AuditReport, b: ut.AuditReport) -> None:
    assert list(a.checks) == list(b.checks)
    for name in a.checks:
        x, y = a[name], b[name]
        assert x.status == y.status, name
        np.testing.assert_array_equal(x.ids, y.ids, err_msg=name)
        assert x.count == y.count and x.sample_size == y.sample_size, name
        assert (x.value is None and y.value is None) or x.value == pytest.approx(y.value, rel=1e-12), name
    np.testing.assert_array_equal(a.scores["top1"], b.scores["top1"])
    np.testing.assert_array_equal(a.scores["topk"], b.scores["topk"])


@pytest.mark.parametrize("how", ["truncate", "rewrite"])
@pytest.mark.parametrize("kind", ["IndexIVFFlat", "IndexIVFPQ"])
def test_a_file_changed_during_the_audit_does_not_change_the_audit(kind, how, tmp_path):
    """Before: IO_FLAG_MMAP kept the lists in the file's pages; truncating it killed the audit
    with SIGBUS (exit -7). Now the file is read once, into memory: the report is the report of
    the index as it was read."""
    data = corpus()
    done = run_race(kind, tmp_path / "index.faiss", how, mmap=False)
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
    report = ut.AuditReport.from_json(done.stdout.splitlines()[-1])
    index, ids = make_index(kind, data.vectors, data.ids)
    same_findings(report, ut.audit_index(index, docs_table(ids), k=5))


@pytest.mark.parametrize("kind", ["IndexIVFFlat", "IndexIVFPQ"])
def test_with_mmap_a_truncated_file_is_sigbus(kind, tmp_path):
    """The documented hazard of mmap=True: the lists are the file's pages; pages past the new
    end of the file raise SIGBUS when the audit touches them. Deterministic on Linux."""
    done = run_race(kind, tmp_path / "index.faiss", "truncate", mmap=True)
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("kind", ["IndexIVFFlat", "IndexIVFPQ"])
def test_with_mmap_a_rewritten_file_is_read_half_old_half_new(kind, tmp_path):
    """The other documented hazard of mmap=True: the lists are walked from the rewritten pages
    (the other index's ids) while the header read before says the old index: every stored id
    is an orphan and every document is missing, though neither index has that debt."""
    done = run_race(kind, tmp_path / "index.faiss", "rewrite", mmap=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = ut.AuditReport.from_json(done.stdout.splitlines()[-1])
    n = len(corpus().ids)
    assert report["orphaned_vectors"].count == n and report["missing_vectors"].count == n


@pytest.mark.parametrize("kind", ["IndexIVFFlat", "IndexIVFPQ"])
def test_with_mmap_an_untouched_file_audits_like_memory(kind, tmp_path):
    data = corpus()
    index, ids = make_index(kind, data.vectors, data.ids)
    path = tmp_path / "index.faiss"
    faiss.write_index(index, str(path))
    script = (
        "import sys, polars as pl, undertow as ut\n"
        "docs = pl.read_parquet(sys.argv[2])\n"
        "print(ut.audit_index(sys.argv[1], docs, k=5, mmap=True).to_json())\n"
    )
    docs_table(ids).write_parquet(tmp_path / "docs.parquet")
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "docs.parquet")],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    same_findings(ut.AuditReport.from_json(done.stdout), ut.audit_index(index, docs_table(ids), k=5))


@pytest.mark.parametrize("cut", [0, 40, 0.5, 0.999])
def test_a_file_truncated_before_it_is_read_is_an_error_naming_index(cut, tmp_path):
    data = corpus()
    index, _ = make_index("IndexIVFFlat", data.vectors, data.ids)
    blob = faiss.serialize_index(index).tobytes()
    path = tmp_path / "index.faiss"
    path.write_bytes(blob[: int(cut * len(blob)) if isinstance(cut, float) else cut])
    script = (
        "import sys, undertow as ut\n"
        "from audit_corpus import docs_table\n"
        "import numpy as np\n"
        "try:\n"
        "    ut.audit_index(sys.argv[1], docs_table(np.arange(3)))\n"
        "except ut.UndertowError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.startswith("index: faiss could not read"), done.stdout


# ---------------------------------------------------------------------------------------------
# the bad-input matrix


@dataclass(frozen=True)
class Env:
    index: Any
    ids: np.ndarray
    docs: pl.DataFrame
    queries: np.ndarray
    path: str
    ivf_path: str
    tmp: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    data = corpus()
    index, ids = make_index("IndexFlatIP", data.vectors[:N_SMALL])
    tmp = tmp_path_factory.mktemp("hardening")
    path = tmp / "flat.faiss"
    faiss.write_index(index, str(path))
    ivf, _ = make_index("IndexIVFFlat", data.vectors, data.ids)
    faiss.write_index(ivf, str(tmp / "ivf.faiss"))
    queries = np.ascontiguousarray(data.vectors[N_SMALL : N_SMALL + 20])
    return Env(index, ids, docs_table(ids), queries, str(path), str(tmp / "ivf.faiss"), tmp)


@dataclass(frozen=True)
class Case:
    """`args(env)`: the arguments that differ from the base call. `ok`: None when an error
    naming `argument` is expected; else the canonical arguments whose result the call must
    equal, or a predicate on the result."""

    name: str
    argument: str
    args: Callable[[Env], dict[str, Any]]
    ok: Callable[[Env], dict[str, Any]] | Callable[[Env, Any], None] | None = None
    predicate: bool = False


def err(argument: str, name: str, args: Callable[[Env], dict[str, Any]]) -> Case:
    return Case(f"{argument}-{name}", argument, args)


def same(argument: str, name: str, args, canonical) -> Case:
    return Case(f"{argument}-{name}", argument, args, canonical)


def holds(argument: str, name: str, args, predicate) -> Case:
    return Case(f"{argument}-{name}", argument, args, predicate, predicate=True)


def _unaligned(x: np.ndarray) -> np.ndarray:
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(x.dtype).reshape(x.shape)
    out[...] = x
    assert not out.flags.aligned
    return out


def _array_series(x: np.ndarray) -> pl.Series:
    return pl.Series("v", x.tolist(), dtype=pl.Array(pl.Float32, x.shape[1]))


def _ivf_nprobe0(e: Env) -> Any:
    index = faiss.read_index(e.ivf_path)
    index.nprobe = 0
    return index


def _garbage(e: Env, name: str, blob: bytes) -> str:
    path = e.tmp / name
    path.write_bytes(blob)
    return str(path)


def _with(e: Env, **columns: Any) -> pl.DataFrame:
    return e.docs.with_columns(**columns)


def _iso(e: Env, fmt: str) -> pl.Series:
    return e.docs["embedded_at"].dt.strftime(fmt)


def _report_json(e: Env, **edit: Any) -> str:
    data = ut.audit_index(e.index, e.docs, queries=e.queries, k=3).to_dict()
    for path, value in edit.items():
        *keys, last = path.split("__")
        target = data
        for key in keys:
            target = target[key]
        target[last] = value
    return json.dumps(data)


def _orphans_all(e: Env, report: ut.AuditReport) -> None:
    assert report["orphaned_vectors"].count == N_SMALL
    np.testing.assert_array_equal(report["orphaned_vectors"].ids, e.ids)


def _none_stale(e: Env, report: ut.AuditReport) -> None:
    assert report["content_stale"].count == 0 and report.status == "ok", report.summary()


def _all_other_encoder(e: Env, report: ut.AuditReport) -> None:
    assert report["encoder_mix"].count == N_SMALL


def _baseline_ran(e: Env, report: ut.AuditReport) -> None:
    check = report["score_shift"]
    assert check.status == "ok" and check.value == pytest.approx(0.0, abs=1e-12), check


def _q(e: Env) -> np.ndarray:
    return e.queries


AUDIT_CASES: list[Case] = [
    # index
    err("index", "None", lambda e: {"index": None}),
    err("index", "int", lambda e: {"index": 3}),
    err("index", "float", lambda e: {"index": 3.5}),
    err("index", "bytes-path", lambda e: {"index": e.path.encode()}),
    err("index", "empty-str", lambda e: {"index": ""}),
    err("index", "directory", lambda e: {"index": str(e.tmp)}),
    err("index", "missing-file", lambda e: {"index": str(e.tmp / "nope.faiss")}),
    err("index", "garbage-file", lambda e: {"index": _garbage(e, "g.faiss", b"not an index")}),
    err("index", "empty-file", lambda e: {"index": _garbage(e, "e.faiss", b"")}),
    err("index", "ndarray", lambda e: {"index": e.queries}),
    err("index", "list", lambda e: {"index": [e.index]}),
    err("index", "empty-index", lambda e: {"index": faiss.IndexFlatIP(DIM)}),
    err("index", "ivf-nprobe-0", lambda e: {"index": _ivf_nprobe0(e)}),
    same("index", "pathlib", lambda e: {"index": Path(e.path)}, lambda e: {}),
    same("index", "str-path", lambda e: {"index": e.path}, lambda e: {}),
    # docs
    err("docs", "None", lambda e: {"docs": None}),
    err("docs", "str", lambda e: {"docs": "docs.csv"}),
    err("docs", "int", lambda e: {"docs": 3}),
    err("docs", "list", lambda e: {"docs": [1, 2, 3]}),
    err("docs", "no-columns", lambda e: {"docs": pl.DataFrame()}),
    err("docs", "missing-column", lambda e: {"docs": e.docs.drop("content_hash")}),
    err("docs", "id-str", lambda e: {"docs": _with(e, id=pl.col("id").cast(pl.Utf8))}),
    err("docs", "id-float", lambda e: {"docs": _with(e, id=pl.col("id").cast(pl.Float64))}),
    err(
        "docs",
        "id-null",
        lambda e: {"docs": _with(e, id=pl.when(pl.col("id") == 5).then(None).otherwise("id"))},
    ),
    err("docs", "id-list", lambda e: {"docs": _with(e, id=pl.concat_list("id"))}),
    err("docs", "duplicate-ids", lambda e: {"docs": pl.concat([e.docs, e.docs.head(2)])}),
    err(
        "docs", "content-hash-list", lambda e: {"docs": _with(e, content_hash=pl.concat_list("content_hash"))}
    ),
    err("docs", "encoder-struct", lambda e: {"docs": _with(e, encoder_version=pl.struct("encoder_version"))}),
    err("docs", "embedded-at-garbage", lambda e: {"docs": _with(e, embedded_at=pl.lit("yesterday"))}),
    err(
        "docs",
        "embedded-at-duration",
        lambda e: {"docs": _with(e, embedded_at=pl.duration(days=pl.col("id")))},
    ),
    err(
        "docs", "embedded-at-time", lambda e: {"docs": _with(e, embedded_at=pl.col("embedded_at").dt.time())}
    ),
    err("docs", "embedded-at-bool", lambda e: {"docs": _with(e, embedded_at=pl.lit(True))}),
    err("docs", "embedded-at-inf", lambda e: {"docs": _with(e, embedded_at=pl.lit(float("inf")))}),
    err("docs", "updated-at-garbage", lambda e: {"docs": _with(e, updated_at=pl.lit("2024-13-45"))}),
    err("docs", "deleted-int", lambda e: {"docs": _with(e, deleted=pl.lit(1))}),
    err("docs", "deleted-str", lambda e: {"docs": _with(e, deleted=pl.lit("no"))}),
    err("docs", "dict-ragged", lambda e: {"docs": {**e.docs.to_dict(as_series=False), "id": [1, 2]}}),
    err(
        "docs",
        "dict-bigint-id",
        lambda e: {"docs": {**e.docs.to_dict(as_series=False), "id": [2**64] * N_SMALL}},
    ),
    err("docs", "arrow-missing-column", lambda e: {"docs": e.docs.drop("id").to_arrow()}),
    err("docs", "lazy-fails", lambda e: {"docs": pl.scan_csv(e.tmp / "missing.csv")}),
    holds("docs", "empty-table", lambda e: {"docs": e.docs.head(0)}, _orphans_all),
    holds(
        "docs",
        "hash-int",
        lambda e: {"docs": _with(e, content_hash=pl.col("id"), embedded_hash=pl.col("id"))},
        _none_stale,
    ),
    same(
        "docs",
        "embedded-at-iso-text",
        lambda e: {
            "docs": _with(
                e, embedded_at=_iso(e, "%Y-%m-%dT%H:%M:%S"), updated_at=_iso(e, "%Y-%m-%d %H:%M:%S")
            )
        },
        lambda e: {},
    ),
    same(
        "docs",
        "embedded-at-iso-utc",
        lambda e: {"docs": _with(e, embedded_at=_iso(e, "%Y-%m-%dT%H:%M:%SZ"))},
        lambda e: {},
    ),
    same(
        "docs",
        "embedded-at-date-text",
        lambda e: {"docs": _with(e, embedded_at=_iso(e, "%Y-%m-%d"))},
        lambda e: {"docs": _with(e, embedded_at=pl.col("embedded_at").dt.date())},
    ),
    same("docs", "lazy", lambda e: {"docs": e.docs.lazy()}, lambda e: {}),
    same("docs", "dict", lambda e: {"docs": e.docs.to_dict(as_series=False)}, lambda e: {}),
    same("docs", "arrow", lambda e: {"docs": e.docs.to_arrow()}, lambda e: {}),
    same("docs", "pandas", lambda e: {"docs": e.docs.to_pandas()}, lambda e: {}),
    # encoder_version
    err("encoder_version", "int", lambda e: {"encoder_version": 1}),
    err("encoder_version", "list", lambda e: {"encoder_version": ["enc-v1"]}),
    err("encoder_version", "bytes", lambda e: {"encoder_version": b"enc-v1"}),
    same(
        "encoder_version",
        "np-str",
        lambda e: {"encoder_version": np.str_("enc-v1")},
        lambda e: {"encoder_version": "enc-v1"},
    ),
    holds("encoder_version", "other", lambda e: {"encoder_version": "enc-v2"}, _all_other_encoder),
    # fresh
    err("fresh", "str", lambda e: {"fresh": "x"}),
    err("fresh", "one", lambda e: {"fresh": (e.ids[:5],)}),
    err("fresh", "three", lambda e: {"fresh": (e.ids[:5], e.queries[:5], None)}),
    err("fresh", "ndarray", lambda e: {"fresh": e.queries}),
    err("fresh", "ids-float", lambda e: {"fresh": (e.ids[:5] + 0.5, e.queries[:5])}),
    err("fresh", "ids-2d", lambda e: {"fresh": (e.ids[:6].reshape(2, 3), e.queries[:6])}),
    err("fresh", "ids-str", lambda e: {"fresh": (e.ids[:5].astype(str), e.queries[:5])}),
    err("fresh", "ids-bool", lambda e: {"fresh": (np.ones(5, bool), e.queries[:5])}),
    err("fresh", "ids-ragged", lambda e: {"fresh": ([[1], [2, 3]], e.queries[:2])}),
    err("fresh", "ids-uint64-huge", lambda e: {"fresh": (np.array([2**63 + 1], np.uint64), e.queries[:1])}),
    err("fresh", "ids-repeated", lambda e: {"fresh": (np.array([1, 1]), e.queries[:2])}),
    err("fresh", "count-mismatch", lambda e: {"fresh": (e.ids[:4], e.queries[:5])}),
    err("fresh", "vectors-1d", lambda e: {"fresh": (e.ids[:1], e.queries[0])}),
    err("fresh", "vectors-3d", lambda e: {"fresh": (e.ids[:5], e.queries[:5, None, :])}),
    err("fresh", "vectors-empty", lambda e: {"fresh": (e.ids[:0], e.queries[:0])}),
    err(
        "fresh",
        "vectors-nan",
        lambda e: {"fresh": (e.ids[:2], np.where(np.eye(2, DIM) > 0, np.nan, e.queries[:2]))},
    ),
    err("fresh", "vectors-inf", lambda e: {"fresh": (e.ids[:2], np.full((2, DIM), np.inf))}),
    err("fresh", "vectors-dim", lambda e: {"fresh": (e.ids[:2], e.queries[:2, :-1])}),
    err("fresh", "vectors-object", lambda e: {"fresh": (e.ids[:2], e.queries[:2].astype(object))}),
    err("fresh", "vectors-ragged", lambda e: {"fresh": (e.ids[:2], [[0.1] * DIM, [0.1] * (DIM - 1)])}),
    same(
        "fresh",
        "ids-int32",
        lambda e: {"fresh": (e.ids[:50].astype(np.int32), corpus().vectors[:50])},
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50])},
    ),
    same(
        "fresh",
        "ids-list",
        lambda e: {"fresh": (e.ids[:50].tolist(), corpus().vectors[:50])},
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50])},
    ),
    same(
        "fresh",
        "vectors-float64",
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50].astype(np.float64))},
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50])},
    ),
    same(
        "fresh",
        "vectors-fortran",
        lambda e: {"fresh": (e.ids[:50], np.asfortranarray(corpus().vectors[:50]))},
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50])},
    ),
    same(
        "fresh",
        "vectors-float16",
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50].astype(np.float16))},
        lambda e: {"fresh": (e.ids[:50], corpus().vectors[:50].astype(np.float16).astype(np.float32))},
    ),
    # queries
    err("queries", "0d", lambda e: {"queries": np.float32(1.0)}),
    err("queries", "1d", lambda e: {"queries": e.queries[0]}),
    err("queries", "3d", lambda e: {"queries": e.queries[:, None, :]}),
    err("queries", "empty", lambda e: {"queries": e.queries[:0]}),
    err("queries", "no-columns", lambda e: {"queries": np.ones((5, 0), np.float32)}),
    err("queries", "nan", lambda e: {"queries": np.where(np.eye(20, DIM) > 0, np.nan, e.queries)}),
    err("queries", "inf", lambda e: {"queries": np.full((2, DIM), -np.inf, np.float32)}),
    err("queries", "dim", lambda e: {"queries": e.queries[:, :-1]}),
    err("queries", "str", lambda e: {"queries": e.queries.astype(str)}),
    err("queries", "object", lambda e: {"queries": e.queries.astype(object)}),
    err("queries", "ragged", lambda e: {"queries": [[0.1] * DIM, [0.1] * 3]}),
    err("queries", "complex", lambda e: {"queries": e.queries.astype(np.complex64)}),
    err("queries", "bool", lambda e: {"queries": e.queries > 0}),
    err("queries", "str-scalar", lambda e: {"queries": "x"}),
    same(
        "queries",
        "float16",
        lambda e: {"queries": e.queries.astype(np.float16)},
        lambda e: {"queries": e.queries.astype(np.float16).astype(np.float32)},
    ),
    same(
        "queries",
        "int",
        lambda e: {"queries": np.rint(e.queries * 10).astype(np.int64)},
        lambda e: {"queries": np.rint(e.queries * 10).astype(np.float32)},
    ),
    same("queries", "float64", lambda e: {"queries": e.queries.astype(np.float64)}, lambda e: {}),
    same("queries", "strided", lambda e: {"queries": np.repeat(e.queries, 2, axis=0)[::2]}, lambda e: {}),
    same("queries", "unaligned", lambda e: {"queries": _unaligned(e.queries)}, lambda e: {}),
    same("queries", "big-endian", lambda e: {"queries": e.queries.astype(">f4")}, lambda e: {}),
    same(
        "queries",
        "lists",
        lambda e: {"queries": e.queries.tolist()},
        lambda e: {"queries": e.queries.astype(np.float64)},
    ),
    same("queries", "polars-array", lambda e: {"queries": _array_series(e.queries)}, lambda e: {}),
    # k
    same("k", "np-int64", lambda e: {"k": np.int64(3)}, lambda e: {"k": 3}),
    same("k", "np-int32", lambda e: {"k": np.int32(3)}, lambda e: {"k": 3}),
    same("k", "np-uint8", lambda e: {"k": np.uint8(3)}, lambda e: {"k": 3}),
    err("k", "0", lambda e: {"k": 0}),
    err("k", "negative", lambda e: {"k": -1}),
    err("k", "np-negative", lambda e: {"k": np.int64(-3)}),
    err("k", "1025", lambda e: {"k": 1025}),
    err("k", "huge", lambda e: {"k": 2**70}),
    err("k", "float", lambda e: {"k": 3.0}),
    err("k", "float-frac", lambda e: {"k": 3.5}),
    err("k", "np-float", lambda e: {"k": np.float64(3)}),
    err("k", "nan", lambda e: {"k": float("nan")}),
    err("k", "inf", lambda e: {"k": float("inf")}),
    err("k", "str", lambda e: {"k": "3"}),
    err("k", "None", lambda e: {"k": None}),
    err("k", "bool", lambda e: {"k": True}),
    err("k", "np-bool", lambda e: {"k": np.bool_(True)}),
    err("k", "list", lambda e: {"k": [3]}),
    # baseline
    err("baseline", "int", lambda e: {"baseline": 123}),
    err("baseline", "list", lambda e: {"baseline": []}),
    err("baseline", "not-json", lambda e: {"baseline": "not json"}),
    err("baseline", "deep-json", lambda e: {"baseline": "[" * 100_000}),
    err("baseline", "other-format", lambda e: {"baseline": '{"format": "x"}'}),
    err("baseline", "l2-report", lambda e: {"baseline": _report_json(e, scores__metric="l2")}),
    err("baseline", "scores-text", lambda e: {"baseline": _report_json(e, scores__top1=["abc"])}),
    same(
        "baseline",
        "its-json",
        lambda e: {"baseline": _report_json(e)},
        lambda e: {"baseline": ut.AuditReport.from_json(_report_json(e))},
    ),
    holds("baseline", "ran", lambda e: {"baseline": _report_json(e)}, _baseline_ran),
    # thresholds
    err("thresholds", "str", lambda e: {"thresholds": "x"}),
    err("thresholds", "pairs", lambda e: {"thresholds": [("ann_recall", 0.5)]}),
    err("thresholds", "float", lambda e: {"thresholds": 0.5}),
    err("thresholds", "unknown-key", lambda e: {"thresholds": {"recal": 0.5}}),
    err("thresholds", "int-key", lambda e: {"thresholds": {1: 0.5}}),
    err("thresholds", "value-str", lambda e: {"thresholds": {"ann_recall": "x"}}),
    err("thresholds", "value-numeric-str", lambda e: {"thresholds": {"ann_recall": "0.5"}}),
    err("thresholds", "value-None", lambda e: {"thresholds": {"ann_recall": None}}),
    err("thresholds", "value-bool", lambda e: {"thresholds": {"ann_recall": True}}),
    err("thresholds", "value-list", lambda e: {"thresholds": {"ann_recall": [0.9]}}),
    err("thresholds", "value-nan", lambda e: {"thresholds": {"ann_recall": float("nan")}}),
    err("thresholds", "value-inf", lambda e: {"thresholds": {"score_shift": float("inf")}}),
    err("thresholds", "value-neg-inf", lambda e: {"thresholds": {"score_cutoff": -float("inf")}}),
    err("thresholds", "recall-above-1", lambda e: {"thresholds": {"ann_recall": 1.5}}),
    err("thresholds", "share-negative", lambda e: {"thresholds": {"orphaned_vectors": -0.1}}),
    err("thresholds", "norm-tolerance-negative", lambda e: {"thresholds": {"norm_tolerance": -0.01}}),
    err("thresholds", "imbalance-below-1", lambda e: {"thresholds": {"ivf_imbalance": 0.5}}),
    err("thresholds", "residual-drift-0", lambda e: {"thresholds": {"ivf_residual_drift": 0}}),
    err("thresholds", "recent-share-0", lambda e: {"thresholds": {"recent_share": 0}}),
    err("thresholds", "recent-share-1", lambda e: {"thresholds": {"recent_share": 1}}),
    err("thresholds", "cosine-min-2", lambda e: {"thresholds": {"fresh_cosine_min": 2}}),
    err("thresholds", "psi-negative", lambda e: {"thresholds": {"score_shift": -1}}),
    same(
        "thresholds",
        "np-float32",
        lambda e: {"thresholds": {"ann_recall": np.float32(0.5)}},
        lambda e: {"thresholds": {"ann_recall": 0.5}},
    ),
    same(
        "thresholds",
        "np-int",
        lambda e: {"thresholds": {"ann_recall": np.int64(1)}},
        lambda e: {"thresholds": {"ann_recall": 1.0}},
    ),
    same("thresholds", "cutoff-None", lambda e: {"thresholds": {"score_cutoff": None}}, lambda e: {}),
    same("thresholds", "empty", lambda e: {"thresholds": {}}, lambda e: {}),
    # query_sample
    same(
        "query_sample",
        "np-int64",
        lambda e: {"queries": None, "query_sample": np.int64(100)},
        lambda e: {"queries": None, "query_sample": 100},
    ),
    same(
        "query_sample",
        "huge",
        lambda e: {"queries": None, "query_sample": 10**12},
        lambda e: {"queries": None, "query_sample": N_SMALL},
    ),
    err("query_sample", "0", lambda e: {"queries": None, "query_sample": 0}),
    err("query_sample", "negative", lambda e: {"queries": None, "query_sample": -1}),
    err("query_sample", "float", lambda e: {"queries": None, "query_sample": 1.5}),
    err("query_sample", "str", lambda e: {"queries": None, "query_sample": "5"}),
    err("query_sample", "None", lambda e: {"queries": None, "query_sample": None}),
    err("query_sample", "bool", lambda e: {"queries": None, "query_sample": True}),
    # seed
    same(
        "seed",
        "np-int64",
        lambda e: {"queries": None, "query_sample": 50, "seed": np.int64(7)},
        lambda e: {"queries": None, "query_sample": 50, "seed": 7},
    ),
    err("seed", "negative", lambda e: {"queries": None, "seed": -1}),
    err("seed", "float", lambda e: {"queries": None, "seed": 1.5}),
    err("seed", "str", lambda e: {"queries": None, "seed": "x"}),
    err("seed", "None", lambda e: {"queries": None, "seed": None}),
    err("seed", "bool", lambda e: {"queries": None, "seed": True}),
    err("seed", "huge", lambda e: {"queries": None, "seed": 2**64}),
    # mmap
    err("mmap", "str", lambda e: {"index": e.path, "mmap": "yes"}),
    err("mmap", "int", lambda e: {"index": e.path, "mmap": 1}),
    err("mmap", "None", lambda e: {"index": e.path, "mmap": None}),
    same("mmap", "np-bool", lambda e: {"index": e.path, "mmap": np.bool_(True)}, lambda e: {}),
]

SEARCH_CASES: list[Case] = [
    # vectors
    err("vectors", "0d", lambda e: {"vectors": np.float32(1.0)}),
    err("vectors", "1d", lambda e: {"vectors": e.queries[0]}),
    err("vectors", "3d", lambda e: {"vectors": e.queries[:, None, :]}),
    err("vectors", "empty", lambda e: {"vectors": e.queries[:0]}),
    err(
        "vectors",
        "no-columns",
        lambda e: {"vectors": np.ones((5, 0), np.float32), "queries": np.ones((2, 0), np.float32)},
    ),
    err("vectors", "str", lambda e: {"vectors": e.queries.astype(str)}),
    err("vectors", "object", lambda e: {"vectors": e.queries.astype(object)}),
    err("vectors", "ragged", lambda e: {"vectors": [[0.1] * DIM, [0.1] * 3]}),
    err("vectors", "complex", lambda e: {"vectors": e.queries.astype(np.complex128)}),
    err("vectors", "None", lambda e: {"vectors": None}),
    same(
        "vectors",
        "float16",
        lambda e: {"vectors": e.queries.astype(np.float16)},
        lambda e: {
            "vectors": e.queries.astype(np.float16).astype(np.float64),
            "queries": e.queries.astype(np.float64),
        },
    ),
    same(
        "vectors",
        "int",
        lambda e: {"vectors": np.arange(20 * DIM).reshape(20, DIM) % 7},
        lambda e: {
            "vectors": (np.arange(20 * DIM).reshape(20, DIM) % 7).astype(np.float64),
            "queries": e.queries.astype(np.float64),
        },
    ),
    same("vectors", "strided", lambda e: {"vectors": np.repeat(e.queries, 2, axis=0)[::2]}, lambda e: {}),
    same("vectors", "unaligned", lambda e: {"vectors": _unaligned(e.queries)}, lambda e: {}),
    same("vectors", "big-endian", lambda e: {"vectors": e.queries.astype(">f4")}, lambda e: {}),
    same("vectors", "polars-array", lambda e: {"vectors": _array_series(e.queries)}, lambda e: {}),
    holds(
        "vectors",
        "nan-row-never-returned",
        lambda e: {"vectors": np.where(np.arange(20)[:, None] == 4, np.nan, e.queries)},
        lambda e, r: _nan_row_skipped(e, r),
    ),
    # queries
    err("queries", "1d", lambda e: {"queries": e.queries[0]}),
    err("queries", "3d", lambda e: {"queries": e.queries[:, None, :]}),
    err("queries", "empty", lambda e: {"queries": e.queries[:0]}),
    err("queries", "dim", lambda e: {"queries": e.queries[:, :-1]}),
    err("queries", "nan", lambda e: {"queries": np.where(np.eye(20, DIM) > 0, np.nan, e.queries)}),
    err("queries", "inf", lambda e: {"queries": np.full((2, DIM), np.inf, np.float32)}),
    err("queries", "object", lambda e: {"queries": e.queries.astype(object)}),
    err("queries", "ragged", lambda e: {"queries": [[0.1] * DIM, [0.1] * 3]}),
    err("queries", "bool", lambda e: {"queries": e.queries > 0}),
    same(
        "queries",
        "lists",
        lambda e: {"queries": e.queries.tolist()},
        lambda e: {"queries": e.queries.astype(np.float64), "vectors": e.queries.astype(np.float64)},
    ),
    # k
    same("k", "np-int64", lambda e: {"k": np.int64(3)}, lambda e: {"k": 3}),
    same("k", "np-uint16", lambda e: {"k": np.uint16(3)}, lambda e: {"k": 3}),
    holds("k", "more-than-rows", lambda e: {"k": 25}, lambda e, r: _tail_empty(r)),
    err("k", "0", lambda e: {"k": 0}),
    err("k", "negative", lambda e: {"k": -1}),
    err("k", "huge", lambda e: {"k": 2**70}),
    err("k", "float", lambda e: {"k": 3.0}),
    err("k", "nan", lambda e: {"k": float("nan")}),
    err("k", "str", lambda e: {"k": "3"}),
    err("k", "None", lambda e: {"k": None}),
    err("k", "bool", lambda e: {"k": True}),
    # metric
    err("metric", "upper", lambda e: {"metric": "IP"}),
    err("metric", "cosine", lambda e: {"metric": "cosine"}),
    err("metric", "None", lambda e: {"metric": None}),
    err("metric", "int", lambda e: {"metric": 0}),
    err("metric", "list", lambda e: {"metric": ["ip"]}),
    err("metric", "ndarray", lambda e: {"metric": np.array(["ip", "l2"])}),
    same("metric", "np-str", lambda e: {"metric": np.str_("l2")}, lambda e: {"metric": "l2"}),
    # exclude
    err("exclude", "fractions", lambda e: {"queries": e.queries[:2], "exclude": [0.5, 1.5]}),
    err("exclude", "float-whole", lambda e: {"queries": e.queries[:2], "exclude": [0.0, 1.0]}),
    err("exclude", "length", lambda e: {"exclude": [0, 1]}),
    err("exclude", "2d", lambda e: {"exclude": np.zeros((20, 1), np.int64)}),
    err("exclude", "str", lambda e: {"queries": e.queries[:2], "exclude": ["0", "1"]}),
    err("exclude", "bool", lambda e: {"exclude": np.zeros(20, bool)}),
    err("exclude", "ragged", lambda e: {"queries": e.queries[:2], "exclude": [[0], [1, 2]]}),
    err("exclude", "beyond-rows", lambda e: {"exclude": np.full(20, 10**9)}),
    err("exclude", "below-minus-1", lambda e: {"exclude": np.full(20, -5)}),
    err("exclude", "uint64-huge", lambda e: {"exclude": np.full(20, 2**63 + 1, np.uint64)}),
    err("exclude", "scalar", lambda e: {"exclude": 3}),
    same(
        "exclude",
        "int32",
        lambda e: {"exclude": np.arange(20, dtype=np.int32)},
        lambda e: {"exclude": np.arange(20)},
    ),
    same("exclude", "list", lambda e: {"exclude": list(range(20))}, lambda e: {"exclude": np.arange(20)}),
    holds("exclude", "self", lambda e: {"exclude": np.arange(20)}, lambda e, r: _self_excluded(r)),
]


def _nan_row_skipped(e: Env, result: tuple[np.ndarray, np.ndarray]) -> None:
    scores = e.queries.astype(np.float64) @ e.queries.astype(np.float64).T
    scores[:, 4] = -np.inf
    want = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(result[1], want)


def _tail_empty(result: tuple[np.ndarray, np.ndarray]) -> None:
    assert (result[1][:, 20:] == -1).all() and (result[1][:, :20] >= 0).all()
    assert np.isneginf(result[0][:, 20:]).all()


def _self_excluded(result: tuple[np.ndarray, np.ndarray]) -> None:
    assert not (result[1] == np.arange(20)[:, None]).any()


_REPORTS: dict[int, str] = {}


def _ok_report(e: Env) -> str:
    """One report's JSON (its `seconds` differ from run to run)."""
    if id(e) not in _REPORTS:
        _REPORTS[id(e)] = _report_json(e)
    return _REPORTS[id(e)]


REPORT_CASES: list[Case] = [
    err("baseline", "int", lambda e: {"text": 123}),
    err("baseline", "None", lambda e: {"text": None}),
    err("baseline", "list", lambda e: {"text": [1, 2]}),
    err("baseline", "not-json", lambda e: {"text": "not json"}),
    err("baseline", "empty", lambda e: {"text": ""}),
    err("baseline", "bad-utf8", lambda e: {"text": b"\xff\xfe\x00"}),
    err("baseline", "deep-json", lambda e: {"text": "[" * 100_000}),
    err("baseline", "json-array", lambda e: {"text": "[1, 2]"}),
    err("baseline", "format-only", lambda e: {"text": '{"format": "undertow.audit/1"}'}),
    err("baseline", "checks-list", lambda e: {"text": _report_json(e, checks=[])}),
    err("baseline", "status-bogus", lambda e: {"text": _report_json(e, checks__ann_recall__status="great")}),
    err(
        "baseline", "direction-bogus", lambda e: {"text": _report_json(e, checks__ann_recall__direction="up")}
    ),
    err("baseline", "ids-float", lambda e: {"text": _report_json(e, checks__ann_recall__ids=[1.5])}),
    err("baseline", "ids-str", lambda e: {"text": _report_json(e, checks__ann_recall__ids=["a"])}),
    err("baseline", "ids-ragged", lambda e: {"text": _report_json(e, checks__ann_recall__ids=[[1], [2, 3]])}),
    err(
        "baseline",
        "name-mismatch",
        lambda e: {"text": _report_json(e, checks__ann_recall__name="score_shift")},
    ),
    err(
        "baseline",
        "sample-size-str",
        lambda e: {"text": _report_json(e, checks__ann_recall__sample_size="x")},
    ),
    err("baseline", "k-str", lambda e: {"text": _report_json(e, k="x")}),
    err("baseline", "k-0", lambda e: {"text": _report_json(e, k=0)}),
    err("baseline", "k-bool", lambda e: {"text": _report_json(e, k=True)}),
    err("baseline", "scores-not-dict", lambda e: {"text": _report_json(e, scores=[1])}),
    err("baseline", "metric-cosine", lambda e: {"text": _report_json(e, scores__metric="cosine")}),
    err("baseline", "top1-str", lambda e: {"text": _report_json(e, scores__top1=["abc"])}),
    err("baseline", "top1-bool", lambda e: {"text": _report_json(e, scores__top1=[True])}),
    err("baseline", "top1-number", lambda e: {"text": _report_json(e, scores__top1=3)}),
    err("baseline", "seconds-str", lambda e: {"text": _report_json(e, seconds="x")}),
    err("baseline", "index-list", lambda e: {"text": _report_json(e, index=[1])}),
    same("baseline", "bytes", lambda e: {"text": _ok_report(e).encode()}, lambda e: {}),
    same("baseline", "dict", lambda e: {"text": json.loads(_ok_report(e))}, lambda e: {}),
]

MATRIX = (
    [("audit_index", c) for c in AUDIT_CASES]
    + [("exact_search", c) for c in SEARCH_CASES]
    + [("from_json", c) for c in REPORT_CASES]
)


def _call(function: str, e: Env, changes: dict[str, Any]) -> Any:
    if function == "audit_index":
        args = {"index": e.index, "docs": e.docs, "queries": e.queries, "k": 3, **changes}
        return ut.audit_index(args.pop("index"), args.pop("docs"), **args)
    if function == "exact_search":
        args = {"vectors": e.queries, "queries": e.queries, "k": 3, **changes}
        return ut.exact_search(**args)
    return ut.AuditReport.from_json({"text": _ok_report(e), **changes}["text"])


def _assert_same(function: str, got: Any, want: Any) -> None:
    if function == "audit_index":
        assert list(got.checks) == list(CHECKS)
        same_findings(got, want)
    elif function == "exact_search":
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
    else:
        a, b = got.to_dict(), want.to_dict()
        assert a == b


@pytest.mark.parametrize(("function", "case"), MATRIX, ids=[f"{f}-{c.name}" for f, c in MATRIX])
def test_bad_input_matrix(env, function, case):
    try:
        result = _call(function, env, case.args(env))
    except (ut.UndertowError, TypeError, FileNotFoundError) as error:
        if case.ok is not None:
            raise AssertionError(f"expected a result, got {type(error).__name__}: {error}") from error
        names = {case.argument} | ({"text"} if function == "from_json" else set())
        assert any(name in str(error) for name in names), f"{type(error).__name__}: {error}"
        # FileNotFoundError only for a path that is not a file
        assert not isinstance(error, FileNotFoundError) or case.argument == "index"
        return
    except BaseException as error:  # a raw faiss/SWIG/numpy/polars error, KeyError, a panic
        if isinstance(error, KeyboardInterrupt):
            raise
        raise AssertionError(f"raw {type(error).__module__}.{type(error).__name__}: {error}") from error
    if case.ok is None:
        raise AssertionError(f"{case.argument}: expected an error naming it, got a result")
    if case.predicate:
        case.ok(env, result)  # type: ignore[call-arg]
    else:
        _assert_same(function, result, _call(function, env, case.ok(env)))  # type: ignore[call-arg]


def test_the_matrix_covers_every_argument():
    import inspect

    def covered(function: str) -> set[str]:
        return {c.argument for f, c in MATRIX if f == function}

    assert covered("audit_index") == set(inspect.signature(ut.audit_index).parameters)
    assert covered("exact_search") == set(inspect.signature(ut.exact_search).parameters)
    assert len(MATRIX) >= 200


# ---------------------------------------------------------------------------------------------
# `undertow audit` from the shell


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "undertow", "audit", *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def shell_files(env) -> dict[str, str]:
    """The flat index and its docs as CSV (dates as ISO text, as any CSV holds them)."""
    csv = env.tmp / "docs.csv"
    env.docs.write_csv(csv)
    assert "T" in csv.read_text().splitlines()[1]  # ISO datetimes in the file, e.g. 2024-01-01T00:00:00
    return {"index": env.path, "csv": str(csv)}


def test_cli_reads_iso_dates_from_csv(env, shell_files, tmp_path):
    out = tmp_path / "report.json"
    done = cli(shell_files["index"], shell_files["csv"], "-k", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = ut.AuditReport.from_json(out.read_text())
    assert report.status == "ok"
    same_findings(report, ut.audit_index(env.index, env.docs, k=3))


def test_cli_csv_with_dates_and_deleted_flags(env, tmp_path):
    """Dates only (no time), and a deleted flag CSV reads as true/false: the orphaned ids are
    exactly the flagged ones."""
    docs = env.docs.with_columns(
        embedded_at=pl.col("embedded_at").dt.date(),
        deleted=pl.col("id").is_in([3, 14, 15]),
    )
    csv = tmp_path / "docs.csv"
    docs.write_csv(csv)
    done = cli(env.path, str(csv), "-k", "3", "--json")
    assert done.returncode == 2, done.stderr[-3000:]  # orphaned vectors fail
    # --json prints the job report (docs/jobs.md); the audit's own dict is the section's result
    report = ut.AuditReport.from_json(json.loads(done.stdout)["sections"][0]["result"])
    np.testing.assert_array_equal(report["orphaned_vectors"].ids, [3, 14, 15])


@pytest.mark.parametrize(
    ("name", "make", "argument"),
    [
        ("dates-garbage", lambda e, t: _csv(e, t, embedded_at=pl.lit("last tuesday")), "embedded_at"),
        ("updated-garbage", lambda e, t: _csv(e, t, updated_at=pl.lit("2024-02-30")), "updated_at"),
        ("missing-column", lambda e, t: _csv(e, t, drop="content_hash"), "content_hash"),
        ("docs-missing", lambda e, t: [e.path, str(t / "nope.csv")], "docs"),
        ("docs-not-a-table", lambda e, t: [e.path, _write(t / "docs.parquet", b"garbage")], "docs"),
        ("docs-empty-csv", lambda e, t: [e.path, _write(t / "docs.csv", b"")], "docs"),
        ("index-missing", lambda e, t: [str(t / "nope.faiss"), _csv(e, t)[1]], "index"),
        ("index-garbage", lambda e, t: [_write(t / "i.faiss", b"garbage"), _csv(e, t)[1]], "index"),
        ("k-0", lambda e, t: [*_csv(e, t), "-k", "0"], "k"),
        ("baseline-missing", lambda e, t: [*_csv(e, t), "--baseline", str(t / "nope.json")], "--baseline"),
        (
            "baseline-garbage",
            lambda e, t: [*_csv(e, t), "--baseline", _write(t / "b.json", b"{")],
            "baseline",
        ),
        # a missing directory is made (as a job's outputs.dir); under a regular file none can be
        (
            "out-unwritable",
            lambda e, t: [*_csv(e, t), "--out", str(Path(_write(t / "plain", b"x")) / "dir.json")],
            "--out",
        ),
    ],
)
def test_cli_refusals_are_one_line_naming_the_argument(env, tmp_path, name, make, argument):
    done = cli(*make(env, tmp_path))
    assert done.returncode == 4, (done.returncode, done.stderr[-3000:])  # an input error
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.startswith("undertow audit: error: ") and argument in done.stderr, done.stderr


def test_cli_k_that_is_not_a_number_is_argparse_usage(env, tmp_path):
    done = cli(*_csv(env, tmp_path), "-k", "three")
    assert done.returncode == 3 and "argument -k: invalid int value: 'three'" in done.stderr


def _write(path: Path, blob: bytes) -> str:
    path.write_bytes(blob)
    return str(path)


def _csv(e: Env, tmp: Path, drop: str | None = None, **columns: Any) -> list[str]:
    docs = e.docs.with_columns(**columns) if columns else e.docs
    if drop:
        docs = docs.drop(drop)
    path = tmp / "docs.csv"
    docs.write_csv(path)
    return [e.path, str(path)]


def test_iso_text_dates_match_datetimes(env):
    """Parsed ISO text gives the seconds of the datetime column it was printed from."""
    from undertow.audit._docs import read_docs

    base = read_docs(env.docs)
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.fZ"):
        text = read_docs(env.docs.with_columns(embedded_at=_iso(env, fmt), updated_at=_iso(env, fmt)))
        np.testing.assert_array_equal(text.embedded_at, base.embedded_at)
        np.testing.assert_array_equal(text.stale_for, base.stale_for)
    assert base.embedded_at[0] == (dt.datetime(2024, 1, 1) - dt.datetime(1970, 1, 1)).total_seconds()


def test_non_finite_baseline_scores_are_left_out_of_score_shift(env):
    """A report's JSON keeps a NaN score as "nan" (a stored vector holding NaN can be returned
    with one); score_shift compares the finite scores, as if the NaN ones were not there."""
    clean = json.loads(_ok_report(env))
    dirty = json.loads(_ok_report(env))
    dirty["scores"]["top1"] = [*clean["scores"]["top1"], "nan", "inf"]
    dirty["scores"]["topk"] = ["nan", *clean["scores"]["topk"], "-inf"]
    want = ut.audit_index(env.index, env.docs, queries=env.queries, k=3, baseline=clean)["score_shift"]
    got = ut.audit_index(env.index, env.docs, queries=env.queries, k=3, baseline=dirty)["score_shift"]
    assert got.status == want.status == "ok"
    assert got.value == want.value and got.detail == want.detail
