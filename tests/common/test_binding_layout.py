"""The binding layer (`undertow._core`) reads every matrix as a row-major buffer, so it must take
C-ordered arrays only. rust-numpy's `as_slice()` alone also accepts a Fortran-ordered array,
whose buffer the kernels would then read transposed: a silent wrong answer. Here every `_core`
entry point taking a 2-D array (listed from `_core.pyi`; a new one without a case fails
`test_every_matrix_parameter_has_a_case`) is given:

* the same data Fortran-ordered in one argument: refused with a TypeError naming it;
* the data C-ordered: the answer of an independent float64 numpy reference (or, where the
  kernel has no short reference, a property a transposed read would break).

The facade (`undertow.*`) converts every layout before calling `_core`; see
`test_public_layouts.py`."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist, pdist

import undertow
from undertow import _core

STUB = Path(undertow.__file__).with_name("_core.pyi")

# array parameters of the stub that are 1-D (vectors of values, ids, counts): not this file's
VECTOR_PARAMS = {
    "histogram_counts_f32.x",
    "histogram_counts_f64.x",
    "histogram_counts_i64.x",
    "fit_numeric_f32.x",
    "fit_numeric_f64.x",
    "PsiAccumulator.update_f32.x",
    "PsiAccumulator.update_f64.x",
    "PsiAccumulator.update_counts_sparse.indices",
    "PsiAccumulator.update_counts_sparse.counts",
    "exact_topk.exclude",
    "assigned_distances.assign",
    "quantiles_f64.x",
    "SortedSample.from_values.values",
    "ks_values.expected",
    "ks_values.actual",
}


def _stub_array_params() -> tuple[set[str], set[str]]:
    """(2-D, other) array parameters of the stub as "function.param" / "Class.method.param"."""
    tree = ast.parse(STUB.read_text())
    functions: list[tuple[str, ast.FunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            functions += [(f"{node.name}.{f.name}", f) for f in node.body if isinstance(f, ast.FunctionDef)]
    matrices, others = set(), set()
    for name, function in functions:
        for arg in function.args.args:
            text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
            if "_Matrix" in text:
                matrices.add(f"{name}.{arg.arg}")
            elif "NDArray" in text or "_Vector" in text:
                others.add(f"{name}.{arg.arg}")
    return matrices, others


def _data(rows: int = 5, dim: int = 3, seed: int = 0) -> np.ndarray:
    """Distinct, well separated values: no ties in distances, norms or quantiles."""
    rng = np.random.default_rng(seed)
    return rng.permutation(rows * dim).reshape(rows, dim) / 7.0 + rng.uniform(0.01, 0.02, (rows, dim))


@dataclass(frozen=True)
class Case:
    """One `_core` entry point: `arrays(dtype)` are its C-ordered 2-D arguments by stub name,
    `run(arrays)` calls it, `check(arrays, result)` compares with a float64 reference.
    `names` maps each 2-D parameter to the name the binding's error uses for it."""

    target: str
    arrays: Callable[[Any], dict[str, np.ndarray]]
    run: Callable[[dict[str, np.ndarray]], Any]
    check: Callable[[dict[str, np.ndarray], Any], None]
    names: dict[str, str]
    dtypes: tuple[Any, ...] = (np.float32, np.float64)


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _check_row_norms(a: dict, out: Any) -> None:
    np.testing.assert_allclose(out, np.linalg.norm(_f64(a["x"]), axis=1), rtol=1e-12)


def _check_nearest(a: dict, out: Any) -> None:
    d2 = cdist(_f64(a["queries"]), _f64(a["stored"]), "sqeuclidean")
    np.testing.assert_array_equal(out[1], d2.argmin(axis=1))
    np.testing.assert_allclose(out[0], d2.min(axis=1), rtol=1e-5)


def _check_topk(a: dict, out: Any) -> None:
    ip = _f64(a["queries"]) @ _f64(a["stored"]).T
    order = np.argsort(-ip, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(out[1], order)
    np.testing.assert_allclose(out[0], np.take_along_axis(ip, order, axis=1), rtol=1e-5)


def _check_knn(a: dict, out: Any) -> None:
    x = _f64(a["x"])
    ip = x @ x.T
    np.fill_diagonal(ip, -np.inf)
    order = np.argsort(-ip, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(out[1], order)
    np.testing.assert_allclose(out[0], np.take_along_axis(ip, order, axis=1), rtol=1e-5)


def _check_assigned(a: dict, out: Any) -> None:
    x, c = _f64(a["x"]), _f64(a["centroids"])
    np.testing.assert_allclose(out, ((x - c[ASSIGN]) ** 2).sum(axis=1), rtol=1e-6)


def _check_form_bound(a: dict, out: Any) -> None:
    # plus = 1, t = level = 0: (x . d0)^2 - (x . d1)^2 > 0, far from 0 for this data
    p = _f64(a["x"]) @ a["directions"]
    margin = p[:, 0] ** 2 - p[:, 1] ** 2
    assert np.abs(margin).min() > 1e-3 * np.abs(margin).max()
    np.testing.assert_array_equal(out, margin > 0)


def _check_kmeans(a: dict, out: Any) -> None:
    centroids, assignment, distances = out[0], out[1], out[2]
    d2 = cdist(_f64(a["x"]), centroids, "sqeuclidean")
    np.testing.assert_array_equal(assignment, d2.argmin(axis=1))
    np.testing.assert_allclose(distances, d2.min(axis=1), rtol=1e-5, atol=1e-9)
    for j in range(len(centroids)):  # converged: every centroid is the mean of its rows
        np.testing.assert_allclose(centroids[j], _f64(a["x"])[assignment == j].mean(axis=0), rtol=1e-5)


def _check_row_keys(a: dict, out: Any) -> None:
    # a key depends on its row's values only: each row alone (a 1-row matrix) gives the same key
    x = a["x"]
    assert len(set(out.tolist())) == len(x)
    np.testing.assert_array_equal(out, [_core.row_keys(x[i : i + 1], 7)[0] for i in range(len(x))])


def _check_cosine(a: dict, out: Any) -> None:
    x = _f64(a["x"])
    unit = np.ones(x.shape[1]) / np.sqrt(x.shape[1])
    np.testing.assert_allclose(out["cosines"], x @ unit / np.linalg.norm(x, axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["norm_sum"], np.linalg.norm(x, axis=1).sum(), rtol=1e-6)


def _check_median(a: dict, out: Any) -> None:
    both = np.vstack([_f64(a["x"]), _f64(a["y"])])
    np.testing.assert_allclose(out, np.median(pdist(both)), rtol=1e-5)


def _check_mmd(a: dict, out: Any) -> None:
    x, y, h = _f64(a["x"]), _f64(a["y"]), 2.0
    n, m = len(x), len(y)

    def k(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.exp(-cdist(u, v, "sqeuclidean") / (2 * h * h))

    kxx, kyy = k(x, x), k(y, y)
    value = (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )
    np.testing.assert_allclose(out["value"], value, rtol=1e-5, atol=1e-9)


def _covariance(a: dict) -> Any:
    acc = _core.Covariance(a["x"].shape[1])
    acc.update(a["x"])
    return acc.finalize(2)


def _check_covariance(a: dict, pca: Any) -> None:
    x = _f64(a["x"])
    np.testing.assert_allclose(pca.mean, x.mean(axis=0), rtol=1e-6)
    top = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1][:2]
    np.testing.assert_allclose(pca.explained_variance, top, rtol=1e-5)


def _transform(a: dict) -> Any:
    acc = _core.Covariance(a["fit"].shape[1])
    acc.update(np.ascontiguousarray(a["fit"]))
    pca = acc.finalize(2)
    return pca, pca.transform(a["x"])


def _check_transform(a: dict, out: Any) -> None:
    pca, projected = out
    expected = (_f64(a["x"]) - pca.mean) @ pca.components.T
    np.testing.assert_allclose(projected, expected, rtol=1e-5, atol=1e-9)


def _rff(a: dict, side: str) -> dict:
    acc = _core.Rff(a[side].shape[1], 2.0, 16, 3)
    other = _data(4, a[side].shape[1], seed=9).astype(a[side].dtype)
    (acc.update_x if side == "x" else acc.update_y)(a[side])
    (acc.update_y if side == "x" else acc.update_x)(other)
    return acc.finalize()


def _check_rff(side: str) -> Callable[[dict, Any], None]:
    def check(a: dict, out: Any) -> None:
        # row by row (1-row matrices: C- and F-contiguous alike) gives the same state
        acc = _core.Rff(a[side].shape[1], 2.0, 16, 3)
        for row in a[side]:
            (acc.update_x if side == "x" else acc.update_y)(row[None, :])
        other = _data(4, a[side].shape[1], seed=9).astype(a[side].dtype)
        (acc.update_y if side == "x" else acc.update_x)(other)
        np.testing.assert_allclose(out["value"], acc.finalize()["value"], rtol=1e-9, atol=1e-12)

    return check


def _reference(dtype: Any) -> Any:
    fit = _core.fit_numeric_rows_f32 if dtype == np.float32 else _core.fit_numeric_rows_f64
    x = _data(12, 3, seed=4).astype(dtype)
    return _core.PsiReference(fit(["a", "b", "c"], x, 4, "quantile", None, "raise"), "raise", 1e-4, 0.1, 0.25)


def _fit_rows(a: dict) -> Any:
    fit = _core.fit_numeric_rows_f32 if a["x"].dtype == np.float32 else _core.fit_numeric_rows_f64
    return fit(["a", "b", "c"], a["x"], 4, "quantile", None, "raise")


def _check_fit_rows(a: dict, out: Any) -> None:
    # the row kernel gives each column what numpy's linear quantiles give it
    x = _f64(a["x"])
    reference = _core.PsiReference(out, "raise", 1e-4, 0.1, 0.25)
    for j, column in enumerate(reference.columns()):
        inner = np.quantile(x[:, j], [0.25, 0.5, 0.75])
        np.testing.assert_allclose(column["edges"], inner, rtol=1e-6)  # the inner edges


def _update_rows(a: dict) -> Any:
    acc = _core.PsiAccumulator(_reference(a["x"].dtype))
    (acc.update_rows_f32 if a["x"].dtype == np.float32 else acc.update_rows_f64)([0, 1, 2], a["x"])
    return acc.finalize()


def _check_update_rows(a: dict, out: Any) -> None:
    # each column's counts are numpy's histogram of that column over the reference's edges
    reference = _reference(a["x"].dtype)
    x = _f64(a["x"])
    for j, (column, result) in enumerate(zip(reference.columns(), out, strict=True)):
        # inner edges; the outer bins are open-ended (no value of this data sits on an edge)
        bins = np.searchsorted(np.asarray(column["edges"], dtype=np.float64), x[:, j])
        expected = np.bincount(bins, minlength=len(column["edges"]) + 1)
        np.testing.assert_array_equal(result["actual_counts"], expected)


def _count_tables(t: Any) -> dict[str, np.ndarray]:
    # three rows of dense counts: Cochran's rule holds, the chi-square test runs on each row
    e = np.array([[30, 50, 20, 40], [12, 90, 45, 33], [60, 60, 61, 59]], dtype=t)
    return {"expected": e, "actual": np.ascontiguousarray(e[::-1, ::-1]) + 5}


def _check_homogeneity(a: dict, out: Any) -> None:
    statistics, populated, monte_carlo, p_values, floors = out
    for r in range(3):
        e, x = a["expected"][r], a["actual"][r]
        result = stats.chi2_contingency(np.vstack([e, x]), correction=False)
        assert statistics[r] == pytest.approx(result.statistic, rel=1e-12)
        assert p_values[r] == pytest.approx(result.pvalue, rel=1e-9)
        assert floors[r] == pytest.approx(3 * (1 / e.sum() + 1 / x.sum()), rel=1e-15)
    np.testing.assert_array_equal(populated, [4, 4, 4])
    assert not monte_carlo.any()


ASSIGN = np.array([0, 1, 1, 0, 1], dtype=np.int64)
DIRECTIONS = np.array([[1.0, 0.2], [0.1, 1.0], [0.3, -0.5]])

CASES = {
    "row_norms": Case(
        "row_norms",
        lambda t: {"x": _data().astype(t)},
        lambda a: _core.row_norms(a["x"]),
        _check_row_norms,
        {"x": "vectors"},
    ),
    "nearest": Case(
        "nearest",
        lambda t: {"stored": _data(5, 3, 1).astype(t), "queries": _data(4, 3, 2).astype(t)},
        lambda a: _core.nearest(a["stored"], a["queries"], "l2"),
        _check_nearest,
        {"stored": "index", "queries": "queries"},
    ),
    "exact_topk": Case(
        "exact_topk",
        lambda t: {"stored": _data(5, 3, 1).astype(t), "queries": _data(4, 3, 2).astype(t)},
        lambda a: _core.exact_topk(a["stored"], a["queries"], 2, "ip"),
        _check_topk,
        {"stored": "index", "queries": "queries"},
    ),
    "knn_graph": Case(
        "knn_graph",
        lambda t: {"x": _data(6, 3).astype(t)},
        lambda a: _core.knn_graph(a["x"], 2),
        _check_knn,
        {"x": "vectors"},
    ),
    "assigned_distances": Case(
        "assigned_distances",
        lambda t: {"x": _data().astype(t), "centroids": _data(2, 3, 5).astype(np.float32)},
        lambda a: _core.assigned_distances(a["x"], a["centroids"], ASSIGN),
        _check_assigned,
        {"x": "vectors", "centroids": "centroids"},
    ),
    "form_bound_pass": Case(
        "form_bound_pass",
        lambda t: {"x": _data(6, 3).astype(t), "directions": DIRECTIONS.copy()},
        lambda a: _core.form_bound_pass(a["x"], a["directions"], 1, 0.0, 0.0),
        _check_form_bound,
        {"x": "vectors", "directions": "directions"},
    ),
    "kmeans_fit": Case(
        "kmeans_fit",
        lambda t: {"x": _data(6, 3).astype(t), "init": _data(6, 3)[[0, 5]]},
        lambda a: _core.kmeans_fit(a["x"], 2, 50, 1, a["init"]),
        _check_kmeans,
        {"x": "x", "init": "init"},
    ),
    "row_keys": Case(
        "row_keys",
        lambda t: {"x": _data().astype(t)},
        lambda a: _core.row_keys(a["x"], 7),
        _check_row_keys,
        {"x": "x"},
    ),
    "cosine_pass": Case(
        "cosine_pass",
        lambda t: {"x": _data().astype(t)},
        lambda a: _core.cosine_pass(a["x"], [3**-0.5] * 3, 1e-3, "reference"),
        _check_cosine,
        {"x": "reference"},
    ),
    "median_bandwidth": Case(
        "median_bandwidth",
        lambda t: {"x": _data(5, 3, 1).astype(t), "y": _data(4, 3, 2).astype(t)},
        lambda a: _core.median_bandwidth(a["x"], a["y"], 0),
        _check_median,
        {"x": "x", "y": "y"},
    ),
    "mmd_exact": Case(
        "mmd_exact",
        lambda t: {"x": _data(5, 3, 1).astype(t), "y": _data(4, 3, 2).astype(t)},
        lambda a: _core.mmd_exact(a["x"], a["y"], 2.0, 10, 0),
        _check_mmd,
        {"x": "x", "y": "y"},
    ),
    "Covariance.update": Case(
        "Covariance.update",
        lambda t: {"x": _data(6, 3).astype(t)},
        _covariance,
        _check_covariance,
        {"x": "x"},
    ),
    "Pca.transform": Case(
        "Pca.transform",
        lambda t: {"x": _data(4, 3, 1).astype(t), "fit": _data(6, 3)},
        _transform,
        _check_transform,
        {"x": "x"},
    ),
    "Rff.update_x": Case(
        "Rff.update_x",
        lambda t: {"x": _data().astype(t)},
        lambda a: _rff(a, "x"),
        _check_rff("x"),
        {"x": "x"},
    ),
    "Rff.update_y": Case(
        "Rff.update_y",
        lambda t: {"y": _data().astype(t)},
        lambda a: _rff(a, "y"),
        _check_rff("y"),
        {"y": "y"},
    ),
    "fit_numeric_rows": Case(
        "fit_numeric_rows",
        lambda t: {"x": _data(12, 3, 4).astype(t)},
        _fit_rows,
        _check_fit_rows,
        {"x": "table"},
    ),
    "update_rows": Case(
        "PsiAccumulator.update_rows",
        lambda t: {"x": _data(9, 3, 6).astype(t)},
        _update_rows,
        _check_update_rows,
        {"x": "actual"},
    ),
    "homogeneity_rows": Case(
        "homogeneity_rows",
        _count_tables,
        lambda a: _core.homogeneity_rows(a["expected"], a["actual"]),
        _check_homogeneity,
        {"expected": "expected", "actual": "actual"},
        dtypes=(np.int64,),
    ),
}


def _covered() -> set[str]:
    """The stub parameters the cases exercise (the typed entry points count for both dtypes)."""
    covered = set()
    for case in CASES.values():
        targets = {
            "fit_numeric_rows": ["fit_numeric_rows_f32", "fit_numeric_rows_f64"],
            "PsiAccumulator.update_rows": [
                "PsiAccumulator.update_rows_f32",
                "PsiAccumulator.update_rows_f64",
            ],
        }.get(case.target, [case.target])
        covered |= {f"{target}.{param}" for target in targets for param in case.names}
    return covered


def test_every_matrix_parameter_has_a_case() -> None:
    matrices, others = _stub_array_params()
    assert matrices, "no 2-D parameter found in the stub"
    assert matrices == _covered(), "a 2-D parameter of _core.pyi has no layout case here (or vice versa)"
    # a new array parameter must be classified: 2-D (annotate it _Matrix*, add a case) or 1-D
    assert others == VECTOR_PARAMS


PARAMS = [
    pytest.param(name, param, dtype, id=f"{name}-{param}-{np.dtype(dtype).name}")
    for name, case in CASES.items()
    for param in case.names
    for dtype in case.dtypes
]


@pytest.mark.parametrize(("case", "param", "dtype"), PARAMS)
def test_fortran_order_is_refused_naming_the_argument(case: str, param: str, dtype: Any) -> None:
    c = CASES[case]
    arrays = c.arrays(dtype)
    assert arrays[param].shape[0] >= 2 and arrays[param].shape[1] >= 2
    arrays[param] = np.asfortranarray(arrays[param])
    assert not arrays[param].flags.c_contiguous
    with pytest.raises(TypeError, match=f"^{c.names[param]}: expected a C-contiguous"):
        c.run(arrays)


@pytest.mark.parametrize(
    ("case", "dtype"),
    [pytest.param(n, t, id=f"{n}-{np.dtype(t).name}") for n, c in CASES.items() for t in c.dtypes],
)
def test_c_order_matches_the_reference(case: str, dtype: Any) -> None:
    c = CASES[case]
    arrays = c.arrays(dtype)
    c.check(arrays, c.run(arrays))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row_and_one_column_matrices_still_pass(dtype: Any) -> None:
    # both C- and F-contiguous: the row-major reading is the right one
    x = _data().astype(dtype)
    for part in (np.asfortranarray(x[:1]), np.asfortranarray(x[:, :1])):
        assert part.flags.c_contiguous and part.flags.f_contiguous
        np.testing.assert_allclose(_core.row_norms(part), np.linalg.norm(_f64(part), axis=1), rtol=1e-12)


def test_non_contiguous_and_unaligned_are_refused() -> None:
    x = _data(6, 4)
    with pytest.raises(TypeError, match=r"^vectors: expected a C-contiguous"):
        _core.row_norms(x[:, ::2])
    raw = np.frombuffer(b"\0" + x.tobytes(), dtype=np.float64, offset=1).reshape(x.shape)
    assert not raw.flags.aligned
    with pytest.raises(TypeError, match=r"^vectors: expected a C-contiguous"):
        _core.row_norms(raw)
