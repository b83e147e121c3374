//! The register-blocked dense kernel (AVX2 intrinsics, 256-bit vectors) behind `dense_avx2`
//! and `dense_avx512vl`.
//!
//! The portable loop sweeps a block once per threshold, so every vector is loaded as many times
//! as there are thresholds (12 for PSI's 10 bins) and the loop is bound by loads and loop
//! overhead, not by the compares. Here each vector is loaded once per GROUP of up to
//! `GROUP_MAX` thresholds, held in broadcast registers: one compare (`>=`, ordered, so NaN never
//! counts) and one subtract of the all-ones mask into that threshold's lane accumulator per
//! threshold, two vector uops per threshold and vector and nothing else. Accumulators are u32
//! lanes for float32 (8 lanes), u64 for float64 (4 lanes), reduced to the u64 counts at the end
//! of each block, so lane counts stay below a block's vectors (512).
//!
//! Group widths are compile-time constants so that the accumulators and thresholds are
//! registers, not arrays: a group is padded up to the next of the widths 3, 6, 9, 10, 11, 12
//! with NaN thresholds, which never count (`x >= NaN` is false); their counts are discarded.
//! More than `GROUP_MAX` thresholds take further groups over the same block, which stays in
//! L1/L2 meanwhile.
//!
//! The next block is prefetched while the groups sweep this one, one line per line swept
//! (spread over the groups), as the portable loop does per threshold. Values after the last
//! whole vector are counted by the scalar path.

use std::any::TypeId;
use std::arch::x86_64::*;

use crate::sample::Sample;

/// Thresholds per group: 12 accumulators, 12 thresholds, the value and the mask fill 26 of the
/// 32 registers AVX-512VL gives 256-bit code; with AVX2's 16 the thresholds become memory
/// operands (L1 loads, which folds into the compare). 12 is PSI's 10 bins plus the sentinels.
const GROUP_MAX: usize = 12;
/// Bytes per block: a multiple of the line, small enough to stay in L2 (and mostly L1) while
/// every group sweeps it, large enough that the per-block reduction (a few uops per
/// accumulator) is a fraction of a percent.
const BLOCK_BYTES: usize = 16 * 1024;
const LINE: usize = 64;

/// One 256-bit vector type's operations, for f32 (8 lanes) and f64 (4 lanes).
trait Lanes {
    type T: Copy + PartialOrd;
    type V: Copy;
    const LANES: usize;
    const NAN: Self::T;
    /// All lanes `t`.
    unsafe fn splat(t: Self::T) -> Self::V;
    /// Eight (four) values at `p`, unaligned.
    unsafe fn load(p: *const Self::T) -> Self::V;
    /// `acc - (x >= t ? -1 : 0)` per lane, ordered (NaN: false).
    unsafe fn count_ge(acc: __m256i, x: Self::V, t: Self::V) -> __m256i;
    /// Sum of the lanes.
    unsafe fn reduce(acc: __m256i) -> u64;
}

struct F32;
struct F64;

impl Lanes for F32 {
    type T = f32;
    type V = __m256;
    const LANES: usize = 8;
    const NAN: f32 = f32::NAN;
    #[inline(always)]
    unsafe fn splat(t: f32) -> __m256 {
        _mm256_set1_ps(t)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn count_ge(acc: __m256i, x: __m256, t: __m256) -> __m256i {
        _mm256_sub_epi32(acc, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(x, t)))
    }
    #[inline(always)]
    unsafe fn reduce(acc: __m256i) -> u64 {
        // u32 lanes widened to u64 before the sum (a block's lane counts fit u32, their sum
        // would too, but this costs nothing at once per block)
        let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(acc));
        let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(acc));
        F64::reduce(_mm256_add_epi64(lo, hi))
    }
}

impl Lanes for F64 {
    type T = f64;
    type V = __m256d;
    const LANES: usize = 4;
    const NAN: f64 = f64::NAN;
    #[inline(always)]
    unsafe fn splat(t: f64) -> __m256d {
        _mm256_set1_pd(t)
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m256d {
        _mm256_loadu_pd(p)
    }
    #[inline(always)]
    unsafe fn count_ge(acc: __m256i, x: __m256d, t: __m256d) -> __m256i {
        _mm256_sub_epi64(acc, _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_GE_OQ>(x, t)))
    }
    #[inline(always)]
    unsafe fn reduce(acc: __m256i) -> u64 {
        let pair = _mm_add_epi64(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        (_mm_cvtsi128_si64(pair) as u64).wrapping_add(_mm_extract_epi64::<1>(pair) as u64)
    }
}

/// Adds to `at_least[k]` the number of values of `chunk` that are `>= thresholds[k]`.
///
/// # Safety
/// The CPU must support AVX2, and the caller must be compiled with it enabled (this inlines
/// into its `#[target_feature]` caller).
#[inline(always)]
pub(super) unsafe fn count<T: Sample>(chunk: &[T], thresholds: &[T], at_least: &mut [u64]) {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32 (same TypeId), so the casts only rename the element type.
        let (chunk, thresholds) = unsafe {
            (
                &*(chunk as *const [T] as *const [f32]),
                &*(thresholds as *const [T] as *const [f32]),
            )
        };
        // SAFETY: AVX2, by this function's contract.
        unsafe { blocked::<F32>(chunk, thresholds, at_least) }
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        // SAFETY: T is f64 (same TypeId), so the casts only rename the element type.
        let (chunk, thresholds) = unsafe {
            (
                &*(chunk as *const [T] as *const [f64]),
                &*(thresholds as *const [T] as *const [f64]),
            )
        };
        // SAFETY: AVX2, by this function's contract.
        unsafe { blocked::<F64>(chunk, thresholds, at_least) }
    } else {
        super::dense(chunk, thresholds, at_least)
    }
}

#[inline(always)]
unsafe fn blocked<S: Lanes>(chunk: &[S::T], thresholds: &[S::T], at_least: &mut [u64]) {
    let block_values = BLOCK_BYTES / std::mem::size_of::<S::T>();
    let (vectors, tail) = chunk.split_at(chunk.len() / S::LANES * S::LANES);
    let groups = thresholds.len().div_ceil(GROUP_MAX);
    // Each group's sweep prefetches its share of the next block (group g from g / groups of
    // the way in), one prefetch per line it sweeps, `stride` bytes apart, so that the groups
    // together cover the block.
    let stride = LINE.div_ceil(groups.max(1));
    for block in vectors.chunks(block_values) {
        let next = block.as_ptr_range().end;
        // the last block prefetches itself (L1 hits) instead of memory past the chunk
        let next = if next == vectors.as_ptr_range().end {
            block.as_ptr()
        } else {
            next
        } as *const u8;
        for (g, (t, out)) in thresholds
            .chunks(GROUP_MAX)
            .zip(at_least.chunks_mut(GROUP_MAX))
            .enumerate()
        {
            let prefetch = next.wrapping_add(g * BLOCK_BYTES / groups);
            // SAFETY: AVX2 by the contract; `block` holds whole vectors; `prefetch` is only a
            // hint and never faults, inside the chunk except for part of the block after next
            // (the next task's values, or unmapped: still no fault).
            // Widths 10 to 12 are exact for 8 to 10 bins (the common choices, plus the two
            // sentinels); below, a few padded compares cost less than more code.
            unsafe {
                match t.len() {
                    0..=3 => sweep::<S, 3>(block, t, out, prefetch, stride),
                    4..=6 => sweep::<S, 6>(block, t, out, prefetch, stride),
                    7..=9 => sweep::<S, 9>(block, t, out, prefetch, stride),
                    10 => sweep::<S, 10>(block, t, out, prefetch, stride),
                    11 => sweep::<S, 11>(block, t, out, prefetch, stride),
                    _ => sweep::<S, GROUP_MAX>(block, t, out, prefetch, stride),
                }
            }
        }
    }
    for (count, &t) in at_least.iter_mut().zip(thresholds) {
        *count += tail.iter().filter(|&&x| x >= t).count() as u64;
    }
}

/// One group of `t.len() <= W` thresholds over `block` (whole vectors, at most a block):
/// `out[k] += #{x >= t[k]}`. Per line i it sweeps (two vectors), prefetches the line at
/// `prefetch + i * stride`, this group's share of the next block.
#[inline(always)]
unsafe fn sweep<S: Lanes, const W: usize>(
    block: &[S::T],
    t: &[S::T],
    out: &mut [u64],
    prefetch: *const u8,
    stride: usize,
) {
    // (a loop, not `array::from_fn`: nothing may depend on a closure being inlined into the
    // caller with AVX2)
    let mut thresholds = [S::splat(S::NAN); W];
    for (v, &x) in thresholds.iter_mut().zip(t) {
        *v = S::splat(x);
    }
    let mut acc = [_mm256_setzero_si256(); W];
    let p = block.as_ptr();
    let vectors = block.len() / S::LANES;
    // two vectors (one 64-byte line) per iteration, with one prefetch
    let mut i = 0;
    while i + 2 <= vectors {
        let x0 = S::load(p.add(i * S::LANES));
        let x1 = S::load(p.add((i + 1) * S::LANES));
        super::prefetch(prefetch.wrapping_add(i / 2 * stride));
        for k in 0..W {
            acc[k] = S::count_ge(acc[k], x0, thresholds[k]);
            acc[k] = S::count_ge(acc[k], x1, thresholds[k]);
        }
        i += 2;
    }
    if i < vectors {
        let x = S::load(p.add(i * S::LANES));
        for k in 0..W {
            acc[k] = S::count_ge(acc[k], x, thresholds[k]);
        }
    }
    for (count, &a) in out.iter_mut().zip(&acc) {
        *count += S::reduce(a);
    }
}
