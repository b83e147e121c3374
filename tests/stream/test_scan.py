"""undertow.scan: Arrow sources streamed into the accumulators equal the in-memory results."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from reference_impl import assert_psi_matches, assert_reports_identical, psi_reference

import undertow as ut
from undertow.stream import TreeReducer, arrow_vectors, tree_shape

DIM = 8


def _table_part(seed: int, n: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    k = pl.Series("k", rng.integers(0, 6, n), dtype=pl.Int64)
    k = k.scatter(np.flatnonzero(rng.random(n) < 0.05), None)  # nulls: missing under nan_policy
    return pl.DataFrame(
        {
            "x": x,
            "f": rng.normal(0, 2, n).astype(np.float32),
            "k": k,
            "city": rng.choice(["a", "b", "c", "new"], n),
        }
    )


def _vectors(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, DIM)) + shift).astype(np.float32)


@pytest.fixture(scope="module")
def reference() -> ut.Reference:
    base = _table_part(100, 4000).with_columns(pl.col("city").replace("new", "a"))
    return ut.Reference.fit(base, bins=7, nan_policy="bin")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], pl.DataFrame]:
    """5 Parquet files of 1,000..3,000 rows (row groups of 700), with a vector column."""
    root = tmp_path_factory.mktemp("scan")
    parts = []
    for i, n in enumerate([1000, 3000, 1500, 2200, 1300]):
        part = _table_part(i, n, shift=0.15).with_columns(v=pl.Series(_vectors(50 + i, n, 0.05)))
        part.write_parquet(root / f"part-{i:02d}.parquet", row_group_size=700)
        parts.append(part)
    (root / "_SUCCESS").write_text("")  # hidden files are skipped
    paths = [str(root / f"part-{i:02d}.parquet") for i in range(5)]
    return paths, pl.concat(parts)


def _drift() -> ut.EmbeddingDrift:
    return ut.EmbeddingDrift.fit(_vectors(7, 3000), components=4, sample=400, permutations=50)


@pytest.mark.parametrize("batch_size", [333, 65_536])
def test_psi_over_parquet_equals_in_memory(files, reference, batch_size):
    paths, whole = files
    report = ut.scan(paths, batch_size=batch_size).psi(reference)
    assert report.rows == whole.height
    assert_reports_identical(report, reference.psi(whole.select(reference.columns)))
    x = whole.get_column("x").to_numpy()
    ref_x = _table_part(100, 4000).get_column("x").to_numpy()
    assert_psi_matches(report["x"], psi_reference(ref_x, x, bins=7, nan_policy="bin"), check_types=False)


def test_one_row_batches(files, reference):
    small = files[1].head(50).select(reference.columns)
    assert_reports_identical(ut.scan(small, batch_size=1).psi(reference), reference.psi(small))


def test_every_source_kind_gives_the_same_report(files, reference):
    paths, whole = files
    want = reference.psi(whole.select(reference.columns))

    class Stream:  # any object with __arrow_c_stream__
        def __init__(self, table: pa.Table) -> None:
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    table = whole.to_arrow()
    directory = str(Path(paths[0]).parent)
    sources = {
        "directory": directory,
        "paths": paths,
        "dataset": ds.dataset(paths, format="parquet"),
        "table": table,
        "reader": table.to_reader(max_chunksize=1000),
        "batch": table.combine_chunks().to_batches()[0],
        "polars": whole,
        "lazy": pl.scan_parquet(paths),
        "c_stream": Stream(table),
    }
    for name, source in sources.items():
        report = ut.scan(source, batch_size=4096).psi(reference)
        assert report.rows == whole.height, name
        assert_reports_identical(report, want)


def test_rename_and_projection(files, reference):
    paths, whole = files
    renamed = whole.rename({"x": "x_v2"}).select(["x_v2", "f", "k", "city"])
    report = ut.scan(renamed).psi(reference, rename={"x": "x_v2"})
    assert_reports_identical(report, reference.psi(whole.select(reference.columns)))
    with pytest.raises(ValueError, match="city"):
        ut.scan(paths, columns=["x", "f", "k"]).psi(reference)


def test_fixed_size_list_slices_are_zero_copy_views():
    values = np.arange(40 * 6, dtype=np.float32) * 0.5
    arr = pa.FixedSizeListArray.from_arrays(pa.array(values), 6)
    sliced = arr.slice(7, 11)
    assert len(sliced.values) == 40 * 6  # the child ignores the slice: the trap this avoids
    out = arrow_vectors(sliced, "v")
    np.testing.assert_array_equal(out, values.reshape(40, 6)[7:18])
    buffer = arr.values.buffers()[1]
    assert out.ctypes.data == buffer.address + 7 * 6 * 4  # a view of the Arrow buffer
    assert not out.flags.writeable
    # a batch sliced out of a record batch, as scan slices large batches
    batch = pa.record_batch({"v": arr}).slice(30, 5)
    np.testing.assert_array_equal(arrow_vectors(batch.column("v"), "v"), values.reshape(40, 6)[30:35])
    f64 = pa.FixedSizeListArray.from_arrays(pa.array(values.astype(np.float64)), 6).slice(1, 2)
    np.testing.assert_array_equal(arrow_vectors(f64, "v"), values.astype(np.float64).reshape(40, 6)[1:3])


def test_list_vectors_and_bad_vectors():
    lists = pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], type=pa.list_(pa.float32()))
    np.testing.assert_array_equal(arrow_vectors(lists.slice(1), "v"), [[3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(ValueError, match="different lengths"):
        arrow_vectors(pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32())), "v")
    with pytest.raises(ValueError, match=r"1 vectors are null.*row 1"):
        arrow_vectors(pa.array([[1.0, 2.0], None], type=pa.list_(pa.float32(), 2)), "v")
    with pytest.raises(ValueError, match=r"hold nulls.*row 1"):
        arrow_vectors(pa.array([[1.0, 2.0], [None, 1.0]], type=pa.list_(pa.float32(), 2)), "v")
    with pytest.raises(TypeError, match="vector column"):
        arrow_vectors(pa.array([1.0, 2.0]), "v")


def test_embedding_over_parquet_equals_compare(files):
    paths, whole = files
    drift = _drift()
    vectors = whole.get_column("v").to_numpy()
    streamed = ut.scan(paths, batch_size=500).embedding(drift, "v")
    exact = drift.compare(vectors)
    assert streamed.n_current == exact.n_current == whole.height
    assert streamed.status == exact.status
    assert streamed.mmd == exact.mmd  # the hash-chosen sample is the same rows
    assert streamed.domain_auc == exact.domain_auc
    np.testing.assert_array_equal(streamed.component_psi, exact.component_psi)
    assert streamed.cosine.cosine_psi == exact.cosine.cosine_psi
    assert streamed.cosine.centroid_distance == pytest.approx(exact.cosine.centroid_distance, rel=1e-9)
    np.testing.assert_allclose(streamed.cosine.current_quantiles, exact.cosine.current_quantiles, atol=3.1e-5)
    # a polars LazyFrame (Array and List columns) streams through collect_batches
    lazy = ut.scan(pl.LazyFrame({"v": whole.get_column("v")}), batch_size=999).embedding(drift, "v")
    assert lazy.mmd == exact.mmd
    as_list = pl.LazyFrame({"v": whole.get_column("v").cast(pl.List(pl.Float32))})
    assert ut.scan(as_list, batch_size=999).embedding(drift, "v").mmd == exact.mmd


def test_pca_over_parquet(files):
    paths, whole = files
    pca = ut.scan(paths, columns=["v"], batch_size=777).pca(components=3)
    want = ut.PCA.fit(whole.get_column("v").to_numpy(), components=3)
    assert pca.n_samples == whole.height
    np.testing.assert_allclose(pca.explained_variance, want.explained_variance, rtol=1e-10)
    np.testing.assert_allclose(np.abs(pca.components @ want.components.T), np.eye(3), atol=1e-8)


def test_tree_reducer_is_the_level_wise_tree():
    class Node:  # records the merge structure (merge order is what float sums depend on)
        def __init__(self, label):
            self.label = label

        def merge(self, other):
            self.label = ("m", self.label, other.label)

    def level_wise(n, k):
        level = list(range(n))
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level), k):
                group = level[i : i + k]
                acc = group[0]
                for other in group[1:]:
                    acc = ("m", acc, other)
                nxt.append(acc)
            level = nxt
        return level[0]

    for k in (2, 3, 8):
        for n in range(1, 40):
            reducer = TreeReducer(k)
            for i in range(n):
                reducer.push(Node(i))
            assert reducer.result().label == level_wise(n, k), (n, k)
            assert len(tree_shape(n, k)) == (0 if n == 1 else int(np.ceil(np.log(n) / np.log(k) - 1e-12)))


def test_bad_sources(tmp_path, reference):
    with pytest.raises(ValueError, match="no Parquet"):
        ut.scan(str(tmp_path)).psi(reference)
    with pytest.raises(ValueError, match="does not exist"):
        ut.scan(str(tmp_path / "nope.parquet"))
    with pytest.raises(TypeError, match="source"):
        ut.scan(42)
    with pytest.raises(ValueError, match="batch_size"):
        ut.scan(str(tmp_path), batch_size=0)
    good = _table_part(1, 100)
    good.write_parquet(tmp_path / "a.parquet")
    good.drop("city").write_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"b\.parquet has no column 'city'"):
        ut.scan(str(tmp_path)).psi(reference)
    (tmp_path / "b.parquet").unlink()
    good.with_columns(pl.col("x").cast(pl.Float32)).write_parquet(tmp_path / "c.parquet")
    with pytest.raises(ValueError, match=r"'x' is float in .*c\.parquet but double in .*a\.parquet"):
        ut.scan(str(tmp_path)).psi(reference)
    with pytest.raises(ValueError, match="no rows"):
        ut.scan(good.head(0)).psi(reference)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    good.head(0).write_parquet(empty_dir / "zero.parquet")
    with pytest.raises(ValueError, match="no rows"):
        ut.scan(str(empty_dir)).psi(reference)
    nulls = pl.DataFrame({"v": pl.Series([[1.0] * DIM, None, [2.0] * DIM], dtype=pl.Array(pl.Float32, DIM))})
    with pytest.raises(ValueError, match="null"):
        ut.scan(nulls).embedding(_drift(), "v")


def test_progress_only_when_asked(files, reference, capsys, caplog):
    paths, _ = files
    ut.scan(paths).psi(reference)  # stderr is not a terminal under pytest, INFO not logged: silent
    assert capsys.readouterr().err == "" and not caplog.records
    caplog.set_level(logging.INFO, logger="undertow")
    ut.scan(paths, progress=True).psi(reference)  # no terminal: log lines (a bar: test_sources)
    assert capsys.readouterr().err == ""
    assert caplog.messages[-1].startswith("undertow: read 9,000 rows in ")
    caplog.clear()
    ut.scan(paths, progress=False).psi(reference)
    assert capsys.readouterr().err == "" and not caplog.records
