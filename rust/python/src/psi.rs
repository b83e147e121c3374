//! Bindings of the tabular kernels: histogram counts, the PSI reference (fit per column or over
//! a C-ordered matrix) and its mergeable accumulator.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::Arc;
use undertow_core::edges::Binning;
use undertow_core::state::{self, ColumnKind, NanPolicy};

use crate::common::{c_slice, contiguous, detached, to_py, UndertowError};

fn parse_binning(binning: &str, edges: Option<Vec<f64>>) -> PyResult<Binning> {
    match (binning, edges) {
        (_, Some(edges)) => Ok(Binning::Explicit(edges)),
        ("quantile", None) => Ok(Binning::Quantile),
        ("uniform", None) => Ok(Binning::Uniform),
        (other, None) => Err(UndertowError::new_err(format!(
            "binning: must be 'quantile', 'uniform' or an array of edges, got {other:?}"
        ))),
    }
}

fn parse_policy(nan_policy: &str) -> PyResult<NanPolicy> {
    NanPolicy::parse(nan_policy).map_err(to_py)
}

macro_rules! typed_entry_points {
    ($t:ty, $hist:ident, $fit:ident, $fit_rows:ident) => {
        /// Fits every column of a C-ordered matrix (names given per column).
        #[pyfunction]
        #[pyo3(signature = (names, x, bins, binning, edges, nan_policy))]
        fn $fit_rows(
            py: Python<'_>,
            names: Vec<String>,
            x: PyReadonlyArray2<'_, $t>,
            bins: usize,
            binning: &str,
            edges: Option<Vec<f64>>,
            nan_policy: &str,
        ) -> PyResult<Vec<ReferenceColumn>> {
            if x.shape()[1] != names.len() {
                return Err(UndertowError::new_err(format!(
                    "table: matrix has {} columns, expected {}",
                    x.shape()[1],
                    names.len()
                )));
            }
            let data = c_slice(&x, "table")?;
            let binning = parse_binning(binning, edges)?;
            let policy = parse_policy(nan_policy)?;
            let columns = detached(py, || {
                state::fit_numeric_rows(&names, data, bins, &binning, policy)
            })?;
            Ok(columns
                .into_iter()
                .map(|inner| ReferenceColumn { inner })
                .collect())
        }

        /// numpy.histogram counts of `x` for `edges` (last bin closed).
        #[pyfunction]
        fn $hist<'py>(
            py: Python<'py>,
            x: PyReadonlyArray1<'py, $t>,
            edges: Vec<f64>,
        ) -> PyResult<Bound<'py, PyArray1<u64>>> {
            let data = contiguous(&x, "x")?;
            let counts = detached(py, || {
                undertow_core::histogram::histogram_counts(data, &edges)
            })?;
            Ok(counts.into_pyarray(py))
        }

        /// Fits one numeric reference column.
        #[pyfunction]
        #[pyo3(signature = (name, x, bins, binning, edges, nan_policy))]
        fn $fit(
            py: Python<'_>,
            name: &str,
            x: PyReadonlyArray1<'_, $t>,
            bins: usize,
            binning: &str,
            edges: Option<Vec<f64>>,
            nan_policy: &str,
        ) -> PyResult<ReferenceColumn> {
            let data = contiguous(&x, "expected")?;
            let binning = parse_binning(binning, edges)?;
            let policy = parse_policy(nan_policy)?;
            let column = detached(py, || {
                state::PsiReference::fit_numeric(name, data, bins, &binning, policy)
            })?;
            Ok(ReferenceColumn { inner: column })
        }
    };
}

typed_entry_points!(
    f32,
    histogram_counts_f32,
    fit_numeric_f32,
    fit_numeric_rows_f32
);
typed_entry_points!(
    f64,
    histogram_counts_f64,
    fit_numeric_f64,
    fit_numeric_rows_f64
);

/// numpy.histogram counts of int64 `x` for int64 `edges`, compared as integers (exact above
/// 2^53, where float64 is not).
#[pyfunction]
fn histogram_counts_i64<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, i64>,
    edges: Vec<i64>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let data = contiguous(&x, "x")?;
    let counts = detached(py, || {
        undertow_core::histogram::histogram_counts_i64(data, &edges)
    })?;
    Ok(counts.into_pyarray(py))
}

/// P(X > x) for the chi-square distribution with `df` > 0 degrees of freedom.
#[pyfunction]
fn chi2_survival(x: f64, df: f64) -> PyResult<f64> {
    if !(df > 0.0 && df.is_finite()) {
        return Err(UndertowError::new_err(format!(
            "df: must be a positive finite number, got {df}"
        )));
    }
    Ok(undertow_core::special::chi2_survival(x, df))
}

/// Per row of two (rows x bins) int64 count tables: Pearson's X^2 of homogeneity, the
/// populated bins, whether the Monte-Carlo test must give the p-value, the chi-square p-value
/// (NaN where Monte Carlo, 1 where untested) and PSI's noise floor.
#[allow(clippy::type_complexity)]
#[pyfunction]
fn homogeneity_rows<'py>(
    py: Python<'py>,
    expected: PyReadonlyArray2<'py, i64>,
    actual: PyReadonlyArray2<'py, i64>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    if expected.shape() != actual.shape() {
        return Err(UndertowError::new_err(format!(
            "actual: shape {:?} differs from expected's {:?}",
            actual.shape(),
            expected.shape()
        )));
    }
    let (rows, bins) = (expected.shape()[0], expected.shape()[1]);
    let (e, a) = (c_slice(&expected, "expected")?, c_slice(&actual, "actual")?);
    let test = || undertow_core::homogeneity::homogeneity_rows(e, a, rows, bins);
    // A linear pass: small tables (the usual one to a few hundred columns) skip the hand-off
    // to a pool thread, which would cost more than the work.
    let rows = if e.len() <= 1 << 16 {
        test().map_err(to_py)?
    } else {
        detached(py, test)?
    };
    let column = |f: fn(&undertow_core::homogeneity::RowTest) -> f64| {
        rows.iter().map(f).collect::<Vec<f64>>().into_pyarray(py)
    };
    Ok((
        column(|r| r.statistic),
        rows.iter()
            .map(|r| r.populated as u64)
            .collect::<Vec<_>>()
            .into_pyarray(py),
        rows.iter()
            .map(|r| r.monte_carlo)
            .collect::<Vec<_>>()
            .into_pyarray(py),
        column(|r| r.p_value),
        column(|r| r.noise_floor),
    ))
}

/// One fitted reference column (numeric edges or categories, with reference counts).
#[pyclass(frozen, from_py_object, module = "undertow._core")]
#[derive(Clone)]
struct ReferenceColumn {
    inner: state::ReferenceColumn,
}

#[pymethods]
impl ReferenceColumn {
    /// A categorical column from counts the caller computed (one per category, plus unseen=0).
    #[staticmethod]
    fn categorical(name: String, categories: Vec<String>, counts: Vec<u64>, missing: u64) -> Self {
        ReferenceColumn {
            inner: state::ReferenceColumn {
                name,
                kind: ColumnKind::Categorical { categories },
                counts,
                missing,
            },
        }
    }
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
}

/// A fitted PSI reference over named columns.
#[pyclass(frozen, module = "undertow._core")]
struct PsiReference {
    inner: Arc<state::PsiReference>,
}

#[pymethods]
impl PsiReference {
    #[new]
    fn new(
        columns: Vec<ReferenceColumn>,
        nan_policy: &str,
        eps: f64,
        moderate: f64,
        significant: f64,
    ) -> PyResult<Self> {
        let columns = columns.into_iter().map(|c| c.inner).collect();
        let reference = state::PsiReference::new(
            columns,
            parse_policy(nan_policy)?,
            eps,
            moderate,
            significant,
        )
        .map_err(to_py)?;
        Ok(PsiReference {
            inner: Arc::new(reference),
        })
    }

    /// Per column: (name, kind, edges or categories, counts, missing).
    fn columns<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .columns
            .iter()
            .map(|c| {
                let d = PyDict::new(py);
                d.set_item("name", &c.name)?;
                match &c.kind {
                    ColumnKind::Numeric { edges } => {
                        d.set_item("kind", "numeric")?;
                        d.set_item("edges", edges.clone().into_pyarray(py))?;
                    }
                    ColumnKind::Categorical { categories } => {
                        d.set_item("kind", "categorical")?;
                        d.set_item("categories", categories.clone())?;
                    }
                }
                d.set_item("counts", c.counts.clone().into_pyarray(py))?;
                d.set_item("missing", c.missing)?;
                Ok(d)
            })
            .collect()
    }

    #[getter]
    fn nan_policy(&self) -> &'static str {
        self.inner.nan_policy.name()
    }
    #[getter]
    fn eps(&self) -> f64 {
        self.inner.eps
    }
    #[getter]
    fn thresholds(&self) -> (f64, f64) {
        (self.inner.moderate, self.inner.significant)
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(PsiReference {
            inner: Arc::new(state::PsiReference::from_bytes(data).map_err(to_py)?),
        })
    }
}

/// Current-side counts against a PsiReference; mergeable.
#[pyclass(module = "undertow._core")]
struct PsiAccumulator {
    inner: state::PsiAccumulator,
}

fn update_one<T: numpy::Element + undertow_core::sample::Sample>(
    py: Python<'_>,
    inner: &mut state::PsiAccumulator,
    column: usize,
    x: PyReadonlyArray1<'_, T>,
) -> PyResult<()> {
    let data = contiguous(&x, "actual")?;
    detached(py, || inner.update_numeric(column, data))
}

fn count_one<T: numpy::Element + undertow_core::sample::Sample>(
    py: Python<'_>,
    inner: &state::PsiAccumulator,
    column: usize,
    x: PyReadonlyArray1<'_, T>,
) -> PyResult<(Vec<u64>, u64)> {
    let data = contiguous(&x, "actual")?;
    detached(py, || inner.count_numeric(column, data))
}

fn update_rows<T: numpy::Element + undertow_core::sample::Sample>(
    py: Python<'_>,
    inner: &mut state::PsiAccumulator,
    columns: Vec<usize>,
    x: PyReadonlyArray2<'_, T>,
) -> PyResult<()> {
    let width = x.shape()[1];
    if width != columns.len() {
        return Err(UndertowError::new_err(format!(
            "actual: matrix has {width} columns, expected {}",
            columns.len()
        )));
    }
    let data = c_slice(&x, "actual")?;
    detached(py, || inner.update_numeric_rows(&columns, data))
}

#[pymethods]
impl PsiAccumulator {
    #[new]
    fn new(reference: &PsiReference) -> Self {
        PsiAccumulator {
            inner: state::PsiAccumulator::new(reference.inner.clone()),
        }
    }

    /// Adds one numeric float32 column (1-D, C-contiguous).
    fn update_f32(
        &mut self,
        py: Python<'_>,
        column: usize,
        x: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        update_one(py, &mut self.inner, column, x)
    }
    /// Adds one numeric float64 column (1-D, C-contiguous).
    fn update_f64(
        &mut self,
        py: Python<'_>,
        column: usize,
        x: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        update_one(py, &mut self.inner, column, x)
    }
    /// One numeric float32 column's (bin counts, missing count), refused under
    /// nan_policy="raise" as `update_f32`, not added: `update_counts_all` adds them.
    fn count_f32(
        &self,
        py: Python<'_>,
        column: usize,
        x: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<(Vec<u64>, u64)> {
        count_one(py, &self.inner, column, x)
    }
    /// `count_f32` for a float64 column.
    fn count_f64(
        &self,
        py: Python<'_>,
        column: usize,
        x: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<(Vec<u64>, u64)> {
        count_one(py, &self.inner, column, x)
    }
    /// Adds a C-ordered float32 matrix whose columns are the reference columns `columns`.
    fn update_rows_f32(
        &mut self,
        py: Python<'_>,
        columns: Vec<usize>,
        x: PyReadonlyArray2<'_, f32>,
    ) -> PyResult<()> {
        update_rows(py, &mut self.inner, columns, x)
    }
    /// Adds a C-ordered float64 matrix whose columns are the reference columns `columns`.
    fn update_rows_f64(
        &mut self,
        py: Python<'_>,
        columns: Vec<usize>,
        x: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<()> {
        update_rows(py, &mut self.inner, columns, x)
    }

    fn update_counts(&mut self, column: usize, counts: Vec<u64>, missing: u64) -> PyResult<()> {
        self.inner
            .update_counts(column, &counts, missing)
            .map_err(to_py)
    }

    /// A table's counts added at once, or none when any is refused: `dense` holds (column,
    /// bin counts, missing) of numeric columns, `sparse` (column, bin indices, counts, missing)
    /// of categorical ones.
    #[allow(clippy::type_complexity)]
    fn update_counts_all(
        &mut self,
        dense: Vec<(usize, Vec<u64>, u64)>,
        sparse: Vec<(
            usize,
            PyReadonlyArray1<'_, u64>,
            PyReadonlyArray1<'_, u64>,
            u64,
        )>,
    ) -> PyResult<()> {
        let dense: Vec<(usize, &[u64], u64)> = dense
            .iter()
            .map(|(c, n, m)| (*c, n.as_slice(), *m))
            .collect();
        let sparse: Vec<(usize, &[u64], &[u64], u64)> = sparse
            .iter()
            .map(|(c, i, n, m)| Ok((*c, contiguous(i, "indices")?, contiguous(n, "counts")?, *m)))
            .collect::<PyResult<_>>()?;
        self.inner.update_counts_all(&dense, &sparse).map_err(to_py)
    }

    /// Adds `counts[k]` to bin `indices[k]` of `column`: a batch's categories only.
    fn update_counts_sparse(
        &mut self,
        column: usize,
        indices: PyReadonlyArray1<'_, u64>,
        counts: PyReadonlyArray1<'_, u64>,
        missing: u64,
    ) -> PyResult<()> {
        let indices = contiguous(&indices, "indices")?;
        let counts = contiguous(&counts, "counts")?;
        self.inner
            .update_counts_sparse(column, indices, counts, missing)
            .map_err(to_py)
    }

    fn merge(&mut self, other: &PsiAccumulator) -> PyResult<()> {
        self.inner.merge(&other.inner).map_err(to_py)
    }

    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    #[getter]
    fn reference(&self) -> PsiReference {
        PsiReference {
            inner: self.inner.reference().clone(),
        }
    }

    /// Per column: a dict of value, status, counts and proportions.
    fn finalize<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let results = self.inner.finalize().map_err(to_py)?;
        results
            .into_iter()
            .map(|r| {
                let d = PyDict::new(py);
                d.set_item("value", r.value)?;
                d.set_item("status", r.status)?;
                d.set_item("expected_counts", r.expected_counts.into_pyarray(py))?;
                d.set_item("actual_counts", r.actual_counts.into_pyarray(py))?;
                d.set_item(
                    "expected_proportions",
                    r.expected_proportions.into_pyarray(py),
                )?;
                d.set_item("actual_proportions", r.actual_proportions.into_pyarray(py))?;
                d.set_item("expected_missing", r.expected_missing)?;
                d.set_item("actual_missing", r.actual_missing)?;
                Ok(d)
            })
            .collect()
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(PsiAccumulator {
            inner: state::PsiAccumulator::from_bytes(data).map_err(to_py)?,
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(histogram_counts_f32, m)?)?;
    m.add_function(wrap_pyfunction!(histogram_counts_f64, m)?)?;
    m.add_function(wrap_pyfunction!(histogram_counts_i64, m)?)?;
    m.add_function(wrap_pyfunction!(chi2_survival, m)?)?;
    m.add_function(wrap_pyfunction!(homogeneity_rows, m)?)?;
    m.add_function(wrap_pyfunction!(fit_numeric_f32, m)?)?;
    m.add_function(wrap_pyfunction!(fit_numeric_f64, m)?)?;
    m.add_function(wrap_pyfunction!(fit_numeric_rows_f32, m)?)?;
    m.add_function(wrap_pyfunction!(fit_numeric_rows_f64, m)?)?;
    m.add_class::<ReferenceColumn>()?;
    m.add_class::<PsiReference>()?;
    m.add_class::<PsiAccumulator>()?;
    Ok(())
}
