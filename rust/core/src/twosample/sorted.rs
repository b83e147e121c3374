//! A sorted sample of finite values: the state of the KS and Wasserstein tests.
//!
//! Sorting goes through the order-preserving integer keys of `Sample` (-0.0 and +0.0 share a
//! key, so ties compare as numbers do) and rayon's parallel unstable sort: the sorted values
//! are unique whatever the thread count, so every result built on them is deterministic.
//! Merging two sorted runs is one linear pass, which makes the state mergeable exactly.

use rayon::prelude::*;

use crate::alloc;
use crate::codec::{Kind, Reader, Writer};
use crate::error::{Error, Result};
use crate::parallel;
use crate::sample::Sample;
use crate::state::NanPolicy;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SortedSample {
    /// Finite values in ascending order (float32 input widened exactly).
    values: Vec<f64>,
    /// Non-finite values seen (NaN, +-inf), dropped under nan_policy "omit".
    missing: u64,
}

impl SortedSample {
    /// Sorts the finite values of `data`; non-finite values are refused under "raise" (naming
    /// `argument` and the count) and counted then dropped otherwise ("bin" has no meaning for
    /// an ECDF, so it drops them like "omit" and keeps the count).
    pub fn from_values<T: Sample>(
        data: &[T],
        nan_policy: NanPolicy,
        argument: &str,
    ) -> Result<Self> {
        let finite = parallel::map_reduce(
            data,
            1 << 16,
            |block| block.iter().filter(|x| x.is_finite_value()).count() as u64,
            || 0,
            |a, b| a + b,
        );
        let missing = data.len() as u64 - finite;
        if missing > 0 && nan_policy == NanPolicy::Raise {
            return Err(Error::invalid(
                argument,
                format!(
                    "{missing} missing values (NaN or inf); pass nan_policy='omit' to drop them"
                ),
            ));
        }
        let mut keys = alloc::filled("the sorted sample", finite as usize, 0u64)?;
        for (slot, x) in keys
            .iter_mut()
            .zip(data.iter().filter(|x| x.is_finite_value()))
        {
            *slot = x.order_key();
        }
        parallel::in_pool(|serial| {
            if serial {
                keys.sort_unstable();
            } else {
                keys.par_sort_unstable();
            }
        });
        // the key buffer becomes the value buffer in place (same size), no second allocation
        let values: Vec<f64> = keys.into_iter().map(T::from_order_key).collect();
        Ok(SortedSample { values, missing })
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    pub fn missing(&self) -> u64 {
        self.missing
    }

    /// Merges another sorted run into this one (one linear pass).
    pub fn merge(&mut self, other: &SortedSample) -> Result<()> {
        if other.values.is_empty() {
            self.missing += other.missing;
            return Ok(());
        }
        let total = self.values.len() + other.values.len();
        let mut out = alloc::filled("the merged sorted sample", total, 0f64)?;
        let (a, b) = (&self.values, &other.values);
        let (mut i, mut j) = (0, 0);
        for slot in out.iter_mut() {
            if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
                *slot = a[i];
                i += 1;
            } else {
                *slot = b[j];
                j += 1;
            }
        }
        self.values = out;
        self.missing += other.missing;
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.missing);
        w.f64s(&self.values);
        w.finish(Kind::SortedSample)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::SortedSample)?;
        let missing = r.u64()?;
        let values = r.f64s()?;
        r.finish()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidState(
                "a sorted sample holds a non-finite value".into(),
            ));
        }
        if values.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::InvalidState("a sorted sample is not sorted".into()));
        }
        Ok(SortedSample { values, missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_merges_and_round_trips() {
        let a =
            SortedSample::from_values(&[3.0f64, -0.0, 1.0, f64::NAN, 0.0], NanPolicy::Omit, "x")
                .unwrap();
        assert_eq!(a.values(), &[0.0, 0.0, 1.0, 3.0]);
        assert_eq!(a.missing(), 1);
        assert!(SortedSample::from_values(&[f64::NAN], NanPolicy::Raise, "x").is_err());
        let b = SortedSample::from_values(&[2.5f32, -1.0], NanPolicy::Raise, "y").unwrap();
        let mut m = a.clone();
        m.merge(&b).unwrap();
        assert_eq!(m.values(), &[-1.0, 0.0, 0.0, 1.0, 2.5, 3.0]);
        let back = SortedSample::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
    }
}
