//! Any bytes: an error, or a covariance accumulator that round-trips; small ones also finalize
//! (a PCA, or an error) without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undertow_core::pca::Covariance;

fuzz_target!(|data: &[u8]| {
    if let Ok(cov) = Covariance::from_bytes(data) {
        let again = cov.to_bytes();
        assert_eq!(Covariance::from_bytes(&again).unwrap(), cov);
        if cov.dim() <= 16 {
            let _ = cov.finalize(1);
            let mut merged = cov.clone();
            let _ = merged.merge(&cov);
        }
    }
});
