//! Checks that `gaen::export::decode_signature_list` (`export.sig`) never panics on arbitrary
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gaen::export::decode_signature_list(data);
});
