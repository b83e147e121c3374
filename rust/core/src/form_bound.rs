//! The bound pass of the encoder-mix check (python/undertow/audit/_mix_vectors.py, `_mean_form`):
//! which rows of a matrix may have a quadratic form x'Mx above `-level |x|^2`, judged by an upper
//! bound of the form from a few directions.
//!
//! The bound is `t |x|^2 + sum_{j < plus} (d_j'x)^2 - sum_{j >= plus} (d_j'x)^2` over the columns
//! d_j of `directions` (scaled eigenvectors of M). A row is ruled out when the bound is at most
//! `-level |x|^2`; every other row, and a row holding NaN or inf, "may pass" (the caller's exact
//! test then decides). One read of the matrix: each fixed block of rows is multiplied with the
//! directions (one faer product) and its squared norms are summed in float64 beside it. Blocks
//! do not depend on the thread count and rows do not interact, so the result is identical for
//! any thread count.

use std::cmp::Ordering;

use faer::{Accum, Mat, MatRef, Par};

use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::simd::{dispatch, norm2, Element};

/// Rows per task: 3 MB of float32 rows at d=384, and an r x 2048 product.
const ROWS_PER_TASK: usize = 2048;

/// bound <= floor, false when either is NaN.
fn ruled_out(bound: f64, floor: f64) -> bool {
    matches!(
        bound.partial_cmp(&floor),
        Some(Ordering::Less | Ordering::Equal)
    )
}

#[inline(always)]
fn squared_norms<T: Element>(block: &[T], dim: usize, out: &mut [f64]) {
    for (row, o) in block.chunks_exact(dim).zip(out.iter_mut()) {
        *o = norm2(row);
    }
}

/// For every row of `x` (n x dim, row-major): whether the bound of the form from `directions`
/// (dim x r, row-major), of which the first `plus` columns add and the others subtract, plus
/// `t` times the squared norm, exceeds `-level` times the squared norm (true), or may not be
/// judged (NaN or inf in the row: true). `directions`, `t` and `level` must be finite.
pub fn form_bound_pass<T>(
    x: &[T],
    dim: usize,
    directions: &[f64],
    plus: usize,
    t: f64,
    level: f64,
) -> Result<Vec<bool>>
where
    T: Element + faer::traits::RealField,
{
    let n = rows_of("vectors", x.len(), dim)?;
    if n == 0 {
        return Err(Error::invalid("vectors", "holds no rows"));
    }
    if !directions.len().is_multiple_of(dim) {
        return Err(Error::invalid(
            "directions",
            format!(
                "{} values are not {dim} rows (one per dimension of the vectors)",
                directions.len()
            ),
        ));
    }
    let r = directions.len() / dim;
    if plus > r {
        return Err(Error::invalid(
            "plus",
            format!("must be at most the {r} directions, got {plus}"),
        ));
    }
    if !directions.iter().all(|v| v.is_finite()) {
        return Err(Error::invalid("directions", "hold NaN or inf"));
    }
    if !t.is_finite() || !level.is_finite() {
        return Err(Error::invalid(
            "t, level",
            format!("must be finite, got {t}, {level}"),
        ));
    }
    let d: Mat<T> = Mat::from_fn(dim, r, |i, j| T::from_f64(directions[i * r + j]));
    let tasks = n.div_ceil(ROWS_PER_TASK);
    let parts = map_indexed(tasks, |task| {
        let (r0, r1) = (task * ROWS_PER_TASK, ((task + 1) * ROWS_PER_TASK).min(n));
        let rows = r1 - r0;
        let block = &x[r0 * dim..r1 * dim];
        let mut squared = vec![0.0f64; rows];
        dispatch(
            #[inline(always)]
            || squared_norms(block, dim, &mut squared),
        );
        let mut bound: Vec<f64> = squared.iter().map(|s| t * s).collect();
        if r > 0 {
            // (directions' x block'): the block read column-major is dim x rows without a copy,
            // and this orientation ran at twice the speed of (block x directions) in faer
            let mut projected = Mat::<T>::zeros(r, rows);
            faer::linalg::matmul::matmul(
                projected.as_mut(),
                Accum::Replace,
                d.as_ref().transpose(),
                MatRef::from_column_major_slice(block, dim, rows),
                T::from_f64(1.0),
                Par::Seq,
            );
            for (i, b) in bound.iter_mut().enumerate() {
                let column = projected.col(i);
                let mut add = 0.0f64;
                let mut sub = 0.0f64;
                for (j, &v) in column.iter().enumerate() {
                    let v = v.f64();
                    if j < plus {
                        add += v * v;
                    } else {
                        sub += v * v;
                    }
                }
                *b += add - sub;
            }
        }
        // a row holding NaN or inf compares as neither: it may pass
        bound
            .iter()
            .zip(&squared)
            .map(|(b, s)| !ruled_out(*b, -level * s))
            .collect::<Vec<bool>>()
    });
    Ok(parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    fn reference(x: &[f64], dim: usize, d: &[f64], plus: usize, t: f64, level: f64) -> Vec<bool> {
        let r = d.len() / dim;
        x.chunks_exact(dim)
            .map(|row| {
                let sq: f64 = row.iter().map(|v| v * v).sum();
                let mut b = t * sq;
                for j in 0..r {
                    let p: f64 = (0..dim).map(|i| row[i] * d[i * r + j]).sum();
                    b += if j < plus { p * p } else { -p * p };
                }
                !ruled_out(b, -level * sq)
            })
            .collect()
    }

    #[test]
    fn matches_a_direct_computation_across_blocks() {
        let (dim, r) = (7usize, 4usize);
        for n in [1usize, 5, 1024, 2500] {
            let mut rng = Rng::new(3 + n as u64, 0);
            let mut x = vec![0.0f64; n * dim];
            rng.normals(&mut x);
            let mut d = vec![0.0f64; dim * r];
            rng.normals(&mut d);
            for plus in [0, 2, 4] {
                let got = form_bound_pass(&x, dim, &d, plus, 0.1, 0.05).unwrap();
                let want = reference(&x, dim, &d, plus, 0.1, 0.05);
                assert_eq!(got, want, "n={n} plus={plus}");
                if plus == 2 && n > 10 {
                    // the case is not trivial: some rows pass, some do not
                    assert!(got.iter().any(|v| *v) && got.iter().any(|v| !*v));
                }
            }
        }
    }

    #[test]
    fn nan_rows_may_pass_and_bad_arguments_are_refused() {
        let x = [1.0f32, 0.0, f32::NAN, 0.0, 0.0, 1.0];
        // one direction that subtracts everything along the first axis
        let d = [2.0, 0.0];
        assert_eq!(
            form_bound_pass(&x, 2, &d, 0, 0.0, 0.05).unwrap(),
            vec![false, true, true]
        );
        assert!(form_bound_pass::<f32>(&[], 2, &d, 0, 0.0, 0.05).is_err());
        assert!(form_bound_pass(&x, 2, &d[..1], 0, 0.0, 0.05).is_err());
        assert!(form_bound_pass(&x, 2, &d, 2, 0.0, 0.05).is_err());
        assert!(form_bound_pass(&x, 2, &[f64::NAN, 0.0], 0, 0.0, 0.05).is_err());
        assert!(form_bound_pass(&x, 2, &d, 0, f64::NAN, 0.05).is_err());
        assert!(form_bound_pass(&x, 0, &d, 0, 0.0, 0.05).is_err());
        // no directions: the bound is t |x|^2
        assert_eq!(
            form_bound_pass(&x, 2, &[], 0, -0.1, 0.05).unwrap(),
            vec![false, true, false]
        );
    }
}
