//! A small, fixed pseudo-random generator (xoshiro256++ seeded by splitmix64).
//!
//! Written here rather than taken from a crate so that a seed means the same permutations,
//! samples and Fourier features in every undertow version and on every platform: results that
//! users store (p-values, bandwidths) must be reproducible from the seed alone.

pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `(seed, stream)`: distinct streams are independent sequences, so work
    /// split by stream (one per permutation, say) does not depend on the order it runs in.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut sm = seed ^ stream.wrapping_mul(0xD605_BBB5_8C8A_BF3D);
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n) without modulo bias (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Standard normal by Box-Muller (both values used).
    pub fn normals(&mut self, out: &mut [f64]) {
        let mut chunks = out.chunks_exact_mut(2);
        for pair in &mut chunks {
            let (a, b) = self.box_muller();
            pair[0] = a;
            pair[1] = b;
        }
        if let [last] = chunks.into_remainder() {
            *last = self.box_muller().0;
        }
    }

    fn box_muller(&mut self) -> (f64, f64) {
        // 1 - uniform lies in (0, 1], so the logarithm is finite.
        let r = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        (r * theta.cos(), r * theta.sin())
    }

    /// `k` distinct indices of `0..n`, in the order drawn (a partial Fisher-Yates shuffle).
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut pool: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

const STREAM_ROW_KEYS: u64 = 0x5A17;

/// A seeded 64-bit key per row, from the row's bit pattern: a multiply-add over the values with
/// odd multipliers drawn from `seed`, then splitmix64's finalizer. Rows with the same values get
/// the same key whatever batch they arrive in, so "the k smallest keys" is a sample that does not
/// depend on how a stream was cut, merged or distributed.
pub fn row_keys<T: crate::simd::Element>(data: &[T], dim: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed, STREAM_ROW_KEYS);
    let multipliers: Vec<u64> = (0..dim).map(|_| rng.next_u64() | 1).collect();
    let rows = data.len() / dim.max(1);
    let chunk = 4096;
    let multipliers = &multipliers;
    crate::parallel::map_indexed(rows.div_ceil(chunk), |t| {
        let block = &data[t * chunk * dim..((t + 1) * chunk).min(rows) * dim];
        block
            .chunks_exact(dim)
            .map(|row| {
                let mut h = row.iter().zip(multipliers).fold(0u64, |acc, (v, m)| {
                    acc.wrapping_add(v.bits().wrapping_mul(*m))
                });
                h ^= h >> 31;
                h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                h ^ (h >> 29)
            })
            .collect::<Vec<u64>>()
    })
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys_follow_values_not_positions() {
        let data = [1.0f32, 2.0, 3.0, 4.0, 1.0, 2.0];
        let keys = row_keys(&data, 2, 7);
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
        assert_ne!(row_keys(&data, 2, 8)[0], keys[0]);
        assert_eq!(row_keys(&data[2..4], 2, 7)[0], keys[1]);
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 0).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, 0).next_u64(), Rng::new(7, 1).next_u64());
    }

    #[test]
    fn sample_is_distinct_and_in_range() {
        let mut rng = Rng::new(1, 2);
        let mut s = rng.sample_indices(50, 20);
        assert_eq!(s.len(), 20);
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 20);
        assert!(s.iter().all(|&i| i < 50));
    }

    #[test]
    fn uniform_and_normal_moments() {
        let mut rng = Rng::new(3, 0);
        let n = 200_000;
        let mean_u: f64 = (0..n).map(|_| rng.uniform()).sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 0.01);
        let mut z = vec![0.0; n];
        rng.normals(&mut z);
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02);
    }
}
