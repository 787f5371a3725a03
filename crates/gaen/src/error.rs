//! The one error type of the protocol crate: every way an input can be rejected.

use thiserror::Error as ThisError;

/// Why a value, payload or file was rejected. Each variant names the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// A fixed-size value had the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {actual}")]
    Length {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    /// A rolling period outside 1..=144.
    #[error("rolling period {0} is outside 1..=144")]
    RollingPeriod(i64),
    /// An interval number that does not fit the protocol's u32.
    #[error("interval number {0} is out of range")]
    IntervalNumber(i64),
    /// A report type value that the protocol does not define.
    #[error("report type {0} is not defined (0..=5)")]
    ReportType(i32),
    /// Days since onset of symptoms outside what phones accept.
    #[error("days since onset of symptoms {0} is outside -14..=14")]
    DaysSinceOnset(i32),
    /// A transmission risk level outside 0..=8.
    #[error("transmission risk level {0} is outside 0..=8")]
    TransmissionRiskLevel(i32),
    /// A Bluetooth advertisement that is not an Exposure Notification payload.
    #[error("advertisement: {0}")]
    Advertisement(&'static str),
    /// `export.bin` does not start with the `EK Export v1` header.
    #[error("export.bin does not start with the header \"EK Export v1    \"")]
    ExportHeader,
    /// A protobuf message that could not be decoded.
    #[error("{message} is not valid protobuf: {reason}")]
    Protobuf {
        message: &'static str,
        reason: String,
    },
    /// One key of an export file breaks a rule.
    #[error("{list}[{index}]: {reason}")]
    ExportKey {
        list: &'static str,
        index: usize,
        reason: Box<Error>,
    },
    /// A required field is missing.
    #[error("{0} is missing")]
    MissingField(&'static str),
    /// The zip container is malformed, has the wrong members or a member too large.
    #[error("zip container: {0}")]
    Zip(String),
    /// A signature or key could not be decoded.
    #[error("{0}")]
    Crypto(String),
    /// The file is well formed but none of its signatures verifies with any of the given keys.
    #[error("no signature verifies with the given public keys ({signatures} signatures, {keys} keys tried)")]
    SignatureMismatch { signatures: usize, keys: usize },
}
