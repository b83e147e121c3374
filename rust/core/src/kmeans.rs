//! Deterministic k-means (Lloyd's iterations) for clustering production traffic in eval
//! coverage ("where are the gaps").
//!
//! Written here rather than taken from faiss: faiss is only an optional extra of undertow, and
//! its k-means sums centroids in per-thread partials, so its answer depends on the thread
//! count. Here: k-means++ seeding from the seeded `Rng` (a seed means the same centroids on
//! every platform and version), assignment through the exact top-1 search kernel
//! (`topk::nearest`, blocked faer products, the one GEMM kernel of the crate), and centroid sums
//! in f64 per cluster over its rows in row order. Every reduction has a fixed order, so the
//! result is bit-identical for any thread count.

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::pca::check_finite;
use crate::random::Rng;
use crate::simd::{axpy, Element};
use crate::topk::{nearest, Metric};

/// The RNG stream of k-means++ seeding (distinct from the other users of a seed).
const STREAM_KMEANS: u64 = 0x6B6D;
/// Rows per task when updating squared distances during seeding (fixed: thread-independent).
const ROW_CHUNK: usize = 2048;

#[derive(Clone, Debug)]
pub struct KMeans {
    /// `k x dim`, row-major: the centroids the assignment below was computed against.
    pub centroids: Vec<f64>,
    /// The nearest centroid of every row (ties to the lower centroid).
    pub assignment: Vec<i64>,
    /// The squared L2 distance of every row to its centroid.
    pub distances: Vec<f64>,
    /// The sum of `distances`, in row order.
    pub inertia: f64,
    /// Centroid updates made (0 when the initial centroids were already stable).
    pub iterations: usize,
    /// True when the last assignment equals the one before it (a fixed point of Lloyd).
    pub converged: bool,
}

/// k-means of the rows of `data` (`dim` columns) into `k` clusters: k-means++ seeding from
/// `seed` (or the given `init` centroids, `k x dim`), then at most `max_iter` Lloyd updates,
/// stopping when no row changes cluster. An emptied cluster is re-seeded at the row farthest
/// from its centroid (ties to the lower row), so every cluster keeps at least one row.
pub fn kmeans<T>(
    data: &[T],
    dim: usize,
    k: usize,
    max_iter: usize,
    seed: u64,
    init: Option<&[f64]>,
) -> Result<KMeans>
where
    T: Element + faer::traits::RealField,
{
    let n = rows_of("x", data.len(), dim)?;
    if k == 0 {
        return Err(Error::invalid("k", "must be at least 1"));
    }
    if n < k {
        return Err(Error::invalid(
            "k",
            format!("{k} clusters need at least {k} rows, got {n}"),
        ));
    }
    check_finite("x", data, dim)?;
    let cells = product("k x dim centroids", k, dim)?;
    // Centroids (f64 and T), per-row assignment, distances and cluster lists, seeding distances.
    check_bytes(
        &format!("k-means of {n} rows into {k} clusters"),
        bytes_of::<f64>(2 * cells as u128) + bytes_of::<f64>(4 * n as u128),
    )?;
    let mut centroids = match init {
        Some(c) => {
            if c.len() != cells {
                return Err(Error::invalid(
                    "init",
                    format!(
                        "has {} values, {k} centroids of {dim} need {cells}",
                        c.len()
                    ),
                ));
            }
            check_finite("init", c, dim)?;
            c.to_vec()
        }
        None => plus_plus(data, dim, n, k, seed)?,
    };
    let mut previous: Option<Vec<i64>> = None;
    let mut iterations = 0;
    loop {
        crate::cancel::checkpoint();
        let cast: Vec<T> = centroids.iter().map(|&v| T::from_f64(v)).collect();
        let (distances, assignment) = nearest(&cast, data, dim, Metric::L2)?;
        let converged = previous.as_ref() == Some(&assignment);
        if converged || iterations >= max_iter {
            let inertia = distances.iter().sum();
            return Ok(KMeans {
                centroids,
                assignment,
                distances,
                inertia,
                iterations,
                converged,
            });
        }
        centroids = update(data, dim, k, &assignment, &distances)?;
        previous = Some(assignment);
        iterations += 1;
    }
}

/// Squared L2 distance in f64, summed in dimension order.
fn squared_distance<T: Element>(x: &[T], c: &[f64]) -> f64 {
    x.iter()
        .zip(c)
        .map(|(&a, &b)| {
            let d = a.f64() - b;
            d * d
        })
        .sum()
}

/// k-means++ seeding: the first centroid uniform, each next one a row drawn with probability
/// proportional to its squared distance to the nearest centroid so far.
fn plus_plus<T: Element>(
    data: &[T],
    dim: usize,
    n: usize,
    k: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    let mut rng = Rng::new(seed, STREAM_KMEANS);
    let mut centroids = filled("the k-means centroids", k * dim, 0.0f64)?;
    let mut nearest_d2 = filled("the k-means++ distances", n, f64::INFINITY)?;
    let mut pick = rng.below(n as u64) as usize;
    for j in 0..k {
        crate::cancel::checkpoint();
        let center: Vec<f64> = data[pick * dim..(pick + 1) * dim]
            .iter()
            .map(|v| v.f64())
            .collect();
        centroids[j * dim..(j + 1) * dim].copy_from_slice(&center);
        if j + 1 == k {
            break;
        }
        let center = &center;
        let chunks = map_indexed(n.div_ceil(ROW_CHUNK), |t| {
            let (a, b) = (t * ROW_CHUNK, ((t + 1) * ROW_CHUNK).min(n));
            data[a * dim..b * dim]
                .chunks_exact(dim)
                .map(|row| squared_distance(row, center))
                .collect::<Vec<f64>>()
        });
        for (t, chunk) in chunks.into_iter().enumerate() {
            for (i, d) in chunk.into_iter().enumerate() {
                let slot = &mut nearest_d2[t * ROW_CHUNK + i];
                *slot = slot.min(d);
            }
        }
        let total: f64 = nearest_d2.iter().sum();
        pick = if total > 0.0 && total.is_finite() {
            let target = rng.uniform() * total;
            let mut running = 0.0;
            let mut chosen = None;
            for (i, &d) in nearest_d2.iter().enumerate() {
                running += d;
                if d > 0.0 && running > target {
                    chosen = Some(i);
                    break;
                }
            }
            // Rounding can leave `running` a hair below `target`: take the last row with mass.
            chosen.unwrap_or_else(|| nearest_d2.iter().rposition(|&d| d > 0.0).unwrap_or(0))
        } else {
            // Every row sits on a centroid already: duplicates are re-seeded in `update`.
            rng.below(n as u64) as usize
        };
    }
    Ok(centroids)
}

/// The mean of each cluster's rows (f64, in row order); an empty cluster takes the row
/// farthest from its centroid that no other emptied cluster took.
fn update<T: Element>(
    data: &[T],
    dim: usize,
    k: usize,
    assignment: &[i64],
    distances: &[f64],
) -> Result<Vec<f64>> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (row, &c) in assignment.iter().enumerate() {
        if let Some(list) = usize::try_from(c).ok().and_then(|c| members.get_mut(c)) {
            list.push(row);
        }
    }
    let members = &members;
    let means = map_indexed(k, |j| {
        let rows = &members[j];
        if rows.is_empty() {
            return None;
        }
        let mut sum = vec![0.0f64; dim];
        for &row in rows {
            axpy(&mut sum, &data[row * dim..(row + 1) * dim], 1.0);
        }
        let scale = 1.0 / rows.len() as f64;
        Some(sum.into_iter().map(|v| v * scale).collect::<Vec<f64>>())
    });
    let mut centroids = Vec::with_capacity(k * dim);
    let mut taken: Vec<usize> = Vec::new();
    for mean in means {
        match mean {
            Some(m) => centroids.extend(m),
            None => {
                let far = (0..assignment.len())
                    .filter(|r| !taken.contains(r))
                    .fold(None::<usize>, |best, r| match best {
                        Some(b) if distances[b] >= distances[r] => Some(b),
                        _ => Some(r),
                    })
                    .unwrap_or(0);
                taken.push(far);
                centroids.extend(data[far * dim..(far + 1) * dim].iter().map(|v| v.f64()));
            }
        }
    }
    Ok(centroids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(per: usize, dim: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed, 1);
        let mut out = vec![0.0; 3 * per * dim];
        rng.normals(&mut out);
        for (i, v) in out.iter_mut().enumerate() {
            let blob = i / (per * dim);
            *v = *v * 0.1
                + if i % dim == 0 {
                    10.0 * blob as f64
                } else {
                    0.0
                };
        }
        out
    }

    #[test]
    fn separates_three_blobs_and_reaches_a_fixed_point() {
        let (per, dim) = (200, 3);
        let x = blobs(per, dim, 5);
        let fit = kmeans(&x, dim, 3, 50, 7, None).unwrap();
        assert!(fit.converged);
        for b in 0..3 {
            let first = fit.assignment[b * per];
            assert!(fit.assignment[b * per..(b + 1) * per]
                .iter()
                .all(|&a| a == first));
        }
        // The inertia is the sum of the distances, each the squared distance to its centroid.
        let sum: f64 = fit.distances.iter().sum();
        assert_eq!(fit.inertia, sum);
        for (row, &c) in fit.assignment.iter().enumerate() {
            let c = c as usize;
            let d = squared_distance(
                &x[row * dim..(row + 1) * dim],
                &fit.centroids[c * dim..(c + 1) * dim],
            );
            assert!((d - fit.distances[row]).abs() < 1e-9);
        }
    }

    #[test]
    fn same_seed_same_answer_other_seed_may_differ() {
        let x = blobs(100, 4, 3);
        let a = kmeans(&x, 4, 5, 20, 1, None).unwrap();
        let b = kmeans(&x, 4, 5, 20, 1, None).unwrap();
        assert_eq!(a.centroids, b.centroids);
        assert_eq!(a.assignment, b.assignment);
    }

    #[test]
    fn empty_clusters_are_reseeded_and_bad_input_refused() {
        // Two identical init centroids: the second gets no rows and is moved to the farthest row.
        let x = [0.0f64, 0.0, 1.0, 0.0, 10.0, 0.0];
        let init = [0.0, 0.0, 0.0, 0.0];
        let fit = kmeans(&x, 2, 2, 10, 0, Some(&init)).unwrap();
        assert_eq!(fit.assignment, vec![0, 0, 1]);
        assert!(kmeans(&x, 2, 4, 10, 0, None).is_err());
        assert!(kmeans(&x, 2, 0, 10, 0, None).is_err());
        assert!(kmeans(&[f64::NAN, 0.0], 2, 1, 10, 0, None).is_err());
        assert!(kmeans(&x, 2, 2, 10, 0, Some(&init[..3])).is_err());
    }
}
