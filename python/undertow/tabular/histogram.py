"""numpy.histogram, counted by the Rust kernel."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import MAX_BINS
from undertow._core import UndertowError
from undertow._inputs import as_float_array
from undertow._sync import both_locked, lock_of, locked


def histogram(
    x: Any, bins: Any = 10, range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges with numpy.histogram's semantics: bins ``[e0, e1), ..., [e_{n-1}, e_n]``
    (the last one closed), values outside the edges ignored, edges identical to
    ``np.histogram_bin_edges`` (same values and dtype). `bins` is an int (>= 1) or an array of
    increasing edges. Integer values with integer edges are compared as integers, as numpy does
    (exact beyond 2**53, where float64 is not); other mixes compare in float64, as numpy does.
    Counts are int64. One pass over `x` for the range, one to count, both
    parallel and outside the GIL.

    >>> import numpy as np, undertow as ut
    >>> ut.histogram(np.array([0.0, 1.0, 1.0, 2.0]), bins=2)[0]
    array([1, 3])
    """
    values = as_float_array(x, "x")
    # numpy computes edges in the input's own float type (float16 edges for float16 data);
    # float16 -> float32 is exact, so counting the converted values against them is exact too.
    edge_dtype = _source_dtype(x, values)
    if isinstance(bins, np.ndarray | list | tuple):
        edges = np.asarray(bins)
        if edges.ndim != 1 or edges.dtype.kind not in "fiu":
            raise TypeError("bins: explicit edges must be a 1-D array of real numbers")
        if edges.size < 2:
            raise UndertowError(f"bins: needs at least 2 edges, got {edges.size}")
        if np.isnan(edges.astype(np.float64)).any() or np.any(edges[1:] < edges[:-1]):
            raise UndertowError("bins: edges must increase monotonically")
        exact = _integer_counts(x, edges)
        if exact is not None:
            return exact, edges
    else:
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral):
            raise TypeError(f"bins: expected an int or an array of edges, got {type(bins).__name__}")
        if bins < 1:
            raise UndertowError(f"bins: must be >= 1, got {bins}")
        if bins > MAX_BINS:
            raise UndertowError(f"bins: must be <= {MAX_BINS:,}, got {bins:,}")
        if range is None:
            lo, hi = _min_max(values)
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise UndertowError(f"x: autodetected range of [{lo}, {hi}] is not finite")
            bounds = np.array([lo, hi], dtype=edge_dtype)
            edges = np.histogram_bin_edges(bounds, bins=int(bins))
        else:
            try:
                lo, hi = (float(r) for r in range)
            except (TypeError, ValueError):
                raise UndertowError(f"range: expected (min, max), got {range!r}") from None
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise UndertowError(f"range: supplied range of [{lo}, {hi}] is not finite")
            if lo > hi:
                raise UndertowError(f"range: max must be larger than min, got ({lo}, {hi})")
            # numpy derives the edges from the range and the dtype of x alone
            edges = np.histogram_bin_edges(np.empty(0, dtype=edge_dtype), bins=int(bins), range=range)
    count = _core.histogram_counts_f32 if values.dtype == np.float32 else _core.histogram_counts_f64
    counts = count(values, edges.astype(np.float64).tolist())
    return counts.astype(np.int64), edges


_FLOAT_EXACT = 2**53  # every integer of magnitude <= 2**53 is a float64


def _integer_counts(x: Any, edges: np.ndarray) -> np.ndarray | None:
    """Counts of integer `x` against integer `edges` in their common integer type (numpy's
    searchsorted does that), or None when float64 gives the same answer: the types promote to
    float64 (numpy compares in float64 then), or every value and edge is within +-2**53."""
    if edges.dtype.kind not in "iu":
        return None
    if isinstance(x, np.ndarray):
        raw = x
    elif isinstance(x, list | tuple):
        raw = np.asarray(x)
    else:
        return None  # series: their integers are within 2**53 in practice, see as_float_array
    if raw.dtype.kind not in "iu" or np.result_type(raw.dtype, edges.dtype).kind not in "iu":
        return None
    bounds = np.array([raw.min(), raw.max(), edges[0], edges[-1]], dtype=object)
    if all(-_FLOAT_EXACT <= int(b) <= _FLOAT_EXACT for b in bounds):
        return None
    if np.result_type(raw.dtype, edges.dtype) == np.uint64:
        # order-preserving map of uint64 onto int64: flip the top bit
        shift = np.uint64(1 << 63)
        data = (raw.astype(np.uint64) ^ shift).view(np.int64)
        shifted_edges = (edges.astype(np.uint64) ^ shift).view(np.int64)
    else:
        data = raw.astype(np.int64, copy=False)
        shifted_edges = edges.astype(np.int64)
    data = np.require(data.astype(data.dtype.newbyteorder("="), copy=False), requirements=["C", "A"])
    counts = _core.histogram_counts_i64(data, shifted_edges.tolist())
    return counts.astype(np.int64)


def _source_dtype(x: Any, values: np.ndarray) -> np.dtype:
    dtype = getattr(x, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize == 2:
        return np.dtype(np.float16)
    return values.dtype


def _min_max(values: np.ndarray) -> tuple[float, float]:
    # numpy's reductions are SIMD and bandwidth-bound; NaN propagates, which we want here.
    return values.min(), values.max()


class HistogramAccumulator:
    """numpy.histogram counts over fixed `edges`, accumulated over batches and mergeable.

    Each update counts with ``ut.histogram(batch, bins=edges)`` (numpy's semantics: the last
    bin closed, values outside the edges and NaN ignored); counts are exact integers, so any
    order of updates and merges gives the same counts. Serializes to checksummed bytes.

    >>> import numpy as np, undertow as ut
    >>> acc = ut.HistogramAccumulator([0.0, 1.0, 2.0])
    >>> acc.update(np.array([0.5, 1.0, 2.0])); acc.update(np.array([3.0]))
    >>> acc.counts
    array([1, 2])
    """

    def __init__(self, edges: Any) -> None:
        try:
            values = np.asarray(edges)
        except (ValueError, TypeError):
            raise TypeError("edges: expected a 1-D array of real numbers, got a ragged list") from None
        if values.dtype.kind not in "fiu":
            raise TypeError(f"edges: expected a 1-D array of real numbers, got dtype {values.dtype}")
        values = values.astype(np.float64)
        if values.ndim != 1 or values.size < 2:
            raise UndertowError(f"edges: needs a 1-D array of at least 2 edges, got shape {values.shape}")
        if not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
            raise UndertowError("edges: must be finite and strictly increasing")
        self.edges = values
        self.counts = np.zeros(values.size - 1, dtype=np.int64)

    def update(self, x: Any) -> None:
        values = as_float_array(x, "x", allow_empty=True)
        if values.size:
            counts = histogram(values, bins=self.edges)[0]  # outside the lock: counts in parallel
            with lock_of(self):
                self.counts += counts

    def merge(self, other: HistogramAccumulator) -> None:
        if not isinstance(other, HistogramAccumulator):
            raise TypeError(f"other: expected a HistogramAccumulator, got {type(other).__name__}")
        if not np.array_equal(other.edges, self.edges):
            raise UndertowError("other: has different edges")
        with both_locked(self, other):
            self.counts += other.counts.copy()  # a copy: acc.merge(acc) doubles

    @property
    @locked
    def rows(self) -> int:
        """Values counted (inside the edges)."""
        return int(self.counts.sum())

    @locked
    def finalize(self) -> tuple[np.ndarray, np.ndarray]:
        return self.counts.copy(), self.edges.copy()

    @locked
    def to_bytes(self) -> bytes:
        from undertow.embedding._pack import pack

        return pack("histogram", {}, {"edges": self.edges, "counts": self.counts})

    @classmethod
    def from_bytes(cls, data: bytes) -> HistogramAccumulator:
        from undertow.embedding import _state_checks as check
        from undertow.embedding._pack import unpack
        from undertow.embedding._state_checks import decoding

        _, blobs = unpack(data, "histogram")
        with decoding("histogram accumulator"):
            out = cls(check.array(blobs, "edges", "f", (None,)))
            counts = check.array(blobs, "counts", "i", out.counts.shape)
            # rows is the int64 sum of the counts: it must not wrap.
            if np.any(counts < 0) or sum(counts.tolist()) >= 2**63:
                raise check.bad("histogram counts must be >= 0 and sum below 2**63")
            out.counts = counts.astype(np.int64)
        return out

    def __reduce__(self) -> Any:
        return (HistogramAccumulator.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"HistogramAccumulator(bins={self.counts.size}, rows={self.rows})"
