//! Vector kernels written once in plain Rust and compiled for the CPU found at run time.
//!
//! Each kernel is an `#[inline(always)]` function over fixed lane arrays; `dispatch` runs it
//! inside pulp's `Arch::dispatch`, which compiles the closure for AVX2+FMA (and scalar) and picks
//! one when called, so wheels stay portable (no target-cpu) and still vectorize. Lanes are
//! reduced in a fixed order and `mul_add` is fused on every path, so a result does not depend on
//! which instruction set ran it.

/// Runs `f` compiled for the best instruction set of this CPU.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// A floating-point element undertow reads without a copy.
pub trait Element: Copy + Send + Sync + PartialOrd + 'static {
    fn f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn is_finite_value(self) -> bool;
    /// `v = exp(-v)` over a slice of non-negative values.
    fn exp_neg(values: &mut [Self]);
    /// The value's bit pattern (for hashing rows).
    fn bits(self) -> u64;
}

impl Element for f32 {
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    fn exp_neg(values: &mut [Self]) {
        exp_neg_f32(values)
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.to_bits() as u64
    }
}

impl Element for f64 {
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    fn exp_neg(values: &mut [Self]) {
        exp_neg_f64(values)
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

const LANES: usize = 8;

#[inline(always)]
fn sum_lanes(v: [f64; LANES]) -> f64 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

/// `(sum x^2, sum x * c)` accumulated in float64.
#[inline(always)]
pub fn norm2_dot<T: Element>(x: &[T], c: &[f64]) -> (f64, f64) {
    debug_assert_eq!(x.len(), c.len());
    let mut n = [0.0f64; LANES];
    let mut d = [0.0f64; LANES];
    let xs = x.chunks_exact(LANES);
    let cs = c.chunks_exact(LANES);
    let (xr, cr) = (xs.remainder(), cs.remainder());
    for (xb, cb) in xs.zip(cs) {
        for l in 0..LANES {
            let v = xb[l].f64();
            n[l] = v.mul_add(v, n[l]);
            d[l] = v.mul_add(cb[l], d[l]);
        }
    }
    for (l, (&xv, &cv)) in xr.iter().zip(cr).enumerate() {
        let v = xv.f64();
        n[l] = v.mul_add(v, n[l]);
        d[l] = v.mul_add(cv, d[l]);
    }
    (sum_lanes(n), sum_lanes(d))
}

/// `sum x^2` accumulated in float64.
#[inline(always)]
pub fn norm2<T: Element>(x: &[T]) -> f64 {
    let mut n = [0.0f64; LANES];
    let xs = x.chunks_exact(LANES);
    let xr = xs.remainder();
    for xb in xs {
        for l in 0..LANES {
            let v = xb[l].f64();
            n[l] = v.mul_add(v, n[l]);
        }
    }
    for (l, &xv) in xr.iter().enumerate() {
        let v = xv.f64();
        n[l] = v.mul_add(v, n[l]);
    }
    sum_lanes(n)
}

/// `acc += scale * x` in float64.
#[inline(always)]
pub fn axpy<T: Element>(acc: &mut [f64], x: &[T], scale: f64) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = v.f64().mul_add(scale, *a);
    }
}

/// `out[i] = exp(-v[i])` for `v[i] >= 0` (float32; Cephes' expf polynomial, about 1 ulp).
#[inline(always)]
pub fn exp_neg_f32(values: &mut [f32]) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    for v in values.iter_mut() {
        let x = (-*v).max(-87.0);
        let n = (x * LOG2E + 0.5).floor();
        let r = n.mul_add(-C2, n.mul_add(-C1, x));
        let mut p = 1.987_569_1e-4f32;
        p = p.mul_add(r, 1.398_199_9e-3);
        p = p.mul_add(r, 8.333_452e-3);
        p = p.mul_add(r, 4.166_579_6e-2);
        p = p.mul_add(r, 1.666_666_5e-1);
        p = p.mul_add(r, 0.5);
        let p = p.mul_add(r * r, r) + 1.0;
        let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
        // Below exp(-87) the kernel value is under 1e-38: zero, as float32 would round it.
        *v = if *v > 87.0 { 0.0 } else { p * scale };
    }
}

/// `out[i] = exp(-v[i])` in float64 (the standard library's, correctly rounded to about 1 ulp).
#[inline(always)]
pub fn exp_neg_f64(values: &mut [f64]) {
    for v in values.iter_mut() {
        *v = (-*v).exp();
    }
}

/// cos in float64 by range reduction to [-pi, pi] and a Taylor polynomial to r^30
/// (error below 1e-15 there); branch-free so it vectorizes, unlike libm's cos.
#[inline(always)]
pub fn cos_f64(values: &mut [f64]) {
    use std::f64::consts::{FRAC_1_PI, PI};
    // Taylor coefficients (-1)^k / (2k)!, k = 15 down to 1.
    const COEF: [f64; 15] = [
        -3.7699876288159054e-33,
        3.279889237069838e-30,
        -2.4795962632247976e-27,
        1.6117375710961184e-24,
        -8.896791392450574e-22,
        4.110317623312165e-19,
        -1.5619206968586225e-16,
        4.779477332387385e-14,
        -1.1470745597729725e-11,
        2.08767569878681e-09,
        -2.755731922398589e-07,
        2.48015873015873e-05,
        -0.001388888888888889,
        0.041666666666666664,
        -0.5,
    ];
    // 2*pi split in two so the reduction keeps its precision for large arguments.
    const TWO_PI_HI: f64 = std::f64::consts::TAU;
    const TWO_PI_LO: f64 = 2.449_293_598_294_706_4e-16;
    for v in values.iter_mut() {
        let k = (*v * (0.5 * FRAC_1_PI)).round();
        let r = k.mul_add(-TWO_PI_LO, k.mul_add(-TWO_PI_HI, *v));
        let r = r.clamp(-PI, PI);
        let r2 = r * r;
        let mut p = COEF[0];
        for &c in &COEF[1..] {
            p = p.mul_add(r2, c);
        }
        *v = p.mul_add(r2, 1.0);
    }
}

/// `COMPRESS[m]`: the lanes whose bit is set in the 8-bit mask `m`, first: the permutation
/// (`vpermps`/`vpermd`) that compresses the matching lanes of an AVX2 vector to its front.
/// One table for the 1-D fit's and the matrix fit's scans.
pub static COMPRESS: [[u32; 8]; 256] = {
    let mut table = [[0u32; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut lane, mut k) = (0, 0);
        while lane < 8 {
            if m & (1 << lane) != 0 {
                table[m][k] = lane as u32;
                k += 1;
            }
            lane += 1;
        }
        m += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut worst = 0.0f64;
        let xs: Vec<f32> = (0..200_000).map(|i| i as f32 * 0.0005).collect();
        let mut v = xs.clone();
        dispatch(|| exp_neg_f32(&mut v));
        for (&x, &y) in xs.iter().zip(&v) {
            let want = (-(x as f64)).exp();
            if want > 1e-30 {
                worst = worst.max(((y as f64) - want).abs() / want);
            }
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        let mut big = vec![88.0f32, 1e30, 0.0];
        exp_neg_f32(&mut big);
        assert_eq!(big, vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn cos_matches_std() {
        let xs: Vec<f64> = (0..100_000)
            .map(|i| (i as f64 - 50_000.0) * 0.013)
            .collect();
        let mut v = xs.clone();
        dispatch(|| cos_f64(&mut v));
        for (&x, &y) in xs.iter().zip(&v) {
            assert!((y - x.cos()).abs() < 1e-13, "cos({x}) = {y}");
        }
    }

    #[test]
    fn norms_and_dots() {
        let x: Vec<f32> = (0..37).map(|i| i as f32 * 0.25 - 3.0).collect();
        let c: Vec<f64> = (0..37).map(|i| (i as f64).sin()).collect();
        let (n, d) = dispatch(|| norm2_dot(&x, &c));
        let n_ref: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let d_ref: f64 = x.iter().zip(&c).map(|(&v, &w)| v as f64 * w).sum();
        assert!((n - n_ref).abs() < 1e-12 * n_ref);
        assert!((d - d_ref).abs() < 1e-12 * n_ref.sqrt());
        assert_eq!(norm2(&x), n);
    }
}
