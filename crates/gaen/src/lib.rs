//! The Exposure Notification protocol (Apple/Google v1.2 crypto), as spoken by COCOA: keys and
//! identifiers, the Bluetooth payload, and signed diagnosis-key export files.
//!
//! # Map of the crate
//! - [`time`]: 10-minute interval numbers, UTC-day alignment, rolling periods.
//! - [`keys`]: the key newtypes (`Tek`, `Rpik`, `Aemk`, `Rpi`, `Aem`, `Metadata`), report types and
//!   days since onset, and the derivations between them. The derivations run on the hand-tuned
//!   kernel in `kdf`, which the straightforward [`reference`] implementation cross-checks.
//! - [`ble`]: the 31-byte advertisement, built and parsed.
//! - [`export`]: `export.bin` (header + protobuf), `export.sig`, the zip container, and ECDSA P-256
//!   signing and verification.
//!
//! # Invariants
//! - No I/O, no clock, no randomness of its own: time arrives as numbers, randomness as an RNG
//!   argument. Everything here is a pure function of its inputs.
//! - Every decoder takes untrusted bytes and either returns a value or an [`Error`]; it never
//!   panics and never reads past a size limit.
//! - Secret keys (`Tek`, `Rpik`, `Aemk`) never print their bytes through `Debug`.

pub mod ble;
mod error;
pub mod export;
mod kdf;
mod kdf_vaes;
pub mod keys;
pub mod reference;
pub mod time;

pub use ble::Advertisement;
pub use error::Error;
pub use export::{
    DiagnosisKey, ExportSignature, ExportSigner, ExportVerifier, KeyExport, SignatureInfo,
    SignedExport,
};
pub use keys::{
    Aem, Aemk, DaysSinceOnset, Metadata, ReportType, Rpi, Rpik, Tek, TransmissionRiskLevel,
};
pub use time::{IntervalNumber, RollingPeriod};
