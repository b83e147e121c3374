"""Vector-store sources of undertow.scan (Lance datasets, LanceDB tables, iterators of record
batches, re-cut streams) and the progress reporting of a scan: the streamed results equal those of
the same rows as numpy arrays and Parquet files, bit for bit where the batching is the same."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pickle
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import lance
import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reference_impl import assert_reports_identical

import undertow as ut
from undertow.stream import CovarianceJob, EmbeddingJob, PsiJob, list_fragments
from undertow.stream.sources import rebatch

DIM = 8
ROWS = 10_000
FRAGMENT_ROWS = 3_000  # 4 fragments: 3000, 3000, 3000, 1000
ROOT = Path(__file__).resolve().parents[2]


def _vectors(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, DIM)) + shift).astype(np.float32)


def _table(n: int = ROWS) -> pa.Table:
    rng = np.random.default_rng(3)
    v = _vectors(4, n, 0.05)
    return pa.table(
        {
            "id": np.arange(n),
            "x": rng.normal(0.2, 1.0, n),
            "city": rng.choice(["a", "b", "c"], n),
            "v": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), DIM),
        }
    )


@pytest.fixture(scope="module")
def drift() -> ut.EmbeddingDrift:
    return ut.EmbeddingDrift.fit(_vectors(7, 3000), components=4, sample=400, permutations=50)


@pytest.fixture(scope="module")
def reference() -> ut.Reference:
    rng = np.random.default_rng(5)
    return ut.Reference.fit({"x": rng.normal(size=4000), "city": rng.choice(["a", "b", "c"], 4000)}, bins=7)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The same rows as a Lance dataset (4 fragments), a LanceDB table, and Parquet files holding
    one fragment's rows each."""
    root = tmp_path_factory.mktemp("sources")
    table = _table()
    dataset = lance.write_dataset(table, root / "data.lance", max_rows_per_file=FRAGMENT_ROWS)
    paths = []
    for i, start in enumerate(range(0, ROWS, FRAGMENT_ROWS)):
        path = root / f"part-{i}.parquet"
        pq.write_table(table.slice(start, FRAGMENT_ROWS), path, row_group_size=1_100)
        paths.append(str(path))
    db = lancedb.connect(root / "db")
    lancedb_table = db.create_table("docs", data=table)
    return table, dataset, lancedb_table, paths


def _acc_bytes(source, job, batch_size):
    return ut.scan(source, batch_size=batch_size).accumulate(job).to_bytes()


@pytest.mark.parametrize("batch_size", [700, 4096])
def test_lance_dataset_equals_parquet_files_bit_for_bit(stores, drift, reference, batch_size):
    table, dataset, lancedb_table, paths = stores
    assert [f.count_rows() for f in dataset.get_fragments()] == [3000, 3000, 3000, 1000]
    jobs = [EmbeddingJob(drift, "v"), CovarianceJob("v", DIM), PsiJob.make(reference)]
    for job in jobs:
        want = _acc_bytes(paths, job, batch_size)
        assert _acc_bytes(dataset, job, batch_size) == want, type(job).__name__
    # the reports, and the report of the LanceDB table (one fragment: its own tree)
    lance_report = ut.scan(dataset, batch_size=batch_size).embedding(drift, "v")
    assert lance_report.to_dict() == ut.scan(paths, batch_size=batch_size).embedding(drift, "v").to_dict()
    vectors = np.asarray(table.column("v").combine_chunks().values).reshape(-1, DIM)
    exact = drift.compare(vectors)  # the numpy array: batch-independent parts equal exactly
    for report in (lance_report, ut.scan(lancedb_table, batch_size=batch_size).embedding(drift, "v")):
        assert report.n_current == ROWS
        assert report.mmd == exact.mmd and report.domain_auc == exact.domain_auc
        np.testing.assert_array_equal(report.component_psi, exact.component_psi)
        assert report.cosine.cosine_psi == exact.cosine.cosine_psi
        assert report.cosine.centroid_distance == pytest.approx(exact.cosine.centroid_distance, rel=1e-9)
    # PSI counts are integers: equal to the numpy input whatever the leaves
    numpy_psi = reference.psi(
        {"x": table.column("x").to_numpy(), "city": np.asarray(table.column("city").to_pylist())}
    )
    assert_reports_identical(ut.scan(lancedb_table, batch_size=batch_size).psi(reference), numpy_psi)


def test_lance_projection_pca_and_batches(stores):
    table, dataset, _, _ = stores
    scan = ut.scan(dataset, columns=["v"], batch_size=999)
    batches = list(scan.batches())
    assert all(b.schema.names == ["v"] for b in batches)  # only the projected column is read
    # exactly batch_size rows but the last of each fragment
    assert [b.num_rows for b in batches] == [999, 999, 999, 3] * 3 + [999, 1]
    got = pa.Table.from_batches(batches).column("v").combine_chunks()
    assert got.equals(table.column("v").combine_chunks())
    pca = scan.pca(components=3)
    want = ut.PCA.fit(np.asarray(got.values).reshape(-1, DIM), components=3)
    np.testing.assert_allclose(pca.explained_variance, want.explained_variance, rtol=1e-10)
    assert scan.schema().field("v").type == pa.list_(pa.float32(), DIM)


def test_lance_fragments_through_dask_equal_scan(stores, drift):
    from distributed import Client, LocalCluster

    import undertow.dask as utd

    _, dataset, _, _ = stores
    leaves = list_fragments(dataset)
    assert [leaf.fragment_id for leaf in leaves] == [0, 1, 2, 3]
    clone = pickle.loads(pickle.dumps(leaves[2]))  # what a worker process receives
    assert clone.open().count_rows() == 3000
    want = ut.scan(dataset, batch_size=1000).accumulate(EmbeddingJob(drift, "v")).to_bytes()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        acc = utd.embedding_drift(drift, dataset, "v", client=client, batch_size=1000, finalize=False)
        pca = utd.covariance(dataset, "v", client=client, components=2)
    assert acc.to_bytes() == want
    assert pca.n_samples == ROWS


def test_lance_bad_sources(tmp_path, drift):
    class RemoteTable:  # a LanceDB table without to_lance() (as LanceDB Cloud's RemoteTable)
        pass

    RemoteTable.__module__ = "lancedb.remote.table"
    with pytest.raises(TypeError, match="has no to_lance"):
        ut.scan(RemoteTable())
    empty = lance.write_dataset(_table(0), tmp_path / "empty.lance")
    with pytest.raises(ValueError, match=r"empty\.lance has no fragments \(no rows\)"):
        ut.scan(empty).embedding(drift, "v")
    one = lance.write_dataset(_table(10), tmp_path / "one.lance")
    with pytest.raises(ValueError, match=r"Lance fragment 0\) has no column 'w'"):
        ut.scan(one).embedding(drift, "w")


def test_iterators_and_readers_equal_the_table_whatever_the_chunks(stores, drift, tmp_path):
    table, _, _, _ = stores
    want_acc = ut.scan(table, batch_size=700).accumulate(EmbeddingJob(drift, "v")).to_bytes()
    one_file = tmp_path / "all.parquet"
    pq.write_table(table, one_file, row_group_size=1_234)
    assert ut.scan(str(one_file), batch_size=700).accumulate(EmbeddingJob(drift, "v")).to_bytes() == want_acc

    def pages(size):
        for start in range(0, ROWS, size):
            yield table.slice(start, size).to_batches()[0]

    sources = {
        "generator of 517-row batches": pages(517),
        "generator of 3000-row batches": pages(3000),
        "iterator of tables": iter([table.slice(0, 1), table.slice(1, 6000), table.slice(6001)]),
        "reader of 333-row chunks": table.to_reader(max_chunksize=333),
    }
    for name, source in sources.items():
        got = ut.scan(source, batch_size=700).accumulate(EmbeddingJob(drift, "v")).to_bytes()
        assert got == want_acc, name


def test_iterator_errors(stores, drift):
    table, _, _, _ = stores
    with pytest.raises(ValueError, match="iterator of record batches is empty"):
        ut.scan(iter([]))
    with pytest.raises(TypeError, match=r"item 0 of the iterator is a dict"):
        ut.scan(iter([{"v": [1.0]}]))
    bad = iter([table.slice(0, 5), table.slice(5, 5).drop_columns(["x"])])
    with pytest.raises(ValueError, match="item 1 of the iterator has schema"):
        ut.scan(bad).embedding(drift, "v")
    once = ut.scan(iter([table]), batch_size=4096)
    assert once.embedding(drift, "v").n_current == ROWS
    with pytest.raises(ValueError, match="read only once"):  # never an empty second report
        once.embedding(drift, "v")
    with pytest.raises(ValueError, match="has no rows"):  # an empty reader is a stream, not an iterator
        ut.scan(table.slice(0, 0).to_reader()).embedding(drift, "v")
    reader_scan = ut.scan(table.to_reader())
    reader_scan.embedding(drift, "v")
    with pytest.raises(ValueError, match="read only once"):
        reader_scan.pca("v", components=2)


def test_rebatch_cuts_exact_batches_and_slices_without_copy():
    rng = np.random.default_rng(9)
    values = np.arange(5000, dtype=np.float64)
    for _ in range(30):
        cuts = np.sort(rng.choice(np.arange(1, 5000), size=rng.integers(0, 40), replace=False))
        parts = [pa.record_batch({"x": values[a:b]}) for a, b in zip([0, *cuts], [*cuts, 5000], strict=True)]
        parts.insert(int(rng.integers(0, len(parts))), pa.record_batch({"x": values[:0]}))  # empty
        size = int(rng.integers(1, 900))
        out = list(rebatch(parts, size))
        assert [b.num_rows for b in out[:-1]] == [size] * (len(out) - 1)
        assert 0 < out[-1].num_rows <= size
        np.testing.assert_array_equal(np.concatenate([b.column(0).to_numpy() for b in out]), values)
    big = pa.record_batch({"x": values})
    first = next(rebatch([big], 1000))
    assert first.column(0).buffers()[1].address == big.column(0).buffers()[1].address  # no copy


# ---------------------------------------------------------------------------------------------
# Progress


def test_progress_logs_every_tenth_without_a_terminal(stores, reference, caplog, capsys):
    _, dataset, _, paths = stores
    caplog.set_level(logging.INFO, logger="undertow")
    want = ut.scan(paths, batch_size=500, progress=False).psi(reference)
    assert not caplog.records
    got = ut.scan(paths, batch_size=500, progress=True).psi(reference)
    assert_reports_identical(got, want)
    lines = caplog.messages
    # one line per tenth (batches end at row groups of 1,100 too: a tenth is logged on passing it)
    assert [int(m.split("%")[0].split()[-1]) // 10 for m in lines[:-1]] == list(range(1, 10))
    assert " of 10,000 rows) in " in lines[4] and lines[4].endswith("rows/s")
    assert lines[-1].startswith("undertow: read 10,000 rows in ")
    assert all(r.levelno == logging.INFO and r.name == "undertow" for r in caplog.records)
    assert capsys.readouterr().err == ""  # logged, not printed: the app's logging has handlers
    caplog.clear()
    # unknown total (a generator): one line per 10 batches, then the total
    ut.scan(iter(dataset.to_batches(columns=["x", "city"])), batch_size=400, progress=True).psi(reference)
    assert caplog.messages[0].startswith("undertow: 4,000 rows (10 batches) in ")
    assert caplog.messages[1].startswith("undertow: 8,000 rows (20 batches) in ")
    assert caplog.messages[2].startswith("undertow: read 10,000 rows in ")
    caplog.clear()
    ut.scan(paths, progress=None).psi(reference)  # default: logged because INFO is enabled
    assert caplog.messages[-1].startswith("undertow: read 10,000 rows")


_CHILD = r"""
import json, sys
if sys.argv[1] == "no-tqdm":
    sys.modules["tqdm"] = None  # `import tqdm` now raises ImportError, as when it is not installed
    sys.modules["tqdm.auto"] = None
import numpy as np, pyarrow as pa, undertow as ut
rng = np.random.default_rng(1)
ref = ut.Reference.fit({"x": rng.normal(size=3000)}, bins=5)
table = pa.table({"x": rng.normal(0.1, 1, 50_000)})
report = ut.scan(table, batch_size=1000, progress=True).psi(ref)
print(json.dumps(report.to_dict()))
"""


def _child(mode: str, tty: bool) -> tuple[str, str]:
    # the undertow under test (an installed wheel or the source tree), not ROOT/python blindly
    env = {**os.environ, "PYTHONPATH": str(Path(ut.__file__).resolve().parent.parent)}
    if not tty:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, env=env, timeout=120
        )
        assert out.returncode == 0, out.stderr
        return out.stdout, out.stderr
    leader, follower = pty.openpty()  # a real terminal on stderr, 120 columns (tqdm fits its width)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read while the child writes: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal is closed and drained
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, mode],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    err = b"".join(chunks).decode(errors="replace")
    assert out.returncode == 0, err
    return out.stdout, err


def test_progress_without_tqdm_logs_and_gives_the_same_result():
    namespace: dict = {"__name__": "child"}
    exec(_CHILD.rsplit("print(", 1)[0].replace("sys.argv[1]", '"tqdm"'), namespace)  # here, with tqdm
    want = json.loads(json.dumps(namespace["report"].to_dict()))
    for tty in (False, True):  # no tqdm: never a crash, log lines on stderr (no logging configured)
        stdout, stderr = _child("no-tqdm", tty=tty)
        assert json.loads(stdout) == want
        assert "ModuleNotFoundError" not in stderr
        assert "undertow: 50% (25,000 of 50,000 rows) in " in stderr, stderr
        assert "undertow: read 50,000 rows in " in stderr
    # with tqdm on a terminal: the bar
    stdout, stderr = _child("tqdm", tty=True)
    assert json.loads(stdout) == want
    assert "50.0k/50.0k" in stderr and "rows" in stderr and "undertow: read" not in stderr


def test_progress_class_modes(caplog):
    from undertow.stream import progress as _progress

    assert _progress.Progress(False, 10).mode == "off"
    old = _progress.LOGGER.level
    _progress.LOGGER.setLevel(logging.WARNING)
    try:
        assert _progress.Progress(None, 10).mode == "off"  # not watched, INFO not logged: silent
        assert _progress.Progress(True, 10).mode == "log"
    finally:
        _progress.LOGGER.setLevel(old)
    caplog.set_level(logging.INFO, logger="undertow")
    assert _progress.Progress(None, 10).mode == "log"
    assert not _progress.in_jupyter()


# ---------------------------------------------------------------------------------------------
# docs/sources.md: its examples run here


def _sections() -> dict[str, list[str]]:
    """The ```python blocks of docs/sources.md by section ("" before the first ## heading);
    blocks whose first line says "# needs ..." (a server, a client not installed) are left out."""
    text = (ROOT / "docs" / "sources.md").read_text()
    sections: dict[str, list[str]] = {}
    name = ""
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("## "):
            name = line[3:].strip()
        elif line.strip() == "```python":
            block = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                block.append(inner)
            if "# needs " not in block[0]:
                sections.setdefault(name, []).append("\n".join(block))
    return sections


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    import tempfile

    sections = _sections()
    old = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("docs"))
    try:
        namespace: dict = {}
        for block in sections[""]:
            exec(compile(block, "docs/sources.md", "exec"), namespace)
    finally:
        tempfile.tempdir = old
    namespace["exact"] = namespace["drift"].compare(namespace["current"])  # the numpy array's report
    return sections, namespace


def _run(docs, section: str, **extra) -> dict:
    sections, setup = docs
    namespace = {**setup, **extra}
    for block in sections[section]:
        exec(compile(block, f"docs/sources.md ({section})", "exec"), namespace)
    return namespace


def _check_against_numpy(report, ns) -> None:
    exact = ns["exact"]
    assert report.n_current == len(ns["current"])
    assert report.mmd == exact.mmd and report.domain_auc == exact.domain_auc
    np.testing.assert_array_equal(report.component_psi, exact.component_psi)
    assert report.cosine.cosine_psi == exact.cosine.cosine_psi
    assert report.cosine.centroid_distance == pytest.approx(exact.cosine.centroid_distance, rel=1e-9)


@pytest.fixture(scope="module")
def lance_docs(docs):
    return _run(docs, "LanceDB and Lance")


def test_docs_lance_example(lance_docs):
    _check_against_numpy(lance_docs["lance_report"], lance_docs)


def test_docs_qdrant_example_real_local_client(docs):
    ns = _run(docs, "Qdrant")  # qdrant-client's in-process local mode: a real collection
    assert ns["client"].count("docs").count == len(ns["current"])
    _check_against_numpy(ns["qdrant_report"], ns)
    assert pq.read_metadata(ns["qdrant_file"]).num_rows == len(ns["current"])


class ChromaGetResult:
    """Stands in for a chromadb 1.x Collection (chromadb is not installed here, see the report):
    its ``get(include=["embeddings"], limit, offset)`` returns a GetResult shaped as chromadb 1.5
    returns it (chromadb/api/models/CollectionCommon.py ``_transform_get_response``): ids a list
    of str, embeddings ``np.array`` of the stored float32 rows, the other fields None."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._rows = [np.asarray(v, dtype=np.float32) for v in vectors]
        self.calls = 0

    def get(self, include, limit, offset):
        self.calls += 1
        assert include == ["embeddings"]
        rows = self._rows[offset : offset + limit]
        return {
            "ids": [f"doc-{i}" for i in range(offset, offset + len(rows))],
            "embeddings": np.array(rows),
            "documents": None,
            "uris": None,
            "data": None,
            "metadatas": None,
            "included": ["embeddings"],
        }


def test_docs_chroma_example_on_its_export_shape(docs):
    collection = ChromaGetResult(docs[1]["current"])
    ns = _run(docs, "Chroma", collection=collection)
    _check_against_numpy(ns["chroma_report"], ns)
    assert collection.calls == 3  # 2 pages (4,096 and 3,904 rows) and the empty one that ends the loop


def test_docs_pgvector_helper_on_wire_values(docs):
    """pg_batches of the docs over rows as psycopg returns them with pgvector's adapter:
    each vector sent by PostgreSQL (binary protocol: int16 dim, int16 0, big-endian float4s, as
    pgvector's vector_send; text: '[x,y,...]') decoded by pgvector's real psycopg loaders."""
    from pgvector.psycopg.vector import VectorBinaryLoader, VectorLoader

    ns = _run(docs, "pgvector (PostgreSQL)")
    current = ns["current"]
    binary, text = VectorBinaryLoader(0, None), VectorLoader(0, None)
    rows = []
    for i, v in enumerate(current):
        if i % 2:
            wire = np.array([len(v), 0], dtype=">u2").tobytes() + v.astype(">f4").tobytes()
            rows.append((i, binary.load(wire)))
        else:
            rows.append((i, text.load(("[" + ",".join(str(x) for x in v) + "]").encode())))  # float4 out

    class Cursor:  # fetchmany over the decoded rows, as a psycopg server-side cursor pages them
        def __init__(self) -> None:
            self.at = 0

        def fetchmany(self, size):
            page, self.at = rows[self.at : self.at + size], self.at + size
            return page

    report = ut.scan(ns["pg_batches"](Cursor())).embedding(ns["drift"], "vector")
    _check_against_numpy(report, ns)


def test_docs_progress_example(docs, lance_docs, caplog):
    caplog.set_level(logging.INFO, logger="undertow")
    _run(docs, "Progress in a nightly job", table=lance_docs["table"])
    assert caplog.messages[0].startswith("undertow: 10% (800 of 8,000 rows)")


def test_lance_io_buffer_follows_the_batch():
    from undertow.stream.sources import LANCE_IO_BUFFER, _row_bytes

    schema = pa.schema(
        {"v": pa.list_(pa.float32(), 384), "s": pa.string(), "x": pa.float64(), "b": pa.bool_()}
    )
    assert _row_bytes(schema, ["v"]) == 384 * 4
    assert _row_bytes(schema, None) == 384 * 4 + 16 + 8 + 1  # a string: 16 bytes guessed
    assert max(LANCE_IO_BUFFER, 4 * 65_536 * _row_bytes(schema, ["v"])) == 4 * 65_536 * 1536
