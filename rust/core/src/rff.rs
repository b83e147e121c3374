//! MMD^2 with random Fourier features, for samples too large for the exact test.
//!
//! `z(v) = sqrt(2/D) cos(W v + b)` with `W ~ N(0, I / h^2)` and `b ~ U[0, 2 pi)` approximates the
//! RBF kernel of bandwidth h: `E[z(a) . z(b)] = exp(-|a - b|^2 / (2 h^2))`. Each side keeps a
//! covariance accumulator of its features (count, sum, cross-products): mergeable, so batches,
//! threads, files and machines combine. The statistic is the unbiased MMD^2 of the features; the
//! test is Hotelling's T^2 on the two feature means with the pooled covariance, referred to its
//! F distribution (exact for Gaussian features, asymptotically right for any: both means are
//! averages of many bounded vectors). W and b are drawn from the seed, never stored.

use faer::{Accum, Mat, MatRef, Par, Side};

use crate::alloc::{bytes_of, check_bytes, filled, product};
use crate::codec::{Kind, Reader, Writer};
use crate::cosine::rows_of;
use crate::error::{Error, Result};
use crate::mmd::{check_bandwidth, MmdOutcome};
use crate::parallel::map_indexed;
use crate::pca::{check_finite, check_squares, Covariance};
use crate::random::Rng;
use crate::simd::{cos_f64, dispatch, Element};
use crate::special::f_survival;

const STREAM_FEATURES: u64 = 3;
const CHUNK_ROWS: usize = 2048;
/// Pooled-covariance directions below this share of the largest eigenvalue are dropped.
const RANK_TOLERANCE: f64 = 1e-10;
/// The smallest p-value the RFF test reports (the smallest normal f64): the F tail of a strong
/// drift underflows to 0.0, which would read as an impossible exact 0.
pub const P_FLOOR: f64 = f64::MIN_POSITIVE;
/// The largest feature count: `finalize` eigen-decomposes a features x features matrix, O(f^3)
/// (measured: 8,192 features took 219 s; at this cap an eighth of that).
pub const MAX_FEATURES: usize = 4096;
const MAX_FEATURES_SECONDS: &str = "about 30 s";
/// The weights come from the seed, not the bytes, so a state's claimed dimension is backed by
/// nothing in it. Decoding draws at most the larger of these many weights and `DECODE_WEIGHTS_PER_BYTE` per
/// byte of the state, so what crafted bytes can make us allocate grows with their size (a real
/// state's sides take `features^2` floats: 256 features allow any dim up to 65,536).
const DECODE_WEIGHTS_FLOOR: usize = 1 << 24;
const DECODE_WEIGHTS_PER_BYTE: usize = 8;

#[derive(Clone, Debug)]
pub struct Rff {
    dim: usize,
    features: usize,
    bandwidth: f64,
    seed: u64,
    weights: Vec<f64>,
    phases: Vec<f64>,
    sides: [Covariance; 2],
}

impl Rff {
    pub fn new(dim: usize, bandwidth: f64, features: usize, seed: u64) -> Result<Rff> {
        if dim == 0 {
            return Err(Error::invalid("dim", "must be at least 1"));
        }
        check_bandwidth(bandwidth)?;
        if !(1..=MAX_FEATURES).contains(&features) {
            return Err(Error::invalid(
                "features",
                format!(
                    "must be between 1 and {MAX_FEATURES}, got {features} (the test \
                     eigen-decomposes a features x features matrix, O(features^3): \
                     {MAX_FEATURES} features take {MAX_FEATURES_SECONDS})"
                ),
            ));
        }
        let what = format!("RFF weights of dim={dim} x features={features} float64");
        let len = product(&what, features, dim)?;
        // The weights and the two sides' packed covariances, checked together.
        let sides = (features as u128) * (features as u128 + 1);
        check_bytes(
            &format!("an RFF accumulator of dim={dim} and features={features}"),
            bytes_of::<f64>(len as u128 + sides),
        )?;
        let mut rng = Rng::new(seed, STREAM_FEATURES);
        let mut weights = filled(&what, len, 0.0)?;
        rng.normals(&mut weights);
        weights.iter_mut().for_each(|w| *w /= bandwidth);
        let phases = (0..features)
            .map(|_| std::f64::consts::TAU * rng.uniform())
            .collect();
        Ok(Rff {
            dim,
            features,
            bandwidth,
            seed,
            weights,
            phases,
            sides: [Covariance::new(features)?, Covariance::new(features)?],
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn features(&self) -> usize {
        self.features
    }
    pub fn bandwidth(&self) -> f64 {
        self.bandwidth
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn rows(&self) -> (u64, u64) {
        (self.sides[0].rows(), self.sides[1].rows())
    }

    /// Adds rows to side 0 (x) or 1 (y).
    pub fn update<T: Element + faer::traits::RealField>(
        &mut self,
        side: usize,
        argument: &str,
        data: &[T],
    ) -> Result<()> {
        let rows = rows_of(argument, data.len(), self.dim)?;
        check_finite(argument, data, self.dim)?;
        check_squares(argument, data, self.dim, &vec![0.0; self.dim])?;
        // Feature blocks of 8 x 2048 rows at a time keep the float64 features at 32 MB (D = 256).
        let group = 8 * CHUNK_ROWS;
        check_bytes(
            &format!("RFF features of {group} rows x features={}", self.features),
            bytes_of::<f64>(2 * group as u128 * self.features as u128),
        )?;
        for start in (0..rows).step_by(group) {
            let end = (start + group).min(rows);
            let block = &data[start * self.dim..end * self.dim];
            let z = self.features_of(block);
            self.sides[side].update(argument, &z)?;
        }
        Ok(())
    }

    fn features_of<T: Element + faer::traits::RealField>(&self, block: &[T]) -> Vec<f64> {
        let (d, f) = (self.dim, self.features);
        let rows = block.len() / d;
        let w = MatRef::from_row_major_slice(&self.weights, f, d);
        let amplitude = (2.0 / f as f64).sqrt();
        map_indexed(rows.div_ceil(CHUNK_ROWS), |t| {
            let start = t * CHUNK_ROWS;
            let end = (start + CHUNK_ROWS).min(rows);
            let x: Vec<f64> = block[start * d..end * d].iter().map(|v| v.f64()).collect();
            let x = MatRef::from_row_major_slice(&x, end - start, d);
            let mut proj = Mat::<f64>::zeros(end - start, f);
            faer::linalg::matmul::matmul(
                proj.as_mut(),
                Accum::Replace,
                x,
                w.transpose(),
                1.0,
                Par::Seq,
            );
            let mut z = Vec::with_capacity((end - start) * f);
            for i in 0..end - start {
                z.extend((0..f).map(|c| proj[(i, c)] + self.phases[c]));
            }
            dispatch(
                #[inline(always)]
                || cos_f64(&mut z),
            );
            z.iter_mut().for_each(|v| *v *= amplitude);
            z
        })
        .concat()
    }

    pub fn merge(&mut self, other: &Rff) -> Result<()> {
        if (other.dim, other.features, other.seed) != (self.dim, self.features, self.seed)
            || other.bandwidth.to_bits() != self.bandwidth.to_bits()
        {
            return Err(Error::invalid(
                "other",
                "was made with another dimension, feature count, bandwidth or seed",
            ));
        }
        self.sides[0].merge(&other.sides[0])?;
        self.sides[1].merge(&other.sides[1])
    }

    pub fn finalize(&self) -> Result<MmdOutcome> {
        let (n, m) = self.rows();
        for (name, rows) in [("x", n), ("y", m)] {
            if rows < 2 {
                return Err(Error::invalid(
                    name,
                    format!("needs at least 2 rows for the unbiased MMD^2, got {rows}"),
                ));
            }
        }
        let f = self.features;
        // Two covariances, the pooled one, its eigenvectors and faer's workspace.
        check_bytes(
            &format!("the RFF test of features={f}"),
            bytes_of::<f64>(5 * (f as u128) * (f as u128)),
        )?;
        let (nf, mf) = (n as f64, m as f64);
        let mean_x = self.sides[0].mean();
        let mean_y = self.sides[1].mean();
        let cov_x = self.sides[0].covariance()?;
        let cov_y = self.sides[1].covariance()?;
        // Sum of |z|^2 over a side = n (trace(cov) (n-1)/n + |mean|^2).
        let sq = |cov: &Mat<f64>, mean: &[f64], rows: f64| {
            let trace: f64 = (0..f).map(|i| cov[(i, i)]).sum();
            trace * (rows - 1.0) + rows * mean.iter().map(|v| v * v).sum::<f64>()
        };
        let sum_sq =
            |mean: &[f64], rows: f64| rows * rows * mean.iter().map(|v| v * v).sum::<f64>();
        let cross: f64 = nf * mf * mean_x.iter().zip(&mean_y).map(|(a, b)| a * b).sum::<f64>();
        let value = (sum_sq(&mean_x, nf) - sq(&cov_x, &mean_x, nf)) / (nf * (nf - 1.0))
            + (sum_sq(&mean_y, mf) - sq(&cov_y, &mean_y, mf)) / (mf * (mf - 1.0))
            - 2.0 * cross / (nf * mf);

        let mut pooled = Mat::<f64>::zeros(f, f);
        for i in 0..f {
            for j in 0..f {
                pooled[(i, j)] =
                    ((nf - 1.0) * cov_x[(i, j)] + (mf - 1.0) * cov_y[(i, j)]) / (nf + mf - 2.0);
            }
        }
        let eigen = pooled
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| Error::invalid("x", format!("eigen-decomposition failed: {e:?}")))?;
        let values = eigen.S().column_vector();
        let vectors = eigen.U();
        let largest = (0..f).map(|i| values[i]).fold(0.0f64, f64::max);
        let delta: Vec<f64> = mean_x.iter().zip(&mean_y).map(|(a, b)| a - b).collect();
        let mut t2 = 0.0;
        let mut rank = 0usize;
        for c in 0..f {
            if values[c] > RANK_TOLERANCE * largest && largest > 0.0 {
                let proj: f64 = (0..f).map(|i| vectors[(i, c)] * delta[i]).sum();
                t2 += proj * proj / values[c];
                rank += 1;
            }
        }
        t2 *= nf * mf / (nf + mf);
        let df2 = nf + mf - 1.0 - rank as f64;
        let p_value = if rank == 0 {
            1.0
        } else if df2 < 1.0 {
            return Err(Error::invalid(
                "features",
                format!(
                    "the RFF test needs more rows ({}) than features in use ({rank}) plus one",
                    n + m
                ),
            ));
        } else {
            let stat = t2 * df2 / (rank as f64 * (nf + mf - 2.0));
            // The F tail underflows to 0.0 for strong drift: report the smallest normal double
            // instead, a bound ("p < 2.2e-308") that is never read as an impossible exact 0.
            f_survival(stat, rank as f64, df2).max(P_FLOOR)
        };
        Ok(MmdOutcome {
            value,
            p_value: Some(p_value),
            bandwidth: self.bandwidth,
            permutations: 0,
            n_x: n as usize,
            n_y: m as usize,
            null: Vec::new(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.dim as u64);
        w.u64(self.features as u64);
        w.f64(self.bandwidth);
        w.u64(self.seed);
        w.bytes(&self.sides[0].to_bytes());
        w.bytes(&self.sides[1].to_bytes());
        w.finish(Kind::Rff)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Rff> {
        let mut r = Reader::open(bytes, Kind::Rff)?;
        let dim = r.u64()? as usize;
        let features = r.u64()? as usize;
        let bandwidth = r.f64()?;
        let seed = r.u64()?;
        let x = Covariance::from_bytes(r.bytes()?)?;
        let y = Covariance::from_bytes(r.bytes()?)?;
        r.finish()?;
        // Before `new`: the sides are backed by the body, so this bounds `features` (and the
        // two empty sides `new` allocates) by the input size.
        if x.dim() != features || y.dim() != features {
            return Err(Error::InvalidState(
                "RFF: the sides do not match the feature count".into(),
            ));
        }
        let budget = DECODE_WEIGHTS_FLOOR.max(bytes.len().saturating_mul(DECODE_WEIGHTS_PER_BYTE));
        if features.saturating_mul(dim) > budget {
            return Err(Error::InvalidState(format!(
                "RFF: dim * features = {dim} * {features} random weights is more than a state of \
                 {} bytes may ask for ({budget})",
                bytes.len()
            )));
        }
        let mut rff = Rff::new(dim, bandwidth, features, seed)
            .map_err(|e| Error::InvalidState(format!("RFF: {e}")))?;
        rff.sides = [x, y];
        Ok(rff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmd::mmd_exact;

    #[test]
    fn approaches_exact_mmd_and_merges() {
        let dim = 2;
        let mut rng = Rng::new(4, 0);
        let mut x = vec![0.0; 3000 * dim];
        let mut y = vec![0.0; 3000 * dim];
        rng.normals(&mut x);
        rng.normals(&mut y);
        y.iter_mut().step_by(2).for_each(|v| *v += 0.5);
        let exact = mmd_exact(&x, &y, dim, 1.0, 0, 0).unwrap().value;
        let mut rff = Rff::new(dim, 1.0, 2048, 0).unwrap();
        rff.update(0, "x", &x).unwrap();
        rff.update(1, "y", &y).unwrap();
        let got = rff.finalize().unwrap();
        assert!(
            (got.value - exact).abs() < 0.2 * exact,
            "{} vs {exact}",
            got.value
        );
        assert!(got.p_value.unwrap() < 1e-6);
        let mut a = Rff::new(dim, 1.0, 2048, 0).unwrap();
        let mut b = a.clone();
        a.update(0, "x", &x[..1000 * dim]).unwrap();
        b.update(0, "x", &x[1000 * dim..]).unwrap();
        b.update(1, "y", &y).unwrap();
        a.merge(&b).unwrap();
        let merged = a.finalize().unwrap();
        assert!((merged.value - got.value).abs() < 1e-12);
        let back = Rff::from_bytes(&a.to_bytes()).unwrap().finalize().unwrap();
        assert_eq!(back, merged);
    }
}
