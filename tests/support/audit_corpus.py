"""A clustered corpus, its documents table and faiss indexes of every audited kind, for the index
auditor's tests; plus float64 numpy references the tests compare the auditor with.

Nothing here imports undertow: the expected ids, recalls and imbalance factors come from numpy and
from faiss's own structures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import faiss
import numpy as np
import polars as pl

DIM = 32
N = 4000
CLUSTERS = 20
NLIST = 16
T0 = dt.datetime(2024, 1, 1)
# index kind -> stores its vectors exactly (recall must be 1.0 with exhaustive settings)
KINDS = {
    "IndexFlatIP": True,
    "IndexFlatL2": True,
    "IndexIDMap(IndexFlatIP)": True,
    "IndexIDMap2(IndexFlatL2)": True,
    "IndexIVFFlat": True,
    "IndexIVFPQ": False,
    "IndexHNSWFlat": True,
    "IndexScalarQuantizer": False,
}
TAKES_IDS = {"IndexIDMap(IndexFlatIP)", "IndexIDMap2(IndexFlatL2)", "IndexIVFFlat", "IndexIVFPQ"}


@dataclass(frozen=True)
class Corpus:
    vectors: np.ndarray  # (N, DIM) float32, unit norm; read-only
    labels: np.ndarray  # the Gaussian cluster of each row
    ids: np.ndarray  # 10 * row + 7: the documents' faiss ids


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int, centers: np.ndarray, spread: float = 0.35):
    labels = rng.integers(0, len(centers), n)
    return unit(centers[labels] + spread * rng.normal(size=(n, centers.shape[1]))), labels


@cache
def corpus() -> Corpus:
    rng = np.random.default_rng(20240101)
    vectors, labels = clustered(rng, N, rng.normal(size=(CLUSTERS, DIM)))
    vectors.setflags(write=False)
    return Corpus(vectors, labels, np.arange(N, dtype=np.int64) * 10 + 7)


def docs_table(ids, *, minutes=None, encoder="enc-v1") -> pl.DataFrame:
    """One clean document per id: content_hash == embedded_hash, embedded (and last updated)
    `minutes[i]` minutes after T0 (default: i)."""
    ids = np.asarray(ids, dtype=np.int64)
    minutes = np.arange(len(ids)) if minutes is None else np.asarray(minutes)
    at = [T0 + dt.timedelta(minutes=int(m)) for m in minutes]
    hashes = [f"sha-{i}" for i in ids]
    return pl.DataFrame(
        {
            "id": ids,
            "content_hash": hashes,
            "embedded_hash": hashes,
            "encoder_version": [encoder] * len(ids),
            "embedded_at": at,
            "updated_at": at,
        }
    )


def train_index(index, vectors: np.ndarray) -> None:
    """index.train on one thread: k-means under OpenMP slows down by 100x when the cores are
    busy elsewhere (the thread count is restored; searches keep every core)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.train(np.ascontiguousarray(vectors, dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)


def make_index(kind: str, vectors: np.ndarray, ids: np.ndarray | None = None):
    """`kind` (a KINDS key) holding `vectors`; returns (index, the id of each row). Kinds without
    add_with_ids number their rows 0..n-1. Exhaustive search settings (nprobe = nlist, a wide
    HNSW beam) so only the codec can cost recall."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "IndexFlatIP":
        index = faiss.IndexFlatIP(DIM)
    elif kind == "IndexFlatL2":
        index = faiss.IndexFlatL2(DIM)
    elif kind == "IndexIDMap(IndexFlatIP)":
        index = faiss.IndexIDMap(faiss.IndexFlatIP(DIM))
    elif kind == "IndexIDMap2(IndexFlatL2)":
        index = faiss.IndexIDMap2(faiss.IndexFlatL2(DIM))
    elif kind == "IndexIVFFlat":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, NLIST, ip)
        index.nprobe = NLIST
    elif kind == "IndexIVFPQ":
        # 8 sub-quantizers of 6 bits: 64 centroids each, trained on >= 39 * 64 points
        index = faiss.IndexIVFPQ(faiss.IndexFlatL2(DIM), DIM, NLIST, 8, 6)
        index.nprobe = NLIST
    elif kind == "IndexHNSWFlat":
        index = faiss.IndexHNSWFlat(DIM, 16, ip)
        index.hnsw.efSearch = 256
    elif kind == "IndexScalarQuantizer":
        index = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_8bit, ip)
    else:
        raise ValueError(kind)
    if not index.is_trained:
        train_index(index, vectors)
    if kind in TAKES_IDS:
        ids = np.asarray(ids, dtype=np.int64)
        index.add_with_ids(vectors, ids)
        return index, ids
    index.add(vectors)
    return index, np.arange(len(vectors), dtype=np.int64)


def sorted_ids(values) -> np.ndarray:
    return np.sort(np.asarray(values, dtype=np.int64))


def cosines64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def exact_topk64(stored: np.ndarray, queries: np.ndarray, k: int, metric: str):
    """float64 brute force: (scores, rows), best first."""
    s, q = np.asarray(stored, dtype=np.float64), np.asarray(queries, dtype=np.float64)
    if metric == "ip":
        scores = q @ s.T
    else:
        scores = -((q**2).sum(axis=1)[:, None] - 2 * q @ s.T + (s**2).sum(axis=1)[None, :])
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, rows, axis=1)
    return (best if metric == "ip" else -best), rows


def invlist_sizes(ivf) -> np.ndarray:
    return np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], dtype=np.float64)


def imbalance64(ivf) -> float:
    """faiss's imbalance factor from the list sizes: nlist * sum(size^2) / n^2."""
    sizes = invlist_sizes(ivf)
    return float(ivf.nlist * (sizes**2).sum() / sizes.sum() ** 2)


def ivf_assignment(ivf):
    """(ids, list number) of every stored vector, read with faiss.contrib's inspect tools."""
    from faiss.contrib.inspect_tools import get_invlist

    ids, lists = [], []
    for number in range(ivf.nlist):
        list_ids, _ = get_invlist(ivf.invlists, number)
        ids.append(np.asarray(list_ids, dtype=np.int64))
        lists.append(np.full(len(list_ids), number))
    return np.concatenate(ids), np.concatenate(lists)
