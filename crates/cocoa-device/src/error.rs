//! The one error type of the phone crate. Registration errors say precisely what went wrong, so
//! that an app can tell its user (an expired number is not a "wrong" number).

use crate::http::NetworkError;
use crate::storage::StorageError;

/// Why an operation of the phone failed. Unless stated otherwise, nothing was changed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("this phone has not been set up: run init with the server's address first")]
    NotInitialised,
    #[error("use of the app has ended on this phone")]
    UseEnded,
    #[error("{0} (nothing was changed; try again later)")]
    Network(#[from] NetworkError),
    #[error("{url} answered HTTP {status}")]
    ServerStatus { url: String, status: u16 },
    #[error("the key list {url} is not valid: {reason}")]
    BadList { url: String, reason: String },
    #[error("the key file {url} was rejected: {reason}")]
    BadFile { url: String, reason: String },
    #[error("the configuration file {url} is not valid: {reason}")]
    BadConfiguration { url: String, reason: String },
    #[error("an advertisement could not be read: {0}")]
    BadAdvertisement(#[from] gaen::Error),
    #[error("the processing number must be exactly 8 digits")]
    NumberMalformed,
    #[error("the processing number is not valid: check the digits, or ask the health centre")]
    NumberInvalid,
    #[error("the processing number has expired: ask the health centre for a new one")]
    NumberExpired,
    #[error("the processing number has already been used")]
    NumberUsed,
    #[error("there are no keys from the given date onward to register")]
    NoKeysToRegister,
    #[error("the server refused the registration ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("too many attempts: try again in {retry_after_seconds} seconds")]
    RateLimited { retry_after_seconds: u64 },
    #[error("the server cannot take registrations right now (HTTP {status}); try again later")]
    ServerUnavailable { status: u16 },
    #[error("{0}")]
    Invalid(String),
}
