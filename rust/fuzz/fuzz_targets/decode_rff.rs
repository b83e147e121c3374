//! Any bytes: an error, or an RFF accumulator that round-trips; small ones also finalize
//! without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undertow_core::rff::Rff;

fuzz_target!(|data: &[u8]| {
    if let Ok(rff) = Rff::from_bytes(data) {
        let again = rff.to_bytes();
        assert_eq!(Rff::from_bytes(&again).unwrap().to_bytes(), again);
        if rff.features() <= 16 {
            let _ = rff.finalize();
        }
    }
});
