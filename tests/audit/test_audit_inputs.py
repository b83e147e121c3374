"""ut.audit_index's inputs and outputs: refusals that name the argument, indexes read from a path,
the IndexIDMap trap, docs as a dict, and the AuditReport round trip through JSON and polars.

Audits that could crash the interpreter (an index read from disk, IndexIDMap) run in a
subprocess, so a crash is a failed test and not a dead test run.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import polars as pl
import pytest
from audit_corpus import DIM, N, corpus, docs_table, make_index, sorted_ids, train_index, unit

import undertow as ut
from undertow.audit import CHECKS

SUPPORT = Path(__file__).parents[1] / "support"  # audit_corpus, for the scripts run in a subprocess


@pytest.fixture(scope="module")
def data():
    return corpus()


@pytest.fixture(scope="module")
def flat(data):
    index, ids = make_index("IndexFlatIP", data.vectors)
    return index, docs_table(ids)


def run_audits(script: str, *args: str) -> list[ut.AuditReport]:
    """Run `script` in a fresh interpreter (cwd tests/support/); it prints one report JSON a line."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=SUPPORT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"the audit exited with {done.returncode}:\n{done.stderr[-3000:]}"
    return [ut.AuditReport.from_json(line) for line in done.stdout.splitlines()]


def assert_same_findings(a: ut.AuditReport, b: ut.AuditReport) -> None:
    assert list(a.checks) == list(b.checks) == list(CHECKS)
    for name in CHECKS:
        x, y = a[name], b[name]
        assert x.status == y.status, name
        np.testing.assert_array_equal(x.ids, y.ids, err_msg=name)
        assert x.count == y.count and x.sample_size == y.sample_size, name
        assert (x.value is None and y.value is None) or x.value == pytest.approx(y.value, rel=1e-12), name
    np.testing.assert_array_equal(a.scores["top1"], b.scores["top1"])


# ---------------------------------------------------------------------------------------------
# bad input


def test_docs_missing_a_column(data, flat):
    index, docs = flat
    with pytest.raises(ut.UndertowError, match="docs: missing column 'content_hash'"):
        ut.audit_index(index, docs.drop("content_hash"))
    with pytest.raises(ut.UndertowError, match="missing columns 'content_hash', 'encoder_version'"):
        ut.audit_index(index, docs.drop("encoder_version", "content_hash"))


def test_ids_that_do_not_fit_int64(flat):
    index, docs = flat
    as_dict = {name: docs[name].to_numpy() for name in docs.columns}
    as_dict["id"] = as_dict["id"].astype(np.uint64)
    as_dict["id"][-1] = 2**63 + 5
    with pytest.raises(ut.UndertowError, match=r"docs: id 9223372036854775813 does not fit int64"):
        ut.audit_index(index, as_dict)
    with pytest.raises(ut.UndertowError, match="does not fit int64"):
        ut.audit_index(index, docs.with_columns(pl.Series("id", as_dict["id"])))
    as_lists = docs.to_dict(as_series=False)
    as_lists["id"][0] = 2**64 + 1
    with pytest.raises(ut.UndertowError, match=r"docs: id 18446744073709551617 does not fit int64"):
        ut.audit_index(index, as_lists)
    fresh = (np.array([2**63 + 5], dtype=np.uint64), np.ones((1, DIM), np.float32))
    with pytest.raises(ut.UndertowError, match="fresh: id 9223372036854775813 does not fit int64"):
        ut.audit_index(index, docs, fresh=fresh)


def test_bad_docs_tables(flat):
    index, docs = flat
    with pytest.raises(ut.UndertowError, match=r"docs: 3 ids appear more than once \(e.g. \[0, 1, 2\]\)"):
        ut.audit_index(index, pl.concat([docs, docs.head(3)]))
    with pytest.raises(ut.UndertowError, match="docs: column 'id' must hold integers"):
        ut.audit_index(index, docs.with_columns(pl.col("id").cast(pl.Float64)))
    with pytest.raises(ut.UndertowError, match="docs: column 'deleted' must be boolean"):
        ut.audit_index(index, docs.with_columns(deleted=pl.lit(1)))
    with pytest.raises(ut.UndertowError, match="docs: column 'embedded_at' must be a datetime"):
        ut.audit_index(index, docs.with_columns(embedded_at=pl.lit("yesterday")))
    with pytest.raises(TypeError, match="docs: expected a polars DataFrame or a dict"):
        ut.audit_index(index, [1, 2, 3])


def _unsupported(data):
    lsh = faiss.IndexLSH(DIM, 64)
    pq = faiss.IndexPQ(DIM, 8, 4)
    wrapped = faiss.IndexIDMap(faiss.IndexPQ(DIM, 8, 4))
    ivf_sq = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(DIM), DIM, 4, faiss.ScalarQuantizer.QT_8bit)
    for index in (pq, wrapped, ivf_sq):
        train_index(index, data.vectors)
    for index in (lsh, pq, ivf_sq):
        index.add(data.vectors)
    wrapped.add_with_ids(data.vectors, np.arange(N))
    return {
        "IndexLSH": lsh,
        "IndexPQ": pq,
        r"IndexIDMap\(IndexPQ\)": wrapped,
        "IndexIVFScalarQuantizer": ivf_sq,
    }


def test_unsupported_index_types_are_named(data, flat):
    _, docs = flat
    for name, index in _unsupported(data).items():
        with pytest.raises(ut.UndertowError, match=rf"index: {name} is not supported; supported are"):
            ut.audit_index(index, docs)
    l1 = faiss.IndexFlat(DIM, faiss.METRIC_L1)
    l1.add(data.vectors)
    with pytest.raises(ut.UndertowError, match="index: metric_type 2 is not supported"):
        ut.audit_index(l1, docs)
    with pytest.raises(ut.UndertowError, match="index: IndexFlatIP holds no vectors"):
        ut.audit_index(faiss.IndexFlatIP(DIM), docs)


def test_vectors_of_the_wrong_dimension(data, flat):
    index, docs = flat
    with pytest.raises(ut.UndertowError, match="fresh: vectors have 33 dimensions, the index 32"):
        ut.audit_index(index, docs, fresh=(np.arange(5), np.ones((5, DIM + 1), np.float32)))
    with pytest.raises(ut.UndertowError, match="fresh: 4 ids for 5 vectors"):
        ut.audit_index(index, docs, fresh=(np.arange(4), data.vectors[:5]))
    with pytest.raises(ut.UndertowError, match="fresh: vectors hold NaN"):
        ut.audit_index(index, docs, fresh=(np.arange(1), np.full((1, DIM), np.nan, np.float32)))
    with pytest.raises(TypeError, match="fresh: expected a pair"):
        ut.audit_index(index, docs, fresh=data.vectors[:5])
    with pytest.raises(ut.UndertowError, match="queries: vectors have 31 dimensions, the index 32"):
        ut.audit_index(index, docs, queries=np.ones((5, DIM - 1), np.float32))
    with pytest.raises(ut.UndertowError, match="queries: vectors hold NaN"):
        ut.audit_index(index, docs, queries=np.full((2, DIM), np.inf, np.float32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"thresholds": {"recal": 0.5}}, "thresholds: unknown key 'recal'"),
        ({"thresholds": {"ann_recall": math.nan}}, "thresholds: ann_recall must be a finite number"),
        ({"thresholds": {"recent_share": 1.0}}, "thresholds: recent_share must lie strictly between"),
        ({"k": 0}, "k: must be an integer in 1..1024, got 0"),
        ({"k": True}, "k: must be an integer"),
        ({"k": 1025}, "k: must be an integer"),
        ({"query_sample": 0}, "query_sample: must be a positive integer"),
    ],
)
def test_bad_settings_name_the_argument(flat, kwargs, match):
    index, docs = flat
    with pytest.raises(ut.UndertowError, match=match):
        ut.audit_index(index, docs, **kwargs)


def test_not_an_index(data, flat, tmp_path):
    _, docs = flat
    for value in (object(), data.vectors):
        with pytest.raises(TypeError, match="index: expected a faiss index or a path to one, got"):
            ut.audit_index(value, docs)
    for missing in (str(tmp_path / "nope.faiss"), tmp_path / "nope.faiss"):
        with pytest.raises(FileNotFoundError, match="index: no such file"):
            ut.audit_index(missing, docs)
    garbage = tmp_path / "garbage.faiss"
    garbage.write_bytes(b"not a faiss index")
    with pytest.raises(ut.UndertowError, match="index: faiss could not read"):
        ut.audit_index(garbage, docs)


def test_baseline_of_another_metric(data, flat):
    index, docs = flat
    l2, _ = make_index("IndexFlatL2", data.vectors)
    with pytest.raises(ut.UndertowError, match="baseline: its scores are ip but this index's are l2"):
        ut.audit_index(l2, docs, baseline=ut.audit_index(index, docs))


@pytest.mark.parametrize(
    "garbage",
    [
        "not json",
        "",
        "[1, 2]",
        '{"format": "another/1"}',
        '{"format": "undertow.audit/1"}',  # the right tag, nothing else
        b"\xff\xfe\x00",  # bytes that decode to nothing
    ],
)
def test_garbage_baseline_is_refused_naming_baseline(flat, garbage):
    index, docs = flat
    with pytest.raises(ut.UndertowError, match="baseline: "):
        ut.AuditReport.from_json(garbage)
    with pytest.raises(ut.UndertowError, match="baseline: "):
        ut.audit_index(index, docs, baseline=garbage)


def test_baseline_that_is_not_text_names_baseline(flat):
    index, docs = flat
    with pytest.raises((TypeError, ut.UndertowError), match="baseline"):
        ut.audit_index(index, docs, baseline=123)


# ---------------------------------------------------------------------------------------------
# other input forms


def test_docs_as_a_dict_or_lazy_frame_give_the_same_report(data):
    rng = np.random.default_rng(11)
    kept = np.sort(rng.choice(N, N - 30, replace=False))
    index, _ = make_index("IndexIDMap(IndexFlatIP)", data.vectors[kept], data.ids[kept])
    docs = docs_table(data.ids)
    report = ut.audit_index(index, docs)
    np.testing.assert_array_equal(
        np.sort(report["missing_vectors"].ids), sorted_ids(np.setdiff1d(data.ids, data.ids[kept]))
    )
    as_dict = {name: docs[name].to_numpy() for name in docs.columns}
    as_dict["id"] = as_dict["id"].astype(np.uint64)  # ids that fit int64 are fine unsigned
    for other in (as_dict, docs.lazy(), docs.reverse()):
        assert_same_findings(ut.audit_index(index, other), report)


def test_fresh_ids_outside_the_index(data, flat):
    index, docs = flat
    # ids 0..n-1 are in the flat index; negative ids are not
    fresh = (np.r_[np.arange(5), [-1, -2]], data.vectors[[0, 1, 2, 3, 4, 0, 0]])
    check = ut.audit_index(index, docs, fresh=fresh)["fresh_cosine"]
    assert check.status == "ok" and check.sample_size == 5 and check.detail["not_in_index"] == 2
    check = ut.audit_index(index, docs, fresh=(np.array([-1, -2]), data.vectors[:2]))["fresh_cosine"]
    assert check.status == "not_run" and "none of the 2 fresh ids is in the index" in check.message


@pytest.mark.parametrize("n", [1, 2, 7])
def test_an_index_smaller_than_k(data, n):
    index, ids = make_index("IndexIDMap2(IndexFlatL2)", data.vectors[:n], data.ids[:n])
    report = ut.audit_index(index, docs_table(ids), k=10)
    # every stored vector is a query, its neighbours are the other n - 1: all found
    assert report["ann_recall"].count == 0
    assert report["ann_recall"].status in ("ok", "not_run"), report["ann_recall"]
    assert report.status == "ok", report.summary()


# ---------------------------------------------------------------------------------------------
# an index on disk, IndexIDMap


AUDIT_FROM_PATH = """
import pathlib, sys
import polars as pl
import undertow as ut
docs = pl.read_parquet(sys.argv[2])
for index in (sys.argv[1], pathlib.Path(sys.argv[1])):
    print(ut.audit_index(index, docs, k=5).to_json())
"""


@pytest.mark.parametrize(
    "kind",
    [
        "IndexFlatIP",
        "IndexIDMap2(IndexFlatL2)",
        "IndexIVFFlat",
        "IndexIVFPQ",
        "IndexHNSWFlat",
        "IndexScalarQuantizer",
    ],
)
def test_index_from_a_path_matches_the_index_in_memory(data, kind, tmp_path):
    index, ids = make_index(kind, data.vectors, data.ids)
    # planted: 5 vectors whose documents are gone, 3 documents never added
    docs = pl.concat([docs_table(ids).slice(5), docs_table(np.array([-3, -2, -1]))])
    path, docs_path = tmp_path / "index.faiss", tmp_path / "docs.parquet"
    faiss.write_index(index, str(path))
    docs.write_parquet(docs_path)
    in_memory = ut.audit_index(index, docs, k=5)
    np.testing.assert_array_equal(in_memory["orphaned_vectors"].ids, sorted_ids(ids[:5]))
    np.testing.assert_array_equal(in_memory["missing_vectors"].ids, [-3, -2, -1])
    from_str, from_path = run_audits(AUDIT_FROM_PATH, str(path), str(docs_path))
    for report in (from_str, from_path):
        assert report.index["path"] == str(path) and report.index["type"] == kind
        assert_same_findings(report, in_memory)


IDMAP_AUDITS = """
import faiss, numpy as np
import undertow as ut
from audit_corpus import DIM, corpus, docs_table, train_index
data = corpus()
sq = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
train_index(sq, data.vectors)
inners = [faiss.IndexFlatIP(DIM), faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT), sq]
for outer in (faiss.IndexIDMap, faiss.IndexIDMap2):
    for inner in inners:
        index = outer(faiss.clone_index(inner))
        index.add_with_ids(data.vectors, data.ids)
        index.add_with_ids(data.vectors[:3], data.ids[:3])  # added twice
        print(ut.audit_index(index, docs_table(data.ids), fresh=(data.ids[:50], data.vectors[:50])).to_json())
"""


def test_idmap_indexes_are_read_without_reconstruct_n(data):
    reports = run_audits(IDMAP_AUDITS)
    kinds = [
        f"{outer}({inner})"
        for outer in ("IndexIDMap", "IndexIDMap2")
        for inner in ("IndexFlatIP", "IndexHNSWFlat", "IndexScalarQuantizer")
    ]
    assert [r.index["type"] for r in reports] == kinds
    for report in reports:
        assert report.index["ntotal"] == N + 3
        duplicates = report["duplicate_ids"]
        assert duplicates.status == "fail" and report.failed == ["duplicate_ids"], report.summary()
        np.testing.assert_array_equal(duplicates.ids, sorted_ids(data.ids[:3]))
        assert report["fresh_cosine"].status == "ok" and report["fresh_cosine"].sample_size == 50
        assert report["ann_recall"].value >= 0.9


# ---------------------------------------------------------------------------------------------
# the report


@pytest.fixture(scope="module")
def indebted(data):
    """A report where every check has something to say (a few fail or warn)."""
    rng = np.random.default_rng(12)
    index, ids = make_index("IndexIVFFlat", data.vectors, data.ids)
    index.nprobe = 2
    docs = docs_table(ids).slice(10)  # 10 orphans
    queries = unit(data.vectors[:60] + 0.05 * rng.normal(size=(60, DIM)))
    fresh = (ids[:100], unit(data.vectors[:100] + 0.3 * rng.normal(size=(100, DIM))))
    baseline = ut.audit_index(index, docs_table(ids), queries=queries)
    index.add_with_ids(data.vectors[20:25], ids[20:25])
    return ut.audit_index(index, docs, fresh=fresh, queries=queries, baseline=baseline)


def test_report_round_trips_through_json(indebted):
    report = indebted
    assert report.status == "fail" and set(report.failed) >= {"orphaned_vectors", "duplicate_ids"}
    for text in (report.to_json(), report.to_json(indent=2), report.to_dict()):
        back = ut.AuditReport.from_json(text)
        assert back.status == report.status and back.k == report.k and back.index == report.index
        assert_same_findings(back, report)
        for name in CHECKS:
            a, b = report[name], back[name]
            assert (a.threshold, a.direction, a.message) == (b.threshold, b.direction, b.message)
        np.testing.assert_array_equal(back.scores["topk"], report.scores["topk"])
        assert back.scores["metric"] == report.scores["metric"] == "ip"
        assert json.loads(back.to_json()) == json.loads(report.to_json())
    data = json.loads(report.to_json())
    assert data["format"] == "undertow.audit/1" and list(data["checks"]) == list(CHECKS)


def test_report_to_polars_summary_and_repr(indebted):
    report = indebted
    frame = report.to_polars()
    assert frame.height == 13 and frame["check"].to_list() == list(CHECKS)
    assert frame["status"].to_list() == [report[name].status for name in CHECKS]
    assert frame["count"].to_list() == [report[name].count for name in CHECKS]
    values = [report[name].value for name in CHECKS]
    assert frame["value"].to_list() == values
    assert frame["example_ids"].to_list() == [[int(i) for i in report[name].ids[:10]] for name in CHECKS]
    text = report.summary()
    assert text.startswith(f"undertow index audit: {report.status.upper()} — IndexIVFFlat")
    for name in CHECKS:
        assert name in text
    assert repr(report) == text
    check = report["orphaned_vectors"]
    assert repr(check) == f"Check(orphaned_vectors: fail, value={check.value:.4g}, count=10)"
    assert not check.passed and report["score_shift"].passed is (report["score_shift"].status == "ok")
