"""What a faiss index holds, read through faiss's own structures and without copies where
faiss allows.

* Flat, HNSWFlat (its flat storage) and the inner index of IDMap/IDMap2: the stored float32
  matrix is a zero-copy numpy view of faiss's buffer; ids come from ``id_map`` (a view too).
  ``reconstruct_n`` is never called: on IDMap/IDMap2 it aborts the process in faiss 1.x.
* IVFFlat / IVFPQ: the inverted lists are walked once (ids, codes, list number per row); PQ
  codes are decoded on demand (centroid + decoded residual), so "the stored vectors" of a lossy
  index are what its search compares against, and it is never decoded whole.
* ScalarQuantizer: its codes are decoded on demand, in blocks, with ``sa_decode``.
An index on disk is read into memory once (``faiss.read_index(path)``), then never touched
again: a rebuild that truncates or rewrites the file during the audit cannot change what is
audited or kill the process. ``mmap=True`` opens it with IO_FLAG_MMAP instead (IVF lists stay in
the file's pages, less memory): then truncating the file during the audit ends the process with
SIGBUS, and rewriting it in place changes the lists under the audit. A flat index is read into
faiss's own buffer either way and viewed from there, never copied again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from undertow._core import UndertowError

SUPPORTED = (
    "IndexFlatL2, IndexFlatIP, IndexFlat, IndexHNSWFlat, IndexScalarQuantizer, IndexIVFFlat, "
    "IndexIVFPQ, and IndexIDMap / IndexIDMap2 around any of them"
)
_DECODE_BLOCK = 65_536


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the index auditor needs faiss: pip install 'undertow[faiss]' (faiss-cpu)"
        ) from error
    return faiss


@dataclass
class IvfView:
    centroids: np.ndarray  # (nlist, d) float32
    lists: np.ndarray  # (n,) int64: the list each stored row lives in
    nlist: int
    nprobe: int


@dataclass
class IndexView:
    """The audited index, flattened to rows: row i holds `ids[i]` and `vectors[i]`."""

    index: Any  # the outer faiss index, searched as it is configured
    kind: str
    metric: str  # "ip" or "l2"
    dim: int
    ids: np.ndarray
    vectors: np.ndarray | None  # the stored float32 rows (lossless kinds), else None
    lossy: bool
    zero_copy: bool
    ivf: IvfView | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    encode_decode: Callable[[np.ndarray], np.ndarray] | None = None
    path: str | None = None
    owner: Any = None  # the wrapper that owns the C++ index: the views above point into it
    # lossy kinds: decode(rows) -> float32 rows, so a PQ index is never decoded whole (1e6 x 384
    # PQ codes of 64 bytes decode to 1.5 GB)
    decode: Callable[[np.ndarray], np.ndarray] | None = None

    def get(self, rows: np.ndarray) -> np.ndarray:
        """The stored (decoded, for lossy kinds) vectors of `rows`, float32, C-contiguous."""
        if self.vectors is not None:
            return np.ascontiguousarray(self.vectors[rows])
        assert self.decode is not None
        return self.decode(np.asarray(rows, dtype=np.int64))

    def chunks(self, size: int = _DECODE_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block) over all rows: the whole matrix when it is held, else decoded
        blocks of `size` rows."""
        if self.vectors is not None:
            yield 0, self.vectors
            return
        for start in range(0, self.ntotal, size):
            yield start, self.get(np.arange(start, min(start + size, self.ntotal)))

    @property
    def ntotal(self) -> int:
        return int(self.ids.shape[0])

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "metric": self.metric,
            "ntotal": self.ntotal,
            "dim": self.dim,
            "lossy": self.lossy,
            "zero_copy": self.zero_copy,
            "path": self.path,
            **self.settings,
        }


def open_index(index: Any, mmap: bool = False) -> IndexView:
    """Read `index` (a faiss index, or a path to one) into an IndexView. A path is read into
    memory, or mapped with `mmap` (see the module docstring for what that risks)."""
    faiss = _faiss()
    path = None
    if isinstance(index, str | os.PathLike):
        path = os.fspath(index)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"index: no such file {path!r}")
        # IO_FLAG_MMAP_IFC (flat codes) is never used: faiss 1.15 maps them at their file
        # offset, unaligned for float32, and refuses it for IVF.
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            index = faiss.read_index(path, flags)
        except (RuntimeError, MemoryError, OSError) as error:
            # a file truncated or half-written by a rebuild ends here, as a read error
            raise UndertowError(f"index: faiss could not read {path!r}: {error}") from error
    if not isinstance(index, faiss.Index):
        raise TypeError(f"index: expected a faiss index or a path to one, got {type(index).__name__}")
    owner = index  # downcast_index returns a wrapper that does not own the C++ object
    index = faiss.downcast_index(index)
    metric = {faiss.METRIC_INNER_PRODUCT: "ip", faiss.METRIC_L2: "l2"}.get(index.metric_type)
    if metric is None:
        raise UndertowError(
            f"index: metric_type {index.metric_type} is not supported (inner product or L2 only)"
        )
    outer_name = type(index).__name__
    id_map = None
    inner = index
    if isinstance(index, faiss.IndexIDMap | faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        id_map = _view(faiss, index.id_map.data(), index.id_map.size(), np.int64)
    kind = outer_name if inner is index else f"{outer_name}({type(inner).__name__})"
    view = _read_inner(faiss, inner, kind, metric)
    if id_map is not None:
        # rows of the inner index are numbered 0..n-1; IDMap translates them
        view.ids = id_map if view.ids is None else id_map[view.ids]
    elif view.ids is None:
        view.ids = np.arange(inner.ntotal, dtype=np.int64)
    view.index = index
    view.owner = owner
    view.path = path
    return view


def _view(faiss: Any, pointer: Any, count: int, dtype: Any) -> np.ndarray:
    if count == 0:
        return np.empty(0, dtype=dtype)
    return faiss.rev_swig_ptr(pointer, count).view(dtype)


def _flat_vectors(faiss: Any, flat: Any) -> np.ndarray:
    n, d = int(flat.ntotal), int(flat.d)
    if n == 0:
        return np.empty((0, d), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


def _read_inner(faiss: Any, inner: Any, kind: str, metric: str) -> IndexView:
    d = int(inner.d)
    if isinstance(inner, faiss.IndexFlat):
        return IndexView(None, kind, metric, d, None, _flat_vectors(faiss, inner), False, True)  # type: ignore[arg-type]
    if isinstance(inner, faiss.IndexHNSWFlat):
        storage = faiss.downcast_index(inner.storage)
        view = IndexView(None, kind, metric, d, None, _flat_vectors(faiss, storage), False, True)  # type: ignore[arg-type]
        view.settings = {"efSearch": int(inner.hnsw.efSearch)}
        return view
    if isinstance(inner, faiss.IndexScalarQuantizer):
        n, size = int(inner.ntotal), int(inner.code_size)
        codes = _view(faiss, inner.codes.data(), n * size, np.uint8).reshape(n, size)
        view = IndexView(None, kind, metric, d, None, None, True, False)  # type: ignore[arg-type]
        view.decode = lambda rows: inner.sa_decode(np.ascontiguousarray(codes[rows]))
        view.encode_decode = lambda x: inner.sa_decode(inner.sa_encode(x))
        return view
    if isinstance(inner, faiss.IndexIVFFlat | faiss.IndexIVFPQ):
        return _read_ivf(faiss, inner, kind, metric)
    raise UndertowError(f"index: {kind} is not supported; supported are {SUPPORTED}")


def _read_ivf(faiss: Any, ivf: Any, kind: str, metric: str) -> IndexView:
    d, nlist = int(ivf.d), int(ivf.nlist)
    invlists = ivf.invlists
    code_size = int(invlists.code_size)
    n = int(ivf.ntotal)
    ids = np.empty(n, dtype=np.int64)
    lists = np.empty(n, dtype=np.int64)
    # the lists' codes gathered in row order: float32 vectors for IVFFlat, PQ codes for IVFPQ
    codes = np.empty((n, code_size), dtype=np.uint8)
    quantizer = faiss.downcast_index(ivf.quantizer)
    if not isinstance(quantizer, faiss.IndexFlat):
        raise UndertowError(
            f"index: {kind} has a {type(quantizer).__name__} coarse quantizer; only flat "
            "quantizers are supported"
        )
    if int(ivf.nprobe) < 1:
        # faiss's own search would raise a RuntimeError deep in IndexIVF::search
        raise UndertowError(f"index: {kind} has nprobe={int(ivf.nprobe)}; faiss searches need nprobe >= 1")
    centroids = np.array(_flat_vectors(faiss, quantizer), dtype=np.float32)
    is_pq = isinstance(ivf, faiss.IndexIVFPQ)
    if is_pq and not ivf.by_residual:
        raise UndertowError(f"index: {kind} without by_residual is not supported")
    at = 0
    for number in range(nlist):
        size = int(invlists.list_size(number))
        if size == 0:
            continue
        id_ptr = invlists.get_ids(number)
        code_ptr = invlists.get_codes(number)
        try:
            ids[at : at + size] = _view(faiss, id_ptr, size, np.int64)
            codes[at : at + size] = _view(faiss, code_ptr, size * code_size, np.uint8).reshape(
                size, code_size
            )
        finally:
            invlists.release_ids(number, id_ptr)
            invlists.release_codes(number, code_ptr)
        lists[at : at + size] = number
        at += size
    if at != n:
        raise UndertowError(f"index: {kind} lists hold {at} vectors but ntotal is {n}")
    vectors = None if is_pq else codes.view(np.float32).reshape(n, d)
    view = IndexView(None, kind, metric, d, ids, vectors, is_pq, False)  # type: ignore[arg-type]
    view.ivf = IvfView(centroids, lists, nlist, int(ivf.nprobe))
    view.settings = {"nlist": nlist, "nprobe": int(ivf.nprobe)}
    if is_pq:
        # by_residual: a stored vector is its list's centroid plus the decoded residual
        view.decode = lambda rows: ivf.pq.decode(np.ascontiguousarray(codes[rows])) + centroids[lists[rows]]
        view.encode_decode = lambda x: ivf.sa_decode(ivf.sa_encode(x))
    return view
