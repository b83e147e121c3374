//! PCA from a mergeable covariance accumulator.
//!
//! Rows are centred by a shift (the first row seen) before their cross-products are summed, so
//! the float64 sums do not cancel catastrophically when the mean is large next to the spread.
//! Each task turns 1024 rows into float64 and forms the lower triangle of their Gram matrix with
//! faer; tasks run in rounds and their partials are added in task order, so the result does not
//! depend on the thread count. The eigen-decomposition of the d x d covariance is faer's.

use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, Mat, MatRef, Par, Side};

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::codec::{Kind, Reader, Writer};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::simd::{norm2, Element};

const CHUNK_ROWS: usize = 1024;
const ROUND: usize = 8;

#[derive(Clone, Debug, PartialEq)]
pub struct Covariance {
    dim: usize,
    rows: u64,
    shift: Vec<f64>,
    sum: Vec<f64>,
    /// Lower triangle, row-major packed: entry (i, j), j <= i, at i*(i+1)/2 + j.
    cross: Vec<f64>,
}

fn packed(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

/// How many values of `data` are NaN or inf, and the first (up to 5) rows holding one.
pub fn nonfinite_rows<T: Element>(data: &[T], dim: usize) -> (usize, Vec<usize>) {
    let mut count = 0;
    let mut rows: Vec<usize> = Vec::new();
    for (p, v) in data.iter().enumerate() {
        if !v.is_finite_value() {
            count += 1;
            let row = p / dim;
            if rows.len() < 5 && rows.last() != Some(&row) {
                rows.push(row);
            }
        }
    }
    (count, rows)
}

pub fn check_finite<T: Element>(argument: &str, data: &[T], dim: usize) -> Result<()> {
    // The common case is one vectorizable scan; the counting pass runs only on bad input.
    if data.iter().all(|v| v.is_finite_value()) {
        return Ok(());
    }
    let (count, rows) = nonfinite_rows(data, dim);
    let rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    Err(Error::invalid(
        argument,
        format!(
            "{count} values are NaN or inf (first rows: {})",
            rows.join(", ")
        ),
    ))
}

/// The error for finite values whose squares or sums overflow float64.
pub fn overflow(argument: &str) -> Error {
    Error::invalid(
        argument,
        "values are too large: their squares or sums overflow float64 (|x| above about 1e154); \
         rescale the data",
    )
}

/// Refuses rows whose squared distance to `centre` overflows float64 (each row's cross-products
/// are bounded by it), before any sum is changed.
pub fn check_squares<T: Element>(
    argument: &str,
    data: &[T],
    dim: usize,
    centre: &[f64],
) -> Result<()> {
    let mut row = vec![0.0f64; dim];
    for x in data.chunks_exact(dim) {
        for ((r, v), c) in row.iter_mut().zip(x).zip(centre) {
            *r = v.f64() - c;
        }
        if !norm2(&row).is_finite() {
            return Err(overflow(argument));
        }
    }
    Ok(())
}

impl Covariance {
    pub fn new(dim: usize) -> Result<Covariance> {
        if dim == 0 {
            return Err(Error::invalid("dim", "must be at least 1"));
        }
        let what = format!("a covariance of dim={dim} (dim*(dim+1)/2 float64 sums)");
        let packed_len = product(&what, dim, dim.saturating_add(1))? / 2;
        Ok(Covariance {
            dim,
            rows: 0,
            shift: Vec::new(),
            sum: filled(&what, dim, 0.0)?,
            cross: filled(&what, packed_len, 0.0)?,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn update<T: Element>(&mut self, argument: &str, data: &[T]) -> Result<()> {
        let d = self.dim;
        let rows = rows_of(argument, data.len(), d)?;
        if rows == 0 {
            return Ok(());
        }
        check_finite(argument, data, d)?;
        // Each of the ROUND tasks in flight holds a d x d Gram matrix and its rows in float64.
        let scratch = (d as u128) * (d as u128 + CHUNK_ROWS as u128) * ROUND as u128;
        check_bytes(
            &format!("updating a covariance of dim={d} ({ROUND} blocks in flight)"),
            bytes_of::<f64>(scratch),
        )?;
        let shift: Vec<f64> = if self.shift.is_empty() {
            data[..d].iter().map(|v| v.f64()).collect()
        } else {
            self.shift.clone()
        };
        check_squares(argument, data, d, &shift)?;
        self.shift = shift;
        let tasks = rows.div_ceil(CHUNK_ROWS);
        for round in (0..tasks).step_by(ROUND) {
            let count = ROUND.min(tasks - round);
            let parts = map_indexed(count, |t| {
                let start = (round + t) * CHUNK_ROWS;
                let end = (start + CHUNK_ROWS).min(rows);
                self.block(&data[start * d..end * d])
            });
            for (sum, gram) in parts {
                for (a, b) in self.sum.iter_mut().zip(&sum) {
                    *a += b;
                }
                for i in 0..d {
                    let row = &mut self.cross[packed(i, 0)..=packed(i, i)];
                    for (j, a) in row.iter_mut().enumerate() {
                        *a += gram[(i, j)];
                    }
                }
            }
        }
        self.rows += rows as u64;
        Ok(())
    }

    /// Sum and lower Gram matrix of one block of rows, centred by the shift.
    fn block<T: Element>(&self, block: &[T]) -> (Vec<f64>, Mat<f64>) {
        let d = self.dim;
        let rows = block.len() / d;
        let mut centred = vec![0.0f64; block.len()];
        let mut sum = vec![0.0f64; d];
        for (out, row) in centred.chunks_exact_mut(d).zip(block.chunks_exact(d)) {
            for ((o, &v), (s, &c)) in out.iter_mut().zip(row).zip(sum.iter_mut().zip(&self.shift)) {
                *o = v.f64() - c;
                *s += *o;
            }
        }
        let y = MatRef::from_row_major_slice(&centred, rows, d);
        let mut gram = Mat::<f64>::zeros(d, d);
        matmul(
            gram.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            y.transpose(),
            BlockStructure::Rectangular,
            y,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        (sum, gram)
    }

    pub fn merge(&mut self, other: &Covariance) -> Result<()> {
        if other.dim != self.dim {
            return Err(Error::invalid(
                "other",
                format!("has dimension {}, this accumulator {}", other.dim, self.dim),
            ));
        }
        if other.rows == 0 {
            return Ok(());
        }
        // Loaded states can claim any row count; a wrapped one would be a wrong covariance.
        let rows = self
            .rows
            .checked_add(other.rows)
            .ok_or_else(|| Error::invalid("other", "the row counts together pass 2**64"))?;
        if self.rows == 0 {
            *self = other.clone();
            return Ok(());
        }
        // Re-centre the other's sums on our shift: x - s = (x - s_o) + delta.
        let n = other.rows as f64;
        let delta: Vec<f64> = other
            .shift
            .iter()
            .zip(&self.shift)
            .map(|(a, b)| a - b)
            .collect();
        for i in 0..self.dim {
            for j in 0..=i {
                self.cross[packed(i, j)] += other.cross[packed(i, j)]
                    + delta[i] * other.sum[j]
                    + other.sum[i] * delta[j]
                    + n * delta[i] * delta[j];
            }
        }
        for ((s, o), d) in self.sum.iter_mut().zip(&other.sum).zip(&delta) {
            *s += o + n * d;
        }
        self.rows = rows;
        Ok(())
    }

    pub fn mean(&self) -> Vec<f64> {
        let n = self.rows.max(1) as f64;
        self.shift
            .iter()
            .zip(&self.sum)
            .map(|(s, t)| s + t / n)
            .collect()
    }

    /// The covariance matrix (ddof = 1), full and symmetric.
    pub fn covariance(&self) -> Result<Mat<f64>> {
        if self.rows < 2 {
            return Err(Error::invalid(
                "x",
                format!("needs at least 2 rows for a covariance, got {}", self.rows),
            ));
        }
        let n = self.rows as f64;
        let d = self.dim;
        // Merged or many huge rows can overflow the sums even when each row's square did not.
        if !self.sum.iter().chain(&self.cross).all(|v| v.is_finite()) {
            return Err(overflow("x"));
        }
        let mut cov = Mat::<f64>::zeros(d, d);
        for i in 0..d {
            for j in 0..=i {
                let v = (self.cross[packed(i, j)] - self.sum[i] * self.sum[j] / n) / (n - 1.0);
                // Finite sums near the float64 limit (from a loaded state, or inputs of 1e155
                // and more) overflow here; a NaN matrix would give NaN axes, not an error.
                if !v.is_finite() {
                    return Err(Error::invalid(
                        "x",
                        "values are too large: the covariance overflows float64",
                    ));
                }
                cov[(i, j)] = v;
                cov[(j, i)] = v;
            }
        }
        Ok(cov)
    }

    pub fn finalize(&self, components: usize) -> Result<Pca> {
        let d = self.dim;
        if components == 0 || components > d {
            return Err(Error::invalid(
                "components",
                format!("must be between 1 and the dimension {d}, got {components}"),
            ));
        }
        // The covariance and faer's eigenvectors and workspace: about three d x d matrices.
        check_bytes(
            &format!("the eigen-decomposition of a dim={d} covariance"),
            bytes_of::<f64>(3 * (d as u128) * (d as u128)),
        )?;
        let cov = self.covariance()?;
        let total_variance: f64 = (0..d).map(|i| cov[(i, i)]).sum();
        let eigen = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| Error::invalid("x", format!("eigen-decomposition failed: {e:?}")))?;
        let values = eigen.S().column_vector();
        let vectors = eigen.U();
        if !(0..d).all(|i| values[i].is_finite()) || !total_variance.is_finite() {
            return Err(overflow("x"));
        }
        let mut axes = Vec::with_capacity(components * d);
        let mut variance = Vec::with_capacity(components);
        // faer sorts eigenvalues ascending: take the largest first.
        for c in (d - components..d).rev() {
            let col: Vec<f64> = (0..d).map(|i| vectors[(i, c)]).collect();
            let (mut big, mut sign) = (0.0f64, 1.0f64);
            for &v in &col {
                if v.abs() > big {
                    big = v.abs();
                    sign = v.signum();
                }
            }
            axes.extend(col.iter().map(|v| v * sign));
            // Rounding can leave a zero eigenvalue slightly negative.
            variance.push(values[c].max(0.0));
        }
        Ok(Pca {
            dim: d,
            rows: self.rows,
            mean: self.mean(),
            components: axes,
            explained_variance: variance,
            total_variance,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.dim as u64);
        w.u64(self.rows);
        w.f64s(&self.shift);
        w.f64s(&self.sum);
        w.f64s(&self.cross);
        w.finish(Kind::Covariance)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Covariance> {
        let mut r = Reader::open(bytes, Kind::Covariance)?;
        let dim = r.u64()? as usize;
        let rows = r.u64()?;
        let shift = r.f64s()?;
        let sum = r.f64s()?;
        let cross = r.f64s()?;
        r.finish()?;
        let bad = |m: &str| Err(Error::InvalidState(format!("covariance: {m}")));
        // `sum` is backed by the body, so `dim` is bounded by the input and the product below
        // cannot overflow; checked anyway.
        let packed_len = dim
            .checked_add(1)
            .and_then(|d1| dim.checked_mul(d1))
            .map(|p| p / 2);
        if dim == 0 || sum.len() != dim || packed_len != Some(cross.len()) {
            return bad("lengths do not match the dimension");
        }
        if (rows == 0) != shift.is_empty() || (!shift.is_empty() && shift.len() != dim) {
            return bad("the shift does not match the row count");
        }
        if !all_finite(&shift) || !all_finite(&sum) || !all_finite(&cross) {
            return bad("a sum is NaN or infinite");
        }
        if rows == 0 && (sum.iter().any(|&v| v != 0.0) || cross.iter().any(|&v| v != 0.0)) {
            return bad("no rows but non-zero sums");
        }
        Ok(Covariance {
            dim,
            rows,
            shift,
            sum,
            cross,
        })
    }
}

fn all_finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    pub dim: usize,
    pub rows: u64,
    pub mean: Vec<f64>,
    /// `k` unit axes of `dim` values each, row-major, by decreasing variance.
    pub components: Vec<f64>,
    pub explained_variance: Vec<f64>,
    pub total_variance: f64,
}

impl Pca {
    pub fn k(&self) -> usize {
        self.explained_variance.len()
    }

    /// `(x - mean) @ components.T`, rows of `k`. float32 input is projected in float32 by faer
    /// after the mean's projection is taken out in float64.
    pub fn transform<T: Element + faer::traits::ComplexField>(
        &self,
        argument: &str,
        data: &[T],
    ) -> Result<Vec<T>> {
        let d = self.dim;
        let rows = rows_of(argument, data.len(), d)?;
        check_finite(argument, data, d)?;
        let k = self.k();
        let axes: Vec<T> = self.components.iter().map(|&v| T::from_f64(v)).collect();
        let offset: Vec<f64> = (0..k)
            .map(|c| {
                let axis = &self.components[c * d..(c + 1) * d];
                axis.iter().zip(&self.mean).map(|(a, m)| a * m).sum()
            })
            .collect();
        let v = MatRef::from_row_major_slice(&axes, k, d);
        let chunk = 4096;
        let parts = map_indexed(rows.div_ceil(chunk), |t| {
            let start = t * chunk;
            let end = (start + chunk).min(rows);
            let x = MatRef::from_row_major_slice(&data[start * d..end * d], end - start, d);
            // Column-major (k x rows): column i is row i's projection, contiguous.
            let mut out = Mat::<T>::zeros(k, end - start);
            faer::linalg::matmul::matmul(
                out.as_mut(),
                Accum::Replace,
                v,
                x.transpose(),
                T::from_f64(1.0),
                Par::Seq,
            );
            let mut flat = Vec::with_capacity((end - start) * k);
            for i in 0..end - start {
                let column = out.col(i);
                for (c, off) in offset.iter().enumerate() {
                    flat.push(T::from_f64(column[c].f64() - off));
                }
            }
            flat
        });
        Ok(parts.concat())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.write(&mut w);
        w.finish(Kind::Pca)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Pca> {
        let mut r = Reader::open(bytes, Kind::Pca)?;
        let pca = Pca::read(&mut r)?;
        r.finish()?;
        Ok(pca)
    }

    pub fn write(&self, w: &mut Writer) {
        w.u64(self.dim as u64);
        w.u64(self.rows);
        w.f64s(&self.mean);
        w.f64s(&self.components);
        w.f64s(&self.explained_variance);
        w.f64(self.total_variance);
    }

    pub fn read(r: &mut Reader) -> Result<Pca> {
        let dim = r.u64()? as usize;
        let rows = r.u64()?;
        let mean = r.f64s()?;
        let components = r.f64s()?;
        let explained_variance = r.f64s()?;
        let total_variance = r.f64()?;
        let k = explained_variance.len();
        let bad = |m: &str| Err(Error::InvalidState(format!("PCA: {m}")));
        if dim == 0
            || mean.len() != dim
            || k == 0
            || k > dim
            || k.checked_mul(dim) != Some(components.len())
        {
            return bad("lengths do not match the dimension");
        }
        if rows < 2 {
            return bad(&format!("fitted on {rows} rows (a covariance needs 2)"));
        }
        if !all_finite(&mean) || !all_finite(&components) {
            return bad("the mean or an axis is NaN or infinite");
        }
        // Axes are unit vectors (faer's eigenvectors, normalized to rounding).
        if components
            .chunks_exact(dim)
            .any(|axis| (axis.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() > 1e-6)
        {
            return bad("an axis is not a unit vector");
        }
        if !(total_variance.is_finite() && total_variance >= 0.0)
            || explained_variance
                .iter()
                .any(|v| !(v.is_finite() && *v >= 0.0))
            || explained_variance.windows(2).any(|w| w[0] < w[1])
        {
            return bad("variances must be finite, non-negative and decreasing");
        }
        Ok(Pca {
            dim,
            rows,
            mean,
            components,
            explained_variance,
            total_variance,
        })
    }
}
