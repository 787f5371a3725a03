//! The crate's one error type.

use crate::time::Day;

/// Everything that can go wrong in the model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario text is not TOML of the scenario's shape (an unknown key, a wrong type).
    #[error("scenario: {0}")]
    Toml(#[from] toml::de::Error),
    /// The scenario could not be written as TOML.
    #[error("scenario: cannot write TOML: {0}")]
    TomlWrite(#[from] toml::ser::Error),
    /// A parameter is outside its range.
    #[error("scenario: `{field}` {reason}")]
    Invalid { field: String, reason: String },
    /// A person id the population does not have.
    #[error("no person {0} in a population of {1}")]
    UnknownPerson(u32, usize),
    /// The driver reported something for a day the model has not reached yet.
    #[error("{reported} is after the last simulated day ({current})")]
    FutureDay { reported: Day, current: Day },
    /// No day has been simulated yet.
    #[error("no day has been simulated yet")]
    NotStarted,
    /// Events of another day than the last one simulated.
    #[error("the events are of {given}, but the last simulated day is {current}")]
    StaleEvents { given: Day, current: Day },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
