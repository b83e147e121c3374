//! Per-row measures over stored vectors, for the index auditor: every row's Euclidean norm and
//! every row's squared distance to an assigned centroid (an IVF list's). One pass each, float64
//! accumulation, all cores; a row holding NaN or inf yields NaN or inf rather than an error, so
//! the auditor can name such rows instead of refusing the index.

use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::simd::{norm2, Element};

const ROWS_PER_TASK: usize = 8192;

fn per_row<T, F>(x: &[T], dim: usize, measure: F) -> Vec<f64>
where
    T: Element,
    F: Fn(usize, &[T]) -> f64 + Sync + Send,
{
    let n = x.len() / dim;
    let tasks = n.div_ceil(ROWS_PER_TASK);
    map_indexed(tasks, |t| {
        let (r0, r1) = (t * ROWS_PER_TASK, ((t + 1) * ROWS_PER_TASK).min(n));
        x[r0 * dim..r1 * dim]
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, row)| measure(r0 + i, row))
            .collect::<Vec<f64>>()
    })
    .concat()
}

/// The Euclidean norm of every row of `x` (`dim` columns).
pub fn row_norms<T: Element>(x: &[T], dim: usize) -> Result<Vec<f64>> {
    rows_of("vectors", x.len(), dim)?;
    Ok(per_row(x, dim, |_, row| norm2(row).sqrt()))
}

/// The squared Euclidean distance of row i of `x` to row `assign[i]` of `centroids`.
pub fn assigned_distances<T: Element>(
    x: &[T],
    dim: usize,
    centroids: &[f32],
    assign: &[i64],
) -> Result<Vec<f64>> {
    let n = rows_of("vectors", x.len(), dim)?;
    let lists = rows_of("centroids", centroids.len(), dim)?;
    if assign.len() != n {
        return Err(Error::invalid(
            "assign",
            format!("has {} entries for {n} rows", assign.len()),
        ));
    }
    if let Some(bad) = assign.iter().find(|&&a| a < 0 || a as usize >= lists) {
        return Err(Error::invalid(
            "assign",
            format!("list {bad} is outside 0..{lists}"),
        ));
    }
    Ok(per_row(x, dim, |i, row| {
        let c = &centroids[assign[i] as usize * dim..(assign[i] as usize + 1) * dim];
        row.iter()
            .zip(c)
            .map(|(&a, &b)| {
                let d = a.f64() - b as f64;
                d * d
            })
            .sum()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_and_distances_by_hand() {
        let x = [3.0f32, 4.0, 0.0, 0.0, f32::NAN, 1.0];
        let norms = row_norms(&x, 2).unwrap();
        assert_eq!(&norms[..2], &[5.0, 0.0]);
        assert!(norms[2].is_nan());
        let centroids = [0.0f32, 0.0, 3.0, 5.0];
        let d = assigned_distances(&x[..4], 2, &centroids, &[1, 0]).unwrap();
        assert_eq!(d, vec![1.0, 0.0]);
        assert!(assigned_distances(&x[..4], 2, &centroids, &[2, 0]).is_err());
    }
}
