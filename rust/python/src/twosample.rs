//! Bindings of the two-sample tests: the sorted-sample state behind KS and Wasserstein, and the
//! tests themselves (KS, Wasserstein-1; chi-square, Jensen–Shannon, Hellinger on counts).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use undertow_core::state::NanPolicy;
use undertow_core::twosample::{counts, ecdf, ks, ks_buckets, sorted};
use undertow_core::Error;

use crate::common::{contiguous, detached, to_py};

/// A 1-D array of either float type.
#[derive(FromPyObject)]
enum Vector<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
}

/// Finite values in ascending order plus the count of non-finite ones: the mergeable state of
/// the KS and Wasserstein tests (O(n) memory).
#[pyclass(module = "undertow._core")]
struct SortedSample {
    inner: sorted::SortedSample,
}

#[pymethods]
impl SortedSample {
    #[new]
    fn empty() -> Self {
        SortedSample {
            inner: sorted::SortedSample::default(),
        }
    }

    /// Sorts `values`; `argument` names them in errors.
    #[staticmethod]
    fn from_values(
        py: Python<'_>,
        values: Vector<'_>,
        nan_policy: &str,
        argument: &str,
    ) -> PyResult<Self> {
        let policy = NanPolicy::parse(nan_policy).map_err(to_py)?;
        let inner = match &values {
            Vector::F32(a) => {
                let data = contiguous(a, argument)?;
                detached(py, || {
                    sorted::SortedSample::from_values(data, policy, argument)
                })?
            }
            Vector::F64(a) => {
                let data = contiguous(a, argument)?;
                detached(py, || {
                    sorted::SortedSample::from_values(data, policy, argument)
                })?
            }
        };
        Ok(SortedSample { inner })
    }

    /// Merges another sorted sample into this one (one linear pass).
    fn merge(&mut self, py: Python<'_>, other: PyRef<'_, SortedSample>) -> PyResult<()> {
        let other = &other.inner;
        let inner = &mut self.inner;
        detached(py, || inner.merge(other))
    }

    /// The sorted finite values (a copy).
    fn values<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.values().to_vec().into_pyarray(py)
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn missing(&self) -> u64 {
        self.inner.missing()
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(SortedSample {
            inner: sorted::SortedSample::from_bytes(data).map_err(to_py)?,
        })
    }
}

/// Two-sided two-sample KS of two sorted samples: statistic, pvalue, location, sign, method.
#[pyfunction]
#[pyo3(signature = (expected, actual, method, names))]
fn ks_2samp<'py>(
    py: Python<'py>,
    expected: PyRef<'_, SortedSample>,
    actual: PyRef<'_, SortedSample>,
    method: &str,
    names: (String, String),
) -> PyResult<Bound<'py, PyDict>> {
    let method = ks::Method::parse(method).map_err(to_py)?;
    let (a, b) = (expected.inner.values(), actual.inner.values());
    let r = detached(py, || ks::ks_2samp(a, b, method, (&names.0, &names.1)))?;
    let d = PyDict::new(py);
    d.set_item("statistic", r.statistic)?;
    d.set_item("pvalue", r.pvalue)?;
    d.set_item("location", r.location)?;
    d.set_item("sign", r.sign)?;
    d.set_item("method", r.method.name())?;
    Ok(d)
}

/// Two-sided two-sample KS of two unsorted arrays of one float type (bucket refinement, no
/// full sort): statistic, pvalue, location, sign, method and the finite counts used.
#[pyfunction]
#[pyo3(signature = (expected, actual, method, nan_policy, names))]
fn ks_values<'py>(
    py: Python<'py>,
    expected: Vector<'_>,
    actual: Vector<'_>,
    method: &str,
    nan_policy: &str,
    names: (String, String),
) -> PyResult<Bound<'py, PyDict>> {
    let method = ks::Method::parse(method).map_err(to_py)?;
    let policy = NanPolicy::parse(nan_policy).map_err(to_py)?;
    let names = (names.0.as_str(), names.1.as_str());
    let out = match (&expected, &actual) {
        (Vector::F32(a), Vector::F32(b)) => {
            let (a, b) = (contiguous(a, names.0)?, contiguous(b, names.1)?);
            detached(py, || {
                ks_buckets::ks_2samp_values(a, b, method, policy, names)
            })?
        }
        (Vector::F64(a), Vector::F64(b)) => {
            let (a, b) = (contiguous(a, names.0)?, contiguous(b, names.1)?);
            detached(py, || {
                ks_buckets::ks_2samp_values(a, b, method, policy, names)
            })?
        }
        _ => {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{}, {}: must have the same float dtype (widen float32 to float64 first)",
                names.0, names.1
            )))
        }
    };
    let r = out.result;
    let d = PyDict::new(py);
    d.set_item("statistic", r.statistic)?;
    d.set_item("pvalue", r.pvalue)?;
    d.set_item("location", r.location)?;
    d.set_item("sign", r.sign)?;
    d.set_item("method", r.method.name())?;
    d.set_item("n_expected", out.n_a)?;
    d.set_item("n_actual", out.n_b)?;
    Ok(d)
}

/// Wasserstein-1 distance of two sorted samples.
#[pyfunction]
#[pyo3(signature = (expected, actual, names))]
fn wasserstein(
    py: Python<'_>,
    expected: PyRef<'_, SortedSample>,
    actual: PyRef<'_, SortedSample>,
    names: (String, String),
) -> PyResult<f64> {
    let (a, b) = (expected.inner.values(), actual.inner.values());
    for (sample, name) in [(a, &names.0), (b, &names.1)] {
        if sample.is_empty() {
            return Err(to_py(Error::invalid(
                name.as_str(),
                "has no finite values; the Wasserstein distance needs at least one",
            )));
        }
    }
    detached(py, || Ok(ecdf::wasserstein(a, b)))
}

/// Jensen–Shannon distance of two count vectors (natural log unless `base`).
#[pyfunction]
#[pyo3(signature = (expected, actual, base=None))]
fn jensen_shannon(expected: Vec<u64>, actual: Vec<u64>, base: Option<f64>) -> PyResult<f64> {
    counts::jensen_shannon(&expected, &actual, base).map_err(to_py)
}

/// Hellinger distance of two count vectors.
#[pyfunction]
fn hellinger(expected: Vec<u64>, actual: Vec<u64>) -> PyResult<f64> {
    counts::hellinger(&expected, &actual).map_err(to_py)
}

/// Chi-square test of homogeneity of [expected; actual]: (statistic, pvalue, dof).
#[pyfunction]
#[pyo3(signature = (expected, actual, correction=true))]
fn chi_square(expected: Vec<u64>, actual: Vec<u64>, correction: bool) -> PyResult<(f64, f64, u64)> {
    let c = counts::chi_square(&expected, &actual, correction).map_err(to_py)?;
    Ok((c.statistic, c.pvalue, c.dof))
}

/// scipy.stats.kstwo.sf(x, n), exposed for the tests of the asymptotic KS p-value.
#[pyfunction]
fn kstwo_sf(n: f64, x: f64) -> f64 {
    undertow_core::twosample::kolmogorov::kstwo_sf(n, x)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SortedSample>()?;
    m.add_function(wrap_pyfunction!(ks_2samp, m)?)?;
    m.add_function(wrap_pyfunction!(ks_values, m)?)?;
    m.add_function(wrap_pyfunction!(wasserstein, m)?)?;
    m.add_function(wrap_pyfunction!(jensen_shannon, m)?)?;
    m.add_function(wrap_pyfunction!(hellinger, m)?)?;
    m.add_function(wrap_pyfunction!(chi_square, m)?)?;
    m.add_function(wrap_pyfunction!(kstwo_sf, m)?)?;
    Ok(())
}
