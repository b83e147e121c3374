//! numpy.histogram's counts for given edges: bins `[e0, e1), ..., [e_{B-1}, e_B]` (the last one
//! closed), values outside or NaN ignored. Same counting kernel as PSI.

use crate::count::count_at_least;
use crate::error::{Error, Result};
use crate::sample::Sample;

pub fn histogram_counts<T: Sample>(data: &[T], edges: &[f64]) -> Result<Vec<u64>> {
    if edges.len() < 2 {
        return Err(Error::invalid(
            "bins",
            format!("needs at least 2 edges, got {}", edges.len()),
        ));
    }
    if edges.iter().any(|e| e.is_nan()) || edges.windows(2).any(|w| w[0] > w[1]) {
        return Err(Error::invalid(
            "bins",
            "edges must increase monotonically and not be NaN",
        ));
    }
    let last = edges[edges.len() - 1];
    // x >= e for every edge, then x > last (so the last bin can be closed).
    let thresholds: Vec<T> = edges
        .iter()
        .map(|&e| T::threshold_at_least(e))
        .chain(std::iter::once(T::threshold_above(last)))
        .collect();
    let at_least = count_at_least(data, &thresholds).at_least;
    let bins = edges.len() - 1;
    Ok((0..bins)
        .map(|i| {
            at_least[i] - at_least[i + 1]
                + if i + 1 == bins {
                    at_least[bins] - at_least[bins + 1]
                } else {
                    0
                }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_bin_is_closed_and_outside_ignored() {
        let data = [0.0f64, 0.5, 1.0, 1.5, 2.0, 2.5, -1.0, f64::NAN];
        assert_eq!(
            histogram_counts(&data, &[0.0, 1.0, 2.0]).unwrap(),
            vec![2, 3]
        );
        let data32 = [0.1f32, 0.2, 0.3];
        // 0.1f32 > 0.1f64, 0.3f32 > 0.3f64: compared exactly as float64 values.
        assert_eq!(
            histogram_counts(&data32, &[0.1, 0.2, 0.3]).unwrap(),
            vec![1, 1]
        );
        assert_eq!(
            histogram_counts(&data32, &[0.1, 0.2, 0.30000001192092896]).unwrap(),
            vec![1, 2]
        );
    }
}
