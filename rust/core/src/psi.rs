//! The Population Stability Index from two count vectors.
//!
//! PSI = sum_i (a_i - e_i) * ln(a_i / e_i), where e_i and a_i are the expected (reference) and
//! actual proportions of bin i, each floored at `eps` so an empty bin contributes a large but
//! finite term instead of infinity. The floor is not renormalized (the usual convention, and
//! what the seed's snippet does). Summation is sequential in bin order: one result per input.

use crate::error::{Error, Result};

pub fn proportions(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

pub fn psi_from_proportions(expected: &[f64], actual: &[f64], eps: f64) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(eps), a.max(eps));
            (a - e) * (a / e).ln()
        })
        .sum()
}

pub fn validate_eps(eps: f64) -> Result<()> {
    if !(eps > 0.0 && eps < 1.0) {
        return Err(Error::invalid(
            "eps",
            format!("must be in (0, 1), got {eps}"),
        ));
    }
    Ok(())
}

pub fn validate_thresholds(moderate: f64, significant: f64) -> Result<()> {
    if !(moderate.is_finite()
        && significant.is_finite()
        && 0.0 <= moderate
        && moderate <= significant)
    {
        return Err(Error::invalid(
            "thresholds",
            format!("must be two finite numbers 0 <= moderate <= significant, got ({moderate}, {significant})"),
        ));
    }
    Ok(())
}

/// The seed's bands: below `moderate` stable, up to `significant` (inclusive) moderate, above it
/// significant.
pub fn status(value: f64, moderate: f64, significant: f64) -> &'static str {
    if value < moderate {
        "stable"
    } else if value <= significant {
        "moderate"
    } else {
        "significant"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_psi() {
        let e = proportions(&[50, 50]);
        let a = proportions(&[25, 75]);
        let expected = (0.25 - 0.5) * (0.25f64 / 0.5).ln() + (0.75 - 0.5) * (0.75f64 / 0.5).ln();
        assert!((psi_from_proportions(&e, &a, 1e-4) - expected).abs() < 1e-15);
        assert_eq!(psi_from_proportions(&e, &e, 1e-4), 0.0);
        // an empty actual bin is floored at eps
        let a = proportions(&[0, 10]);
        let floored = (1e-4 - 0.5) * (1e-4f64 / 0.5).ln() + (1.0 - 0.5) * 2f64.ln();
        assert!((psi_from_proportions(&e, &a, 1e-4) - floored).abs() < 1e-12);
    }

    #[test]
    fn bands() {
        assert_eq!(status(0.0999, 0.1, 0.25), "stable");
        assert_eq!(status(0.1, 0.1, 0.25), "moderate");
        assert_eq!(status(0.25, 0.1, 0.25), "moderate");
        assert_eq!(status(0.2501, 0.1, 0.25), "significant");
    }
}
