//! The simulated city: a pure, seeded model of people, phones, contacts and an Omicron epidemic
//! in Japan in 2022, for a driver that runs it through the real server and phone code.
//!
//! No I/O, no clock, no global RNG: everything follows from a [`Scenario`] and its seed, so the
//! same seed and scenario give the same city and the same events.
//!
//! Map of the modules, bottom up:
//! - [`time`]: `Date` (calendar dates, TOML), `Day` (the simulation's day index), JST unix
//!   seconds.
//! - `dist` (private): the distributions, written out so that a dependency upgrade cannot change
//!   a seed's output.
//! - [`scenario`]: every parameter with its meaning, default and source; TOML in and out;
//!   validation; [`Scenario::preset_demo`].
//! - [`population`]: people (age group, household, class or work group, commute) and phones
//!   (how many, COCOA since when, how often left at home).
//! - [`contacts`]: each day's contacts by setting (household, school, work, public transport,
//!   community), scaled by activity and behaviour; O(contacts) with reused buffers.
//! - [`epidemic`]: the disease's course per person, transmission per contact, imports, the care
//!   path's calendar.
//! - [`radio`]: attenuation and RSSI per scan from distance, and the scan times of an encounter.
//! - [`truth`]: what really happened, per day and per age group × commute.
//! - [`model`]: [`City`], which owns them all: `step` fills a [`DayEvents`] per day, `notify`
//!   takes the driver's notifications, `encounters` turns contacts into phone pairs, `survey`
//!   says which phones answer what, `truth` counts.
#![forbid(unsafe_code)]

pub mod contacts;
mod dist;
pub mod epidemic;
mod error;
pub mod model;
pub mod population;
pub mod radio;
pub mod scenario;
pub mod time;
pub mod truth;

pub use contacts::{Contact, Setting};
pub use epidemic::{HealthState, Infection, Source, TestReason};
pub use error::Error;
pub use model::{City, DayEvents, Encounter, PositiveResult, SurveyIntent, TestTaken};
pub use population::{PersonId, PhoneId, Population};
pub use radio::{RadioModel, Scan};
pub use scenario::Scenario;
pub use time::{Date, Day};
pub use truth::Truth;
