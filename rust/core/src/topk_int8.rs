//! Exact top-k over float32 rows through an int8 prefilter with a proven error bound.
//!
//! Every (stored row, query) pair gets an approximate score from int8 codes (`int8.rs`,
//! 64 multiply-adds per AVX-512 VNNI instruction against 16 for float32 FMA) and a bound on its
//! error from the two rows' quantization errors. Per query, the k-th largest lower bound seen
//! so far is a threshold no true top-k row can fall under, so only pairs whose upper bound
//! reaches it are kept as candidates. The survivors are scored exactly in float64 and ranked by
//! (score, then lower row), so the answer is the exact top-k of the float32 inputs: it does not
//! depend on the kernel or the thread count.
//!
//! The stored rows are quantized once (a quarter of the float32 matrix); then each task takes a
//! block of queries through every stored row, so each query's threshold rises over the whole
//! matrix at once (split by rows, every part would climb to it again and keep ~10x more
//! candidates).
//!
//! Rows holding NaN or inf have no scale: they are kept as candidates with bounds (-inf, inf)
//! and scored exactly. A query whose candidates pile up past `cap` (many rows tied within the
//! bound, say thousands of duplicates) is given up here and answered by the float32 product
//! path instead.

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::cancel::checkpoint;
use crate::error::Result;
use crate::int8::{
    has_vnni, pack_panel, padded, panel_products_scalar, quantize_row, quantize_stored, RowScale,
    GROUP, MAX_DIM, PANEL,
};
use crate::parallel::map_indexed;
use crate::simd::{dispatch, norm2_dot};
use crate::topk::Metric;

/// Panels per quantization task (64 x 32 rows).
const CHUNK_PANELS: usize = 64;
/// Relative slack that covers the float32 arithmetic of a score and its bound (a handful of
/// roundings of 2^-24 each).
const SLACK: f64 = 1.0 / (1u64 << 20) as f64;
/// Absolute slack: float32 products of tiny scales may round to subnormals.
const TINY: f64 = 1e-30;
/// Below these sizes the float32 product path is as fast: the quantization of every stored row
/// is paid once per call and shared by the queries.
const MIN_ROWS: usize = 8192;
const MIN_QUERIES: usize = 32;
const MIN_DIM: usize = 16;
/// The most the candidate lists may take in the worst case before the float32 path is used.
const CANDIDATE_BYTES: u128 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Plain Rust, any CPU (tests, and the reference the VNNI kernel is checked against).
    #[cfg_attr(not(test), allow(dead_code))]
    Scalar,
    /// AVX-512 VNNI `vpdpbusd`.
    Vnni,
}

fn cap(k: usize) -> usize {
    2 * k + 512
}

/// The kernel to use for `n` rows, `q` queries of `dim` and `k`, or `None` for the float32
/// product path.
pub(crate) fn choose(n: usize, q: usize, dim: usize, k: usize) -> Option<Kernel> {
    let worst = (q as u128) * (cap(k) as u128 + 64) * 16;
    // Under a memory limit the codes may not fit where the float32 path still does.
    (n >= MIN_ROWS
        && q >= MIN_QUERIES
        && (MIN_DIM..=MAX_DIM).contains(&dim)
        && k < n / 4
        && worst <= CANDIDATE_BYTES
        && has_vnni()
        && check_bytes("the int8 search", bytes_needed(n, q, dim, k)).is_ok())
    .then_some(Kernel::Vnni)
}

/// The int8 codes of every stored row, their lanes, the candidates at their cap and the
/// float64 queries.
fn bytes_needed(n: usize, q: usize, dim: usize, k: usize) -> u128 {
    let panels = n.div_ceil(PANEL) as u128;
    bytes_of::<u8>(panels * (PANEL * padded(dim)) as u128)
        + bytes_of::<Lanes>(panels)
        + bytes_of::<[u8; 16]>(q as u128 * (cap(k) as u128 + 64))
        + bytes_of::<f64>(q as u128 * dim as u128)
}

/// f32 at or above `v`.
fn up(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) < v {
        f.next_up()
    } else {
        f
    }
}

/// The queries' codes (rows of `dim4`, padded with zero rows to whole groups) and what the
/// epilogue needs per query.
struct Queries {
    codes: Vec<i8>,
    dim4: usize,
    inv: Vec<f32>,
    /// 128 * sum of the query's codes: the u8 offset of the stored codes.
    corr: Vec<i32>,
    /// The error bound is `|x̂| alpha + |x - x̂| beta`: alpha covers |q - q̂| and the rounding
    /// of the approximate score (relative to |x̂| |q̂|), beta is |q|, both rounded up.
    alpha: Vec<f32>,
    beta: Vec<f32>,
    exact: Vec<f64>,
    norm2: Vec<f64>,
}

fn quantize_queries(queries: &[f32], q: usize, dim: usize) -> Result<Queries> {
    let dim4 = padded(dim);
    let rows = q.div_ceil(GROUP) * GROUP;
    let mut codes = filled("the int8 query codes", product("queries", rows, dim4)?, 0i8)?;
    let mut out = Queries {
        codes: Vec::new(),
        dim4,
        inv: Vec::with_capacity(q),
        corr: Vec::with_capacity(q),
        alpha: Vec::with_capacity(q),
        beta: Vec::with_capacity(q),
        exact: queries.iter().map(|&v| v as f64).collect(),
        norm2: Vec::with_capacity(q),
    };
    for (j, row) in queries.chunks_exact(dim).enumerate() {
        let c = &mut codes[j * dim4..j * dim4 + dim];
        // the queries were checked finite by the caller
        let s = quantize_row(row, c).unwrap_or_default();
        out.inv.push(s.inv);
        out.corr
            .push(128 * c.iter().map(|&v| v as i32).sum::<i32>());
        let norm = s.norm2.sqrt();
        out.alpha
            .push(up((s.error + SLACK * s.norm_hat) * (1.0 + SLACK) + TINY));
        out.beta.push(up(norm * (1.0 + SLACK)));
        out.norm2.push(s.norm2);
    }
    out.codes = codes;
    Ok(out)
}

/// What the epilogue needs of one panel's rows (lanes of `PANEL`). A padding row or a row with
/// NaN or inf has `shift` NaN, so its upper bound never passes a threshold.
#[derive(Clone)]
struct Lanes {
    inv: [f32; PANEL],
    norm_hat: [f32; PANEL],
    error: [f32; PANEL],
    /// |x|^2 / 2 for L2 (which ranks by x.q - |x|^2 / 2), 0 for the inner product.
    shift: [f32; PANEL],
    /// The bound's part that covers the rounding of `shift`.
    extra: [f32; PANEL],
}

impl Lanes {
    #[inline(always)]
    fn set(&mut self, slot: usize, s: RowScale, metric: Metric) {
        self.inv[slot] = s.inv;
        self.norm_hat[slot] = up(s.norm_hat * (1.0 + SLACK));
        self.error[slot] = up(s.error * (1.0 + SLACK));
        let shift = match metric {
            Metric::L2 => 0.5 * s.norm2,
            Metric::InnerProduct => 0.0,
        };
        self.shift[slot] = shift as f32;
        self.extra[slot] = up(SLACK * shift + TINY);
    }

    fn empty() -> Lanes {
        Lanes {
            inv: [0.0; PANEL],
            norm_hat: [0.0; PANEL],
            error: [0.0; PANEL],
            shift: [f32::NAN; PANEL],
            extra: [0.0; PANEL],
        }
    }
}

/// One query's candidates in one part: (row, lower bound, upper bound), and the threshold.
struct Candidates {
    rows: Vec<usize>,
    lower: Vec<f32>,
    upper: Vec<f32>,
    threshold: f32,
    prune_at: usize,
    overflow: bool,
}

impl Candidates {
    fn new(k: usize) -> Candidates {
        Candidates {
            rows: Vec::new(),
            lower: Vec::new(),
            upper: Vec::new(),
            threshold: f32::NEG_INFINITY,
            prune_at: k + 64,
            overflow: false,
        }
    }

    #[inline]
    fn push(&mut self, row: usize, lower: f32, upper: f32, k: usize, scratch: &mut Vec<f32>) {
        if self.overflow {
            return;
        }
        self.rows.push(row);
        self.lower.push(lower);
        self.upper.push(upper);
        if self.rows.len() >= self.prune_at {
            self.prune(k, scratch);
        }
    }

    /// Raises the threshold to the k-th largest lower bound held and drops what cannot reach it.
    fn prune(&mut self, k: usize, scratch: &mut Vec<f32>) {
        let len = self.rows.len();
        if len >= k {
            scratch.clear();
            scratch.extend_from_slice(&self.lower);
            let (_, kth, _) = scratch.select_nth_unstable_by(len - k, |a, b| a.total_cmp(b));
            self.threshold = self.threshold.max(*kth);
            let mut kept = 0;
            for i in 0..len {
                if self.upper[i] >= self.threshold {
                    self.rows[kept] = self.rows[i];
                    self.lower[kept] = self.lower[i];
                    self.upper[kept] = self.upper[i];
                    kept += 1;
                }
            }
            self.rows.truncate(kept);
            self.lower.truncate(kept);
            self.upper.truncate(kept);
        }
        if self.rows.len() > cap(k) {
            self.overflow = true;
            self.rows = Vec::new();
            self.lower = Vec::new();
            self.upper = Vec::new();
        }
        self.prune_at = (2 * self.rows.len()).max(k + 64);
    }
}

/// Approximate score, its bound and the pass test of one lane, as the vector epilogue computes
/// them (same operations, same order, fused where it fuses).
#[inline(always)]
fn lane_bounds(acc: i32, corr: i32, l: &Lanes, i: usize, qs: &Queries, j: usize) -> (f32, f32) {
    let a = ((acc - corr) as f32 * l.inv[i]) * qs.inv[j] - l.shift[i];
    let e = l.norm_hat[i].mul_add(qs.alpha[j], l.error[i].mul_add(qs.beta[j], l.extra[i]));
    (a, e)
}

struct Ctx<'a> {
    qs: &'a Queries,
    q: usize,
    k: usize,
    exclude: Option<&'a [i64]>,
}

/// Passes the pairs of queries `g..g + GROUP` (their candidates: `cands[0..]`) and the panel
/// whose upper bounds reach each query's threshold.
fn epilogue_scalar(
    ctx: &Ctx,
    out: &[[i32; PANEL]; GROUP],
    lanes: &Lanes,
    g: usize,
    row0: usize,
    cands: &mut [Candidates],
    scratch: &mut Vec<f32>,
) {
    for (r, sums) in out.iter().enumerate() {
        let j = g + r;
        if j >= ctx.q || r >= cands.len() {
            break;
        }
        let skip = ctx.exclude.map_or(-1, |e| e[j]);
        for (i, &acc) in sums.iter().enumerate() {
            let (a, e) = lane_bounds(acc, ctx.qs.corr[j], lanes, i, ctx.qs, j);
            let upper = a + e;
            if upper >= cands[r].threshold && (row0 + i) as i64 != skip {
                cands[r].push(row0 + i, a - e, upper, ctx.k, scratch);
            }
        }
    }
}

/// `epilogue_scalar` on 16 lanes at a time.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn epilogue_avx512(
    ctx: &Ctx,
    out: &[[i32; PANEL]; GROUP],
    lanes: &Lanes,
    g: usize,
    row0: usize,
    cands: &mut [Candidates],
    scratch: &mut Vec<f32>,
) {
    use std::arch::x86_64::*;
    let qs = ctx.qs;
    for (r, sums) in out.iter().enumerate() {
        let j = g + r;
        if j >= ctx.q || r >= cands.len() {
            break;
        }
        if cands[r].overflow {
            continue;
        }
        let corr = _mm512_set1_epi32(qs.corr[j]);
        let qinv = _mm512_set1_ps(qs.inv[j]);
        let alpha = _mm512_set1_ps(qs.alpha[j]);
        let beta = _mm512_set1_ps(qs.beta[j]);
        for h in 0..PANEL / 16 {
            let at = 16 * h;
            let acc = _mm512_loadu_si512(sums.as_ptr().add(at) as *const _);
            let x = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr));
            let x = _mm512_mul_ps(x, _mm512_loadu_ps(lanes.inv.as_ptr().add(at)));
            let a = _mm512_sub_ps(
                _mm512_mul_ps(x, qinv),
                _mm512_loadu_ps(lanes.shift.as_ptr().add(at)),
            );
            let e = _mm512_fmadd_ps(
                _mm512_loadu_ps(lanes.error.as_ptr().add(at)),
                beta,
                _mm512_loadu_ps(lanes.extra.as_ptr().add(at)),
            );
            let e = _mm512_fmadd_ps(_mm512_loadu_ps(lanes.norm_hat.as_ptr().add(at)), alpha, e);
            let upper = _mm512_add_ps(a, e);
            let threshold = _mm512_set1_ps(cands[r].threshold);
            let mut pass = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(upper, threshold);
            if pass == 0 {
                continue;
            }
            let (mut av, mut ev) = ([0.0f32; 16], [0.0f32; 16]);
            _mm512_storeu_ps(av.as_mut_ptr(), a);
            _mm512_storeu_ps(ev.as_mut_ptr(), e);
            let skip = ctx.exclude.map_or(-1, |e| e[j]);
            while pass != 0 {
                let i = pass.trailing_zeros() as usize;
                pass &= pass - 1;
                let row = row0 + at + i;
                // the threshold may have risen since the mask was taken
                let upper = av[i] + ev[i];
                if row as i64 != skip && upper >= cands[r].threshold {
                    cands[r].push(row, av[i] - ev[i], upper, ctx.k, scratch);
                }
            }
        }
    }
}

/// Quantizes panels `c0..c1` (of `PANEL` rows each) into `packed` and `lanes`; rows with NaN
/// or inf go to every query's candidates as (-inf, inf).
#[inline(always)]
fn quantize_chunk(
    stored: &[f32],
    n: usize,
    dim: usize,
    metric: Metric,
    kernel: Kernel,
    (c0, c1, packed, lanes, codes, rows, bad): Chunk,
) {
    let dim4 = codes.len();
    for pi in c0..c1 {
        let panel = &mut packed[(pi - c0) * dim4 * PANEL..(pi - c0 + 1) * dim4 * PANEL];
        let lane = &mut lanes[pi - c0];
        *lane = Lanes::empty();
        for slot in 0..PANEL {
            let row = pi * PANEL + slot;
            let out = &mut rows[slot * dim4..(slot + 1) * dim4];
            let scale = if row < n {
                let x = &stored[row * dim..(row + 1) * dim];
                match kernel {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the Vnni kernel is only chosen on CPUs with AVX-512.
                    Kernel::Vnni => unsafe { crate::int8::quantize_stored_avx512(x, out) },
                    _ => quantize_stored(x, out, codes),
                }
            } else {
                None
            };
            match scale {
                Some(s) => lane.set(slot, s, metric),
                None => {
                    out.fill(128);
                    if row < n {
                        bad.push(row);
                    }
                }
            }
        }
        pack_panel(rows, dim4, panel);
    }
}

/// Every stored row quantized, in chunks of `CHUNK_PANELS` panels: (packed panels, their lanes,
/// the rows with NaN or inf).
type Chunks = Vec<(Vec<u8>, Vec<Lanes>, Vec<usize>)>;

fn quantize_all(stored: &[f32], n: usize, dim: usize, metric: Metric, kernel: Kernel) -> Chunks {
    let dim4 = padded(dim);
    let panels = n.div_ceil(PANEL);
    map_indexed(panels.div_ceil(CHUNK_PANELS), |c| {
        let (c0, c1) = (c * CHUNK_PANELS, ((c + 1) * CHUNK_PANELS).min(panels));
        let mut packed = vec![0u8; (c1 - c0) * dim4 * PANEL];
        let mut lanes = vec![Lanes::empty(); c1 - c0];
        let mut codes = vec![0i8; dim4];
        let mut rows = vec![0u8; PANEL * dim4];
        let mut bad = Vec::new();
        let args = (
            c0,
            c1,
            &mut packed[..],
            &mut lanes[..],
            &mut codes[..],
            &mut rows[..],
            &mut bad,
        );
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Vnni {
            // SAFETY: the Vnni kernel is only chosen on CPUs with AVX-512.
            unsafe { quantize_avx512(stored, n, dim, metric, args) }
        } else {
            quantize_chunk(stored, n, dim, metric, kernel, args)
        }
        #[cfg(not(target_arch = "x86_64"))]
        quantize_chunk(stored, n, dim, metric, kernel, args);
        (packed, lanes, bad)
    })
}

/// Queries `j0..j1` (whole groups but the last) against every stored row: their exact top-k,
/// or `None` where given up.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn block(
    stored: &[f32],
    dim: usize,
    metric: Metric,
    chunks: &Chunks,
    ctx: &Ctx,
    kernel: Kernel,
    (j0, j1): (usize, usize),
) -> Vec<Option<(Vec<f64>, Vec<i64>)>> {
    let qs = ctx.qs;
    let dim4 = qs.dim4;
    // cands[i] belongs to query j0 + i
    let mut cands: Vec<Candidates> = (j0..j1).map(|_| Candidates::new(ctx.k)).collect();
    let mut scratch = Vec::new();
    let mut out = [[0i32; PANEL]; GROUP];
    for (c, (packed, lanes, bad)) in chunks.iter().enumerate() {
        checkpoint();
        for &row in bad {
            for (i, cand) in cands.iter_mut().enumerate() {
                if ctx.exclude.is_none_or(|e| e[j0 + i] != row as i64) {
                    cand.push(row, f32::NEG_INFINITY, f32::INFINITY, ctx.k, &mut scratch);
                }
            }
        }
        for (p, lane) in lanes.iter().enumerate() {
            let panel = &packed[p * dim4 * PANEL..(p + 1) * dim4 * PANEL];
            let row0 = (c * CHUNK_PANELS + p) * PANEL;
            for g in (j0..j1).step_by(GROUP) {
                let qcodes = &qs.codes[g * dim4..(g + GROUP) * dim4];
                match kernel {
                    Kernel::Scalar => {
                        panel_products_scalar(panel, qcodes, dim4, dim4, &mut out);
                        epilogue_scalar(
                            ctx,
                            &out,
                            lane,
                            g,
                            row0,
                            &mut cands[g - j0..],
                            &mut scratch,
                        );
                    }
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: chosen only when `has_vnni()`; slice sizes as documented.
                    Kernel::Vnni => unsafe {
                        crate::int8::panel_products_vnni(panel, qcodes, dim4, dim4, &mut out);
                        epilogue_avx512(
                            ctx,
                            &out,
                            lane,
                            g,
                            row0,
                            &mut cands[g - j0..],
                            &mut scratch,
                        );
                    },
                    #[cfg(not(target_arch = "x86_64"))]
                    Kernel::Vnni => unreachable!("VNNI is x86 only"),
                }
            }
        }
    }
    dispatch(
        #[inline(always)]
        || {
            let mut answers = Vec::with_capacity(j1 - j0);
            for (i, c) in cands.iter().enumerate() {
                answers.push(rescore(stored, dim, ctx.k, metric, qs, c, j0 + i));
            }
            answers
        },
    )
}

/// Compiles the quantization loop for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_avx512(stored: &[f32], n: usize, dim: usize, metric: Metric, args: Chunk) {
    quantize_chunk(stored, n, dim, metric, Kernel::Vnni, args)
}

/// Panels `c0..c1`, and where their codes, lanes, one row's codes and the NaN rows go.
type Chunk<'a> = (
    usize,
    usize,
    &'a mut [u8],
    &'a mut [Lanes],
    &'a mut [i8],
    &'a mut [u8],
    &'a mut Vec<usize>,
);

/// Queries per task: whole groups, small enough that both cores get work for a few dozen
/// queries, large enough that a task reads the stored codes once per 128 queries. The answer
/// does not depend on it (each query's candidates depend only on that query).
fn queries_per_block(q: usize) -> usize {
    (q.div_ceil(16).div_ceil(GROUP) * GROUP).clamp(GROUP, 128)
}

/// Exact top-k (as `topk::exact_topk` reports it, scores in float64) of the queries this path
/// could answer; `None` for each query it gave up on.
#[allow(clippy::type_complexity)]
pub(crate) fn search(
    stored: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
    exclude: Option<&[i64]>,
    kernel: Kernel,
) -> Result<Vec<Option<(Vec<f64>, Vec<i64>)>>> {
    let n = stored.len() / dim;
    let q = queries.len() / dim;
    check_bytes(
        &format!("the int8 codes of {n} rows and the candidates of {q} queries"),
        bytes_needed(n, q, dim, k),
    )?;
    let qs = quantize_queries(queries, q, dim)?;
    let ctx = Ctx {
        qs: &qs,
        q,
        k,
        exclude,
    };
    let chunks = quantize_all(stored, n, dim, metric, kernel);
    let per = queries_per_block(q);
    let answers = map_indexed(q.div_ceil(per), |b| {
        let span = (b * per, ((b + 1) * per).min(q));
        block(stored, dim, metric, &chunks, &ctx, kernel, span)
    });
    Ok(answers.into_iter().flatten().collect())
}

/// Query `j`'s exact top-k from its candidates.
#[inline(always)]
fn rescore(
    stored: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
    qs: &Queries,
    c: &Candidates,
    j: usize,
) -> Option<(Vec<f64>, Vec<i64>)> {
    if c.overflow {
        return None;
    }
    let mut lower = c.lower.clone();
    let threshold = if lower.len() >= k {
        let at = lower.len() - k;
        *lower.select_nth_unstable_by(at, |a, b| a.total_cmp(b)).1
    } else {
        f32::NEG_INFINITY
    };
    let query = &qs.exact[j * dim..(j + 1) * dim];
    let mut scored: Vec<(f64, usize)> = Vec::new();
    for (&row, &upper) in c.rows.iter().zip(&c.upper) {
        if upper < threshold {
            continue;
        }
        let (norm2, dot) = norm2_dot(&stored[row * dim..(row + 1) * dim], query);
        let score = match metric {
            Metric::InnerProduct => dot,
            Metric::L2 => dot - 0.5 * norm2,
        };
        if !score.is_nan() {
            scored.push((score, row));
        }
    }
    scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(k);
    let mut distances = Vec::with_capacity(k);
    let mut labels = Vec::with_capacity(k);
    for slot in 0..k {
        match scored.get(slot) {
            Some(&(s, row)) => {
                distances.push(match metric {
                    Metric::InnerProduct => s,
                    Metric::L2 => (qs.norm2[j] - 2.0 * s).max(0.0),
                });
                labels.push(row as i64);
            }
            None => {
                distances.push(match metric {
                    Metric::InnerProduct => f64::NEG_INFINITY,
                    Metric::L2 => f64::INFINITY,
                });
                labels.push(-1);
            }
        }
    }
    Some((distances, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    /// Float64 brute force over the float32 rows: (score, row) best first, ties to the lower
    /// row, NaN scores left out.
    fn brute(
        stored: &[f32],
        query: &[f32],
        dim: usize,
        k: usize,
        metric: Metric,
        skip: i64,
    ) -> Vec<i64> {
        let mut s: Vec<(f64, usize)> = stored
            .chunks(dim)
            .enumerate()
            .filter(|(i, _)| *i as i64 != skip)
            .map(|(i, x)| {
                let d: f64 = x
                    .iter()
                    .zip(query)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                let n: f64 = x.iter().map(|a| *a as f64 * *a as f64).sum();
                let score = match metric {
                    Metric::InnerProduct => d,
                    Metric::L2 => d - 0.5 * n,
                };
                (score, i)
            })
            .filter(|(s, _)| !s.is_nan())
            .collect();
        s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        s.iter().take(k).map(|&(_, i)| i as i64).collect()
    }

    fn data(n: usize, q: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = Rng::new(seed, 0);
        let mut x = vec![0.0f64; n * dim];
        let mut y = vec![0.0f64; q * dim];
        rng.normals(&mut x);
        rng.normals(&mut y);
        (
            x.iter().map(|&v| v as f32).collect(),
            y.iter().map(|&v| v as f32).collect(),
        )
    }

    fn kernels() -> Vec<Kernel> {
        let mut k = vec![Kernel::Scalar];
        if has_vnni() {
            k.push(Kernel::Vnni);
        }
        k
    }

    fn check(stored: &[f32], queries: &[f32], dim: usize, k: usize, exclude: Option<&[i64]>) {
        for kernel in kernels() {
            for metric in [Metric::InnerProduct, Metric::L2] {
                let got = search(stored, queries, dim, k, metric, exclude, kernel).unwrap();
                for (j, answer) in got.iter().enumerate() {
                    let skip = exclude.map_or(-1, |e| e[j]);
                    let want = brute(
                        stored,
                        &queries[j * dim..(j + 1) * dim],
                        dim,
                        k,
                        metric,
                        skip,
                    );
                    let (_, labels) = answer.as_ref().expect("no query given up");
                    let real: Vec<i64> = labels.iter().copied().filter(|&l| l >= 0).collect();
                    assert_eq!(real, want, "{kernel:?} {metric:?} query {j}");
                    assert_eq!(labels.len(), k);
                }
            }
        }
    }

    #[test]
    fn matches_float64_brute_force() {
        let (dim, n, q) = (23, 3000, 13);
        let (stored, queries) = data(n, q, dim, 1);
        check(&stored, &queries, dim, 7, None);
        let exclude: Vec<i64> = (0..q as i64).map(|j| j * 7).collect();
        check(&stored, &queries, dim, 3, Some(&exclude));
        // k past the rows pads with -1
        check(&stored[..5 * dim], &queries, dim, 9, None);
    }

    #[test]
    fn rows_with_nan_or_inf_and_tiny_or_huge_scales() {
        let (dim, n, q) = (17, 700, 9);
        let (mut stored, queries) = data(n, q, dim, 2);
        stored[3 * dim] = f32::NAN;
        stored[40 * dim + 2] = f32::INFINITY;
        stored[41 * dim + 2] = f32::NEG_INFINITY;
        for v in &mut stored[100 * dim..101 * dim] {
            *v *= 1e-38;
        }
        for v in &mut stored[200 * dim..201 * dim] {
            *v *= 1e30;
        }
        stored[300 * dim..301 * dim].fill(0.0);
        check(&stored, &queries, dim, 5, None);
    }

    #[test]
    fn near_ties_are_ranked_exactly_and_mass_ties_are_given_up() {
        let (dim, q) = (16, 8);
        let (mut stored, queries) = data(2000, q, dim, 3);
        // rows differing from row 0 by one unit in the last place: the int8 codes cannot tell
        // them apart, the float64 rescoring must
        for r in 1..50 {
            for l in 0..dim {
                stored[r * dim + l] = stored[l];
            }
            let at = r * dim + r % dim;
            stored[at] = if r % 2 == 0 {
                stored[at].next_up()
            } else {
                stored[at].next_down()
            };
        }
        check(&stored, &queries, dim, 10, None);
    }

    #[test]
    fn the_bound_covers_rounding_that_reverses_the_order() {
        // Rows and queries of max 127 have scale 1, so a code is the value rounded to even:
        // 10.5 -> 10 and 9.5 -> 10. Each case puts the true best row (A, row 1) behind another
        // (B, row 2) by 10 in the int8 scores while it leads by 0.5 in the true ones; without
        // the query's (first case) or the row's (second case) term of the bound, A is pruned.
        let dim = 16;
        let mut rng = Rng::new(12, 0);
        let mut filler = vec![0.0f64; 200 * dim];
        rng.normals(&mut filler);
        for (stored_ab, query) in [
            // integer rows, half-integer query: only the query rounds
            (
                [[127.0, 10.0, 0.0], [127.0, 0.0, 11.0]],
                [127.0f32, 10.5, 9.5],
            ),
            // half-integer rows, integer query: only the rows round
            (
                [[127.0, 10.5, 0.0], [127.0, 0.0, 9.5]],
                [127.0f32, 10.0, 11.0],
            ),
        ] {
            let mut stored: Vec<f32> = filler.iter().map(|&v| v as f32).collect();
            for (r, ab) in stored_ab.iter().enumerate() {
                let row = &mut stored[(r + 1) * dim..(r + 2) * dim];
                row.fill(0.0);
                row[..3].copy_from_slice(&ab.map(|v| v as f32));
            }
            let mut q = vec![0.0f32; dim];
            q[..3].copy_from_slice(&query);
            for kernel in kernels() {
                let got = search(&stored, &q, dim, 1, Metric::InnerProduct, None, kernel).unwrap();
                let (scores, labels) = got[0].as_ref().unwrap();
                assert_eq!(labels[0], 1, "{kernel:?} {query:?}");
                assert_eq!(scores[0], 127.0 * 127.0 + 105.0);
            }
        }
    }

    #[test]
    fn mass_ties_are_given_up_and_the_rest_answered_exactly() {
        // 1,500 copies of one row inside the first part (30,000 rows / 16 parts): a query whose
        // best rows are the copies cannot prune them and is given up
        let (dim, n, q) = (16, 30_000, 8);
        let (mut stored, mut queries) = data(n, q, dim, 3);
        for r in 1..1500 {
            for l in 0..dim {
                stored[r * dim + l] = stored[l];
            }
        }
        queries[..dim].copy_from_slice(&stored[..dim]);
        let got = search(
            &stored,
            &queries,
            dim,
            3,
            Metric::InnerProduct,
            None,
            Kernel::Scalar,
        )
        .unwrap();
        assert!(
            got[0].is_none(),
            "the query equal to the copies is given up"
        );
        for (j, answer) in got.iter().enumerate().skip(1) {
            if let Some((_, labels)) = answer {
                let q = &queries[j * dim..(j + 1) * dim];
                assert_eq!(*labels, brute(&stored, q, dim, 3, Metric::InnerProduct, -1));
            }
        }
    }

    #[test]
    fn the_answer_does_not_depend_on_the_thread_count() {
        let (dim, n, q) = (32, 5000, 40);
        let (stored, queries) = data(n, q, dim, 4);
        let kernel = *kernels().last().unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| search(&stored, &queries, dim, 10, Metric::L2, None, kernel).unwrap())
        };
        let one = run(1);
        let two = run(3);
        for (a, b) in one.iter().zip(&two) {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
            assert_eq!(a.1, b.1);
            assert!(a
                .0
                .iter()
                .zip(&b.0)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}
