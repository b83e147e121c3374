//! Cosine statistics of embedding rows: unit-vector centroids, norms and each row's cosine to a
//! centroid, in one pass over the rows with float64 accumulation.

use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::simd::{axpy, dispatch, norm2, norm2_dot, Element};

/// Rows per task: partial sums are kept per task and added in task order (deterministic).
const CHUNK_ROWS: usize = 1024;
/// How many offending row indices an error message names.
const NAMED_ROWS: usize = 5;

/// Mergeable sums over rows. `unit_sum` is the sum of the unit-normalized rows.
#[derive(Clone, Debug, PartialEq)]
pub struct RowStats {
    pub rows: u64,
    pub unit_sum: Vec<f64>,
    pub norm_sum: f64,
    pub off_norm: u64,
    pub zero_rows: u64,
    pub zero_first: Vec<u64>,
    pub nonfinite_rows: u64,
    pub nonfinite_first: Vec<u64>,
}

impl RowStats {
    pub fn new(dim: usize) -> RowStats {
        RowStats {
            rows: 0,
            unit_sum: vec![0.0; dim],
            norm_sum: 0.0,
            off_norm: 0,
            zero_rows: 0,
            zero_first: Vec::new(),
            nonfinite_rows: 0,
            nonfinite_first: Vec::new(),
        }
    }

    /// Adds `other`, whose rows come after ours (row indices are shifted by our row count).
    pub fn merge(&mut self, other: &RowStats) {
        let shift = self.rows;
        let keep = |mine: &mut Vec<u64>, theirs: &[u64]| {
            for &i in theirs {
                if mine.len() < NAMED_ROWS {
                    mine.push(i + shift);
                }
            }
        };
        keep(&mut self.zero_first, &other.zero_first);
        keep(&mut self.nonfinite_first, &other.nonfinite_first);
        self.rows += other.rows;
        for (a, b) in self.unit_sum.iter_mut().zip(&other.unit_sum) {
            *a += b;
        }
        self.norm_sum += other.norm_sum;
        self.off_norm += other.off_norm;
        self.zero_rows += other.zero_rows;
        self.nonfinite_rows += other.nonfinite_rows;
    }

    /// An error naming the argument when any row was NaN/inf or zero.
    pub fn check(&self, argument: &str) -> Result<()> {
        let list = |v: &[u64]| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.nonfinite_rows > 0 {
            return Err(Error::invalid(
                argument,
                format!(
                    "{} rows hold NaN or inf (first rows: {})",
                    self.nonfinite_rows,
                    list(&self.nonfinite_first)
                ),
            ));
        }
        if self.zero_rows > 0 {
            return Err(Error::invalid(
                argument,
                format!(
                    "{} zero vectors have no direction, so no cosine (first rows: {})",
                    self.zero_rows,
                    list(&self.zero_first)
                ),
            ));
        }
        Ok(())
    }

    /// The mean of the unit rows (not normalized).
    pub fn centroid(&self) -> Vec<f64> {
        let n = self.rows.max(1) as f64;
        self.unit_sum.iter().map(|v| v / n).collect()
    }
}

/// Checks that `data` holds whole rows of `dim` values; returns the row count.
pub fn rows_of(argument: &str, len: usize, dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(Error::invalid(argument, "vectors have 0 dimensions"));
    }
    if !len.is_multiple_of(dim) {
        return Err(Error::invalid(
            argument,
            format!("{len} values are not whole rows of {dim}"),
        ));
    }
    Ok(len / dim)
}

/// Unit vector of `v` (an error for a zero or non-finite vector).
pub fn unit(argument: &str, v: &[f64]) -> Result<Vec<f64>> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return Err(Error::invalid(
            argument,
            "the centroid is the zero vector (the rows cancel out)",
        ));
    }
    Ok(v.iter().map(|x| x / norm).collect())
}

/// One pass over `data` (rows of `dim`): row statistics and, when `direction` (a unit vector) is
/// given, every row's cosine to it. Rows with NaN/inf or zero norm are counted (never divided);
/// their cosine is left at 0 and the caller reports the error via `RowStats::check`.
pub fn row_pass<T: Element>(
    data: &[T],
    dim: usize,
    direction: Option<&[f64]>,
    norm_tolerance: f64,
) -> (RowStats, Vec<f64>) {
    let rows = data.len() / dim;
    let tasks = rows.div_ceil(CHUNK_ROWS);
    let parts = map_indexed(tasks, |t| {
        let start = t * CHUNK_ROWS;
        let end = (start + CHUNK_ROWS).min(rows);
        let block = &data[start * dim..end * dim];
        dispatch(
            #[inline(always)]
            || chunk_pass(block, dim, start as u64, direction, norm_tolerance),
        )
    });
    let mut stats = RowStats::new(dim);
    let mut cosines = Vec::with_capacity(if direction.is_some() { rows } else { 0 });
    for (part, cos) in parts {
        stats.merge_in_order(&part);
        cosines.extend_from_slice(&cos);
    }
    (stats, cosines)
}

impl RowStats {
    /// Like `merge`, for parts whose row indices are already absolute.
    fn merge_in_order(&mut self, other: &RowStats) {
        let rows = self.rows;
        self.rows = 0;
        self.merge(other);
        self.rows += rows;
    }
}

#[inline(always)]
fn chunk_pass<T: Element>(
    block: &[T],
    dim: usize,
    first_row: u64,
    direction: Option<&[f64]>,
    norm_tolerance: f64,
) -> (RowStats, Vec<f64>) {
    let mut stats = RowStats::new(dim);
    let mut cosines = Vec::new();
    for (i, row) in block.chunks_exact(dim).enumerate() {
        let (n2, dot) = match direction {
            Some(c) => norm2_dot(row, c),
            None => (norm2(row), 0.0),
        };
        stats.rows += 1;
        let index = first_row + i as u64;
        if !n2.is_finite() {
            stats.nonfinite_rows += 1;
            if stats.nonfinite_first.len() < NAMED_ROWS {
                stats.nonfinite_first.push(index);
            }
            if direction.is_some() {
                cosines.push(0.0);
            }
            continue;
        }
        if n2 == 0.0 {
            stats.zero_rows += 1;
            if stats.zero_first.len() < NAMED_ROWS {
                stats.zero_first.push(index);
            }
            if direction.is_some() {
                cosines.push(0.0);
            }
            continue;
        }
        let norm = n2.sqrt();
        stats.norm_sum += norm;
        if (norm - 1.0).abs() > norm_tolerance {
            stats.off_norm += 1;
        }
        axpy(&mut stats.unit_sum, row, 1.0 / norm);
        if direction.is_some() {
            cosines.push(dot / norm);
        }
    }
    (stats, cosines)
}

/// `1 - cos(a, b)` of two (not necessarily unit) vectors.
pub fn cosine_distance(argument: &str, a: &[f64], b: &[f64]) -> Result<f64> {
    let ua = unit(argument, a)?;
    let ub = unit(argument, b)?;
    let cos: f64 = ua.iter().zip(&ub).map(|(x, y)| x * y).sum();
    Ok(1.0 - cos.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroid_and_cosines_by_hand() {
        // Rows (3,4) and (0,2): unit rows (0.6,0.8) and (0,1); centroid (0.3, 0.9).
        let data = [3.0f32, 4.0, 0.0, 2.0];
        let (stats, _) = row_pass(&data, 2, None, 0.01);
        assert_eq!(stats.rows, 2);
        assert!((stats.unit_sum[0] - 0.6).abs() < 1e-15 && (stats.unit_sum[1] - 1.8).abs() < 1e-15);
        assert_eq!(stats.norm_sum, 7.0);
        assert_eq!(stats.off_norm, 2);
        let c = unit("c", &stats.centroid()).unwrap();
        let (_, cos) = row_pass(&data, 2, Some(&c), 0.01);
        let want0 = (0.6 * 0.3 + 0.8 * 0.9) / (0.3f64.hypot(0.9));
        assert!((cos[0] - want0).abs() < 1e-15);
    }

    #[test]
    fn zero_and_nan_rows_are_named() {
        let mut data = vec![1.0f64; 3 * 3000];
        data[3 * 2500..3 * 2501].fill(0.0);
        data[3 * 7 + 1] = f64::NAN;
        let (stats, _) = row_pass(&data, 3, None, 0.01);
        assert_eq!((stats.zero_rows, stats.zero_first.clone()), (1, vec![2500]));
        assert_eq!(stats.nonfinite_first, vec![7]);
        let msg = stats.check("current").unwrap_err().to_string();
        assert!(msg.starts_with("current: 1 rows hold NaN"), "{msg}");
    }
}
