"""undertow.dask on a real dask.distributed LocalCluster: the tree-reduced result equals the
single-machine run bit for bit, bad input fails loudly (naming the file), and a worker that
dies fails the run instead of returning a partial result."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import dask
import numpy as np
import polars as pl
import pytest
from distributed import Client, KilledWorker, LocalCluster
from reference_impl import assert_reports_identical

import undertow as ut
import undertow.dask as utd

DIM = 6


def _part(seed: int, n: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.normal(0.2, 1.0, n),
            "k": rng.integers(0, 5, n),
            "city": rng.choice(["a", "b", "c"], n),
            "v": pl.Series((rng.normal(size=(n, DIM)) + 0.1).astype(np.float32)),
        }
    )


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pl.DataFrame]:
    """11 files (more than split_every=8, so the tree has two levels), row groups of 400."""
    root = tmp_path_factory.mktemp("dask")
    parts = []
    for i in range(11):
        part = _part(i, 300 + 170 * i)
        part.write_parquet(root / f"f{i:02d}.parquet", row_group_size=400)
        parts.append(part)
    return str(root), pl.concat(parts)


@pytest.fixture(scope="module")
def reference() -> ut.Reference:
    return ut.Reference.fit(_part(99, 3000).drop("v"), bins=8, categorical=["k"])


@pytest.fixture(scope="module")
def drift() -> ut.EmbeddingDrift:
    vectors = _part(98, 3000).get_column("v").to_numpy()
    return ut.EmbeddingDrift.fit(vectors, components=3, sample=300, permutations=40)


@pytest.mark.parametrize("by", ["file", "row_group"])
def test_psi_equals_reference_psi_of_all_rows(client, data, reference, by):
    root, whole = data
    report = utd.psi(reference, root, client=client, by=by, batch_size=250)
    assert report.rows == whole.height
    assert_reports_identical(report, reference.psi(whole.drop("v")))


def test_psi_rename_and_accumulator(client, data, reference, tmp_path):
    root, _ = data
    for i, path in enumerate(sorted(Path(root).glob("*.parquet"))[:3]):
        pl.read_parquet(path).rename({"x": "x_new"}).write_parquet(tmp_path / f"r{i}.parquet")
    acc = utd.psi(reference, str(tmp_path), columns={"x": "x_new"}, client=client, finalize=False)
    assert isinstance(acc, ut.PsiAccumulator)
    want = pl.concat([pl.read_parquet(p) for p in sorted(Path(root).glob("*.parquet"))[:3]])
    assert_reports_identical(acc.finalize(), reference.psi(want.drop("v")))


def test_embedding_drift_bit_identical_to_scan(client, data, drift):
    root, whole = data
    distributed = utd.embedding_drift(drift, root, "v", client=client, batch_size=333, finalize=False)
    serial = ut.scan(root, batch_size=333).accumulate(ut.stream.EmbeddingJob(drift, "v"))
    assert distributed.rows == serial.rows == whole.height
    assert distributed.to_bytes() == serial.to_bytes()  # sums, grid, counts, sample: every bit
    report = distributed.finalize()
    assert report.to_dict() == serial.finalize().to_dict()
    exact = drift.compare(whole.get_column("v").to_numpy())
    assert report.mmd == exact.mmd
    assert report.cosine.centroid_distance == pytest.approx(exact.cosine.centroid_distance, rel=1e-9)


def test_covariance_bit_identical_and_equal_to_pca(client, data):
    root, whole = data
    distributed = utd.covariance(root, "v", client=client, batch_size=500, finalize=False)
    serial = ut.scan(root, batch_size=500).covariance("v")
    assert distributed.to_bytes() == serial.to_bytes()
    pca = distributed.finalize(3)
    want = ut.PCA.fit(whole.get_column("v").to_numpy(), components=3)
    np.testing.assert_allclose(pca.explained_variance, want.explained_variance, rtol=1e-10)
    assert utd.covariance(root, "v", client=client, batch_size=500, components=3).n_samples == whole.height


def test_rff_mmd_matches_in_memory(client, data, tmp_path):
    root, whole = data
    rng = np.random.default_rng(5)
    y_frame = pl.DataFrame({"v": pl.Series((rng.normal(size=(2500, DIM)) + 0.4).astype(np.float32))})
    y_frame.head(1200).write_parquet(tmp_path / "y0.parquet")
    y_frame.tail(1300).write_parquet(tmp_path / "y1.parquet")
    x = whole.get_column("v").to_numpy()
    y = y_frame.get_column("v").to_numpy()
    h = ut.median_bandwidth(x, y)
    result = utd.rff(root, str(tmp_path), "v", h, client=client, features=64, seed=3)
    want = ut.mmd(x, y, bandwidth=h, estimator="rff", features=64, seed=3)
    assert (result.n_x, result.n_y) == (x.shape[0], y.shape[0])
    assert result.value == pytest.approx(want.value, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(want.p_value, rel=1e-6, abs=1e-12)
    with dask.config.set(scheduler="synchronous"):  # the same graph without a cluster
        serial = utd.rff(root, str(tmp_path), "v", h, features=64, seed=3, finalize=False)
    distributed = utd.rff(root, str(tmp_path), "v", h, client=client, features=64, seed=3, finalize=False)
    assert serial.to_bytes() == distributed.to_bytes()


def test_accumulators_pickle_through_their_bytes(data, reference, drift):
    _, whole = data
    vectors = whole.get_column("v").to_numpy()
    psi_acc = reference.accumulator().update(whole.drop("v"))
    emb_acc = drift.accumulator()
    emb_acc.update(vectors)
    cov = ut.CovarianceAccumulator(DIM)
    cov.update(vectors)
    rff = ut.RffAccumulator(DIM, 1.0, features=16)
    rff.update_x(vectors)
    for acc in (psi_acc, emb_acc, cov, rff):
        copy = pickle.loads(pickle.dumps(acc))
        assert type(copy) is type(acc)
        assert copy.to_bytes() == acc.to_bytes()


def test_schema_differences_name_the_file(client, data, reference, tmp_path):
    root, _ = data
    frame = _part(1, 200).drop("v")
    frame.write_parquet(tmp_path / "a.parquet")
    frame.with_columns(pl.col("x").cast(pl.Float32)).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"'x' is float in .*b\.parquet but double in .*a\.parquet"):
        utd.psi(reference, str(tmp_path), client=client)
    (tmp_path / "b.parquet").unlink()
    frame.drop("city").write_parquet(tmp_path / "c.parquet")
    with pytest.raises(ValueError, match=r"c\.parquet has no column 'city'"):
        utd.psi(reference, str(tmp_path), client=client)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no Parquet"):
        utd.psi(reference, str(empty), client=client)
    frame.head(0).write_parquet(empty / "zero.parquet")
    with pytest.raises(ValueError, match="no rows"):
        utd.psi(reference, str(empty), client=client)
    with pytest.raises(ValueError, match="split_every"):
        utd.psi(reference, root, client=client, split_every=1)


def test_two_worker_processes_equal_serial_and_a_dying_worker_fails_loudly(data, reference, drift):
    root, whole = data
    serial = ut.scan(root, batch_size=300).accumulate(ut.stream.EmbeddingJob(drift, "v"))
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        report = utd.psi(reference, root, client=client)
        assert_reports_identical(report, reference.psi(whole.drop("v")))
        distributed = utd.embedding_drift(drift, root, "v", client=client, batch_size=300, finalize=False)
        assert distributed.to_bytes() == serial.to_bytes()
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids  # really two other processes

        fragments = utd.fragments(root)

        def leaf_that_kills_its_worker(fragment, ref):
            if fragment.path.endswith("f05.parquet"):
                os._exit(1)  # the worker process dies mid-run
            return ref.accumulator()

        with pytest.raises(KilledWorker):
            utd.map_reduce(leaf_that_kills_its_worker, fragments, reference, client=client)


@pytest.mark.parametrize("by", ["file", "row_group"])
def test_histogram_equals_numpy_of_all_rows(client, data, by):
    root, frame = data
    edges = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5])
    counts, got_edges = utd.histogram(root, "x", edges, client=client, by=by)
    want, _ = np.histogram(frame["x"].to_numpy(), bins=edges)
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(got_edges, edges)
    serial, _ = ut.scan(root, progress=False).histogram("x", edges)
    np.testing.assert_array_equal(serial, want)


def test_histogram_accumulator_edges_merge_and_bytes():
    edges = np.array([0.0, 1.0, 2.0, 4.0])
    a, b = ut.HistogramAccumulator(edges), ut.HistogramAccumulator(edges)
    a.update(np.array([0.0, 1.0, 3.9, 4.0, 4.5, np.nan, -1.0]))  # 4.0 is in the closed last bin
    b.update(np.array([1.5, 2.0], dtype=np.float32))
    a.merge(b)
    np.testing.assert_array_equal(a.counts, [1, 2, 3])
    back = ut.HistogramAccumulator.from_bytes(a.to_bytes())
    np.testing.assert_array_equal(back.counts, a.counts)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(a)).counts, a.counts)
    blob = a.to_bytes()
    for cut in range(len(blob)):
        with pytest.raises(ValueError):
            ut.HistogramAccumulator.from_bytes(blob[:cut])
    with pytest.raises(ValueError, match="different edges"):
        a.merge(ut.HistogramAccumulator([0.0, 1.0]))
    with pytest.raises(ValueError, match="strictly increasing"):
        ut.HistogramAccumulator([0.0, 0.0, 1.0])
