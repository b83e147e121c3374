"""encoder_mix_vectors: a silent encoder mix found from the stored vectors alone (real data,
tests/data/sentences.npz). The metadata says minilm for every row; 5% of the rows hold the m2v
vectors of the same texts (m2v is shipped for the python-docs rows)."""

import faiss
import numpy as np
import polars as pl
import pytest
from sentences_data import load_sentences

import undertow as ut


@pytest.fixture(scope="module")
def corpus():
    s = load_sentences()
    return s["ids"] * 10 + 3, s["minilm"], s["m2v_rows"], s["m2v"], s["source"]


def audit(vectors, ids, **kw):
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    docs = pl.DataFrame(
        {
            "id": ids,
            "content_hash": ["h"] * len(ids),
            "embedded_hash": ["h"] * len(ids),
            "encoder_version": ["minilm"] * len(ids),
        }
    )
    return ut.audit_index(index, docs, **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_five_percent_m2v_rows_are_found(corpus, seed):
    ids, minilm, m2v_rows, m2v, _ = corpus
    rng = np.random.default_rng(50 + seed)
    count = round(0.05 * len(ids))
    pick = rng.choice(len(m2v_rows), count, replace=False)
    stored = minilm.copy()
    stored[m2v_rows[pick]] = m2v[pick]
    report = audit(stored, ids, seed=seed)
    check = report["encoder_mix_vectors"]
    replaced = ids[m2v_rows[pick]]
    hits = np.isin(check.ids, replaced).sum()
    assert check.status == "fail"
    assert hits / len(check.ids) >= 0.95, (hits, len(check.ids))
    assert hits / len(replaced) >= 0.95, (hits, len(replaced))
    assert check.value == pytest.approx(len(check.ids) / len(ids))
    # the metadata cannot see it
    assert report["encoder_mix"].status == "ok"
    # independent: the flagged rows' centroid is near orthogonal to the others' (float64 numpy)
    flagged = np.isin(ids, check.ids)
    a, b = stored[flagged].astype(np.float64).mean(0), stored[~flagged].astype(np.float64).mean(0)
    assert abs(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) < 0.1


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_two_topic_index_raises_no_alarm(corpus, seed):
    ids, minilm, _, _, source = corpus
    # chatterbot vs python-docs: centroid cosine distance ~0.74, one encoder
    c = minilm[source == "chatterbot-corpus"].astype(np.float64).mean(0)
    p = minilm[source == "python-docs"].astype(np.float64).mean(0)
    assert 0.7 < 1 - c @ p / np.linalg.norm(c) / np.linalg.norm(p) < 0.78
    check = audit(minilm, ids, seed=seed)["encoder_mix_vectors"]
    assert check.status == "ok" and check.count == 0 and check.value == 0.0
    assert check.detail["min_cluster_cosine"] >= 0.1


def test_threshold_knobs_and_small_index(corpus):
    ids, minilm, m2v_rows, m2v, _ = corpus
    stored = minilm.copy()
    stored[m2v_rows[:200]] = m2v[:200]
    # a cosine bound of -1 turns the group test off: nothing is a candidate
    off = audit(stored, ids, thresholds={"encoder_mix_vectors_cosine": -1.0})["encoder_mix_vectors"]
    assert off.status == "ok" and off.count == 0
    # a share threshold above the found share passes
    lenient = audit(stored, ids, thresholds={"encoder_mix_vectors": 0.5})["encoder_mix_vectors"]
    assert lenient.status == "ok" and lenient.count > 150
    small = audit(minilm[:100], ids[:100])["encoder_mix_vectors"]
    assert small.status == "not_run" and "at least 200" in small.message
    with pytest.raises(ut.UndertowError, match="encoder_mix_vectors_cosine"):
        audit(minilm[:100], ids[:100], thresholds={"encoder_mix_vectors_cosine": 2.0})
