//! The two-sample Kolmogorov–Smirnov test (two-sided), as scipy.stats.ks_2samp computes it.
//!
//! Statistic: max |F_a - F_b| over the pooled values (ties consumed together), with scipy's
//! location and sign. P-value, method "auto" (scipy's rule): exact when max(n, m) <= 10 000,
//! asymptotic above; the exact path rounds the statistic to h / lcm(n, m) as scipy does.

use super::ecdf::{extremes, EcdfExtremes};
use super::kolmogorov::kstwo_sf;
use super::ks_exact::{outer_prob_inside, prob_outside_square};
use crate::error::{Error, Result};

/// scipy's MAX_AUTO_N: "auto" is exact when both sizes are at most this.
pub const MAX_EXACT_AUTO: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Auto,
    Exact,
    Asymptotic,
}

impl Method {
    pub fn parse(text: &str) -> Result<Method> {
        match text {
            "auto" => Ok(Method::Auto),
            "exact" => Ok(Method::Exact),
            "asymp" | "asymptotic" => Ok(Method::Asymptotic),
            other => Err(Error::invalid(
                "method",
                format!("must be 'auto', 'exact' or 'asymp', got {other:?}"),
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Exact => "exact",
            Method::Asymptotic => "asymp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub statistic: f64,
    pub pvalue: f64,
    /// The value where |F_a - F_b| is largest (scipy's statistic_location).
    pub location: f64,
    /// +1 when F_a > F_b there, -1 otherwise (scipy's statistic_sign).
    pub sign: i8,
    /// The method used for the p-value ("exact" or "asymp").
    pub method: Method,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// KS of two sorted, finite, non-empty samples (`names` name them in errors).
pub fn ks_2samp(a: &[f64], b: &[f64], method: Method, names: (&str, &str)) -> Result<KsResult> {
    check_sizes(a.len() as u64, b.len() as u64, names)?;
    Ok(ks_from_extremes(
        &extremes(a, b),
        a.len() as u64,
        b.len() as u64,
        method,
    ))
}

/// Refuses a sample without finite values, naming it.
pub fn check_sizes(n1: u64, n2: u64, names: (&str, &str)) -> Result<()> {
    for (size, name) in [(n1, names.0), (n2, names.1)] {
        if size == 0 {
            return Err(Error::invalid(
                name,
                "has no finite values; KS needs at least one",
            ));
        }
    }
    Ok(())
}

/// The statistic (scipy's choice between the two extremes), its location and sign, and the
/// p-value, from the extremes of F_a - F_b over samples of `n1` and `n2` values (both > 0).
pub fn ks_from_extremes(e: &EcdfExtremes, n1: u64, n2: u64, method: Method) -> KsResult {
    let min_s = (-e.min_diff).clamp(0.0, 1.0);
    let (mut d, location, sign) = if min_s > e.max_diff {
        (min_s, e.min_location, -1)
    } else {
        (e.max_diff, e.max_location, 1)
    };
    let g = gcd(n1, n2);
    let (n1g, n2g) = (n1 / g, n2 / g);
    let mut used = match method {
        Method::Auto if n1.max(n2) as usize <= MAX_EXACT_AUTO => Method::Exact,
        Method::Auto => Method::Asymptotic,
        // scipy switches to asymp when lcm(n1, n2) does not fit in an int32
        Method::Exact if n1g as f64 >= i32::MAX as f64 / n2g as f64 => Method::Asymptotic,
        other => other,
    };
    let mut pvalue = f64::NAN;
    if used == Method::Exact {
        let lcm = (n1g * n2) as f64;
        let h = (d * lcm).round_ties_even();
        d = h / lcm;
        let exact = if h == 0.0 {
            Some(1.0)
        } else if n1 == n2 {
            Some(prob_outside_square(n1, h as u64))
        } else {
            outer_prob_inside(n1, n2, g, h as u64)
        };
        match exact {
            Some(p) if (0.0..=1.0).contains(&p) => pvalue = p,
            _ => used = Method::Asymptotic,
        }
    }
    if used == Method::Asymptotic {
        let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
        let en = m * n / (m + n);
        pvalue = kstwo_sf(en.round_ties_even(), d);
    }
    KsResult {
        statistic: d,
        pvalue: pvalue.clamp(0.0, 1.0),
        location,
        sign,
        method: used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_and_identical() {
        let r = ks_2samp(&[1.0, 2.0], &[3.0, 4.0], Method::Auto, ("a", "b")).unwrap();
        assert_eq!(r.statistic, 1.0);
        assert_eq!(r.sign, 1);
        assert!((r.pvalue - 2.0 / 6.0).abs() < 1e-15);
        let r = ks_2samp(&[1.0, 2.0], &[1.0, 2.0], Method::Auto, ("a", "b")).unwrap();
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
        assert!(ks_2samp(&[], &[1.0], Method::Auto, ("a", "b")).is_err());
    }
}
