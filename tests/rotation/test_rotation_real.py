"""rotation_preview on real sentence embeddings (tests/data/sentences.npz): the python-docs rows,
embedded by all-MiniLM-L6-v2 and by the m2v encoder distilled from it (another coordinate system).
Documents: 2,203 rows; queries: 200 other rows (never documents)."""

import json

import numpy as np
import polars as pl
import pytest
from sentences_data import load_sentences

import undertow as ut


@pytest.fixture(scope="module")
def real():
    s = load_sentences()
    rows = s["m2v_rows"]
    minilm, m2v = s["minilm"][rows], s["m2v"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    q, d = np.sort(order[:200]), np.sort(order[200:])
    return {"ids": s["ids"][rows], "minilm": minilm, "m2v": m2v, "q": q, "d": d}


def preview(real, old, new, **kw):
    q, d, ids = real["q"], real["d"], real["ids"]
    return ut.rotation_preview(
        old[d], new[d], old[q], new[q], doc_ids=ids[d], query_ids=ids[q], k=10, cutoffs=[0.4, 0.6], **kw
    )


def test_minilm_to_m2v_is_incompatible(real):
    report = preview(real, real["minilm"], real["m2v"])
    assert report.verdict == "incompatible"
    assert report.status == "fail"
    numbers = report.compatibility.numbers
    # the same texts across encoders are no closer than random pairs
    assert abs(numbers["self_cosine_median"]) < 0.05 and abs(numbers["random_pair_cosine_median"]) < 0.05
    assert numbers["mapped_overlap_mean"] < 0.7
    assert report["result_churn"].value < 0.6 and report["result_churn"].status == "warn"
    assert report["neighbourhood"].value < 0.6
    assert report["result_churn"].count > 50  # queries keeping less than half their top-10
    # the independent check of the verdict's self cosine: float64 numpy over all documents
    d = real["d"]
    self_cos = np.einsum("ij,ij->i", real["minilm"][d].astype(np.float64), real["m2v"][d].astype(np.float64))
    assert abs(np.median(self_cos)) < 0.05


def test_random_rotation_is_alignable_with_overlap_near_one(real):
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(384, 384)))
    rotated = real["minilm"].astype(np.float64) @ q + rng.normal(scale=0.002, size=real["minilm"].shape)
    rotated = (rotated / np.linalg.norm(rotated, axis=1, keepdims=True)).astype(np.float32)
    report = preview(real, real["minilm"], rotated)
    numbers = report.compatibility.numbers
    assert report.verdict == "alignable", report
    assert numbers["mapped_overlap_mean"] >= 0.95
    assert numbers["mapped_cosine_median"] >= 0.99
    # unmapped, the rotated space is unrelated; rotation keeps every inner product (up to noise),
    # so the result lists barely move
    assert abs(numbers["self_cosine_median"]) < 0.1
    assert report["result_churn"].value >= 0.95


def test_float16_rounding_is_drop_in(real):
    rounded = real["minilm"].astype(np.float16).astype(np.float32)
    report = preview(real, real["minilm"], rounded)
    assert report.verdict == "drop-in"
    assert report["compatibility"].status == "ok"
    assert report["result_churn"].value >= 0.98
    assert report["score_shift"].value < 0.01
    for remap in report.cutoffs:
        assert abs(remap.quantile_cutoff - remap.cutoff) < 2e-3


def test_report_faces(real):
    report = preview(real, real["minilm"], real["m2v"])
    text = repr(report)
    assert "INCOMPATIBLE" in text and "result_churn" in text
    frame = report.to_polars()
    assert frame["check"].to_list() == list(ut.rotation.report.CHECKS)
    data = json.loads(report.to_json())
    assert data["format"] == "undertow.rotation/1" and data["verdict"] == "incompatible"
    assert len(data["churn"]["most_changed"]) == 10
    per_query = report.churn_frame()
    assert per_query.height == 200 and set(per_query["id"].to_list()) == set(real["ids"][real["q"]].tolist())
    assert report.cutoff_frame().height == 21


def test_polars_tables_aligned_by_id(real):
    d = real["d"]
    ids = real["ids"][d]
    old = pl.DataFrame({"id": ids, "v": real["minilm"][d]})
    new = pl.DataFrame({"id": ids[::-1], "v": real["m2v"][d][::-1]})
    by_table = ut.rotation_preview(old, new, k=10, sample=200, seed=1)
    by_array = ut.rotation_preview(real["minilm"][d], real["m2v"][d], doc_ids=ids, k=10, sample=200, seed=1)
    # exact score ties (float16-rounded duplicates) may fall either side of the k-th slot when
    # the rows come in another order; within the lists the order is by score, then old row
    same = ut.rotation.overlap_at_k(by_table.neighbourhood.new_top, by_array.neighbourhood.new_top)
    assert (same == 1.0).mean() >= 0.99
    assert by_table.verdict == by_array.verdict == "incompatible"


def test_scan_source(real, tmp_path):
    d = real["d"]
    ids = real["ids"][d]
    pl.DataFrame({"id": ids, "v": real["minilm"][d]}).write_parquet(tmp_path / "old.parquet")
    pl.DataFrame({"id": ids, "v": real["m2v"][d]}).write_parquet(tmp_path / "new.parquet")
    scanned = ut.rotation_preview(
        ut.scan(tmp_path / "old.parquet", batch_size=500), ut.scan(tmp_path / "new.parquet"), k=10, sample=100
    )
    direct = ut.rotation_preview(real["minilm"][d], real["m2v"][d], doc_ids=ids, k=10, sample=100)
    np.testing.assert_array_equal(scanned.neighbourhood.old_top, direct.neighbourhood.old_top)
