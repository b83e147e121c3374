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

/// sum_{j < plus} v_j^2 - sum_{j >= plus} v_j^2, each side summed in float64 in order.
#[inline(always)]
fn signed_squares(values: impl Iterator<Item = f64>, plus: usize) -> f64 {
    let mut add = 0.0f64;
    let mut sub = 0.0f64;
    for (j, v) in values.enumerate() {
        if j < plus {
            add += v * v;
        } else {
            sub += v * v;
        }
    }
    add - sub
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
    pass(x, dim, directions, plus, t, level, true)
}

/// `form_bound_pass`; `lanes`: false keeps float32 rows on the faer product where the CPU has
/// AVX-512 (the tests run both paths on such a machine).
fn pass<T>(
    x: &[T],
    dim: usize,
    directions: &[f64],
    plus: usize,
    t: f64,
    level: f64,
    lanes: bool,
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
    let packed = lanes
        .then(|| lanes::packed(x, directions, dim, r))
        .flatten();
    let tasks = n.div_ceil(ROWS_PER_TASK);
    let parts = map_indexed(tasks, |task| {
        let (r0, r1) = (task * ROWS_PER_TASK, ((task + 1) * ROWS_PER_TASK).min(n));
        let rows = r1 - r0;
        let block = &x[r0 * dim..r1 * dim];
        let mut squared = vec![0.0f64; rows];
        let projected = packed.as_ref().map(|p| p.project(block, &mut squared));
        if projected.is_none() {
            dispatch(
                #[inline(always)]
                || squared_norms(block, dim, &mut squared),
            );
        }
        let mut bound: Vec<f64> = squared.iter().map(|s| t * s).collect();
        if let (Some(packed), Some(projected)) = (&packed, projected) {
            // float32 rows on AVX-512: the directions in lanes, eight rows at a time
            let width = packed.width();
            for (b, row) in bound.iter_mut().zip(projected.chunks_exact(width)) {
                *b += signed_squares(row[..r].iter().map(|v| *v as f64), plus);
            }
        } else if r > 0 {
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
                *b += signed_squares(projected.col(i).iter().map(|v| v.f64()), plus);
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

/// The float32 projections on AVX-512: each row's r projections lie in lanes (48 directions a
/// pass, three vectors of 16) and eight rows share every load of the directions. The faer
/// product pads r up to its 48-row kernel and ran at ~55% of the FMA peak at d = 384, r = 34,
/// and the rows, read cold, stalled it; this kernel prefetches the next eight rows while it
/// works on these. Each row's projections are summed over the dimensions in order, one fused
/// multiply-add a dimension, whatever rows share its tile: the result does not depend on the
/// blocks.
mod lanes {
    use std::any::TypeId;

    /// Lanes per pass over a tile (3 vectors of 16: 8 rows x 3 = 24 accumulators of AVX-512's
    /// 32 registers); rows per tile.
    const PASS: usize = 48;
    const TILE: usize = 8;

    /// The directions as float32, pass after pass: pass c holds, for every dimension k, its
    /// directions c*48..c*48 + 48 (zero past r) contiguous.
    pub struct Packed {
        data: Vec<f32>,
        dim: usize,
        passes: usize,
    }

    /// The packed directions when the rows are float32 and the CPU has AVX-512F (else None:
    /// the caller's faer product).
    pub fn packed<T: 'static>(
        _x: &[T],
        directions: &[f64],
        dim: usize,
        r: usize,
    ) -> Option<Packed> {
        if r == 0 || TypeId::of::<T>() != TypeId::of::<f32>() || !available() {
            return None;
        }
        Some(Packed::new(directions, dim, r))
    }

    fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    impl Packed {
        fn new(directions: &[f64], dim: usize, r: usize) -> Packed {
            let passes = r.div_ceil(PASS);
            let mut data = vec![0.0f32; passes * dim * PASS];
            for c in 0..passes {
                for k in 0..dim {
                    for lane in 0..PASS {
                        let j = c * PASS + lane;
                        if j < r {
                            data[(c * dim + k) * PASS + lane] = directions[k * r + j] as f32;
                        }
                    }
                }
            }
            Packed { data, dim, passes }
        }

        /// Values per projected row (r rounded up to whole passes).
        pub fn width(&self) -> usize {
            self.passes * PASS
        }

        /// The projections of the rows of `block` (row-major, rows x width; the lanes past r
        /// hold 0), and each row's squared norm into `squared` (bit-identical to `norm2`, which
        /// waits on one row's chains of multiply-adds). `block` must be float32 rows (checked
        /// by `packed`).
        pub fn project<T: 'static>(&self, block: &[T], squared: &mut [f64]) -> Vec<f32> {
            assert_eq!(TypeId::of::<T>(), TypeId::of::<f32>());
            // SAFETY: T is f32 (asserted just above): the same bytes, length and alignment.
            let block: &[f32] =
                unsafe { std::slice::from_raw_parts(block.as_ptr() as *const f32, block.len()) };
            let dim = self.dim;
            let rows = block.len() / dim;
            let width = self.width();
            let mut out = vec![0.0f32; rows * width];
            let mut tail = vec![0.0f32; TILE * dim];
            let mut tail_out = vec![0.0f32; TILE * width];
            for r0 in (0..rows).step_by(TILE) {
                let full = r0 + TILE <= rows;
                let (x, o): (&[f32], &mut [f32]) = if full {
                    (
                        &block[r0 * dim..(r0 + TILE) * dim],
                        &mut out[r0 * width..(r0 + TILE) * width],
                    )
                } else {
                    // the last rows, zero-padded to a whole tile
                    tail[..(rows - r0) * dim].copy_from_slice(&block[r0 * dim..]);
                    (&tail, &mut tail_out)
                };
                let mut norms = [0.0f64; TILE];
                for (quad, n) in x.chunks_exact(4 * dim).zip(norms.chunks_exact_mut(4)) {
                    // SAFETY: `available()` held when the directions were packed (AVX2, FMA).
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        quad_norms(quad, dim, n)
                    };
                }
                let take = TILE.min(rows - r0);
                squared[r0..r0 + take].copy_from_slice(&norms[..take]);
                // the first pass over a tile fetches the next tile's rows (right after these)
                let next = if r0 + 2 * TILE <= rows {
                    block[(r0 + TILE) * dim..].as_ptr()
                } else {
                    x.as_ptr()
                };
                for c in 0..self.passes {
                    let d = &self.data[c * dim * PASS..(c + 1) * dim * PASS];
                    let o = &mut o[c * PASS..];
                    assert!(x.len() >= TILE * dim && o.len() >= (TILE - 1) * width + PASS);
                    // SAFETY: `available()` held when the directions were packed (AVX-512F);
                    // the kernel reads TILE rows of dim from x and dim x PASS from d and
                    // writes PASS values of TILE rows `width` apart from o (asserted above);
                    // a prefetch never faults.
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        tile(x.as_ptr(), dim, d.as_ptr(), o.as_mut_ptr(), width, next)
                    };
                }
                if !full {
                    out[r0 * width..].copy_from_slice(&tail_out[..(rows - r0) * width]);
                }
            }
            out
        }
    }

    /// The squared norms of four rows of `x` in float64: `simd::norm2`'s eight lanes (lane l
    /// sums the elements l, l + 8, ... by fused multiply-adds, the tail into lanes 0..) summed
    /// in its order, so the same bits; the four rows' chains run side by side.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn quad_norms(x: &[f32], dim: usize, out: &mut [f64]) {
        use std::arch::x86_64::*;
        assert!(x.len() >= 4 * dim && out.len() >= 4);
        let whole = dim - dim % 8;
        let xp = x.as_ptr();
        // SAFETY: every offset below is inside the length asserted above.
        unsafe {
            let mut lo = [_mm256_setzero_pd(); 4];
            let mut hi = [_mm256_setzero_pd(); 4];
            for k in (0..whole).step_by(8) {
                for i in 0..4 {
                    let a = _mm256_cvtps_pd(_mm_loadu_ps(xp.add(i * dim + k)));
                    let b = _mm256_cvtps_pd(_mm_loadu_ps(xp.add(i * dim + k + 4)));
                    lo[i] = _mm256_fmadd_pd(a, a, lo[i]);
                    hi[i] = _mm256_fmadd_pd(b, b, hi[i]);
                }
            }
            for i in 0..4 {
                let mut lanes = [0.0f64; 8];
                _mm256_storeu_pd(lanes.as_mut_ptr(), lo[i]);
                _mm256_storeu_pd(lanes.as_mut_ptr().add(4), hi[i]);
                for (l, &v) in x[i * dim + whole..(i + 1) * dim].iter().enumerate() {
                    let v = v as f64;
                    lanes[l] = v.mul_add(v, lanes[l]);
                }
                out[i] = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
                    + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
            }
        }
    }

    /// out[i * stride + lane] = sum_k x[i * dim + k] * d[k * 48 + lane] for the TILE rows i and
    /// the 48 lanes, summed over k = 0, 1, ... in order by fused multiply-adds (8 x 3
    /// accumulators, a dimension's three direction vectors and one broadcast: 28 of AVX-512's
    /// 32 registers); the TILE * dim values from `next` on are prefetched meanwhile (half a
    /// line a dimension).
    ///
    /// # Safety
    /// AVX-512F; x: TILE rows of dim >= 1 values, d: dim x 48, out: TILE rows `stride` apart of
    /// 48 values each.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile(
        x: *const f32,
        dim: usize,
        d: *const f32,
        out: *mut f32,
        stride: usize,
        next: *const f32,
    ) {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract above bounds every offset; a prefetch never faults.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 3]; TILE];
            for k in 0..dim {
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(8 * k) as *const i8);
                let dk = d.add(k * PASS);
                let v = [
                    _mm512_loadu_ps(dk),
                    _mm512_loadu_ps(dk.add(16)),
                    _mm512_loadu_ps(dk.add(32)),
                ];
                for (i, a) in acc.iter_mut().enumerate() {
                    let b = _mm512_set1_ps(*x.add(i * dim + k));
                    a[0] = _mm512_fmadd_ps(b, v[0], a[0]);
                    a[1] = _mm512_fmadd_ps(b, v[1], a[1]);
                    a[2] = _mm512_fmadd_ps(b, v[2], a[2]);
                }
            }
            for (i, a) in acc.iter().enumerate() {
                let o = out.add(i * stride);
                _mm512_storeu_ps(o, a[0]);
                _mm512_storeu_ps(o.add(16), a[1]);
                _mm512_storeu_ps(o.add(32), a[2]);
            }
        }
    }
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
    fn float32_lanes_match_float64_products_whatever_the_tile() {
        // r across 1, 2 and 3 vectors per pass and a second pass (70 > 48); rows past whole
        // tiles of eight
        let dim = 37usize;
        for r in [1usize, 16, 17, 34, 48, 49, 70] {
            let n = 21usize;
            let mut rng = Rng::new(40 + r as u64, 0);
            let mut x64 = vec![0.0f64; n * dim];
            rng.normals(&mut x64);
            let x: Vec<f32> = x64.iter().map(|v| *v as f32).collect();
            let mut d = vec![0.0f64; dim * r];
            rng.normals(&mut d);
            let Some(packed) = lanes::packed(&x, &d, dim, r) else {
                return; // no AVX-512 here: form_bound_pass takes the faer product
            };
            let width = packed.width();
            assert_eq!(width, r.div_ceil(48) * 48);
            let mut squared = vec![0.0f64; n];
            let got = packed.project(&x, &mut squared);
            for (s, row) in squared.iter().zip(x.chunks_exact(dim)) {
                assert_eq!(s.to_bits(), crate::simd::norm2(row).to_bits());
            }
            assert_eq!(got.len(), n * width);
            for i in 0..n {
                for j in 0..width {
                    let want: f64 = if j < r {
                        (0..dim)
                            .map(|k| x[i * dim + k] as f64 * (d[k * r + j] as f32) as f64)
                            .sum()
                    } else {
                        0.0
                    };
                    let scale: f64 = (0..dim)
                        .map(|k| (x[i * dim + k] as f64 * d.get(k * r + j).unwrap_or(&0.0)).abs())
                        .sum();
                    let v = got[i * width + j] as f64;
                    assert!((v - want).abs() <= 1e-5 * scale.max(1e-30), "r={r} {i} {j}");
                }
            }
            // a row's projections do not depend on the rows it shares a tile with
            let shifted = packed.project(&x[3 * dim..], &mut squared[3..]);
            assert_eq!(&shifted[..], &got[3 * width..]);
            // the whole pass on float32 rows agrees with the float64 reference off the boundary,
            // in lanes and on the faer product that CPUs without AVX-512 take
            for plus in [0, r / 2, r] {
                let exact: Vec<f64> = x.iter().map(|v| *v as f64).collect();
                let want = reference(&exact, dim, &d, plus, 0.3, 0.05);
                for use_lanes in [true, false] {
                    let got = pass(&x, dim, &d, plus, 0.3, 0.05, use_lanes).unwrap();
                    assert_eq!(got, want, "r={r} plus={plus} lanes={use_lanes}");
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
