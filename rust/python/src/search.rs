//! Bindings of the search kernels behind `ut.exact_search` and the index auditor: exact top-k,
//! row norms and distances to assigned centroids.

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use undertow_core::{rows, topk};

use crate::common::{detached, matrix_dim, not_contiguous, to_py, Matrix, UndertowError};

type Neighbours<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<i64>>);

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
    let c = centroids
        .as_slice()
        .map_err(|_| not_contiguous("centroids"))?;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(exact_topk, m)?)?;
    m.add_function(wrap_pyfunction!(row_norms, m)?)?;
    m.add_function(wrap_pyfunction!(assigned_distances, m)?)?;
    Ok(())
}
