//! The phone: everything a COCOA app does except drawing screens, as a plain Rust API. Clock,
//! randomness, HTTP and storage are passed in; there is no global state, so thousands of phones
//! can run side by side in one simulator.
//!
//! # Map of the crate
//! - [`types`]: the values shared by the modules: sightings, matches, exposure windows, daily
//!   summaries.
//! - [`matching`]: the matching engine: a fast pre-filter over every downloaded key, then exact
//!   evaluation of the few keys with a sighting.
//! - [`risk`]: exposure windows, daily summaries and the notification rule (v2 risk scoring with
//!   COCOA's configuration).
//! - [`storage`]: the `Storage` trait, `SqliteStorage` for a device, `MemoryStorage` for the
//!   simulator. [`http`]: the `Http` trait (and a reqwest client behind a feature).
//! - [`phone`]: `Phone`, which ties them together: key schedule, sightings, checks, history,
//!   registration. [`exposure_data`]: "save information".
//! - [`lab`]: many phones on one machine (a test lab, the simulator) checking together:
//!   `Lab::check_all` gives each phone exactly what its own `Phone::check` would, while the
//!   configuration, the list and each file are downloaded and verified once, and each key's
//!   RPIs are derived once and probed once by every phone's sightings; each phone then
//!   evaluates the keys it hit exactly, scores, notifies and commits as its own check does.
//!
//! # Memory
//! A [`Sighting`] value is 48 bytes with no allocation of its own; [`MemoryStorage`] keeps
//! sightings packed in 27 ([`storage::PACKED_SIGHTING_BYTES`]), and [`Phone::prune`] deletes
//! those older than 14 days (giving their memory back).

mod error;
pub mod exposure_data;
pub mod http;
pub mod lab;
pub mod matching;
pub mod phone;
pub mod risk;
pub mod storage;
pub mod survey;
pub mod types;

pub use error::Error;
pub use http::{Http, NetworkError, Response};
pub use lab::Lab;
pub use phone::{CheckReport, DayView, FailedFile, Phone, PhoneSettings, Status};
pub use storage::{MemoryStorage, SqliteStorage, Storage, StorageError, TekRecord};
pub use survey::SurveyAnswer;
pub use types::{DailySummary, ExposureWindow, KeyMatch, MatchedSighting, ScanInstance, Sighting};

/// Days since the unix epoch of a calendar date.
pub fn date_day(date: chrono::NaiveDate) -> i64 {
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")).num_days()
}
