//! Bindings of the embedding kernels: cosine statistics, covariance/PCA, exact and RFF MMD.
//! Matrices arrive C-contiguous as float32 or float64 (the facade converts anything else once).

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use undertow_core::codec;
use undertow_core::{cosine, mmd, pca, quantile, rff};

use crate::common::{detached, to_py, Matrix, UndertowError};

/// Row statistics of `x` and, with `direction`, each row's cosine to it. Raises (naming
/// `argument`) on NaN/inf or zero rows.
#[pyfunction]
#[pyo3(signature = (x, direction, norm_tolerance, argument))]
fn cosine_pass<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    direction: Option<Vec<f64>>,
    norm_tolerance: f64,
    argument: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let (stats, cosines) = with_matrix!(&x, argument, |data, dim| {
        if let Some(d) = &direction {
            if d.len() != dim {
                return Err(UndertowError::new_err(format!(
                    "{argument}: vectors have {dim} dimensions, the reference {}",
                    d.len()
                )));
            }
        }
        detached(py, || {
            let (stats, cosines) =
                cosine::row_pass(data, dim, direction.as_deref(), norm_tolerance);
            stats.check(argument)?;
            Ok((stats, cosines))
        })?
    });
    let out = PyDict::new(py);
    out.set_item("rows", stats.rows)?;
    out.set_item("unit_sum", stats.unit_sum.into_pyarray(py))?;
    out.set_item("norm_sum", stats.norm_sum)?;
    out.set_item("off_norm", stats.off_norm)?;
    if direction.is_some() {
        out.set_item("cosines", cosines.into_pyarray(py))?;
    }
    Ok(out)
}

/// A seeded 64-bit key per row of `x`, from its values (for batch-independent samples).
#[pyfunction]
fn row_keys<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let keys = with_matrix!(&x, "x", |data, dim| {
        py.detach(|| undertow_core::random::row_keys(data, dim, seed))
    });
    Ok(keys.into_pyarray(py))
}

/// numpy.quantile (linear method) of a float64 vector, by selection instead of a sort.
#[pyfunction]
fn quantiles_f64<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    q: Vec<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let data = x
        .as_slice()
        .map_err(|_| PyTypeError::new_err("x: expected a C-contiguous array"))?;
    let values = py
        .detach(|| quantile::linear_quantiles(data, &q))
        .map_err(to_py)?
        .0;
    Ok(values.into_pyarray(py))
}

/// Mergeable covariance of rows (float64 sums, centred by a shift).
#[pyclass(module = "undertow._core", skip_from_py_object)]
#[derive(Clone)]
pub struct Covariance {
    inner: pca::Covariance,
}

#[pymethods]
impl Covariance {
    #[new]
    fn new(dim: usize) -> PyResult<Self> {
        Ok(Covariance {
            inner: pca::Covariance::new(dim).map_err(to_py)?,
        })
    }
    fn update(&mut self, py: Python<'_>, x: Matrix<'_>) -> PyResult<()> {
        let inner = &mut self.inner;
        with_matrix!(&x, "x", |data, dim| {
            if dim != inner.dim() {
                return Err(UndertowError::new_err(format!(
                    "x: vectors have {dim} dimensions, the accumulator {}",
                    inner.dim()
                )));
            }
            detached(py, || inner.update("x", data))
        })
    }
    fn merge(&mut self, other: &Covariance) -> PyResult<()> {
        self.inner.merge(&other.inner).map_err(to_py)
    }
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn finalize(&self, py: Python<'_>, components: usize) -> PyResult<Pca> {
        let inner = &self.inner;
        Ok(Pca {
            inner: detached(py, || inner.finalize(components))?,
        })
    }
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Covariance {
            inner: pca::Covariance::from_bytes(data).map_err(to_py)?,
        })
    }
}

/// A fitted PCA basis.
#[pyclass(frozen, module = "undertow._core")]
pub struct Pca {
    inner: pca::Pca,
}

#[pymethods]
impl Pca {
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim
    }
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows
    }
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.mean.clone().into_pyarray(py)
    }
    #[getter]
    fn components<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let k = self.inner.k();
        self.inner
            .components
            .clone()
            .into_pyarray(py)
            .reshape([k, self.inner.dim])
    }
    #[getter]
    fn explained_variance<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.explained_variance.clone().into_pyarray(py)
    }
    #[getter]
    fn total_variance(&self) -> f64 {
        self.inner.total_variance
    }
    /// `(x - mean) @ components.T` in the dtype of `x`.
    fn transform<'py>(&self, py: Python<'py>, x: Matrix<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = &self.inner;
        let k = inner.k();
        with_matrix!(&x, "x", |data, dim| {
            if dim != inner.dim {
                return Err(UndertowError::new_err(format!(
                    "x: vectors have {dim} dimensions, the PCA {}",
                    inner.dim
                )));
            }
            let rows = data.len() / dim.max(1);
            let out = detached(py, || inner.transform("x", data))?;
            Ok(out.into_pyarray(py).reshape([rows, k])?.into_any())
        })
    }
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Pca {
            inner: pca::Pca::from_bytes(data).map_err(to_py)?,
        })
    }
}

fn outcome<'py>(py: Python<'py>, o: mmd::MmdOutcome) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("value", o.value)?;
    d.set_item("p_value", o.p_value)?;
    d.set_item("bandwidth", o.bandwidth)?;
    d.set_item("permutations", o.permutations)?;
    d.set_item("n_x", o.n_x)?;
    d.set_item("n_y", o.n_y)?;
    d.set_item("null", o.null.into_pyarray(py))?;
    Ok(d)
}

/// The median-heuristic bandwidth (x and y of one float type).
#[pyfunction]
fn median_bandwidth(py: Python<'_>, x: Matrix<'_>, y: Matrix<'_>, seed: u64) -> PyResult<f64> {
    Ok(with_pair!(&x, &y, ("x", "y"), |xs, ys, dim| {
        detached(py, || mmd::median_bandwidth(xs, ys, dim, seed))?
    }))
}

/// Exact unbiased MMD^2 and its permutation p-value.
#[pyfunction]
#[pyo3(signature = (x, y, bandwidth, permutations, seed))]
fn mmd_exact<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    y: Matrix<'py>,
    bandwidth: f64,
    permutations: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let o = with_pair!(&x, &y, ("x", "y"), |xs, ys, dim| {
        detached(py, || {
            mmd::mmd_exact(xs, ys, dim, bandwidth, permutations, seed)
        })?
    });
    outcome(py, o)
}

/// Random-Fourier-feature MMD accumulator (two sides, mergeable).
#[pyclass(module = "undertow._core", skip_from_py_object)]
#[derive(Clone)]
pub struct Rff {
    inner: rff::Rff,
}

impl Rff {
    fn update_side(
        &mut self,
        py: Python<'_>,
        side: usize,
        x: Matrix<'_>,
        argument: &str,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        with_matrix!(&x, argument, |data, dim| {
            if dim != inner.dim() {
                return Err(UndertowError::new_err(format!(
                    "{argument}: vectors have {dim} dimensions, the accumulator {}",
                    inner.dim()
                )));
            }
            detached(py, || inner.update(side, argument, data))
        })
    }
}

#[pymethods]
impl Rff {
    #[new]
    fn new(dim: usize, bandwidth: f64, features: usize, seed: u64) -> PyResult<Self> {
        Ok(Rff {
            inner: rff::Rff::new(dim, bandwidth, features, seed).map_err(to_py)?,
        })
    }
    fn update_x(&mut self, py: Python<'_>, x: Matrix<'_>) -> PyResult<()> {
        self.update_side(py, 0, x, "x")
    }
    fn update_y(&mut self, py: Python<'_>, y: Matrix<'_>) -> PyResult<()> {
        self.update_side(py, 1, y, "y")
    }
    fn merge(&mut self, other: &Rff) -> PyResult<()> {
        self.inner.merge(&other.inner).map_err(to_py)
    }
    #[getter]
    fn rows(&self) -> (u64, u64) {
        self.inner.rows()
    }
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    #[getter]
    fn features(&self) -> usize {
        self.inner.features()
    }
    #[getter]
    fn bandwidth(&self) -> f64 {
        self.inner.bandwidth()
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed()
    }
    fn finalize<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = &self.inner;
        let o = detached(py, || inner.finalize())?;
        outcome(py, o)
    }
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Rff {
            inner: rff::Rff::from_bytes(data).map_err(to_py)?,
        })
    }
}

fn embedding_kind(kind: &str) -> PyResult<codec::Kind> {
    match kind {
        "reference" => Ok(codec::Kind::EmbeddingReference),
        "accumulator" => Ok(codec::Kind::EmbeddingAccumulator),
        "histogram" => Ok(codec::Kind::Histogram),
        "coverage" => Ok(codec::Kind::CoverageAccumulator),
        "tested_reference" => Ok(codec::Kind::TestedReference),
        other => Err(UndertowError::new_err(format!(
            "kind: unknown embedding state {other:?}"
        ))),
    }
}

/// Wraps a body written by the facade in the envelope (magic, version, kind, length, CRC-32).
#[pyfunction]
fn seal_embedding<'py>(py: Python<'py>, body: &[u8], kind: &str) -> PyResult<Bound<'py, PyBytes>> {
    let mut w = codec::Writer::default();
    w.bytes(body);
    Ok(PyBytes::new(py, &w.finish(embedding_kind(kind)?)))
}

/// Checks the envelope of an embedding state and returns its body.
#[pyfunction]
fn open_embedding<'py>(py: Python<'py>, data: &[u8], kind: &str) -> PyResult<Bound<'py, PyBytes>> {
    let mut r = codec::Reader::open(data, embedding_kind(kind)?).map_err(to_py)?;
    let body = r.bytes().map_err(to_py)?;
    r.finish().map_err(to_py)?;
    Ok(PyBytes::new(py, body))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cosine_pass, m)?)?;
    m.add_function(wrap_pyfunction!(quantiles_f64, m)?)?;
    m.add_function(wrap_pyfunction!(row_keys, m)?)?;
    m.add_function(wrap_pyfunction!(median_bandwidth, m)?)?;
    m.add_function(wrap_pyfunction!(mmd_exact, m)?)?;
    m.add_function(wrap_pyfunction!(seal_embedding, m)?)?;
    m.add_function(wrap_pyfunction!(open_embedding, m)?)?;
    m.add_class::<Covariance>()?;
    m.add_class::<Pca>()?;
    m.add_class::<Rff>()?;
    Ok(())
}
