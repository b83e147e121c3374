//! Any bytes: an error or a PCA that round-trips and transforms a row without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undertow_core::pca::Pca;

fuzz_target!(|data: &[u8]| {
    if let Ok(pca) = Pca::from_bytes(data) {
        let again = pca.to_bytes();
        assert_eq!(Pca::from_bytes(&again).unwrap(), pca);
        let row = vec![0.5f64; pca.dim];
        let _ = pca.transform("x", &row);
    }
});
