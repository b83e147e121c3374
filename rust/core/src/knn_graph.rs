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

use faer::{Accum, Mat, MatRef, Par};

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::pca::check_finite;
use crate::simd::Element;
use crate::topk::{best_of_parts, block_rows, push, Candidate, PARTS};

/// Scores checked against the floors in one branch-free pass.
const CHUNK: usize = 16;

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
    let scratch = (parts as u128) * (block_len as u128) * (n as u128);
    check_bytes(
        &format!("the {k}-nearest-neighbour graph of {n} rows"),
        bytes_of::<f64>(2 * slots as u128)
            + bytes_of::<Candidate>(kept)
            + bytes_of::<T>(scratch.min(2 * n as u128 * block_len as u128)),
    )?;
    let heaps_per_part = map_indexed(parts, |p| {
        // Heaps grow on demand: rows above the part's blocks never receive a candidate.
        let mut heaps: Vec<BinaryHeap<Candidate>> = (0..n).map(|_| BinaryHeap::new()).collect();
        let mut scores = Mat::<T>::zeros(block_len, n);
        let mut row_floor = vec![T::from_f64(f64::NEG_INFINITY); block_len];
        for b in starts[p]..starts[p + 1] {
            crate::cancel::checkpoint();
            let (r0, r1) = (b * block_len, ((b + 1) * block_len).min(n));
            let rows = r1 - r0;
            let block = MatRef::from_row_major_slice(&x[r0 * dim..r1 * dim], rows, dim);
            let later = MatRef::from_row_major_slice(&x[r0 * dim..], n - r0, dim);
            let mut s = scores.as_mut().submatrix_mut(0, 0, rows, n - r0);
            faer::linalg::matmul::matmul(
                &mut s,
                Accum::Replace,
                block,
                later.transpose(),
                T::from_f64(1.0),
                Par::Seq,
            );
            let floor_of = |heap: &BinaryHeap<Candidate>| {
                if heap.len() == k {
                    heap.peek().map(|c| c.score).unwrap_or(f64::NEG_INFINITY)
                } else {
                    f64::NEG_INFINITY
                }
            };
            for (i, f) in row_floor.iter_mut().enumerate().take(rows) {
                *f = T::from_f64(floor_of(&heaps[r0 + i]));
            }
            // Column c is row r0 + c; it meets the block's rows i < c (each pair once, never a
            // row with itself). The floors are scores of type T (or -inf), so comparing in T is
            // exact; NaN compares false and never enters.
            let s = s.as_ref();
            let mut copied: Vec<T> = Vec::new();
            for c in 1..n - r0 {
                let upto = rows.min(c);
                let values: &[T] = match s.col(c).try_as_col_major() {
                    Some(col) => &col.as_slice()[..upto],
                    None => {
                        copied.clear();
                        copied.extend((0..upto).map(|i| s[(i, c)]));
                        &copied
                    }
                };
                let other = r0 + c;
                let mut floor = T::from_f64(floor_of(&heaps[other]));
                for start in (0..upto).step_by(CHUNK) {
                    let end = (start + CHUNK).min(upto);
                    // Most scores beat neither floor: one branch-free pass over the chunk.
                    let hit = values[start..end]
                        .iter()
                        .zip(&row_floor[start..end])
                        .fold(false, |any, (v, f)| any | (*v >= floor) | (*v >= *f));
                    if !hit {
                        continue;
                    }
                    for (i, &v) in values.iter().enumerate().take(end).skip(start) {
                        let score = Element::f64(v);
                        let row = r0 + i;
                        if v >= floor {
                            push(&mut heaps[other], k, Candidate { score, row });
                            floor = T::from_f64(floor_of(&heaps[other]));
                        }
                        if v >= row_floor[i] {
                            push(&mut heaps[row], k, Candidate { score, row: other });
                            row_floor[i] = T::from_f64(floor_of(&heaps[row]));
                        }
                    }
                }
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
