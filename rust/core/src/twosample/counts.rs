//! Tests on two count vectors over the same bins (PSI's bins: the reference's quantile bins
//! with open outer edges, or its categories plus "unseen", plus a missing bin under
//! nan_policy="bin"): Jensen–Shannon distance, Hellinger distance and the chi-square test of
//! homogeneity of the 2 x k table. Counts are integers, so these merge exactly like PSI.

use crate::error::{Error, Result};
use crate::special::chi2_survival;

fn proportions(counts: &[u64], argument: &str) -> Result<Vec<f64>> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Err(Error::invalid(argument, "has no counted values"));
    }
    Ok(counts.iter().map(|&c| c as f64 / total as f64).collect())
}

fn same_bins(expected: &[u64], actual: &[u64]) -> Result<()> {
    if expected.len() != actual.len() {
        return Err(Error::invalid(
            "actual",
            format!("has {} bins, expected has {}", actual.len(), expected.len()),
        ));
    }
    Ok(())
}

/// x ln(x / y) with scipy.special.rel_entr's conventions for x = 0 (0) and y = 0 < x (inf).
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Jensen–Shannon distance sqrt(JS divergence), natural log, as
/// scipy.spatial.distance.jensenshannon(p, q) (base e); `base` divides the divergence by
/// ln(base) (base 2 bounds the distance by 1). Empty bins need no floor: 0 ln 0 = 0.
pub fn jensen_shannon(expected: &[u64], actual: &[u64], base: Option<f64>) -> Result<f64> {
    same_bins(expected, actual)?;
    if let Some(b) = base {
        if !(b > 0.0 && b != 1.0 && b.is_finite()) {
            return Err(Error::invalid(
                "base",
                format!("must be > 0 and != 1, got {b}"),
            ));
        }
    }
    let p = proportions(expected, "expected")?;
    let q = proportions(actual, "actual")?;
    let mut divergence = 0.0;
    for (&pi, &qi) in p.iter().zip(&q) {
        let mi = (pi + qi) / 2.0;
        divergence += rel_entr(pi, mi) + rel_entr(qi, mi);
    }
    divergence /= 2.0;
    if let Some(b) = base {
        divergence /= b.ln();
    }
    // rounding can leave a tiny negative divergence for identical inputs
    Ok(divergence.max(0.0).sqrt())
}

/// Hellinger distance sqrt(sum (sqrt p - sqrt q)^2 / 2), in [0, 1].
pub fn hellinger(expected: &[u64], actual: &[u64]) -> Result<f64> {
    same_bins(expected, actual)?;
    let p = proportions(expected, "expected")?;
    let q = proportions(actual, "actual")?;
    let sum: f64 = p
        .iter()
        .zip(&q)
        .map(|(&pi, &qi)| (pi.sqrt() - qi.sqrt()).powi(2))
        .sum();
    Ok((sum / 2.0).sqrt())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquare {
    pub statistic: f64,
    pub pvalue: f64,
    /// Degrees of freedom: bins counted on either side, minus one.
    pub dof: u64,
}

/// Pearson's chi-square test of homogeneity of the 2 x k table [expected; actual], as
/// scipy.stats.chi2_contingency: bins empty on both sides are dropped first (scipy refuses a
/// zero expected frequency), and with `correction` Yates' continuity correction applies when
/// dof == 1. A single remaining bin gives statistic 0, p-value 1 (dof 0).
pub fn chi_square(expected: &[u64], actual: &[u64], correction: bool) -> Result<ChiSquare> {
    same_bins(expected, actual)?;
    let kept: Vec<(f64, f64)> = expected
        .iter()
        .zip(actual)
        .filter(|(&e, &a)| e + a > 0)
        .map(|(&e, &a)| (e as f64, a as f64))
        .collect();
    let row_e: f64 = kept.iter().map(|c| c.0).sum();
    let row_a: f64 = kept.iter().map(|c| c.1).sum();
    if row_e == 0.0 {
        return Err(Error::invalid("expected", "has no counted values"));
    }
    if row_a == 0.0 {
        return Err(Error::invalid("actual", "has no counted values"));
    }
    let dof = kept.len() as u64 - 1;
    if dof == 0 {
        return Ok(ChiSquare {
            statistic: 0.0,
            pvalue: 1.0,
            dof,
        });
    }
    let total = row_e + row_a;
    let mut statistic = 0.0;
    for &(e, a) in &kept {
        let column = e + a;
        for (observed, row) in [(e, row_e), (a, row_a)] {
            let fitted = row * column / total;
            let mut observed = observed;
            if correction && dof == 1 {
                let diff = fitted - observed;
                observed += diff.abs().min(0.5) * diff.signum() * f64::from(diff != 0.0);
            }
            statistic += (observed - fitted).powi(2) / fitted;
        }
    }
    Ok(ChiSquare {
        statistic,
        pvalue: chi2_survival(statistic, dof as f64),
        dof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4)
        let js2 = 0.5
            * ((0.5f64 * (0.5f64 / 0.75).ln() + 0.5 * (0.5f64 / 0.25).ln()) + (1.0f64 / 0.75).ln());
        assert!((jensen_shannon(&[5, 5], &[3, 0], None).unwrap() - js2.sqrt()).abs() < 1e-15);
        assert_eq!(jensen_shannon(&[1, 2], &[2, 4], None).unwrap(), 0.0);
        let h = (((0.5f64.sqrt() - 1.0).powi(2) + 0.5) / 2.0).sqrt();
        assert!((hellinger(&[5, 5], &[3, 0]).unwrap() - h).abs() < 1e-15);
        // [[10, 20], [20, 10]] without correction: each cell (5^2)/15, sum 4 * 25 / 15
        let c = chi_square(&[10, 20], &[20, 10], false).unwrap();
        assert!((c.statistic - 100.0 / 15.0).abs() < 1e-12);
        assert_eq!(c.dof, 1);
        let one = chi_square(&[10, 0], &[5, 0], true).unwrap();
        assert_eq!((one.statistic, one.pvalue, one.dof), (0.0, 1.0, 0));
        assert!(chi_square(&[0, 0], &[1, 2], true).is_err());
        assert!(hellinger(&[1, 2, 3], &[1, 2],).is_err());
    }
}
