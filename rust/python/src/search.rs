//! Bindings of the search kernels behind `ut.exact_search` and the index auditor: exact top-k,
//! row norms and distances to assigned centroids.

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use undertow_core::{form_bound, kmeans, knn_graph as graph, rows, topk};

use crate::common::{c_slice, detached, matrix_dim, to_py, Matrix, UndertowError};

type Neighbours<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<i64>>);
type Nearest<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<i64>>);

/// Exact top-k of every query among the stored rows: (distances, labels), each queries x k.
#[pyfunction]
#[pyo3(signature = (stored, queries, k, metric, exclude=None))]
fn exact_topk<'py>(
    py: Python<'py>,
    stored: Matrix<'py>,
    queries: Matrix<'py>,
    k: usize,
    metric: &str,
    exclude: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<Neighbours<'py>> {
    let metric = topk::Metric::parse(metric).map_err(to_py)?;
    let exclude = match &exclude {
        Some(e) => Some(
            e.as_slice()
                .map_err(|_| PyTypeError::new_err("exclude: expected a contiguous int64 array"))?,
        ),
        None => None,
    };
    let nq = match &queries {
        Matrix::F32(b) => b.shape()[0],
        Matrix::F64(b) => b.shape()[0],
    };
    let result = with_pair!(&stored, &queries, ("index", "queries"), |xs, qs, dim| {
        detached(py, || topk::exact_topk(xs, qs, dim, k, metric, exclude))?
    });
    let (distances, labels) = result;
    Ok((
        distances.into_pyarray(py).reshape([nq, k])?,
        labels.into_pyarray(py).reshape([nq, k])?,
    ))
}

/// The k nearest other rows of every row by inner product: (scores, rows), each n x k.
#[pyfunction]
fn knn_graph<'py>(py: Python<'py>, x: Matrix<'py>, k: usize) -> PyResult<Neighbours<'py>> {
    let n = match &x {
        Matrix::F32(b) => b.shape()[0],
        Matrix::F64(b) => b.shape()[0],
    };
    let (scores, labels) = with_matrix!(&x, "vectors", |data, dim| detached(py, || {
        graph::knn_graph(data, dim, k)
    })?);
    Ok((
        scores.into_pyarray(py).reshape([n, k])?,
        labels.into_pyarray(py).reshape([n, k])?,
    ))
}

/// Rows whose bound of a quadratic form (scaled directions, dim x r: the first `plus` add, the
/// others subtract; plus `t` |x|^2) exceeds `-level` |x|^2; rows holding NaN or inf are true.
#[pyfunction]
fn form_bound_pass<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    directions: PyReadonlyArray2<'py, f64>,
    plus: usize,
    t: f64,
    level: f64,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    if directions.shape()[0] != matrix_dim(&x) {
        return Err(UndertowError::new_err(format!(
            "directions: have {} rows, the vectors {} dimensions",
            directions.shape()[0],
            matrix_dim(&x)
        )));
    }
    let d = c_slice(&directions, "directions")?;
    let keep = with_matrix!(&x, "vectors", |data, dim| detached(py, || {
        form_bound::form_bound_pass(data, dim, d, plus, t, level)
    })?);
    Ok(keep.into_pyarray(py))
}

/// The Euclidean norm of every row (NaN or inf for rows holding them).
#[pyfunction]
fn row_norms<'py>(py: Python<'py>, x: Matrix<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let norms = with_matrix!(&x, "vectors", |data, dim| detached(
        py,
        || rows::row_norms(data, dim)
    )?);
    Ok(norms.into_pyarray(py))
}

/// The squared distance of every row to its assigned centroid.
#[pyfunction]
fn assigned_distances<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    centroids: PyReadonlyArray2<'py, f32>,
    assign: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let c = c_slice(&centroids, "centroids")?;
    let a = assign
        .as_slice()
        .map_err(|_| PyTypeError::new_err("assign: expected a contiguous int64 array"))?;
    if centroids.shape()[1] != matrix_dim(&x) {
        return Err(UndertowError::new_err(format!(
            "centroids: have {} dimensions, the vectors {}",
            centroids.shape()[1],
            matrix_dim(&x)
        )));
    }
    let out = with_matrix!(&x, "vectors", |data, dim| detached(py, || {
        rows::assigned_distances(data, dim, c, a)
    })?);
    Ok(out.into_pyarray(py))
}

/// The nearest stored row of every query: (score, row), each of length queries (top-1 of
/// `exact_topk`, queries cut in fixed chunks run in parallel).
#[pyfunction]
fn nearest<'py>(
    py: Python<'py>,
    stored: Matrix<'py>,
    queries: Matrix<'py>,
    metric: &str,
) -> PyResult<Nearest<'py>> {
    let metric = topk::Metric::parse(metric).map_err(to_py)?;
    let (scores, rows) = with_pair!(&stored, &queries, ("index", "queries"), |xs, qs, dim| {
        detached(py, || topk::nearest(xs, qs, dim, metric))?
    });
    Ok((scores.into_pyarray(py), rows.into_pyarray(py)))
}

type KMeansFit<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
    usize,
    bool,
);

/// Deterministic k-means: (centroids, assignment, squared distances, inertia, iterations,
/// converged).
#[pyfunction]
#[pyo3(signature = (x, k, max_iter, seed, init=None))]
fn kmeans_fit<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    k: usize,
    max_iter: usize,
    seed: u64,
    init: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<KMeansFit<'py>> {
    let init = match &init {
        Some(c) => Some(c_slice(c, "init")?),
        None => None,
    };
    let dim = matrix_dim(&x);
    let fit = with_matrix!(&x, "x", |data, dim| detached(py, || {
        kmeans::kmeans(data, dim, k, max_iter, seed, init)
    })?);
    Ok((
        fit.centroids.into_pyarray(py).reshape([k, dim])?,
        fit.assignment.into_pyarray(py),
        fit.distances.into_pyarray(py),
        fit.inertia,
        fit.iterations,
        fit.converged,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(nearest, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_fit, m)?)?;
    m.add_function(wrap_pyfunction!(exact_topk, m)?)?;
    m.add_function(wrap_pyfunction!(knn_graph, m)?)?;
    m.add_function(wrap_pyfunction!(row_norms, m)?)?;
    m.add_function(wrap_pyfunction!(form_bound_pass, m)?)?;
    m.add_function(wrap_pyfunction!(assigned_distances, m)?)?;
    Ok(())
}
