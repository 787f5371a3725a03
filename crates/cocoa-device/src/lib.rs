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

pub mod matching;
pub mod risk;
pub mod types;

pub use types::{DailySummary, ExposureWindow, KeyMatch, MatchedSighting, ScanInstance, Sighting};
