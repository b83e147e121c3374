//! Bin edges for PSI, fitted on the reference (expected) side alone.
//!
//! Only interior edges are stored: the outer edges are always open (-inf, +inf) so that mass
//! moving outside the reference range lands in the outer bins and counts as drift instead of
//! vanishing. Bin i is `[edge[i-1], edge[i])`; the first is `(-inf, edge[0])`, the last
//! `[edge[last], +inf)`.

use crate::count::count_at_least;
use crate::error::{Error, Result};
use crate::parallel::map_reduce;
use crate::quantile::{linear_quantiles, linspace_unit};
use crate::sample::Sample;

#[derive(Debug, Clone, PartialEq)]
pub enum Binning {
    /// Quantiles of the reference (numpy's "linear" method), duplicates removed.
    Quantile,
    /// Equal width over the reference's finite min..max (numpy.linspace).
    Uniform,
    /// Edges given by the user (strictly increasing; the outer two are replaced by -inf, +inf).
    Explicit(Vec<f64>),
}

/// Finite count, min and max of the finite values (one pass).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub total: u64,
    pub finite: u64,
    pub min: f64,
    pub max: f64,
}

pub fn summarize<T: Sample>(data: &[T]) -> Summary {
    // Min and max of order keys: branch-free integer min/max that vectorizes, where float
    // min/max with NaN rules does not. Non-finite values map to the neutral key.
    let (finite, min_key, max_key) = map_reduce(
        data,
        1 << 18,
        |chunk| {
            let (mut finite, mut lo, mut hi) = (0u64, u64::MAX, 0u64);
            for &x in chunk {
                let ok = x.is_finite_value();
                let key = x.order_key();
                finite += ok as u64;
                lo = lo.min(if ok { key } else { u64::MAX });
                hi = hi.max(if ok { key } else { 0 });
            }
            (finite, lo, hi)
        },
        || (0, u64::MAX, 0),
        |a, b| (a.0 + b.0, a.1.min(b.1), a.2.max(b.2)),
    );
    let (min, max) = if finite > 0 {
        (T::from_order_key(min_key), T::from_order_key(max_key))
    } else {
        (f64::INFINITY, f64::NEG_INFINITY)
    };
    Summary {
        total: data.len() as u64,
        finite,
        min,
        max,
    }
}

/// numpy's `np.linspace(start, stop, num)` in float64, bit for bit.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut y: Vec<f64> = if step == 0.0 {
        (0..num).map(|i| (i as f64 / div) * delta + start).collect()
    } else {
        (0..num).map(|i| i as f64 * step + start).collect()
    };
    y[num - 1] = stop;
    y
}

/// Interior edges of one reference column and its number of finite values (no edges when
/// there are no finite values).
pub fn fit_interior_edges<T: Sample>(
    data: &[T],
    bins: usize,
    binning: &Binning,
) -> Result<(Vec<f64>, u64)> {
    let (interior, finite, min, max) = match binning {
        Binning::Explicit(edges) => {
            let interior = validate_explicit(edges)?;
            let finite = data.len() as u64 - bin_counts(data, &interior)?.1;
            return Ok((interior, finite));
        }
        Binning::Quantile => {
            // min and max are the 0 and 1 quantiles: no separate pass for them.
            let (q, finite) = linear_quantiles(data, &linspace_unit(bins))?;
            (q[1..bins].to_vec(), finite, q[0], q[bins])
        }
        Binning::Uniform => {
            let s = summarize(data);
            let interior = if s.finite > 0 {
                linspace(s.min, s.max, bins + 1)[1..bins].to_vec()
            } else {
                vec![]
            };
            (interior, s.finite, s.min, s.max)
        }
    };
    if finite == 0 {
        return Ok((Vec::new(), 0));
    }
    Ok((tidy_interior(interior, min, max), finite))
}

/// Quantile interior edges (`q[1..bins]` of `bins + 1` quantiles) made strictly increasing.
pub fn interior_from_quantiles(q: &[f64], bins: usize) -> Vec<f64> {
    tidy_interior(q[1..bins].to_vec(), q[0], q[bins])
}

/// Sorted, without duplicates, and three bins around the value of a constant reference (two
/// at the largest finite value, above which no finite value lies).
fn tidy_interior(mut interior: Vec<f64>, min: f64, max: f64) -> Vec<f64> {
    interior.sort_by(|a, b| a.total_cmp(b));
    interior.dedup();
    if min == max {
        // A constant reference: bins below / equal / above the one value, so a move either way is
        // drift (plain de-duplication would leave a single edge and miss a rise). At f64::MAX
        // the edge above would be +inf, which an edge may not be.
        interior = if min.next_up().is_finite() {
            vec![min, min.next_up()]
        } else {
            vec![min]
        };
    }
    interior
}

fn validate_explicit(edges: &[f64]) -> Result<Vec<f64>> {
    if edges.len() < 3 {
        return Err(Error::invalid(
            "bins",
            format!(
                "explicit edges must define at least 2 bins (3 edges), got {} edges",
                edges.len()
            ),
        ));
    }
    if edges.iter().any(|e| e.is_nan()) {
        return Err(Error::invalid("bins", "explicit edges contain NaN"));
    }
    if let Some(i) = edges.windows(2).position(|w| w[0] >= w[1]) {
        return Err(Error::invalid(
            "bins",
            format!(
                "explicit edges must be strictly increasing, but edge {} ({}) >= edge {} ({})",
                i,
                edges[i],
                i + 1,
                edges[i + 1]
            ),
        ));
    }
    let interior = edges[1..edges.len() - 1].to_vec();
    if interior.iter().any(|e| !e.is_finite()) {
        return Err(Error::invalid(
            "bins",
            "explicit interior edges must be finite",
        ));
    }
    Ok(interior)
}

/// Counts of finite values per bin (`interior.len() + 1` bins) and the number of non-finite
/// values, in one pass (`Error::Changed` when another thread wrote to `data` meanwhile, see
/// `bins_from_at_least`).
pub fn bin_counts<T: Sample>(data: &[T], interior: &[f64]) -> Result<(Vec<u64>, u64)> {
    let counts = count_at_least(data, &thresholds_for::<T>(interior));
    bins_from_at_least(&counts.at_least, counts.total)
}

/// Thresholds for the counting kernel: the lowest finite value (counts finite values and +inf),
/// each interior edge, then +inf (counts +inf).
pub fn thresholds_for<T: Sample>(interior: &[f64]) -> Vec<T> {
    std::iter::once(T::LOWEST)
        .chain(interior.iter().map(|&e| T::threshold_at_least(e)))
        .chain(std::iter::once(T::INFINITY))
        .collect()
}

/// (finite values per bin, non-finite count) from `at_least` over `thresholds_for(interior)`:
/// bin i is `at_least[i] - at_least[i + 1]`, and +inf cancels out of every difference.
///
/// Counts at rising thresholds never rise in one read of the data; the counting kernels read a
/// block more than once (once per threshold, or per group of 12 thresholds), so when another
/// thread writes to the data meanwhile they can (a difference would wrap): `Error::Changed`,
/// for the caller to name.
pub fn bins_from_at_least(at_least: &[u64], total: u64) -> Result<(Vec<u64>, u64)> {
    falling(at_least)?;
    if at_least.first().is_some_and(|&counted| counted > total) {
        return Err(Error::changed());
    }
    let bins = at_least.windows(2).map(|w| w[0] - w[1]).collect();
    let finite = at_least[0] - at_least[at_least.len() - 1];
    Ok((bins, total - finite))
}

/// Counts at rising thresholds, from one read of the data, never rise: `Error::Changed` when
/// they do (another thread wrote to the data between the kernel's reads of a block).
pub fn falling(at_least: &[u64]) -> Result<()> {
    if at_least.windows(2).any(|w| w[1] > w[0]) {
        return Err(Error::changed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_that_rise_with_the_threshold_are_reported_not_wrapped() {
        // 10 values: 2 below the first edge, 3 in the middle bin, 4 above, 1 NaN.
        assert_eq!(
            bins_from_at_least(&[9, 7, 4, 0], 10).unwrap(),
            (vec![2, 3, 4], 1)
        );
        // A block read again after another thread wrote to it: a count rises (the bins would
        // wrap to 2^64 - 1), or more values counted than there are.
        for (at_least, total) in [
            (vec![9, 7, 8, 0], 10),
            (vec![9, 7, 4, 5], 10),
            (vec![11, 0], 10),
        ] {
            assert_eq!(
                bins_from_at_least(&at_least, total),
                Err(Error::changed()),
                "{at_least:?}"
            );
        }
    }

    #[test]
    fn linspace_matches_numpy() {
        // printed by numpy 2.4: list(np.linspace(-1.3, 2.9, 7))
        let y = linspace(-1.3, 2.9, 7);
        assert_eq!(
            y,
            vec![
                -1.3,
                -0.6,
                0.10000000000000009,
                0.8,
                1.5000000000000002,
                2.2,
                2.9
            ]
        );
        assert_eq!(linspace(2.0, 2.0, 3), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn bin_counts_open_outer_edges() {
        let data = [
            -5.0f64,
            0.0,
            0.5,
            1.0,
            1.5,
            2.0,
            99.0,
            f64::NAN,
            f64::INFINITY,
        ];
        let (bins, missing) = bin_counts(&data, &[0.0, 1.0, 2.0]).unwrap();
        assert_eq!(bins, vec![1, 2, 2, 2]);
        assert_eq!(missing, 2);
    }

    #[test]
    fn constant_reference_gets_three_bins() {
        let data = vec![3.0f32; 10];
        let (e, _) = fit_interior_edges(&data, 10, &Binning::Quantile).unwrap();
        assert_eq!(e, vec![3.0, 3.0f64.next_up()]);
        assert_eq!(bin_counts(&data, &e).unwrap().0, vec![0, 10, 0]);
    }

    #[test]
    fn constant_reference_at_the_largest_float64_gets_two_bins() {
        // Below / equal only: the edge above f64::MAX would be +inf (a hostile review found
        // the reference refused, "edges must be finite").
        let data = vec![f64::MAX; 10];
        let (e, _) = fit_interior_edges(&data, 10, &Binning::Quantile).unwrap();
        assert_eq!(e, vec![f64::MAX]);
        let below = [1.0, f64::MAX, f64::MAX];
        assert_eq!(bin_counts(&below, &e).unwrap().0, vec![1, 2]);
        // The lowest value and float32's largest keep three bins.
        let (e, _) = fit_interior_edges(&[f64::MIN; 4], 10, &Binning::Quantile).unwrap();
        assert_eq!(e, vec![f64::MIN, f64::MIN.next_up()]);
        let (e, _) = fit_interior_edges(&[f32::MAX; 4], 10, &Binning::Quantile).unwrap();
        assert_eq!(e, vec![f32::MAX as f64, (f32::MAX as f64).next_up()]);
    }

    #[test]
    fn explicit_edges_are_validated() {
        assert!(fit_interior_edges(&[1.0f64], 2, &Binning::Explicit(vec![0.0, 1.0])).is_err());
        assert!(validate_explicit(&[0.0, 2.0, 1.0]).is_err());
        assert_eq!(
            validate_explicit(&[f64::NEG_INFINITY, 0.5, 9.0]).unwrap(),
            vec![0.5]
        );
    }
}
