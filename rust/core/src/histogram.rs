//! numpy.histogram's counts for given edges: bins `[e0, e1), ..., [e_{B-1}, e_B]` (the last one
//! closed), values outside or NaN ignored. Same counting kernel as PSI.

use crate::count::count_at_least;
use crate::error::{Error, Result};
use crate::parallel::map_reduce;
use crate::sample::Sample;

/// Values per parallel task of the integer kernel (a fixed size: counts do not depend on the
/// thread count).
const INTEGER_TASK_VALUES: usize = 1 << 18;

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
    // A difference of rising counts would wrap.
    crate::edges::falling(&at_least).map_err(|e| e.naming("x"))?;
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

/// numpy.histogram's counts for int64 values and int64 edges, compared as integers.
///
/// numpy compares integer data with integer edges in their common integer type; above 2^53 a
/// float64 cannot hold every int64, so the float kernel would merge neighbouring integers
/// (numpy [1 0 1 1], float64 [1 0 0 2]). The facade sends uint64 data here shifted by 2^63
/// (an order-preserving map onto int64). Bins `[e0, e1), ..., [e_{B-1}, e_B]`, the last closed;
/// equal neighbouring edges give an empty bin (except a closed last bin), as in numpy.
pub fn histogram_counts_i64(data: &[i64], edges: &[i64]) -> Result<Vec<u64>> {
    if edges.len() < 2 {
        return Err(Error::invalid(
            "bins",
            format!("needs at least 2 edges, got {}", edges.len()),
        ));
    }
    if edges.windows(2).any(|w| w[0] > w[1]) {
        return Err(Error::invalid("bins", "edges must increase monotonically"));
    }
    let bins = edges.len() - 1;
    let (first, last) = (edges[0], edges[bins]);
    let counts = map_reduce(
        data,
        INTEGER_TASK_VALUES,
        |chunk| {
            let mut counts = vec![0u64; bins];
            for &x in chunk {
                if x < first || x > last {
                    continue;
                }
                // edges <= x, minus one: the bin [e_i, e_{i+1}) holding x; x == last is in the
                // closed last bin
                let bin = (edges.partition_point(|&e| e <= x) - 1).min(bins - 1);
                counts[bin] += 1;
            }
            counts
        },
        || vec![0u64; bins],
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        },
    );
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_above_2_53_compared_exactly() {
        let b = 1i64 << 53;
        let data = [b, b + 2, b + 3];
        // numpy.histogram(data, [b, b+1, b+2, b+3]) == [1, 0, 2]
        assert_eq!(
            histogram_counts_i64(&data, &[b, b + 1, b + 2, b + 3]).unwrap(),
            vec![1, 0, 2]
        );
        // equal edges: an empty bin, except the closed last one
        assert_eq!(
            histogram_counts_i64(&[1, 2, 2, 3], &[1, 2, 2, 2]).unwrap(),
            vec![1, 0, 2]
        );
        assert_eq!(
            histogram_counts_i64(&[i64::MIN, i64::MAX, 0], &[i64::MIN, 0, i64::MAX]).unwrap(),
            vec![1, 2]
        );
        assert!(histogram_counts_i64(&data, &[b]).is_err());
        assert!(histogram_counts_i64(&data, &[b, b - 1]).is_err());
    }

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
