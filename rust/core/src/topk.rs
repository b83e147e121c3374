//! Exact top-k search over a matrix of stored vectors: the yardstick the index auditor measures
//! ANN recall against. Inner product (larger is closer) or squared L2 (smaller is closer).
//!
//! Stored rows are taken in blocks of up to 4,096 (fewer for large query batches); each block's scores against every query come
//! from one faer product (block x queries, column-major, so each query's scores are contiguous)
//! and only scores that beat a query's current k-th best enter its heap. Blocks are grouped in a
//! fixed number of parts whose heaps are merged in part order, and ties go to the lower row, so
//! the result does not depend on the thread count.
//!
//! Float32 calls large enough to pay for it go instead through the int8 prefilter of
//! `topk_int8.rs` on CPUs with AVX-512 VNNI: the same top-k, with float64 scores.

use std::any::TypeId;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use faer::{Accum, Mat, MatRef, Par};

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::pca::check_finite;
use crate::simd::{dispatch, norm2, Element};
use crate::topk_int8;

const BLOCK: usize = 4096;
/// Bytes of one block's score matrix. Blocks shrink for large query batches so that the
/// per-part scratch stays small: 8 MB buffers per part were kept by the allocator and grew the
/// resident set by ~130 MB over a 1e6-row search (measured), for no speed.
const SCORE_BYTES: usize = 2 << 20;

/// Rows per block: a function of the query count and type only, never of the thread count.
pub(crate) fn block_rows(queries: usize, item: usize) -> usize {
    let rows = SCORE_BYTES / (queries.max(1) * item);
    (rows / 64 * 64).clamp(256, BLOCK)
}
pub(crate) const PARTS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    InnerProduct,
    L2,
}

impl Metric {
    pub fn parse(text: &str) -> Result<Metric> {
        match text {
            "ip" | "inner_product" => Ok(Metric::InnerProduct),
            "l2" => Ok(Metric::L2),
            other => Err(Error::invalid(
                "metric",
                format!("must be \"ip\" or \"l2\", got {other:?}"),
            )),
        }
    }
}

/// A candidate: `key` orders candidates so that the heap's top is the worst kept one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    /// Larger is better: the inner product, or for L2 `x.q - |x|^2 / 2`.
    pub(crate) score: f64,
    pub(crate) row: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// "Greater" = worse: lower score, then higher row. A max-heap then pops the worst.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.row.cmp(&other.row))
    }
}

/// Row `j`'s k best candidates over the parts' heaps, best first (the order and tie rule of
/// `Candidate`), so the result does not depend on how the rows were split into parts.
pub(crate) fn best_of_parts(
    parts: &[Vec<BinaryHeap<Candidate>>],
    j: usize,
    k: usize,
) -> Vec<Candidate> {
    // sized by what the parts hold, never by k alone (k may exceed the rows)
    let held: usize = parts.iter().map(|part| part[j].len()).sum();
    let mut heap = BinaryHeap::with_capacity(held.min(k) + 1);
    for part in parts {
        for c in part[j].iter() {
            push(&mut heap, k, *c);
        }
    }
    let mut best = heap.into_sorted_vec(); // ascending by "worse": best first
    best.truncate(k);
    best
}

pub(crate) fn push(heap: &mut BinaryHeap<Candidate>, k: usize, c: Candidate) {
    if heap.len() < k {
        heap.push(c);
    } else if let Some(worst) = heap.peek() {
        if c < *worst {
            heap.pop();
            heap.push(c);
        }
    }
}

/// `|x|^2 / 2` of every row, in a plain loop so `dispatch` compiles it with FMA (see rows.rs).
#[inline(always)]
fn half_norms_of<T: Element>(block: &[T], dim: usize, out: &mut Vec<T>) {
    for row in block.chunks_exact(dim) {
        out.push(T::from_f64(0.5 * norm2(row)));
    }
}

/// The `k` nearest stored rows of every query: (distances or similarities, row indices), each
/// `queries x k`, best first; rows listed in `exclude[q]` (say, the query's own row) are
/// skipped. Fewer than `k` stored rows leave the tail at -1 with a distance of +inf (L2) or
/// -inf (IP), as faiss does.
pub fn exact_topk<T>(
    stored: &[T],
    queries: &[T],
    dim: usize,
    k: usize,
    metric: Metric,
    exclude: Option<&[i64]>,
) -> Result<(Vec<f64>, Vec<i64>)>
where
    T: Element + faer::traits::RealField,
{
    let n = rows_of("index", stored.len(), dim)?;
    let q = rows_of("queries", queries.len(), dim)?;
    if k == 0 {
        return Err(Error::invalid("k", "must be at least 1"));
    }
    if let Some(ex) = exclude {
        if ex.len() != q {
            return Err(Error::invalid(
                "exclude",
                format!("has {} entries for {q} queries", ex.len()),
            ));
        }
    }
    check_finite("queries", queries, dim)?;
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        if let Some(kernel) = topk_int8::choose(n, q, dim, k) {
            // SAFETY: T is f32 (checked above), so the slices are f32 slices.
            let (stored, queries) = unsafe {
                (
                    std::slice::from_raw_parts(stored.as_ptr() as *const f32, stored.len()),
                    std::slice::from_raw_parts(queries.as_ptr() as *const f32, queries.len()),
                )
            };
            return through_int8(stored, queries, dim, k, metric, exclude, kernel);
        }
    }
    products(stored, queries, dim, k, metric, exclude)
}

/// `exact_topk` through the int8 prefilter (scores exact in float64); the queries it gives up
/// on (rows tied past its candidate cap) go through the float32 products.
pub(crate) fn through_int8(
    stored: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
    exclude: Option<&[i64]>,
    kernel: topk_int8::Kernel,
) -> Result<(Vec<f64>, Vec<i64>)> {
    let answers = topk_int8::search(stored, queries, dim, k, metric, exclude, kernel)?;
    let given_up: Vec<usize> = (0..answers.len())
        .filter(|&j| answers[j].is_none())
        .collect();
    let mut rest = None;
    if !given_up.is_empty() {
        let sub: Vec<f32> = given_up
            .iter()
            .flat_map(|&j| queries[j * dim..(j + 1) * dim].iter().copied())
            .collect();
        let sub_exclude: Option<Vec<i64>> =
            exclude.map(|e| given_up.iter().map(|&j| e[j]).collect());
        rest = Some(products(
            stored,
            &sub,
            dim,
            k,
            metric,
            sub_exclude.as_deref(),
        )?);
    }
    let slots = product("k x queries", answers.len(), k)?;
    let mut distances = filled("the top-k distances", slots, 0.0f64)?;
    let mut labels = filled("the top-k labels", slots, -1i64)?;
    let mut next = 0;
    for (j, answer) in answers.into_iter().enumerate() {
        let (d, l) = match answer {
            Some((d, l)) => (d, l),
            None => {
                let (rd, rl) = rest.as_ref().expect("the given-up queries were searched");
                let at = next * k;
                next += 1;
                (rd[at..at + k].to_vec(), rl[at..at + k].to_vec())
            }
        };
        distances[j * k..(j + 1) * k].copy_from_slice(&d);
        labels[j * k..(j + 1) * k].copy_from_slice(&l);
    }
    Ok((distances, labels))
}

/// `exact_topk` through faer's float products: scores in the stored type.
fn products<T>(
    stored: &[T],
    queries: &[T],
    dim: usize,
    k: usize,
    metric: Metric,
    exclude: Option<&[i64]>,
) -> Result<(Vec<f64>, Vec<i64>)>
where
    T: Element + faer::traits::RealField,
{
    let n = stored.len() / dim;
    let q = queries.len() / dim;
    let query_norms: Vec<f64> = queries.chunks_exact(dim).map(norm2).collect();
    let block_len = block_rows(q, std::mem::size_of::<T>());
    let blocks = n.div_ceil(block_len);
    let parts = PARTS.min(blocks.max(1));
    // The answer (distance and label per query and k) and the heaps, which together hold at
    // most min(k per part, n) candidates per query.
    let slots = product("k x queries", q, k)?;
    let kept = (q as u128) * ((k as u128 * parts as u128).min(n as u128));
    check_bytes(
        &format!("exact top-k of k={k} for {q} queries over {n} rows"),
        bytes_of::<f64>(2 * slots as u128) + bytes_of::<Candidate>(kept),
    )?;
    let qmat = MatRef::from_row_major_slice(queries, q, dim);
    let heaps_per_part = map_indexed(parts, |p| {
        let (b0, b1) = (p * blocks / parts, (p + 1) * blocks / parts);
        // A heap never holds more than its part's rows.
        let room = k.min((b1 - b0) * block_len) + 1;
        let mut heaps: Vec<BinaryHeap<Candidate>> =
            (0..q).map(|_| BinaryHeap::with_capacity(room)).collect();
        let mut scores = Mat::<T>::zeros(block_len, q);
        for b in b0..b1 {
            crate::cancel::checkpoint();
            let (r0, r1) = (b * block_len, ((b + 1) * block_len).min(n));
            let rows = r1 - r0;
            let block = &stored[r0 * dim..r1 * dim];
            let x = MatRef::from_row_major_slice(block, rows, dim);
            let mut s = scores.as_mut().subrows_mut(0, rows);
            faer::linalg::matmul::matmul(
                &mut s,
                Accum::Replace,
                x,
                qmat.transpose(),
                T::from_f64(1.0),
                Par::Seq,
            );
            // L2 ranks by dot - |x|^2 / 2 (the query's own norm is a constant per query).
            let half_norms: Vec<T> = match metric {
                Metric::L2 => {
                    let mut half = Vec::with_capacity(rows);
                    dispatch(
                        #[inline(always)]
                        || half_norms_of(block, dim, &mut half),
                    );
                    half
                }
                Metric::InnerProduct => Vec::new(),
            };
            for (j, heap) in heaps.iter_mut().enumerate() {
                let skip = exclude.map(|e| e[j]).unwrap_or(-1);
                // A Mat's columns are contiguous; the copy is only a fallback should faer ever
                // hand out a strided one.
                let mut copied: Vec<T>;
                let values: &mut [T] = match s.as_mut().col_mut(j).try_as_col_major_mut() {
                    Some(c) => c.as_slice_mut(),
                    None => {
                        copied = (0..rows).map(|i| s[(i, j)]).collect();
                        &mut copied
                    }
                };
                if metric == Metric::L2 {
                    for (v, h) in values.iter_mut().zip(&half_norms) {
                        *v -= *h;
                    }
                }
                // Most rows lose to the current k-th best: one compare each, in the block's type.
                let mut threshold = if heap.len() == k {
                    heap.peek().map(|c| c.score).unwrap_or(f64::NEG_INFINITY)
                } else {
                    f64::NEG_INFINITY
                };
                for (i, &v) in values.iter().enumerate() {
                    let score = Element::f64(v);
                    // NaN scores (NaN stored vectors) never enter.
                    if score.is_nan() || score < threshold || (r0 + i) as i64 == skip {
                        continue;
                    }
                    push(heap, k, Candidate { score, row: r0 + i });
                    if heap.len() == k {
                        threshold = heap.peek().map(|c| c.score).unwrap_or(threshold);
                    }
                }
            }
        }
        heaps
    });
    let mut distances = filled("the top-k distances", slots, 0.0f64)?;
    let mut labels = filled("the top-k labels", slots, -1i64)?;
    for j in 0..q {
        let best = best_of_parts(&heaps_per_part, j, k);
        for slot in 0..k {
            let (d, l) = match best.get(slot) {
                Some(c) => (
                    match metric {
                        Metric::InnerProduct => c.score,
                        Metric::L2 => (query_norms[j] - 2.0 * c.score).max(0.0),
                    },
                    c.row as i64,
                ),
                None => (
                    match metric {
                        Metric::InnerProduct => f64::NEG_INFINITY,
                        Metric::L2 => f64::INFINITY,
                    },
                    -1,
                ),
            };
            distances[j * k + slot] = d;
            labels[j * k + slot] = l;
        }
    }
    Ok((distances, labels))
}

/// Queries per task in `nearest`: fixed, so the answer does not depend on the thread count.
const QUERY_CHUNK: usize = 1024;

/// The nearest stored row of every query (top-1 of `exact_topk`): (score, row) per query, the
/// score as `exact_topk` reports it (inner product, or squared L2 distance). Queries are cut in
/// fixed chunks of `QUERY_CHUNK` run in parallel, each through `exact_topk`: a large query batch
/// against few stored rows (k-means centroids) keeps every core busy and its scratch small.
pub fn nearest<T>(
    stored: &[T],
    queries: &[T],
    dim: usize,
    metric: Metric,
) -> Result<(Vec<f64>, Vec<i64>)>
where
    T: Element + faer::traits::RealField,
{
    let n = rows_of("index", stored.len(), dim)?;
    let q = rows_of("queries", queries.len(), dim)?;
    if n == 0 {
        return Err(Error::invalid("index", "has no rows"));
    }
    check_bytes(
        &format!("the nearest row of {q} queries"),
        bytes_of::<f64>(2 * q as u128),
    )?;
    let chunks = q.div_ceil(QUERY_CHUNK);
    let chunk = |c: usize| {
        let (a, b) = (c * QUERY_CHUNK, ((c + 1) * QUERY_CHUNK).min(q));
        exact_topk(stored, &queries[a * dim..b * dim], dim, 1, metric, None)
    };
    // One parallel level only (nested rayon jobs cost a lot on a loaded machine): across the
    // stored blocks inside `exact_topk` when there are several (eval sets), else across query
    // chunks (k-means centroids fit in one block). Either way the same chunks, the same answer.
    let parts: Vec<_> = if n > block_rows(QUERY_CHUNK.min(q), std::mem::size_of::<T>()) {
        (0..chunks).map(chunk).collect()
    } else {
        map_indexed(chunks, chunk)
    };
    let mut scores = Vec::with_capacity(q);
    let mut rows = Vec::with_capacity(q);
    for part in parts {
        let (s, r) = part?;
        scores.extend(s);
        rows.extend(r);
    }
    Ok((scores, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    fn brute(stored: &[f64], queries: &[f64], dim: usize, k: usize, metric: Metric) -> Vec<i64> {
        let n = stored.len() / dim;
        queries
            .chunks(dim)
            .flat_map(|qv| {
                let mut scored: Vec<(f64, usize)> = (0..n)
                    .map(|i| {
                        let x = &stored[i * dim..(i + 1) * dim];
                        let s = match metric {
                            Metric::InnerProduct => x.iter().zip(qv).map(|(a, b)| a * b).sum(),
                            Metric::L2 => -x
                                .iter()
                                .zip(qv)
                                .map(|(a, b)| (a - b) * (a - b))
                                .sum::<f64>(),
                        };
                        (s, i)
                    })
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                scored
                    .into_iter()
                    .take(k)
                    .map(|(_, i)| i as i64)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_across_blocks() {
        let dim = 5;
        let mut rng = Rng::new(2, 0);
        let mut stored = vec![0.0; 9000 * dim];
        let mut queries = vec![0.0; 7 * dim];
        rng.normals(&mut stored);
        rng.normals(&mut queries);
        for metric in [Metric::InnerProduct, Metric::L2] {
            let (_, labels) = exact_topk(&stored, &queries, dim, 10, metric, None).unwrap();
            assert_eq!(
                labels,
                brute(&stored, &queries, dim, 10, metric),
                "{metric:?}"
            );
        }
        let exclude: Vec<i64> = (0..7)
            .map(|j| labels_first(&stored, &queries, dim, j))
            .collect();
        let (_, labels) =
            exact_topk(&stored, &queries, dim, 3, Metric::L2, Some(&exclude)).unwrap();
        for j in 0..7 {
            assert!(!labels[j * 3..(j + 1) * 3].contains(&exclude[j]));
        }
    }

    #[test]
    fn many_queries_use_smaller_blocks_and_still_match() {
        let dim = 3;
        let mut rng = Rng::new(4, 0);
        let mut stored = vec![0.0; 2000 * dim];
        let mut queries = vec![0.0; 600 * dim];
        rng.normals(&mut stored);
        rng.normals(&mut queries);
        assert!(block_rows(600, 8) < 2000);
        let (_, labels) = exact_topk(&stored, &queries, dim, 4, Metric::L2, None).unwrap();
        assert_eq!(labels, brute(&stored, &queries, dim, 4, Metric::L2));
    }

    fn labels_first(stored: &[f64], queries: &[f64], dim: usize, j: usize) -> i64 {
        brute(stored, &queries[j * dim..(j + 1) * dim], dim, 1, Metric::L2)[0]
    }

    #[test]
    fn nearest_is_the_top_one_across_query_chunks() {
        let dim = 4;
        let mut rng = Rng::new(9, 0);
        let mut stored = vec![0.0; 300 * dim];
        let mut queries = vec![0.0; 2500 * dim];
        rng.normals(&mut stored);
        rng.normals(&mut queries);
        for metric in [Metric::InnerProduct, Metric::L2] {
            let (s, l) = nearest(&stored, &queries, dim, metric).unwrap();
            let (s1, l1) = exact_topk(&stored, &queries, dim, 1, metric, None).unwrap();
            assert_eq!(l, l1);
            assert_eq!(l, brute(&stored, &queries, dim, 1, metric));
            for (a, b) in s.iter().zip(&s1) {
                assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()));
            }
        }
        assert!(nearest(&stored[..0], &queries, dim, Metric::L2).is_err());
    }

    #[test]
    fn short_index_pads_like_faiss() {
        let stored = [1.0f32, 0.0, 0.0, 1.0];
        let queries = [1.0f32, 0.1];
        let (d, l) = exact_topk(&stored, &queries, 2, 3, Metric::L2, None).unwrap();
        assert_eq!(l, vec![0, 1, -1]);
        assert!((d[0] - 0.01).abs() < 1e-6 && d[2].is_infinite());
    }
}
