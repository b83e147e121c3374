//! Any bytes: an error or a reference whose encoding decodes to the same reference.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undertow_core::state::PsiReference;

fuzz_target!(|data: &[u8]| {
    if let Ok(reference) = PsiReference::from_bytes(data) {
        let again = reference.to_bytes();
        assert_eq!(PsiReference::from_bytes(&again).unwrap(), reference);
    }
});
