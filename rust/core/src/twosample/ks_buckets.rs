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
//! 3. Level 2, when the kept cells still hold many values: the same over about 2^16 sub-cells
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
/// log2 of the level-2 sub-cells aimed at (512 KiB of u64 counts per part).
const LEVEL2_CELLS_BITS: u32 = 16;
/// Values per task between cancellation checks.
const BLOCK: usize = 1 << 16;
/// Values counted in u32 before the counts are added to u64 totals.
const PIECE: usize = 1 << 31;
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
    let (first_a, first_b) = (first_pass(a), first_pass(b));
    for (len, s, name) in [
        (a.len(), &first_a.0, names.0),
        (b.len(), &first_b.0, names.1),
    ] {
        let missing = len as u64 - s.finite;
        if missing > 0 && nan_policy == NanPolicy::Raise {
            return Err(Error::invalid(
                name,
                format!(
                    "{missing} missing values (NaN or inf); pass nan_policy='omit' to drop them"
                ),
            ));
        }
    }
    let (n, m) = (first_a.0.finite, first_b.0.finite);
    check_sizes(n, m, names)?;
    let refine_above = (1u64 << 16).max((n + m) / 64);
    let e = extremes_of_values((a, b), first_a, first_b, refine_above, names)?;
    Ok(KsOfValues {
        result: ks_from_extremes(&e, n, m, method),
        n_a: n,
        n_b: m,
    })
}

/// Finite count and key range of one sample.
#[derive(Debug, Clone, Copy)]
struct Scan {
    finite: u64,
    min: u64,
    max: u64,
}

/// log2 of the key width of the first pass's cells: the top 16 bits of the key.
fn top_bits_width<T: Sample>() -> u32 {
    T::KEY_BITS - LEVEL1_BITS
}

/// One read of `data`: its scan and its counts by the top 16 key bits (the first grid).
fn first_pass<T: Sample>(data: &[T]) -> (Scan, Vec<u64>) {
    let width = top_bits_width::<T>();
    let parts = parallel::map_parts(data, MAX_PARTS, BLOCK, |part| {
        let (mut total, mut counts) = (vec![0u64; 1 << LEVEL1_BITS], vec![0u32; 1 << LEVEL1_BITS]);
        let (mut finite, mut min, mut max) = (0u64, u64::MAX, 0u64);
        for piece in part.chunks(PIECE) {
            counts.fill(0);
            for block in piece.chunks(BLOCK) {
                cancel::checkpoint();
                for &x in block {
                    if x.is_finite_value() {
                        let k = x.order_key();
                        finite += 1;
                        min = min.min(k);
                        max = max.max(k);
                        counts[(k >> width) as usize] += 1;
                    }
                }
            }
            add(&mut total, &counts);
        }
        (Scan { finite, min, max }, total)
    });
    let mut scan = Scan {
        finite: 0,
        min: u64::MAX,
        max: 0,
    };
    let mut total = vec![0u64; 1 << LEVEL1_BITS];
    for (s, counts) in parts {
        scan.finite += s.finite;
        scan.min = scan.min.min(s.min);
        scan.max = scan.max.max(s.max);
        add(&mut total, &counts);
    }
    (scan, total)
}

fn add<C: Copy + Into<u64>>(total: &mut [u64], counts: &[C]) {
    for (t, &c) in total.iter_mut().zip(counts) {
        *t += c.into();
    }
}

/// Key intervals in ascending key order.
enum Grid {
    /// Cells of 2^width_bits keys from `lo`.
    Even { lo: u64, width_bits: u32 },
    /// The kept cells of an even grid (numbered by `slot`, u32::MAX for the others), each split
    /// into 2^sub_bits cells. `slot` covers only the parents `first..first + slot.len()`, the
    /// span of the kept ones: most values fall outside it and are dismissed by one compare
    /// instead of a lookup in a table of every parent (which, with the counts, outgrows L2).
    Split {
        lo: u64,
        parent_bits: u32,
        first: u64,
        slot: Vec<u32>,
        sub_bits: u32,
    },
}

impl Grid {
    fn width_bits(&self) -> u32 {
        match self {
            Grid::Even { width_bits, .. } => *width_bits,
            Grid::Split {
                parent_bits,
                sub_bits,
                ..
            } => parent_bits - sub_bits,
        }
    }
}

/// Calls `f` with the cell of a key under `grid` (None outside every cell), as a closure
/// specialised to the grid's kind so that the hot loops do not branch on it.
macro_rules! with_cell_of {
    ($grid:expr, |$cell_of:ident| $body:expr) => {
        match $grid {
            Grid::Even { lo, width_bits } => {
                let (lo, width_bits) = (*lo, *width_bits);
                // wrapping: a key below `lo` (a value another thread wrote after the first
                // pass) lands far past the last cell, which the callers check
                let $cell_of = |k: u64| Some((k.wrapping_sub(lo) >> width_bits) as usize);
                $body
            }
            Grid::Split {
                lo,
                parent_bits,
                first,
                slot,
                sub_bits,
            } => {
                let (lo, parent_bits, first, sub_bits) = (*lo, *parent_bits, *first, *sub_bits);
                let (width_bits, mask) = (parent_bits - sub_bits, (1usize << sub_bits) - 1);
                let slot = slot.as_slice();
                let $cell_of = |k: u64| {
                    let r = k.wrapping_sub(lo);
                    let p = (r >> parent_bits).wrapping_sub(first) as usize;
                    let s = *slot.get(p)?;
                    (s != u32::MAX)
                        .then(|| ((s as usize) << sub_bits) | ((r >> width_bits) as usize & mask))
                };
                $body
            }
        }
    };
}

/// Counts the finite values of `data` per cell of `grid` (`cells` of them).
fn histogram<T: Sample>(data: &[T], grid: &Grid, cells: usize) -> Vec<u64> {
    with_cell_of!(grid, |cell_of| {
        let parts = parallel::map_parts(data, MAX_PARTS, BLOCK, |part| {
            // u32 counts (half the cache of u64), flushed before they could overflow
            let (mut total, mut counts) = (vec![0u64; cells], vec![0u32; cells]);
            for piece in part.chunks(PIECE) {
                counts.fill(0);
                for block in piece.chunks(BLOCK) {
                    cancel::checkpoint();
                    for &x in block {
                        if x.is_finite_value() {
                            // past the last cell: a value written after the first pass
                            if let Some(n) = cell_of(x.order_key()).and_then(|c| counts.get_mut(c))
                            {
                                *n += 1;
                            }
                        }
                    }
                }
                add(&mut total, &counts);
            }
            total
        });
        // integer sums: the same counts whatever the parts
        let mut total = vec![0u64; cells];
        for part in parts {
            add(&mut total, &part);
        }
        total
    })
}

/// Cells in ascending key order with both samples' counts in and before each.
struct Cells {
    grid: Grid,
    /// First key of each cell (each is 2^grid.width_bits() keys wide).
    start: Vec<u64>,
    a: Vec<u64>,
    b: Vec<u64>,
    before_a: Vec<u64>,
    before_b: Vec<u64>,
}

impl Cells {
    fn new(grid: Grid, start: Vec<u64>, a: Vec<u64>, b: Vec<u64>) -> Self {
        let (mut before_a, mut before_b) =
            (Vec::with_capacity(a.len()), Vec::with_capacity(a.len()));
        let (mut i, mut j) = (0u64, 0u64);
        for c in 0..a.len() {
            before_a.push(i);
            before_b.push(j);
            i += a[c];
            j += b[c];
        }
        Cells {
            grid,
            start,
            a,
            b,
            before_a,
            before_b,
        }
    }
    fn len(&self) -> usize {
        self.a.len()
    }
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
        for c in 0..cells.len() {
            if cells.a[c] + cells.b[c] > 0 {
                let end = self.diff(
                    cells.before_a[c] + cells.a[c],
                    cells.before_b[c] + cells.b[c],
                );
                self.floor = self.floor.max(end.abs());
            }
        }
    }
    /// How far below the floor a value may be and still be the statistic (float rounding).
    fn reach(&self) -> i128 {
        self.floor - self.margin
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
        high >= self.reach() || low <= -self.reach()
    }
    fn keep(&self, cells: &Cells) -> Vec<bool> {
        (0..cells.len()).map(|c| self.may_reach(cells, c)).collect()
    }
}

/// The level-1 cells: the first pass's top-16-bit cells, or, when the keys span under a
/// quarter of the key space, 2^16 equal intervals over [lo, hi] (one more read of both).
fn level1<T: Sample>(
    (a, b): (&[T], &[T]),
    first_a: (Scan, Vec<u64>),
    first_b: (Scan, Vec<u64>),
    names: (&str, &str),
) -> Result<Cells> {
    let (lo, hi) = (
        first_a.0.min.min(first_b.0.min),
        first_a.0.max.max(first_b.0.max),
    );
    let range = hi - lo;
    let width_bits = (u64::BITS - range.leading_zeros()).saturating_sub(LEVEL1_BITS);
    let fixed = top_bits_width::<T>();
    if width_bits + 2 > fixed {
        let start = (0..1u64 << LEVEL1_BITS).map(|c| c << fixed).collect();
        let grid = Grid::Even {
            lo: 0,
            width_bits: fixed,
        };
        return Ok(Cells::new(grid, start, first_a.1, first_b.1));
    }
    let count = (range >> width_bits) as usize + 1;
    let grid = Grid::Even { lo, width_bits };
    let (ca, cb) = (histogram(a, &grid, count), histogram(b, &grid, count));
    agrees(&ca, first_a.0.finite, names.0)?;
    agrees(&cb, first_b.0.finite, names.1)?;
    let start = (0..count as u64).map(|c| lo + (c << width_bits)).collect();
    Ok(Cells::new(grid, start, ca, cb))
}

/// A recount of one sample's values must find the `expected` of the pass before: otherwise
/// another thread wrote to the array in between (`Error::Changed`, naming it).
fn agrees(counts: &[u64], expected: u64, name: &str) -> Result<()> {
    if counts.iter().try_fold(0u64, |a, &c| a.checked_add(c)) == Some(expected) {
        Ok(())
    } else {
        Err(Error::changed().naming(name))
    }
}

/// ceil(log2(x)) for x >= 1.
fn ceil_log2(x: u128) -> u32 {
    u128::BITS - (x.max(1) - 1).leading_zeros()
}

/// The level-2 cells: each kept level-1 cell split into 2^sub_bits equal intervals.
fn level2<T: Sample>(
    (a, b): (&[T], &[T]),
    parent: &Cells,
    keep: &[bool],
    names: (&str, &str),
) -> Result<Option<Cells>> {
    let Grid::Even { lo, width_bits } = &parent.grid else {
        return Ok(None);
    };
    let (lo, parent_bits) = (*lo, *width_bits);
    let kept: Vec<usize> = (0..keep.len()).filter(|&c| keep[c]).collect();
    // finer cells prune better; about 2^16 of them in all keeps the counts in cache
    let room = LEVEL2_CELLS_BITS.saturating_sub(ceil_log2(kept.len() as u128));
    let sub_bits = parent_bits.min(room.max(1));
    if sub_bits == 0 {
        return Ok(None);
    }
    let (Some(&first), Some(&last)) = (kept.first(), kept.last()) else {
        return Ok(None);
    };
    let mut slot = vec![u32::MAX; last - first + 1];
    for (s, &c) in kept.iter().enumerate() {
        slot[c - first] = s as u32;
    }
    let grid = Grid::Split {
        lo,
        parent_bits,
        first: first as u64,
        slot,
        sub_bits,
    };
    let count = kept.len() << sub_bits;
    let (ca, cb) = (histogram(a, &grid, count), histogram(b, &grid, count));
    for (s, &c) in kept.iter().enumerate() {
        let cells = s << sub_bits..(s + 1) << sub_bits;
        agrees(&ca[cells.clone()], parent.a[c], names.0)?;
        agrees(&cb[cells], parent.b[c], names.1)?;
    }
    let width_bits = parent_bits - sub_bits;
    let mut start = Vec::with_capacity(count);
    for &c in &kept {
        start.extend((0..1u64 << sub_bits).map(|sub| parent.start[c] + (sub << width_bits)));
    }
    let mut cells = Cells::new(grid, start, ca, cb);
    // the counts before a sub-cell start from its parent's (dropped cells lie in between)
    for (s, &c) in kept.iter().enumerate() {
        let (mut i, mut j) = (parent.before_a[c], parent.before_b[c]);
        for cell in s << sub_bits..(s + 1) << sub_bits {
            cells.before_a[cell] = i;
            cells.before_b[cell] = j;
            i += cells.a[cell];
            j += cells.b[cell];
        }
    }
    Ok(Some(cells))
}

/// The sorted values of `data` whose keys fall in a kept cell (`total` of them).
fn gather<T: Sample>(
    data: &[T],
    cells: &Cells,
    keep: &[bool],
    (counts, total): (&[u64], u64),
    name: &str,
) -> Result<Vec<f64>> {
    let what = "the KS candidate values";
    // the parts' keys and their concatenation coexist for a moment
    alloc::check_bytes(what, alloc::bytes_of::<u64>(2 * total as u128))?;
    // the kept cells' key hull: most values lie outside it and cost one compare
    let first = keep.iter().position(|&k| k).unwrap_or(0);
    let last = keep.iter().rposition(|&k| k).unwrap_or(0);
    let hull_lo = cells.start[first];
    let hull_span = (cells.start[last] - hull_lo) | ((1u64 << cells.grid.width_bits()) - 1);
    let parts = with_cell_of!(&cells.grid, |cell_of| {
        parallel::map_parts(data, MAX_PARTS, BLOCK, |part| {
            let mut keys = Vec::new();
            for block in part.chunks(BLOCK) {
                cancel::checkpoint();
                for &x in block {
                    if x.is_finite_value() {
                        let k = x.order_key();
                        if k.wrapping_sub(hull_lo) <= hull_span
                            && cell_of(k).is_some_and(|c| keep[c])
                        {
                            keys.push(k);
                        }
                    }
                }
            }
            keys
        })
    });
    let mut keys = Vec::new();
    keys.try_reserve_exact(total as usize)
        .map_err(|_| Error::OutOfMemory {
            what: what.into(),
            bytes: alloc::bytes_of::<u64>(total as u128),
            limit: None,
        })?;
    for part in parts {
        if keys.len() + part.len() > total as usize {
            return Err(Error::changed().naming(name));
        }
        keys.extend_from_slice(&part);
    }
    parallel::in_pool(|serial| {
        if serial {
            keys.sort_unstable();
        } else {
            keys.par_sort_unstable();
        }
    });
    // Each kept cell's run of the sorted keys is as long as its count (`walk_kept` slices by
    // the counts): its first and last key lie in it, unless the values changed since.
    let mut at = 0usize;
    let runs_agree = with_cell_of!(&cells.grid, |cell_of| {
        (0..keep.len()).filter(|&c| keep[c]).all(|c| {
            let n = counts[c] as usize;
            let run = keys.get(at..at + n);
            at += n;
            run.is_some_and(|r| {
                r.is_empty() || (cell_of(r[0]) == Some(c) && cell_of(r[n - 1]) == Some(c))
            })
        })
    });
    if !runs_agree || at != keys.len() {
        return Err(Error::changed().naming(name));
    }
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
    let one_key = cells.grid.width_bits() == 0;
    let (mut pa, mut pb) = (0usize, 0usize);
    for c in (0..keep.len()).filter(|&c| keep[c]) {
        let (ca, cb) = (cells.a[c], cells.b[c]);
        let (i0, j0) = (cells.before_a[c], cells.before_b[c]);
        if one_key {
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

/// The extremes of F_a - F_b over two unsorted samples, given their first passes (both
/// non-empty): equal, bit for bit, to `ecdf::extremes` of the sorted finite values on the
/// statistic's side. A second level of cells is counted when the kept cells hold more than
/// `refine_above` values (then it pays for its read of both samples).
fn extremes_of_values<T: Sample>(
    samples: (&[T], &[T]),
    first_a: (Scan, Vec<u64>),
    first_b: (Scan, Vec<u64>),
    refine_above: u64,
    names: (&str, &str),
) -> Result<EcdfExtremes> {
    let (n, m) = (first_a.0.finite, first_b.0.finite);
    let mut bounds = Bounds::new(n, m);
    let mut cells = level1(samples, first_a, first_b, names)?;
    bounds.raise(&cells);
    let mut keep = bounds.keep(&cells);
    let kept = |cells: &Cells, keep: &[bool]| -> (u64, u64) {
        (0..keep.len())
            .filter(|&c| keep[c])
            .fold((0, 0), |(i, j), c| (i + cells.a[c], j + cells.b[c]))
    };
    let (kept_a, kept_b) = kept(&cells, &keep);
    if cells.grid.width_bits() > 0 && kept_a + kept_b > refine_above {
        if let Some(finer) = level2(samples, &cells, &keep, names)? {
            bounds.raise(&finer);
            keep = bounds.keep(&finer);
            cells = finer;
        }
    }
    let mut walk = ExtremesWalk::new(n, m);
    if cells.grid.width_bits() == 0 {
        walk_kept::<T>(&cells, &keep, &[], &[], &mut walk);
        return Ok(walk.finish());
    }
    let (kept_a, kept_b) = kept(&cells, &keep);
    let a_values = gather(samples.0, &cells, &keep, (&cells.a, kept_a), names.0)?;
    let b_values = gather(samples.1, &cells, &keep, (&cells.b, kept_b), names.1)?;
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
                let (fx, fy) = (first_pass(x), first_pass(y));
                let (n, m) = (fx.0.finite, fy.0.finite);
                let forced = extremes_of_values((x, y), fx, fy, 0, ("a", "b")).unwrap();
                let r = ks_from_extremes(&forced, n, m, method);
                assert_eq!(bits(&r), bits(&want), "level 2, {method:?} {x:?} {y:?}");
            }
        }
    }

    /// Samples another thread rewrites after the first pass: the recounts of the cells and the
    /// gather find other counts than the pass before and report `Error::Changed` naming the
    /// sample (before: a slice past the gathered values, a panic); a reordered sample gives the
    /// same extremes, bit for bit.
    #[test]
    fn samples_rewritten_after_the_first_pass_are_reported() {
        let mut rng = Rng::new(29, 1);
        let n = 200_000;
        let a: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.uniform() * 0.98 + 0.01).collect();
        let names = ("a", "b");
        let shifted = |x: &[f64], by: f64| -> Vec<f64> {
            let mut x = x.to_vec();
            x[100..20_100].iter_mut().for_each(|v| *v += by);
            x
        };
        let (low_a, high_b) = (shifted(&a, -0.3), shifted(&b, 0.2));
        let reversed: Vec<f64> = a.iter().rev().copied().collect();
        // 0: a second level of cells, then the gather; MAX: the gather of level 1's cells.
        for refine_above in [0, u64::MAX] {
            let run = |x: &[f64], y: &[f64]| {
                extremes_of_values((x, y), first_pass(&a), first_pass(&b), refine_above, names)
            };
            let want = run(&a, &b).unwrap();
            assert_eq!(run(&low_a, &b).unwrap_err(), Error::changed().naming("a"));
            assert_eq!(run(&a, &high_b).unwrap_err(), Error::changed().naming("b"));
            assert_eq!(
                run(&reversed, &b).unwrap(),
                want,
                "refine above {refine_above}"
            );
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
