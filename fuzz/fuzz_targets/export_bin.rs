//! Checks that `KeyExport::from_export_bin` never panics on arbitrary bytes, and that any
//! `export.bin` it accepts survives `to_export_bin` → `from_export_bin` unchanged.
#![no_main]

use gaen::KeyExport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = KeyExport::from_export_bin(data) else {
        return;
    };
    let bin = parsed.to_export_bin();
    let reparsed =
        KeyExport::from_export_bin(&bin).expect("to_export_bin output of an accepted file must parse");
    assert_eq!(reparsed, parsed, "to_export_bin → from_export_bin changed the export");
});
