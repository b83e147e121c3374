//! numpy's linear quantiles of every column of a C-ordered matrix, exact, from passes over its
//! rows: no transposed copy of the matrix.
//!
//! 1. A stratified sample of rows (one seeded run of 8 consecutive rows per stratum, the same
//!    for any thread count) gives each column a linear map of its values onto `BUCKETS - 1`
//!    buckets:
//!    `1 + clamp((x - lo) * scale, 0, BUCKETS - 2)` truncated, over the sample's span of the
//!    wanted quantiles strictly inside (0, 1), widened by a few standard errors (`map_span`);
//!    the tails fall in the two end buckets. IEEE subtraction, multiplication and truncation
//!    are monotone, so the map is non-decreasing in `x` whatever `lo` and `scale` are: the
//!    sample only tunes how finely it splits the data, never the result. Non-finite values get
//!    bucket 0.
//! 2. One pass over the rows computes every value's bucket and counts them per column in u16
//!    counters flushed to u64. Float32 rows are coded 128 rows at a time (16 or 8 columns a
//!    vector, AVX-512 or AVX2, into u16 codes), then the codes are counted block of 8 columns
//!    by block, so that a block's counters stay in L1 (`histogram_coded`); float64 rows too
//!    where the CPU has AVX-512 (8 columns a vector); else they sweep row tiles (12 kB, in L1;
//!    the next one prefetched) one value at a time, the same buckets.
//!    The pass also keeps each column's finite minimum and maximum: the ranks of the first and
//!    last quantile need no bucket then. Running sums place each other wanted rank in a bucket;
//!    the bucket's keys are an interval, found by a search on the map from the map's own
//!    estimate of its ends (and, for the end buckets, bounded by the extremes).
//! 3. Each further pass compares every value's bucket with its column's wanted buckets and, for
//!    the few that match, either gathers the value (while the gathered values stay within
//!    16 MB) or counts it in one of 256 sub-buckets of the bucket's key range, which narrows
//!    the range 256-fold for the next pass. Each part of the rows gathers into one buffer of
//!    exactly its count (known per part from the previous pass), and a hit finds its slot from
//!    the index of the target it matched. The smallest and largest key seen are kept too, so a
//!    bucket of equal values (a constant column, a spike) is settled without gathering it. On
//!    ordinary data the second pass gathers everything: two passes in all, and a hit of that
//!    pass is stored without a key test (its slot is its whole bucket). The float32 scan runs on
//!    AVX-512 where the CPU has it (`avx512`: 32 values compared at once in u16 lanes, the rows
//!    read as super-rows of `lcm(ncols, 32)` values so that every vector is full, a batch of
//!    super-rows pair by pair with the pair's map and wanted vectors in registers; the compares
//!    keep only a mask per 32 values, whose hits are read back from L1 a batch of rows later),
//!    else on AVX2; both prefetch the rows ahead. Float64 rows are scanned 8 columns a vector
//!    where the CPU has AVX-512 (`avx512::scan_rows_f64`), else value by value.
//!
//! Selection among gathered keys is by value, and counts are integer sums, so results are
//! bit-identical for any thread count, and equal `quantile::linear_quantiles` of each column.
//! Extra memory: per part `columns x BUCKETS` u16 counters and u64 totals (1 MB for 100
//! columns), the map's sample (the finite values of one row per run: 205 kB for 100 float32
//! columns), plus at most 16 MB of gathered values (about 1% of the values of normal columns:
//! 3.7 MB for 1e6 x 100 float32 and 10 bins), whatever the number of rows.
//!
//! The bin counts of the fitted edges follow without another pass (`ColumnQuantiles::bin_counts`),
//! as in `select.rs`: an edge lies between the two order statistics it interpolates, where the
//! count below it is a rank, or on one of them, where it is counted among its bucket's values.

use crate::edges::{bins_from_at_least, thresholds_for};
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::quantile::{lerp, rank_plan};
use crate::random::splitmix64;
use crate::sample::Sample;

/// Buckets per column in the first pass (bucket 0 holds the non-finite values): the wanted
/// buckets of normal columns hold about 0.2% of the values each.
const BUCKETS: usize = 1024;
/// The knobs (tests shrink them to force the refining passes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Rows in the sample, in runs (`sample_rows_of`); the first row of each run sets the maps.
    pub sample_rows: usize,
    /// Values gathered in one pass, in bytes, across all columns.
    pub gather_bytes: usize,
    /// The fewest values in a part of the rows.
    pub min_part_values: usize,
    /// Parts per thread (at most `MAX_PARTS` in all).
    pub parts_per_thread: usize,
    /// Use the AVX-512 scan where the CPU has it (tests turn it off to run the AVX2 one).
    pub avx512: bool,
    /// Let the AVX-512 scan read the rows as super-rows where its tables fit (tests turn it off
    /// to run its plain-rows loop, else taken only by wide matrices with many targets).
    pub super_rows: bool,
    /// Gather buffers of this many bytes and more start on a huge page (tests: all of them).
    pub huge_pages_from: usize,
}

pub(crate) const TUNING: Tuning = Tuning {
    sample_rows: 4096,
    gather_bytes: 16 << 20,
    min_part_values: 1 << 18,
    parts_per_thread: 1,
    avx512: true,
    super_rows: true,
    huge_pages_from: 2 << 20,
};
/// A refined key range is split into 2^SUB_BITS sub-buckets.
const SUB_BITS: u32 = 8;
/// Parts per pass (one histogram each): at most `MAX_PARTS`, as each holds `columns x BUCKETS`
/// counts until the slots are built. One part per thread by default: four per thread (for load
/// balance on a shared machine) measured 209 vs 204 ms idle and 320 vs 332 ms with one core
/// busy (1e6 x 100 float32, 2 threads, benches/compare_matrix_builds.py), for 2.6 -> 9.4 MB
/// peak extra RSS; not worth it.
const MAX_PARTS: usize = 8;
/// Consecutive rows per stratum of the sample.
const SAMPLE_RUN: usize = 8;
/// Seed of the sample rows.
const SEED: u64 = 0x0C01_0FF1_7000_0001;
/// More columns than this take the transposing path: the per-part counters grow with the
/// columns (about 10 kB per column and part; 80 MB at 1,024 columns on 8 threads).
pub const MAX_COLUMNS: usize = 1024;
/// More quantiles than this (bins > 64) take the transposing path.
pub const MAX_QUANTILES: usize = 65;

/// The element types of the row kernels: the bucket map in the data's own type.
pub trait RowSample: Sample {
    /// The value of this type equal to `v` (exact for values of this type).
    fn from_f64(v: f64) -> Self;
    /// `1 + clamp((self - lo) * scale, 0, BUCKETS - 2)` truncated for finite values, else 0.
    fn bucket(self, lo: Self, scale: Self) -> u32;
}

macro_rules! row_sample {
    ($t:ty) => {
        impl RowSample for $t {
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn bucket(self, lo: Self, scale: Self) -> u32 {
                // max returns 0.0 for NaN, so t is in [0, BUCKETS - 2] and never NaN. (Written
                // as selects, LLVM moved the conversion into branches per lane.)
                let t = ((self - lo) * scale).max(0.0).min((BUCKETS - 2) as $t);
                // SAFETY: t is finite and in range of i32 (see above).
                let b = 1 + unsafe { t.to_int_unchecked::<i32>() } as u32;
                if self.is_finite_value() {
                    b
                } else {
                    0
                }
            }
        }
    };
}
row_sample!(f32);
row_sample!(f64);

/// One column's quantiles and what is needed to count its values against edges.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnQuantiles {
    /// NaN when the column has no finite values.
    pub quantiles: Vec<f64>,
    pub finite: u64,
    pub total: u64,
    /// Per quantile: the lower rank, the values at it and the next rank, and the number of
    /// finite values below the lower value. Only the inner quantiles' are read (`bin_counts`):
    /// for the first and last the next value and the count are not looked for.
    lower: Vec<(u64, f64, f64, u64)>,
}

impl ColumnQuantiles {
    /// Counts per bin of `interior` edges and the non-finite count, as `edges::bin_counts` would
    /// give them for this column; `None` when an edge is not one this fit can place (count the
    /// data instead).
    pub fn bin_counts<T: Sample>(&self, interior: &[f64]) -> Option<(Vec<u64>, u64)> {
        if self.finite == 0 {
            return None;
        }
        let thresholds = thresholds_for::<T>(interior);
        let last = thresholds.len() - 1;
        let (min, max) = (self.quantiles[0], self.quantiles[self.quantiles.len() - 1]);
        // +inf is left out of every count: it cancels out of the bins (see bins_from_at_least).
        let mut at_least = Vec::with_capacity(thresholds.len());
        at_least.push(self.finite);
        for (&t, &e) in thresholds[1..last].iter().zip(interior) {
            let tf = t.to_f64();
            let count = if tf <= min {
                self.finite
            } else if tf > max {
                0
            } else {
                // An interior edge is an inner quantile (or, for a constant column, at most its
                // value, above).
                let inner = &self.quantiles[1..self.quantiles.len() - 1];
                let i = 1 + inner.iter().position(|&v| v == e)?;
                let (rank, lo, hi, less) = self.lower[i];
                if tf > lo && tf <= hi {
                    self.finite - rank - 1
                } else if tf == lo {
                    self.finite - less
                } else {
                    return None;
                }
            };
            at_least.push(count);
        }
        at_least.push(0);
        // Rising counts: the rows changed between the passes that placed two edges (count the
        // data instead).
        bins_from_at_least(&at_least, self.total).ok()
    }
}

/// Each column's linear map onto buckets, padded with neutral lanes to a multiple of `PAD`.
struct Maps<T> {
    lo: Vec<T>,
    scale: Vec<T>,
}

/// Columns per block: one vector of float32 lanes (two of float64).
const LANES: usize = 8;
/// The maps are padded to whole multiples of this many columns: the AVX-512 scan reads them
/// 32 columns (two vectors) at a time.
const PAD: usize = 32;
/// Bytes of rows per tile: every block of columns sweeps the tile while it is in L1, and the
/// next tile is prefetched meanwhile. One-thread CPU time of the fit of 1e6 x 100 float32
/// (examples/fit_matrix_rows.rs, loaded machine): 890 ms with 96 kB tiles, 690 ms with 32 kB,
/// 560 ms with 12 kB.
const TILE_BYTES: usize = 12 * 1024;
/// u16 counters per lane: a little more than BUCKETS so that the lanes' counters of one bucket
/// are not 4 KiB apart (a load from one would wait on a store to another: 4K aliasing).
const LANE_STRIDE: usize = BUCKETS + 40;
/// Rows between flushes of the u16 bucket counters.
const FLUSH_ROWS: usize = u16::MAX as usize;

/// Blocks of `LANES` columns: (first column, columns in the block).
fn blocks(ncols: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..ncols)
        .step_by(LANES)
        .map(move |start| (start, LANES.min(ncols - start)))
}

/// Rows of the matrix split into at most `MAX_PARTS` contiguous parts (`parts_per_thread` per
/// thread) of at least `min_part_values` values (except a shorter last one).
fn row_parts(nrows: usize, ncols: usize, tuning: &Tuning) -> Vec<(usize, usize)> {
    let (min_values, per_thread) = (tuning.min_part_values, tuning.parts_per_thread);
    let parts = rayon::current_num_threads()
        .saturating_mul(per_thread)
        .clamp(1, MAX_PARTS);
    let min_rows = (min_values / ncols).max(1);
    let size = nrows.div_ceil(parts).max(min_rows).max(1);
    (0..nrows.div_ceil(size))
        .map(|p| (p * size, ((p + 1) * size).min(nrows)))
        .collect()
}

/// The rows of the map's sample: about `sample_rows` (all when there are fewer), in runs of
/// SAMPLE_RUN consecutive rows, one seeded run per stratum of the rows. A run shares its pages
/// (one page walk and miss instead of one per row: the step is serial and latency bound).
fn sample_rows_of(nrows: usize, sample_rows: usize) -> Vec<usize> {
    let m = sample_rows.clamp(1, nrows);
    let run = SAMPLE_RUN.min(m) as u64;
    let strata = (m as u64 / run).max(1);
    let n = nrows as u64;
    let mut state = SEED;
    (0..strata)
        .flat_map(|i| {
            let start = i * n / strata;
            let width = (i + 1) * n / strata - start;
            let first = start + splitmix64(&mut state) % (width.saturating_sub(run) + 1);
            (first..(first + run).min(n)).map(|r| r as usize)
        })
        .collect()
}

/// Sampled standard errors of a quantile's rank that the map's span keeps the rank inside.
const SPAN_ERRORS: f64 = 4.0;

/// The values a column's map spreads over the buckets, from the sample's finite values
/// (`keys`, order keys): its order statistics just outside the quantiles of `q` strictly
/// between 0 and 1, by `SPAN_ERRORS` standard errors of a sample of `strata` independent
/// values (the sample's runs of consecutive rows count as one, so the margin is wide for rows
/// that follow each other). The values outside fall in the end buckets: a wanted rank there is
/// still found, from a larger bucket; the smallest and largest ranks come from the first
/// pass's extremes. Buckets of the same number thus split the wanted ranks' neighbourhoods
/// finer than over the whole range: for 10 bins of 1e6 x 100 normal columns, the second pass
/// gathers 0.93% of the values instead of about 2%. The sample's min and max when that span is
/// empty (ties); infinities when the sample has no finite value.
fn map_span<T: RowSample, K: Ord + Copy + Into<u64>>(
    mut keys: Vec<K>,
    q: &[f64],
    strata: usize,
) -> (f64, f64) {
    let Some(last) = keys.len().checked_sub(1) else {
        return (f64::INFINITY, f64::NEG_INFINITY);
    };
    let inner = q.iter().copied().filter(|&p| p > 0.0 && p < 1.0);
    let (q_lo, q_hi) = inner.fold((1.0f64, 0.0f64), |(a, b), p| (a.min(p), b.max(p)));
    let margin =
        |p: f64| SPAN_ERRORS * (p * (1.0 - p) / strata as f64).sqrt() + 1.0 / strata as f64;
    let (lo_q, hi_q) = if q_lo <= q_hi {
        (
            (q_lo - margin(q_lo)).max(0.0),
            (q_hi + margin(q_hi)).min(1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let lo_rank = ((lo_q * last as f64).floor() as usize).min(last);
    let hi_rank = ((hi_q * last as f64).ceil() as usize).clamp(lo_rank, last);
    let value = |key: K| T::from_order_key(key.into());
    let (_, &mut hi, _) = keys.select_nth_unstable(hi_rank);
    let (_, &mut lo, _) = keys[..=hi_rank].select_nth_unstable(lo_rank);
    if lo < hi {
        return (value(lo), value(hi));
    }
    // `keys` is not empty (see `last`).
    let (min, max) = keys
        .iter()
        .fold((hi, lo), |(a, b), &k| (a.min(k), b.max(k)));
    (value(min), value(max))
}

fn make_maps<T: RowSample>(data: &[T], ncols: usize, sample_rows: usize, q: &[f64]) -> Maps<T> {
    // The first row of each run: the span's margin counts a run as one value anyway, and the
    // selections of 4,096 values per column made the fit of 100,000 x 500 float32 8% slower.
    let rows: Vec<usize> = sample_rows_of(data.len() / ncols, sample_rows)
        .into_iter()
        .step_by(SAMPLE_RUN)
        .collect();
    // The runs are far apart (a miss each, in cache and TLB): ask for them well ahead, and
    // copy them in a few chunks on the pool (this step is serial otherwise).
    const AHEAD: usize = 16;
    const CHUNKS: usize = 8;
    // Each chunk's finite values, column after column.
    let chunks = map_indexed(CHUNKS, |c| {
        let rows = &rows[rows.len() * c / CHUNKS..rows.len() * (c + 1) / CHUNKS];
        let mut columns = vec![Vec::with_capacity(rows.len()); ncols];
        for (i, &row) in rows.iter().enumerate() {
            if let Some(&next) = rows.get(i + AHEAD) {
                prefetch_l1(&data[next * ncols..(next + 1) * ncols]);
            }
            for (column, &x) in columns
                .iter_mut()
                .zip(&data[row * ncols..(row + 1) * ncols])
            {
                if x.is_finite_value() {
                    column.push(x);
                }
            }
        }
        columns
    });
    let strata = rows.len();
    let spans = map_indexed(ncols, |j| {
        let keys = chunks
            .iter()
            .flat_map(|c| c[j].iter().map(|x| x.order_key()));
        if T::KEY_BITS <= 32 {
            map_span::<T, u32>(keys.map(|k| k as u32).collect(), q, strata)
        } else {
            map_span::<T, u64>(keys.collect(), q, strata)
        }
    });
    let padded = ncols.div_ceil(PAD) * PAD;
    let mut maps = Maps {
        lo: vec![T::from_f64(0.0); padded],
        scale: vec![T::from_f64(1.0); padded],
    };
    for (j, &(l, h)) in spans.iter().enumerate() {
        let scale = if l < h {
            T::from_f64((BUCKETS - 2) as f64 / (h - l))
        } else {
            T::from_f64(1.0)
        };
        // Any positive finite scale keeps the map monotone; the fallback only splits worse.
        if scale.is_finite_value() && scale.to_f64() > 0.0 {
            maps.scale[j] = scale;
        }
        if l.is_finite() {
            maps.lo[j] = T::from_f64(l);
        }
    }
    maps
}

/// Counts the buckets of columns `start..start + width` over the rows of `tile`, one value at
/// a time (float64 without AVX-512, or float32 without AVX2; the others take
/// `histogram_coded`).
fn histogram_block<T: RowSample>(
    tile: &[T],
    ncols: usize,
    (start, width): (usize, usize),
    maps: &Maps<T>,
    h: &mut [[u16; LANE_STRIDE]; LANES],
) {
    for row in tile.chunks_exact(ncols) {
        for (l, lane) in h.iter_mut().enumerate().take(width) {
            let j = start + l;
            let b = row[j].bucket(maps.lo[j], maps.scale[j]);
            lane[b as usize & (BUCKETS - 1)] += 1;
        }
    }
}

/// Takes the finite values of the rows of `tile` into `extremes`: a loop of its own, across
/// each row's columns, which LLVM vectorizes (taken value by value in `histogram_block`, the
/// float64 fit was 2.4-5.7% slower).
fn tile_extremes<T: RowSample>(tile: &[T], ncols: usize, extremes: &mut Extremes<T>) {
    let (min, max) = (&mut extremes.min[..ncols], &mut extremes.max[..ncols]);
    for row in tile.chunks_exact(ncols) {
        for ((lo, hi), &x) in min.iter_mut().zip(max.iter_mut()).zip(row) {
            let finite = x.is_finite_value();
            *lo = if finite && x < *lo { x } else { *lo };
            *hi = if finite && x > *hi { x } else { *hi };
        }
    }
}

/// Calls `hit(column, value, k)` for the values of columns `start..start + width` whose bucket
/// is `wanted[k]` in their lane (lane vectors of target buckets, u32::MAX where none): the
/// scalar scan (float64, or no AVX2); `avx2::scan_rows` is the float32 one.
fn scan_block<T: RowSample>(
    tile: &[T],
    ncols: usize,
    (start, width): (usize, usize),
    maps: &Maps<T>,
    wanted: &[[u32; LANES]],
    hit: &mut impl FnMut(usize, T, u32),
) {
    for row in tile.chunks_exact(ncols) {
        for l in 0..width {
            let j = start + l;
            let b = row[j].bucket(maps.lo[j], maps.scale[j]);
            if let Some(k) = wanted.iter().position(|t| t[l] == b) {
                hit(j, row[j], k as u32);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::any::TypeId;
    use std::arch::x86_64::*;

    use super::{BUCKETS, LANES};

    pub fn usable<T: 'static>() -> bool {
        TypeId::of::<T>() == TypeId::of::<f32>() && std::is_x86_feature_detected!("avx2")
    }

    /// # Safety
    /// T must be f32.
    pub unsafe fn as_f32<T>(s: &[T]) -> &[f32] {
        std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len())
    }

    /// # Safety
    /// T must be f32.
    pub unsafe fn as_f32_mut<T>(s: &mut [T]) -> &mut [f32] {
        std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f32, s.len())
    }

    /// `RowSample::bucket` of 8 lanes: maxps gives the second operand (0) for NaN as `f32::max`
    /// does, minps of a non-NaN value is `f32::min`, and truncation of [0, BUCKETS - 2] is exact,
    /// so every lane equals the scalar bucket.
    #[inline(always)]
    unsafe fn buckets(x: __m256, lo: __m256, scale: __m256) -> __m256i {
        let t = _mm256_mul_ps(_mm256_sub_ps(x, lo), scale);
        let t = _mm256_min_ps(
            _mm256_max_ps(t, _mm256_setzero_ps()),
            _mm256_set1_ps((BUCKETS - 2) as f32),
        );
        let b = _mm256_add_epi32(_mm256_cvttps_epi32(t), _mm256_set1_epi32(1));
        let magnitude = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF)));
        let finite = _mm256_cmp_ps::<_CMP_LE_OQ>(magnitude, _mm256_set1_ps(f32::MAX));
        _mm256_and_si256(b, _mm256_castps_si256(finite))
    }

    /// The lanes of `row` (`width` of them; the others 0.0): a masked load for the last block
    /// of columns, which would otherwise read past the end of the matrix on its last row.
    #[inline(always)]
    unsafe fn load<const MASKED: bool>(row: &[f32], mask: __m256i) -> __m256 {
        if MASKED {
            _mm256_maskload_ps(row.as_ptr(), mask)
        } else {
            debug_assert!(row.len() >= LANES);
            _mm256_loadu_ps(row.as_ptr())
        }
    }

    /// Lanes `0..width` set.
    #[inline(always)]
    unsafe fn lane_mask(width: usize) -> __m256i {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(width as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    /// The buckets of whole `rows` as u16 codes, block-major: `codes[(block * stride + i) *
    /// LANES + l]` is the bucket of row i, column `block * LANES + l` (lanes past the last
    /// column see 0.0 under the neutral map and are counted where `flush` leaves them out).
    /// The finite values are taken into `extremes` (padded like the maps).
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn code_rows(
        rows: &[f32],
        ncols: usize,
        (lo, scale): (&[f32], &[f32]),
        (min, max): (&mut [f32], &mut [f32]),
        codes: &mut [u16],
        stride: usize,
    ) {
        let full = ncols / LANES;
        let nblocks = ncols.div_ceil(LANES);
        let mask = lane_mask(ncols % LANES);
        let n = rows.len() / ncols;
        assert!(n <= stride && codes.len() >= nblocks * stride * LANES);
        assert!(lo.len() >= nblocks * LANES && scale.len() >= nblocks * LANES);
        let ahead = super::rows_ahead(ncols);
        for (i, row) in rows.chunks_exact(ncols).enumerate() {
            super::prefetch_row(rows, ncols, i + ahead);
            for block in 0..nblocks {
                let x = load_block(row, block, full, mask);
                let b = block_buckets(block, x, (lo, scale));
                // Unmasked (see `Extremes`): NaN is left out, as minps and maxps return their
                // second operand then.
                let (pmin, pmax) = (
                    min.as_mut_ptr().add(block * LANES),
                    max.as_mut_ptr().add(block * LANES),
                );
                _mm256_storeu_ps(pmin, _mm256_min_ps(x, _mm256_loadu_ps(pmin)));
                _mm256_storeu_ps(pmax, _mm256_max_ps(x, _mm256_loadu_ps(pmax)));
                let packed =
                    _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b));
                _mm_storeu_si128(
                    codes.as_mut_ptr().add((block * stride + i) * LANES) as *mut __m128i,
                    packed,
                );
            }
        }
    }

    use crate::simd::COMPRESS;

    /// The lanes of block `block` of `row` (masked for a partial last block, `block == full`).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load_block(row: &[f32], block: usize, full: usize, mask: __m256i) -> __m256 {
        if block < full {
            load::<false>(&row[block * LANES..], mask)
        } else {
            load::<true>(&row[block * LANES..], mask)
        }
    }

    /// The buckets of block `block` of a row (`x`, its lanes).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block_buckets(block: usize, x: __m256, (lo, scale): (&[f32], &[f32])) -> __m256i {
        let start = block * LANES;
        buckets(
            x,
            _mm256_loadu_ps(lo.as_ptr().add(start)),
            _mm256_loadu_ps(scale.as_ptr().add(start)),
        )
    }

    /// Compresses the lanes of block `block` set in `m` (each lane 0 or all ones): values `x`,
    /// tags `column * BUCKETS + b`, into `values` and `tags` at `at`; returns the new end.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn compress(
        block: usize,
        x: __m256,
        b: __m256i,
        m: __m256i,
        lane_base: __m256i,
        values: &mut [f32],
        tags: &mut [u32],
        at: usize,
    ) -> usize {
        // LLVM knows every lane of `m` is 0 or all ones and turns movemask_ps into a byte
        // shuffle, a pack and a byte movemask; the empty asm hides that knowledge.
        let mut m = _mm256_castsi256_ps(m);
        std::arch::asm!("/* {0} */", inout(ymm_reg) m, options(pure, nomem, nostack, preserves_flags));
        let lanes = _mm256_movemask_ps(m) as usize;
        let order = _mm256_loadu_si256(COMPRESS[lanes].as_ptr() as *const __m256i);
        let column = _mm256_add_epi32(
            _mm256_set1_epi32((block * LANES * BUCKETS) as i32),
            lane_base,
        );
        let tag = _mm256_add_epi32(b, column);
        // The slack after `at` takes the whole vector; the first COUNT[lanes] lanes are kept.
        assert!(at + LANES <= values.len() && at + LANES <= tags.len());
        _mm256_storeu_ps(
            values.as_mut_ptr().add(at),
            _mm256_permutevar8x32_ps(x, order),
        );
        _mm256_storeu_si256(
            tags.as_mut_ptr().add(at) as *mut __m256i,
            _mm256_permutevar8x32_epi32(tag, order),
        );
        at + COUNT[lanes] as usize
    }

    /// One block of a row: compare its buckets with the block's `K` (or `k_max`) wanted
    /// vectors of u32 lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn matches<const K: usize>(b: __m256i, w: &[[u32; LANES]]) -> __m256i {
        let mut m = _mm256_setzero_si256();
        for t in if K > 0 { &w[..K] } else { w } {
            let t = _mm256_loadu_si256(t.as_ptr() as *const __m256i);
            m = _mm256_or_si256(m, _mm256_cmpeq_epi32(b, t));
        }
        m
    }

    /// Two blocks of a row at once: their buckets packed to 16 u16 lanes (`packus` order: four
    /// of the first block, four of the second, then the other four of each), compared with
    /// wanted vectors in the same order, and unpacked back to one mask per block: half the
    /// compares of `matches`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn matches_pair<const K: usize>(
        b0: __m256i,
        b1: __m256i,
        w: &[[u16; 2 * LANES]],
    ) -> (__m256i, __m256i) {
        let codes = _mm256_packus_epi32(b0, b1);
        let mut m = _mm256_setzero_si256();
        for t in if K > 0 { &w[..K] } else { w } {
            let t = _mm256_loadu_si256(t.as_ptr() as *const __m256i);
            m = _mm256_or_si256(m, _mm256_cmpeq_epi16(codes, t));
        }
        (_mm256_unpacklo_epi16(m, m), _mm256_unpackhi_epi16(m, m))
    }

    /// The wanted vectors of blocks `2p` and `2p + 1` in `matches_pair`'s lane order (u32::MAX
    /// saturates to u16::MAX, which no bucket reaches).
    pub fn pair_vectors(
        wanted: &[[u32; LANES]],
        k_max: usize,
        pairs: usize,
    ) -> Vec<[u16; 2 * LANES]> {
        let mut out = Vec::with_capacity(pairs * k_max);
        for p in 0..pairs {
            for k in 0..k_max {
                let (a, b) = (&wanted[2 * p * k_max + k], &wanted[(2 * p + 1) * k_max + k]);
                let mut v = [0u16; 2 * LANES];
                for i in 0..4 {
                    v[i] = a[i].min(u16::MAX as u32) as u16;
                    v[4 + i] = b[i].min(u16::MAX as u32) as u16;
                    v[8 + i] = a[4 + i].min(u16::MAX as u32) as u16;
                    v[12 + i] = b[4 + i].min(u16::MAX as u32) as u16;
                }
                out.push(v);
            }
        }
        out
    }

    /// Set bits of each 8-bit mask (a table: `count_ones` is a call without the popcnt feature).
    const COUNT: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut mask = 0;
        while mask < 256 {
            table[mask] = (mask as u32).count_ones() as u8;
            mask += 1;
        }
        table
    };

    /// Values staged between flushes (plus a row and a vector of slack).
    const STAGE: usize = 4096;

    /// The scan of float32 rows for the wanted buckets, row after row through every block of
    /// columns: each vector's matching lanes are compressed (value and `column * BUCKETS +
    /// bucket`) into a staging buffer without a branch, and `hit(column, value, k)` is called
    /// for the staged values every few thousand (`k = which[column * BUCKETS + bucket]`).
    /// Calling `hit` from inside the scan costs a mispredicted branch or two per hit (a streamed
    /// test: 128 ms against 56 ms for the compares alone, 1.2% of 1e8 values hit). `wanted` holds `k_max` lane vectors per block (u32::MAX where none),
    /// so lanes past the last column never match.
    #[target_feature(enable = "avx2")]
    pub unsafe fn scan_rows(
        rows: &[f32],
        ncols: usize,
        lo: &[f32],
        scale: &[f32],
        (wanted, k_max): (&[[u32; LANES]], usize),
        which: &[u8],
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        let wanted = (
            wanted,
            &pair_vectors(wanted, k_max, ncols.div_ceil(LANES) / 2)[..],
        );
        macro_rules! by_count {
            ($($k:literal)*) => {
                match k_max {
                    $($k => scan_rows_k::<$k>(rows, ncols, lo, scale, wanted, k_max, which, hit),)*
                    _ => scan_rows_k::<0>(rows, ncols, lo, scale, wanted, k_max, which, hit),
                }
            };
        }
        by_count!(1 2 3 4 5 6 7 8 9 10 11 12)
    }

    /// `K` wanted vectors per block, unrolled (`K == 0`: `k_max` of them, in a loop).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn scan_rows_k<const K: usize>(
        rows: &[f32],
        ncols: usize,
        lo: &[f32],
        scale: &[f32],
        (wanted, pairs): (&[[u32; LANES]], &[[u16; 2 * LANES]]),
        k_max: usize,
        which: &[u8],
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        let maps = (lo, scale);
        let full = ncols / LANES;
        let nblocks = ncols.div_ceil(LANES);
        let mask = lane_mask(ncols % LANES);
        let mut values = vec![0f32; STAGE + nblocks * LANES + LANES];
        let mut tags = vec![0u32; STAGE + nblocks * LANES + LANES];
        let mut at = 0usize;
        let lane_base = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let lane_base = _mm256_mullo_epi32(lane_base, _mm256_set1_epi32(BUCKETS as i32));
        let mut flush = |at: usize, values: &[f32], tags: &[u32]| {
            for (&x, &tag) in values[..at].iter().zip(&tags[..at]) {
                let tag = tag as usize;
                hit(tag / BUCKETS, x, which[tag] as u32);
            }
        };
        let ahead = super::rows_ahead(ncols);
        for (i, row) in rows.chunks_exact(ncols).enumerate() {
            super::prefetch_row(rows, ncols, i + ahead);
            for p in 0..nblocks / 2 {
                let (x0, x1) = (
                    load_block(row, 2 * p, full, mask),
                    load_block(row, 2 * p + 1, full, mask),
                );
                let b0 = block_buckets(2 * p, x0, maps);
                let b1 = block_buckets(2 * p + 1, x1, maps);
                let w = &pairs[p * k_max..(p + 1) * k_max];
                let (m0, m1) = matches_pair::<K>(b0, b1, w);
                at = compress(2 * p, x0, b0, m0, lane_base, &mut values, &mut tags, at);
                at = compress(2 * p + 1, x1, b1, m1, lane_base, &mut values, &mut tags, at);
            }
            if nblocks % 2 == 1 {
                let block = nblocks - 1;
                let x = load_block(row, block, full, mask);
                let b = block_buckets(block, x, maps);
                let m = matches::<K>(b, &wanted[block * k_max..(block + 1) * k_max]);
                at = compress(block, x, b, m, lane_base, &mut values, &mut tags, at);
            }
            if at >= STAGE {
                flush(at, &values, &tags);
                at = 0;
            }
        }
        flush(at, &values, &tags);
    }
}

/// The float32 scan on AVX-512 (F and BW): blocks of 16 values, and two of them (a pair, 32
/// values) compared at once in u16 lanes. The same hits as `avx2::scan_rows` (the buckets are
/// equal lane for lane), so the same results.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::any::TypeId;
    use std::arch::x86_64::*;

    use super::{Targets, BUCKETS};

    /// Columns per vector.
    const W: usize = 16;

    pub fn usable<T: 'static>() -> bool {
        TypeId::of::<T>() == TypeId::of::<f32>()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
    }

    /// `RowSample::bucket` of 16 lanes, as `avx2::buckets`: maxps gives its second operand (0)
    /// for NaN, truncation of [0, BUCKETS - 2] is exact; non-finite lanes get 0.
    /// Also returns the finite lanes.
    #[inline(always)]
    unsafe fn buckets(x: __m512, lo: __m512, scale: __m512) -> (__m512i, __mmask16) {
        let t = _mm512_mul_ps(_mm512_sub_ps(x, lo), scale);
        let t = _mm512_min_ps(
            _mm512_max_ps(t, _mm512_setzero_ps()),
            _mm512_set1_ps((BUCKETS - 2) as f32),
        );
        let finite = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_abs_ps(x), _mm512_set1_ps(f32::MAX));
        let b = _mm512_maskz_add_epi32(finite, _mm512_cvttps_epi32(t), _mm512_set1_epi32(1));
        (b, finite)
    }

    /// `buckets` minus one for the finite lanes, without the finiteness test (non-finite lanes
    /// get 0 or BUCKETS - 2, as some finite ones do): the scan compares these with the wanted
    /// buckets minus one and drops the non-finite hits in `flush`. Three instructions fewer
    /// per vector than `buckets`.
    #[inline(always)]
    unsafe fn low_codes(x: __m512, lo: __m512, scale: __m512) -> __m512i {
        let t = _mm512_mul_ps(_mm512_sub_ps(x, lo), scale);
        _mm512_cvttps_epi32(_mm512_min_ps(
            _mm512_max_ps(t, _mm512_setzero_ps()),
            _mm512_set1_ps((BUCKETS - 2) as f32),
        ))
    }

    /// `low_codes` of two blocks packed into u16 lanes (`packus` order) without the `max` with
    /// 0: a negative `t` truncates to a negative integer (-inf and huge negative `t` to
    /// i32::MIN), which `packus` saturates to 0; a NaN `t` gives `BUCKETS - 2`, as other
    /// non-finite lanes may (dropped with them).
    #[inline(always)]
    unsafe fn pair_codes(
        (x0, lo0, scale0): (__m512, __m512, __m512),
        (x1, lo1, scale1): (__m512, __m512, __m512),
    ) -> __m512i {
        let top = _mm512_set1_ps((BUCKETS - 2) as f32);
        let t0 = _mm512_min_ps(_mm512_mul_ps(_mm512_sub_ps(x0, lo0), scale0), top);
        let t1 = _mm512_min_ps(_mm512_mul_ps(_mm512_sub_ps(x1, lo1), scale1), top);
        _mm512_packus_epi32(_mm512_cvttps_epi32(t0), _mm512_cvttps_epi32(t1))
    }

    /// A wanted bucket as `low_codes` gives it (u32::MAX stays out of reach).
    fn low(b: u32) -> u32 {
        if b == u32::MAX {
            b
        } else {
            b - 1
        }
    }

    /// Lanes `0..n` (n <= 16) of a 16-lane mask.
    #[inline(always)]
    fn lanes(n: usize) -> u16 {
        ((1u32 << n.min(W)) - 1) as u16
    }

    /// The wanted vectors of each pair of blocks (columns `32p..32p + 32`) in `packus` order:
    /// in each 128-bit chunk c, four lanes of the first block (4c..4c + 3), then four of the
    /// second; u32::MAX saturates to u16::MAX, which no bucket reaches.
    fn pair_vectors(t: &Targets, pairs: usize) -> Vec<[u16; 2 * W]> {
        let mut out = Vec::with_capacity(pairs * t.k_max);
        for p in 0..pairs {
            for k in 0..t.k_max {
                let mut v = [0u16; 2 * W];
                for c in 0..4 {
                    for i in 0..4 {
                        let first = low(t.wanted(2 * W * p + 4 * c + i, k));
                        let second = low(t.wanted(2 * W * p + W + 4 * c + i, k));
                        v[8 * c + i] = first.min(u16::MAX as u32) as u16;
                        v[8 * c + 4 + i] = second.min(u16::MAX as u32) as u16;
                    }
                }
                out.push(v);
            }
        }
        out
    }

    /// The wanted vectors of the 16-column block at `start`, in u32 lanes.
    fn block_vectors(t: &Targets, start: usize) -> Vec<[u32; W]> {
        (0..t.k_max)
            .map(|k| std::array::from_fn(|l| low(t.wanted(start + l, k))))
            .collect()
    }

    /// `low_codes` of the 16 columns at `start`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block_low(x: __m512, start: usize, lo: &[f32], scale: &[f32]) -> __m512i {
        low_codes(
            x,
            _mm512_loadu_ps(lo.as_ptr().add(start)),
            _mm512_loadu_ps(scale.as_ptr().add(start)),
        )
    }

    /// Which lanes of a pair's `codes` equal one of its `K` (or all) wanted vectors, as a mask
    /// in `packus` order (`packus_lane`).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn pair_mask<const K: usize>(codes: __m512i, w: &[[u16; 2 * W]]) -> u32 {
        // Two chains of masked compares (each lane stays set while it differs from every
        // wanted vector so far) instead of a compare and an OR per vector.
        let (mut even, mut odd) = (!0u32, !0u32);
        for (i, t) in (if K > 0 { &w[..K] } else { w }).iter().enumerate() {
            let t = _mm512_loadu_si512(t.as_ptr() as *const __m512i);
            if i % 2 == 0 {
                even = _mm512_mask_cmpneq_epi16_mask(even, codes, t);
            } else {
                odd = _mm512_mask_cmpneq_epi16_mask(odd, codes, t);
            }
        }
        !(even & odd)
    }

    /// Which lanes of one block's buckets equal one of its `K` (or all) wanted vectors.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block_mask<const K: usize>(b: __m512i, w: &[[u32; W]]) -> u16 {
        let mut m = 0u16;
        for t in if K > 0 { &w[..K] } else { w } {
            m |= _mm512_cmpeq_epi32_mask(b, _mm512_loadu_si512(t.as_ptr() as *const __m512i));
        }
        m
    }

    /// `avx2::code_rows` on AVX-512 (the same codes: the buckets are equal lane for lane), 16
    /// columns a step; `codes` holds an even number of blocks. The finite values are taken
    /// into `extremes`.
    ///
    /// # Safety
    /// The CPU has the features of `usable`; `lo`, `scale`, `min` and `max` hold `ncols`
    /// rounded up to a multiple of 32 lanes.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn code_rows(
        rows: &[f32],
        ncols: usize,
        maps: (&[f32], &[f32]),
        (min, max): (&mut [f32], &mut [f32]),
        codes: &mut [u16],
        stride: usize,
    ) {
        let steps = ncols.div_ceil(W);
        let n = rows.len() / ncols;
        assert!(n <= stride && codes.len() >= 2 * steps * stride * super::LANES);
        assert!(maps.0.len() >= steps * W && maps.1.len() >= steps * W);
        assert!(min.len() >= steps * W && max.len() >= steps * W);
        let mut first = 0;
        while first < steps {
            let extremes = (&mut *min, &mut *max);
            let group = (steps - first).min(HELD);
            macro_rules! by_steps {
                ($($k:literal)*) => {
                    match group {
                        $($k => code_steps::<$k>(rows, ncols, first, maps, extremes, codes, stride),)*
                        _ => unreachable!(),
                    }
                };
            }
            by_steps!(1 2 3 4 5 6 7 8);
            first += group;
        }
    }

    /// Whether `code_rows_f64` runs here (for T = f64).
    pub fn usable_f64<T: 'static>() -> bool {
        TypeId::of::<T>() == TypeId::of::<f64>()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
    }

    /// # Safety
    /// T must be f64.
    pub unsafe fn as_f64<T>(s: &[T]) -> &[f64] {
        std::slice::from_raw_parts(s.as_ptr() as *const f64, s.len())
    }

    /// # Safety
    /// T must be f64.
    pub unsafe fn as_f64_mut<T>(s: &mut [T]) -> &mut [f64] {
        std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f64, s.len())
    }

    /// `code_rows` of float64 rows: a block of 8 columns per vector, each lane's code the
    /// scalar `RowSample::bucket` (maxpd gives its second operand, 0, for NaN as `f64::max`
    /// does; truncation of [0, BUCKETS - 2] is exact; non-finite lanes get 0), into block
    /// after block of `codes` as the float32 coders write them. The finite values are taken
    /// into `extremes` (the scalar pass's were: the kernel keeps out the infinities as it does).
    ///
    /// # Safety
    /// The CPU has the features of `usable_f64`; `lo`, `scale`, `min` and `max` hold `ncols`
    /// rounded up to a multiple of 8 lanes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn code_rows_f64(
        rows: &[f64],
        ncols: usize,
        maps: (&[f64], &[f64]),
        (min, max): (&mut [f64], &mut [f64]),
        codes: &mut [u16],
        stride: usize,
    ) {
        const LANES: usize = super::LANES;
        let blocks = ncols.div_ceil(LANES);
        let n = rows.len() / ncols;
        assert!(n <= stride && codes.len() >= blocks * stride * LANES);
        assert!(maps.0.len() >= blocks * LANES && maps.1.len() >= blocks * LANES);
        assert!(min.len() >= blocks * LANES && max.len() >= blocks * LANES);
        let mut first = 0;
        while first < blocks {
            let extremes = (&mut *min, &mut *max);
            let group = (blocks - first).min(HELD);
            macro_rules! by_blocks {
                ($($k:literal)*) => {
                    match group {
                        $($k => code_blocks_f64::<$k>(rows, ncols, first, maps, extremes, codes, stride),)*
                        _ => unreachable!(),
                    }
                };
            }
            by_blocks!(1 2 3 4 5 6 7 8);
            first += group;
        }
    }

    /// `code_rows_f64` of the `S` blocks from `first`, over all the rows, their extremes held in
    /// registers (as `code_steps`).
    ///
    /// # Safety
    /// As `code_rows_f64`, whose asserts hold.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[inline]
    unsafe fn code_blocks_f64<const S: usize>(
        rows: &[f64],
        ncols: usize,
        first: usize,
        (lo, scale): (&[f64], &[f64]),
        (min, max): (&mut [f64], &mut [f64]),
        codes: &mut [u16],
        stride: usize,
    ) {
        const LANES: usize = super::LANES;
        let full = ncols / LANES;
        let tail = ((1u32 << (ncols - full * LANES)) - 1) as u8;
        let (pmin, pmax) = (
            min.as_mut_ptr().add(first * LANES),
            max.as_mut_ptr().add(first * LANES),
        );
        let mut held_min = [_mm512_setzero_pd(); S];
        let mut held_max = [_mm512_setzero_pd(); S];
        for k in 0..S {
            held_min[k] = _mm512_loadu_pd(pmin.add(k * LANES));
            held_max[k] = _mm512_loadu_pd(pmax.add(k * LANES));
        }
        let (zero, top) = (_mm512_setzero_pd(), _mm512_set1_pd((BUCKETS - 2) as f64));
        let (largest, one) = (_mm512_set1_pd(f64::MAX), _mm256_set1_epi32(1));
        let ahead = super::rows_ahead(ncols * 2);
        let base = codes.as_mut_ptr();
        for (i, row) in rows.chunks_exact(ncols).enumerate() {
            if first == 0 {
                super::prefetch_row(rows, ncols, i + ahead);
            }
            for k in 0..S {
                let b = first + k;
                let x = if b < full {
                    _mm512_loadu_pd(row.as_ptr().add(b * LANES))
                } else {
                    _mm512_maskz_loadu_pd(tail, row.as_ptr().add(b * LANES))
                };
                let t = _mm512_mul_pd(
                    _mm512_sub_pd(x, _mm512_loadu_pd(lo.as_ptr().add(b * LANES))),
                    _mm512_loadu_pd(scale.as_ptr().add(b * LANES)),
                );
                let t = _mm512_min_pd(_mm512_max_pd(t, zero), top);
                let finite = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(_mm512_abs_pd(x), largest);
                let code = _mm256_maskz_add_epi32(finite, _mm512_cvttpd_epi32(t), one);
                // The masked-off lanes are 0.0, in padding columns.
                held_min[k] = _mm512_mask_min_pd(held_min[k], finite, x, held_min[k]);
                held_max[k] = _mm512_mask_max_pd(held_max[k], finite, x, held_max[k]);
                _mm_storeu_si128(
                    base.add((b * stride + i) * LANES) as *mut __m128i,
                    _mm256_cvtepi32_epi16(code),
                );
            }
        }
        for k in 0..S {
            _mm512_storeu_pd(pmin.add(k * LANES), held_min[k]);
            _mm512_storeu_pd(pmax.add(k * LANES), held_max[k]);
        }
    }

    /// Calls `hit(column, value, k)` for every value of float64 rows whose bucket is its
    /// column's `k`-th target: a block of 8 columns per vector, its low codes (`low_codes` of
    /// 8 lanes) compared with the block's wanted vectors; a hit's bucket and target come from
    /// the scalar map and `Targets::which` (non-finite values, which may share a wanted code,
    /// are dropped there).
    ///
    /// # Safety
    /// The CPU has the features of `usable_f64`; `lo` and `scale` hold `ncols` rounded up to a
    /// multiple of 8 lanes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn scan_rows_f64(
        rows: &[f64],
        ncols: usize,
        (lo, scale): (&[f64], &[f64]),
        targets: &Targets,
        hit: &mut impl FnMut(usize, f64, u32),
    ) {
        const LANES: usize = super::LANES;
        let blocks = ncols.div_ceil(LANES);
        assert!(lo.len() >= blocks * LANES && scale.len() >= blocks * LANES);
        let k_max = targets.k_max;
        let wanted: Vec<__m256i> = (0..blocks * k_max)
            .map(|i| {
                let lanes: [u32; LANES] =
                    std::array::from_fn(
                        |l| low(targets.wanted((i / k_max) * LANES + l, i % k_max)),
                    );
                _mm256_loadu_si256(lanes.as_ptr() as *const __m256i)
            })
            .collect();
        let full = ncols / LANES;
        let tail = ((1u32 << (ncols - full * LANES)) - 1) as u8;
        let (zero, top) = (_mm512_setzero_pd(), _mm512_set1_pd((BUCKETS - 2) as f64));
        let ahead = super::rows_ahead(ncols * 2);
        for (i, row) in rows.chunks_exact(ncols).enumerate() {
            super::prefetch_row(rows, ncols, i + ahead);
            for b in 0..blocks {
                let x = if b < full {
                    _mm512_loadu_pd(row.as_ptr().add(b * LANES))
                } else {
                    _mm512_maskz_loadu_pd(tail, row.as_ptr().add(b * LANES))
                };
                let t = _mm512_mul_pd(
                    _mm512_sub_pd(x, _mm512_loadu_pd(lo.as_ptr().add(b * LANES))),
                    _mm512_loadu_pd(scale.as_ptr().add(b * LANES)),
                );
                let code = _mm512_cvttpd_epi32(_mm512_min_pd(_mm512_max_pd(t, zero), top));
                let mut mask = 0u8;
                for w in &wanted[b * k_max..(b + 1) * k_max] {
                    mask |= _mm256_cmpeq_epi32_mask(code, *w);
                }
                // Lanes past the last column hold 0.0 and no target (u32::MAX).
                let mut m = mask;
                while m != 0 {
                    let l = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let (j, x) = (b * LANES + l, row[b * LANES + l]);
                    if x.is_finite() {
                        let bucket = super::RowSample::bucket(x, lo[j], scale[j]) as usize;
                        hit(j, x, targets.which[j * BUCKETS + bucket] as u32);
                    }
                }
            }
        }
    }

    /// Steps whose extremes `code_steps` holds in registers.
    const HELD: usize = 8;

    /// `code_rows` of the `S` steps from `first`, over all the rows: their extremes stay in
    /// registers (kept in memory, their loads and stores made the first pass 20-40% slower).
    /// A wider matrix takes its steps `HELD` at a time, each group over the rows (its lines
    /// were asked for with the first group's).
    ///
    /// # Safety
    /// As `code_rows`, whose asserts hold.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn code_steps<const S: usize>(
        rows: &[f32],
        ncols: usize,
        first: usize,
        (lo, scale): (&[f32], &[f32]),
        (min, max): (&mut [f32], &mut [f32]),
        codes: &mut [u16],
        stride: usize,
    ) {
        const LANES: usize = super::LANES;
        let full = ncols / W;
        let tail = lanes(ncols - full * W);
        let (pmin, pmax) = (
            min.as_mut_ptr().add(first * W),
            max.as_mut_ptr().add(first * W),
        );
        let mut held_min = [_mm512_setzero_ps(); S];
        let mut held_max = [_mm512_setzero_ps(); S];
        for k in 0..S {
            held_min[k] = _mm512_loadu_ps(pmin.add(k * W));
            held_max[k] = _mm512_loadu_ps(pmax.add(k * W));
        }
        let ahead = super::rows_ahead(ncols);
        let base = codes.as_mut_ptr();
        for (i, row) in rows.chunks_exact(ncols).enumerate() {
            if first == 0 {
                super::prefetch_row(rows, ncols, i + ahead);
            }
            for k in 0..S {
                let s = first + k;
                let x = if s < full {
                    _mm512_loadu_ps(row.as_ptr().add(s * W))
                } else {
                    _mm512_maskz_loadu_ps(tail, row.as_ptr().add(s * W))
                };
                let (b, finite) = buckets(
                    x,
                    _mm512_loadu_ps(lo.as_ptr().add(s * W)),
                    _mm512_loadu_ps(scale.as_ptr().add(s * W)),
                );
                // The masked-off lanes are 0.0, in padding columns.
                held_min[k] = _mm512_mask_min_ps(held_min[k], finite, x, held_min[k]);
                held_max[k] = _mm512_mask_max_ps(held_max[k], finite, x, held_max[k]);
                let b = _mm512_cvtepi32_epi16(b);
                _mm_storeu_si128(
                    base.add((2 * s * stride + i) * LANES) as *mut __m128i,
                    _mm256_castsi256_si128(b),
                );
                _mm_storeu_si128(
                    base.add(((2 * s + 1) * stride + i) * LANES) as *mut __m128i,
                    _mm256_extracti128_si256::<1>(b),
                );
            }
        }
        for k in 0..S {
            _mm512_storeu_ps(pmin.add(k * W), held_min[k]);
            _mm512_storeu_ps(pmax.add(k * W), held_max[k]);
        }
    }

    /// Calls `hit(column, value, k)` for every value whose bucket is its column's `k`-th
    /// target, as `avx2::scan_rows` does: over super-rows (`scan_super_k`) where their tables
    /// fit and `super_rows` allows, else row by row (`scan_rows_k`).
    ///
    /// # Safety
    /// The CPU has the features of `usable`; `lo` and `scale` hold `ncols` rounded up to a
    /// multiple of 32 lanes.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn scan_rows(
        rows: &[f32],
        ncols: usize,
        (lo, scale): (&[f32], &[f32]),
        (targets, super_rows): (&Targets, bool),
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        assert!(lo.len() >= ncols.div_ceil(2 * W) * 2 * W && scale.len() == lo.len());
        macro_rules! by_count {
            ($($k:literal)*) => {
                match targets.k_max {
                    $($k => scan_rows_k::<$k>(rows, ncols, lo, scale, targets, hit),)*
                    _ => scan_rows_k::<0>(rows, ncols, lo, scale, targets, hit),
                }
            };
        }
        if let Some(period) = super_pairs(ncols, targets.k_max).filter(|_| super_rows) {
            let tables = Super::new(ncols, period, lo, scale, targets);
            macro_rules! super_by_count {
                ($($k:literal)*) => {
                    match targets.k_max {
                        $($k => scan_super::<$k>(rows, &tables, (&targets.which, (lo, scale)), hit),)*
                        _ => scan_super::<0>(rows, &tables, (&targets.which, (lo, scale)), hit),
                    }
                };
            }
            super_by_count!(1 2 3 4 5 6 7 8 9 10 11 12);
            return;
        }
        by_count!(1 2 3 4 5 6 7 8 9 10 11 12)
    }

    /// The most bytes of super-row tables (`Super`: per pair 4 map vectors and `k_max` wanted
    /// vectors of 64 bytes). Past L1 they still beat plain rows: 1e5 x 1000 float32 (125 pairs,
    /// 72 kB) fitted in 0.79 of the time, 1.5e6 x 33 (33 pairs) in 0.83.
    const MAX_SUPER_BYTES: usize = 1 << 20;

    /// Pairs of blocks (32 values) in a super-row, `lcm(ncols, 32)` values, when their tables
    /// take at most `MAX_SUPER_BYTES`: 25 pairs for 100 columns (8 rows), 5 for 5 columns.
    fn super_pairs(ncols: usize, k_max: usize) -> Option<usize> {
        let (mut a, mut b) = (ncols, 2 * W);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        let pairs = ncols / a;
        (pairs * (k_max + 4) * 64 <= MAX_SUPER_BYTES).then_some(pairs)
    }

    /// The scan's view of the rows as one stream of super-rows: per pair of the super-row, the
    /// column of each of its 32 values, the maps of its two blocks and its wanted vectors in
    /// `packus` order.
    struct Super {
        period: usize,
        k_max: usize,
        columns: Vec<[u16; 2 * W]>,
        lo: Vec<[f32; W]>,
        scale: Vec<[f32; W]>,
        wanted: Vec<[u16; 2 * W]>,
        /// Per column its wanted codes (`low` of its buckets, u16::MAX past the last), in
        /// target order, when there are at most 32: a hit's target is the lane its code matches
        /// (`target_of`), in L1 (`Targets::which`, 100 kB for 100 columns, was not).
        targets: Option<Vec<[u16; 2 * W]>>,
    }

    impl Super {
        fn new(ncols: usize, period: usize, lo: &[f32], scale: &[f32], t: &Targets) -> Super {
            let columns: Vec<[u16; 2 * W]> = (0..period)
                .map(|q| std::array::from_fn(|l| ((2 * W * q + l) % ncols) as u16))
                .collect();
            let block = |v: &[f32], q: usize, half: usize| -> [f32; W] {
                std::array::from_fn(|l| v[columns[q][half * W + l] as usize])
            };
            let mut wanted = Vec::with_capacity(period * t.k_max);
            for c in &columns {
                for k in 0..t.k_max {
                    let mut v = [0u16; 2 * W];
                    for (i, w) in v.iter_mut().enumerate() {
                        let (chunk, lane) = (i / 8, i % 8);
                        let j = c[packus_lane(chunk, lane)] as usize;
                        *w = low(t.wanted(j, k)).min(u16::MAX as u32) as u16;
                    }
                    wanted.push(v);
                }
            }
            let targets = (t.k_max <= 2 * W).then(|| {
                (0..ncols)
                    .map(|j| {
                        std::array::from_fn(|k| {
                            // Past k_max `wanted` would read the next block's vectors.
                            let b = if k < t.k_max {
                                t.wanted(j, k)
                            } else {
                                u32::MAX
                            };
                            low(b).min(u16::MAX as u32) as u16
                        })
                    })
                    .collect()
            });
            Super {
                period,
                k_max: t.k_max,
                targets,
                lo: (0..2 * period).map(|h| block(lo, h / 2, h % 2)).collect(),
                scale: (0..2 * period)
                    .map(|h| block(scale, h / 2, h % 2))
                    .collect(),
                wanted,
                columns,
            }
        }
    }

    /// The value of a pair (0..32: the first block's lanes, then the second's) at lane
    /// `lane` of `packus` chunk `chunk`: four lanes of the first block, then four of the second.
    #[inline(always)]
    fn packus_lane(chunk: usize, lane: usize) -> usize {
        if lane < 4 {
            4 * chunk + lane
        } else {
            W + 4 * chunk + lane - 4
        }
    }

    /// `scan_rows_k` over super-rows: every vector is full (rows of 100 columns took 3 pairs
    /// and a block of 16 lanes for the last 4 columns, compared as often as a pair).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn scan_super_k<const K: usize>(
        rows: &[f32],
        tables: &Super,
        (which, maps): (&[u8], (&[f32], &[f32])),
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        let (period, k_max) = (tables.period, tables.k_max);
        assert!(tables.lo.len() == 2 * period && tables.scale.len() == 2 * period);
        assert!(tables.wanted.len() == period * k_max && K <= k_max);
        let n = rows.len();
        let pairs = n.div_ceil(2 * W);
        let batch = BATCH_BYTES / (8 * W);
        let mut masks = vec![0u32; batch];
        let base = rows.as_ptr();
        let mut q = 0;
        for first in (0..pairs).step_by(batch) {
            let last = (first + batch).min(pairs);
            let q_first = q;
            for (c, mask) in (first..last).zip(masks.iter_mut()) {
                let at = 2 * W * c;
                // Two lines of the pair 8 kB ahead (a hint: never faults).
                let ahead = base.wrapping_add(at + AHEAD) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                let (x0, x1) = if at + 2 * W <= n {
                    (
                        _mm512_loadu_ps(base.add(at)),
                        _mm512_loadu_ps(base.add(at + W)),
                    )
                } else {
                    // The last pair of the part; lanes past its end are 0.0, their hits are
                    // dropped in `super_hits`.
                    let rest = n - at;
                    (
                        _mm512_maskz_loadu_ps(lanes(rest), base.add(at)),
                        _mm512_maskz_loadu_ps(
                            lanes(rest.saturating_sub(W)),
                            base.wrapping_add(at + W),
                        ),
                    )
                };
                let codes = pair_codes(
                    (
                        x0,
                        _mm512_loadu_ps(tables.lo[2 * q].as_ptr()),
                        _mm512_loadu_ps(tables.scale[2 * q].as_ptr()),
                    ),
                    (
                        x1,
                        _mm512_loadu_ps(tables.lo[2 * q + 1].as_ptr()),
                        _mm512_loadu_ps(tables.scale[2 * q + 1].as_ptr()),
                    ),
                );
                *mask = pair_mask::<K>(codes, &tables.wanted[q * k_max..(q + 1) * k_max]);
                q += 1;
                if q == period {
                    q = 0;
                }
            }
            super_hits(
                rows,
                (first, q_first),
                &masks[..last - first],
                tables,
                (which, maps),
                hit,
            );
        }
    }

    /// The super-row scan: a batch of super-rows at a time (`scan_super_q`) where a batch holds
    /// two or more of them, else super-row after super-row (`scan_super_k`).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn scan_super<const K: usize>(
        rows: &[f32],
        tables: &Super,
        ctx: (&[u8], (&[f32], &[f32])),
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        if batch_supers(tables.period) >= 2 {
            scan_super_q::<K>(rows, tables, ctx, hit)
        } else {
            scan_super_k::<K>(rows, tables, ctx, hit)
        }
    }

    /// Super-rows (`period` pairs of blocks each) in a batch of `scan_super_q`: in all about
    /// `BATCH_BYTES`, which stay in L1 while the batch's pairs are compared.
    fn batch_supers(period: usize) -> usize {
        (BATCH_BYTES / (8 * W * period)).max(1)
    }

    /// `scan_super_k` a batch of super-rows at a time, pair of the super-row by pair: each
    /// pair's map and wanted vectors are loaded once per batch and stay in registers while
    /// the batch's super-rows (in L1) are compared. Loaded for every pair (`scan_super_k`),
    /// they were 13 of its 15 vector loads for 100 columns and 10 bins, and 21 kB of L1 beside
    /// the 16 kB of rows; this loop fitted 1e6 x 100 float32 in 0.886-0.91 of the time on a
    /// Zen 4 guest (3e6 x 33: 0.888, 1.25e7 x 8: 0.884; benches/compare_matrix_inprocess.py).
    /// The next batch is asked for into L2 meanwhile, two lines per pair (into L1 it evicted
    /// the batch: 0.948).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn scan_super_q<const K: usize>(
        rows: &[f32],
        tables: &Super,
        (which, maps): (&[u8], (&[f32], &[f32])),
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        let (period, k_max) = (tables.period, tables.k_max);
        assert!(tables.lo.len() == 2 * period && tables.scale.len() == 2 * period);
        assert!(tables.wanted.len() == period * k_max && K <= k_max);
        let n = rows.len();
        let pairs = n.div_ceil(2 * W);
        let length = 2 * W * period;
        let supers = batch_supers(period);
        let mut masks = vec![0u32; supers * period];
        let base = rows.as_ptr();
        for first in (0..pairs).step_by(supers * period) {
            let last = (first + supers * period).min(pairs);
            let start = first * 2 * W;
            let next =
                &rows[(start + supers * length).min(n)..(start + 2 * supers * length).min(n)];
            let mut lines = super::Lines::of(next);
            for q in 0..period {
                let (lo0, scale0) = (
                    _mm512_loadu_ps(tables.lo[2 * q].as_ptr()),
                    _mm512_loadu_ps(tables.scale[2 * q].as_ptr()),
                );
                let (lo1, scale1) = (
                    _mm512_loadu_ps(tables.lo[2 * q + 1].as_ptr()),
                    _mm512_loadu_ps(tables.scale[2 * q + 1].as_ptr()),
                );
                let wanted = &tables.wanted[q * k_max..(q + 1) * k_max];
                let mut held = [_mm512_setzero_si512(); K];
                for (h, w) in held.iter_mut().zip(wanted) {
                    *h = _mm512_loadu_si512(w.as_ptr() as *const __m512i);
                }
                let mut c = first + q;
                let mut slot = q;
                while c < last {
                    let at = 2 * W * c;
                    lines.ask();
                    lines.ask();
                    let (x0, x1) = if at + 2 * W <= n {
                        (
                            _mm512_loadu_ps(base.add(at)),
                            _mm512_loadu_ps(base.add(at + W)),
                        )
                    } else {
                        let rest = n - at;
                        (
                            _mm512_maskz_loadu_ps(lanes(rest), base.add(at)),
                            _mm512_maskz_loadu_ps(
                                lanes(rest.saturating_sub(W)),
                                base.wrapping_add(at + W),
                            ),
                        )
                    };
                    let codes = pair_codes((x0, lo0, scale0), (x1, lo1, scale1));
                    masks[slot] = if K > 0 {
                        held_mask::<K>(codes, &held)
                    } else {
                        pair_mask::<0>(codes, wanted)
                    };
                    c += period;
                    slot += period;
                }
            }
            super_hits(
                rows,
                (first, 0),
                &masks[..last - first],
                tables,
                (which, maps),
                hit,
            );
        }
    }

    /// `pair_mask` of wanted vectors held in registers.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn held_mask<const K: usize>(codes: __m512i, held: &[__m512i; K]) -> u32 {
        let (mut even, mut odd) = (!0u32, !0u32);
        for (i, &t) in held.iter().enumerate() {
            if i % 2 == 0 {
                even = _mm512_mask_cmpneq_epi16_mask(even, codes, t);
            } else {
                odd = _mm512_mask_cmpneq_epi16_mask(odd, codes, t);
            }
        }
        !(even & odd)
    }

    /// Values ahead of the pair being scanned that `scan_super_k` asks for (8 kB).
    const AHEAD: usize = 2048;

    /// `hit`s of a super-row scan's masks of the pairs from `first`, the `q`-th pair of its
    /// super-row (counted along: a division per pair cost more than its hits).
    #[inline(always)]
    fn super_hits(
        rows: &[f32],
        (first, mut q): (usize, usize),
        masks: &[u32],
        tables: &Super,
        (which, (lo, scale)): (&[u8], (&[f32], &[f32])),
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        for (c, &mask) in (first..).zip(masks) {
            if mask != 0 {
                let columns = &tables.columns[q];
                let mut m = mask;
                while m != 0 {
                    let bit = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let lane = packus_lane(bit >> 3, bit & 7);
                    // Lanes past the end of the part were loaded as 0.0; non-finite values may
                    // have a wanted code (`pair_codes`).
                    let Some(&x) = rows.get(2 * W * c + lane) else {
                        continue;
                    };
                    if x.is_finite() {
                        let j = columns[lane] as usize;
                        // The vector's code exactly: the same IEEE operations (kept in a buffer
                        // for the hits, the codes' stores cost more than this: 1.02 on Zen 4).
                        let b = super::RowSample::bucket(x, lo[j], scale[j]);
                        let k = match &tables.targets {
                            // SAFETY: the scans run only where `usable` found the features.
                            Some(targets) => unsafe { target_of(b as u16 - 1, &targets[j]) },
                            None => which[j * BUCKETS + b as usize] as u32,
                        };
                        debug_assert!((k as usize) < tables.k_max, "a hit matched no target");
                        hit(j, x, k);
                    }
                }
            }
            q += 1;
            if q == tables.period {
                q = 0;
            }
        }
    }

    /// The lane of `targets` that holds `code` (one does: the code matched a wanted vector).
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn target_of(code: u16, targets: &[u16; 2 * W]) -> u32 {
        let t = _mm512_loadu_si512(targets.as_ptr() as *const __m512i);
        _mm512_cmpeq_epi16_mask(t, _mm512_set1_epi16(code as i16)).trailing_zeros()
    }

    /// Calls `f` with each lane set in `mask`: lanes of a pair (0..32) when `packed` (the
    /// mask is in `packus` order), else the mask's own bits.
    #[inline(always)]
    fn each_set_lane(mask: u32, packed: bool, mut f: impl FnMut(usize)) {
        let mut m = mask;
        while m != 0 {
            let bit = m.trailing_zeros() as usize;
            m &= m - 1;
            f(if packed {
                packus_lane(bit >> 3, bit & 7)
            } else {
                bit
            });
        }
    }

    /// `hit(j, x, k)` for value `x` of column `j` whose code matched: `k` from its bucket by the
    /// scalar map (the vector's exactly: the same IEEE operations). Non-finite values are
    /// dropped (`low_codes` and `pair_codes` may give them a wanted code).
    #[inline(always)]
    fn take_hit(
        j: usize,
        x: f32,
        ((lo, scale), which): ((&[f32], &[f32]), &[u8]),
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        if x.is_finite() {
            let b = super::RowSample::bucket(x, lo[j], scale[j]) as usize;
            hit(j, x, which[j * BUCKETS + b] as u32);
        }
    }

    /// `K` wanted vectors per pair, unrolled (`K == 0`: `k_max` of them, in a loop).
    ///
    /// The compares only store each pair's hit mask; `hits` then finds the hits of a batch of
    /// rows while the rows are in L1, as `super_hits` does for super-rows. (On these plain rows
    /// the masks measured as fast as compressing the hits in the compare loop: 1.006 on
    /// 1e6 x 100; the super-rows gained.)
    #[inline(always)]
    unsafe fn scan_rows_k<const K: usize>(
        rows: &[f32],
        ncols: usize,
        lo: &[f32],
        scale: &[f32],
        targets: &Targets,
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        let k_max = targets.k_max;
        // Whole pairs of blocks, then the last columns: a masked pair when more than one
        // block's worth remains, else one masked block compared in u32 lanes.
        let full = ncols / (2 * W);
        let rest = ncols - full * 2 * W;
        let pairs = full + usize::from(rest > W);
        let pair_w = pair_vectors(targets, pairs);
        let single = (rest > 0 && rest <= W).then(|| block_vectors(targets, full * 2 * W));
        let (m_first, m_second) = if rest > W {
            (lanes(W), lanes(rest - W))
        } else {
            (lanes(rest), 0)
        };
        let slots = pairs + usize::from(single.is_some());
        let batch = (BATCH_BYTES / (4 * ncols)).max(1);
        let mut masks = vec![0u32; batch * slots];
        let ahead = super::rows_ahead(ncols);
        for (b, chunk) in rows.chunks(batch * ncols).enumerate() {
            for (i, row) in chunk.chunks_exact(ncols).enumerate() {
                super::prefetch_row(rows, ncols, b * batch + i + ahead);
                let out = &mut masks[i * slots..(i + 1) * slots];
                for p in 0..pairs {
                    let start = 2 * W * p;
                    let (x0, x1) = if p < full {
                        (
                            _mm512_loadu_ps(row.as_ptr().add(start)),
                            _mm512_loadu_ps(row.as_ptr().add(start + W)),
                        )
                    } else {
                        (
                            _mm512_maskz_loadu_ps(m_first, row.as_ptr().add(start)),
                            _mm512_maskz_loadu_ps(m_second, row.as_ptr().wrapping_add(start + W)),
                        )
                    };
                    let b0 = block_low(x0, start, lo, scale);
                    let b1 = block_low(x1, start + W, lo, scale);
                    let codes = _mm512_packus_epi32(b0, b1);
                    out[p] = pair_mask::<K>(codes, &pair_w[p * k_max..(p + 1) * k_max]);
                }
                if let Some(w) = &single {
                    let start = 2 * W * full;
                    let x = _mm512_maskz_loadu_ps(m_first, row.as_ptr().add(start));
                    let b = block_low(x, start, lo, scale);
                    out[pairs] = block_mask::<K>(b, w) as u32;
                }
            }
            hits(
                chunk,
                ncols,
                (lo, scale),
                (&masks, slots, pairs),
                &targets.which,
                hit,
            );
        }
    }

    /// Rows of one batch: 16 kB, which stay in L1 until `hits` reads their hits.
    const BATCH_BYTES: usize = 16 << 10;

    /// Calls `hit` for the lanes set in a batch's masks: `slots` per row, the first `pairs` of
    /// them in `packus` order (`pair_mask`), the last one a block's.
    #[inline(always)]
    fn hits(
        chunk: &[f32],
        ncols: usize,
        maps: (&[f32], &[f32]),
        (masks, slots, pairs): (&[u32], usize, usize),
        which: &[u8],
        hit: &mut impl FnMut(usize, f32, u32),
    ) {
        for (row, masks) in chunk.chunks_exact(ncols).zip(masks.chunks_exact(slots)) {
            for (p, &mask) in masks.iter().enumerate() {
                each_set_lane(mask, p < pairs, |lane| {
                    let j = 2 * W * p + lane;
                    take_hit(j, row[j], (maps, which), hit);
                });
            }
        }
    }
}

/// How far ahead the row scans prefetch: about 8 kB (20 rows of 100 float32 columns). With the
/// AVX-512 scan the hardware prefetcher alone left it waiting on the row loads (perf: the
/// hottest instruction). One-thread CPU time of a fit of 200,000 x 100 float32 (medians, loaded
/// machine, same run): 55 ms before, 52 with the AVX2 scan and this, 51 with the AVX-512 scan
/// alone, 44.5 with both; 8 to 128 rows ahead measured alike.
fn rows_ahead(ncols: usize) -> usize {
    (8 * 1024 / (ncols * 4)).max(1)
}

/// Asks for row `row` of the row-major `rows` to be brought into L1 (nothing past the end).
#[inline(always)]
fn prefetch_row<T>(rows: &[T], ncols: usize, row: usize) {
    if let Some(r) = rows.get(row * ncols..(row + 1) * ncols) {
        prefetch_l1(r);
    }
}

/// `prefetch` into L1.
#[inline(always)]
fn prefetch_l1<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let base = data.as_ptr() as *const i8;
        for offset in (0..std::mem::size_of_val(data)).step_by(64) {
            // SAFETY: the address is inside `data`; prefetching never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(offset)) };
        }
    }
}

/// Asks for `bytes` of `data` (the next tile's share) to be brought into L2: the sweeps read a
/// tile column block by column block, 400 bytes apart for 100 float32 columns, a pattern the
/// hardware prefetcher does not follow; without this the first sweep of each tile waited on
/// memory (perf: three quarters of the pass on the load of the row).
#[inline(always)]
pub(crate) fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        let bytes = std::mem::size_of_val(data);
        let base = data.as_ptr() as *const i8;
        for offset in (0..bytes).step_by(64) {
            // SAFETY: the address is inside `data`; prefetching never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(base.add(offset)) };
        }
    }
}

/// The share `block` of `blocks` of the tile after `tile_index` (empty past the end).
fn next_share<T>(rows: &[T], tile: usize, tile_index: usize, block: usize, blocks: usize) -> &[T] {
    let start = ((tile_index + 1) * tile).min(rows.len());
    let next = &rows[start..(start + tile).min(rows.len())];
    let (a, b) = (
        next.len() * block / blocks,
        next.len() * (block + 1) / blocks,
    );
    &next[a..b]
}

fn tile_rows(ncols: usize, size: usize) -> usize {
    (TILE_BYTES / (ncols * size)).max(1)
}

#[inline(always)]
fn histogram_part<T: RowSample>(
    rows: &[T],
    ncols: usize,
    maps: &Maps<T>,
    counts: &mut [[[u16; LANE_STRIDE]; LANES]],
    total: &mut [u64],
    extremes: &mut Extremes<T>,
    avx512: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512 && avx512::usable_f64::<T>() {
            // SAFETY: T is f64 (checked by `usable_f64`), so the casts only rename the type.
            let (rows, lo, scale, min, max) = unsafe {
                (
                    avx512::as_f64(rows),
                    avx512::as_f64(&maps.lo),
                    avx512::as_f64(&maps.scale),
                    avx512::as_f64_mut(&mut extremes.min),
                    avx512::as_f64_mut(&mut extremes.max),
                )
            };
            let blocks = ncols.div_ceil(LANES);
            histogram_coded(rows, ncols, blocks, counts, total, |part, codes, stride| {
                // SAFETY: the CPU has the features (checked by `usable_f64`); the maps are
                // padded to whole multiples of PAD columns.
                unsafe {
                    avx512::code_rows_f64(part, ncols, (lo, scale), (min, max), codes, stride)
                }
            });
            return;
        }
        if avx2::usable::<T>() {
            // SAFETY: T is f32 (checked by `usable`), so the casts only rename the type.
            let (rows, lo, scale, min, max) = unsafe {
                (
                    avx2::as_f32(rows),
                    avx2::as_f32(&maps.lo),
                    avx2::as_f32(&maps.scale),
                    avx2::as_f32_mut(&mut extremes.min),
                    avx2::as_f32_mut(&mut extremes.max),
                )
            };
            if avx512 && avx512::usable::<T>() {
                // An even number of blocks: the AVX-512 coder writes two at a time.
                let blocks = ncols.div_ceil(2 * LANES) * 2;
                histogram_coded(rows, ncols, blocks, counts, total, |part, codes, stride| {
                    // SAFETY: the CPU has the features (checked by `usable`); the maps are
                    // padded to whole multiples of PAD columns.
                    unsafe {
                        avx512::code_rows(part, ncols, (lo, scale), (min, max), codes, stride)
                    }
                });
            } else {
                let blocks = ncols.div_ceil(LANES);
                histogram_coded(rows, ncols, blocks, counts, total, |part, codes, stride| {
                    // SAFETY: AVX2 is available (checked by `usable`); the maps are padded.
                    unsafe { avx2::code_rows(part, ncols, (lo, scale), (min, max), codes, stride) }
                });
            }
            return;
        }
    }
    let tile = tile_rows(ncols, std::mem::size_of::<T>()).min(FLUSH_ROWS) * ncols;
    let mut since_flush = 0;
    let nblocks = ncols.div_ceil(LANES);
    for (k, tile_rows) in rows.chunks(tile).enumerate() {
        let n = tile_rows.len() / ncols;
        if since_flush + n > FLUSH_ROWS {
            flush(counts, total, ncols);
            since_flush = 0;
        }
        for (block, span) in blocks(ncols).enumerate() {
            prefetch(next_share(rows, tile, k, block, nblocks));
            histogram_block(tile_rows, ncols, span, maps, &mut counts[block]);
        }
        tile_extremes(tile_rows, ncols, extremes);
        since_flush += n;
    }
    flush(counts, total, ncols);
}

/// Rows coded per round of `histogram_coded`: 28 kB of codes for 100 columns. One-thread CPU
/// time of the first pass over 1e6 x 100 float32 (minimum of 8 runs, loaded machine): 92 ms
/// at 128 rows, 102 at 64, 113 at 256; 122-127 ms for the tiles of 12 kB it replaces.
const CODE_ROWS: usize = 128;

/// `histogram_part` of float32 rows: each round codes `CODE_ROWS` rows (`code(rows, codes,
/// stride)`: every column, row after row, so that the rows stream in order), then counts the
/// codes block after block. A block's counters (17 kB) then take about a thousand increments
/// while they are in L1; sweeping tiles of 30 rows block by block, they left L1 between tiles
/// and most increments missed it.
fn histogram_coded<R>(
    rows: &[R],
    ncols: usize,
    blocks: usize,
    counts: &mut [[[u16; LANE_STRIDE]; LANES]],
    total: &mut [u64],
    mut code: impl FnMut(&[R], &mut [u16], usize),
) {
    let chunk = CODE_ROWS.min(FLUSH_ROWS);
    let mut codes = vec![0u16; blocks * chunk * LANES];
    let mut since_flush = 0;
    let nblocks = counts.len();
    for (index, part) in rows.chunks(chunk * ncols).enumerate() {
        let n = part.len() / ncols;
        if since_flush + n > FLUSH_ROWS {
            flush(counts, total, ncols);
            since_flush = 0;
        }
        code(part, &mut codes, chunk);
        for (block, h) in counts.iter_mut().enumerate() {
            let codes = &codes[block * chunk * LANES..(block * chunk + n) * LANES];
            // The counting is compute-bound and the coding waits on memory: the next
            // chunk's lines are asked for meanwhile, a share per block, one every
            // PREFETCH_EVERY rows (the whole chunk asked for before the counting made the
            // fit slower, 92.6 -> 97.9 ms, last stop).
            let mut lines = Lines::of(next_share(rows, chunk * ncols, index, block, nblocks));
            let width = LANES.min(ncols - block * LANES);
            if width == LANES {
                for (r, c) in codes.chunks_exact(LANES).enumerate() {
                    if r % PREFETCH_EVERY == 0 {
                        lines.ask();
                    }
                    for (l, lane) in h.iter_mut().enumerate() {
                        lane[c[l] as usize & (BUCKETS - 1)] += 1;
                    }
                }
            } else {
                // The last block's padding lanes are not counted: each would add one more
                // increment per row, all to one counter (a chain of dependent stores).
                for (r, c) in codes.chunks_exact(LANES).enumerate() {
                    if r % PREFETCH_EVERY == 0 {
                        lines.ask();
                    }
                    for (l, lane) in h.iter_mut().enumerate().take(width) {
                        lane[c[l] as usize & (BUCKETS - 1)] += 1;
                    }
                }
            }
        }
        since_flush += n;
    }
    flush(counts, total, ncols);
}

/// Rows counted per line of the next chunk asked for: a chunk of `CODE_ROWS` rows spans
/// `4 * ncols` / 64 lines per row, fewer than the `LANES`-column blocks times `CODE_ROWS` / 2
/// rows the counting steps through, so every line is asked for once. The lines go to L2: into
/// L1 they evicted the block's counters (the chunk is as large as L1), and the fit was no
/// faster. perf of `Reference.fit` of 1e6 x 100 float32: the coding went from 20% to 12% of
/// the fit's samples, the counting stayed at 31%. One line per counted row was no faster; 256
/// or 64 rows a chunk were slower (benches/compare_matrix_inprocess.py).
const PREFETCH_EVERY: usize = 2;

/// The lines of a chunk of rows, handed out in shares to be prefetched one at a time.
// Only x86-64 prefetches; elsewhere the lines are counted and never asked for.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Lines {
    base: *const i8,
    at: usize,
    end: usize,
}

impl Lines {
    /// The 64-byte lines of `share` (counted from its first value's address, so the last may
    /// start inside it and end past it: a prefetch is a hint and never faults).
    fn of<T>(share: &[T]) -> Lines {
        Lines {
            base: share.as_ptr() as *const i8,
            at: 0,
            end: std::mem::size_of_val(share).div_ceil(64),
        }
    }

    /// Asks for the next line of the share into L2, if any is left.
    #[inline(always)]
    fn ask(&mut self) {
        if self.at < self.end {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: line `at` starts inside the share (see `of`); prefetching never faults.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
                _mm_prefetch::<_MM_HINT_T1>(self.base.add(self.at * 64));
            }
            self.at += 1;
        }
    }
}

/// Adds the u16 counters into `total` (column after column) and zeroes them.
fn flush(counts: &mut [[[u16; LANE_STRIDE]; LANES]], total: &mut [u64], ncols: usize) {
    for (block, lanes) in counts.iter_mut().enumerate() {
        for (l, lane) in lanes.iter_mut().enumerate() {
            let j = block * LANES + l;
            if j < ncols {
                for (t, c) in total[j * BUCKETS..(j + 1) * BUCKETS]
                    .iter_mut()
                    .zip(&lane[..BUCKETS])
                {
                    *t += *c as u64;
                }
            }
            lane.fill(0);
        }
    }
}

/// First pass: every column's bucket counts (`ncols * BUCKETS`, column after column), merged
/// and per part of the rows.
fn histogram_pass<T: RowSample>(
    data: &[T],
    ncols: usize,
    maps: &Maps<T>,
    parts: &[(usize, usize)],
    avx512: bool,
) -> (Vec<u64>, Vec<Vec<u64>>, Extremes<T>) {
    let partials = map_indexed(parts.len(), |p| {
        let (r0, r1) = parts[p];
        let mut total = vec![0u64; ncols * BUCKETS];
        let mut counts = vec![[[0u16; LANE_STRIDE]; LANES]; ncols.div_ceil(LANES)];
        let mut extremes = Extremes::new(maps.lo.len());
        let rows = &data[r0 * ncols..r1 * ncols];
        histogram_part(
            rows,
            ncols,
            maps,
            &mut counts,
            &mut total,
            &mut extremes,
            avx512,
        );
        (total, extremes)
    });
    let mut merged = vec![0u64; ncols * BUCKETS];
    let mut extremes = Extremes::new(maps.lo.len());
    for (p, e) in &partials {
        for (m, c) in merged.iter_mut().zip(p) {
            *m += c;
        }
        extremes.merge(e);
    }
    (
        merged,
        partials.into_iter().map(|(p, _)| p).collect(),
        extremes,
    )
}

/// Each column's smallest and largest value, NaN left out, padded like the maps: the first
/// pass keeps them, so that the ranks of the smallest and the largest value need no bucket of
/// their own in the next pass, and the map can leave the tails out. The AVX-512 and scalar
/// kernels leave the infinities out too; the AVX2 one does not (masking them cost it 4-9%):
/// where an extreme is infinite, the plan finds that end's rank in the buckets instead. A
/// column without values has +inf and -inf.
struct Extremes<T> {
    min: Vec<T>,
    max: Vec<T>,
}

impl<T: RowSample> Extremes<T> {
    fn new(padded: usize) -> Self {
        Extremes {
            min: vec![T::INFINITY; padded],
            max: vec![T::from_f64(f64::NEG_INFINITY); padded],
        }
    }

    fn merge(&mut self, other: &Self) {
        for (lo, &x) in self.min.iter_mut().zip(&other.min) {
            *lo = if x < *lo { x } else { *lo };
        }
        for (hi, &x) in self.max.iter_mut().zip(&other.max) {
            *hi = if x > *hi { x } else { *hi };
        }
    }
}

/// A key range of one column's bucket that holds wanted ranks.
#[derive(Debug, Clone)]
struct Slot {
    column: usize,
    bucket: u32,
    /// Inclusive key range.
    key_lo: u64,
    key_hi: u64,
    /// Finite values of the column with a key below `key_lo`.
    below: u64,
    /// Values in the range.
    count: u64,
    /// Values in the range per part of the rows (the parts are the same every pass), so that
    /// each part gathers into a buffer of exactly its size.
    part_counts: Vec<u64>,
    /// Wanted ranks (among the column's finite values), ascending.
    ranks: Vec<u64>,
    /// The key range is the whole bucket's (a slot of the first pass's histogram).
    whole: bool,
}

/// A pass's findings for one slot that is split (gathered slots find only their values).
#[derive(Debug, Clone)]
struct Found {
    /// Sub-bucket counts, merged and per part.
    sub: Vec<u64>,
    sub_parts: Vec<Vec<u64>>,
    min_key: u64,
    max_key: u64,
}

/// What a hit needs of its slot.
struct SlotKeys {
    lo: u64,
    hi: u64,
    shift: u32,
    /// The slot's place among the split slots, u32::MAX for a gathered one.
    split: u32,
}

/// The values gathered by one pass: per part one buffer, slot after slot.
struct Gathered<T> {
    buffers: Vec<Vec<T>>,
    /// Per part, per slot: where the slot's values start in the part's buffer.
    starts: Vec<Vec<usize>>,
}

impl<T: RowSample> Gathered<T> {
    /// The order keys of slot `k`'s values, every part's, as `K` (wide enough for `T`'s keys:
    /// float32 keys fit in u32, half the bytes to select among).
    fn keys<K: TryFrom<u64>>(&self, slot: &Slot, k: usize) -> Vec<K> {
        let mut keys = Vec::with_capacity(slot.count as usize);
        for (p, buffer) in self.buffers.iter().enumerate() {
            let start = self.starts[p][k];
            let end = start + slot.part_counts[p] as usize;
            keys.extend(
                buffer[start..end]
                    .iter()
                    .map(|x| K::try_from(x.order_key()).unwrap_or_else(|_| unreachable!())),
            );
        }
        keys
    }

    /// `select_keys` of slot `k`'s gathered values at `ranks` (relative to the slot).
    fn select(&self, slot: &Slot, k: usize, ranks: &[u64]) -> Vec<(u64, u64)> {
        if T::KEY_BITS <= 32 {
            select_keys(&mut self.keys::<u32>(slot, k), ranks)
        } else {
            select_keys(&mut self.keys::<u64>(slot, k), ranks)
        }
    }
}

/// The smallest finite key whose value has bucket `>= b` in column `j`, or one past the largest
/// finite key. Searched from the map's own estimate of the boundary, `lo + (b - 1) / scale`:
/// steps doubling away from it until the boundary is bracketed, then bisection. A few
/// evaluations of the map instead of 32 (64 for float64) from the whole key range: the plan
/// does two searches per slot, serially, between the passes.
fn first_key_of<T: RowSample>(maps: &Maps<T>, j: usize, b: u32) -> u64 {
    let (lowest, end) = (T::LOWEST.order_key(), T::INFINITY.order_key());
    let at_least =
        |key: u64| T::from_f64(T::from_order_key(key)).bucket(maps.lo[j], maps.scale[j]) >= b;
    let guess = T::from_f64(maps.lo[j].to_f64() + (b as f64 - 1.0) / maps.scale[j].to_f64());
    let guess = if guess.is_finite_value() {
        guess.order_key()
    } else if guess.to_f64() > 0.0 {
        end - 1
    } else {
        lowest
    };
    // Invariant: every key < lo maps below b; hi maps to >= b (or is past the finite keys).
    let (mut lo, mut hi);
    let mut step = 1u64;
    if at_least(guess) {
        hi = guess;
        lo = loop {
            if guess - lowest < step {
                break lowest;
            }
            let key = guess - step;
            if !at_least(key) {
                break key + 1;
            }
            hi = key;
            // Saturating: float64 keys span 2^64, where doubling would wrap to 0.
            step = step.saturating_mul(2);
        };
    } else {
        lo = guess + 1;
        hi = loop {
            if end - 1 - guess < step {
                break end;
            }
            let key = guess + step;
            if at_least(key) {
                break key;
            }
            lo = key + 1;
            // Saturating: float64 keys span 2^64, where doubling would wrap to 0.
            step = step.saturating_mul(2);
        };
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_least(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

fn shift_of(slot: &Slot) -> u32 {
    let bits = 64 - (slot.key_hi - slot.key_lo).leading_zeros();
    bits.saturating_sub(SUB_BITS)
}

/// Calls `hit(column, value, k)` for every value whose bucket is its column's `k`-th target
/// (`targets[block]`: vectors of target buckets, u32::MAX in lanes without one).
#[inline(always)]
fn scan_part<T: RowSample>(
    rows: &[T],
    ncols: usize,
    maps: &Maps<T>,
    targets: &Targets,
    (avx512, super_rows): (bool, bool),
    mut hit: impl FnMut(usize, T, u32),
) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512 && avx512::usable_f64::<T>() {
            let mut hit_f64 = |j: usize, x: f64, k: u32| hit(j, T::from_f64(x), k);
            // SAFETY: T is f64 and the CPU has the features (both checked by `usable_f64`); the
            // maps are padded to whole multiples of PAD columns.
            unsafe {
                avx512::scan_rows_f64(
                    avx512::as_f64(rows),
                    ncols,
                    (avx512::as_f64(&maps.lo), avx512::as_f64(&maps.scale)),
                    targets,
                    &mut hit_f64,
                );
            }
            return;
        }
        if avx512 && avx512::usable::<T>() {
            let mut hit_f32 = |j: usize, x: f32, k: u32| hit(j, T::from_f64(x as f64), k);
            // SAFETY: T is f32 and the CPU has the features (both checked by `usable`); the
            // maps are padded to whole multiples of PAD columns.
            unsafe {
                avx512::scan_rows(
                    avx2::as_f32(rows),
                    ncols,
                    (avx2::as_f32(&maps.lo), avx2::as_f32(&maps.scale)),
                    (targets, super_rows),
                    &mut hit_f32,
                );
            }
            return;
        }
        if avx2::usable::<T>() {
            let mut hit_f32 = |j: usize, x: f32, k: u32| hit(j, T::from_f64(x as f64), k);
            // SAFETY: as in histogram_block; `targets` holds `k_max` vectors per block and
            // `which` a byte per column and bucket.
            unsafe {
                avx2::scan_rows(
                    avx2::as_f32(rows),
                    ncols,
                    avx2::as_f32(&maps.lo),
                    avx2::as_f32(&maps.scale),
                    (&targets.flat, targets.k_max),
                    &targets.which,
                    &mut hit_f32,
                );
            }
            return;
        }
    }
    let tile = tile_rows(ncols, std::mem::size_of::<T>()) * ncols;
    let nblocks = ncols.div_ceil(LANES);
    for (k, tile_rows) in rows.chunks(tile).enumerate() {
        for (block, span) in blocks(ncols).enumerate() {
            prefetch(next_share(rows, tile, k, block, nblocks));
            let wanted = &targets.flat[block * targets.k_max..(block + 1) * targets.k_max];
            scan_block(tile_rows, ncols, span, maps, wanted, &mut hit);
        }
    }
}

/// The wanted buckets of a pass: per block `k_max` lane vectors (u32::MAX where a column has
/// fewer), and per column and bucket the index of the vector that holds it.
struct Targets {
    flat: Vec<[u32; LANES]>,
    k_max: usize,
    which: Vec<u8>,
}

impl Targets {
    /// Column `j`'s `k`-th wanted bucket (u32::MAX where none, and past the last column).
    #[cfg(target_arch = "x86_64")]
    fn wanted(&self, j: usize, k: usize) -> u32 {
        self.flat
            .get((j / LANES) * self.k_max + k)
            .map_or(u32::MAX, |v| v[j % LANES])
    }

    /// `per_column[j]`: column j's wanted buckets, ascending (at most 2 x MAX_QUANTILES).
    fn new(per_column: &[Vec<u32>]) -> Targets {
        let ncols = per_column.len();
        let k_max = per_column.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat = vec![[u32::MAX; LANES]; ncols.div_ceil(LANES) * k_max];
        let mut which = vec![u8::MAX; ncols * BUCKETS];
        for (j, buckets) in per_column.iter().enumerate() {
            for (k, &b) in buckets.iter().enumerate() {
                // Ranks are of finite values: the AVX-512 scan cannot look for bucket 0.
                assert!(b >= 1 && (b as usize) < BUCKETS);
                flat[(j / LANES) * k_max + k][j % LANES] = b;
                which[j * BUCKETS + b as usize] = k as u8;
            }
        }
        Targets { flat, k_max, which }
    }
}

/// One pass for the pending slots: gathers the values of slots in `gather` (each part into a
/// buffer of exactly its count), counts sub-buckets of the others, and their key extremes.
fn refine_pass<T: RowSample>(
    data: &[T],
    ncols: usize,
    maps: &Maps<T>,
    parts: &[(usize, usize)],
    slots: &[Slot],
    gather: &[bool],
    tuning: &Tuning,
) -> Result<(Vec<Option<Found>>, Gathered<T>)> {
    // Per block, the target buckets of its columns as lane vectors.
    let mut per_column: Vec<Vec<u32>> = vec![Vec::new(); ncols];
    for s in slots {
        if per_column[s.column].last() != Some(&s.bucket) {
            per_column[s.column].push(s.bucket);
        }
    }
    let targets = Targets::new(&per_column);
    // Groups: the (column, bucket) pairs in slot order; a column's k-th target is group
    // first_group[column] + k, whose slots are group_slots[g]..group_slots[g + 1].
    let mut first_group = Vec::with_capacity(ncols);
    let mut groups = 0;
    for targets in &per_column {
        first_group.push(groups);
        groups += targets.len();
    }
    let mut group_slots = Vec::with_capacity(groups + 1);
    for (k, s) in slots.iter().enumerate() {
        if k == 0 || (slots[k - 1].column, slots[k - 1].bucket) != (s.column, s.bucket) {
            group_slots.push(k);
        }
    }
    group_slots.push(slots.len());
    // What a hit needs of each slot, packed (the hits' lookups miss L1 more than anything).
    let mut nsplit = 0;
    let keys: Vec<SlotKeys> = slots
        .iter()
        .zip(gather)
        .map(|(s, &g)| SlotKeys {
            lo: s.key_lo,
            hi: s.key_hi,
            shift: shift_of(s),
            split: if g {
                u32::MAX
            } else {
                nsplit += 1;
                nsplit as u32 - 1
            },
        })
        .collect();
    let nsplit = nsplit;
    // The usual second pass: one slot per (column, bucket), gathered, over the whole bucket
    // (every value of the bucket lies in it, the map being monotone): a hit needs no key test.
    let whole = groups == slots.len() && gather.iter().all(|&g| g) && slots.iter().all(|s| s.whole);
    let starts: Vec<Vec<usize>> = (0..parts.len())
        .map(|p| {
            let mut at = 0usize;
            slots
                .iter()
                .zip(gather)
                .map(|(s, &g)| {
                    let start = at;
                    if g {
                        at += s.part_counts[p] as usize;
                    }
                    start
                })
                .collect()
        })
        .collect();
    let sub_len = 1usize << SUB_BITS;
    let partials = map_indexed(parts.len(), |p| {
        let (r0, r1) = parts[p];
        let size = slots
            .iter()
            .zip(gather)
            .filter(|(_, &g)| g)
            .map(|(s, _)| s.part_counts[p] as usize)
            .sum();
        // Its slots are written at ~1,100 places at once: on 4 kB pages every few hundred
        // hits fault a fresh page.
        let (mut values, offset) =
            crate::alloc::zeroed_on_huge_pages(size, T::from_f64(0.0), tuning.huge_pages_from);
        let mut cursor: Vec<usize> = starts[p].iter().map(|s| s + offset).collect();
        let mut sub = vec![0u64; nsplit * sub_len];
        let mut extremes = vec![(u64::MAX, 0u64); nsplit];
        // A slot fills its buffer line after line, ~1,000 slots at once: the next line is asked
        // for with each hit (the stores missed; 0.975 of the fit of 1e6 x 100 float32).
        let ahead = 64 / std::mem::size_of::<T>();
        let rows = &data[r0 * ncols..r1 * ncols];
        let kernel = (tuning.avx512, tuning.super_rows);
        // A value another thread rewrites between the kernel's two reads of it can name a
        // bucket past its column's groups: noted and reported as a change, never an index out
        // of bounds (a group of another column is caught by the counts below).
        let mut torn = false;
        if whole {
            // Slot g is group g and takes every value of its bucket. A closure of its own, small
            // enough to be inlined into the scans (in one with the refining passes' hits, each
            // hit was a call: the fit of 1e6 x 100 float32 took 1.04x the time).
            let hit = |j: usize, x: T, t: u32| {
                let g = first_group[j] + t as usize;
                let Some(&at) = cursor.get(g) else {
                    torn = true;
                    return;
                };
                if let Some(v) = values.get_mut(at) {
                    *v = x;
                }
                if let Some(v) = values.get(at + ahead) {
                    prefetch_l1(std::slice::from_ref(v));
                }
                cursor[g] = at + 1;
            };
            scan_part(rows, ncols, maps, &targets, kernel, hit);
        } else {
            let hit = |j: usize, x: T, t: u32| {
                let g = first_group[j] + t as usize;
                let key = x.order_key();
                let (Some(&first), Some(&end)) = (group_slots.get(g), group_slots.get(g + 1))
                else {
                    torn = true;
                    return;
                };
                // The slots of one (column, bucket) have disjoint ascending key ranges.
                for k in first..end {
                    let s = &keys[k];
                    if key < s.lo {
                        break;
                    }
                    if key <= s.hi {
                        if s.split == u32::MAX {
                            // Each part's count of the slot was counted by the same test.
                            if let Some(v) = values.get_mut(cursor[k]) {
                                *v = x;
                            }
                            cursor[k] += 1;
                        } else {
                            let i = s.split as usize;
                            let e = &mut extremes[i];
                            *e = (e.0.min(key), e.1.max(key));
                            sub[i * sub_len + ((key - s.lo) >> s.shift) as usize] += 1;
                        }
                        break;
                    }
                }
            };
            scan_part(rows, ncols, maps, &targets, kernel, hit);
        }
        // Each gathered slot got what the last pass counted of it, unless another thread wrote
        // to the rows in between.
        let agrees = !torn
            && cursor
                .iter()
                .zip(&starts[p])
                .zip(slots.iter().zip(gather))
                .all(|((c, s), (slot, &g))| !g || c - s - offset == slot.part_counts[p] as usize);
        (values, sub, extremes, offset, agrees)
    });
    if !partials.iter().all(|part| part.4) {
        return Err(Error::changed());
    }
    let mut found: Vec<Option<Found>> = gather
        .iter()
        .map(|&g| {
            (!g).then(|| Found {
                sub: vec![0; sub_len],
                sub_parts: Vec::with_capacity(parts.len()),
                min_key: u64::MAX,
                max_key: 0,
            })
        })
        .collect();
    let mut buffers = Vec::with_capacity(parts.len());
    let mut starts = starts;
    for (part, (_, _, _, offset, _)) in starts.iter_mut().zip(&partials) {
        part.iter_mut().for_each(|s| *s += offset);
    }
    for (values, sub, extremes, _, _) in partials {
        for (f, k) in found.iter_mut().zip(0..) {
            if let Some(f) = f {
                let i = keys[k].split as usize;
                let part = sub[i * sub_len..(i + 1) * sub_len].to_vec();
                for (a, b) in f.sub.iter_mut().zip(&part) {
                    *a += b;
                }
                f.sub_parts.push(part);
                f.min_key = f.min_key.min(extremes[i].0);
                f.max_key = f.max_key.max(extremes[i].1);
            }
        }
        buffers.push(values);
    }
    // A split slot's sub-buckets hold what the last pass counted of it, part by part.
    for (f, slot) in found.iter().zip(slots) {
        if let Some(f) = f {
            let agrees = f
                .sub_parts
                .iter()
                .zip(&slot.part_counts)
                .all(|(sub, &count)| {
                    sub.iter().try_fold(0u64, |a, &b| a.checked_add(b)) == Some(count)
                });
            if !agrees {
                return Err(Error::changed());
            }
        }
    }
    Ok((found, Gathered { buffers, starts }))
}

/// The sub-buckets of `slot` (counted in `f.sub`) that hold its ranks, as the next pass's slots.
fn split(slot: &Slot, f: &Found, next: &mut Vec<Slot>) {
    let shift = shift_of(slot);
    let (mut s, mut below) = (0usize, slot.below);
    // The sub-bucket of the slot last pushed to `next` from this one.
    let mut current: Option<usize> = None;
    for &r in &slot.ranks {
        while below + f.sub[s] <= r {
            below += f.sub[s];
            s += 1;
        }
        if current == Some(s) {
            if let Some(n) = next.last_mut() {
                n.ranks.push(r);
            }
            continue;
        }
        current = Some(s);
        let lo = slot.key_lo + ((s as u64) << shift);
        let hi = lo.saturating_add((1u64 << shift) - 1).min(slot.key_hi);
        // No value lies outside min_key..=max_key, so `below` stays right.
        next.push(Slot {
            column: slot.column,
            bucket: slot.bucket,
            key_lo: lo.max(f.min_key),
            key_hi: hi.min(f.max_key),
            below,
            count: f.sub[s],
            part_counts: f.sub_parts.iter().map(|p| p[s]).collect(),
            ranks: vec![r],
            whole: false,
        });
    }
}

/// The key at each of `ranks` (relative to `keys`, ascending) and the number of keys below it.
fn select_keys<K: Ord + Copy + Into<u64>>(keys: &mut [K], ranks: &[u64]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(ranks.len());
    let mut start = 0usize;
    for &r in ranks {
        let r = (r as usize).min(keys.len() - 1);
        let key = if r < start {
            keys[r]
        } else {
            *keys[start..].select_nth_unstable(r - start).1
        };
        let less = keys[..r].iter().filter(|&&k| k < key).count() as u64;
        out.push((key.into(), less));
        start = r + 1;
    }
    out
}

/// numpy's linear quantiles `q` of every column of the row-major `data` (`ncols` columns), and
/// their counts (see the module note). `check(j, finite, total)` is called for every column in
/// order after the first pass, before any further work; its error is returned.
pub fn column_quantiles<T: RowSample>(
    data: &[T],
    ncols: usize,
    q: &[f64],
    check: impl FnMut(usize, u64, u64) -> Result<()>,
) -> Result<Vec<ColumnQuantiles>> {
    column_quantiles_with(data, ncols, q, check, &TUNING)
}

pub(crate) fn column_quantiles_with<T: RowSample>(
    data: &[T],
    ncols: usize,
    q: &[f64],
    check: impl FnMut(usize, u64, u64) -> Result<()>,
    tuning: &Tuning,
) -> Result<Vec<ColumnQuantiles>> {
    column_quantiles_of_reads(data, data, ncols, q, check, tuning)
}

/// `column_quantiles_with`, the passes after the first reading `later` (`data` itself, but in
/// tests, where it stands for rows another thread rewrote between the passes).
fn column_quantiles_of_reads<T: RowSample>(
    data: &[T],
    later: &[T],
    ncols: usize,
    q: &[f64],
    mut check: impl FnMut(usize, u64, u64) -> Result<()>,
    tuning: &Tuning,
) -> Result<Vec<ColumnQuantiles>> {
    assert_eq!(data.len(), later.len());
    let nrows = data.len() / ncols;
    let maps = make_maps(data, ncols, tuning.sample_rows, q);
    let parts = row_parts(nrows, ncols, tuning);
    let (histogram, partials, extremes) = histogram_pass(data, ncols, &maps, &parts, tuning.avx512);
    let total = nrows as u64;
    let finite: Vec<u64> = histogram
        .chunks_exact(BUCKETS)
        .map(|h| h[1..].iter().sum())
        .collect();
    for (j, &f) in finite.iter().enumerate() {
        check(j, f, total)?;
    }
    // Per column, the distinct wanted ranks, and a slot per bucket that holds some.
    let plans: Vec<Vec<(u64, u64, f64)>> = finite
        .iter()
        .map(|&f| if f > 0 { rank_plan(f, q) } else { Vec::new() })
        .collect();
    // Per column: (rank, (value, finite values below it)), sorted by rank once all are settled
    // (a map keyed by (column, rank) hashed each of them: 3.5% of a 4,000 x 200 fit).
    let mut settled: Vec<Vec<(u64, (f64, u64))>> = vec![Vec::new(); ncols];
    let value_of = |key: u64| T::from_order_key(key) + 0.0;
    let mut pending: Vec<Slot> = Vec::new();
    // Per column: whether a quantile at a rank (gamma 0) takes the lower value alone.
    let mut lone = vec![false; ncols];
    for (j, plan) in plans.iter().enumerate() {
        if plan.is_empty() {
            continue;
        }
        // The upper rank of a quantile at a rank (gamma 0) is not needed where no difference of
        // two values overflows (float32 values, or float64 within max - min finite): `lerp`
        // gives the lower value then; numpy's gives NaN where it overflows (inf * 0). The
        // smallest and the largest value are the first pass's extremes where they are finite
        // (the values below the largest are not counted: `bin_counts` never reads them).
        let (last, min, max) = (finite[j] - 1, extremes.min[j], extremes.max[j]);
        let (min_known, max_known) = (min.is_finite_value(), max.is_finite_value());
        lone[j] = T::KEY_BITS <= 32 || (max.to_f64() - min.to_f64()).is_finite();
        if min_known {
            settled[j].push((0, (min.to_f64() + 0.0, 0)));
        }
        if max_known && (last > 0 || !min_known) {
            settled[j].push((last, (max.to_f64() + 0.0, 0)));
        }
        let mut ranks: Vec<u64> = plan
            .iter()
            .flat_map(|&(a, b, gamma)| [Some(a), (gamma != 0.0 || !lone[j]).then_some(b)])
            .flatten()
            .filter(|&r| !(r == 0 && min_known || r == last && max_known))
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        let key_min = if min_known { min.order_key() } else { 0 };
        let key_max = if max_known { max.order_key() } else { u64::MAX };
        let h = &histogram[j * BUCKETS..(j + 1) * BUCKETS];
        let (mut b, mut below) = (1usize, 0u64);
        for r in ranks {
            while below + h[b] <= r {
                below += h[b];
                b += 1;
            }
            match pending.last_mut() {
                Some(s) if s.column == j && s.bucket == b as u32 => s.ranks.push(r),
                _ => {
                    // The end buckets take the tails: their keys start at the lowest finite
                    // one, their values at the column's extremes.
                    let key_lo = first_key_of(&maps, j, b as u32).max(key_min);
                    let key_hi = (first_key_of(&maps, j, b as u32 + 1) - 1).min(key_max);
                    pending.push(Slot {
                        column: j,
                        bucket: b as u32,
                        key_lo,
                        key_hi,
                        below,
                        count: h[b],
                        part_counts: partials.iter().map(|p| p[j * BUCKETS + b]).collect(),
                        ranks: vec![r],
                        whole: true,
                    });
                }
            }
        }
    }
    drop(partials);
    while !pending.is_empty() {
        crate::cancel::checkpoint();
        // A single key needs no pass.
        pending.retain(|s| {
            if s.key_lo == s.key_hi {
                for &r in &s.ranks {
                    settled[s.column].push((r, (value_of(s.key_lo), s.below)));
                }
                false
            } else {
                true
            }
        });
        if pending.is_empty() {
            break;
        }
        // Gather the smallest slots within the budget; split the rest.
        let mut order: Vec<usize> = (0..pending.len()).collect();
        order.sort_by_key(|&i| pending[i].count);
        let mut gather = vec![false; pending.len()];
        let mut room = tuning.gather_bytes / std::mem::size_of::<T>();
        for i in order {
            if pending[i].count as usize <= room {
                room -= pending[i].count as usize;
                gather[i] = true;
            }
        }
        let (found, gathered) =
            refine_pass(later, ncols, &maps, &parts, &pending, &gather, tuning)?;
        // Selection among the gathered values, slot by slot on the pool.
        let selected: Vec<Vec<(u64, u64)>> = map_indexed(pending.len(), |k| {
            let slot = &pending[k];
            if !gather[k] {
                return Vec::new();
            }
            let relative: Vec<u64> = slot.ranks.iter().map(|r| r - slot.below).collect();
            gathered.select(slot, k, &relative)
        });
        drop(gathered);
        let mut next: Vec<Slot> = Vec::new();
        for ((slot, f), chosen) in pending.iter().zip(found).zip(selected) {
            match f {
                // All its values are equal.
                Some(f) if f.min_key == f.max_key => {
                    for &r in &slot.ranks {
                        settled[slot.column].push((r, (value_of(f.min_key), slot.below)));
                    }
                }
                Some(f) => split(slot, &f, &mut next),
                None => {
                    for (&r, (key, less)) in slot.ranks.iter().zip(chosen) {
                        settled[slot.column].push((r, (value_of(key), slot.below + less)));
                    }
                }
            }
        }
        pending = next;
    }
    for ranks in settled.iter_mut() {
        ranks.sort_unstable_by_key(|&(r, _)| r);
        // Order statistics rise with their ranks: values from two versions of the rows may not.
        if ranks.windows(2).any(|w| w[0].1 .0 > w[1].1 .0) {
            return Err(Error::changed());
        }
    }
    Ok(plans
        .iter()
        .enumerate()
        .map(|(j, plan)| {
            if plan.is_empty() {
                return ColumnQuantiles {
                    quantiles: vec![f64::NAN; q.len()],
                    finite: 0,
                    total,
                    lower: Vec::new(),
                };
            }
            let at = |r: u64| match settled[j].binary_search_by_key(&r, |&(s, _)| s) {
                Ok(i) => settled[j][i].1,
                Err(_) => (f64::NAN, 0),
            };
            let mut lower = Vec::with_capacity(plan.len());
            let quantiles = plan
                .iter()
                .map(|&(a, b, gamma)| {
                    let (va, less) = at(a);
                    // At a rank (gamma 0) the next value was not looked for (`lone`): lerp
                    // gives va, and `bin_counts` only reads vb for an edge above va.
                    if gamma == 0.0 && lone[j] {
                        lower.push((a, va, va, less));
                        return va;
                    }
                    let vb = at(b).0;
                    lower.push((a, va, vb, less));
                    lerp(va, vb, gamma)
                })
                .collect();
            ColumnQuantiles {
                quantiles,
                finite: finite[j],
                total,
                lower,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edges::{bin_counts, interior_from_quantiles};
    use crate::quantile::{linear_quantiles, linspace_unit};

    fn lcg(n: usize, seed: u64, f: impl Fn(f64, usize) -> f64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                f((state >> 11) as f64 / (1u64 << 53) as f64, i)
            })
            .collect()
    }

    /// Adversarial columns, one per kind, `n` rows each.
    fn columns(n: usize) -> Vec<(&'static str, Vec<f64>)> {
        let mut special = lcg(n, 9, |u, _| u * 10.0 - 5.0);
        for i in (0..n).step_by(97) {
            special[i] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0][i % 5];
        }
        let mut outliers = lcg(n, 6, |u, _| u);
        for i in (0..n).step_by(n / 7 + 1) {
            outliers[i] = if i % 2 == 0 { 1e30 } else { -1e30 };
        }
        let mut mostly_nan = vec![f64::NAN; n];
        mostly_nan[n / 3] = 2.5;
        mostly_nan[n / 2] = -1.0;
        vec![
            ("uniform", lcg(n, 2, |u, _| u)),
            ("heavy ties", lcg(n, 3, |u, _| (u * 7.0).floor())),
            ("spike", lcg(n, 4, |u, i| if i % 5 < 3 { 0.25 } else { u })),
            ("sorted", (0..n).map(|i| i as f64 * 0.5).collect()),
            ("reverse", (0..n).map(|i| -(i as f64) * 1e-3).collect()),
            ("outliers", outliers),
            ("narrow", lcg(n, 7, |u, _| 1.0 + u * 1e-5)),
            (
                "lognormal tail",
                lcg(n, 8, |u, _| (1.0 / (1.0 - u)).powi(3)),
            ),
            ("nan inf zeros", special),
            ("constant", vec![3.25; n]),
            ("mostly nan", mostly_nan),
            (
                "two values",
                lcg(n, 10, |u, _| if u < 0.93 { -1.0 } else { 1e-40 }),
            ),
        ]
    }

    /// The row-major matrix of `cols`, as T.
    fn matrix<T: RowSample>(cols: &[(&str, Vec<f64>)]) -> Vec<T> {
        let n = cols[0].1.len();
        (0..n)
            .flat_map(|i| cols.iter().map(move |(_, c)| T::from_f64(c[i])))
            .collect()
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    type Fitted = Vec<(Vec<u64>, u64, Option<(Vec<u64>, u64)>)>;

    fn fit_on<T: RowSample>(
        data: &[T],
        ncols: usize,
        bins: usize,
        tuning: &Tuning,
        threads: usize,
    ) -> Fitted {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let q = linspace_unit(bins);
        pool.install(|| {
            column_quantiles_with(data, ncols, &q, |_, _, _| Ok(()), tuning)
                .unwrap()
                .iter()
                .map(|f| {
                    let edges = interior_from_quantiles(&f.quantiles, bins);
                    (bits(&f.quantiles), f.finite, f.bin_counts::<T>(&edges))
                })
                .collect()
        })
    }

    fn check<T: RowSample>(cols: &[(&str, Vec<f64>)], bins: usize, tuning: &Tuning, what: &str) {
        let data: Vec<T> = matrix(cols);
        let ncols = cols.len();
        let first = fit_on(&data, ncols, bins, tuning, 1);
        for threads in [2, 4] {
            assert!(
                fit_on(&data, ncols, bins, tuning, threads) == first,
                "{what}: {threads} threads differ from 1"
            );
        }
        let q = linspace_unit(bins);
        for (j, (name, _)) in cols.iter().enumerate() {
            let column: Vec<T> = data.iter().skip(j).step_by(ncols).copied().collect();
            let (want, finite) = linear_quantiles(&column, &q).unwrap();
            let (got, got_finite, counts) = &first[j];
            assert_eq!(*got_finite, finite, "{what} {name}: finite");
            if finite == 0 {
                continue;
            }
            assert_eq!(*got, bits(&want), "{what} {name}: quantiles");
            let edges = interior_from_quantiles(&want, bins);
            if let Some(counts) = counts {
                assert_eq!(
                    *counts,
                    bin_counts(&column, &edges).unwrap(),
                    "{what} {name}: counts"
                );
            }
        }
    }

    /// The test matrices are smaller than one default part, so the other tunings split the rows
    /// into parts of a few hundred values, four per thread, each with its own counts, sub-bucket
    /// counts and gathered buffer (each starting on a huge page, past its padding).
    const SPLIT: Tuning = Tuning {
        min_part_values: 500,
        parts_per_thread: 4,
        huge_pages_from: 0,
        ..TUNING
    };

    /// `TUNING` without the AVX-512 scan: the AVX2 one (the scalar one for float64 or without
    /// AVX2); on a CPU without AVX-512 the same as `TUNING`.
    const AVX2: Tuning = Tuning {
        avx512: false,
        ..TUNING
    };

    fn tunings() -> [(&'static str, Tuning); 8] {
        [
            ("avx2 scan", AVX2),
            (
                "avx-512 scan of plain rows",
                Tuning {
                    super_rows: false,
                    ..SPLIT
                },
            ),
            (
                "avx2 scan, one sample row",
                Tuning {
                    sample_rows: 1,
                    avx512: false,
                    ..SPLIT
                },
            ),
            ("default", TUNING),
            // One sample row: a map that splits badly, so buckets are refined.
            (
                "one sample row",
                Tuning {
                    sample_rows: 1,
                    ..SPLIT
                },
            ),
            // Nothing gathered: every bucket is split until its values are equal or one key.
            (
                "no gathering",
                Tuning {
                    sample_rows: 64,
                    gather_bytes: 0,
                    min_part_values: 700,
                    ..SPLIT
                },
            ),
            // A budget of 600 values: some slots are gathered at once, the others split first and
            // gathered by a later pass into per-part buffers sized by their sub-bucket counts.
            (
                "small budget",
                Tuning {
                    sample_rows: 64,
                    gather_bytes: 600 * 8,
                    ..SPLIT
                },
            ),
            // As many parts as the rows allow: parts of one or a few rows.
            (
                "many parts",
                Tuning {
                    min_part_values: 1,
                    ..SPLIT
                },
            ),
        ]
    }

    /// The bisection over every finite key that `first_key_of` replaced: the reference.
    fn first_key_by_bisection<T: RowSample>(maps: &Maps<T>, j: usize, b: u32) -> u64 {
        let (mut lo, mut hi) = (T::LOWEST.order_key(), T::INFINITY.order_key());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let x = T::from_f64(T::from_order_key(mid));
            if x.bucket(maps.lo[j], maps.scale[j]) >= b {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    fn galloping_search_finds_every_boundary<T: RowSample>() {
        // Maps from ordinary samples, the fallbacks (scale 1 for a constant sample, lo 0 for a
        // sample without finite values), huge and tiny scales, and lo at the ends of the type:
        // the estimate of the boundary is then far off, past the finite values or non-finite.
        let big = T::LOWEST.to_f64();
        let maps: Vec<(f64, f64)> = vec![
            (-3.5, (BUCKETS - 2) as f64 / 7.0),
            (0.0, 1.0),
            (3.25, 1.0),
            (1.0, (BUCKETS - 2) as f64 / 1e-5),
            (-1e30, (BUCKETS - 2) as f64 / 2e30),
            (big, (BUCKETS - 2) as f64 / (2.0 * -big) * 2.0),
            (-big, 1e-30),
            (1e-40, 1e35),
            (-0.0, 3e38),
        ];
        let padded = maps.len().div_ceil(PAD) * PAD;
        let mut m = Maps {
            lo: vec![T::from_f64(0.0); padded],
            scale: vec![T::from_f64(1.0); padded],
        };
        for (j, &(lo, scale)) in maps.iter().enumerate() {
            let scale = T::from_f64(scale);
            if scale.is_finite_value() && scale.to_f64() > 0.0 {
                m.scale[j] = scale;
            }
            m.lo[j] = T::from_f64(lo);
        }
        for (j, map) in maps.iter().enumerate() {
            for b in 1..=BUCKETS as u32 {
                assert_eq!(
                    first_key_of(&m, j, b),
                    first_key_by_bisection(&m, j, b),
                    "{} map {j} ({map:?}), bucket {b}",
                    T::NAME,
                );
            }
        }
    }

    #[test]
    fn galloping_search_finds_every_boundary_f32() {
        galloping_search_finds_every_boundary::<f32>();
    }

    #[test]
    fn galloping_search_finds_every_boundary_f64() {
        galloping_search_finds_every_boundary::<f64>();
    }

    #[test]
    fn sample_runs_stay_inside_the_rows_and_their_strata() {
        let cases = [
            (1usize, 4096usize),
            (7, 4096),
            (9, 1),
            (64, 64),
            (100, 9),
            (1_000, 4096),
            (20_011, 64),
            (1_000_000, 4096),
        ];
        for (nrows, sample_rows) in cases {
            let rows = sample_rows_of(nrows, sample_rows);
            let m = sample_rows.clamp(1, nrows);
            let run = SAMPLE_RUN.min(m);
            let strata = (m / run).max(1);
            let what = format!("{nrows} rows, {sample_rows} sampled");
            assert_eq!(rows.len(), strata * run, "{what}");
            assert!(
                rows.len() <= m && rows.len() * 2 > m,
                "{what}: {} rows",
                rows.len()
            );
            for (i, r) in rows.chunks_exact(run).enumerate() {
                // Consecutive rows inside stratum i.
                let (start, end) = (i * nrows / strata, (i + 1) * nrows / strata);
                assert!(r.windows(2).all(|w| w[1] == w[0] + 1), "{what}: run {r:?}");
                assert!(
                    start <= r[0] && r[run - 1] < end,
                    "{what}: run {r:?} in {start}..{end}"
                );
            }
        }
        // The same rows for the same shape, and different runs in different strata.
        assert_eq!(sample_rows_of(20_011, 64), sample_rows_of(20_011, 64));
        let offsets: std::collections::HashSet<usize> = sample_rows_of(1_000_000, 4096)
            .chunks_exact(SAMPLE_RUN)
            .enumerate()
            .map(|(i, r)| r[0] - i * 1_000_000 / (4096 / SAMPLE_RUN))
            .collect();
        assert!(offsets.len() > 400, "{} distinct offsets", offsets.len());
    }

    #[test]
    fn parts_cover_the_rows_in_order() {
        for threads in [1usize, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let tuning = |min_part_values| Tuning {
                    min_part_values,
                    ..SPLIT
                };
                let cases = [
                    (1_000_000, 100, TUNING),
                    (1_000_000, 100, tuning(TUNING.min_part_values)),
                    (20_011, 12, tuning(500)),
                    (6_007, 3, tuning(700)),
                    (17, 12, tuning(1)),
                    (1, 1, tuning(1)),
                ];
                for (nrows, ncols, t) in cases {
                    let parts = row_parts(nrows, ncols, &t);
                    assert!(!parts.is_empty() && parts.len() <= MAX_PARTS);
                    assert_eq!(parts[0].0, 0);
                    assert_eq!(parts[parts.len() - 1].1, nrows);
                    assert!(parts.windows(2).all(|w| w[0].1 == w[1].0));
                    assert!(parts.iter().all(|&(a, b)| a < b));
                }
                // A large matrix: one part per thread by default, four with SPLIT.
                assert_eq!(row_parts(1_000_000, 100, &TUNING).len(), threads);
                let want = (threads * 4).min(MAX_PARTS);
                assert_eq!(row_parts(1_000_000, 100, &SPLIT).len(), want);
                // The test tunings do split the test matrices into several parts.
                assert_eq!(row_parts(20_011, 12, &tuning(500)).len(), want);
                assert!(row_parts(17, 12, &tuning(1)).len() > threads);
                assert_eq!(row_parts(20_011, 12, &TUNING).len(), 1);
            });
        }
    }

    #[test]
    fn adversarial_columns_match_the_column_fit_for_any_thread_count() {
        let cols = columns(20_011);
        for (name, tuning) in tunings() {
            for bins in [2usize, 10, 33] {
                check::<f32>(&cols, bins, &tuning, &format!("f32 {name} bins {bins}"));
                check::<f64>(&cols, bins, &tuning, &format!("f64 {name} bins {bins}"));
            }
        }
    }

    #[test]
    fn a_sample_that_misleads_the_span_still_gives_numpy_quantiles() {
        // The sampled rows of these columns hold values the other rows do not: the map spreads
        // its buckets over the sample's span, and every wanted rank but the middle ones falls in
        // an end bucket (half of the values each), found from there (gathered, or split where
        // the budget is small) and from the first pass's extremes.
        let n = 20_011;
        for (name, tuning) in tunings() {
            let sampled = sample_rows_of(n, tuning.sample_rows);
            let rest = lcg(n, 11, |u, _| u);
            let narrow = |u: f64| 0.5 + u * 1e-4;
            let mut cols = vec![
                ("sample in a sliver", rest.clone()),
                // The sample's span is empty (one value): the map takes its min and max.
                ("sample tied", rest.clone()),
                (
                    "sample below, outliers",
                    lcg(n, 12, |u, i| if i % 1000 == 7 { 1e20 } else { u }),
                ),
            ];
            for (k, &r) in sampled.iter().enumerate() {
                let u = (k as f64 + 0.5) / sampled.len() as f64;
                cols[0].1[r] = narrow(u);
                cols[1].1[r] = 0.25;
                cols[2].1[r] = -1.0 - u;
            }
            let data: Vec<f32> = matrix(&cols);
            let q = linspace_unit(10);
            let maps = make_maps(&data, cols.len(), tuning.sample_rows, &q);
            // The first decile of the sliver column (about 0.1) lies below the sample's span.
            if sampled.len() > 1 {
                assert_eq!(
                    0.1f32.bucket(maps.lo[0], maps.scale[0]),
                    1,
                    "{name}: the span"
                );
            }
            for bins in [2usize, 10, 33] {
                check::<f32>(
                    &cols,
                    bins,
                    &tuning,
                    &format!("misled f32 {name} bins {bins}"),
                );
                check::<f64>(
                    &cols,
                    bins,
                    &tuning,
                    &format!("misled f64 {name} bins {bins}"),
                );
            }
        }
    }

    #[test]
    fn a_quantile_at_a_rank_whose_neighbour_is_out_of_reach_is_nan_as_in_numpy() {
        // The median of 2,501 x -1e308 and 2,500 x 1e308 lies on a rank (gamma 0), and the next
        // value minus it overflows: numpy's lerp gives NaN (inf * 0), so the matrix fit must
        // too, rather than the lower value (a hostile review's finding). The column beside it
        // differs by less than float64's range: there the lower value alone is the answer.
        let n = 5_001;
        // 2,501 at even rows, 2,500 at odd ones.
        let huge: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { -1e308 } else { 1e308 })
            .collect();
        let cols = vec![("huge", huge), ("ordinary", lcg(n, 14, |u, _| u))];
        let data: Vec<f64> = matrix(&cols);
        let q = linspace_unit(2);
        for (name, tuning) in tunings() {
            let got = column_quantiles_with(&data, 2, &q, |_, _, _| Ok(()), &tuning).unwrap();
            for (j, (what, column)) in cols.iter().enumerate() {
                let (want, _) = linear_quantiles(column, &q).unwrap();
                assert_eq!(bits(&got[j].quantiles), bits(&want), "{name}, {what}");
            }
            assert!(
                got[0].quantiles[1].is_nan(),
                "{name}: the median of the huge column"
            );
        }
    }

    #[test]
    fn extremes_are_the_minimum_and_maximum_of_each_column() {
        // Every kernel of the first pass (AVX-512 with one or more groups of steps, AVX2, the
        // scalar one for float64) against a plain scan, for widths around the vector sizes and
        // more columns than the registers hold: NaN left out, and the infinities too except on
        // AVX2 (see `Extremes`).
        let all = columns(3_001);
        let q = linspace_unit(10);
        let plain = |column: Vec<f64>, finite_only: bool| {
            let kept = column
                .into_iter()
                .filter(|x| !x.is_nan() && (x.is_finite() || !finite_only));
            kept.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            })
        };
        let avx512 = cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx512bw");
        let avx2 = cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx2");
        for width in [1usize, 7, 8, 9, 16, 17, 100, 128, 129, 200] {
            let cols: Vec<(&str, Vec<f64>)> = all.iter().cycle().take(width).cloned().collect();
            for use_avx512 in [true, false] {
                let data: Vec<f32> = matrix(&cols);
                let maps = make_maps(&data, width, 64, &q);
                let (_, _, got) = histogram_pass(&data, width, &maps, &[(0, 3_001)], use_avx512);
                let data64: Vec<f64> = matrix(&cols);
                let maps64 = make_maps(&data64, width, 64, &q);
                let parts = [(0, 3_001)];
                let (_, _, got64) = histogram_pass(&data64, width, &maps64, &parts, use_avx512);
                let finite_only = (use_avx512 && avx512) || !avx2;
                for j in 0..width {
                    let what = format!("width {width}, avx512 {use_avx512}, column {j}");
                    let column = data.iter().skip(j).step_by(width).map(|&x| x as f64);
                    let want = plain(column.collect(), finite_only);
                    let got32 = (got.min[j] as f64, got.max[j] as f64);
                    assert_eq!(got32, want, "{what}: f32");
                    let column = data64.iter().skip(j).step_by(width).copied();
                    assert_eq!(
                        (got64.min[j], got64.max[j]),
                        plain(column.collect(), true),
                        "{what}: f64"
                    );
                }
            }
        }
    }

    #[test]
    fn one_part_of_more_rows_than_a_u16_counter_holds() {
        // 300,000 rows x 4 columns make at most one part per thread (1, 2 or 4 in `check`),
        // each of more than 65,535 rows, so the first pass's u16 counters must be flushed; the
        // constant and two-value columns put more than that in one bucket, where a missed
        // flush would wrap the count.
        let cols: Vec<(&str, Vec<f64>)> = columns(300_000)
            .into_iter()
            .filter(|(n, _)| ["uniform", "constant", "two values", "heavy ties"].contains(n))
            .collect();
        assert_eq!(cols.len(), 4);
        for threads in [1usize, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
            let parts = pool.unwrap().install(|| row_parts(300_000, 4, &TUNING));
            assert!(
                parts.iter().all(|&(a, b)| b - a > u16::MAX as usize),
                "{parts:?}"
            );
        }
        for (name, tuning) in [("default", TUNING), ("avx2 scan", AVX2)] {
            check::<f32>(&cols, 10, &tuning, &format!("f32 {name}"));
            check::<f64>(&cols, 10, &tuning, &format!("f64 {name}"));
        }
    }

    #[test]
    fn counts_come_from_the_passes_on_ordinary_data() {
        // Only the constant-ish and tie columns may need the counting pass; on continuous data
        // the passes place every edge.
        let cols: Vec<(&str, Vec<f64>)> = columns(50_000)
            .into_iter()
            .filter(|(n, _)| ["uniform", "sorted", "reverse", "lognormal tail"].contains(n))
            .collect();
        let data: Vec<f32> = matrix(&cols);
        let fitted = fit_on(&data, cols.len(), 10, &TUNING, 2);
        assert!(fitted.iter().all(|(_, _, c)| c.is_some()));
    }

    #[test]
    fn every_width_of_the_last_block_and_every_target_count() {
        // 1..=9 columns: the last block of columns is partial (masked loads) for all but 8;
        // 15..=33: the float32 scan compares two blocks at once (u16 lanes), then an odd last
        // block alone (17, 24, 25, 33) or not (15, 16, 32), partial or whole;
        // 2, 10 and 33 bins: 3, 11 (unrolled compares) and 34 (the compare loop) targets.
        // The AVX-512 scan takes 32 columns at a time: after the whole pairs, a masked pair
        // (17, 24, 25, 49, 63) or one masked 16-lane block (1..=16, 33, 48) or nothing (32, 64).
        let all = columns(6_007);
        for width in (1..=9).chain([15, 16, 17, 24, 25, 32, 33, 48, 49, 63, 64]) {
            let cols: Vec<(&str, Vec<f64>)> = all
                .iter()
                .cycle()
                .skip(width)
                .take(width)
                .cloned()
                .collect();
            for bins in [2usize, 10, 33] {
                for (name, tuning) in tunings() {
                    let what = format!("{width} columns, bins {bins}, {name}");
                    check::<f32>(&cols, bins, &tuning, &what);
                }
            }
        }
    }

    #[test]
    fn every_scan_finds_the_same_hits_as_the_scalar_one() {
        // The vector scans (AVX-512 where the CPU has it, AVX2) against `scan_block`, value by
        // value, for every width of the last columns and 0 to 40 wanted buckets per column
        // (1 and BUCKETS - 1 take the clamped tails, and non-finite values, of bucket 0, which
        // is never wanted, share their codes in the AVX-512 scan).
        let all = columns(1_500);
        // A batch of the AVX-512 scan holds several super-rows (`scan_super_q`) where one has
        // at most 64 pairs (100 columns: 25; 63 and 126: 63), one (`scan_super_k`) at 65, 129
        // and 130 columns (65 and more pairs).
        for width in (1..=18).chain([31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 126, 129, 130]) {
            let cols: Vec<(&str, Vec<f64>)> = all.iter().cycle().take(width).cloned().collect();
            let mut state = width as u64;
            let per_column: Vec<Vec<u32>> = (0..width)
                .map(|j| {
                    // Up to 40 wanted buckets: at most 12 are held in registers, up to 32
                    // found by `target_of`, more by `Targets::which`.
                    let mut b: Vec<u32> = (0..[(j + 3) % 14, 20, 40][j % 3])
                        .map(|_| match splitmix64(&mut state) % 4 {
                            0 => [1, 2, BUCKETS as u32 - 1][(state % 3) as usize],
                            1 => 400 + (splitmix64(&mut state) % 200) as u32,
                            _ => 1 + (splitmix64(&mut state) % (BUCKETS as u64 - 1)) as u32,
                        })
                        .collect();
                    b.sort_unstable();
                    b.dedup();
                    b
                })
                .collect();
            let targets = Targets::new(&per_column);
            scans_agree::<f32>(&matrix(&cols), width, &targets);
            // Float64 rows: the AVX-512 scan of 8 columns a vector, else the scalar one.
            scans_agree::<f64>(&matrix(&cols), width, &targets);
        }
    }

    /// `scan_part`'s hits of every kernel equal `scan_block`'s, value by value.
    fn scans_agree<T: RowSample>(data: &[T], width: usize, targets: &Targets) {
        let maps = make_maps(data, width, 4096, &[]);
        let mut want = Vec::new();
        for (block, span) in blocks(width).enumerate() {
            let wanted = &targets.flat[block * targets.k_max..(block + 1) * targets.k_max];
            scan_block(data, width, span, &maps, wanted, &mut |j, x: T, k| {
                want.push((j, x.order_key(), k))
            });
        }
        want.sort_unstable();
        assert!(!want.is_empty(), "{width} columns: no hits to compare");
        for kernel in [(true, true), (true, false), (false, false)] {
            let mut got = Vec::new();
            scan_part(data, width, &maps, targets, kernel, |j, x: T, k| {
                got.push((j, x.order_key(), k))
            });
            got.sort_unstable();
            assert!(
                got == want,
                "{width} columns, {}, (avx512, super rows) {kernel:?}: hits differ",
                std::any::type_name::<T>()
            );
        }
    }

    /// Rows another thread rewrites between the passes: a write that changes what a wanted
    /// bucket holds is reported as `Error::Changed` (never a panic, never a mixture of two
    /// versions' order statistics), for every tuning (gathered, split, many parts) and both
    /// float types; the same rows in another buffer fit as before.
    fn rewrites_between_passes<T: RowSample>() {
        let cols = columns(6_000);
        let ncols = cols.len();
        let data: Vec<T> = matrix(&cols);
        let q = linspace_unit(10);
        let fit = |later: &[T], tuning: &Tuning| {
            column_quantiles_of_reads(&data, later, ncols, &q, |_, _, _| Ok(()), tuning)
        };
        let raised = {
            // One value per column moved past every edge.
            let mut d = data.clone();
            d[17 * ncols..18 * ncols].fill(T::from_f64(1e30));
            d
        };
        let scaled: Vec<T> = data
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let row = i / ncols;
                if (2_000..2_600).contains(&row) {
                    T::from_f64(x.to_f64() * 3.0 + 1.0)
                } else {
                    x
                }
            })
            .collect();
        let copy = data.clone();
        for (name, tuning) in tunings() {
            for (what, later) in [("one value raised", &raised), ("a block rescaled", &scaled)] {
                match fit(later, &tuning) {
                    Err(Error::Changed { argument: None }) => {}
                    other => panic!("{name}, {what}: {:?}", other.map(|f| f.len())),
                }
            }
            // The same values in another buffer: nothing to report (the checks compare counts
            // per part of the rows, so rows moved between parts would be reported too).
            let want = fit(&data, &tuning).unwrap();
            assert_eq!(fit(&copy, &tuning).unwrap(), want, "{name}: a copy");
        }
    }

    #[test]
    fn rows_rewritten_between_the_passes_are_reported_f32() {
        rewrites_between_passes::<f32>();
    }

    #[test]
    fn rows_rewritten_between_the_passes_are_reported_f64() {
        rewrites_between_passes::<f64>();
    }

    #[test]
    fn counts_at_edges_that_do_not_fall_are_left_to_a_count() {
        // What two versions of a column could give: the count at the second edge above the
        // first's (the lower rank's value above the higher's).
        let torn = ColumnQuantiles {
            quantiles: vec![0.0, 1.0, 2.0, 3.0],
            finite: 10,
            total: 10,
            lower: vec![
                (0, 0.0, 0.0, 0),
                (6, 1.0, 1.5, 6),
                (2, 2.0, 2.5, 2),
                (9, 3.0, 3.0, 9),
            ],
        };
        assert_eq!(torn.bin_counts::<f64>(&[1.0, 2.0]), None);
        let whole = ColumnQuantiles {
            lower: vec![
                (0, 0.0, 0.0, 0),
                (2, 1.0, 1.5, 2),
                (6, 2.0, 2.5, 6),
                (9, 3.0, 3.0, 9),
            ],
            ..torn
        };
        // [0, 1): 2 values, [1, 2): 4, [2, 3]: 4.
        assert_eq!(
            whole.bin_counts::<f64>(&[1.0, 2.0]),
            Some((vec![2, 4, 4], 0))
        );
    }

    #[test]
    fn tiny_and_single_row_matrices() {
        for n in [1usize, 2, 3, 17] {
            let cols: Vec<(&str, Vec<f64>)> = columns(n.max(8))
                .into_iter()
                .map(|(name, c)| (name, c[..n].to_vec()))
                .collect();
            for (name, tuning) in tunings() {
                check::<f32>(&cols, 10, &tuning, &format!("{n} rows, {name}"));
                check::<f64>(&cols, 4, &tuning, &format!("{n} rows f64, {name}"));
            }
        }
    }

    #[test]
    fn extreme_values_keep_the_map_monotone() {
        let cols = vec![
            (
                "max and min",
                lcg(5000, 1, |u, i| match i % 3 {
                    0 => f32::MAX as f64,
                    1 => -(f32::MAX as f64),
                    _ => u,
                }),
            ),
            ("subnormal", lcg(5000, 2, |u, _| u * 1e-42)),
        ];
        for (name, tuning) in tunings() {
            check::<f32>(&cols, 10, &tuning, name);
        }
        let cols64 = vec![(
            "f64 extremes",
            lcg(5000, 3, |u, i| match i % 4 {
                0 => f64::MAX,
                1 => -f64::MAX,
                2 => 5e-324,
                _ => u,
            }),
        )];
        for (name, tuning) in tunings() {
            check::<f64>(&cols64, 10, &tuning, name);
        }
    }
}
