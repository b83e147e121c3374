//! Per-row measures over stored vectors, for the index auditor: every row's Euclidean norm and
//! every row's squared distance to an assigned centroid (an IVF list's). One pass each, float64
//! accumulation, all cores; a row holding NaN or inf yields NaN or inf rather than an error, so
//! the auditor can name such rows instead of refusing the index.

use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::simd::{dispatch, norm2, Element};

const ROWS_PER_TASK: usize = 8192;

// The row loops are `#[inline(always)]` functions with plain `for` loops so that they are
// compiled inside `dispatch` with AVX2+FMA: a closure in between is compiled without the target
// features, and `mul_add` then becomes a call into libm (10x slower, measured).

#[inline(always)]
fn norms_of<T: Element>(block: &[T], dim: usize, out: &mut Vec<f64>) {
    for row in block.chunks_exact(dim) {
        out.push(norm2(row).sqrt());
    }
}

#[inline(always)]
fn distances_of<T: Element>(
    block: &[T],
    dim: usize,
    centroids: &[f32],
    assign: &[i64],
    out: &mut Vec<f64>,
) {
    for (row, &a) in block.chunks_exact(dim).zip(assign) {
        let c = &centroids[a as usize * dim..(a as usize + 1) * dim];
        let mut lanes = [0.0f64; 4];
        let (rs, cs) = (row.chunks_exact(4), c.chunks_exact(4));
        let (rr, cr) = (rs.remainder(), cs.remainder());
        for (rb, cb) in rs.zip(cs) {
            for l in 0..4 {
                let d = rb[l].f64() - cb[l] as f64;
                lanes[l] = d.mul_add(d, lanes[l]);
            }
        }
        for (l, (&x, &y)) in rr.iter().zip(cr).enumerate() {
            let d = x.f64() - y as f64;
            lanes[l] = d.mul_add(d, lanes[l]);
        }
        out.push((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]));
    }
}

fn tasks(n: usize) -> usize {
    n.div_ceil(ROWS_PER_TASK)
}

fn span(t: usize, n: usize) -> (usize, usize) {
    (t * ROWS_PER_TASK, ((t + 1) * ROWS_PER_TASK).min(n))
}

/// The Euclidean norm of every row of `x` (`dim` columns).
pub fn row_norms<T: Element>(x: &[T], dim: usize) -> Result<Vec<f64>> {
    let n = rows_of("vectors", x.len(), dim)?;
    Ok(map_indexed(tasks(n), |t| {
        let (r0, r1) = span(t, n);
        let block = &x[r0 * dim..r1 * dim];
        let mut out = Vec::with_capacity(r1 - r0);
        dispatch(
            #[inline(always)]
            || norms_of(block, dim, &mut out),
        );
        out
    })
    .concat())
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
    Ok(map_indexed(tasks(n), |t| {
        let (r0, r1) = span(t, n);
        let (block, lists) = (&x[r0 * dim..r1 * dim], &assign[r0..r1]);
        let mut out = Vec::with_capacity(r1 - r0);
        dispatch(
            #[inline(always)]
            || distances_of(block, dim, centroids, lists, &mut out),
        );
        out
    })
    .concat())
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
