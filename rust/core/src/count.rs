//! Counting values against sorted thresholds: the kernel under histograms and PSI.
//!
//! Output is `at_least[k] = #{x : x >= thresholds[k]}`; bin counts are differences of
//! neighbours. Callers put sentinels in the thresholds instead of asking for extra counts:
//! `Sample::LOWEST` first counts finite values and +inf, `+inf` last counts +inf, so missing
//! values fall out of the same pass. NaN is never `>=` anything, so it is never counted.
//!
//! Two strategies, chosen by the number of thresholds:
//!
//! * dense (<= 32 thresholds, the PSI case): every value is compared with every threshold and
//!   the comparison masks are summed. No scatter, no branches. A scatter histogram stalls on
//!   store forwarding when neighbouring values hit the same bin, which is the common case for a
//!   handful of bins. On x86-64 with AVX2 the kernel is register-blocked (`blocked`): each
//!   vector is loaded once per group of up to 12 thresholds, held in registers with a lane
//!   accumulator each, instead of once per threshold. The portable loop (`dense`, one sweep
//!   per threshold, still the fallback) spends a load and loop overhead on every (threshold,
//!   vector) and was load-bound at ~0.45 of the read rate for 10 bins; the blocked one is down
//!   to a compare and a subtract per (threshold, vector), the vector ports' limit: 0.53-0.68x
//!   the old time at 1e7-1e8 float32 and float64 values, 0.7-0.9 of the read rate.
//! * search (more thresholds): a binary search per value and one increment.
//!
//! AVX2 and AVX-512 are chosen at run time (`is_x86_feature_detected!`), never at compile time,
//! so wheels stay portable; elsewhere the portable loop is compiled for the baseline (SSE2,
//! NEON). Work is split in fixed-size tasks over rayon and the partial counts are integers, so
//! results are identical for any thread count.

use crate::parallel::map_reduce;
use crate::sample::Sample;

#[cfg(target_arch = "x86_64")]
mod blocked;
mod rows;

/// Thresholds up to this many use the dense strategy.
pub const DENSE_MAX: usize = 32;
/// Values per rayon task for 1-D input (1 MiB of float32): big enough to amortize scheduling,
/// small enough that u32 lane counters cannot overflow.
const TASK_VALUES: usize = 1 << 18;
/// Values per inner block: stays in L1 while every threshold sweeps it.
const BLOCK_VALUES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AtLeastCounts {
    /// `at_least[k]` = number of values `>= thresholds[k]` (NaN never counts).
    pub at_least: Vec<u64>,
    /// Number of values seen.
    pub total: u64,
}

impl AtLeastCounts {
    fn zeros(thresholds: usize) -> Self {
        AtLeastCounts {
            at_least: vec![0; thresholds],
            total: 0,
        }
    }
    fn add(&mut self, other: &AtLeastCounts) {
        for (a, b) in self.at_least.iter_mut().zip(&other.at_least) {
            *a += b;
        }
        self.total += other.total;
    }
}

/// Counts of one 1-D array. `thresholds` must be non-decreasing; NaN thresholds only at the end.
pub fn count_at_least<T: Sample>(data: &[T], thresholds: &[T]) -> AtLeastCounts {
    map_reduce(
        data,
        TASK_VALUES,
        |chunk| {
            let mut counts = AtLeastCounts::zeros(thresholds.len());
            counts.total = chunk.len() as u64;
            if thresholds.len() <= DENSE_MAX {
                dense_dispatch(chunk, thresholds, &mut counts.at_least);
            } else {
                search_count(chunk, thresholds, &mut counts.at_least);
            }
            counts
        },
        || AtLeastCounts::zeros(thresholds.len()),
        |mut a, b| {
            a.add(&b);
            a
        },
    )
}

fn dense_dispatch<T: Sample>(chunk: &[T], thresholds: &[T], at_least: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU supports AVX2 and AVX-512 F and VL, checked just above.
            return unsafe { dense_avx512vl(chunk, thresholds, at_least) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { dense_avx2(chunk, thresholds, at_least) };
        }
    }
    dense(chunk, thresholds, at_least)
}

/// The register-blocked kernel (`blocked`) with AVX2: 16 vector registers, so a group's
/// thresholds are memory operands of the compares.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dense_avx2<T: Sample>(chunk: &[T], thresholds: &[T], at_least: &mut [u64]) {
    // SAFETY: AVX2 is enabled here, and the caller checked the CPU has it.
    unsafe { blocked::count(chunk, thresholds, at_least) }
}

/// The same 256-bit kernel where AVX-512 VL is there: 32 vector registers hold a group's
/// thresholds as well as its accumulators. Still 256-bit on purpose: on Zen 4 (AVX-512
/// double-pumped) 512-bit vectors took 1.2-1.3x the time at L2-resident sizes, and compares into
/// mask registers with masked subtracts 1.5x.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn dense_avx512vl<T: Sample>(chunk: &[T], thresholds: &[T], at_least: &mut [u64]) {
    // SAFETY: AVX2 is enabled here, and the caller checked the CPU has it.
    unsafe { blocked::count(chunk, thresholds, at_least) }
}

#[inline(always)]
fn dense<T: Sample>(chunk: &[T], thresholds: &[T], at_least: &mut [u64]) {
    // The next block is prefetched while the thresholds sweep this one, a share of its lines
    // before each sweep: with only the hardware prefetcher the memory idles during the sweeps
    // from L1 and the first sweep of each block waits on it.
    let lines = (BLOCK_VALUES * std::mem::size_of::<T>()).div_ceil(64);
    let per_sweep = lines.div_ceil(thresholds.len().max(1));
    for (b, block) in chunk.chunks(BLOCK_VALUES).enumerate() {
        let next = chunk.as_ptr().wrapping_add((b + 1) * BLOCK_VALUES) as *const u8;
        let ahead = chunk.len().saturating_sub((b + 1) * BLOCK_VALUES) * std::mem::size_of::<T>();
        let mut line = 0;
        for (count, &threshold) in at_least.iter_mut().zip(thresholds) {
            let end = (line + per_sweep).min(ahead.div_ceil(64));
            while line < end {
                prefetch(next.wrapping_add(64 * line));
                line += 1;
            }
            *count += T::count_at_least(block, threshold);
        }
    }
}

#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint, it never faults (the caller keeps `p` inside or just
    // past the chunk).
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Index of the cell of `x`: the number of thresholds `<= x` (NaN: 0).
#[inline(always)]
fn cell_of<T: Sample>(x: T, thresholds: &[T]) -> usize {
    thresholds.partition_point(|&t| t <= x)
}

fn search_count<T: Sample>(chunk: &[T], thresholds: &[T], at_least: &mut [u64]) {
    let mut cells = vec![0u64; thresholds.len() + 1];
    for &x in chunk {
        cells[cell_of(x, thresholds)] += 1;
    }
    cells_to_at_least(&cells, at_least);
}

/// `at_least[k] += sum(cells[k+1..])`.
fn cells_to_at_least(cells: &[u64], at_least: &mut [u64]) {
    let mut running = 0u64;
    for k in (0..at_least.len()).rev() {
        running += cells[k + 1];
        at_least[k] += running;
    }
}

/// Per-column counts of a C-ordered (row-major) matrix with `ncols` columns, in one pass over
/// memory. `thresholds[j]` are column j's thresholds (same rules as `count_at_least`).
pub fn count_at_least_rows<T: Sample>(
    data: &[T],
    ncols: usize,
    thresholds: &[Vec<T>],
) -> Vec<AtLeastCounts> {
    assert_eq!(thresholds.len(), ncols, "one threshold list per column");
    let empty = || {
        thresholds
            .iter()
            .map(|t| AtLeastCounts::zeros(t.len()))
            .collect::<Vec<_>>()
    };
    if ncols == 0 || data.is_empty() {
        return empty();
    }
    // whole super-rows per task (see rows::ROW_MULTIPLE); u32 lane counts stay far from overflow
    let rows_per_task = (TASK_VALUES / ncols)
        .max(1)
        .next_multiple_of(rows::ROW_MULTIPLE);
    map_reduce(
        data,
        rows_per_task * ncols,
        |rows| {
            let mut out = empty();
            rows::count(rows, ncols, thresholds, &mut out);
            out
        },
        empty,
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.add(y);
            }
            a
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[f64], thresholds: &[f64]) -> AtLeastCounts {
        AtLeastCounts {
            at_least: thresholds
                .iter()
                .map(|&t| data.iter().filter(|&&x| x >= t).count() as u64)
                .collect(),
            total: data.len() as u64,
        }
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
            })
            .collect()
    }

    /// Values that trip comparisons: NaN, the infinities, both zeros, values on the tests'
    /// thresholds, the extremes.
    const SPECIAL: [f64; 9] = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        0.5,
        -1.25,
        f64::MIN,
        f64::MAX,
    ];

    type DenseFn<T> = dyn Fn(&[T], &[T], &mut [u64]);

    #[test]
    fn dense_and_search_agree_with_naive_counts() {
        let mut data = pseudo_random(300_001, 7);
        data[5] = f64::NAN;
        data[17] = f64::INFINITY;
        data[99] = f64::NEG_INFINITY;
        data[1000] = 0.5; // exactly on a threshold
        for count in [1usize, 9, 31, 33, 120] {
            let mut thresholds: Vec<f64> = (0..count)
                .map(|k| -2.0 + 4.0 * (k as f64 + 0.5) / count as f64)
                .collect();
            thresholds.push(0.5);
            thresholds.sort_by(|a, b| a.partial_cmp(b).unwrap());
            thresholds.insert(0, f64::MIN);
            thresholds.push(f64::INFINITY);
            assert_eq!(
                count_at_least(&data, &thresholds),
                naive(&data, &thresholds)
            );
            let as32: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            let back: Vec<f64> = as32.iter().map(|&x| x as f64).collect();
            let t32: Vec<f32> = thresholds
                .iter()
                .map(|&t| f32::threshold_at_least(t))
                .collect();
            assert_eq!(count_at_least(&as32, &t32), naive(&back, &thresholds));
        }
    }

    /// Each compiled form of the dense strategy this CPU can run: (name, count function).
    fn dense_forms<T: Sample>() -> Vec<(&'static str, Box<DenseFn<T>>)> {
        let mut forms: Vec<(&'static str, Box<DenseFn<T>>)> =
            vec![("dense", Box::new(|d, t, a| dense(d, t, a)))];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available (checked just above).
                forms.push((
                    "dense_avx2",
                    Box::new(|d, t, a| unsafe { dense_avx2(d, t, a) }),
                ));
            }
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: AVX-512 F and VL are available (checked just above).
                forms.push((
                    "dense_avx512vl",
                    Box::new(|d, t, a| unsafe { dense_avx512vl(d, t, a) }),
                ));
            }
        }
        forms
    }

    /// Every form against a naive count, at every dense threshold count (1 to DENSE_MAX: one
    /// to three groups, every padding width), on NaN, +-inf, -0.0 and 0.0, values equal to
    /// thresholds, NaN thresholds at the end, and lengths around the vector and block sizes.
    fn every_dense_form_at<T: Sample>(convert: impl Fn(f64) -> T, name: &str) {
        let special: Vec<f64> = SPECIAL.iter().copied().chain([1e-300]).collect();
        let longest = 16_415;
        let mut values = pseudo_random(longest, 11);
        for (i, x) in values.iter_mut().enumerate() {
            if i % 5 == 0 {
                *x = special[(i / 5) % special.len()];
            }
        }
        let values: Vec<T> = values.into_iter().map(&convert).collect();
        let forms = dense_forms::<T>();
        for m in 1..=DENSE_MAX {
            for nan_last in [false, true] {
                // m - 2 spread thresholds among values of the data, then the sentinels
                let mut edges: Vec<f64> = (0..m.saturating_sub(2))
                    .map(|k| match k % 4 {
                        0 => 0.5,
                        1 => -1.25,
                        2 => 0.0,
                        _ => -2.0 + 4.0 * (k as f64 + 0.5) / m as f64,
                    })
                    .collect();
                if m % 3 == 0 {
                    edges.push(-0.0);
                }
                edges.truncate(m.saturating_sub(2));
                edges.sort_by(f64::total_cmp);
                let mut thresholds: Vec<T> = Vec::with_capacity(m);
                if m >= 2 {
                    thresholds.push(T::LOWEST);
                }
                thresholds.extend(edges.iter().map(|&e| convert(e)));
                thresholds.push(if nan_last {
                    convert(f64::NAN)
                } else {
                    T::INFINITY
                });
                assert_eq!(thresholds.len(), m);
                for n in [0usize, 1, 7, 8, 9, 31, 33, 4097, 16_411, longest] {
                    let data = &values[..n];
                    let want: Vec<u64> = thresholds
                        .iter()
                        .map(|&t| data.iter().filter(|&&x| x >= t).count() as u64)
                        .collect();
                    for (form, f) in &forms {
                        let mut got = vec![0u64; m];
                        f(data, &thresholds, &mut got);
                        assert_eq!(got, want, "{form} {name}, {m} thresholds, {n} values");
                    }
                }
            }
        }
    }

    #[test]
    fn every_dense_form_at_every_threshold_count() {
        every_dense_form_at(|x| x as f32, "f32");
        every_dense_form_at(|x| x, "f64");
    }

    #[test]
    fn rows_agree_with_columns() {
        for (ncols, nthresholds, nrows) in [
            (3usize, 4usize, 2003usize),
            (8, 9, 5000),
            (37, 12, 3001),
            (40, 40, 500),
            (100, 3, 70_000),
        ] {
            let mut data = pseudo_random(ncols * nrows, ncols as u64);
            data[ncols + 1] = f64::NAN;
            data[2 * ncols + 2] = f64::INFINITY;
            let thresholds: Vec<Vec<f64>> = (0..ncols)
                .map(|j| {
                    let m = 1 + (nthresholds + j) % (nthresholds + 1);
                    (0..m)
                        .map(|k| -1.5 + 3.0 * k as f64 / m as f64 + j as f64 * 1e-3)
                        .collect()
                })
                .collect();
            let by_rows = count_at_least_rows(&data, ncols, &thresholds);
            let as32: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            let t32: Vec<Vec<f32>> = thresholds
                .iter()
                .map(|t| t.iter().map(|&e| f32::threshold_at_least(e)).collect())
                .collect();
            let by_rows32 = count_at_least_rows(&as32, ncols, &t32);
            for j in 0..ncols {
                let column: Vec<f64> = data.iter().skip(j).step_by(ncols).copied().collect();
                assert_eq!(by_rows[j], naive(&column, &thresholds[j]), "column {j}");
                let column32: Vec<f64> = as32
                    .iter()
                    .skip(j)
                    .step_by(ncols)
                    .map(|&x| x as f64)
                    .collect();
                assert_eq!(
                    by_rows32[j],
                    naive(&column32, &thresholds[j]),
                    "column {j} f32"
                );
            }
        }
    }

    #[test]
    fn rows_are_exact_at_every_layout_on_adversarial_values() {
        // values equal to thresholds, -0.0 against a 0.0 threshold, +-inf, NaN; widths where
        // the layout changes (super-rows for 1..7, 9, 100; plain rows with a masked block for
        // 1001), 1 row, rows past the last super-row and past one task; threshold lists of
        // different lengths (6 to 30: up to three sweeps) and one over DENSE_MAX (scalar path)
        let special = SPECIAL;
        for (ncols, nrows) in [
            (1usize, 1usize),
            (1, 3001),
            (2, 1),
            (3, 9003),
            (7, 1),
            (7, 4099),
            (8, 2100),
            (9, 5003),
            (100, 1),
            (100, 7877),
            (1001, 75),
        ] {
            let mut data = pseudo_random(ncols * nrows, 31 + ncols as u64);
            for (i, x) in data.iter_mut().enumerate() {
                if i % 3 == 0 {
                    *x = special[(i / 3) % special.len()];
                }
            }
            for long in [false, true] {
                let thresholds: Vec<Vec<f64>> = (0..ncols)
                    .map(|j| {
                        let m = if long && j == ncols / 2 {
                            DENSE_MAX + 1
                        } else {
                            1 + (j * 7) % 25
                        };
                        let mut t: Vec<f64> = (0..m)
                            .map(|k| -1.5 + 3.0 * k as f64 / m as f64)
                            .chain([0.0, 0.5, -1.25])
                            .collect();
                        t.sort_by(f64::total_cmp);
                        t.insert(0, f64::MIN);
                        t.push(f64::INFINITY);
                        t
                    })
                    .collect();
                let t32: Vec<Vec<f32>> = thresholds
                    .iter()
                    .map(|t| t.iter().map(|&e| f32::threshold_at_least(e)).collect())
                    .collect();
                let as32: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                let by_rows = count_at_least_rows(&data, ncols, &thresholds);
                let by_rows32 = count_at_least_rows(&as32, ncols, &t32);
                for j in 0..ncols {
                    let column: Vec<f64> = data.iter().skip(j).step_by(ncols).copied().collect();
                    let column32: Vec<f64> = column.iter().map(|&x| x as f32 as f64).collect();
                    let want = naive(&column, &thresholds[j]);
                    assert_eq!(by_rows[j], want, "{ncols} x {nrows} column {j}");
                    let want32 = naive(&column32, &thresholds[j]);
                    assert_eq!(by_rows32[j], want32, "{ncols} x {nrows} column {j} f32");
                }
            }
        }
    }
}
