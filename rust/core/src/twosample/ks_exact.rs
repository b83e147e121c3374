//! Exact two-sided p-value of the two-sample KS statistic: the share of lattice paths from
//! (0, 0) to (m, n) that leave the band |x/m - y/n| < h / lcm(m, n).
//!
//! Ported from scipy.stats (1.17): `_compute_prob_outside_square` for m == n and the pythran
//! `_compute_outer_prob_inside_method` (Hodges' inside method with Viehmann's recursion for
//! 1 - p, arXiv:2102.08037) otherwise, so p-values agree with `ks_2samp(method="exact")`.

/// P(D_{n,n} >= h / n): 2 * (A0 (1 - A1 (1 - A2 (...)))) with A_k = binom(2n, n - (k+1)h) /
/// binom(2n, n) ratios evaluated term by term (no cancellation).
pub fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0f64;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0f64;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// The share of paths that do not stay strictly inside the two diagonals, for m != n; `g` is
/// gcd(m, n), `h` the statistic times lcm(m, n). None if an index leaves the window (never
/// expected; the caller falls back to the asymptotic p-value, as scipy does on failure).
pub fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> Option<f64> {
    let (mut m, mut n) = (m as i64, n as i64);
    if m < n {
        std::mem::swap(&mut m, &mut n);
    }
    let (g, h) = (g as i64, h as i64);
    let (mg, ng) = (m / g, n / g);
    let ceil_div = |a: i64, b: i64| -(-a).div_euclid(b);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for slot in a.iter_mut().take(maxj as usize) {
        *slot = 0.0;
    }
    for i in 1..=m {
        crate::cancel::checkpoint();
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((ng * i - h).div_euclid(mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let carried = *a.get((jj + minj - lastminj) as usize)?;
            val = (carried * fi + val * j as f64) / (fi + j as f64);
            *a.get_mut(jj as usize)? = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(a.len());
            for slot in a.iter_mut().take(end).skip(start) {
                *slot = 1.0;
            }
        }
    }
    a.get((maxj - minj - 1) as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases_by_enumeration() {
        // n = m = 2: paths RRUU RURU RUUR URRU URUR UURR; D = 1 for RRUU and UURR, 1/2 else
        assert!((prob_outside_square(2, 2) - 2.0 / 6.0).abs() < 1e-15);
        assert!((prob_outside_square(2, 1) - 1.0).abs() < 1e-15);
        // m = 2, n = 1 (lcm 2): D = 1 for RRU and URR, 1/2 for RUR
        assert!((outer_prob_inside(2, 1, 1, 2).unwrap() - 2.0 / 3.0).abs() < 1e-15);
        assert!((outer_prob_inside(2, 1, 1, 1).unwrap() - 1.0).abs() < 1e-15);
    }
}
