"""Cosine drift: centroid direction, cosine-to-centroid distribution, norms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from undertow import _core
from undertow._args import check_real, check_thresholds
from undertow._core import UndertowError
from undertow._inputs import as_matrix, same_dims
from undertow.tabular.reference import Reference
from undertow.tabular.results import PsiResult, plain

QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _check_tolerance(norm_tolerance: Any) -> float:
    return check_real(norm_tolerance, "norm_tolerance", 0)


def centroid_norm(unit_sum: np.ndarray, rows: int, argument: str) -> float:
    """The norm of the centroid (the mean of `rows` unit rows), refused when it is at rounding
    level. Each component of the summed unit rows carries a rounding error of at most about
    rows * eps, and the error vector's norm is bounded the same way (the unit rows' squared
    components sum to 1), so a centroid no longer than 4 * rows * eps may be nothing but
    rounding: its direction is noise, and every cosine to it would be too. (Rows that cancel
    exactly, [x, -x], land here with a norm near 1e-17 instead of 0.)"""
    norm = float(np.linalg.norm(np.asarray(unit_sum, dtype=np.float64) / rows))
    if not norm > 4.0 * rows * np.finfo(np.float64).eps:
        raise UndertowError(
            f"{argument}: the centroid (the mean of the unit rows) has norm {norm:.3g}, zero up to "
            f"rounding for {rows} rows: the rows cancel out, so there is no mean direction"
        )
    return norm


def _unit(unit_sum: np.ndarray, rows: int) -> np.ndarray:
    mean = np.asarray(unit_sum, dtype=np.float64) / rows
    return mean / centroid_norm(unit_sum, rows, "reference")


def cosine_pass(matrix: np.ndarray, direction: Any, norm_tolerance: float, argument: str) -> dict[str, Any]:
    """The Rust row pass, whose errors name the right cause. It reports a row whose squared
    norm overflows float64 as holding "NaN or inf", and one whose squared norm underflows to 0
    as a zero vector; both are told apart here, on the error path only (no extra pass)."""
    try:
        return _core.cosine_pass(matrix, direction, norm_tolerance, argument)
    except UndertowError as exc:
        message = str(exc)
        if "NaN or inf" in message and np.isfinite(matrix).all():
            raise UndertowError(
                f"{argument}: values are too large: squared row norms overflow float64 "
                "(|x| above about 1e154); rescale the data"
            ) from None
        if "zero vectors" in message:
            squares = np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64)
            # Both tests on one copy of the candidate rows: read twice from `matrix`, a row that
            # another thread zeroes in between looked nonzero and too small at once.
            candidates = np.flatnonzero(squares == 0)
            rows = matrix[candidates]
            rows_squares = np.einsum("ij,ij->i", rows, rows, dtype=np.float64)
            tiny = candidates[rows.any(axis=1) & (rows_squares == 0)]
            if tiny.size:
                first = ", ".join(str(i) for i in tiny[:5])
                raise UndertowError(
                    f"{argument}: {tiny.size} rows are too small to normalise: their squared norms "
                    f"underflow float64 to 0 (|x| below about 1e-162); rescale the data "
                    f"(first rows: {first})"
                ) from None
        raise


def centroid_cosine(ref_sum: np.ndarray, ref_rows: int, cur_sum: np.ndarray, cur_rows: int) -> float:
    """cos between the reference and current centroids (each refused at rounding level)."""
    denominator = centroid_norm(ref_sum, ref_rows, "reference") * centroid_norm(cur_sum, cur_rows, "current")
    return float(np.dot(ref_sum / ref_rows, cur_sum / cur_rows) / denominator)


@dataclass(frozen=True, eq=False)
class CosineDrift:
    """Cosine statistics of current embeddings against a reference.

    ``centroid_distance`` is 1 - cos of the two centroid directions (means of the unit rows);
    ``cosine_psi`` the PSI between the reference's and the current rows' cosines to the
    reference centroid (quantile bins from the reference, open outer edges); the quantiles are
    numpy's linear-method quantiles of those cosines at ``quantile_levels``. A row is off-norm
    when its Euclidean norm differs from 1 by more than ``norm_tolerance``.
    """

    centroid_distance: float
    cosine_psi: float
    status: str
    quantile_levels: tuple[float, ...]
    reference_quantiles: np.ndarray
    current_quantiles: np.ndarray
    reference_mean_norm: float
    current_mean_norm: float
    reference_off_norm_share: float
    current_off_norm_share: float
    n_reference: int
    n_current: int
    norm_tolerance: float
    psi_detail: PsiResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "centroid_distance": self.centroid_distance,
            "cosine_psi": self.cosine_psi,
            "status": self.status,
            "quantile_levels": list(self.quantile_levels),
            "reference_quantiles": plain(self.reference_quantiles),
            "current_quantiles": plain(self.current_quantiles),
            "reference_mean_norm": self.reference_mean_norm,
            "current_mean_norm": self.current_mean_norm,
            "reference_off_norm_share": self.reference_off_norm_share,
            "current_off_norm_share": self.current_off_norm_share,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "norm_tolerance": self.norm_tolerance,
        }

    def __repr__(self) -> str:
        medians = ""
        if 0.5 in self.quantile_levels:
            i = self.quantile_levels.index(0.5)
            ref, cur = self.reference_quantiles[i], self.current_quantiles[i]
            medians = f", median cosine ref/cur={ref:.4f}/{cur:.4f}"
        return (
            f"CosineDrift(status={self.status!r}, centroid_distance={self.centroid_distance:.4g}, "
            f"cosine_psi={self.cosine_psi:.4g}{medians}, "
            f"mean norm ref/cur={self.reference_mean_norm:.4g}/{self.current_mean_norm:.4g}, "
            f"rows ref/cur={self.n_reference}/{self.n_current})"
        )


class CosineReference:
    """The reference half of cosine drift: centroid direction, fitted cosine bins, norms."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state
        self.direction = state["direction"]
        self.psi_reference: Reference = state["psi_reference"]

    @classmethod
    def fit(
        cls,
        reference: np.ndarray,
        bins: int = 10,
        norm_tolerance: float = 0.01,
        thresholds: tuple[float, float] = (0.1, 0.25),
    ) -> CosineReference:
        first = cosine_pass(reference, None, norm_tolerance, "reference")
        direction = _unit(first["unit_sum"], int(first["rows"]))
        second = cosine_pass(reference, direction.tolist(), norm_tolerance, "reference")
        cosines = second["cosines"]
        rows = int(first["rows"])
        state = {
            "unit_sum": np.asarray(first["unit_sum"], dtype=np.float64),
            "direction": direction,
            "rows": rows,
            "mean_norm": first["norm_sum"] / rows,
            "off_norm_share": first["off_norm"] / rows,
            "quantiles": _core.quantiles_f64(cosines, list(QUANTILE_LEVELS)),
            "norm_tolerance": norm_tolerance,
            "psi_reference": Reference.fit({"cosine": cosines}, bins=bins, thresholds=thresholds),
        }
        return cls(state)

    @property
    def dim(self) -> int:
        return int(self.direction.shape[0])

    def compare(self, current: np.ndarray) -> CosineDrift:
        s = self._state
        if current.shape[1] != self.dim:
            raise UndertowError(
                f"current: vectors have {current.shape[1]} dimensions, the reference {self.dim}"
            )
        cur = cosine_pass(current, self.direction.tolist(), s["norm_tolerance"], "current")
        rows = int(cur["rows"])
        cos = centroid_cosine(s["unit_sum"], s["rows"], cur["unit_sum"], rows)
        psi_detail = self.psi_reference.psi({"cosine": cur["cosines"]})["cosine"]
        return CosineDrift(
            centroid_distance=1.0 - min(1.0, max(-1.0, cos)),
            cosine_psi=psi_detail.value,
            status=psi_detail.status,
            quantile_levels=QUANTILE_LEVELS,
            reference_quantiles=s["quantiles"],
            current_quantiles=_core.quantiles_f64(cur["cosines"], list(QUANTILE_LEVELS)),
            reference_mean_norm=s["mean_norm"],
            current_mean_norm=cur["norm_sum"] / rows,
            reference_off_norm_share=s["off_norm_share"],
            current_off_norm_share=cur["off_norm"] / rows,
            n_reference=s["rows"],
            n_current=rows,
            norm_tolerance=s["norm_tolerance"],
            psi_detail=psi_detail,
        )

    def state(self) -> dict[str, Any]:
        return self._state


def cosine_drift(
    reference: Any,
    current: Any,
    *,
    bins: int = 10,
    norm_tolerance: float = 0.01,
    thresholds: tuple[float, float] = (0.1, 0.25),
) -> CosineDrift:
    """Cosine drift of `current` embeddings against `reference` (rows are vectors).

    Computes the centroid cosine distance (1 - cos between the means of the unit-normalized
    rows), each row's cosine to the reference centroid on both sides summarized by quantiles and
    by the PSI between the two distributions, mean norms and the share of rows whose norm is
    farther than `norm_tolerance` from 1. Zero vectors and NaN/inf are errors naming the rows.
    One pass over `current`, two over `reference`, float64 accumulation, all cores, GIL released.

    >>> import numpy as np, undertow as ut
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(2000, 16)) + 3.0
    >>> ut.cosine_drift(ref, rng.normal(size=(2000, 16)) + 3.0).status
    'stable'
    """
    check_thresholds(thresholds)
    tolerance = _check_tolerance(norm_tolerance)
    ref = as_matrix(reference, "reference")
    cur = as_matrix(current, "current")
    same_dims(ref, cur, "reference", "current")
    return CosineReference.fit(ref, bins=bins, norm_tolerance=tolerance, thresholds=thresholds).compare(cur)
