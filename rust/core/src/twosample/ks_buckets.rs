//! The exact two-sample KS statistic without sorting both samples: bucket refinement.
//!
//! F_a - F_b only needs to be evaluated where it can reach its extreme. Each value maps to its
//! order-preserving key (`Sample::order_key`: -0.0 and +0.0 share one); cells are key intervals,
//! so equal values always share a cell and a cell's values are contiguous in the pooled order.
//!
//! 1. Scan: finite counts and the key range [lo, hi] of both samples (one parallel read).
//! 2. Level 1: count both samples in 2^16 equal key intervals over [lo, hi] (per-part integer
//!    histograms, summed: the same counts for any thread count). The counts before a cell give
//!    F_a - F_b exactly at the cell's last value (integers: (A m - B n) / (n m) as i128), so the
//!    largest |difference| at any cell end, T, is a lower bound of D. Inside a cell with `ca`
//!    and `cb` values, the difference lies in [max(S - cb/m, E - ca/n), min(S + ca/n, E + cb/m)]
//!    (S, E: before and after the cell); a cell whose range stays inside (-T, T) by a margin
//!    cannot hold the statistic and is dropped. The margin (2^-50) covers the float rounding
//!    of scipy's `i / n - j / m`, so a dropped value's float difference is strictly below the
//!    float difference at the cell end that gave T: the float maximum, and its first location,
//!    lie in the kept cells.
//! 3. Level 2, when the kept cells still hold many values: the same over up to 2^18 sub-cells
//!    of the kept cells (one more read of both samples), with T raised by the sub-cell ends.
//! 4. The values of the kept cells are gathered, sorted (a small share of the data unless the
//!    data defeat the buckets, when this is the full sort) and walked in ascending order with
//!    the counts before each cell: the same float operations in the same order as the merge
//!    walk of `ecdf::extremes` over the fully sorted samples, so the statistic, location, sign
//!    and p-value are bit-identical. A cell one key wide is one distinct value: visited
//!    directly, nothing gathered (constants, spikes, narrow ranges).

use rayon::prelude::*;

use super::ecdf::{EcdfExtremes, ExtremesWalk};
use super::ks::{check_sizes, ks_from_extremes, KsResult, Method};
use crate::alloc;
use crate::cancel;
use crate::error::{Error, Result};
use crate::parallel;
use crate::sample::Sample;
use crate::state::NanPolicy;

/// log2 of the level-1 cell count.
const LEVEL1_BITS: u32 = 16;
/// log2 of the most level-2 sub-cells (2 MiB of u64 counts per part).
const LEVEL2_CELLS_BITS: u32 = 18;
/// Values per task between cancellation checks.
const BLOCK: usize = 1 << 16;
/// Parts of a histogram pass (each holds a count per cell).
const MAX_PARTS: usize = 8;

/// The one-shot KS of two unsorted samples and the finite counts it used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsOfValues {
    pub result: KsResult,
    pub n_a: u64,
    pub n_b: u64,
}

/// Two-sided two-sample KS of two unsorted samples, bit-identical to sorting both and calling
/// `ks::ks_2samp`. Non-finite values: refused under `NanPolicy::Raise` (naming the side and the
/// count), dropped otherwise, as `SortedSample::from_values` does.
pub fn ks_2samp_values<T: Sample>(
    a: &[T],
    b: &[T],
    method: Method,
    nan_policy: NanPolicy,
    names: (&str, &str),
) -> Result<KsOfValues> {
    let (sa, sb) = (scan(a), scan(b));
    for (data, s, name) in [(a.len(), &sa, names.0), (b.len(), &sb, names.1)] {
        let missing = data as u64 - s.finite;
        if missing > 0 && nan_policy == NanPolicy::Raise {
            return Err(Error::invalid(
                name,
                format!(
                    "{missing} missing values (NaN or inf); pass nan_policy='omit' to drop them"
                ),
            ));
        }
    }
    check_sizes(sa.finite, sb.finite, names)?;
    let refine_above = (1u64 << 16).max((sa.finite + sb.finite) / 64);
    let e = extremes_of_values(a, b, sa, sb, refine_above)?;
    Ok(KsOfValues {
        result: ks_from_extremes(&e, sa.finite, sb.finite, method),
        n_a: sa.finite,
        n_b: sb.finite,
    })
}

/// Finite count and key range of one sample.
#[derive(Debug, Clone, Copy)]
struct Scan {
    finite: u64,
    min: u64,
    max: u64,
}

const NO_VALUES: Scan = Scan {
    finite: 0,
    min: u64::MAX,
    max: 0,
};

fn scan<T: Sample>(data: &[T]) -> Scan {
    parallel::map_reduce(
        data,
        BLOCK,
        |block| {
            let mut s = NO_VALUES;
            for &x in block {
                if x.is_finite_value() {
                    let k = x.order_key();
                    s.finite += 1;
                    s.min = s.min.min(k);
                    s.max = s.max.max(k);
                }
            }
            s
        },
        || NO_VALUES,
        |x, y| Scan {
            finite: x.finite + y.finite,
            min: x.min.min(y.min),
            max: x.max.max(y.max),
        },
    )
}

/// Counts the finite values of `data` per cell (`cell_of` a key: None outside every cell).
fn histogram<T: Sample>(
    data: &[T],
    cells: usize,
    cell_of: &(impl Fn(u64) -> Option<usize> + Sync),
) -> Vec<u64> {
    let parts = parallel::map_parts(data, MAX_PARTS, BLOCK, |part| {
        let mut counts = vec![0u64; cells];
        for block in part.chunks(BLOCK) {
            cancel::checkpoint();
            for &x in block {
                if x.is_finite_value() {
                    if let Some(c) = cell_of(x.order_key()) {
                        counts[c] += 1;
                    }
                }
            }
        }
        counts
    });
    // integer sums: the same counts whatever the parts
    let mut total = vec![0u64; cells];
    for part in parts {
        for (t, c) in total.iter_mut().zip(part) {
            *t += c;
        }
    }
    total
}

/// Cells in ascending key order with both samples' counts in and before each.
struct Cells {
    /// First key of each cell; every cell is 2^width_bits keys wide.
    start: Vec<u64>,
    width_bits: u32,
    a: Vec<u64>,
    b: Vec<u64>,
    before_a: Vec<u64>,
    before_b: Vec<u64>,
}

/// Exact F_a - F_b scaled by n m, and the pruning rule.
struct Bounds {
    n: i128,
    m: i128,
    /// The largest |F_a - F_b| n m seen at a cell end.
    floor: i128,
    /// 2^-50 n m, rounded up: more than the float rounding of i / n - j / m (3 half-ulps of 1).
    margin: i128,
}

impl Bounds {
    fn new(n: u64, m: u64) -> Self {
        let nm = n as i128 * m as i128;
        Bounds {
            n: n as i128,
            m: m as i128,
            floor: 0,
            margin: (nm >> 50) + 1,
        }
    }
    fn diff(&self, i: u64, j: u64) -> i128 {
        i as i128 * self.m - j as i128 * self.n
    }
    /// Raises the floor with the ends of the non-empty cells.
    fn raise(&mut self, cells: &Cells) {
        for c in 0..cells.start.len() {
            if cells.a[c] + cells.b[c] > 0 {
                let end = self.diff(
                    cells.before_a[c] + cells.a[c],
                    cells.before_b[c] + cells.b[c],
                );
                self.floor = self.floor.max(end.abs());
            }
        }
    }
    /// Whether cell `c` may hold a difference as large as the floor (within the margin).
    fn may_reach(&self, cells: &Cells, c: usize) -> bool {
        let (ca, cb) = (cells.a[c] as i128, cells.b[c] as i128);
        if ca + cb == 0 {
            return false;
        }
        let start = self.diff(cells.before_a[c], cells.before_b[c]);
        let end = start + ca * self.m - cb * self.n;
        let high = (start + ca * self.m).min(end + cb * self.n);
        let low = (start - cb * self.n).max(end - ca * self.m);
        let reach = self.floor - self.margin;
        high >= reach || low <= -reach
    }
}

/// The level-1 cells: 2^16 equal key intervals over [lo, hi].
fn level1<T: Sample>(a: &[T], b: &[T], lo: u64, hi: u64) -> Cells {
    let range = hi - lo;
    let width_bits = (u64::BITS - range.leading_zeros()).saturating_sub(LEVEL1_BITS);
    let count = (range >> width_bits) as usize + 1;
    let cell_of = |k: u64| Some(((k - lo) >> width_bits) as usize);
    let ca = histogram(a, count, &cell_of);
    let cb = histogram(b, count, &cell_of);
    let (mut before_a, mut before_b) = (Vec::with_capacity(count), Vec::with_capacity(count));
    let (mut i, mut j) = (0u64, 0u64);
    for c in 0..count {
        before_a.push(i);
        before_b.push(j);
        i += ca[c];
        j += cb[c];
    }
    Cells {
        start: (0..count as u64).map(|c| lo + (c << width_bits)).collect(),
        width_bits,
        a: ca,
        b: cb,
        before_a,
        before_b,
    }
}

/// The level-2 cells: each kept level-1 cell split into 2^sub_bits equal intervals.
fn level2<T: Sample>(a: &[T], b: &[T], parent: &Cells, keep: &[bool], lo: u64) -> Option<Cells> {
    let kept: Vec<usize> = (0..keep.len()).filter(|&c| keep[c]).collect();
    let room = LEVEL2_CELLS_BITS - (kept.len() as u64).next_power_of_two().trailing_zeros();
    let sub_bits = parent.width_bits.min(LEVEL1_BITS).min(room);
    if sub_bits == 0 {
        return None;
    }
    let width_bits = parent.width_bits - sub_bits;
    let mut slot = vec![u32::MAX; keep.len()];
    for (s, &c) in kept.iter().enumerate() {
        slot[c] = s as u32;
    }
    let (shift, mask) = (parent.width_bits, (1u64 << sub_bits) - 1);
    let cell_of = |k: u64| {
        let s = slot[((k - lo) >> shift) as usize];
        (s != u32::MAX)
            .then(|| ((s as usize) << sub_bits) | (((k - lo) >> width_bits) & mask) as usize)
    };
    let count = kept.len() << sub_bits;
    let ca = histogram(a, count, &cell_of);
    let cb = histogram(b, count, &cell_of);
    let mut cells = Cells {
        start: Vec::with_capacity(count),
        width_bits,
        a: ca,
        b: cb,
        before_a: Vec::with_capacity(count),
        before_b: Vec::with_capacity(count),
    };
    for (s, &c) in kept.iter().enumerate() {
        let (mut i, mut j) = (parent.before_a[c], parent.before_b[c]);
        for sub in 0..1usize << sub_bits {
            let cell = (s << sub_bits) | sub;
            cells
                .start
                .push(parent.start[c] + ((sub as u64) << width_bits));
            cells.before_a.push(i);
            cells.before_b.push(j);
            i += cells.a[cell];
            j += cells.b[cell];
        }
    }
    Some(cells)
}

/// The sorted values of `data` whose keys fall in a kept cell (`total` of them).
fn gather<T: Sample>(
    data: &[T],
    total: u64,
    wanted: &(impl Fn(u64) -> bool + Sync),
) -> Result<Vec<f64>> {
    let what = "the KS candidate values";
    // the parts' keys and their concatenation coexist for a moment
    alloc::check_bytes(what, alloc::bytes_of::<u64>(2 * total as u128))?;
    let parts = parallel::map_parts(data, MAX_PARTS, BLOCK, |part| {
        let mut keys = Vec::new();
        for block in part.chunks(BLOCK) {
            cancel::checkpoint();
            for &x in block {
                if x.is_finite_value() {
                    let k = x.order_key();
                    if wanted(k) {
                        keys.push(k);
                    }
                }
            }
        }
        keys
    });
    let mut keys = Vec::new();
    keys.try_reserve_exact(total as usize)
        .map_err(|_| Error::OutOfMemory {
            what: what.into(),
            bytes: alloc::bytes_of::<u64>(total as u128),
            limit: None,
        })?;
    for part in parts {
        keys.extend_from_slice(&part);
    }
    parallel::in_pool(|serial| {
        if serial {
            keys.sort_unstable();
        } else {
            keys.par_sort_unstable();
        }
    });
    // keys are unique per value, so the sorted values are the same for any thread count
    Ok(keys.into_iter().map(T::from_order_key).collect())
}

/// Walks the kept cells in ascending order (`a_values` / `b_values`: their gathered values).
fn walk_kept<T: Sample>(
    cells: &Cells,
    keep: &[bool],
    a_values: &[f64],
    b_values: &[f64],
    walk: &mut ExtremesWalk,
) {
    let (mut pa, mut pb) = (0usize, 0usize);
    for c in (0..keep.len()).filter(|&c| keep[c]) {
        let (ca, cb) = (cells.a[c], cells.b[c]);
        let (i0, j0) = (cells.before_a[c], cells.before_b[c]);
        if cells.width_bits == 0 {
            walk.visit(
                T::from_order_key(cells.start[c]),
                i0 + ca,
                j0 + cb,
                ca > 0,
                cb > 0,
            );
        } else {
            let (na, nb) = (ca as usize, cb as usize);
            walk.visit_run(&a_values[pa..pa + na], &b_values[pb..pb + nb], i0, j0);
            pa += na;
            pb += nb;
        }
    }
}

/// The values in the kept cells.
fn kept_values(cells: &Cells, keep: &[bool]) -> u64 {
    (0..keep.len())
        .filter(|&c| keep[c])
        .map(|c| cells.a[c] + cells.b[c])
        .sum()
}

/// The extremes of F_a - F_b over two unsorted samples with the given scans (both non-empty):
/// equal, bit for bit, to `ecdf::extremes` of the sorted finite values on the statistic's side.
/// A second level of cells is counted when the kept cells hold more than `refine_above` values
/// (then it pays for its read of both samples).
fn extremes_of_values<T: Sample>(
    a: &[T],
    b: &[T],
    sa: Scan,
    sb: Scan,
    refine_above: u64,
) -> Result<EcdfExtremes> {
    let (lo, hi) = (sa.min.min(sb.min), sa.max.max(sb.max));
    let mut bounds = Bounds::new(sa.finite, sb.finite);
    let mut cells = level1(a, b, lo, hi);
    bounds.raise(&cells);
    let keep1: Vec<bool> = (0..cells.start.len())
        .map(|c| bounds.may_reach(&cells, c))
        .collect();
    let mut keep = keep1.clone();
    let width1 = cells.width_bits;
    let mut refined = false;
    if width1 > 0 && kept_values(&cells, &keep) > refine_above {
        if let Some(finer) = level2(a, b, &cells, &keep, lo) {
            bounds.raise(&finer);
            keep = (0..finer.start.len())
                .map(|c| bounds.may_reach(&finer, c))
                .collect();
            cells = finer;
            refined = true;
        }
    }
    let mut walk = ExtremesWalk::new(sa.finite, sb.finite);
    if cells.width_bits == 0 {
        walk_kept::<T>(&cells, &keep, &[], &[], &mut walk);
        return Ok(walk.finish());
    }
    // whether a key is in a kept cell: its level-1 cell is kept and, after level 2, its
    // sub-cell's start is among the kept ones (sorted, as cells are)
    let width_bits = cells.width_bits;
    let kept_starts: Vec<u64> = (0..keep.len())
        .filter(|&c| keep[c] && refined)
        .map(|c| cells.start[c])
        .collect();
    let wanted = |k: u64| {
        keep1[((k - lo) >> width1) as usize]
            && (!refined
                || kept_starts
                    .binary_search(&(lo + (((k - lo) >> width_bits) << width_bits)))
                    .is_ok())
    };
    let total_a = (0..keep.len())
        .filter(|&c| keep[c])
        .map(|c| cells.a[c])
        .sum();
    let total_b = (0..keep.len())
        .filter(|&c| keep[c])
        .map(|c| cells.b[c])
        .sum();
    let a_values = gather(a, total_a, &wanted)?;
    let b_values = gather(b, total_b, &wanted)?;
    walk_kept::<T>(&cells, &keep, &a_values, &b_values, &mut walk);
    Ok(walk.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;
    use crate::twosample::ks;
    use crate::twosample::sorted::SortedSample;

    /// The reference: sort both samples, one merge walk (the kernel this one replaces).
    fn by_sorting<T: Sample>(a: &[T], b: &[T], method: Method) -> Result<KsResult> {
        let sa = SortedSample::from_values(a, NanPolicy::Omit, "a")?;
        let sb = SortedSample::from_values(b, NanPolicy::Omit, "b")?;
        ks::ks_2samp(sa.values(), sb.values(), method, ("a", "b"))
    }

    fn bits(r: &KsResult) -> (u64, u64, u64, i8, Method) {
        (
            r.statistic.to_bits(),
            r.pvalue.to_bits(),
            r.location.to_bits(),
            r.sign,
            r.method,
        )
    }

    /// Bit-identical to the sort path, with and without the second level, both orders.
    fn check<T: Sample + std::fmt::Debug>(a: &[T], b: &[T]) {
        for (x, y) in [(a, b), (b, a)] {
            for method in [Method::Auto, Method::Asymptotic] {
                let want = by_sorting(x, y, method).unwrap();
                let got = ks_2samp_values(x, y, method, NanPolicy::Omit, ("a", "b")).unwrap();
                assert_eq!(bits(&got.result), bits(&want), "{method:?} {x:?} {y:?}");
                // force level 2 whenever it applies
                let (sx, sy) = (scan(x), scan(y));
                let forced = extremes_of_values(x, y, sx, sy, 0).unwrap();
                let r = ks_from_extremes(&forced, sx.finite, sy.finite, method);
                assert_eq!(bits(&r), bits(&want), "level 2, {method:?} {x:?} {y:?}");
            }
        }
    }

    #[test]
    fn adversarial_inputs_match_the_sort_path() {
        let sub = f64::MIN_POSITIVE / 4.0;
        let cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
            (vec![1.0], vec![1.0]),
            (vec![1.0], vec![2.0]),
            (vec![5.0; 7], vec![5.0; 3]),
            (vec![5.0; 7], vec![5.0, 5.0, 6.0]),
            (vec![-0.0, 0.0, -0.0], vec![0.0, 0.0]),
            (vec![-0.0, 1.0], vec![0.0, -1.0]),
            (vec![sub, -sub, 0.0, 2.0 * sub], vec![sub, 3.0 * sub, -0.0]),
            (
                vec![f64::MAX, f64::MIN, 0.0],
                vec![f64::MIN_POSITIVE, 1e308],
            ),
            (
                vec![f64::INFINITY, 1.0, f64::NAN, 2.0],
                vec![f64::NEG_INFINITY, 1.5, 2.0],
            ),
            (
                (0..100).map(f64::from).collect(),
                (0..100).rev().map(f64::from).collect(),
            ),
            (
                (0..100).map(f64::from).collect(),
                (50..60).map(f64::from).collect(),
            ),
            ((0..1000).map(|i| f64::from(i % 3)).collect(), vec![1.0; 10]),
            // all values in one level-1 cell of a wide range, and a narrow range
            (
                (0..500)
                    .map(|i| 1.0 + 1e-4 * f64::from(i) / 500.0)
                    .chain([-1e30, 1e30])
                    .collect(),
                (0..300)
                    .map(|i| 1.0 + 1e-4 * f64::from(i * 7 % 300) / 300.0)
                    .collect(),
            ),
            (
                (0..500)
                    .map(|i| 1.0 + 1e-4 * f64::from(i) / 500.0)
                    .collect(),
                (0..400)
                    .map(|i| 1.0 + 1e-4 * f64::from(i) / 450.0)
                    .collect(),
            ),
            // a spike plus a spread
            (
                (0..600)
                    .map(|i| if i % 2 == 0 { 3.0 } else { f64::from(i) })
                    .collect(),
                (0..600).map(f64::from).collect(),
            ),
        ];
        for (a, b) in &cases {
            check(a, b);
            let (a32, b32): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&x| x as f32).collect(),
                b.iter().map(|&x| x as f32).collect(),
            );
            check(&a32, &b32);
        }
        let tiny = [
            f32::from_bits(1),
            f32::from_bits(2),
            -f32::from_bits(1),
            0.0,
        ];
        check(&tiny, &[f32::from_bits(2), -0.0]);
    }

    #[test]
    fn identical_and_disjoint_samples() {
        let a: Vec<f64> = (0..3000).map(|i| f64::from(i).sin()).collect();
        check(&a, &a);
        let b: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
        check(&a, &b);
        let mut sorted = a.clone();
        sorted.sort_by(f64::total_cmp);
        check(&sorted, &a);
    }

    /// Random samples of random sizes from generators that make ties, narrow ranges, spikes
    /// and shifted continuous data; both element types.
    #[test]
    fn random_samples_match_the_sort_path() {
        let mut rng = Rng::new(17, 3);
        for case in 0..250 {
            let draw = |rng: &mut Rng, shift: f64| -> Vec<f64> {
                let n = 1 + rng.below(if case % 25 == 0 { 20_000 } else { 300 }) as usize;
                let kind = rng.below(5);
                (0..n)
                    .map(|_| match kind {
                        0 => rng.below(6) as f64 + shift.round(),
                        1 => 1.0 + 1e-6 * rng.uniform() + 1e-7 * shift,
                        2 if rng.below(3) == 0 => 0.25,
                        _ => {
                            // roughly normal: sum of uniforms
                            (0..4).map(|_| rng.uniform()).sum::<f64>() - 2.0 + shift
                        }
                    })
                    .collect()
            };
            let shift = [0.0, 0.05, 0.5, 3.0][rng.below(4) as usize];
            let a = draw(&mut rng, 0.0);
            let b = draw(&mut rng, shift);
            check(&a, &b);
            let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
            let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            check(&a32, &b32);
        }
    }

    /// Large samples: the second level and the gather run on real sizes.
    #[test]
    fn large_samples_match_the_sort_path() {
        let mut rng = Rng::new(5, 1);
        let normal = |rng: &mut Rng, n: usize, shift: f64| -> Vec<f32> {
            (0..n)
                .map(|_| ((0..4).map(|_| rng.uniform()).sum::<f64>() - 2.0 + shift) as f32)
                .collect()
        };
        for (n, m, shift) in [
            (300_000, 200_000, 0.0),
            (250_000, 250_000, 0.01),
            (100_000, 7, 0.3),
        ] {
            let a = normal(&mut rng, n, 0.0);
            let b = normal(&mut rng, m, shift);
            let want = by_sorting(&a, &b, Method::Auto).unwrap();
            let got = ks_2samp_values(&a, &b, Method::Auto, NanPolicy::Raise, ("a", "b")).unwrap();
            assert_eq!(bits(&got.result), bits(&want));
            assert_eq!((got.n_a, got.n_b), (n as u64, m as u64));
        }
    }

    #[test]
    fn missing_values_and_empty_samples() {
        let err = ks_2samp_values(
            &[1.0, f64::NAN],
            &[1.0],
            Method::Auto,
            NanPolicy::Raise,
            ("e", "x"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "e: 1 missing values (NaN or inf); pass nan_policy='omit' to drop them"
        );
        let err = ks_2samp_values(
            &[1.0f32],
            &[f32::NAN],
            Method::Auto,
            NanPolicy::Omit,
            ("e", "x"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x: has no finite values; KS needs at least one"
        );
        let ok = ks_2samp_values(
            &[1.0, f64::INFINITY],
            &[2.0],
            Method::Auto,
            NanPolicy::Bin,
            ("e", "x"),
        )
        .unwrap();
        assert_eq!((ok.n_a, ok.n_b, ok.result.statistic), (1, 1, 1.0));
    }

    #[test]
    fn a_set_cancel_flag_stops_the_kernel() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let a = vec![1.0f64; 1 << 18];
        let flag = Arc::new(AtomicBool::new(true));
        let got = cancel::run(flag, || {
            ks_2samp_values(&a, &a, Method::Auto, NanPolicy::Raise, ("a", "b"))
        });
        assert_eq!(got.unwrap_err(), Error::Cancelled);
    }
}
