//! The AVX-512 kernels of the one-pass fit (`select.rs`): the byte-code pass (float32, and
//! float64, which has no AVX2 twin) and the gather of the selection. The float32 ones compute
//! exactly what their AVX2 twins in `select::avx2` compute, with 64 codes per compare, the
//! inside test as one table lookup (`vpermi2b`) and the gathered values compressed with
//! `vpcompressd` instead of a permute table.

use std::arch::x86_64::*;

use super::Scan;

/// Values per block: its codes and gathered raw values stay in L1.
const CODE_BLOCK: usize = 2048;

/// Whether this CPU runs the kernels here (checked at run time: wheels stay portable).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vbmi")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("popcnt")
}

/// `select::avx2::scan_grid8_f32` on 64 values per step: `part` has a multiple of 64 values.
/// `thresholds` make the inside test; returns the count of codes `> t` for each `t` of
/// `counted`, the least and the greatest value; `None` when the part holds a NaN or an infinity
/// (the caller rescans it with the level kernel).
///
/// # Safety
/// The CPU has AVX-512 F, BW and VBMI, FMA and POPCNT (`available`).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,fma,popcnt")]
pub unsafe fn scan_grid8_f32(
    part: &[f32],
    scale: f32,
    offset: f32,
    thresholds: &[i8],
    counted: &[i8],
    open_low: bool,
    out: &mut Scan,
) -> Option<(Vec<u64>, f32, f32)> {
    let grid = (scale, offset, thresholds, open_low);
    match counted.len() {
        0..=3 => scan_folded::<3>(part, grid, counted, out),
        4..=6 => scan_folded::<6>(part, grid, counted, out),
        7..=9 => scan_folded::<9>(part, grid, counted, out),
        _ => scan_folded::<12>(part, grid, counted, out),
    }
}

/// `scan_grid8_f32` counting the first `F` of `counted` (padded with a threshold no code
/// passes) in the coding loop, while each vector of codes is in a register, and the rest in
/// sweeps over the block's codes. Counting in separate sweeps cost a third of the pass at 1e7
/// values: the sweeps ran while the next block was still on its way from memory.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,fma,popcnt")]
unsafe fn scan_folded<const F: usize>(
    part: &[f32],
    (scale, offset, thresholds, open_low): (f32, f32, &[i8], bool),
    counted: &[i8],
    out: &mut Scan,
) -> Option<(Vec<u64>, f32, f32)> {
    debug_assert_eq!(part.len() % 64, 0);
    let mut counts = vec![0u64; counted.len()];
    let (folded, groups) = counted_thresholds::<F>(counted);
    let table = inside_table(thresholds, open_low);
    let scalev = _mm512_set1_ps(scale);
    let offsetv = _mm512_set1_ps(offset);
    let cap = _mm512_set1_ps(127.0);
    // Two packs interleave the 128-bit lanes: dword 4L + j holds values 16j + 4L..+4 of the
    // four source vectors j; dword d must hold values 4d.
    let unpack = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let sign = _mm512_set1_epi32(i32::MIN);
    let zero = _mm512_setzero_ps();
    let mut unordered: u16 = 0;
    let (mut least, mut greatest) = (
        _mm512_set1_ps(f32::INFINITY),
        _mm512_set1_ps(f32::NEG_INFINITY),
    );
    let mut codes = [_mm512_setzero_si512(); CODE_BLOCK / 64];
    let room = out.room;
    let first_key = out.narrow.len();
    out.narrow.reserve(room + 128);
    let keys = out.narrow.as_mut_ptr().add(first_key);
    let mut len = 0usize;
    let code = |x: __m512| -> __m512i {
        // min(cap, y): a NaN y stays NaN (min returns its second operand), then truncates to
        // i32::MIN, as code8.
        _mm512_cvttps_epi32(_mm512_min_ps(cap, _mm512_fmadd_ps(x, scalev, offsetv)))
    };
    for (b, block) in part.chunks(CODE_BLOCK).enumerate() {
        let vectors = block.len() / 64;
        // The next block, a line per 16 values while this one is coded: the loop keeps the
        // loads of the stream going.
        let next = part.as_ptr().wrapping_add((b + 1) * CODE_BLOCK);
        let block_start = len;
        // Byte counters: one value per vector, at most CODE_BLOCK / 64 = 32 per block.
        let mut acc = [_mm512_setzero_si512(); F];
        for (i, c) in codes[..vectors].iter_mut().enumerate() {
            let p = block.as_ptr().add(64 * i);
            for l in 0..4 {
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(64 * i + 16 * l) as *const i8);
            }
            let x = [
                _mm512_loadu_ps(p),
                _mm512_loadu_ps(p.add(16)),
                _mm512_loadu_ps(p.add(32)),
                _mm512_loadu_ps(p.add(48)),
            ];
            // min/max return the second operand when one is NaN: NaN is skipped (and seen by
            // the unordered compares).
            least = _mm512_min_ps(_mm512_min_ps(x[0], x[1]), least);
            least = _mm512_min_ps(_mm512_min_ps(x[2], x[3]), least);
            greatest = _mm512_max_ps(_mm512_max_ps(x[0], x[1]), greatest);
            greatest = _mm512_max_ps(_mm512_max_ps(x[2], x[3]), greatest);
            unordered |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x[0], x[1])
                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x[2], x[3]);
            let lo = _mm512_packs_epi32(code(x[0]), code(x[1]));
            let hi = _mm512_packs_epi32(code(x[2]), code(x[3]));
            let v = _mm512_permutexvar_epi32(unpack, _mm512_packs_epi16(lo, hi));
            *c = v;
            let mask = count_and_test(v, &folded, &mut acc, &table);
            for (h, &xh) in x.iter().enumerate() {
                let m = (mask >> (16 * h)) as u16;
                // SAFETY: len <= room + 64 (checked per 64 values), the buffer holds
                // room + 128 keys.
                _mm512_storeu_si512(
                    keys.add(len) as *mut _,
                    _mm512_maskz_compress_epi32(m, _mm512_castps_si512(xh)),
                );
                len += m.count_ones() as usize;
            }
            if len > room {
                out.overflow = true;
                return Some((counts, f32::INFINITY, f32::NEG_INFINITY));
            }
        }
        add_block_counts(&mut counts, &acc, &codes[..vectors], &groups);
        // The block's gathered values to order keys, 16 at a time (past `len` within the
        // buffer is harmless): + 0.0 makes -0.0 +0.0; negative values flip all bits, others
        // set the sign bit.
        let mut k = block_start;
        while k < len {
            let v = keys.add(k) as *mut __m512i;
            let bits = _mm512_castps_si512(_mm512_add_ps(
                _mm512_castsi512_ps(_mm512_loadu_si512(v as *const _)),
                zero,
            ));
            let key = _mm512_xor_si512(bits, _mm512_or_si512(_mm512_srai_epi32::<31>(bits), sign));
            _mm512_storeu_si512(v as *mut _, key);
            k += 16;
        }
        // The selection's bucket counts, while the block's keys are in L1.
        out.count_gathered(keys, block_start, len);
    }
    let extremes = (_mm512_reduce_min_ps(least), _mm512_reduce_max_ps(greatest));
    // SAFETY: the first `len` keys past the part's start are written.
    out.close_byte_pass((first_key, len), counts, extremes, unordered != 0)
}

/// `scan_grid8_f32` for float64 values, 64 per step: the codes are computed in float64
/// (`code8_f64`), the gathered values compressed 8 at a time as u64 order keys into
/// `out.wide`, and every entry of `thresholds` counted (the float32 pass derives the upper
/// bounds from bucket counts of its u32 keys; here the selection counts the u64 keys). `part`
/// has a multiple of 64 values. `None` when the part holds a NaN or an infinity.
///
/// # Safety
/// The CPU has AVX-512 F, BW and VBMI, FMA and POPCNT (`available`).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,fma,popcnt")]
pub unsafe fn scan_grid8_f64(
    part: &[f64],
    scale: f64,
    offset: f64,
    thresholds: &[i8],
    open_low: bool,
    out: &mut Scan,
) -> Option<(Vec<u64>, f64, f64)> {
    let grid = (scale, offset, thresholds, open_low);
    match thresholds.len() {
        0..=3 => scan_folded_f64::<3>(part, grid, out),
        4..=6 => scan_folded_f64::<6>(part, grid, out),
        7..=9 => scan_folded_f64::<9>(part, grid, out),
        _ => scan_folded_f64::<12>(part, grid, out),
    }
}

/// `scan_folded` for float64 values (see `scan_grid8_f64`).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,fma,popcnt")]
unsafe fn scan_folded_f64<const F: usize>(
    part: &[f64],
    (scale, offset, thresholds, open_low): (f64, f64, &[i8], bool),
    out: &mut Scan,
) -> Option<(Vec<u64>, f64, f64)> {
    debug_assert_eq!(part.len() % 64, 0);
    let mut counts = vec![0u64; thresholds.len()];
    let (folded, groups) = counted_thresholds::<F>(thresholds);
    let table = inside_table(thresholds, open_low);
    let scalev = _mm512_set1_pd(scale);
    let offsetv = _mm512_set1_pd(offset);
    let cap = _mm512_set1_pd(127.0);
    let unpack = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let sign = _mm512_set1_epi64(i64::MIN);
    let zero = _mm512_setzero_pd();
    let mut unordered: u8 = 0;
    let (mut least, mut greatest) = (
        _mm512_set1_pd(f64::INFINITY),
        _mm512_set1_pd(f64::NEG_INFINITY),
    );
    let mut codes = [_mm512_setzero_si512(); CODE_BLOCK / 64];
    let room = out.room;
    let first_key = out.wide.len();
    out.wide.reserve(room + 128);
    let keys = out.wide.as_mut_ptr().add(first_key);
    let mut len = 0usize;
    // 16 codes as i32 from two vectors of 8 values (min(cap, y): a NaN y stays NaN, then
    // truncates to i32::MIN, as code8_f64).
    let code = |a: __m512d, b: __m512d| -> __m512i {
        let c = |x: __m512d| {
            _mm512_cvttpd_epi32(_mm512_min_pd(cap, _mm512_fmadd_pd(x, scalev, offsetv)))
        };
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(c(a)), c(b))
    };
    for (b, block) in part.chunks(CODE_BLOCK).enumerate() {
        let vectors = block.len() / 64;
        let next = part.as_ptr().wrapping_add((b + 1) * CODE_BLOCK);
        let block_start = len;
        let mut acc = [_mm512_setzero_si512(); F];
        for (i, c) in codes[..vectors].iter_mut().enumerate() {
            let p = block.as_ptr().add(64 * i);
            for l in 0..8 {
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(64 * i + 8 * l) as *const i8);
            }
            let x: [__m512d; 8] = std::array::from_fn(|h| _mm512_loadu_pd(p.add(8 * h)));
            for h in (0..8).step_by(2) {
                // min/max return the second operand when one is NaN: NaN is skipped (and seen
                // by the unordered compares).
                least = _mm512_min_pd(_mm512_min_pd(x[h], x[h + 1]), least);
                greatest = _mm512_max_pd(_mm512_max_pd(x[h], x[h + 1]), greatest);
                unordered |= _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x[h], x[h + 1]);
            }
            let lo = _mm512_packs_epi32(code(x[0], x[1]), code(x[2], x[3]));
            let hi = _mm512_packs_epi32(code(x[4], x[5]), code(x[6], x[7]));
            let v = _mm512_permutexvar_epi32(unpack, _mm512_packs_epi16(lo, hi));
            *c = v;
            let mask = count_and_test(v, &folded, &mut acc, &table);
            for (h, &xh) in x.iter().enumerate() {
                let m = (mask >> (8 * h)) as u8;
                // SAFETY: len <= room + 64 (checked per 64 values), the buffer holds
                // room + 128 keys.
                _mm512_storeu_si512(
                    keys.add(len) as *mut _,
                    _mm512_maskz_compress_epi64(m, _mm512_castpd_si512(xh)),
                );
                len += m.count_ones() as usize;
            }
            if len > room {
                out.overflow = true;
                return Some((counts, f64::INFINITY, f64::NEG_INFINITY));
            }
        }
        add_block_counts(&mut counts, &acc, &codes[..vectors], &groups);
        // The block's gathered values to order keys, 8 at a time (past `len` within the
        // buffer is harmless): + 0.0 makes -0.0 +0.0; negative values flip all bits, others
        // set the sign bit.
        let mut k = block_start;
        while k < len {
            let v = keys.add(k) as *mut __m512i;
            let bits = _mm512_castpd_si512(_mm512_add_pd(
                _mm512_castsi512_pd(_mm512_loadu_si512(v as *const _)),
                zero,
            ));
            let key = _mm512_xor_si512(bits, _mm512_or_si512(_mm512_srai_epi64::<63>(bits), sign));
            _mm512_storeu_si512(v as *mut _, key);
            k += 8;
        }
    }
    let (least, greatest) = (_mm512_reduce_min_pd(least), _mm512_reduce_max_pd(greatest));
    if unordered != 0 || least.is_infinite() || greatest.is_infinite() {
        return None;
    }
    // SAFETY: the first `len` keys past the part's start are written, within the capacity.
    out.wide.set_len(first_key + len);
    out.room -= len;
    Some((counts, least, greatest))
}

/// The first `F` of `counted` as byte vectors for the coding loop (padded with a threshold no
/// code passes), and the rest in sweep groups.
#[target_feature(enable = "avx512f,avx512bw")]
fn counted_thresholds<const F: usize>(counted: &[i8]) -> ([__m512i; F], Vec<Vec<__m512i>>) {
    let folded =
        std::array::from_fn(|g| _mm512_set1_epi8(counted.get(g).copied().unwrap_or(i8::MAX)));
    let groups = super::sweep_groups(counted.get(F..).unwrap_or(&[]))
        .iter()
        .map(|g| g.iter().map(|&t| _mm512_set1_epi8(t)).collect())
        .collect();
    (folded, groups)
}

/// Whether each code is inside an interval (an odd number of thresholds below it, or even when
/// the first interval is open low), one byte per code indexed by the code's bits, in the four
/// quarters `vpermi2b` looks up.
#[target_feature(enable = "avx512f")]
fn inside_table(thresholds: &[i8], open_low: bool) -> [__m512i; 4] {
    let mut table = [0u8; 256];
    for (u, entry) in table.iter_mut().enumerate() {
        if super::code_is_inside(u as u8 as i8, thresholds, open_low) {
            *entry = 0xFF;
        }
    }
    // SAFETY: each quarter is 64 of the table's 256 bytes.
    std::array::from_fn(|i| unsafe { _mm512_loadu_si512(table.as_ptr().add(64 * i) as *const _) })
}

/// One vector of 64 codes: each of the first `F` thresholds adds its passes to its byte
/// counter; returns the mask of the codes inside an interval (`inside_table`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn count_and_test<const F: usize>(
    v: __m512i,
    folded: &[__m512i; F],
    acc: &mut [__m512i; F],
    [t0, t1, t2, t3]: &[__m512i; 4],
) -> u64 {
    let one = _mm512_set1_epi8(1);
    for g in 0..F {
        acc[g] = _mm512_mask_add_epi8(acc[g], _mm512_cmpgt_epi8_mask(v, folded[g]), acc[g], one);
    }
    let inside = _mm512_mask_blend_epi8(
        _mm512_movepi8_mask(v),
        _mm512_permutex2var_epi8(*t0, v, *t1),
        _mm512_permutex2var_epi8(*t2, v, *t3),
    );
    _mm512_test_epi8_mask(inside, inside)
}

/// A block's counts: the coding loop's byte counters (`acc`, the first `F` thresholds) summed,
/// then the sweeps of the other thresholds over the block's codes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn add_block_counts<const F: usize>(
    counts: &mut [u64],
    acc: &[__m512i; F],
    codes: &[__m512i],
    groups: &[Vec<__m512i>],
) {
    let bytes = _mm512_setzero_si512();
    for (c, a) in counts.iter_mut().zip(acc) {
        *c += _mm512_reduce_add_epi64(_mm512_sad_epu8(*a, bytes)) as u64;
    }
    let mut first = F;
    for group in groups {
        // SAFETY: the caller has AVX-512 F and BW (this function's features).
        let sums: Vec<u64> = unsafe {
            match group.len() {
                3 => sweep::<3>(codes, group).to_vec(),
                6 => sweep::<6>(codes, group).to_vec(),
                _ => sweep::<9>(codes, group).to_vec(),
            }
        };
        for (c, s) in counts[first..].iter_mut().zip(sums) {
            *c += s;
        }
        first += group.len();
    }
}

/// The counts of the byte codes `> t` for each of G thresholds over one block: each byte
/// counter takes one value per vector, at most CODE_BLOCK / 64 = 32 per block.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn sweep<const G: usize>(codes: &[__m512i], thresholds: &[__m512i]) -> [u64; G] {
    let t: [__m512i; G] = std::array::from_fn(|g| thresholds[g]);
    let mut acc = [_mm512_setzero_si512(); G];
    let one = _mm512_set1_epi8(1);
    for c in codes {
        for g in 0..G {
            acc[g] = _mm512_mask_add_epi8(acc[g], _mm512_cmpgt_epi8_mask(*c, t[g]), acc[g], one);
        }
    }
    let zero = _mm512_setzero_si512();
    std::array::from_fn(|g| _mm512_reduce_add_epi64(_mm512_sad_epu8(acc[g], zero)) as u64)
}

/// The number of the 8 `keys` at or below each of `values`, into `below`: a run's counts for
/// the sample's variance (`select::sample_measured_runs`).
///
/// # Safety
/// The CPU has AVX-512 F and POPCNT; `keys` holds 8 keys.
#[target_feature(enable = "avx512f,popcnt")]
pub unsafe fn counts_at_or_below(keys: &[u64], values: &[u64], below: &mut [u32]) {
    debug_assert_eq!(keys.len(), 8);
    let k = _mm512_loadu_si512(keys.as_ptr() as *const _);
    for (b, &v) in below.iter_mut().zip(values) {
        *b = _mm512_cmple_epu64_mask(k, _mm512_set1_epi64(v as i64)).count_ones();
    }
}

/// Keys per run of `gather_u32`'s steps (a multiple of 16).
const GATHER_RUN: usize = 4096;

/// `select::avx2::gather_u32` on 16 keys per step: a key is kept when it lies in any of the
/// inclusive `ranges` (`k - a <= b - a`, unsigned), the hits compressed with `vpcompressd`.
///
/// # Safety
/// The CPU has AVX-512 F and POPCNT.
#[target_feature(enable = "avx512f,popcnt")]
pub unsafe fn gather_u32(keys: &[u32], ranges: &[(u32, u32)]) -> Vec<u64> {
    let rv: Vec<(__m512i, __m512i)> = ranges
        .iter()
        .map(|&(a, b)| {
            (
                _mm512_set1_epi32(a as i32),
                _mm512_set1_epi32((b - a) as i32),
            )
        })
        .collect();
    let mut hits: Vec<u32> = Vec::with_capacity(1024);
    let body = keys.len() / 16 * 16;
    // Room is made a run of steps at a time: a `reserve` per step (a possible call) had the
    // compiler keep the step's keys on the stack and reload them, every step.
    for run in keys[..body].chunks(GATHER_RUN) {
        hits.reserve(run.len());
        let (base, mut len) = (hits.as_mut_ptr(), hits.len());
        for c in run.chunks_exact(16) {
            let k = _mm512_loadu_si512(c.as_ptr() as *const _);
            let mut inside: u16 = 0;
            for &(a, w) in &rv {
                inside |= _mm512_cmple_epu32_mask(_mm512_sub_epi32(k, a), w);
            }
            // No branch on the mask (a hit is rare and unpredictable): every step stores.
            // SAFETY: each step adds at most 16 keys, so the run's steps stay within the
            // room reserved for it: len + 16 <= the length before the run + run.len().
            _mm512_storeu_si512(
                base.add(len) as *mut _,
                _mm512_maskz_compress_epi32(inside, k),
            );
            len += inside.count_ones() as usize;
        }
        hits.set_len(len);
    }
    super::with_gathered_tail(hits, &keys[body..], ranges)
}

/// `gather_u32` for u64 keys (float64's), 8 keys per step, the hits compressed with
/// `vpcompressq`.
///
/// # Safety
/// The CPU has AVX-512 F and POPCNT.
#[target_feature(enable = "avx512f,popcnt")]
pub unsafe fn gather_u64(keys: &[u64], ranges: &[(u64, u64)]) -> Vec<u64> {
    let rv: Vec<(__m512i, __m512i)> = ranges
        .iter()
        .map(|&(a, b)| {
            (
                _mm512_set1_epi64(a as i64),
                _mm512_set1_epi64((b - a) as i64),
            )
        })
        .collect();
    let mut hits: Vec<u64> = Vec::with_capacity(1024);
    let body = keys.len() / 8 * 8;
    for run in keys[..body].chunks(GATHER_RUN) {
        hits.reserve(run.len());
        let (base, mut len) = (hits.as_mut_ptr(), hits.len());
        for c in run.chunks_exact(8) {
            let k = _mm512_loadu_si512(c.as_ptr() as *const _);
            let mut inside: u8 = 0;
            for &(a, w) in &rv {
                inside |= _mm512_cmple_epu64_mask(_mm512_sub_epi64(k, a), w);
            }
            // SAFETY: each step adds at most 8 keys, within the room reserved for the run.
            _mm512_storeu_si512(
                base.add(len) as *mut _,
                _mm512_maskz_compress_epi64(inside, k),
            );
            len += inside.count_ones() as usize;
        }
        hits.set_len(len);
    }
    hits.extend(super::gather_scalar(&keys[body..], ranges));
    hits
}
