//! numpy's linear quantiles and the bin counts of the same data in one read pass, exact.
//!
//! The radix selection in `quantile.rs` reads the data three times and its passes are compute
//! bound (scattered histogram increments): about 15 read passes of time for a fit. Here:
//!
//! 1. A stratified sample at fixed positions (one seeded position per stratum, the same for any
//!    thread count) gives, for each wanted quantile, a value interval `[lo, hi)` that should hold
//!    its ranks: the sample quantile plus `z` binomial standard deviations either side.
//!    Overlapping intervals are merged.
//! 2. One vectorized pass counts the values `>= ` every interval bound (and the finite and +inf
//!    values, as the count kernel does) and gathers the order keys of the values inside an
//!    interval. A value is inside one exactly when an odd number of bounds are `<=` it, so the
//!    inner loop is compare-and-add only; it branches only when a vector of 8 holds such a value.
//!    An interval holding a single value (a spike: `hi` is the next float after `lo`) is counted,
//!    not gathered.
//! 3. Every rank is checked to fall inside its interval (`below <= rank < below + inside`); its
//!    value is then a selection among the gathered keys. If any rank falls outside (the sample
//!    misled: sorted runs it missed, heavy ties, huge outliers) or the gathered keys would pass
//!    a quarter of the data, the caller falls back to the radix selection, so the result is
//!    always exact. Counts are integers and a selected value does not depend on the order of the
//!    keys, so results are bit-identical for any thread count.
//!
//! The bin counts of the fitted edges come from the same pass: each edge lies between the two
//! order statistics it interpolates, so it falls on an interval bound or inside an interval,
//! where the count of values `>=` it is the count at the interval's top plus the gathered keys
//! `>=` it (`OnePassFit::bin_counts`; `None` in the rare case it falls between intervals).

use std::any::TypeId;

use crate::edges::{bins_from_at_least, thresholds_for};
use crate::parallel::map_parts;
use crate::quantile::{lerp, rank_plan};
use crate::random::splitmix64;
use crate::sample::Sample;

/// The knobs of the one-pass fit (tests shrink them to force the fallback).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Sample size (strata).
    pub sample: usize,
    /// Half-width of an interval in binomial standard deviations of the sample count.
    pub z: f64,
    /// Inputs shorter than this take the radix selection.
    pub min_len: usize,
}

/// With 65,536 strata a decile's interval holds about 1.6% of the data, and a rank falls
/// outside it about once in 30,000 random draws (4 standard deviations).
pub(crate) const TUNING: Tuning = Tuning {
    sample: 1 << 16,
    z: 4.0,
    min_len: 1 << 20,
};

/// More quantiles than this (bins > 32) take the radix selection: each adds two bounds to the
/// inner loop.
const MAX_QUANTILES: usize = 33;
/// Parts per pass (each holds its own gathered keys), and the shortest part.
const MAX_PARTS: usize = 8;
const MIN_PART: usize = 1 << 16;
/// Seed of the sample positions.
const SEED: u64 = 0x0005_EED0_FF17;

/// One value interval `[lo, hi)`; `spike` when only `lo` fits in it.
#[derive(Debug, Clone, Copy)]
struct Interval<T> {
    lo: T,
    hi: T,
    spike: bool,
}

struct Plan<T> {
    intervals: Vec<Interval<T>>,
    /// Every bound, ascending: the lowest finite value, each interval's lo and hi, +inf.
    bounds: Vec<T>,
    /// Bit `s` is set when the values with exactly `s` bounds `<=` them (level `s`) lie in a
    /// gathered interval (not a gap, a spike, or a non-finite value).
    gather_mask: u64,
}

/// One part's (or the merged) level counts and gathered keys.
struct Scan {
    /// `levels[s]` = number of values at level `s`.
    levels: Vec<u64>,
    /// Order keys of the gathered values, all intervals together (they are disjoint, so a
    /// value's rank among them says its interval).
    keys: Vec<u64>,
    room: usize,
    overflow: bool,
}

impl Scan {
    fn new<T>(plan: &Plan<T>, room: usize) -> Scan {
        Scan {
            levels: vec![0; plan.bounds.len() + 1],
            keys: Vec::new(),
            room,
            overflow: false,
        }
    }
}

/// The quantiles, the finite count and what is needed to count the data against edges inside
/// the intervals.
pub struct OnePassFit<T> {
    pub quantiles: Vec<f64>,
    pub finite: u64,
    pub total: u64,
    /// Per interval: `#{x >= lo}`, `#{x >= hi}`, and the range of its keys in `keys`.
    intervals: Vec<(Interval<T>, u64, u64, std::ops::Range<usize>)>,
    keys: Vec<u64>,
    /// Per quantile: the lower rank and the values at it and the next.
    lower: Vec<(u64, f64, f64)>,
    lowest: u64,
    infinite: u64,
}

impl<T: Sample> OnePassFit<T> {
    /// `#{x >= t}` for the threshold `t` of an edge that interpolates quantile `i`.
    fn count_at_least(&self, t: T, i: usize) -> Option<u64> {
        let (rank, lo, hi) = self.lower[i];
        let tf = t.to_f64();
        if tf > lo && tf <= hi {
            // Between the order statistics at `rank` and `rank + 1`: the values above `rank`.
            return Some(self.finite - rank - 1 + self.infinite);
        }
        if tf != lo {
            return None;
        }
        // On a value of the data (ties): count inside its interval.
        for (iv, at_lo, at_hi, range) in &self.intervals {
            if t == iv.lo {
                return Some(*at_lo);
            }
            if t == iv.hi {
                return Some(*at_hi);
            }
            if !iv.spike && iv.lo < t && t < iv.hi {
                let key = t.order_key();
                let below = self.keys.iter().filter(|&&k| k < key).count() - range.start;
                return Some(at_lo - below as u64);
            }
        }
        None
    }

    /// Counts per bin of `interior` edges and the non-finite count, as `edges::bin_counts` would
    /// give them; `None` when an edge falls between intervals (count the data instead).
    pub fn bin_counts(&self, interior: &[f64]) -> Option<(Vec<u64>, u64)> {
        let thresholds = thresholds_for::<T>(interior);
        let last = thresholds.len() - 1;
        let mut at_least = Vec::with_capacity(thresholds.len());
        at_least.push(self.lowest);
        for (&t, &e) in thresholds[1..last].iter().zip(interior) {
            let i = self.quantiles.iter().position(|&v| v == e)?;
            at_least.push(self.count_at_least(t, i)?);
        }
        at_least.push(self.infinite);
        Some(bins_from_at_least(&at_least, self.total))
    }
}

/// `np.quantile(finite_values, q)` (linear method) in one pass, or `None` when the input is
/// small, `q` is long, or the sample misled (then use `quantile::linear_quantiles`).
///
/// Only float32 on an AVX2 CPU takes this path: that is the kernel measured faster than the
/// radix selection (BENCHMARKS.md); float64 goes through the scalar pass, which was not.
pub fn linear_quantiles_one_pass<T: Sample>(data: &[T], q: &[f64]) -> Option<OnePassFit<T>> {
    if !vector_kernel::<T>() {
        return None;
    }
    fit_with(data, q, &TUNING)
}

fn vector_kernel<T: Sample>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        TypeId::of::<T>() == TypeId::of::<f32>() && std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub(crate) fn fit_with<T: Sample>(data: &[T], q: &[f64], tuning: &Tuning) -> Option<OnePassFit<T>> {
    if data.len() < tuning.min_len.max(2) || q.is_empty() || q.len() > MAX_QUANTILES {
        return None;
    }
    let plan = make_plan(data, q, tuning)?;
    let scan = scan(data, &plan);
    if scan.overflow {
        return None;
    }
    finish(data.len() as u64, q, plan, scan)
}

/// The sample, sorted as order keys (finite values only).
fn sample_keys<T: Sample>(data: &[T], size: usize) -> Vec<u64> {
    let n = data.len() as u64;
    let size = (size as u64).clamp(1, n);
    let mut state = SEED;
    // One seeded position per stratum (u64 arithmetic: n * size stays far below 2^64 for any
    // slice that fits in memory and size <= 2^16).
    let positions: Vec<usize> = (0..size)
        .map(|i| {
            let start = i * n / size;
            let width = ((i + 1) * n / size - start).max(1);
            (start + splitmix64(&mut state) % width).min(n - 1) as usize
        })
        .collect();
    // The reads are cache misses: independent loads in a tight loop overlap, and the two halves
    // run on the pool.
    const CHUNK: usize = 1 << 13;
    let parts = crate::parallel::map_indexed(positions.len().div_ceil(CHUNK), |c| {
        let chunk = &positions[c * CHUNK..((c + 1) * CHUNK).min(positions.len())];
        chunk
            .iter()
            .map(|&p| data[p])
            .filter(|x| x.is_finite_value())
            .map(|x| x.order_key())
            .collect::<Vec<u64>>()
    });
    let mut keys: Vec<u64> = parts.concat();
    crate::parallel::in_pool(|serial| {
        if serial {
            keys.sort_unstable();
        } else {
            use rayon::slice::ParallelSliceMut;
            keys.par_sort_unstable();
        }
    });
    keys
}

fn make_plan<T: Sample>(data: &[T], q: &[f64], tuning: &Tuning) -> Option<Plan<T>> {
    let keys = sample_keys(data, tuning.sample);
    let m = keys.len();
    if m < 2 {
        return None;
    }
    let value = |i: usize| T::threshold_at_least(T::from_order_key(keys[i]));
    let above = |i: usize| T::threshold_above(T::from_order_key(keys[i]));
    let mut wanted: Vec<(T, T)> = Vec::with_capacity(q.len());
    for &qi in q {
        let centre = qi * (m - 1) as f64;
        let margin = tuning.z * (m as f64 * qi * (1.0 - qi)).sqrt() + 2.0;
        let lo = (centre - margin).floor();
        // + 1: the rank above the floor of numpy's virtual index is wanted too.
        let hi = (centre + margin + 1.0).ceil();
        let lo = if lo < 1.0 {
            T::LOWEST
        } else {
            value(lo as usize)
        };
        let hi = if hi >= (m - 1) as f64 {
            T::INFINITY
        } else {
            above(hi as usize)
        };
        wanted.push((lo, hi));
    }
    // Disjoint intervals, ascending (the margins can make neighbours overlap or cross).
    wanted.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut intervals: Vec<Interval<T>> = Vec::with_capacity(wanted.len());
    for (lo, hi) in wanted {
        match intervals.last_mut() {
            Some(last) if lo < last.hi => {
                if hi > last.hi {
                    last.hi = hi;
                }
            }
            _ => intervals.push(Interval {
                lo,
                hi,
                spike: false,
            }),
        }
    }
    let mut bounds = vec![T::LOWEST, T::INFINITY];
    for iv in intervals.iter_mut() {
        let lo = iv.lo.to_f64();
        iv.spike = lo < f64::INFINITY && T::threshold_above(lo) == iv.hi;
        bounds.extend([iv.lo, iv.hi]);
    }
    bounds.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if bounds.len() >= 64 {
        return None;
    }
    let mut gather_mask = 0u64;
    for iv in intervals.iter().filter(|iv| !iv.spike) {
        // Inside [lo, hi) exactly the bounds <= lo are <= x: no bound lies strictly inside.
        gather_mask |= 1 << bounds.partition_point(|b| *b <= iv.lo);
    }
    Some(Plan {
        intervals,
        bounds,
        gather_mask,
    })
}

fn scan<T: Sample>(data: &[T], plan: &Plan<T>) -> Scan {
    let parts = map_parts(data, MAX_PARTS, MIN_PART, |part| {
        // Past a quarter of the part the sample has misled: stop (the caller falls back).
        let mut out = Scan::new(plan, part.len() / 4 + 64);
        scan_part(part, plan, &mut out);
        out
    });
    let mut merged = Scan::new(plan, 0);
    // Integer sums, and keys appended in part order: the same for any thread count.
    for p in parts {
        for (a, b) in merged.levels.iter_mut().zip(&p.levels) {
            *a += b;
        }
        merged.keys.extend(p.keys);
        merged.overflow |= p.overflow;
    }
    merged
}

fn scan_part<T: Sample>(part: &[T], plan: &Plan<T>, out: &mut Scan) {
    #[cfg(target_arch = "x86_64")]
    {
        if vector_kernel::<T>() {
            // SAFETY: T is f32 (checked by TypeId), so the casts only rename the type; AVX2 is
            // available (checked just above).
            unsafe {
                let cast = |s: &[T]| std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len());
                avx2::scan_f32(cast(part), cast(&plan.bounds), plan.gather_mask, out);
            }
            return;
        }
    }
    scan_scalar(part, &plan.bounds, plan.gather_mask, out);
}

/// The pass, one value at a time (float64, CPUs without AVX2, and the tail of a part).
fn scan_scalar<T: Sample>(part: &[T], bounds: &[T], gather_mask: u64, out: &mut Scan) {
    for &x in part {
        // NaN is never >= a bound: level 0, as in the vector kernel.
        let level = bounds.partition_point(|b| *b <= x);
        out.levels[level] += 1;
        if (gather_mask >> level) & 1 == 1 {
            if out.room == 0 {
                out.overflow = true;
            } else {
                out.room -= 1;
                out.keys.push(x.order_key());
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{scan_scalar, Scan};

    /// Values between flushes of the u32 per-lane level counters.
    const BLOCK: usize = 1 << 16;

    /// `COMPRESS[m]`: the lanes whose bit is set in `m`, first, for a compressing permute.
    static COMPRESS: [[u32; 8]; 256] = {
        let mut table = [[0u32; 8]; 256];
        let mut m = 0;
        while m < 256 {
            let (mut lane, mut k) = (0, 0);
            while lane < 8 {
                if m & (1 << lane) != 0 {
                    table[m][k] = lane as u32;
                    k += 1;
                }
                lane += 1;
            }
            m += 1;
        }
        table
    };

    /// 8 values per step, without branches: the level of each value (the number of bounds
    /// `<=` it, a sum of compare masks) goes into a per-lane level histogram; the order keys of
    /// the lanes whose level is a gathered one (a bit test in `gather_mask`) are compressed to
    /// the front of a vector and stored at the end of the key buffer.
    #[target_feature(enable = "avx2")]
    pub unsafe fn scan_f32(part: &[f32], bounds: &[f32], gather_mask: u64, out: &mut Scan) {
        let bv: Vec<__m256> = bounds.iter().map(|&t| _mm256_set1_ps(t)).collect();
        let levels = out.levels.len();
        let mut lane_levels = vec![0u32; 8 * 64];
        let mask_lo = _mm256_set1_epi32(gather_mask as u32 as i32);
        let mask_hi = _mm256_set1_epi32((gather_mask >> 32) as u32 as i32);
        let w32 = _mm256_set1_epi32(32);
        let sign = _mm256_set1_epi32(i32::MIN);
        let zero = _mm256_setzero_ps();
        // Room for `out.room` keys and one vector's overshoot.
        let room = out.room;
        let mut keys: Vec<u32> = Vec::with_capacity(room + 8);
        let mut len = 0usize;
        let body = part.len() / 8 * 8;
        for block in part[..body].chunks(BLOCK) {
            for c in block.chunks_exact(8) {
                let x = _mm256_loadu_ps(c.as_ptr());
                let mut s = _mm256_setzero_si256();
                for t in &bv {
                    let m = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(x, *t));
                    s = _mm256_sub_epi32(s, m);
                }
                let mut lanes = [0u32; 8];
                _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, s);
                for (l, &level) in lanes.iter().enumerate() {
                    // SAFETY: level <= bounds.len() < 64 (checked by the plan).
                    *lane_levels.get_unchecked_mut(l * 64 + level as usize) += 1;
                }
                // Shifts by 32 or more give 0, so each lane tests one bit of the 64-bit mask;
                // the bit goes to the lane's sign for movemask.
                let hit = _mm256_slli_epi32::<31>(_mm256_or_si256(
                    _mm256_srlv_epi32(mask_lo, s),
                    _mm256_srlv_epi32(mask_hi, _mm256_sub_epi32(s, w32)),
                ));
                let mask = _mm256_movemask_ps(_mm256_castsi256_ps(hit)) as usize;
                // The float32 order key: + 0.0 makes -0.0 +0.0; negative values flip all bits,
                // others set the sign bit.
                let bits = _mm256_castps_si256(_mm256_add_ps(x, zero));
                let key =
                    _mm256_xor_si256(bits, _mm256_or_si256(_mm256_srai_epi32::<31>(bits), sign));
                let order = _mm256_loadu_si256(COMPRESS[mask].as_ptr() as *const __m256i);
                let packed = _mm256_permutevar8x32_epi32(key, order);
                // SAFETY: len <= room, and the buffer holds room + 8 keys.
                _mm256_storeu_si256(keys.as_mut_ptr().add(len) as *mut __m256i, packed);
                len += mask.count_ones() as usize;
                if len > room {
                    // Past the room the sample has misled: stop (the caller falls back).
                    out.overflow = true;
                    return;
                }
            }
            for (level, count) in out.levels.iter_mut().enumerate().take(levels) {
                for l in 0..8 {
                    *count += lane_levels[l * 64 + level] as u64;
                    lane_levels[l * 64 + level] = 0;
                }
            }
        }
        // SAFETY: the first `len` keys were written above.
        keys.set_len(len);
        out.room -= len;
        out.keys.reserve(len);
        out.keys.extend(keys.iter().map(|&k| k as u64));
        scan_scalar(&part[body..], bounds, gather_mask, out);
    }
}

/// Checks every rank against its interval and selects the values.
fn finish<T: Sample>(total: u64, q: &[f64], plan: Plan<T>, scan: Scan) -> Option<OnePassFit<T>> {
    // #{x >= t} for a bound t: the values whose level passes t's first position.
    let bounds = &plan.bounds;
    let levels = &scan.levels;
    let at_least = |t: T| -> u64 {
        let first = bounds.partition_point(|b| *b < t);
        levels[first + 1..].iter().sum()
    };
    let (lowest, infinite) = (at_least(T::LOWEST), at_least(T::INFINITY));
    let finite = lowest - infinite;
    if finite == 0 {
        return None;
    }
    // Per interval: #{x >= lo}, #{x >= hi}, and where its keys are in the sorted order of all
    // gathered keys.
    let mut intervals = Vec::with_capacity(plan.intervals.len());
    let mut offset = 0usize;
    for iv in &plan.intervals {
        let (at_lo, at_hi) = (at_least(iv.lo), at_least(iv.hi));
        let size = if iv.spike {
            0
        } else {
            (at_lo - at_hi) as usize
        };
        intervals.push((*iv, at_lo, at_hi, offset..offset + size));
        offset += size;
    }
    let keys = scan.keys;
    if offset != keys.len() {
        return None;
    }
    // Each wanted rank's interval and place (its index among all gathered keys, or the rank
    // itself in a spike).
    let place = |rank: u64| -> Option<(usize, usize)> {
        intervals
            .iter()
            .enumerate()
            .find_map(|(j, (_, at_lo, at_hi, range))| {
                let below = finite - (at_lo - infinite);
                (below <= rank && rank < below + (at_lo - at_hi))
                    .then_some((j, range.start + (rank - below) as usize))
            })
    };
    let located: Vec<[(usize, usize); 2]> = rank_plan(finite, q)
        .iter()
        .map(|&(a, b, _)| Some([place(a)?, place(b)?]))
        .collect::<Option<_>>()?;
    let wanted: Vec<usize> = located
        .iter()
        .flatten()
        .filter(|&&(j, _)| !intervals[j].0.spike)
        .map(|&(_, i)| i)
        .collect();
    let chosen = select_flat::<T>(&keys, &wanted);
    let value_of = |(j, i): (usize, usize)| -> f64 {
        let iv = &intervals[j].0;
        if iv.spike {
            T::from_order_key(iv.lo.order_key())
        } else {
            T::from_order_key(chosen[wanted.partition_point(|&w| w < i)])
        }
    };
    let mut lower = Vec::with_capacity(q.len());
    let quantiles = located
        .iter()
        .zip(rank_plan(finite, q))
        .map(|(&[a, b], (rank, _, gamma))| {
            let (lo, hi) = (value_of(a), value_of(b));
            lower.push((rank, lo, hi));
            lerp(lo, hi, gamma)
        })
        .collect();
    Some(OnePassFit {
        quantiles,
        finite,
        total,
        intervals,
        keys,
        lower,
        lowest,
        infinite,
    })
}

/// The keys at the indices `at` of the sorted order of `keys`, by radix selection: one pass
/// counts the top 16 key bits, a second gathers the keys of the buckets that hold a wanted
/// index, and each is selected among its bucket's keys. Two passes over the gathered keys
/// (about a tenth of the data), cheaper than selecting in all of them.
fn select_flat<T: Sample>(keys: &[u64], at: &[usize]) -> Vec<u64> {
    const BITS: u32 = 16;
    let shift = T::KEY_BITS - BITS;
    let mut sums = vec![0u64; 1 << BITS];
    for &k in keys {
        sums[(k >> shift) as usize] += 1;
    }
    let mut total = 0u64;
    for s in sums.iter_mut() {
        total += *s;
        *s = total;
    }
    // (bucket, rank inside it) per wanted index; then the distinct buckets.
    let located: Vec<(usize, u64)> = at
        .iter()
        .map(|&i| {
            let bucket = sums.partition_point(|&s| s <= i as u64);
            let below = if bucket == 0 { 0 } else { sums[bucket - 1] };
            (bucket, i as u64 - below)
        })
        .collect();
    let mut buckets: Vec<usize> = located.iter().map(|&(b, _)| b).collect();
    buckets.sort_unstable();
    buckets.dedup();
    let mut filter = vec![0u64; (1 << BITS) / 64];
    for &b in &buckets {
        filter[b / 64] |= 1 << (b % 64);
    }
    let mut members: Vec<Vec<u64>> = vec![Vec::new(); buckets.len()];
    for &k in keys {
        let b = (k >> shift) as usize;
        if filter[b / 64] & (1 << (b % 64)) != 0 {
            members[buckets.partition_point(|&x| x < b)].push(k);
        }
    }
    located
        .iter()
        .map(|&(b, rank)| {
            let m = &mut members[buckets.partition_point(|&x| x < b)];
            *m.select_nth_unstable(rank as usize).1
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edges::{bin_counts, interior_from_quantiles};
    use crate::quantile::{linear_quantiles, linspace_unit};

    const N: usize = 200_003; // odd: the vector kernel's tail runs too

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

    /// The adversarial inputs: where a sample misleads, and where the kernel's edge cases are.
    fn cases() -> Vec<(&'static str, Vec<f64>)> {
        let normal = |u: f64, i: usize| {
            let v = lcg(1, i as u64 + 1, |w, _| w)[0];
            (-2.0 * u.max(1e-300).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut special = lcg(N, 9, |u, _| u * 10.0 - 5.0);
        for i in (0..N).step_by(97) {
            special[i] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0][i % 5];
        }
        let mut outliers = lcg(N, 6, |u, _| u);
        for i in (0..N).step_by(20_011) {
            outliers[i] = if i % 2 == 0 { 1e30 } else { -1e30 };
        }
        vec![
            ("normal", lcg(N, 1, normal)),
            ("uniform", lcg(N, 2, |u, _| u)),
            ("heavy ties", lcg(N, 3, |u, _| (u * 7.0).floor())),
            (
                "spike at one value",
                lcg(N, 4, |u, i| if i % 5 < 3 { 0.25 } else { u }),
            ),
            ("sorted", (0..N).map(|i| i as f64 * 0.5).collect()),
            (
                "reverse sorted",
                (0..N).map(|i| -(i as f64) * 1e-3).collect(),
            ),
            ("huge outliers", outliers),
            ("narrow range", lcg(N, 7, |u, _| 1.0 + u * 1e-5)),
            (
                "cluster between samples",
                lcg(N, 8, |u, i| if i % 1000 == 17 { 0.5 + u * 1e-9 } else { u }),
            ),
            ("non-finite and signed zeros", special),
            ("constant", vec![3.25; N]),
        ]
    }

    /// numpy's linear method from a sort of the finite values (a zero is +0.0).
    fn numpy_linear(data: &[f64], q: &[f64]) -> Vec<f64> {
        let mut v: Vec<f64> = data
            .iter()
            .filter(|x| x.is_finite())
            .map(|x| x + 0.0)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        q.iter()
            .map(|&qi| {
                let vi = (n - 1) as f64 * qi;
                let i = (vi.floor() as usize).min(n - 1);
                let (a, b) = (v[i], v[(i + 1).min(n - 1)]);
                let g = vi - vi.floor();
                if g >= 0.5 {
                    b - (b - a) * (1.0 - g)
                } else {
                    a + (b - a) * g
                }
            })
            .collect()
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// (quantile bits, finite count, bin counts from the pass).
    type Fitted = (Vec<u64>, u64, Option<(Vec<u64>, u64)>);

    /// The fit on a pool of `threads`, or None (fallback).
    fn fit_on<T: Sample>(
        data: &[T],
        q: &[f64],
        bins: usize,
        tuning: &Tuning,
        threads: usize,
    ) -> Option<Fitted> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            fit_with(data, q, tuning).map(|fit| {
                let edges = interior_from_quantiles(&fit.quantiles, bins);
                (bits(&fit.quantiles), fit.finite, fit.bin_counts(&edges))
            })
        })
    }

    fn check_case<T: Sample>(name: &str, data: &[T], as_f64: &[f64], tuning: &Tuning) -> bool {
        let bins = 10;
        let q = linspace_unit(bins);
        let want = numpy_linear(as_f64, &q);
        let first = fit_on(data, &q, bins, tuning, 1);
        for threads in [2, 4] {
            assert_eq!(
                fit_on(data, &q, bins, tuning, threads),
                first,
                "{name}: {threads} threads"
            );
        }
        let Some((got, finite, counts)) = first else {
            return false;
        };
        assert_eq!(
            got,
            bits(&want),
            "{name}: quantiles vs numpy's linear method"
        );
        let (radix, radix_finite) = linear_quantiles(data, &q).unwrap();
        assert_eq!(got, bits(&radix), "{name}: vs the radix selection");
        assert_eq!(finite, radix_finite, "{name}: finite count");
        let edges = interior_from_quantiles(&want, bins);
        let counts = counts.unwrap_or_else(|| panic!("{name}: counts from the pass"));
        assert_eq!(counts, bin_counts(data, &edges), "{name}: counts");
        true
    }

    fn tunings() -> [Tuning; 2] {
        [
            Tuning {
                min_len: 0,
                ..TUNING
            },
            // A tiny sample and narrow margins: the sample misleads often.
            Tuning {
                sample: 64,
                z: 0.5,
                min_len: 0,
            },
        ]
    }

    #[test]
    fn adversarial_inputs_are_exact_for_any_thread_count() {
        let mut taken = Vec::new();
        for (t, tuning) in tunings().iter().enumerate() {
            for (name, data) in cases() {
                let as32: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                let back: Vec<f64> = as32.iter().map(|&x| x as f64).collect();
                let one = check_case(&format!("{name} (f32, tuning {t})"), &as32, &back, tuning);
                let two = check_case(&format!("{name} (f64, tuning {t})"), &data, &data, tuning);
                taken.push((t, name, one, two));
            }
        }
        // The real tuning takes the one pass on ordinary data; the tiny one falls back.
        for name in [
            "normal",
            "uniform",
            "sorted",
            "reverse sorted",
            "non-finite and signed zeros",
        ] {
            assert!(
                taken
                    .iter()
                    .any(|&(t, n, a, b)| t == 0 && n == name && a && b),
                "{name}: the one pass was not taken"
            );
        }
        assert!(
            taken.iter().filter(|&&(t, _, a, _)| t == 1 && !a).count() >= 3,
            "the fallback was not exercised: {taken:?}"
        );
    }

    #[test]
    fn public_fit_falls_back_to_the_same_result() {
        // Through the public entry: fast path (f32) or radix (f64), and a forced overflow of the
        // gathered keys (z huge: every interval is the whole range), all the same edges.
        let data: Vec<f32> = lcg(1 << 20, 11, |u, _| (u * 1e3).sqrt() as f32 as f64)
            .iter()
            .map(|&x| x as f32)
            .collect();
        let q = linspace_unit(10);
        let (radix, _) = linear_quantiles(&data, &q).unwrap();
        if let Some(fit) = linear_quantiles_one_pass(&data, &q) {
            assert_eq!(bits(&fit.quantiles), bits(&radix));
        }
        let wide = Tuning {
            z: 1e9,
            min_len: 0,
            ..TUNING
        };
        assert!(
            fit_with(&data, &q, &wide).is_none(),
            "overflow must fall back"
        );
        let short = Tuning {
            min_len: 1 << 21,
            ..TUNING
        };
        assert!(
            fit_with(&data, &q, &short).is_none(),
            "short input takes the radix path"
        );
        assert!(
            fit_with(&data, &linspace_unit(40), &TUNING).is_none(),
            "too many bins"
        );
    }

    #[test]
    fn vector_and_scalar_scans_agree() {
        let data: Vec<f32> = lcg(100_003, 12, |u, i| match i % 50 {
            0 => f64::NAN,
            1 => -0.0,
            _ => u * 4.0 - 2.0,
        })
        .iter()
        .map(|&x| x as f32)
        .collect();
        let tuning = Tuning {
            sample: 512,
            z: 4.0,
            min_len: 0,
        };
        let plan = make_plan(&data, &linspace_unit(10), &tuning).unwrap();
        let mut vector = Scan::new(&plan, data.len());
        scan_part(&data, &plan, &mut vector);
        let mut scalar = Scan::new(&plan, data.len());
        scan_scalar(&data, &plan.bounds, plan.gather_mask, &mut scalar);
        assert_eq!(vector.levels, scalar.levels);
        vector.keys.sort_unstable();
        scalar.keys.sort_unstable();
        assert_eq!(vector.keys, scalar.keys);
        assert!(!scalar.keys.is_empty());
    }
}
