//! Checks that `SignedExport::from_zip` never panics on arbitrary bytes, and that any zip it
//! accepts can be verified against the reference server key without panicking and survives
//! `to_zip` → `from_zip` unchanged.
#![no_main]

use gaen::{ExportVerifier, SignedExport};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const PUBLIC_KEY_PEM: &str =
    include_str!("../../crates/gaen/testdata/reference-server-export.pub.pem");

fn verifier() -> &'static ExportVerifier {
    static KEY: OnceLock<ExportVerifier> = OnceLock::new();
    KEY.get_or_init(|| ExportVerifier::from_pem(PUBLIC_KEY_PEM).expect("the reference key parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = SignedExport::from_zip(data) else {
        return;
    };
    // Verification must return Ok or Err, never panic, whatever the signatures hold.
    let _ = parsed.verify(std::slice::from_ref(verifier()));
    let zip = parsed.to_zip();
    let reparsed = SignedExport::from_zip(&zip).expect("to_zip output of an accepted file must parse");
    assert_eq!(reparsed, parsed, "to_zip → from_zip changed the export");
});
