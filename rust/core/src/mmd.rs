//! Maximum mean discrepancy with an RBF kernel: the median-heuristic bandwidth and the exact
//! unbiased MMD^2 with a permutation test that never holds the (n+m)^2 kernel matrix.
//!
//! The permutation test is one pass over kernel blocks. For a labelling `a` (1 for rows counted
//! as x) and the kernel K with its diagonal removed, MMD^2 needs only `a'Ka`, `a'K1` and `1'K1`:
//! `y'Ky = 1'K1 - 2a'K1 + a'Ka` and `x'Ky = a'K1 - a'Ka`. So the labellings (the observed one,
//! the permutations, and a column of ones) form one matrix A of (n+m) x (P+2), each row block I
//! computes `U_I = sum_J K_IJ A_J` block by block with faer, and keeps only the per-column sums
//! of `A_I * U_I`. The labellings go through in batches whose label matrix stays under
//! `LABEL_BYTES` (K is recomputed per batch), so memory is bounded for any P; every block of K
//! is computed in a fixed order, so the result does not depend on the thread count.

use faer::{Accum, Mat, MatRef, Par};

use crate::alloc::{bytes_of, check_bytes, filled};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::parallel::map_indexed;
use crate::pca::check_finite;
use crate::random::Rng;
use crate::simd::{dispatch, norm2, Element};

/// Rows of each side the median heuristic looks at.
pub const MEDIAN_SAMPLE: usize = 1000;
const BLOCK: usize = 256;
/// Random streams, so that each use of the seed draws its own sequence.
const STREAM_MEDIAN_X: u64 = 1;
const STREAM_MEDIAN_Y: u64 = 2;
const STREAM_PERMUTATION: u64 = 1 << 32;
/// Bytes of one batch's label matrix (rows x 2 x labellings in the batch).
const LABEL_BYTES: usize = 64 << 20;
/// Block pairs scored per round; their partials are added in pair order.
const ROUND_PAIRS: usize = 64;

/// Refuses data whose squared distances overflow: `norms` are squared row norms (float64) and
/// the Gram products run in `T`, so 4 max|z|^2 (the largest |a - b|^2) must fit in `T`.
fn check_distances<T: Element>(norms: &[f64]) -> Result<()> {
    let largest = norms.iter().copied().fold(0.0f64, f64::max);
    let fits = norms.iter().all(|v| v.is_finite()) && T::from_f64(4.0 * largest).is_finite_value();
    if fits {
        return Ok(());
    }
    Err(Error::invalid(
        "x, y",
        format!(
            "values are too large: squared distances overflow float{} (largest squared row \
             norm {largest:e}); rescale the data",
            8 * std::mem::size_of::<T>()
        ),
    ))
}

#[derive(Clone, Debug, PartialEq)]
pub struct MmdOutcome {
    pub value: f64,
    pub p_value: Option<f64>,
    pub bandwidth: f64,
    pub permutations: usize,
    pub n_x: usize,
    pub n_y: usize,
    /// The statistic of each permutation (the null distribution the p-value counts against);
    /// empty for the RFF test and for permutations = 0.
    pub null: Vec<f64>,
}

/// Checks a pair of samples and returns their row counts.
pub fn check_pair<T: Element>(x: &[T], y: &[T], dim: usize) -> Result<(usize, usize)> {
    let n = rows_of("x", x.len(), dim)?;
    let m = rows_of("y", y.len(), dim)?;
    for (name, rows) in [("x", n), ("y", m)] {
        if rows < 2 {
            return Err(Error::invalid(
                name,
                format!("needs at least 2 rows for the unbiased MMD^2, got {rows}"),
            ));
        }
    }
    check_finite("x", x, dim)?;
    check_finite("y", y, dim)?;
    Ok((n, m))
}

pub fn check_bandwidth(bandwidth: f64) -> Result<()> {
    if !(bandwidth.is_finite() && bandwidth > 0.0) {
        return Err(Error::invalid(
            "bandwidth",
            format!("must be a positive finite number or \"median\", got {bandwidth}"),
        ));
    }
    Ok(())
}

/// The median Euclidean distance over all pairs i < j of the pooled sample: all of a side when
/// it has at most 1,000 rows, else 1,000 rows drawn without replacement with `seed`.
pub fn median_bandwidth<T: Element>(x: &[T], y: &[T], dim: usize, seed: u64) -> Result<f64> {
    let (n, m) = check_pair(x, y, dim)?;
    let pick = |data: &[T], rows: usize, stream: u64| -> Vec<f64> {
        let idx: Vec<usize> = if rows <= MEDIAN_SAMPLE {
            (0..rows).collect()
        } else {
            Rng::new(seed, stream).sample_indices(rows, MEDIAN_SAMPLE)
        };
        idx.iter()
            .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().map(|v| v.f64()))
            .collect()
    };
    let mut pooled = pick(x, n, STREAM_MEDIAN_X);
    pooled.extend(pick(y, m, STREAM_MEDIAN_Y));
    let rows = pooled.len() / dim;
    // Distances by the Gram identity in float64 (faer), in bands of rows computed in parallel
    // (each band sequentially, so the values do not depend on the thread count).
    let norms: Vec<f64> = pooled.chunks_exact(dim).map(norm2).collect();
    check_distances::<f64>(&norms)?;
    const BAND: usize = 128;
    let (pooled, norms) = (&pooled, &norms);
    let mut distances: Vec<f64> = map_indexed(rows.div_ceil(BAND), |b| {
        let (r0, r1) = (b * BAND, ((b + 1) * BAND).min(rows));
        let band = MatRef::from_row_major_slice(&pooled[r0 * dim..r1 * dim], r1 - r0, dim);
        let rest = MatRef::from_row_major_slice(&pooled[r0 * dim..], rows - r0, dim);
        // Column-major (rest x band): column i holds the products of row r0 + i with rows r0.. .
        let mut gram = Mat::<f64>::zeros(rows - r0, r1 - r0);
        faer::linalg::matmul::matmul(
            gram.as_mut(),
            Accum::Replace,
            rest,
            band.transpose(),
            1.0,
            Par::Seq,
        );
        let mut out = Vec::new();
        for i in 0..r1 - r0 {
            let column = gram.col(i);
            for j in i + 1..rows - r0 {
                let d2 = norms[r0 + i] + norms[r0 + j] - 2.0 * column[j];
                out.push(d2.max(0.0).sqrt());
            }
        }
        out
    })
    .concat();
    let count = distances.len();
    let upper = count / 2;
    let (_, &mut hi, _) = distances.select_nth_unstable_by(upper, f64::total_cmp);
    let median = if count % 2 == 1 {
        hi
    } else {
        // The other middle value is the largest of the lower half.
        let lo = distances[..upper]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        lo + (hi - lo) * 0.5
    };
    if median <= 0.0 {
        return Err(Error::invalid(
            "bandwidth",
            "the median distance between points is 0 (most points are identical); pass a number",
        ));
    }
    Ok(median)
}

/// Unbiased MMD^2 with an RBF kernel of `bandwidth`, and its permutation p-value.
pub fn mmd_exact<T>(
    x: &[T],
    y: &[T],
    dim: usize,
    bandwidth: f64,
    permutations: usize,
    seed: u64,
) -> Result<MmdOutcome>
where
    T: Element + faer::traits::RealField,
{
    mmd_exact_batched(x, y, dim, bandwidth, permutations, seed, LABEL_BYTES)
}

/// `mmd_exact` with label matrices of at most `label_bytes` (at least one labelling) per pass.
fn mmd_exact_batched<T>(
    x: &[T],
    y: &[T],
    dim: usize,
    bandwidth: f64,
    permutations: usize,
    seed: u64,
    label_bytes: usize,
) -> Result<MmdOutcome>
where
    T: Element + faer::traits::RealField,
{
    let (n, m) = check_pair(x, y, dim)?;
    check_bandwidth(bandwidth)?;
    let total = n + m;
    // Centre the pooled rows (distances do not change): the Gram identity
    // |a-b|^2 = |a|^2 + |b|^2 - 2ab then cancels far less in float32 when the data sit off-origin.
    let mut mean = vec![0.0f64; dim];
    for row in x.chunks_exact(dim).chain(y.chunks_exact(dim)) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v.f64();
        }
    }
    mean.iter_mut().for_each(|m| *m /= total as f64);
    if !mean.iter().all(|m| m.is_finite()) {
        return Err(crate::pca::overflow("x, y"));
    }
    check_bytes(
        "the centred copy of x and y",
        bytes_of::<T>(total as u128 * dim as u128),
    )?;
    let pooled: Vec<T> = x
        .chunks_exact(dim)
        .chain(y.chunks_exact(dim))
        .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| T::from_f64(v.f64() - m)))
        .collect();
    let norms: Vec<f64> = pooled.chunks_exact(dim).map(norm2).collect();
    check_distances::<T>(&norms)?;
    // Columns: for each labelling (observed, then the permutations) its indicator a of the rows
    // counted as x, then all the complements b = 1 - a. Scoring K against both keeps x'Kx, y'Ky
    // and x'Ky sums of positive terms: deriving y'Ky from the row sums of K would subtract large
    // float32 sums and lose the small side's term when m << n.
    let labellings = permutations + 1;
    let per_batch = (label_bytes / (total * 2 * std::mem::size_of::<T>()))
        .max(1)
        .min(labellings);
    let mut sums = [
        filled("the permutation sums", labellings, 0.0f64)?,
        filled("the permutation sums", labellings, 0.0f64)?,
        filled("the permutation sums", labellings, 0.0f64)?,
    ];
    let scale = 1.0 / (2.0 * bandwidth * bandwidth);
    let blocks = total.div_ceil(BLOCK);
    // K is symmetric: each block pair (I <= J) is computed once and scored both ways.
    let pairs: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|i| (i..blocks).map(move |j| (i, j)))
        .collect();
    for first in (0..labellings).step_by(per_batch) {
        let last = (first + per_batch).min(labellings);
        let labels = label_batch::<T>(n, total, first..last, seed);
        let cols = 2 * (last - first);
        let (pooled, norms, labels, pairs) = (&pooled, &norms, &labels, &pairs);
        for round in (0..pairs.len()).step_by(ROUND_PAIRS) {
            let count = ROUND_PAIRS.min(pairs.len() - round);
            let parts = map_indexed(count, |t| {
                let (bi, bj) = pairs[round + t];
                dispatch(
                    #[inline(always)]
                    || pair_block(pooled, norms, labels, dim, cols, (bi, bj), scale),
                )
            });
            for part in parts {
                for (total, add) in sums.iter_mut().zip(&part) {
                    total[first..last]
                        .iter_mut()
                        .zip(add)
                        .for_each(|(t, a)| *t += a);
                }
            }
        }
    }
    let [xx, xy, yy] = &sums;
    let (nf, mf) = (n as f64, m as f64);
    let statistic =
        |c: usize| xx[c] / (nf * (nf - 1.0)) + yy[c] / (mf * (mf - 1.0)) - 2.0 * xy[c] / (nf * mf);
    let value = statistic(0);
    let null: Vec<f64> = (1..=permutations).map(statistic).collect();
    let scale = xx[0] / (nf * (nf - 1.0)) + yy[0] / (mf * (mf - 1.0)) + 2.0 * xy[0] / (nf * mf);
    let p_value =
        (permutations > 0).then(|| permutation_p_value(value, &null, tie_tolerance::<T>(scale)));
    Ok(MmdOutcome {
        value,
        p_value,
        bandwidth,
        permutations,
        n_x: n,
        n_y: m,
        null,
    })
}

/// How far below the observed statistic a permuted one still counts as tied with it.
///
/// Labellings that differ only by swapping equal rows (duplicates), or by swapping the sides
/// when n = m, have the same MMD^2, but their kernel sums add the same terms in another order,
/// so the computed values differ in the last bits, and half the ties would fall below the
/// observed value and be left out of the count: the p-value comes out too small (0.91 instead
/// of 1 for two sides of {0, 1, 0, 1}). The rounding of such tied statistics, measured on
/// 8 to 2,000 rows with duplicates, stays under 0.7 eps of the kernel precision (float32
/// kernels) plus 3.4 eps of float64 (the final sums), times `scale`, the sum of the magnitudes
/// of the three terms of MMD^2; the tolerance is about twice (five times) that, far below the
/// spread of the permutation statistics (about 1e-5 of `scale` at 5,000 rows per side).
fn tie_tolerance<T: Element>(scale: f64) -> f64 {
    let kernel_eps = if std::mem::size_of::<T>() == 4 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    scale.abs() * (2.0 * kernel_eps + 16.0 * f64::EPSILON)
}

/// `(1 + #{permuted >= observed - tolerance}) / (1 + permutations)`: ties count against the
/// observed value, as an exact permutation test needs.
fn permutation_p_value(value: f64, null: &[f64], tolerance: f64) -> f64 {
    let exceed = null.iter().filter(|&&s| s >= value - tolerance).count();
    (1 + exceed) as f64 / (1 + null.len()) as f64
}

/// The label matrix of labellings `range` (0 is the observed split, l > 0 permutation l - 1):
/// rows x (a columns, then b columns).
fn label_batch<T: Element>(
    n: usize,
    total: usize,
    range: std::ops::Range<usize>,
    seed: u64,
) -> Vec<T> {
    let width = range.len();
    let cols = 2 * width;
    let mut labels = vec![T::from_f64(0.0); total * cols];
    let mut is_x = vec![false; total];
    for (c, l) in range.enumerate() {
        crate::cancel::checkpoint();
        is_x.iter_mut().for_each(|v| *v = false);
        if l == 0 {
            is_x[..n].iter_mut().for_each(|v| *v = true);
        } else {
            let mut rng = Rng::new(seed, STREAM_PERMUTATION + (l - 1) as u64);
            for i in rng.sample_indices(total, n) {
                is_x[i] = true;
            }
        }
        for (i, &x_side) in is_x.iter().enumerate() {
            let column = if x_side { c } else { width + c };
            labels[i * cols + column] = T::from_f64(1.0);
        }
    }
    labels
}

/// For the block pair (I, J), I <= J, and each labelling (a, b): the pair's share of
/// a'Ka, a'Kb and b'Kb over the whole matrix, counting the mirrored block (J, I) when I != J.
#[inline(always)]
fn pair_block<T>(
    pooled: &[T],
    norms: &[f64],
    labels: &[T],
    dim: usize,
    cols: usize,
    (bi, bj): (usize, usize),
    scale: f64,
) -> [Vec<f64>; 3]
where
    T: Element + faer::traits::RealField,
{
    let total = norms.len();
    let (i0, j0) = (bi * BLOCK, bj * BLOCK);
    let (i1, j1) = ((i0 + BLOCK).min(total), (j0 + BLOCK).min(total));
    let (rows, width) = (i1 - i0, j1 - j0);
    let zi = MatRef::from_row_major_slice(&pooled[i0 * dim..i1 * dim], rows, dim);
    let zj = MatRef::from_row_major_slice(&pooled[j0 * dim..j1 * dim], width, dim);
    // Column-major (width x rows): column r holds row r of Z_I Z_J' contiguously.
    let mut gram = Mat::<T>::zeros(width, rows);
    faer::linalg::matmul::matmul(
        gram.as_mut(),
        Accum::Replace,
        zj,
        zi.transpose(),
        T::from_f64(1.0),
        Par::Seq,
    );
    // Squared distances by the Gram identity, clamped at 0 against rounding.
    let mut kernel = vec![T::from_f64(0.0); rows * width];
    let norms_j = &norms[j0..j1];
    for r in 0..rows {
        let ni = norms[i0 + r];
        let out = &mut kernel[r * width..(r + 1) * width];
        let g = gram.col(r).try_as_col_major().map(|c| c.as_slice());
        match g {
            Some(g) => {
                for ((o, &gv), &nj) in out.iter_mut().zip(g).zip(norms_j) {
                    let d2 = ni + nj - 2.0 * gv.f64();
                    *o = T::from_f64(d2.max(0.0) * scale);
                }
            }
            None => {
                for (c, o) in out.iter_mut().enumerate() {
                    let d2 = ni + norms_j[c] - 2.0 * gram[(c, r)].f64();
                    *o = T::from_f64(d2.max(0.0) * scale);
                }
            }
        }
    }
    T::exp_neg(&mut kernel);
    if bi == bj {
        // The diagonal k(z_i, z_i) is left out of the unbiased statistic.
        for r in 0..rows {
            kernel[r * width + r] = T::from_f64(0.0);
        }
    }
    let k = MatRef::from_row_major_slice(&kernel, rows, width);
    let a = MatRef::from_row_major_slice(&labels[j0 * cols..j1 * cols], width, cols);
    let mut product = Mat::<T>::zeros(rows, cols);
    faer::linalg::matmul::matmul(
        product.as_mut(),
        Accum::Replace,
        k,
        a,
        T::from_f64(1.0),
        Par::Seq,
    );
    let half = cols / 2;
    // [aKa, aKb, bKa, bKb] for this block, from the rows' sides in each labelling.
    let mut sums = [
        vec![0.0f64; half],
        vec![0.0f64; half],
        vec![0.0f64; half],
        vec![0.0f64; half],
    ];
    // Column by column: `product` is column-major, so each column is read contiguously.
    for c in 0..half {
        for r in 0..rows {
            let (ka, kb) = (product[(r, c)].f64(), product[(r, half + c)].f64());
            // Each row is on one side of labelling c: a + b = 1.
            let base = if labels[(i0 + r) * cols + c].f64() != 0.0 {
                0
            } else {
                2
            };
            sums[base][c] += ka;
            sums[base + 1][c] += kb;
        }
    }
    let [aka, akb, bka, bkb] = sums;
    if bi == bj {
        return [aka, akb, bkb];
    }
    let double = |v: Vec<f64>| v.into_iter().map(|x| 2.0 * x).collect::<Vec<f64>>();
    let xy = akb.iter().zip(&bka).map(|(p, q)| p + q).collect();
    [double(aka), xy, double(bkb)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unbiased MMD^2 straight from its definition, in float64.
    fn direct(x: &[f64], y: &[f64], dim: usize, h: f64) -> f64 {
        let k = |a: &[f64], b: &[f64]| {
            let d2: f64 = a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum();
            (-d2 / (2.0 * h * h)).exp()
        };
        let rows = |v: &[f64]| v.chunks(dim).map(|r| r.to_vec()).collect::<Vec<_>>();
        let (xs, ys) = (rows(x), rows(y));
        let (n, m) = (xs.len() as f64, ys.len() as f64);
        let mut sxx = 0.0;
        for (i, a) in xs.iter().enumerate() {
            for (j, b) in xs.iter().enumerate() {
                if i != j {
                    sxx += k(a, b);
                }
            }
        }
        let mut syy = 0.0;
        for (i, a) in ys.iter().enumerate() {
            for (j, b) in ys.iter().enumerate() {
                if i != j {
                    syy += k(a, b);
                }
            }
        }
        let sxy: f64 = xs
            .iter()
            .flat_map(|a| ys.iter().map(move |b| k(a, b)))
            .sum();
        sxx / (n * (n - 1.0)) + syy / (m * (m - 1.0)) - 2.0 * sxy / (n * m)
    }

    #[test]
    fn exact_matches_definition_across_blocks() {
        let dim = 3;
        let mut rng = Rng::new(9, 0);
        let mut x = vec![0.0; 700 * dim];
        let mut y = vec![0.0; 450 * dim];
        rng.normals(&mut x);
        rng.normals(&mut y);
        y.iter_mut().for_each(|v| *v += 0.1);
        let got = mmd_exact(&x, &y, dim, 1.3, 20, 0).unwrap();
        let want = direct(&x, &y, dim, 1.3);
        assert!((got.value - want).abs() < 1e-12, "{} vs {want}", got.value);
        let p = got.p_value.unwrap();
        assert!(p > 0.0 && p <= 1.0 && (p * 21.0 - (p * 21.0).round()).abs() < 1e-9);
    }

    #[test]
    fn permutation_batches_do_not_change_the_result() {
        let dim = 2;
        let mut rng = Rng::new(5, 0);
        let mut x = vec![0.0f64; 300 * dim];
        let mut y = vec![0.0f64; 280 * dim];
        rng.normals(&mut x);
        rng.normals(&mut y);
        y.iter_mut().for_each(|v| *v += 0.05);
        let whole = mmd_exact(&x, &y, dim, 1.0, 99, 3).unwrap();
        // One labelling per pass (100 passes), and 7 per pass (a ragged last batch).
        for bytes in [1, 7 * 580 * 2 * 8] {
            let batched = mmd_exact_batched(&x, &y, dim, 1.0, 99, 3, bytes).unwrap();
            assert_eq!(batched.p_value, whole.p_value);
            assert!((batched.value - whole.value).abs() <= 1e-15 * whole.value.abs().max(1e-300));
        }
    }

    #[test]
    fn tied_permutations_count_against_the_observed_value() {
        // Both sides are {0, 1, 0, 1}: every labelling with two 0s on each side (36 of the 70)
        // has the observed statistic, the others a larger one, so p is exactly 1; the tied
        // ones sum the same kernel values in another order, and before the tolerance about
        // 1 in 10 of the permutations came out a bit below the observed value (p = 0.91).
        let x = [0.0f64, 1.0, 0.0, 1.0];
        let y = [1.0f64, 0.0, 1.0, 0.0];
        for seed in 0..5 {
            let got = mmd_exact(&x, &y, 1, 1.0, 200, seed).unwrap();
            assert_eq!(got.p_value, Some(1.0), "float64, seed {seed}");
            let (x32, y32) = (x.map(|v| v as f32), y.map(|v| v as f32));
            let got = mmd_exact(&x32, &y32, 1, 1.0, 200, seed).unwrap();
            assert_eq!(got.p_value, Some(1.0), "float32, seed {seed}");
        }
    }

    #[test]
    fn tolerance_is_below_the_permutation_spread() {
        // A statistic a hair under the observed one counts; one a rounding error beyond the
        // tolerance does not.
        let tolerance = tie_tolerance::<f64>(2.0);
        assert!(tolerance > 0.0 && tolerance < 1e-13);
        assert!(tie_tolerance::<f32>(2.0) < 1e-6);
        let null = [1.0 - tolerance / 2.0, 1.0 - 2.0 * tolerance, 1.5, 0.5];
        assert_eq!(permutation_p_value(1.0, &null, tolerance), 3.0 / 5.0);
    }

    #[test]
    fn median_of_pairs() {
        // Points 0, 1, 3 on a line (x) and 6 (y): distances 1,3,6,2,5,3 -> median (3 + 3) / 2.
        let x = [0.0f64, 1.0];
        let y = [3.0f64, 6.0];
        assert_eq!(median_bandwidth(&x, &y, 1, 0).unwrap(), 3.0);
        let y = [3.0f64, 7.0];
        // 1,3,7,2,6,4 -> sorted 1,2,3,4,6,7 -> 3.5
        assert_eq!(median_bandwidth(&x, &y, 1, 0).unwrap(), 3.5);
    }
}
