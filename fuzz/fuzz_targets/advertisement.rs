//! Checks that `Advertisement::parse` never panics on arbitrary bytes, and that any payload it
//! accepts is rebuilt byte for byte by `to_bytes_with_flags` with the payload's own flags byte.
#![no_main]

use gaen::Advertisement;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = Advertisement::parse(data) else {
        return;
    };
    let rebuilt = parsed.to_bytes_with_flags(data[2]);
    assert_eq!(&rebuilt[..], data, "to_bytes_with_flags(flags) differs from the parsed payload");
});
