"""EmbeddingDrift: fit a reference once, compare current embeddings (one shot or streamed).

Rows are sampled by POSITION (a keyed hash of the row's position, the seed and the side; see
`_sample`), never by content, so the samples are simple random samples whatever the rows hold
(duplicates included) and the same whatever the batching.

* The MMD test runs in the ambient space (the vectors as given, no projection) on up to `sample`
  reference rows against up to `sample` current rows: with the default 5,000 it is `ut.mmd` on
  the full vectors up to 5,000 rows per side, and a uniform random subsample of each side beyond.
* The PCA is fitted on the reference minus a hold-out of up to `sample` rows (at most half);
  the per-component PSI bins and the domain classifier use the held-out rows' projections, so
  both sides reach them through a basis neither was fitted on. (With an in-sample PCA the
  reference's variance along its own top axes is inflated, and a test on the projections fires
  on samples of one distribution.)

Why one file of ~460 lines: `EmbeddingDrift` and `EmbeddingAccumulator` are one state seen
twice (the accumulator reads the reference's private cosine, PCA and PSI parts, and its
`from_bytes` checks that its nested states belong to that reference); split, each would reach
into the other's privates across modules. The report lives in `report.py`, the state checks in
`_state_checks.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_count, check_real, check_seed, check_thresholds
from undertow._core import UndertowError
from undertow._inputs import as_matrix
from undertow._sync import both_locked, locked
from undertow.embedding import _state_checks as check
from undertow.embedding._classifier import domain_auc
from undertow.embedding._pack import naming_data, pack, unpack
from undertow.embedding._sample import merge_samples, position_keys, smallest
from undertow.embedding._state_checks import decoding
from undertow.embedding.cosine import (
    QUANTILE_LEVELS,
    CosineDrift,
    CosineReference,
    _check_tolerance,
    centroid_cosine,
    cosine_pass,
)
from undertow.embedding.mmd import mmd_with_null
from undertow.embedding.pca import PCA
from undertow.embedding.report import (
    CENTRED_NORM,
    EmbeddingDriftReport,
    component_ks_p_values,
    rejected_by_fdr,
    shared_rows,
    shared_rows_note,
    status_and_reason,
)
from undertow.tabular.reference import PsiAccumulator, Reference

# Cosine quantiles of a stream come from counts on a fixed grid over [-1, 1] (resolution 3e-5).
GRID = 65_536
# The sampling scheme of the stored states: 2 = by position, ambient test samples (issue 17).
# States without it hold content-hash samples of projected rows and are refused, not misread.
SAMPLING = 2


@contextmanager
def _blame(argument: str) -> Iterator[None]:
    """Errors of kernels called on derived data (the PCA's covariance and projections, the MMD
    of the projected samples) name that kernel's own arguments, "x" or "x, y"; here they name
    the user's argument the data came from."""
    try:
        yield
    except UndertowError as exc:
        message = str(exc)
        for prefix in ("x, y: ", "x: "):
            if message.startswith(prefix):
                raise UndertowError(f"{argument}: {message[len(prefix) :]}") from None
        raise


def _grid_counts(cosines: np.ndarray) -> np.ndarray:
    index = np.clip(((cosines + 1.0) * (GRID / 2.0)).astype(np.int64), 0, GRID - 1)
    return np.bincount(index, minlength=GRID).astype(np.int64)


def _grid_quantiles(counts: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """numpy's linear-method quantiles, with each order statistic placed inside its grid cell
    (the cell's values spread evenly): within one cell width (3.1e-5) of the exact values."""
    total = int(counts.sum())
    cumulative = np.cumsum(counts)
    width = 2.0 / GRID

    def order_statistic(i: int) -> float:
        j = min(int(np.searchsorted(cumulative, i, side="right")), GRID - 1)
        before = int(cumulative[j] - counts[j])
        inside = (i - before + 0.5) / counts[j] if counts[j] else 0.5
        return -1.0 + (j + inside) * width

    out = []
    for q in levels:
        rank = q * (total - 1)
        lo = math.floor(rank)
        hi = min(lo + 1, total - 1)
        a, b = order_statistic(lo), order_statistic(hi)
        out.append(a + (rank - lo) * (b - a))
    return np.array(out)


class EmbeddingDrift:
    """A fitted embedding-drift reference: cosine reference, PCA basis, held-out projections.

    >>> import numpy as np, undertow as ut
    >>> rng = np.random.default_rng(0)
    >>> emb = ut.EmbeddingDrift.fit(rng.normal(size=(4000, 32)), components=8, permutations=100)
    >>> emb.compare(rng.normal(size=(2000, 32)) + 0.3).status
    'severe'
    """

    def __init__(self, settings: dict[str, Any], cosine: CosineReference, pca: PCA, components_ref: Reference,
                 holdout: np.ndarray, sample: np.ndarray, n_reference: int,
                 test_dtype: str) -> None:  # fmt: skip
        self._settings = settings
        self._cosine = cosine
        self._pca = pca
        self._components_ref = components_ref
        self._holdout = holdout  # projections of the rows held out of the PCA
        self._sample = sample  # the reference's MMD test sample, ambient float64 rows
        self._n_reference = n_reference
        # The MMD kernel runs in the reference's float type ("f4" or "f8"): float32 embeddings
        # keep the fast float32 kernel (value within 1e-5 relative of float64), while the
        # samples are stored as float64 (exact for float32 values).
        self._test_dtype = test_dtype

    @classmethod
    def fit(
        cls,
        reference: Any,
        components: int = 32,
        *,
        bins: int = 10,
        sample: int = 5000,
        seed: int = 0,
        permutations: int = 200,
        alpha: float = 0.05,
        component_threshold: float = 0.25,
        norm_tolerance: float = 0.01,
        thresholds: tuple[float, float] = (0.1, 0.25),
    ) -> EmbeddingDrift:
        """Fits the reference half of every statistic (two passes over `reference` for the
        cosine section, one for the covariance).

        `sample`: the most rows per side the MMD test uses (ambient vectors, chosen by position)
        and the most rows held out of the PCA (at most half the reference). The test costs about
        1 s at 5,000 x 5,000 rows of 384-d float32 with 200 permutations on 2 cores, and the
        fitted state holds `sample` x dim float64 values (15 MB at 5,000 x 384)."""
        ref = as_matrix(reference, "reference", min_rows=4)
        n, d = ref.shape
        settings = {
            "components": check_count(components, "components", 1, d),
            "bins": check_count(bins, "bins", 2, 1_000_000),
            "sample": check_count(sample, "sample", 2),
            "seed": check_seed(seed),
            "permutations": check_count(permutations, "permutations", 1, 100_000),
            # numbers only: float("0.05") would let a string through
            "alpha": check_real(alpha, "alpha", 0, 1, open_low=True, open_high=True),
            "component_threshold": check_real(component_threshold, "component_threshold", 0, open_low=True),
            "norm_tolerance": _check_tolerance(norm_tolerance),
            "thresholds": list(check_thresholds(thresholds)),
        }
        cosine = CosineReference.fit(ref, settings["bins"], settings["norm_tolerance"], tuple(thresholds))
        seed, size = settings["seed"], settings["sample"]
        held = np.sort(smallest(position_keys(0, n, seed, "holdout"), min(size, n // 2)))
        sample = np.asarray(
            ref[smallest(position_keys(0, n, seed, "reference"), min(size, n))], dtype=np.float64
        )
        with _blame("reference"):
            covariance = _core.Covariance(d)
            start = 0
            for stop in [*held.tolist(), n]:
                if stop > start:
                    covariance.update(ref[start:stop])
                start = stop + 1
            pca = PCA(covariance.finalize(settings["components"]), "reference")
            projections = np.asarray(pca.transform(ref[held]), dtype=np.float64)
        components_ref = Reference.fit(
            _named(projections), bins=settings["bins"], thresholds=tuple(thresholds)
        )
        test_dtype = "f4" if ref.dtype == np.float32 else "f8"
        return cls(settings, cosine, pca, components_ref, projections, sample, n, test_dtype)

    @property
    def pca(self) -> PCA:
        return self._pca

    @property
    def dim(self) -> int:
        return self._cosine.dim

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def accumulator(self, start: int = 0) -> EmbeddingAccumulator:
        """An accumulator whose first row is at position `start` of the current data. Parallel
        workers each pass the global position of their first row (so the merged sample is the
        one `compare` draws from the concatenation); sequential updates continue by themselves."""
        return EmbeddingAccumulator(self, start)

    def compare(self, current: Any) -> EmbeddingDriftReport:
        """The report for `current` (rows are vectors of the reference's dimension)."""
        cur = as_matrix(current, "current")
        acc = EmbeddingAccumulator(self)
        cosines = acc._update(cur, keep_cosines=True, argument="current")
        return acc._finalize(exact_cosines=cosines)

    def to_bytes(self) -> bytes:
        c = self._cosine.state()
        meta = {
            "settings": self._settings,
            "sampling": SAMPLING,
            "test_dtype": self._test_dtype,
            "n_reference": self._n_reference,
            "cosine": {k: c[k] for k in ("rows", "mean_norm", "off_norm_share", "norm_tolerance")},
        }
        blobs = {
            "unit_sum": c["unit_sum"],
            "direction": c["direction"],
            "quantiles": np.asarray(c["quantiles"]),
            "cosine_psi": c["psi_reference"].to_bytes(),
            "pca": self._pca.to_bytes(),
            "components_psi": self._components_ref.to_bytes(),
            "holdout": self._holdout,
            "sample": self._sample,
        }
        return pack("reference", meta, blobs)

    @classmethod
    def from_bytes(cls, data: bytes) -> EmbeddingDrift:
        with naming_data():
            return cls._from_bytes(data)

    @classmethod
    def _from_bytes(cls, data: bytes) -> EmbeddingDrift:
        meta, blobs = unpack(data, "reference")
        with decoding("embedding drift reference"):
            direction = check.array(blobs, "direction", "f", (None,))
            dim = direction.shape[0]
            # The bound on each entry first, so the dot product cannot overflow.
            unit = dim > 0 and np.max(np.abs(direction)) <= 1 + 1e-6
            if not unit or abs(float(direction @ direction) - 1) > 1e-6:
                raise check.bad("the cosine direction is not a unit vector")
            if meta.get("sampling") != SAMPLING:
                raise check.bad(
                    "the state was written by an older undertow (content-hash samples of projected "
                    "rows, before issue 17); fit the reference again"
                )
            settings = check.settings(meta["settings"], dim)
            k = settings["components"]
            n_reference = check.integer(meta["n_reference"], "n_reference", 4)
            cosine = check.as_dict(meta["cosine"], "cosine")
            quantiles = check.array(blobs, "quantiles", "f", (len(QUANTILE_LEVELS),))
            if np.any(np.diff(quantiles) < 0):
                raise check.bad("the cosine quantiles decrease")
            psi_reference = Reference.from_bytes(check.raw(blobs, "cosine_psi"))
            if psi_reference.columns != ["cosine"]:
                raise check.bad("the cosine PSI reference does not hold the cosine column")
            state = {
                "rows": check.integer(cosine["rows"], "cosine.rows", 1, n_reference),
                "mean_norm": check.number(cosine["mean_norm"], "cosine.mean_norm", 0.0),
                "off_norm_share": check.number(cosine["off_norm_share"], "cosine.off_norm_share", 0.0, 1.0),
                "norm_tolerance": check.number(cosine["norm_tolerance"], "cosine.norm_tolerance", 0.0),
                "unit_sum": check.array(blobs, "unit_sum", "f", (dim,)),
                "direction": direction,
                "quantiles": quantiles,
                "psi_reference": psi_reference,
            }
            pca = PCA.from_bytes(check.raw(blobs, "pca"))
            if pca.dim != dim or pca.n_components != k:
                raise check.bad(f"the PCA has dim {pca.dim}, {pca.n_components} components, not {dim}, {k}")
            components_ref = Reference.from_bytes(check.raw(blobs, "components_psi"))
            if components_ref.columns != [f"pc{i + 1}" for i in range(k)]:
                raise check.bad("the component PSI reference does not hold one column per component")
            holdout = check.array(blobs, "holdout", "f", (None, k))
            sample = check.array(blobs, "sample", "f", (None, dim))
            for name, rows in (("held-out", holdout), ("test", sample)):
                if not 2 <= rows.shape[0] <= min(settings["sample"], n_reference):
                    raise check.bad(
                        f"the {name} sample has {rows.shape[0]} rows, not 2 to {settings['sample']}"
                    )
            if not np.isfinite(sample).all():
                raise check.bad("the test sample holds NaN or inf")
            test_dtype = meta.get("test_dtype")
            if test_dtype not in ("f4", "f8"):
                raise check.bad(f"test_dtype must be 'f4' or 'f8', got {test_dtype!r}")
            return cls(
                settings,
                CosineReference(state),
                pca,
                components_ref,
                holdout,
                sample,
                n_reference,
                test_dtype,
            )

    def __reduce__(self) -> Any:
        return (EmbeddingDrift.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"EmbeddingDrift(dim={self.dim}, components={s['components']}, "
            f"reference rows={self._n_reference}, "
            f"held-out rows={len(self._holdout)}, test sample={len(self._sample)}, "
            f"permutations={s['permutations']}, alpha={s['alpha']})"
        )


def _named(projections: np.ndarray) -> dict[str, np.ndarray]:
    return {f"pc{i + 1}": np.ascontiguousarray(projections[:, i]) for i in range(projections.shape[1])}


class EmbeddingAccumulator:
    """Current-side state of an EmbeddingDrift: update with batches, merge, finalize.

    Keeps the cosine sums and bin counts, the per-component PSI counts and a sample of up to
    `sample` rows (ambient vectors) chosen by position: row p of the current data (p counted from
    `start`, batch after batch, or from ``update(batch, offset=p)``) is kept when its keyed hash
    is among the `sample` smallest. finalize() equals compare() on the concatenated batches
    when every row got its position in that concatenation (sequential updates do; parallel
    workers start their accumulators at their global offsets: ``drift.accumulator(start=...)``),
    except the cosine quantiles, which come from a 65,536-cell grid over [-1, 1] (within 3.1e-5
    of the exact ones). Accumulators merged without offsets still hold a uniform random sample
    chosen independently of content, just not compare()'s.
    """

    def __init__(self, drift: EmbeddingDrift, start: int = 0) -> None:
        self._drift = drift
        d = drift.dim
        self._next = check_count(start, "start", 0, 2**63 - 1)
        self._rows = 0
        self._unit_sum = np.zeros(d)
        self._norm_sum = 0.0
        self._off_norm = 0
        self._grid = np.zeros(GRID, dtype=np.int64)
        self._cosine_acc: PsiAccumulator = drift._cosine.psi_reference.accumulator()
        self._component_acc: PsiAccumulator = drift._components_ref.accumulator()
        self._keys = np.zeros(0, dtype=np.uint64)
        self._sample = np.zeros((0, d))

    @locked
    def update(self, batch: Any, offset: int | None = None) -> None:
        """Adds `batch`, whose first row is at position `offset` of the current data (default:
        right after the previous batch; the first batch at the accumulator's `start`)."""
        start = self._next if offset is None else check_count(offset, "offset", 0, 2**63 - 1)
        matrix = as_matrix(batch, "batch", min_rows=0)
        if matrix.shape[0]:
            self._update(matrix, keep_cosines=False, argument="batch", start=start)

    @locked
    def _update(
        self, matrix: np.ndarray, keep_cosines: bool, argument: str, start: int = 0
    ) -> np.ndarray | None:
        drift = self._drift
        if matrix.shape[1] != drift.dim:
            raise UndertowError(
                f"{argument}: vectors have {matrix.shape[1]} dimensions, the reference {drift.dim}"
            )
        s = drift._settings
        out = cosine_pass(matrix, drift._cosine.direction.tolist(), s["norm_tolerance"], argument)
        cosines = out["cosines"]
        with _blame(argument):
            projections = np.asarray(drift._pca.transform(matrix), dtype=np.float64)
        keys = position_keys(start, matrix.shape[0], s["seed"], "current")
        pick = smallest(keys, s["sample"])
        self._keys, self._sample = merge_samples(
            self._keys, self._sample, keys[pick], np.asarray(matrix[pick], dtype=np.float64), s["sample"]
        )
        self._next = start + matrix.shape[0]
        self._rows += int(out["rows"])
        self._unit_sum += out["unit_sum"]
        self._norm_sum += out["norm_sum"]
        self._off_norm += int(out["off_norm"])
        self._grid += _grid_counts(cosines)
        self._cosine_acc.update({"cosine": cosines})
        self._component_acc.update(_named(projections))
        return cosines if keep_cosines else None

    def merge(self, other: EmbeddingAccumulator) -> None:
        if not isinstance(other, EmbeddingAccumulator):
            raise TypeError(f"other: expected an EmbeddingAccumulator, got {type(other).__name__}")
        if other._drift is not self._drift and other._drift.to_bytes() != self._drift.to_bytes():
            raise UndertowError("other: was made from another EmbeddingDrift reference")
        with both_locked(self, other):
            # acc.merge(acc) doubles: merge a snapshot, not a state that changes as it is read
            self._merge(other if other is not self else EmbeddingAccumulator.from_bytes(self.to_bytes()))

    def _merge(self, other: EmbeddingAccumulator) -> None:
        self._rows += other._rows
        self._next = max(self._next, other._next)
        self._unit_sum += other._unit_sum
        self._norm_sum += other._norm_sum
        self._off_norm += other._off_norm
        self._grid += other._grid
        self._cosine_acc.merge(other._cosine_acc)
        self._component_acc.merge(other._component_acc)
        self._keys, self._sample = merge_samples(
            self._keys, self._sample, other._keys, other._sample, self._drift._settings["sample"]
        )

    @property
    @locked
    def rows(self) -> int:
        return self._rows

    @locked
    def finalize(self) -> EmbeddingDriftReport:
        return self._finalize(exact_cosines=None)

    def _finalize(self, exact_cosines: np.ndarray | None) -> EmbeddingDriftReport:
        drift = self._drift
        s = drift._settings
        if self._rows < 2:
            raise UndertowError(f"current: needs at least 2 rows, got {self._rows}")
        c = drift._cosine.state()
        cos = centroid_cosine(c["unit_sum"], c["rows"], self._unit_sum, self._rows)
        detail = self._cosine_acc.finalize()["cosine"]
        quantiles = (
            _core.quantiles_f64(exact_cosines, list(QUANTILE_LEVELS))
            if exact_cosines is not None
            else _grid_quantiles(self._grid, QUANTILE_LEVELS)
        )
        cosine = CosineDrift(
            centroid_distance=1.0 - min(1.0, max(-1.0, cos)),
            cosine_psi=detail.value,
            status=detail.status,
            quantile_levels=QUANTILE_LEVELS,
            reference_quantiles=c["quantiles"],
            current_quantiles=quantiles,
            reference_mean_norm=c["mean_norm"],
            current_mean_norm=self._norm_sum / self._rows,
            reference_off_norm_share=c["off_norm_share"],
            current_off_norm_share=self._off_norm / self._rows,
            n_reference=c["rows"],
            n_current=self._rows,
            norm_tolerance=c["norm_tolerance"],
            psi_detail=detail,
        )
        report = self._component_acc.finalize()
        names = [f"pc{i + 1}" for i in range(s["components"])]
        component_psi = np.array([report[name].value for name in names])
        sample = self._sample
        with _blame("current"):  # the reference rows passed the covariance overflow check at fit
            dtype = np.float32 if drift._test_dtype == "f4" else np.float64
            test, null = mmd_with_null(
                drift._sample.astype(dtype),
                sample.astype(dtype),
                permutations=s["permutations"],
                seed=s["seed"],
            )
            current_projections = np.asarray(drift._pca.transform(sample), dtype=np.float64)
        component_p = component_ks_p_values(drift._holdout, current_projections)
        auc = domain_auc(drift._holdout, current_projections, seed=s["seed"])
        centroid_norm = float(np.linalg.norm(c["unit_sum"] / c["rows"]))
        centred = centroid_norm < CENTRED_NORM
        status, reason = status_and_reason(
            test, auc, cosine.centroid_distance, centred, centroid_norm, s["alpha"], self._rows
        )
        drifted_share = float(np.mean(rejected_by_fdr(component_p, s["alpha"])))
        shared = shared_rows(drift._sample, sample)
        reason += shared_rows_note(shared, len(sample))
        if status != "stable" and drifted_share == 0:
            reason += (
                f"; no single one of the {s['components']} PCA components differs significantly "
                "on its own (a change spread thinly across components)"
            )
        return EmbeddingDriftReport(
            status=status,
            cosine=cosine,
            mmd=test,
            component_psi=component_psi,
            component_threshold=s["component_threshold"],
            drifted_share=drifted_share,
            domain_auc=auc,
            alpha=s["alpha"],
            n_reference=drift._n_reference,
            n_current=self._rows,
            components=s["components"],
            mmd_null=null,
            n_tested_reference=test.n_x,
            n_tested_current=test.n_y,
            reason=reason,
            mean_centred=centred,
            reference_centroid_norm=centroid_norm,
            component_p_values=component_p,
            reference_sample_2d=np.ascontiguousarray(drift._holdout[:, :2]),
            current_sample_2d=np.ascontiguousarray(current_projections[:, :2]),
            n_shared_rows=shared,
        )

    @locked
    def to_bytes(self) -> bytes:
        meta = {
            "rows": self._rows,
            "next": self._next,
            "norm_sum": self._norm_sum,
            "off_norm": self._off_norm,
        }
        blobs = {
            "reference": self._drift.to_bytes(),
            "unit_sum": self._unit_sum,
            # The grid is mostly empty: store the occupied cells only.
            "grid_cells": np.flatnonzero(self._grid).astype(np.int64),
            "grid_counts": self._grid[self._grid != 0],
            "cosine_acc": self._cosine_acc.to_bytes(),
            "component_acc": self._component_acc.to_bytes(),
            "keys": self._keys,
            "sample": self._sample,
        }
        return pack("accumulator", meta, blobs)

    @classmethod
    def from_bytes(cls, data: bytes) -> EmbeddingAccumulator:
        with naming_data():
            return cls._from_bytes(data)

    @classmethod
    def _from_bytes(cls, data: bytes) -> EmbeddingAccumulator:
        meta, blobs = unpack(data, "accumulator")
        with decoding("embedding drift accumulator"):
            drift = EmbeddingDrift.from_bytes(check.raw(blobs, "reference"))
            out = cls(drift)
            rows = check.integer(meta["rows"], "rows", 0, 2**63 - 1)
            out._rows = rows
            out._next = check.integer(meta.get("next"), "next", 0, 2**63 - 1)
            out._norm_sum = check.number(meta["norm_sum"], "norm_sum", 0.0)
            out._off_norm = check.integer(meta["off_norm"], "off_norm", 0, rows)
            out._unit_sum = check.array(blobs, "unit_sum", "f", (drift.dim,)).copy()
            cells = check.array(blobs, "grid_cells", "i", (None,))
            counts = check.array(blobs, "grid_counts", "i", cells.shape)
            # One grid count per row seen, stored for the occupied cells in increasing order.
            if (
                (cells.size and (cells[0] < 0 or cells[-1] >= GRID or np.any(np.diff(cells) <= 0)))
                or np.any(counts <= 0)
                or sum(counts.tolist()) != rows
            ):
                raise check.bad("the cosine grid is malformed")
            out._grid = np.zeros(GRID, dtype=np.int64)
            out._grid[cells] = counts
            out._cosine_acc = PsiAccumulator.from_bytes(check.raw(blobs, "cosine_acc"))
            out._component_acc = PsiAccumulator.from_bytes(check.raw(blobs, "component_acc"))
            if (
                out._cosine_acc.reference.to_bytes() != drift._cosine.psi_reference.to_bytes()
                or out._component_acc.reference.to_bytes() != drift._components_ref.to_bytes()
            ):
                raise check.bad("the PSI accumulators do not belong to the reference")
            s = drift._settings
            out._keys = check.array(blobs, "keys", "u", (None,)).copy()
            if out._keys.shape[0] > s["sample"]:
                raise check.bad(f"the sample has {out._keys.shape[0]} rows, more than {s['sample']}")
            out._sample = check.array(blobs, "sample", "f", (out._keys.shape[0], drift.dim)).copy()
            if not np.isfinite(out._sample).all():
                raise check.bad("the sample holds NaN or inf")
        return out

    def __reduce__(self) -> Any:
        return (EmbeddingAccumulator.from_bytes, (self.to_bytes(),))

    @locked
    def __repr__(self) -> str:
        return f"EmbeddingAccumulator(rows={self._rows}, sample={len(self._sample)})"
