//! One merge walk over two sorted samples, visiting each distinct value once with the counts
//! of both samples at or below it: the ECDF difference behind KS and Wasserstein-1.
//!
//! Ties: all copies of a value (in either sample) are consumed before the difference is taken,
//! which is scipy's `searchsorted(..., side="right")` on the pooled values.

/// Calls `visit(value, i, j, in_a, in_b)` for each distinct value in ascending order, where `i`
/// and `j` count the values of `a` and `b` that are <= it.
fn walk(a: &[f64], b: &[f64], mut visit: impl FnMut(f64, usize, usize, bool, bool)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let value = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        let (start_i, start_j) = (i, j);
        while i < a.len() && a[i] <= value {
            i += 1;
        }
        while j < b.len() && b[j] <= value {
            j += 1;
        }
        visit(value, i, j, i > start_i, j > start_j);
    }
}

/// The extremes of F_a - F_b over the pooled values, with scipy's locations: the first pooled
/// value (sorted `a` first, then sorted `b`) where each is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EcdfExtremes {
    /// max of F_a - F_b (may be <= 0).
    pub max_diff: f64,
    pub max_location: f64,
    /// min of F_a - F_b (may be >= 0).
    pub min_diff: f64,
    pub min_location: f64,
}

/// Running extreme with the location rule "first in `a`, else first in `b`".
struct Extreme {
    best_a: Option<(f64, f64)>,
    best_b: Option<(f64, f64)>,
}

impl Extreme {
    fn offer(
        &mut self,
        diff: f64,
        value: f64,
        in_a: bool,
        in_b: bool,
        better: fn(f64, f64) -> bool,
    ) {
        for (present, slot) in [(in_a, &mut self.best_a), (in_b, &mut self.best_b)] {
            if present && slot.is_none_or(|(d, _)| better(diff, d)) {
                *slot = Some((diff, value));
            }
        }
    }
    /// (extreme, location): `a`'s unless `b` has a strictly better one (np.argmax's first index).
    fn result(&self, better: fn(f64, f64) -> bool) -> (f64, f64) {
        match (self.best_a, self.best_b) {
            (Some(a), Some(b)) if better(b.0, a.0) => b,
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => (0.0, f64::NAN),
        }
    }
}

/// The running extremes of F_a - F_b, fed distinct values in ascending order: by one merge walk
/// (`extremes`) or by pieces of the pooled order whose counts before them are known (the bucket
/// kernel in `ks_buckets`). Values that cannot hold an extreme may be skipped.
pub(crate) struct ExtremesWalk {
    n: f64,
    m: f64,
    high: Extreme,
    low: Extreme,
}

impl ExtremesWalk {
    /// For samples of `n` and `m` finite values.
    pub fn new(n: u64, m: u64) -> Self {
        let empty = || Extreme {
            best_a: None,
            best_b: None,
        };
        ExtremesWalk {
            n: n as f64,
            m: m as f64,
            high: empty(),
            low: empty(),
        }
    }

    /// One distinct value with `i` values of `a` and `j` of `b` at or below it; `in_a` / `in_b`
    /// say whether it occurs in each.
    #[inline]
    pub fn visit(&mut self, value: f64, i: u64, j: u64, in_a: bool, in_b: bool) {
        // the same float operations as scipy (i / n - j / m), so equal statistics bit for bit
        let diff = i as f64 / self.n - j as f64 / self.m;
        self.high.offer(diff, value, in_a, in_b, |x, y| x > y);
        self.low.offer(diff, value, in_a, in_b, |x, y| x < y);
    }

    /// A piece of the pooled order: sorted `a` and `b` values that come after `i0` values of
    /// `a` and `j0` of `b`, with no value shared with what comes before or after.
    pub fn visit_run(&mut self, a: &[f64], b: &[f64], i0: u64, j0: u64) {
        walk(a, b, |value, i, j, in_a, in_b| {
            self.visit(value, i0 + i as u64, j0 + j as u64, in_a, in_b)
        });
    }

    pub fn finish(&self) -> EcdfExtremes {
        let (max_diff, max_location) = self.high.result(|x, y| x > y);
        let (min_diff, min_location) = self.low.result(|x, y| x < y);
        EcdfExtremes {
            max_diff,
            max_location,
            min_diff,
            min_location,
        }
    }
}

/// F_a - F_b at every distinct value; `a` and `b` sorted, finite, non-empty.
pub fn extremes(a: &[f64], b: &[f64]) -> EcdfExtremes {
    let mut w = ExtremesWalk::new(a.len() as u64, b.len() as u64);
    w.visit_run(a, b, 0, 0);
    w.finish()
}

/// Wasserstein-1 distance: the integral of |F_a - F_b|, a sum over the gaps between consecutive
/// distinct pooled values (compensated summation, sequential: one result per input).
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    let mut previous: Option<(f64, f64)> = None; // (value, |F_a - F_b| just after it)
    walk(a, b, |value, i, j, _, _| {
        if let Some((last, gap_height)) = previous {
            let term = gap_height * (value - last);
            // Neumaier's compensated addition
            let t = sum + term;
            if sum.abs() >= term.abs() {
                compensation += (sum - t) + term;
            } else {
                compensation += (term - t) + sum;
            }
            sum = t;
        }
        previous = Some((value, (i as f64 / n - j as f64 / m).abs()));
    });
    sum + compensation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // a = {1, 2, 2}, b = {2, 3}: F_a - F_b at 1: 1/3; at 2: 1 - 1/2; at 3: 0
        let e = extremes(&[1.0, 2.0, 2.0], &[2.0, 3.0]);
        assert_eq!(e.max_diff, 1.0 - 0.5);
        assert_eq!(e.max_location, 2.0);
        assert_eq!(e.min_diff, 0.0);
        // min 0 first reached at 3 (only in b)
        assert_eq!(e.min_location, 3.0);
        // W1 = 1/3 * (2 - 1) + 1/2 * (3 - 2)
        assert!((wasserstein(&[1.0, 2.0, 2.0], &[2.0, 3.0]) - (1.0 / 3.0 + 0.5)).abs() < 1e-15);
        assert_eq!(wasserstein(&[5.0], &[5.0]), 0.0);
    }
}
