"""encoder_mix_vectors: a silent encoder mix found from the stored vectors alone (real data,
tests/data/sentences.npz). The metadata says minilm for every row; 5% of the rows hold the m2v
vectors of the same texts (m2v is shipped for the python-docs rows)."""

import json
import os
import subprocess
import sys

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


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_twenty_percent_mix_is_not_taken_for_isotropic_data(corpus, seed):
    """At 20% the foreign clusters are a quarter of all cluster pairs' ends and their cosines to
    the majority are ~0: the premise (one encoder's clusters share a mean direction) must be
    tested among the majority family's clusters, not all pairs (it was `not_run` in 3 of 5)."""
    ids, minilm, m2v_rows, m2v, _ = corpus
    rng = np.random.default_rng(70 + seed)
    pick = rng.choice(len(m2v_rows), round(0.2 * len(ids)), replace=False)
    stored = minilm.copy()
    stored[m2v_rows[pick]] = m2v[pick]
    check = audit(stored, ids, seed=seed)["encoder_mix_vectors"]
    assert check.status != "not_run", check.message
    assert check.detail["median_cluster_pair_cosine"] >= 0.1
    if check.status == "fail":  # k-means may still merge the two encoders' rows (docs/audit.md)
        replaced = ids[m2v_rows[pick]]
        assert np.isin(check.ids, replaced).mean() >= 0.95
        assert np.isin(replaced, check.ids).mean() >= 0.95


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


def test_a_foreign_cluster_linked_into_the_majority_by_one_noise_link_is_a_candidate():
    """Clusters as identical rows (only their sums matter): A and B share e0 (one encoder's
    topics); small C has a little e0 and links to A and B (cosine 0.175) and to the foreign F
    (0.19): single linkage put F in the majority family through that one weak link, while F's
    cosine to the other rows is 0.010 (computed below)."""
    from undertow.audit._mix_vectors import _foreign_clusters

    e = np.eye(8)
    shapes = {
        0: (100, e[0] + 0.5 * e[1]),
        1: (100, e[0] + 0.5 * e[2]),
        2: (10, 0.2 * e[0] + e[3]),
        3: (30, e[4] + 0.2 * e[3]),
    }
    labels = np.concatenate([np.full(size, j) for j, (size, _) in shapes.items()])
    x = np.concatenate([np.tile(v / np.linalg.norm(v), (size, 1)) for size, v in shapes.values()])
    sizes = np.bincount(labels)
    unit = {j: v / np.linalg.norm(v) for j, (_, v) in shapes.items()}
    assert unit[2] @ unit[3] >= 0.1 and unit[2] @ unit[0] >= 0.1  # the chain A - C - F
    rest = sum(size * unit[j] for j, (size, _) in shapes.items() if j != 3)
    assert unit[3] @ rest / np.linalg.norm(rest) < 0.011
    candidates, majority_share, least, _ = _foreign_clusters(x, labels, sizes, 0.1)
    assert candidates.tolist() == [3]
    assert majority_share == pytest.approx(210 / 240)  # A, B and C (two weak links); not F (one)
    # a second weak link from F into the family, to B (0.108), lets it join: one encoder
    shapes[3] = (30, e[4] + 0.2 * e[3] + 0.05 * e[0] + 0.15 * e[2])
    x = np.concatenate([np.tile(v / np.linalg.norm(v), (size, 1)) for size, v in shapes.values()])
    f = shapes[3][1] / np.linalg.norm(shapes[3][1])
    assert 0.1 <= f @ unit[1] < 0.2 and 0.1 <= f @ unit[2] < 0.2
    candidates, majority_share, _, _ = _foreign_clusters(x, labels, sizes, 0.1)
    assert candidates.tolist() == [] and majority_share == 1.0
    assert least == pytest.approx(unit[3] @ rest / np.linalg.norm(rest))


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


# The pass over every row: a bound from few directions rules rows out before the exact 4-basis
# margin, and a row's first EARLY group references can confirm it early. Neither may change a
# decision (python/undertow/audit/_mix_vectors.py, _mean_form / _may_pass / _confirmed).


def _fold_bases(minilm, m2v, rng):
    from undertow.audit import _mix_vectors as mv

    out = []
    for _ in range(2):
        g = m2v[rng.choice(len(m2v), 150, replace=False)].astype(np.float64)
        r = minilm[rng.choice(len(minilm), 2000, replace=False)].astype(np.float64)
        out.append((mv._basis(g).astype(np.float32), mv._basis(r).astype(np.float32)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_pass_bound_never_rules_out_a_row_the_exact_margin_keeps(corpus, seed):
    from undertow.audit import _mix_vectors as mv

    _, minilm, _, m2v, _ = corpus
    rng = np.random.default_rng(seed)
    bases = _fold_bases(minilm, m2v, rng)
    sample = np.concatenate([minilm[:1900], m2v[:100]]).astype(np.float64)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    form = mv._mean_form(bases, sample)
    assert form[0].shape[1] < 4 * mv.RANK  # fewer columns than the exact margin
    # stored rows at any scale (the margin and the band scale with the squared norm), and
    # random directions
    rows = np.concatenate([minilm, m2v, rng.standard_normal((2000, minilm.shape[1]))])
    rows = (rows * rng.uniform(0.05, 20, size=(len(rows), 1))).astype(np.float32)
    # independent float64 reference: the mean of the two folds' margins
    x = rows.astype(np.float64)
    exact = np.mean(
        [
            ((x @ g) ** 2).sum(1) - ((x @ r) ** 2).sum(1)
            for g, r in (tuple(b.astype(np.float64) for b in f) for f in bases)
        ],
        axis=0,
    )
    squared = (x**2).sum(1)
    kept = exact > -mv.BAND * squared
    may = mv._may_pass(rows, form)
    assert kept.any() and (~kept).any()
    assert not (kept & ~may).any()  # never rules out a kept row
    assert (~may).sum() > 0.5 * (~kept).sum()  # and it does rule rows out
    # NaN rows are left to the exact test (which drops them)
    bad = rows[:3].copy()
    bad[0, 0] = np.nan
    assert mv._may_pass(bad, form)[0]


def test_the_check_runs_numpy_blas_on_one_thread(corpus, monkeypatch):
    """OpenBLAS's own threads beside Rayon's made the check 2-3x slower under load: inside it
    numpy's BLAS has one thread, and the caller's setting is back afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from undertow.audit import _mix_vectors as mv

    ids, minilm, m2v_rows, m2v, _ = corpus
    pick = np.random.default_rng(8).choice(len(m2v_rows), round(0.05 * len(ids)), replace=False)
    stored = minilm.copy()
    stored[m2v_rows[pick]] = m2v[pick]
    seen = []
    kmeans, graph_vote = mv.spherical_kmeans, mv._graph_vote

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    def spy_kmeans(*args):
        seen.append(blas_threads())
        return kmeans(*args)

    def spy_graph_vote(*args):
        seen.append(blas_threads())
        return graph_vote(*args)

    monkeypatch.setattr(mv, "spherical_kmeans", spy_kmeans)
    monkeypatch.setattr(mv, "_graph_vote", spy_graph_vote)
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() and set(blas_threads()) == {2}
        check = audit(stored, ids, seed=0)["encoder_mix_vectors"]
        assert set(blas_threads()) == {2}
    assert check.status == "fail"
    assert len(seen) == 2 and all(threads and set(threads) == {1} for threads in seen), seen


def test_full_pass_shortcuts_find_the_same_rows(corpus, monkeypatch):
    """With a sample of 1,000 of the 4,304 rows, most rows go through the full pass: the
    bound and the early confirmation must give the ids of the plain exact pass."""
    from undertow.audit import _mix_vectors as mv

    ids, minilm, m2v_rows, m2v, _ = corpus
    rng = np.random.default_rng(7)
    pick = rng.choice(len(m2v_rows), round(0.05 * len(ids)), replace=False)
    stored = minilm.copy()
    stored[m2v_rows[pick]] = m2v[pick]
    monkeypatch.setattr(mv, "SAMPLE", 1000)
    monkeypatch.setattr(mv, "EARLY", 16)  # the early stage runs on the ~50 sampled group rows
    calls = {"bound": 0, "early": 0}
    may_pass, exclude_self = mv._may_pass, mv._exclude_self

    def counted_bound(*args):
        calls["bound"] += 1
        out = may_pass(*args)
        assert not out.all()  # it rules rows out here
        return out

    def counted_exclude_self(scores, index_rows, vector_rows):
        calls["early"] += len(vector_rows) <= 25  # every 3rd of the ~50 group references
        return exclude_self(scores, index_rows, vector_rows)

    monkeypatch.setattr(mv, "_may_pass", counted_bound)
    monkeypatch.setattr(mv, "_exclude_self", counted_exclude_self)
    fast = audit(stored, ids, seed=3)["encoder_mix_vectors"]
    assert calls["bound"] >= 1 and calls["early"] >= 1
    monkeypatch.setattr(mv, "_may_pass", lambda part, form: np.ones(len(part), dtype=bool))
    monkeypatch.setattr(mv, "EARLY", 10**9)  # no early stage
    plain = audit(stored, ids, seed=3)["encoder_mix_vectors"]
    assert fast.status == plain.status == "fail"
    np.testing.assert_array_equal(fast.ids, plain.ids)
    replaced = ids[m2v_rows[pick]]
    hits = np.isin(fast.ids, replaced).sum()
    assert hits / len(fast.ids) >= 0.95 and hits / len(replaced) >= 0.9, (hits, len(fast.ids))


# The sample's neighbour graph (_core.knn_graph): each pair scored once, in both directions.


def _brute_graph(x, k):
    """float64 brute force: each row's k largest inner products with the other rows, ties to the
    lower row (a stable sort of the negated scores)."""
    scores = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_knn_graph_equals_a_float64_brute_force_with_ties(dtype):
    from undertow import _core

    rng = np.random.default_rng(3)
    # small integers: every product is exact in float32, so ties are exact; 900 rows span
    # several of the kernel's 256-row blocks; repeated rows make many equal scores
    x = rng.integers(-2, 3, size=(900, 12)).astype(dtype)
    x[100:140] = x[5]
    x[600:620] = x[7]
    scores, rows = _core.knn_graph(x, 10)
    want_scores, want_rows = _brute_graph(x, 10)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(scores, want_scores)
    assert (rows != np.arange(len(x))[:, None]).all()  # never the row itself
    assert rows.dtype == np.int64 and scores.shape == (900, 10)


def test_knn_graph_short_and_bad_inputs():
    from undertow import _core

    x = np.eye(3, dtype=np.float32)
    scores, rows = _core.knn_graph(x, 4)  # two other rows: the tail is -1 / -inf
    np.testing.assert_array_equal(rows, [[1, 2, -1, -1], [0, 2, -1, -1], [0, 1, -1, -1]])
    assert np.isneginf(scores[:, 2:]).all() and (scores[:, :2] == 0).all()
    with pytest.raises(ut.UndertowError, match="k"):
        _core.knn_graph(x, 0)
    x[1, 1] = np.nan
    with pytest.raises(ut.UndertowError, match="vectors"):
        _core.knn_graph(x, 1)


def _outputs_on_threads(script: str) -> list[str]:
    """The standard output of `script` run in a fresh interpreter with RAYON_NUM_THREADS 1 and 2
    (a subprocess each: the thread count is fixed when the pool starts)."""
    out = []
    for threads in (1, 2):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        out.append(proc.stdout)
    return out


def test_knn_graph_does_not_depend_on_the_thread_count():
    # 3,000 rows: several 256-row blocks, each scored against the later rows in 512-row slices
    script = (
        "import numpy as np, json; from undertow import _core; "
        "x = np.random.default_rng(1).standard_normal((3000, 24)).astype(np.float32); "
        "s, r = _core.knn_graph(x, 7); print(json.dumps([r.tolist(), s.tolist()]))"
    )
    one, two = (json.loads(text) for text in _outputs_on_threads(script))
    assert one == two
    x = np.random.default_rng(1).standard_normal((3000, 24)).astype(np.float32)
    np.testing.assert_array_equal(one[0], _brute_graph(x, 7)[1])


# _core.form_bound_pass: the bound pass over every stored row (one Rust read of each row).


def _bound_reference(x, directions, plus, t, level):
    x = x.astype(np.float64)
    projected = x @ directions
    squared = (x**2).sum(1)
    bound = t * squared + (projected[:, :plus] ** 2).sum(1) - (projected[:, plus:] ** 2).sum(1)
    return ~(bound <= -level * squared)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_form_bound_pass_equals_a_float64_reference(dtype):
    from undertow import _core

    rng = np.random.default_rng(5)
    # 5,000 rows: several of the kernel's 2,048-row tasks, and a short last one
    x = (rng.standard_normal((5000, 40)) * rng.uniform(0.05, 20, size=(5000, 1))).astype(dtype)
    directions = rng.standard_normal((40, 9)) * 0.4
    for plus, t in [(0, 0.3), (4, 0.05), (9, 0.0)]:
        got = _core.form_bound_pass(x, directions, plus, t, 0.051)
        want = _bound_reference(x, directions, plus, t, 0.051)
        assert got.dtype == np.bool_ and got.shape == (5000,)
        # float32 products may flip a row that sits on the boundary, and only such a row
        margin = np.abs(
            t * (x.astype(np.float64) ** 2).sum(1)
            + ((x.astype(np.float64) @ directions)[:, :plus] ** 2).sum(1)
            - ((x.astype(np.float64) @ directions)[:, plus:] ** 2).sum(1)
            + 0.051 * (x.astype(np.float64) ** 2).sum(1)
        )
        scale = (x.astype(np.float64) ** 2).sum(1) * (1 + (directions**2).sum())
        assert (got == want)[margin > 1e-5 * scale].all()
        assert (got == want).mean() > 0.999
        assert 0.05 < got.mean() < 0.95 or plus in (0, 9)
    # no directions: the bound is t |x|^2
    np.testing.assert_array_equal(
        _core.form_bound_pass(x, np.zeros((40, 0)), 0, -0.1, 0.05), np.zeros(5000, dtype=bool)
    )


def test_form_bound_pass_nan_rows_pass_and_bad_inputs_are_refused():
    from undertow import _core

    x = np.ones((4, 3), dtype=np.float32)
    x[1, 2] = np.nan
    x[2, 0] = np.inf
    directions = np.full((3, 1), 2.0)  # subtracts 4 x (sum of the row)^2: every finite row out
    np.testing.assert_array_equal(_core.form_bound_pass(x, directions, 0, 0.0, 0.05), [0, 1, 1, 0])
    with pytest.raises(ut.UndertowError, match="vectors"):
        _core.form_bound_pass(x[:0], directions, 0, 0.0, 0.05)
    with pytest.raises(ut.UndertowError, match="directions"):
        _core.form_bound_pass(x, np.full((4, 1), 2.0), 0, 0.0, 0.05)
    with pytest.raises(ut.UndertowError, match="directions"):
        _core.form_bound_pass(x, np.array([[np.nan], [0.0], [0.0]]), 0, 0.0, 0.05)
    with pytest.raises(ut.UndertowError, match="plus"):
        _core.form_bound_pass(x, directions, 2, 0.0, 0.05)
    with pytest.raises(ut.UndertowError, match="finite"):
        _core.form_bound_pass(x, directions, 0, np.nan, 0.05)
    with pytest.raises(TypeError, match="directions"):  # it would be read transposed
        _core.form_bound_pass(x, np.asfortranarray(np.ones((3, 2))), 0, 0.0, 0.05)
    with pytest.raises(TypeError):
        _core.form_bound_pass(x[0], directions, 0, 0.0, 0.05)  # one row, not a matrix


def test_form_bound_pass_does_not_depend_on_the_thread_count():
    script = (
        "import numpy as np, sys; from undertow import _core; rng = np.random.default_rng(2); "
        "x = rng.standard_normal((9000, 64)).astype(np.float32); "
        "d = rng.standard_normal((64, 12)) * 0.3; "
        "sys.stdout.write(_core.form_bound_pass(x, d, 5, 0.02, 0.05).astype(np.uint8).tobytes().hex())"
    )
    out = _outputs_on_threads(script)
    assert out[0] == out[1] and len(out[0]) == 2 * 9000
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9000, 64)).astype(np.float32)
    d = rng.standard_normal((64, 12)) * 0.3
    got = np.frombuffer(bytes.fromhex(out[0]), dtype=np.uint8).astype(bool)
    assert (got == _bound_reference(x, d, 5, 0.02, 0.05)).mean() > 0.999
