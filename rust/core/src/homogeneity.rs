//! PSI's significance, row by row over (rows x bins) count tables: Pearson's chi-square test of
//! homogeneity of each 2 x k table (expected row, actual row) and PSI's noise floor.
//! `python/undertow/tabular/_significance.py` says why these; this is its arithmetic, moved
//! out of numpy because a one-column `ut.psi` of a few hundred values spent two thirds of its
//! time in numpy's per-call overhead there. The Monte-Carlo test of sparse tables stays in
//! Python: it draws from numpy's generator, so its p-values stay those of a numpy version.
//!
//! Every floating-point step is numpy's, in numpy's order (the statistic sums the populated
//! bins' terms by numpy's pairwise summation), so the statistic and p-value are the same bits
//! as the numpy version's; only the Cochran cell counts differ, and only where numpy's int64
//! product `n * total` would overflow (here it is taken in i128).

use crate::error::{Error, Result};
use crate::special::chi2_survival;

/// What the test found for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowTest {
    /// Pearson's X^2 over the populated bins (0 when the row is not tested).
    pub statistic: f64,
    /// Bins with a count on either side.
    pub populated: usize,
    /// Cochran's rule fails: the p-value must come from the Monte-Carlo test (`p_value` NaN).
    pub monte_carlo: bool,
    /// The chi-square p-value (df = populated - 1); 1 when the row is not tested (fewer than
    /// two populated bins, or an empty side); NaN when `monte_carlo`.
    pub p_value: f64,
    /// (k - 1)(1/n + 1/m) for the k bins the expected row populates; NaN when n or m is 0.
    pub noise_floor: f64,
}

/// numpy's pairwise summation of float64 (`np.add.reduce` over a contiguous run): blocks of
/// at most 128 values summed in 8 accumulators, halved on multiples of 8 above that.
pub fn numpy_sum(values: &[f64]) -> f64 {
    fn pairwise(a: &[f64]) -> f64 {
        let n = a.len();
        if n < 8 {
            a.iter().fold(-0.0, |s, &x| s + x)
        } else if n <= 128 {
            let mut r: [f64; 8] = a[..8].try_into().expect("eight values");
            let whole = n - n % 8;
            for block in a[8..whole].chunks_exact(8) {
                for (acc, &x) in r.iter_mut().zip(block) {
                    *acc += x;
                }
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for &x in &a[whole..] {
                res += x;
            }
            res
        } else {
            let half = n / 2;
            let half = half - half % 8;
            pairwise(&a[..half]) + pairwise(&a[half..])
        }
    }
    // The reduction starts from add's identity.
    0.0 + pairwise(values)
}

/// The test of each row of `expected` and `actual`, row-major `rows x bins` tables of counts.
/// A table without bins gives untested rows.
pub fn homogeneity_rows(
    expected: &[i64],
    actual: &[i64],
    rows: usize,
    bins: usize,
) -> Result<Vec<RowTest>> {
    for (argument, table) in [("expected", expected), ("actual", actual)] {
        if Some(table.len()) != rows.checked_mul(bins) {
            return Err(Error::invalid(
                argument,
                format!("has {} counts, not {rows} rows of {bins} bins", table.len()),
            ));
        }
        if let Some(i) = table.iter().position(|&c| c < 0) {
            return Err(Error::invalid(
                argument,
                format!(
                    "count {} at row {}, bin {} is negative",
                    table[i],
                    i / bins,
                    i % bins
                ),
            ));
        }
    }
    if bins == 0 {
        return Ok(vec![row_test(&[], &[], &mut Vec::new()); rows]);
    }
    let mut terms = Vec::with_capacity(bins);
    Ok(expected
        .chunks_exact(bins)
        .zip(actual.chunks_exact(bins))
        .map(|(e, a)| row_test(e, a, &mut terms))
        .collect())
}

/// One row. Sums are taken in i128, so no table of i64 counts overflows them (an accumulator's
/// counts can pass 2^63 in all when merged with itself often enough).
fn row_test(e: &[i64], a: &[i64], terms: &mut Vec<f64>) -> RowTest {
    let total = |row: &[i64]| row.iter().map(|&c| c as i128).sum::<i128>();
    let (n, m) = (total(e), total(a));
    let pool = n + m;
    let k = e.iter().filter(|&&c| c != 0).count();
    let noise_floor = if n == 0 || m == 0 {
        f64::NAN
    } else {
        k.saturating_sub(1) as f64 * (1.0 / n as f64 + 1.0 / m as f64)
    };
    let populated = e.iter().zip(a).filter(|(&x, &y)| x != 0 || y != 0).count();
    let untested = RowTest {
        statistic: 0.0,
        populated,
        monte_carlo: false,
        p_value: 1.0,
        noise_floor,
    };
    if populated < 2 || n == 0 || m == 0 {
        return untested;
    }
    let (nf, mf, poolf) = (n as f64, m as f64, pool as f64);
    terms.clear();
    let (mut smallest, mut below_5) = (f64::INFINITY, 0usize);
    for (&x, &y) in e.iter().zip(a) {
        if x == 0 && y == 0 {
            continue;
        }
        let (xf, yf) = (x as f64, y as f64);
        let scale = (xf + yf) / poolf;
        let (want_e, want_a) = (nf * scale, mf * scale);
        let (de, da) = (xf - want_e, yf - want_a);
        terms.push(de * de / want_e + da * da / want_a);
        // Cochran's rule on the expected cell counts, as numpy's `n * total / pool`, with the
        // product exact where numpy's int64 one wraps (and in float64 past i128).
        let t = x as i128 + y as i128;
        for side in [n, m] {
            let product = side
                .checked_mul(t)
                .map_or(side as f64 * t as f64, |p| p as f64);
            let cell = product / poolf;
            smallest = smallest.min(cell);
            below_5 += usize::from(cell < 5.0);
        }
    }
    let statistic = numpy_sum(terms);
    let chi2 = smallest >= 1.0 && below_5 as f64 <= 0.2 * (2 * populated) as f64;
    RowTest {
        statistic,
        populated,
        monte_carlo: !chi2,
        p_value: if chi2 {
            chi2_survival(statistic, (populated - 1) as f64)
        } else {
            f64::NAN
        },
        noise_floor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_sum_matches_numpys_pairwise_bits() {
        // v = (1.0 / (np.arange(n) + 1.0)) * t[np.arange(n) % 7]; np.add.reduce(v).view(u64),
        // numpy 2.x. From 100 values on these differ from the sum in order.
        let t = [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3];
        let values = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| (1.0 / (i as f64 + 1.0)) * t[i % 7])
                .collect()
        };
        for (n, bits) in [
            (7, 0x40643a05442b4cf2u64),
            (9, 0x40643a0f647b666e),
            (100, 0x40804602fae3626c),
            (129, 0x40817b95e9d87a85),
            (300, 0x40859f34bafc82ca),
            (1000, 0x408b9dbd68687d49),
        ] {
            assert_eq!(numpy_sum(&values(n)).to_bits(), bits, "{n} values");
        }
        let in_order = values(100).iter().fold(0.0, |s, &x| s + x);
        assert_ne!(in_order.to_bits(), 0x40804602fae3626c);
    }

    #[test]
    fn a_hand_computed_table() {
        // e = [10, 20, 30], a = [20, 20, 20]: n = m = 60, pool 120; scale = 30/120, 40/120,
        // 50/120; want 15, 20, 25 on each side; X^2 = 2 * (25/15 + 0 + 25/25) = 16/3.
        let r = homogeneity_rows(&[10, 20, 30], &[20, 20, 20], 1, 3).unwrap()[0];
        assert!((r.statistic - 16.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.populated, 3);
        assert!(!r.monte_carlo);
        // chi2(2) survival is exp(-x / 2).
        assert!((r.p_value - (-8.0f64 / 3.0).exp()).abs() < 1e-12);
        // (3 - 1) * (1/60 + 1/60)
        assert!((r.noise_floor - 4.0 / 60.0).abs() < 1e-15);
    }

    #[test]
    fn sparse_untested_and_empty_bins() {
        let rows = homogeneity_rows(
            &[
                3, 0, 1, /* */ 5, 0, 0, /* */ 0, 0, 0, /* */ 40, 0, 60,
            ],
            &[
                1, 0, 2, /* */ 0, 7, 0, /* */ 1, 2, 3, /* */ 50, 0, 50,
            ],
            4,
            3,
        )
        .unwrap();
        // Every expected cell under 5: Cochran's rule sends it to the Monte-Carlo test.
        assert!(rows[0].monte_carlo && rows[0].p_value.is_nan());
        assert_eq!(rows[0].populated, 2);
        // Two populated bins, both sides non-empty: tested, by Monte Carlo (cells 2.1-4.1).
        assert!(rows[1].monte_carlo);
        assert_eq!(rows[1].noise_floor, 0.0);
        // An empty expected side: untested, p = 1, no floor.
        assert_eq!((rows[2].p_value, rows[2].statistic), (1.0, 0.0));
        assert!(rows[2].noise_floor.is_nan());
        // The empty middle bin adds nothing: X^2 = 2 * (25/45 + 25/55) with pool 200.
        let want = 2.0 * (25.0 / 45.0 + 25.0 / 55.0);
        assert!((rows[3].statistic - want).abs() < 1e-12);
        assert_eq!(rows[3].populated, 2);
    }

    #[test]
    fn refuses_bad_tables_naming_the_argument() {
        let msg = |r: Result<Vec<RowTest>>| r.unwrap_err().to_string();
        assert!(msg(homogeneity_rows(&[1, 2], &[1], 1, 2)).starts_with("actual: has 1 counts"));
        assert!(msg(homogeneity_rows(&[1, 2, 3], &[1, 2, 3], 1, 2)).starts_with("expected:"));
        assert!(msg(homogeneity_rows(&[1, -2], &[1, 2], 1, 2)).contains("row 0, bin 1"));
        assert!(msg(homogeneity_rows(&[], &[], usize::MAX, 2)).starts_with("expected:"));
    }

    #[test]
    fn tables_without_bins_or_rows() {
        let untested = homogeneity_rows(&[], &[], 3, 0).unwrap();
        assert_eq!(untested.len(), 3);
        assert!(untested
            .iter()
            .all(|r| r.p_value == 1.0 && r.populated == 0 && r.noise_floor.is_nan()));
        assert!(homogeneity_rows(&[], &[], 0, 5).unwrap().is_empty());
    }

    #[test]
    fn row_sums_past_2_63_are_tested() {
        // Each side sums to 2^63 + 2^62: the sums, the pool and the cells are wider than i64.
        let big = i64::MAX / 2 + 1;
        let e = [big, big, big];
        let r = homogeneity_rows(&e, &e, 1, 3).unwrap()[0];
        assert!(!r.monte_carlo);
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        // (3 - 1) * 2 / (3 * 2^62)
        let want = 4.0 / (3.0 * 2f64.powi(62));
        assert!((r.noise_floor - want).abs() <= 1e-15 * want);
    }

    #[test]
    fn cochran_cells_do_not_overflow() {
        // n * total = 4e9 * 8e9 overflows i64; the cells are 2e9 and 2e9 in each bin.
        let big = 4_000_000_000i64;
        let r = homogeneity_rows(&[big, big], &[big, big], 1, 2).unwrap()[0];
        assert!(!r.monte_carlo);
        assert_eq!(r.statistic, 0.0);
        assert_eq!(r.p_value, 1.0);
    }
}
