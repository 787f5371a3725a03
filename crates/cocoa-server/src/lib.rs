//! The key server: health centres issue one-time processing numbers; phones of people who tested
//! positive register their keys with one; a scheduled export signs and publishes them for phones
//! to download; phones send the end-of-use survey; retention deletes everything on time.
//!
//! # Map of the crate
//! - [`config`]: typed configuration (defaults < TOML file < environment < flags).
//! - [`dates`]: strict RFC 3339 dates and date-times.
//! - [`clock`]: the injected clock (`SystemClock`, `ManualClock`).
//! - [`numbers`]: processing numbers and their HMAC.
//! - [`registration`]: the pure rules of a registration (validation, infectious window,
//!   release times).
//! - [`report`]: the published survey report's files in blob storage (served at `/report/`).
//! - [`survey`]: the pure rules of the end-of-use survey (what an answer may hold, what is kept).
//! - [`metrics`]: what `GET /metrics` shows (each `App` its own recorder).
//! - [`private_files`]: the data folder 0700, databases and secrets 0600, shared ones refused.
//! - [`ratelimit`]: limits on failed attempts, reserved before evaluation.
//! - [`store`]: the `Store` trait and its SQLite and PostgreSQL implementations.
//! - [`http`]: routes and handlers; [`server`]: assembly and `serve(listener, shutdown)`.
//! - [`schedule`]: what is due when (the export every interval, retention every ten minutes by
//!   default), asked with the injected clock's time by `App::run_due`.
//! - [`testing`]: helpers for tests of this and other crates (a fresh PostgreSQL database).
//!
//! # Invariants
//! - A processing number is stored only as an HMAC; neither numbers, tokens, keys nor client
//!   addresses are logged.
//! - Claiming a number and storing its keys is one transaction.
//! - A survey answer is stored as its answers, daily flags and days only: no address, device
//!   detail or exact time is stored or logged.

pub mod blob;
pub mod clock;
pub mod config;
pub mod dates;
pub mod export;
pub mod http;
pub mod metrics;
pub mod numbers;
pub mod private_files;
pub mod ratelimit;
pub mod registration;
pub mod report;
pub mod schedule;
pub mod server;
pub mod store;
pub mod survey;
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ServerConfig;
pub use server::App;
