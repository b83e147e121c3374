//! Float32 rows as int8 codes with one scale per row, and the integer product of a panel of
//! stored rows with a group of queries: the fast half of the exact search in `topk_int8.rs`.
//!
//! A row `x` becomes codes `c = round(x * 127 / max|x|)` and the scale `inv ≈ max|x| / 127`,
//! so `x̂ = c * inv`. The error of each row, `|x - x̂|`, is measured (in f64) against the `inv`
//! actually stored, so the bound `|x.q - x̂.q̂| <= |x̂| |q - q̂| + |x - x̂| |q|` holds whatever
//! rounding the scale took. Codes times codes are summed exactly in i32 (|sum| <= dim * 255 *
//! 127, so dim is capped at `MAX_DIM`).
//!
//! The AVX-512 VNNI instruction `vpdpbusd` multiplies unsigned by signed bytes, so stored codes
//! are kept as `c + 128` (u8) and `128 * sum(query codes)` is taken off afterwards. A panel of
//! `PANEL` stored rows is packed so that each 64-byte line holds 4 consecutive codes of 16 rows.

use crate::simd::norm2;

pub(crate) const PANEL: usize = 32;
pub(crate) const GROUP: usize = 8;
/// `dim * 255 * 127` stays below 2^31.
pub(crate) const MAX_DIM: usize = 65_536;

/// `dim` rounded up to whole 4-byte lanes.
pub(crate) fn padded(dim: usize) -> usize {
    dim.div_ceil(4) * 4
}

/// What one row's quantization leaves beside its codes (all f64, exact up to rounding that
/// the caller's slack covers).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RowScale {
    /// The scale the codes are multiplied by (0 for a zero row).
    pub(crate) inv: f32,
    /// |x̂| and |x - x̂|.
    pub(crate) norm_hat: f64,
    pub(crate) error: f64,
    /// |x|^2.
    pub(crate) norm2: f64,
}

/// Codes of `x` into `codes` (as i8, the tail past `x.len()` left 0), or `None` when `x` holds
/// a NaN or an infinity (such rows have no scale and are scored exactly instead).
#[inline(always)]
pub(crate) fn quantize_row(x: &[f32], codes: &mut [i8]) -> Option<RowScale> {
    // Reductions run in fixed lanes so that they vectorize (a float sum in one chain does not).
    const L: usize = 8;
    let (mut max, mut finite) = ([0.0f32; L], [true; L]);
    let (head, tail) = x.split_at(x.len() / L * L);
    for chunk in head.chunks_exact(L) {
        for l in 0..L {
            let a = chunk[l].abs();
            finite[l] &= a <= f32::MAX; // false for NaN and inf
            max[l] = if a > max[l] { a } else { max[l] };
        }
    }
    for (l, &v) in tail.iter().enumerate() {
        let a = v.abs();
        finite[l] &= a <= f32::MAX;
        max[l] = if a > max[l] { a } else { max[l] };
    }
    if finite.contains(&false) {
        return None;
    }
    let max = max.iter().fold(0.0f32, |m, &v| m.max(v));
    let mut scale = RowScale {
        norm2: norm2(x),
        ..RowScale::default()
    };
    if max == 0.0 {
        codes.fill(0);
        return Some(scale);
    }
    let s = 127.0f32 / max;
    let inv = max / 127.0;
    let (mut err2, mut c2) = ([0.0f64; L], [0i32; L]);
    let inv64 = inv as f64;
    let (codes_head, codes_tail) = codes[..x.len()].split_at_mut(head.len());
    for (xc, cc) in head.chunks_exact(L).zip(codes_head.chunks_exact_mut(L)) {
        for l in 0..L {
            code_lane(xc[l], s, inv64, &mut cc[l], &mut err2[l], &mut c2[l]);
        }
    }
    for (l, (&v, c)) in tail.iter().zip(codes_tail.iter_mut()).enumerate() {
        code_lane(v, s, inv64, c, &mut err2[l], &mut c2[l]);
    }
    scale.inv = inv;
    scale.norm_hat = (c2.iter().map(|&c| c as i64).sum::<i64>() as f64).sqrt() * inv as f64;
    scale.error = err2.iter().sum::<f64>().sqrt();
    Some(scale)
}

/// One value's code, and its share of |x - x̂|^2 and of sum(code^2).
#[inline(always)]
fn code_lane(v: f32, s: f32, inv: f64, c: &mut i8, err2: &mut f64, c2: &mut i32) {
    let code = (v * s).round_ties_even().clamp(-127.0, 127.0);
    let ci = code as i32;
    *c = ci as i8;
    // code * inv is exact in f64 (8 + 24 bits)
    let d = v as f64 - code as f64 * inv;
    *err2 = d.mul_add(d, *err2);
    *c2 += ci * ci;
}

/// The stored rows' bytes (`c + 128`) of one panel, `PANEL` rows of `dim4` side by side, from
/// rows laid out one after the other: 4-byte lanes transposed.
#[inline(always)]
pub(crate) fn pack_panel(rows: &[u8], dim4: usize, panel: &mut [u8]) {
    debug_assert!(rows.len() == PANEL * dim4 && panel.len() == PANEL * dim4);
    for (slot, row) in rows.chunks_exact(dim4).enumerate() {
        for (g, four) in row.chunks_exact(4).enumerate() {
            let at = (g * PANEL + slot) * 4;
            panel[at..at + 4].copy_from_slice(four);
        }
    }
}

/// `quantize_row` for a stored row, written as its bytes `c + 128` (the tail to `dim4` at 128,
/// code 0).
#[inline(always)]
pub(crate) fn quantize_stored(x: &[f32], bytes: &mut [u8], codes: &mut [i8]) -> Option<RowScale> {
    let scale = quantize_row(x, &mut codes[..x.len()])?;
    for (b, &c) in bytes.iter_mut().zip(codes[..x.len()].iter()) {
        *b = (c as i16 + 128) as u8;
    }
    bytes[x.len()..].fill(128);
    Some(scale)
}

/// `quantize_stored` in AVX-512: the same codes; the f64 sums are taken in another lane order,
/// so `error` and `norm_hat` may differ in the last bits (each is a bound, which any of them
/// satisfies up to the callers' slack).
///
/// # Safety
/// The CPU must have AVX-512 F and BW; `bytes` must hold `padded(x.len())` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn quantize_stored_avx512(x: &[f32], bytes: &mut [u8]) -> Option<RowScale> {
    use std::arch::x86_64::*;
    let n = x.len();
    let p = x.as_ptr();
    let mask_of = |i: usize| -> __mmask16 {
        let left = n - i;
        if left >= 16 {
            0xffff
        } else {
            ((1u32 << left) - 1) as __mmask16
        }
    };
    let abs_bits = _mm512_set1_epi32(0x7fff_ffff);
    let big = _mm512_set1_ps(f32::MAX);
    let mut max = _mm512_setzero_ps();
    let mut finite: __mmask16 = 0xffff;
    let (mut n2a, mut n2b) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut i = 0;
    while i < n {
        let m = mask_of(i);
        let v = _mm512_maskz_loadu_ps(m, p.add(i));
        let a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), abs_bits));
        // false for NaN and inf in the loaded lanes
        finite &= _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, big) | !m;
        max = _mm512_max_ps(max, a);
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
            _mm512_castps_pd(v),
        )));
        n2a = _mm512_fmadd_pd(lo, lo, n2a);
        n2b = _mm512_fmadd_pd(hi, hi, n2b);
        i += 16;
    }
    if finite != 0xffff {
        return None;
    }
    let mut scale = RowScale {
        norm2: _mm512_reduce_add_pd(_mm512_add_pd(n2a, n2b)),
        ..RowScale::default()
    };
    let max = _mm512_reduce_max_ps(max);
    if max == 0.0 {
        bytes.fill(128);
        return Some(scale);
    }
    let s = _mm512_set1_ps(127.0f32 / max);
    let inv = max / 127.0;
    let inv64 = _mm512_set1_pd(inv as f64);
    let (lim_lo, lim_hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
    let offset = _mm512_set1_epi32(128);
    let (mut ea, mut eb) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut c2 = _mm512_setzero_si512();
    let out = bytes.as_mut_ptr();
    let mut i = 0;
    while i < n {
        let m = mask_of(i);
        let v = _mm512_maskz_loadu_ps(m, p.add(i));
        let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(v, s),
        );
        let code = _mm512_min_ps(_mm512_max_ps(r, lim_lo), lim_hi);
        let ci = _mm512_cvtps_epi32(code);
        _mm512_mask_cvtepi32_storeu_epi8(out.add(i) as *mut _, m, _mm512_add_epi32(ci, offset));
        c2 = _mm512_add_epi32(c2, _mm512_mullo_epi32(ci, ci));
        let half = |w: __m256| _mm512_cvtps_pd(w);
        let v_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        let c_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(code)));
        // v - code * inv, exact in f64 (8 + 24 bits in the product); masked lanes are 0 - 0
        let da = _mm512_fnmadd_pd(
            half(_mm512_castps512_ps256(code)),
            inv64,
            half(_mm512_castps512_ps256(v)),
        );
        let db = _mm512_fnmadd_pd(half(c_hi), inv64, half(v_hi));
        ea = _mm512_fmadd_pd(da, da, ea);
        eb = _mm512_fmadd_pd(db, db, eb);
        i += 16;
    }
    for b in &mut bytes[n..] {
        *b = 128;
    }
    scale.inv = inv;
    scale.norm_hat = (_mm512_reduce_add_epi32(c2) as f64).sqrt() * inv as f64;
    scale.error = _mm512_reduce_add_pd(_mm512_add_pd(ea, eb)).sqrt();
    Some(scale)
}

/// The exact integer products of a packed panel (dim4 / 4 lines of `4 * PANEL` bytes) with
/// `GROUP` query rows of `dim4` i8 codes each (`stride` apart), before the offset correction:
/// `out[r][i] = sum_l (c_il + 128) * b_rl`.
pub(crate) fn panel_products_scalar(
    panel: &[u8],
    queries: &[i8],
    stride: usize,
    dim4: usize,
    out: &mut [[i32; PANEL]; GROUP],
) {
    for (r, row) in out.iter_mut().enumerate() {
        let q = &queries[r * stride..r * stride + dim4];
        for (i, o) in row.iter_mut().enumerate() {
            let mut sum = 0i32;
            for (g, qq) in q.chunks_exact(4).enumerate() {
                let at = g * 4 * PANEL + i * 4;
                for b in 0..4 {
                    sum += panel[at + b] as i32 * qq[b] as i32;
                }
            }
            *o = sum;
        }
    }
}

/// `panel_products_scalar` with `vpdpbusd`: 16 accumulators (GROUP queries x two 16-row
/// halves), each query's 4 codes broadcast from memory.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `panel` must hold `dim4 * PANEL` bytes and
/// `queries` `(GROUP - 1) * stride + dim4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn panel_products_vnni(
    panel: &[u8],
    queries: &[i8],
    stride: usize,
    dim4: usize,
    out: &mut [[i32; PANEL]; GROUP],
) {
    use std::arch::x86_64::*;
    debug_assert!(panel.len() >= dim4 * PANEL);
    debug_assert!(queries.len() >= (GROUP - 1) * stride + dim4);
    let p = panel.as_ptr();
    let q = queries.as_ptr();
    let mut acc = [_mm512_setzero_si512(); 2 * GROUP];
    for g in 0..dim4 / 4 {
        let lo = _mm512_loadu_si512(p.add(g * 4 * PANEL) as *const _);
        let hi = _mm512_loadu_si512(p.add(g * 4 * PANEL + 64) as *const _);
        for r in 0..GROUP {
            let b = _mm512_set1_epi32(std::ptr::read_unaligned(
                q.add(r * stride + g * 4) as *const i32
            ));
            acc[2 * r] = _mm512_dpbusd_epi32(acc[2 * r], lo, b);
            acc[2 * r + 1] = _mm512_dpbusd_epi32(acc[2 * r + 1], hi, b);
        }
    }
    for (r, row) in out.iter_mut().enumerate() {
        _mm512_storeu_si512(row.as_mut_ptr() as *mut _, acc[2 * r]);
        _mm512_storeu_si512(row.as_mut_ptr().add(16) as *mut _, acc[2 * r + 1]);
    }
}

/// Whether this CPU runs `panel_products_vnni`.
pub(crate) fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    #[test]
    fn the_error_bound_holds_for_every_pair() {
        let dim = 37;
        let mut rng = Rng::new(5, 0);
        let mut xs = vec![0.0f64; 40 * dim];
        rng.normals(&mut xs);
        // rows of very different scales, one zero row, one with a single large entry
        for (i, row) in xs.chunks_mut(dim).enumerate() {
            let scale = 10f64.powi(i as i32 % 9 - 4);
            row.iter_mut().for_each(|v| *v *= scale);
        }
        xs[..dim].fill(0.0);
        xs[dim] = 1e6;
        let x32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let d4 = padded(dim);
        let rows: Vec<(Vec<i8>, RowScale)> = x32
            .chunks(dim)
            .map(|r| {
                let mut c = vec![0i8; d4];
                let s = quantize_row(r, &mut c).unwrap();
                (c, s)
            })
            .collect();
        for (a, (ca, sa)) in x32.chunks(dim).zip(&rows) {
            for (b, (cb, sb)) in x32.chunks(dim).zip(&rows) {
                let exact: f64 = a.iter().zip(b).map(|(u, v)| *u as f64 * *v as f64).sum();
                let ints: i64 = ca.iter().zip(cb).map(|(u, v)| *u as i64 * *v as i64).sum();
                let approx = ints as f64 * sa.inv as f64 * sb.inv as f64;
                let norm_b = sb.norm2.sqrt();
                let bound = sa.norm_hat * sb.error + sa.error * norm_b;
                assert!(
                    (exact - approx).abs() <= bound * (1.0 + 1e-9) + 1e-300,
                    "{exact} vs {approx}, bound {bound}"
                );
            }
        }
        assert!(quantize_row(&[1.0, f32::NAN], &mut [0; 4]).is_none());
        assert!(quantize_row(&[f32::INFINITY, 0.0], &mut [0; 4]).is_none());
    }

    #[test]
    fn packed_products_match_plain_integer_dots() {
        let dim = 45;
        let d4 = padded(dim);
        let mut rng = Rng::new(8, 0);
        let mut xs = vec![0.0f64; PANEL * dim];
        let mut qs = vec![0.0f64; (GROUP + 3) * dim];
        rng.normals(&mut xs);
        rng.normals(&mut qs);
        let mut panel = vec![0u8; d4 * PANEL];
        let mut bytes = vec![0u8; d4 * PANEL];
        let mut xcodes = vec![vec![0i8; d4]; PANEL];
        for (i, row) in xs.chunks(dim).enumerate() {
            let r: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            let at = i * d4;
            quantize_stored(&r, &mut bytes[at..at + d4], &mut xcodes[i]).unwrap();
            if has_vnni() {
                let mut fast = vec![0u8; d4];
                let a = quantize_row(&r, &mut vec![0i8; d4]).unwrap();
                let b = unsafe { quantize_stored_avx512(&r, &mut fast) }.unwrap();
                assert_eq!(fast, bytes[at..at + d4]);
                assert_eq!(a.inv, b.inv);
                assert!((a.error - b.error).abs() <= 1e-12 * a.error);
                assert!((a.norm_hat - b.norm_hat).abs() <= 1e-12 * a.norm_hat);
            }
        }
        pack_panel(&bytes, d4, &mut panel);
        let stride = d4 + 4;
        let mut qcodes = vec![0i8; (GROUP + 3) * stride];
        for (j, row) in qs.chunks(dim).enumerate() {
            let r: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            quantize_row(&r, &mut qcodes[j * stride..j * stride + d4]).unwrap();
        }
        let offset = 3 * stride;
        let mut out = [[0i32; PANEL]; GROUP];
        panel_products_scalar(&panel, &qcodes[offset..], stride, d4, &mut out);
        for r in 0..GROUP {
            let q = &qcodes[offset + r * stride..offset + r * stride + d4];
            for i in 0..PANEL {
                let want: i32 = xcodes[i]
                    .iter()
                    .zip(q)
                    .map(|(&c, &b)| (c as i32 + 128) * b as i32)
                    .sum();
                assert_eq!(out[r][i], want);
            }
        }
        if has_vnni() {
            let mut fast = [[0i32; PANEL]; GROUP];
            unsafe { panel_products_vnni(&panel, &qcodes[offset..], stride, d4, &mut fast) };
            assert_eq!(fast, out);
        }
    }
}
