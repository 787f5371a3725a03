//! How a command fails: an error chain for stderr and the exit code it maps to.

use std::fmt::Display;
use std::process::ExitCode;

/// A failed command: what went wrong, and which exit code says so.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

/// The input was read but is invalid: exit code 1.
pub const INVALID: u8 = 1;
/// Usage or I/O error: exit code 2.
pub const USAGE_OR_IO: u8 = 2;

impl Failure {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }

    /// Prints `error: outer: inner: ...` to stderr and gives the exit code.
    pub fn report(self) -> ExitCode {
        eprintln!("error: {:#}", self.error);
        ExitCode::from(self.code)
    }
}

/// Attaches an exit code (and context) to any error.
pub trait OrFail<T> {
    /// The input is invalid (exit 1), with context.
    fn invalid(self, context: impl Display) -> Result<T, Failure>;
    /// A usage or I/O problem (exit 2), with context.
    fn usage_or_io(self, context: impl Display) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> OrFail<T> for Result<T, E> {
    fn invalid(self, context: impl Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(INVALID, e.into().context(context.to_string())))
    }

    fn usage_or_io(self, context: impl Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(USAGE_OR_IO, e.into().context(context.to_string())))
    }
}
