//! The two element types the kernels accept, and the conversions that keep comparisons exact.
//!
//! Edges are always float64. A float32 value is compared against a float64 edge exactly by
//! rounding the edge to the nearest float32 in the direction that preserves the comparison
//! (`x >= e  <=>  x >= ceil32(e)` for every float32 `x`), so the hot loops compare in the data's
//! own type, twice as many lanes per instruction for float32, with no change in any result.

pub trait Sample: Copy + Send + Sync + PartialOrd + 'static {
    /// Bits of the order-preserving key (32 for f32, 64 for f64).
    const KEY_BITS: u32;
    /// Name used in messages.
    const NAME: &'static str;
    /// The lowest finite value: `#{x >= LOWEST}` counts finite values and +inf.
    const LOWEST: Self;
    const INFINITY: Self;

    /// `#{x in block : x >= threshold}`, written as a plain reduction so LLVM vectorizes it
    /// (compare, then subtract the all-ones mask) for whatever target features the caller has.
    fn count_at_least(block: &[Self], threshold: Self) -> u64;

    fn to_f64(self) -> f64;
    fn is_finite_value(self) -> bool;
    /// Smallest value of this type that is `>= edge` (NaN stays NaN).
    fn threshold_at_least(edge: f64) -> Self;
    /// Smallest value of this type that is `> edge`; NaN (never matched) when none exists.
    fn threshold_above(edge: f64) -> Self;
    /// Order-preserving unsigned key of a finite value; -0.0 and +0.0 share a key.
    fn order_key(self) -> u64;
    /// The value whose order key is `key`, as f64 (exact).
    fn from_order_key(key: u64) -> f64;
}

impl Sample for f32 {
    const KEY_BITS: u32 = 32;
    const NAME: &'static str = "float32";
    const LOWEST: Self = f32::MIN;
    const INFINITY: Self = f32::INFINITY;

    #[inline(always)]
    fn count_at_least(block: &[Self], threshold: Self) -> u64 {
        // u32 lanes: twice the lanes of u64; callers pass blocks far below 2^32 values.
        block.iter().map(|&x| (x >= threshold) as u32).sum::<u32>() as u64
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.abs() <= f32::MAX
    }
    fn threshold_at_least(edge: f64) -> Self {
        if edge.is_nan() {
            return f32::NAN;
        }
        let nearest = edge as f32; // round to nearest, saturating to +-inf
        if (nearest as f64) < edge {
            nearest.next_up()
        } else {
            nearest
        }
    }
    fn threshold_above(edge: f64) -> Self {
        if edge.is_nan() || edge == f64::INFINITY {
            return f32::NAN;
        }
        let at_least = Self::threshold_at_least(edge);
        if at_least as f64 == edge {
            at_least.next_up()
        } else {
            at_least
        }
    }
    #[inline(always)]
    fn order_key(self) -> u64 {
        let bits = (self + 0.0).to_bits(); // + 0.0 turns -0.0 into +0.0
        let key = if bits & 0x8000_0000 != 0 {
            !bits
        } else {
            bits | 0x8000_0000
        };
        key as u64
    }
    fn from_order_key(key: u64) -> f64 {
        let key = key as u32;
        let bits = if key & 0x8000_0000 != 0 {
            key & 0x7FFF_FFFF
        } else {
            !key
        };
        f32::from_bits(bits) as f64
    }
}

impl Sample for f64 {
    const KEY_BITS: u32 = 64;
    const NAME: &'static str = "float64";
    const LOWEST: Self = f64::MIN;
    const INFINITY: Self = f64::INFINITY;

    #[inline(always)]
    fn count_at_least(block: &[Self], threshold: Self) -> u64 {
        block.iter().map(|&x| (x >= threshold) as u64).sum::<u64>()
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.abs() <= f64::MAX
    }
    fn threshold_at_least(edge: f64) -> Self {
        edge
    }
    fn threshold_above(edge: f64) -> Self {
        if edge.is_nan() || edge == f64::INFINITY {
            f64::NAN
        } else {
            edge.next_up()
        }
    }
    #[inline(always)]
    fn order_key(self) -> u64 {
        let bits = (self + 0.0).to_bits();
        if bits & 0x8000_0000_0000_0000 != 0 {
            !bits
        } else {
            bits | 0x8000_0000_0000_0000
        }
    }
    fn from_order_key(key: u64) -> f64 {
        let bits = if key & 0x8000_0000_0000_0000 != 0 {
            key & 0x7FFF_FFFF_FFFF_FFFF
        } else {
            !key
        };
        f64::from_bits(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_thresholds_preserve_comparisons() {
        let edges = [
            0.1f64,
            -0.1,
            1.0,
            1e-40,
            -3.4e38,
            3.5e38,
            0.0,
            -0.0,
            f64::INFINITY,
        ];
        let probes: Vec<f32> = vec![
            0.1,
            -0.1,
            1.0,
            0.099_999_994,
            0.100_000_01,
            1e-40,
            0.0,
            -0.0,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1.0f32.next_up(),
            1.0f32.next_down(),
        ];
        for &edge in &edges {
            let at_least = f32::threshold_at_least(edge);
            let above = f32::threshold_above(edge);
            for &x in &probes {
                assert_eq!((x as f64) >= edge, x >= at_least, "x={x} edge={edge}");
                assert_eq!((x as f64) > edge, x >= above, "x={x} edge={edge}");
            }
        }
    }

    #[test]
    fn order_keys_are_monotone_and_invertible() {
        let mut values = vec![-f32::MAX, -1.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::MAX];
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for pair in values.windows(2) {
            assert!(pair[0].order_key() <= pair[1].order_key());
        }
        for &v in &values {
            assert_eq!(f32::from_order_key(v.order_key()), v as f64);
            assert_eq!(f64::from_order_key((v as f64).order_key()), v as f64);
        }
        assert_eq!((-0.0f64).order_key(), 0.0f64.order_key());
    }
}
