//! The k-nearest-neighbour graph of a matrix's own rows by inner product: for every row, the `k`
//! other rows with the largest inner product with it.
//!
//! `exact_topk(x, x)` computes every score twice (row a against b, and b against a). Here each
//! pair is scored once: row block `b` (rows r0..r1) is multiplied with rows r0..n only, and every
//! score above a row's current k-th best enters that row's heap, in both directions. That is half
//! the products. Blocks fall in a fixed number of parts of about equal work; the heaps of the parts
//! are merged per row. Candidates are ordered by (score, then the lower row), a total order, so the
//! kept set does not depend on the parts or on the thread count.

use std::collections::BinaryHeap;

use faer::{Accum, MatMut, MatRef, Par};

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::pca::check_finite;
use crate::simd::{dispatch, Element};
use crate::topk::{best_of_parts, block_rows, push, Candidate};

/// Scores checked against the floors in one branch-free pass.
const CHUNK: usize = 16;
/// Parts of the blocks (run in parallel). Each part fills its own heaps from -inf, so every
/// part costs pushes: 16 parts took ~0.2 s more than 4 of a ~1 s graph at n = 10,000 (one
/// thread). The kept set does not depend on the count (a total order over exact scores).
const PARTS: usize = 4;
/// Rows of the rest multiplied with a block at once: a block's 256 x 512 float32 scores (512
/// KB) are scanned while in cache; writing all 256 x n of them first and then reading them
/// back took ~30% of the graph's time at n = 10,000.
const COLUMNS: usize = 512;

/// The first block of each part (and `blocks` at the end): block `b` scores rows b*len..n, so
/// its work falls with `b`; parts are cut at equal shares of the total work, a function of the
/// row count only.
fn part_starts(blocks: usize, parts: usize) -> Vec<usize> {
    let work: Vec<u128> = (0..blocks).map(|b| (blocks - b) as u128).collect();
    let total: u128 = work.iter().sum();
    let mut starts = vec![0];
    let mut done = 0u128;
    for (b, w) in work.iter().enumerate() {
        let target = total * starts.len() as u128 / parts as u128;
        if done >= target && b > *starts.last().unwrap_or(&0) && starts.len() < parts {
            starts.push(b);
        }
        done += w;
    }
    starts.push(blocks);
    starts
}

fn floor_of(heap: &BinaryHeap<Candidate>, k: usize) -> f64 {
    if heap.len() == k {
        heap.peek().map(|c| c.score).unwrap_or(f64::NEG_INFINITY)
    } else {
        f64::NEG_INFINITY
    }
}

/// Enters the scores of block rows r0..r0 + rows (row-major in `line`, `width` per row) against
/// rows c0..c0 + width into the heaps: row r0 + i meets row c0 + c when it is later (each pair
/// once, never a row with itself). The floors are scores of type T (or -inf), so comparing in
/// T is exact; NaN compares false and never enters.
#[inline(always)]
fn scan<T: Element>(
    line: &[T],
    (r0, rows): (usize, usize),
    (c0, width): (usize, usize),
    k: usize,
    heaps: &mut [BinaryHeap<Candidate>],
    floors: &mut [T],
) {
    for i in 0..rows {
        let row = r0 + i;
        let values = &line[i * width..(i + 1) * width];
        let mut own = floors[row];
        for start in ((row + 1).max(c0) - c0..width).step_by(CHUNK) {
            let end = (start + CHUNK).min(width);
            // Most scores beat neither floor: one branch-free pass over the chunk.
            let hit = values[start..end]
                .iter()
                .zip(&floors[c0 + start..c0 + end])
                .fold(false, |any, (v, f)| any | (*v >= *f) | (*v >= own));
            if !hit {
                continue;
            }
            for (c, &v) in values.iter().enumerate().take(end).skip(start) {
                let score = Element::f64(v);
                let other = c0 + c;
                if v >= floors[other] {
                    push(&mut heaps[other], k, Candidate { score, row });
                    floors[other] = T::from_f64(floor_of(&heaps[other], k));
                }
                if v >= own {
                    push(&mut heaps[row], k, Candidate { score, row: other });
                    own = T::from_f64(floor_of(&heaps[row], k));
                    floors[row] = own;
                }
            }
        }
    }
}

/// For every row of `x` (n x dim, row-major), its `k` nearest other rows by inner product:
/// (scores, rows), each n x k, best first, ties to the lower row. With fewer than k other rows
/// the tail is -1 with a score of -inf. A row never lists itself; NaN scores never enter.
pub fn knn_graph<T>(x: &[T], dim: usize, k: usize) -> Result<(Vec<f64>, Vec<i64>)>
where
    T: Element + faer::traits::RealField,
{
    let n = rows_of("vectors", x.len(), dim)?;
    if k == 0 {
        return Err(Error::invalid("k", "must be at least 1"));
    }
    check_finite("vectors", x, dim)?;
    let block_len = block_rows(n, std::mem::size_of::<T>());
    let blocks = n.div_ceil(block_len);
    let starts = part_starts(blocks, PARTS.min(blocks.max(1)));
    let parts = starts.len() - 1;
    let slots = product("k x rows", n, k)?;
    let kept = (n as u128) * ((k as u128 + 1) * parts as u128);
    // per part at work: one slice of scores and the floors
    let at_work = (parts as u128).min(2);
    check_bytes(
        &format!("the {k}-nearest-neighbour graph of {n} rows"),
        bytes_of::<f64>(2 * slots as u128)
            + bytes_of::<Candidate>(kept)
            + bytes_of::<T>(at_work * (block_len as u128 * COLUMNS as u128 + n as u128)),
    )?;
    let heaps_per_part = map_indexed(parts, |p| {
        // Heaps grow on demand: rows above the part's blocks never receive a candidate.
        let mut heaps: Vec<BinaryHeap<Candidate>> = (0..n).map(|_| BinaryHeap::new()).collect();
        // floors[j]: the k-th best score kept for row j (-inf until k are), in T
        let mut floors = vec![T::from_f64(f64::NEG_INFINITY); n];
        let mut line = vec![T::from_f64(0.0); block_len * COLUMNS];
        for b in starts[p]..starts[p + 1] {
            let (r0, r1) = (b * block_len, ((b + 1) * block_len).min(n));
            let rows = r1 - r0;
            let block = MatRef::from_row_major_slice(&x[r0 * dim..r1 * dim], rows, dim);
            // the rows r0..n in slices of COLUMNS, each scanned while its scores are in cache
            for c0 in (r0..n).step_by(COLUMNS) {
                crate::cancel::checkpoint();
                let c1 = (c0 + COLUMNS).min(n);
                let width = c1 - c0;
                let later = MatRef::from_row_major_slice(&x[c0 * dim..c1 * dim], width, dim);
                let s = MatMut::from_row_major_slice_mut(&mut line[..rows * width], rows, width);
                faer::linalg::matmul::matmul(
                    s,
                    Accum::Replace,
                    block,
                    later.transpose(),
                    T::from_f64(1.0),
                    Par::Seq,
                );
                dispatch(
                    #[inline(always)]
                    || {
                        scan(
                            &line[..rows * width],
                            (r0, rows),
                            (c0, width),
                            k,
                            &mut heaps,
                            &mut floors,
                        )
                    },
                );
            }
        }
        heaps
    });
    let mut scores = filled("the graph's scores", slots, f64::NEG_INFINITY)?;
    let mut labels = filled("the graph's rows", slots, -1i64)?;
    for j in 0..n {
        for (slot, c) in best_of_parts(&heaps_per_part, j, k).iter().enumerate() {
            scores[j * k + slot] = c.score;
            labels[j * k + slot] = c.row as i64;
        }
    }
    Ok((scores, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;
    use crate::topk::{exact_topk, Metric};

    #[test]
    fn parts_cover_every_block_once_in_order() {
        for blocks in [1, 2, 5, 16, 17, 40, 1000] {
            let starts = part_starts(blocks, PARTS.min(blocks));
            assert_eq!(starts[0], 0);
            assert_eq!(*starts.last().unwrap(), blocks);
            assert!(
                starts.windows(2).all(|w| w[0] < w[1]),
                "{blocks}: {starts:?}"
            );
            assert!(starts.len() - 1 <= PARTS);
        }
    }

    #[test]
    fn equals_exact_topk_of_the_rows_against_themselves() {
        // 700 rows: several 256-row blocks (blocks shrink to 256 rows for many queries)
        for (n, dim, k) in [
            (700usize, 6usize, 5usize),
            (3, 2, 5),
            (1, 3, 2),
            (300, 4, 1),
        ] {
            let mut rng = Rng::new(5 + n as u64, 0);
            let mut x = vec![0.0f64; n * dim];
            rng.normals(&mut x);
            let exclude: Vec<i64> = (0..n as i64).collect();
            let (s0, l0) =
                exact_topk(&x, &x, dim, k, Metric::InnerProduct, Some(&exclude)).unwrap();
            let (s1, l1) = knn_graph(&x, dim, k).unwrap();
            assert_eq!(l0, l1, "n={n}");
            for (a, b) in s0.iter().zip(&s1) {
                assert!(
                    a == b || (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn float32_across_blocks_and_slices_equals_a_float64_search() {
        // small integers: every float32 product is exact, so the float64 search is the answer,
        // ties included; 1,300 rows: 6 blocks, each scored against 512-row slices of the rest
        let (n, dim, k) = (1300usize, 9usize, 6usize);
        let mut rng = Rng::new(17, 0);
        let mut x = vec![0.0f64; n * dim];
        rng.normals(&mut x);
        let x: Vec<f64> = x.iter().map(|v| (v * 1.5).round()).collect();
        let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
        let exclude: Vec<i64> = (0..n as i64).collect();
        let (s0, l0) = exact_topk(&x, &x, dim, k, Metric::InnerProduct, Some(&exclude)).unwrap();
        let (s1, l1) = knn_graph(&x32, dim, k).unwrap();
        assert_eq!(l0, l1);
        assert_eq!(s0, s1);
    }

    #[test]
    fn ties_go_to_the_lower_row() {
        // rows 1..=4 are the same vector; every pair of rows scores 0.5
        let x = [1.0f32, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
        let (s, l) = knn_graph(&x, 2, 2).unwrap();
        assert_eq!(s, vec![0.5; 10]);
        // the lowest rows first, never the row itself
        assert_eq!(l, vec![1, 2, 0, 2, 0, 1, 0, 1, 0, 1]);
        assert!(knn_graph(&x, 2, 0).is_err());
        assert!(knn_graph(&[1.0f32, f32::NAN], 2, 1).is_err());
    }
}
