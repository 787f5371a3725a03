//! The published analysis of the end-of-use survey: pure (no I/O, no clock; randomness, when
//! an estimator needs it, is an argument).
//!
//! - [`protect`]: disclosure control, always on: a threshold of respondents (raised a little
//!   per count by its cell key), complementary suppression over all linked tables at once,
//!   keyed unbiased rounding. Only it makes [`protect::Published`] values, and every table is
//!   made of them.
//! - [`inputs`]: optional side inputs (national cases, an activity index, named periods,
//!   active users, daily counts) parsed from CSV text.
//! - [`estimate`]: one pass over the answers ([`estimate::Accumulator`]), then the four
//!   questions and the headline tables ([`estimate::Analysis`]).
//! - [`tables`]: the published tables and their CSV form.
//! - [`stats`], [`date`]: the shared statistics and day arithmetic.
//!
//! The analysis reads the survey's domain types from `cocoa-api`, never from the server.

pub mod date;
pub mod dp;
pub mod estimate;
pub mod html;
pub mod inputs;
pub mod protect;
pub mod stats;
pub mod tables;

pub use estimate::{analyse, Accumulator, Analysis, DayRange, Method, SideInputs};
pub use protect::{Protection, Published};
