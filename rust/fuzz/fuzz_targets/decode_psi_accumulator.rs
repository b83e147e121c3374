//! Any bytes: an error, or an accumulator that round-trips and finalizes without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undertow_core::state::PsiAccumulator;

fuzz_target!(|data: &[u8]| {
    if let Ok(acc) = PsiAccumulator::from_bytes(data) {
        let again = acc.to_bytes();
        assert_eq!(
            PsiAccumulator::from_bytes(&again).unwrap().to_bytes(),
            again
        );
        if let Ok(columns) = acc.finalize() {
            for c in columns {
                assert!(c.value.is_finite() && c.value >= 0.0, "PSI {}", c.value);
            }
        }
        let mut merged = acc.clone();
        let _ = merged.merge(&acc);
    }
});
