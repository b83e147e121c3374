"""Embedding drift on real sentence embeddings (tests/data/sentences.npz, see tests/data/README.md).

Two encoders of the same 4,304 sentences (chatterbot-corpus, python-docs): topic drift must be
flagged, random halves of one source must not, and an embedding-model swap is "severe".
"""

import numpy as np
import polars as pl
import pytest
from embedding_reference import (
    centroid_distance_reference,
    median_bandwidth_reference,
    mmd2_biased_reference,
    mmd2_unbiased_reference,
)
from sentences_data import load_sentences

import undertow as ut


@pytest.fixture(scope="module")
def data():
    s = load_sentences()
    minilm, source, category = s["minilm"], s["source"], s["category"]
    assert minilm.dtype == np.float32 and minilm.shape == (len(source), 384)
    chat = source == "chatterbot-corpus"
    docs = source == "python-docs"
    # m2v is shipped for the python-docs rows only: m2v_docs[i] is the i-th python-docs row
    np.testing.assert_array_equal(s["m2v_rows"], np.flatnonzero(docs))
    trivia = chat & (category == "trivia")
    return {
        "minilm": minilm,
        "minilm_f16": s["minilm_f16"],
        "m2v_docs": s["m2v"],
        "chat": chat,
        "docs": docs,
        "trivia": trivia,
        "other_chat": chat & ~trivia,
        "frame": pl.DataFrame({"source": source, "minilm": minilm}),
    }


def _halves(x, seed):
    p = np.random.default_rng(seed).permutation(len(x))
    h = len(x) // 2
    return x[p[:h]], x[p[h:]]


def test_data_is_what_the_readme_says(data):
    assert data["chat"].sum() == 1901 and data["docs"].sum() == 2403 and data["trivia"].sum() == 536
    norms = np.linalg.norm(data["minilm"].astype(np.float64), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    # the shipped float16 rows are unit vectors up to float16 rounding (2^-11 relative per value)
    raw = np.linalg.norm(data["minilm_f16"].astype(np.float64), axis=1)
    np.testing.assert_allclose(raw, 1.0, atol=2**-11)


# --------------------------------------------------------------------------------------------
# centroid cosine distances: the README table


def test_centroid_distances_match_readme_table(data):
    e = data["minilm"]
    # trivia (536) vs other chatterbot (1365): both under the README's 2,000-row samples, so the
    # README used every row; its 4 decimals leave 5e-5, float32 rounding adds far less
    r = ut.cosine_drift(e[data["other_chat"]], e[data["trivia"]])
    assert r.centroid_distance == pytest.approx(0.4298, abs=1e-4)
    assert r.centroid_distance == pytest.approx(
        centroid_distance_reference(e[data["other_chat"]], e[data["trivia"]]), rel=1e-9
    )
    # chatterbot vs python-docs (2,403 rows, the README sampled 2,000): over 50 such samples
    # the distance varies with standard deviation 0.0014 (numpy), so allow 0.005
    r = ut.cosine_drift(e[data["chat"]], e[data["docs"]])
    assert r.centroid_distance == pytest.approx(0.7417, abs=0.005)
    # the same python-docs texts under the two encoders (cosine across them is meaningless)
    r = ut.cosine_drift(e[data["docs"]], data["m2v_docs"])
    assert r.centroid_distance == pytest.approx(1.0029, abs=0.005)
    # random halves of python-docs: 0.0040 in the README; over 20 random splits numpy finds
    # 0.0040 +- 0.0007 (max 0.0052), so every split is below 0.0075
    for seed in range(5):
        a, b = _halves(e[data["docs"]], seed)
        r = ut.cosine_drift(a, b)
        assert 0.0 <= r.centroid_distance < 0.0075
        assert r.centroid_distance == pytest.approx(centroid_distance_reference(a, b), rel=1e-9, abs=1e-12)


def test_mmd_value_on_real_embeddings_matches_reference(data):
    e = data["minilm"]
    x, y = e[data["trivia"]], e[data["other_chat"]][:600]
    r = ut.mmd(x, y, permutations=0)
    bw = median_bandwidth_reference(x, y)
    assert r.bandwidth == pytest.approx(bw, rel=1e-9)
    want = mmd2_unbiased_reference(x, y, bw)
    assert abs(r.value - want) <= 1e-5 * abs(want) + 1e-6  # float32 input: the contract's bound
    # a README-sized effect (0.0316 there, biased); the unbiased value is below the biased one
    assert 0.01 < r.value < mmd2_biased_reference(x, y, bw)


# --------------------------------------------------------------------------------------------
# drift that must be flagged


def test_topic_drift_trivia_vs_other_chatterbot(data):
    e = data["minilm"]
    r = ut.mmd(e[data["other_chat"]], e[data["trivia"]], permutations=200)
    assert r.p_value < 0.01
    rep = ut.EmbeddingDrift.fit(e[data["other_chat"]]).compare(e[data["trivia"]])
    assert rep.mmd.p_value < 0.01
    assert rep.status != "stable"
    assert rep.status == "severe"  # centroid distance 0.43 >= 0.25
    assert rep.domain_auc > 0.8


def test_topic_drift_chatterbot_vs_python_docs(data):
    e = data["minilm"]
    r = ut.mmd(e[data["chat"]], e[data["docs"]], permutations=200)
    assert r.p_value < 0.01
    rep = ut.EmbeddingDrift.fit(e[data["chat"]]).compare(e[data["docs"]])
    assert rep.mmd.p_value < 0.01
    assert rep.status == "severe"
    assert rep.domain_auc > 0.9


def test_embedding_model_swap_is_severe(data):
    docs = data["docs"]
    emb = ut.EmbeddingDrift.fit(data["minilm"][docs])
    rep = emb.compare(data["m2v_docs"])
    assert rep.status == "severe"
    assert rep.mmd.p_value < 0.01
    assert rep.cosine.centroid_distance > 0.9
    # the model swap is also visible to the rff estimator
    r = ut.mmd(data["minilm"][docs], data["m2v_docs"], estimator="rff", features=64)
    assert r.p_value < 0.01


def test_python_docs_random_halves_not_flagged(data):
    # no drift, one fixed split (seed 0): not flagged whatever the test's own seed
    docs = data["minilm"][data["docs"]]
    a, b = _halves(docs, 0)
    for seed in range(5):
        r = ut.mmd(a, b, permutations=200, seed=seed)
        assert r.p_value >= 0.01, (seed, r.p_value)
        rep = ut.EmbeddingDrift.fit(a, seed=seed).compare(b)
        assert rep.mmd.p_value >= 0.01, (seed, rep.mmd.p_value)
        assert rep.status == "stable", (seed, rep.mmd.p_value)
        assert abs(rep.domain_auc - 0.5) < 0.1, (seed, rep.domain_auc)


def test_python_docs_random_halves_calibrated_over_splits(data):
    # eight random splits: EmbeddingDrift (alpha 0.05) is non-stable in at most 2 of 8 (3 or more
    # has probability 0.6% for a calibrated test; a numpy simulation of a PCA fitted in-sample
    # gave p < 0.05 on 3 of these 8 splits)
    docs = data["minilm"][data["docs"]]
    flagged = []
    for split in range(8):
        a, b = _halves(docs, split)
        rep = ut.EmbeddingDrift.fit(a, seed=split).compare(b)
        if rep.status != "stable":
            flagged.append((split, rep.mmd.p_value))
    assert len(flagged) <= 2, flagged


def test_polars_array_column_input(data):
    df = data["frame"]
    docs = df.filter(pl.col("source") == "python-docs")
    chat = df.filter(pl.col("source") == "chatterbot-corpus")
    a = ut.cosine_drift(chat["minilm"], docs["minilm"])
    b = ut.cosine_drift(chat["minilm"].to_numpy(), docs["minilm"].to_numpy())
    assert a.to_dict() == b.to_dict()
