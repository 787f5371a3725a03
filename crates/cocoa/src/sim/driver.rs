//! The driver: runs a `cocoa-sim` city through the real server and the real phone code.
//!
//! One simulated day, in the server's time (JST; the clock is stepped every hour, at half past,
//! and `App::run_due` runs what the schedule says is due then: the export every
//! `--export-interval-minutes`, retention daily):
//! - 00:00 `City::step`; phones installed that day start (a `cocoa-device` phone each, in memory,
//!   configured with the server and its signing keys, as a real phone's first start).
//! - 10:30 every positive result with a registering phone: the health centre issues a processing
//!   number through the admin API (`POST /api/v1/processing-numbers`, the admin token), and the
//!   phone registers its keys with it (`Phone::register`, `PUT /api/v2/diagnosis`).
//! - 19:30 every phone checks ([`check_phones`]: the one place checks happen); each new
//!   notification goes back to the model (`City::notify`). An auditor then downloads every export
//!   file once to count which registered keys were published.
//! - 24:00 the day's encounters: each phone of a pair records the other's advertisements, scan
//!   by scan (`RadioModel::scans`), each scan's payload built from the other phone's own TEK of
//!   that moment and parsed back by `Phone::observe` with the RSSI of the scan's attenuation;
//!   then every phone prunes what is older than 14 days.
//!
//! On the last day, at 21:30, before the encounters, every phone `City::survey` names submits
//! its answer through `PUT /api/v1/event_log` (`Phone::submit_survey`); just before, the census
//! (what every phone in use would have answered) is taken for the truth. Then the report is
//! made from the same `App`, and the clock is moved two days on so that the schedule exports the
//! keys still held back, for the audit.
//!
//! Per phone: its storage (keys, sightings, history, settings), its TEKs, its checks, its
//! registration and its survey answer. A check is, with `--checks shared` (the default),
//! `cocoa_device::Lab::check_all`: the configuration, the list and each new file downloaded and
//! verified once for all phones, each key's RPIs derived once and every phone's sightings
//! streamed through them, then each phone's own plan, exact evaluation, risk, notification rule
//! and commit; with `--checks per-phone`, each phone's own `Phone::check` over HTTP. Both give
//! every phone the same history ([`phone_state_digest`], compared by `tests/sim_cli.rs`).
//! Shared otherwise: the one server, one HTTP client (its connection pool), the signing keys
//! fetched once (what each phone's first start would fetch); the driver caches each phone's
//! RPIK and AEMK of the day and its last advertisement, derived from the phone's own TEK.
//!
//! Randomness: each phone's TEK of a UTC day, each registration and each survey draw from their
//! own stream of the seed (`City::derived_rng`), the scans of each chunk of a day's encounters
//! (in the model's order) from one stream, the server from a seeded RNG: the same seed gives
//! the same run, whatever the threads.

use super::server::{ServerOptions, SimServer};
use super::truth::Census;
use crate::failure::{Failure, OrFail, USAGE_OR_IO};
use anyhow::anyhow;
use cocoa_api::{IssueNumbersRequest, IssueNumbersResponse, ListEntry, SigningKeyInfo};
use cocoa_device::http::ReqwestHttp;
use cocoa_device::lab::Lab;
use cocoa_device::{CheckReport, Http, MemoryStorage, Phone, PhoneSettings};
use cocoa_device::{Storage, SurveyAnswer};
use cocoa_server::server::DueReport;
use cocoa_sim::{City, Day, DayEvents, Encounter, PersonId, PhoneId, RadioModel, Scan, Scenario};
use gaen::{Advertisement, Aemk, ExportVerifier, IntervalNumber, Metadata, Rpik, SignedExport};
use indicatif::ProgressBar;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

/// Streams of the seed the driver draws from (`City::derived_rng`).
const STREAM_TEK: u64 = cocoa_sim::model::FIRST_DRIVER_STREAM;
const STREAM_REGISTER: u64 = STREAM_TEK + 1;
const STREAM_SURVEY: u64 = STREAM_TEK + 2;
const STREAM_RADIO: u64 = STREAM_TEK + 3;
const STREAM_SERVER: u64 = STREAM_TEK + 4;

/// Minutes of the local day when things happen (the clock steps at half past each hour).
const REGISTER_MINUTE: u16 = 10 * 60 + 30;
const CHECK_MINUTE: u16 = 19 * 60 + 30;
const SURVEY_MINUTE: u16 = 21 * 60 + 30;

/// Every phone's transmit power (COCOA's default metadata).
const TX_POWER_DBM: i8 = cocoa_device::phone::DEFAULT_TX_POWER_DBM;

/// What the driver is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) scenario: Scenario,
    pub(crate) listen: SocketAddr,
    pub(crate) database_url: Option<String>,
    pub(crate) export_interval_minutes: u32,
    pub(crate) min_keys_per_file: usize,
    pub(crate) padding_jitter: usize,
    /// Threads the phones' checks run on.
    pub(crate) check_threads: usize,
    /// How the phones check.
    pub(crate) checks: Checks,
    /// The report's protection.
    pub(crate) min_cell: u64,
    pub(crate) round_to: u64,
}

/// How the phones check for exposures: both run every phone's own evaluation, risk scoring,
/// notification rule and commit by the same code, and give every phone the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Checks {
    /// `cocoa_device::Lab::check_all`: each file downloaded and verified once for all phones,
    /// each key's RPIs derived once.
    #[default]
    Shared,
    /// Each phone's own `Phone::check`, as on a real phone.
    PerPhone,
}

/// What the driver counted (the `driver` part of `truth.json`).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Counts {
    pub(crate) days: u32,
    pub(crate) phones_installed: u64,
    /// Sightings recorded (scans of another phone).
    pub(crate) sightings: u64,
    pub(crate) encounters: u64,
    pub(crate) infections: u64,
    pub(crate) positives: u64,
    /// Positive results whose owner registers from a COCOA phone (the model's decision).
    pub(crate) positives_registering: u64,
    pub(crate) processing_numbers_issued: u64,
    pub(crate) registrations_accepted: u64,
    /// Failed registrations by error.
    pub(crate) registration_failures: BTreeMap<String, u64>,
    /// Keys the registering phones sent.
    pub(crate) keys_sent: u64,
    /// Keys the server accepted (its registration counts).
    pub(crate) keys_accepted: u64,
    /// Registrations the server counted.
    pub(crate) registrations_counted_by_server: u64,
    /// Export runs that completed (the server's `/metrics`: scheduled runs, on the simulated
    /// clock).
    pub(crate) export_runs: u64,
    pub(crate) export_failures: u64,
    pub(crate) export_files: u64,
    /// Real keys in the files exported (the export's own count, `/metrics`).
    pub(crate) keys_published: u64,
    /// Of `keys_published`, those exported by the survey (the rest were held back and exported
    /// two days after the last day, for the audit).
    pub(crate) keys_published_by_last_day: u64,
    /// The audit: every listed file downloaded and verified once by the driver.
    pub(crate) audit: Audit,
    pub(crate) checks: u64,
    pub(crate) check_failures: BTreeMap<String, u64>,
    /// Files a check could not use (retried by the next).
    pub(crate) check_file_failures: u64,
    /// New high-risk days reported by checks (each is a notification).
    pub(crate) notifications: u64,
    /// Phones notified at least once.
    pub(crate) phones_notified: u64,
    /// `City::notify` calls (one per phone and day with a new notification).
    pub(crate) notify_calls: u64,
    pub(crate) survey_intents: u64,
    pub(crate) survey_answers_submitted: u64,
    pub(crate) survey_failures: BTreeMap<String, u64>,
    /// Answers in the server's store after the survey.
    pub(crate) survey_answers_stored: u64,
    /// COCOA phones in use on the last day.
    pub(crate) phones_in_use: u64,
    /// Days a check reported as newly high-risk that an earlier check of the same phone had
    /// already notified (COCOA notifies each day once: this must be 0).
    pub(crate) notifications_repeated: u64,
    /// [`phone_state_digest`] of the phones before the survey.
    pub(crate) phone_state_sha256: String,
}

/// Where the wall time went, seconds (not part of `truth.json`: it differs run to run).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Timings {
    /// `City::step` and `City::encounters`.
    pub(crate) model: f64,
    /// Recording the encounters' sightings.
    pub(crate) encounters: f64,
    /// The phones' daily pruning (keys and sightings older than 14 days).
    pub(crate) prune: f64,
    /// The phones' checks.
    pub(crate) checks: f64,
    /// Issuing numbers and registering.
    pub(crate) registrations: f64,
    /// `App::run_due` (exports and retention).
    pub(crate) schedule: f64,
    /// The census and the survey.
    pub(crate) survey: f64,
    /// The auditor's downloads.
    pub(crate) audit: f64,
    /// Making the report.
    pub(crate) report: f64,
}

/// The auditor's view of the published files.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Audit {
    pub(crate) files_downloaded: u64,
    pub(crate) files_failed: u64,
    /// Keys in them that a simulated phone registered.
    pub(crate) registered_keys_found: u64,
    /// Other keys (padding).
    pub(crate) other_keys: u64,
    /// Keys the phones sent that were published exactly once, more than once, never.
    pub(crate) sent_keys_published_once: u64,
    pub(crate) sent_keys_published_more_than_once: u64,
    pub(crate) sent_keys_never_published: u64,
}

/// What a run leaves: the server (still serving), the counts, the truth, the census.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) server: SimServer,
    pub(crate) counts: Counts,
    pub(crate) timings: Timings,
    pub(crate) truth: cocoa_sim::Truth,
    pub(crate) census: Census,
    /// The server's registrations per UTC day.
    pub(crate) registrations_by_day: BTreeMap<i64, u64>,
    pub(crate) report: crate::report::Made,
    pub(crate) scenario: Scenario,
}

/// A phone's key of one UTC day, derived once for its advertisements.
#[derive(Debug, Clone, Copy)]
struct DayKey {
    utc_day: u32,
    rpik: Rpik,
    aemk: Aemk,
}

/// What the driver keeps of a running phone besides the phone itself.
#[derive(Debug)]
struct PhoneState {
    id: PhoneId,
    owner: PersonId,
    /// The keys of the last two UTC days it advertised in (by parity of the day).
    keys: [Option<DayKey>; 2],
    notified: bool,
    /// The days it was notified of.
    notified_days: BTreeSet<String>,
}

/// `Driver::slot` of a phone that has not started.
const NOT_RUNNING: u32 = u32::MAX;

/// Every phone's periodic check, the one place phones check; the results in the phones' order.
/// `Checks::Shared`: `lab.check_all`. `Checks::PerPhone`: `Phone::check` per phone over HTTP,
/// phones side by side on `pool` (more threads than cores: a check mostly waits for the server).
fn check_phones(
    checks: Checks,
    lab: &Lab,
    pool: &rayon::ThreadPool,
    phones: &mut [Phone<MemoryStorage>],
    now: i64,
    http: &ReqwestHttp,
) -> Vec<Result<CheckReport, cocoa_device::Error>> {
    use rayon::prelude::*;
    match checks {
        Checks::Shared => lab.check_all(phones, now, http),
        Checks::PerPhone => pool.install(|| {
            phones
                .par_iter_mut()
                .map(|phone| phone.check(now, http))
                .collect()
        }),
    }
}

/// SHA-256 over what every running phone keeps of its exposures (daily summaries, exposure
/// windows, notified days), in order: two runs of a city whose digests agree gave every phone
/// the same history.
fn phone_state_digest(phones: &[Phone<MemoryStorage>]) -> Result<String, Failure> {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    for phone in phones {
        let s = phone.storage();
        let summaries = s.daily_summaries().map_err(fail)?;
        let windows = s.exposure_windows().map_err(fail)?;
        let notified = s.setting("notified_days").map_err(fail)?;
        hash.update(format!("{summaries:?}\n{windows:?}\n{notified:?}\n").as_bytes());
    }
    Ok(hex::encode(hash.finalize()))
}

/// The driver's state.
struct Driver<'a> {
    server: &'a SimServer,
    city: City,
    http: ReqwestHttp,
    check_pool: rayon::ThreadPool,
    checks: Checks,
    lab: Lab,
    admin: reqwest::Client,
    settings: PhoneSettings,
    verifiers: Vec<ExportVerifier>,
    /// The running phones (the real phone code over memory storage), in the order they started.
    phones: Vec<Phone<MemoryStorage>>,
    /// The same phones' driver state.
    states: Vec<PhoneState>,
    /// By phone id: the position in `phones`, or `NOT_RUNNING`.
    slot: Vec<u32>,
    counts: Counts,
    timings: Timings,
    /// Every key a phone sent with its registration, and how often the auditor found it.
    sent: HashMap<[u8; 16], u32>,
    audited: BTreeSet<String>,
    first_day: i64,
    progress: &'a ProgressBar,
}

fn fail(e: impl Into<anyhow::Error>) -> Failure {
    Failure::new(USAGE_OR_IO, e)
}

/// Runs the city of `options` and writes the report into `report_dir`.
pub(crate) fn run(
    options: &Options,
    report_dir: &Path,
    progress: &ProgressBar,
) -> Result<Outcome, Failure> {
    let scenario = options.scenario.clone();
    let city = City::new(scenario.clone()).usage_or_io("the scenario")?;
    let start = scenario.unix_seconds(Day(0), 0);
    let naive =
        |d: cocoa_sim::Date| chrono::NaiveDate::default() + chrono::Duration::days(d.epoch_day());
    let mut seeds = city.derived_rng(STREAM_SERVER, 0);
    let token: String = (0..16)
        .map(|_| format!("{:02x}", seeds.next_u32() as u8))
        .collect();
    let server_options = ServerOptions {
        listen: options.listen,
        database_url: options.database_url.clone(),
        export_interval_minutes: options.export_interval_minutes,
        min_keys_per_file: options.min_keys_per_file,
        padding_jitter: options.padding_jitter,
        survey_first_day: naive(scenario.start_date),
        final_report_date: naive(scenario.date(Day(scenario.days))),
        admin_token: token,
        rng_seed: seeds.next_u64(),
        start,
    };
    let server = SimServer::start(&server_options)?;
    let http = ReqwestHttp::new();
    let keys_url = format!("{}/api/v1/export-signing-keys", server.base_url);
    let response = http.get(&keys_url).usage_or_io(format!("GET {keys_url}"))?;
    let keys: Vec<SigningKeyInfo> = serde_json::from_slice(&response.body)
        .usage_or_io(format!("{keys_url} did not answer a key list"))?;
    let public_keys_pem: Vec<String> = keys.into_iter().map(|k| k.public_key_pem).collect();
    let verifiers = public_keys_pem
        .iter()
        .map(|pem| ExportVerifier::from_pem(pem))
        .collect::<Result<Vec<_>, _>>()
        .usage_or_io("the server's signing keys")?;
    let settings = PhoneSettings {
        server_url: server.base_url.clone(),
        region: "440".into(),
        public_keys_pem,
        tx_power_dbm: TX_POWER_DBM,
    };
    let phone_count = city.population().phones().len();
    let mut driver = Driver {
        server: &server,
        http,
        check_pool: rayon::ThreadPoolBuilder::new()
            .num_threads(options.check_threads)
            .thread_name(|i| format!("check-{i}"))
            .build()
            .usage_or_io("starting the checks' threads")?,
        checks: options.checks,
        lab: Lab::new(),
        admin: reqwest::Client::new(),
        settings,
        verifiers,
        phones: Vec::new(),
        states: Vec::new(),
        slot: vec![NOT_RUNNING; phone_count],
        counts: Counts::default(),
        timings: Timings::default(),
        sent: HashMap::new(),
        audited: BTreeSet::new(),
        first_day: scenario.start_date.epoch_day(),
        progress,
        city,
    };
    let census = driver.simulate()?;
    let truth = driver.city.truth();
    let Driver {
        mut counts,
        mut timings,
        sent,
        audited,
        http,
        verifiers,
        ..
    } = driver;
    let phones_in_use = counts.phones_in_use;

    // The report, from the same server, as `cocoa report` makes it.
    let sides = crate::report::Sides {
        active_users: Some(phones_in_use),
        ..Default::default()
    };
    let protection = cocoa_analytics::protect::Protection::new(options.min_cell, options.round_to)
        .usage_or_io("protection")?;
    let mut secret = [0u8; 8];
    seeds.fill_bytes(&mut secret);
    let started = Instant::now();
    let report = server.runtime.block_on(crate::report::make(
        &server.app,
        report_dir,
        protection,
        &sides,
        crate::report::Lang::Both,
        secret,
    ))?;
    timings.report = started.elapsed().as_secs_f64();

    // Keys still held back (today's keys of the last registrations): two days on, the schedule
    // has exported them all, and the audit sees every registered key.
    counts.keys_published_by_last_day = export_metrics(&server)?.keys;
    let end = server.now() + 2 * 86_400;
    note_due(server.advance_to(end));
    let m = export_metrics(&server)?;
    counts.export_runs = m.runs;
    counts.export_failures = m.failures;
    counts.export_files = m.files;
    counts.keys_published = m.keys;
    let mut auditor = Auditor {
        http: &http,
        verifiers: &verifiers,
        base_url: &server.base_url,
        sent,
        audited,
    };
    auditor.audit(&mut counts.audit)?;
    auditor.finish(&mut counts.audit);

    let stats = server
        .runtime
        .block_on(server.app.state().store.registration_stats())
        .usage_or_io("reading the registration counts")?;
    let mut registrations_by_day = BTreeMap::new();
    for s in &stats {
        counts.keys_accepted += s.keys;
        counts.registrations_counted_by_server += s.registrations;
        *registrations_by_day.entry(s.day).or_insert(0) += s.registrations;
    }
    Ok(Outcome {
        server,
        counts,
        timings,
        truth,
        census,
        registrations_by_day,
        report,
        scenario,
    })
}

/// Logs a scheduled job that failed (the schedule retries it at the next step). What ran is
/// counted from the server's `/metrics`, not from here: the server's own scheduler may run a due
/// job before the driver's `run_due` does.
fn note_due(due: DueReport) {
    if let Some(Err(e)) = due.export {
        tracing::warn!(error = %e, "a scheduled export failed");
    }
    if let Some(Err(e)) = due.retention {
        tracing::warn!(error = %e, "a scheduled retention failed");
    }
}

/// The export's counters from `GET /metrics` (the admin token).
#[derive(Debug, Clone, Copy, Default)]
struct ExportMetrics {
    runs: u64,
    failures: u64,
    files: u64,
    keys: u64,
}

fn export_metrics(server: &SimServer) -> Result<ExportMetrics, Failure> {
    let url = format!("{}/metrics", server.base_url);
    let text = server
        .runtime
        .block_on(async {
            reqwest::Client::new()
                .get(&url)
                .bearer_auth(&server.admin_token)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        })
        .usage_or_io(format!("GET {url}"))?;
    let mut m = ExportMetrics::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value = value.parse::<f64>().unwrap_or(0.0) as u64;
        let (metric, labels) = name.split_once('{').unwrap_or((name, ""));
        match metric {
            "cocoa_export_runs_total" if labels.contains("result=\"ok\"") => m.runs += value,
            "cocoa_export_runs_total" if labels.contains("result=\"failed\"") => {
                m.failures += value
            }
            "cocoa_export_files_total" => m.files += value,
            "cocoa_export_keys_total" => m.keys += value,
            _ => {}
        }
    }
    Ok(m)
}

/// Downloads every listed file once and counts the registered keys in it.
struct Auditor<'a> {
    http: &'a ReqwestHttp,
    verifiers: &'a [ExportVerifier],
    base_url: &'a str,
    sent: HashMap<[u8; 16], u32>,
    audited: BTreeSet<String>,
}

impl Auditor<'_> {
    fn audit(&mut self, audit: &mut Audit) -> Result<(), Failure> {
        let url = format!("{}/c19r/440/list.json", self.base_url);
        let response = self.http.get(&url).usage_or_io(format!("GET {url}"))?;
        if response.status == 404 {
            return Ok(()); // nothing exported yet
        }
        let list: Vec<ListEntry> =
            serde_json::from_slice(&response.body).usage_or_io(format!("{url}: not a list"))?;
        for entry in list {
            if !self.audited.insert(entry.url.clone()) {
                continue;
            }
            let file = self
                .http
                .get(&entry.url)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    if r.status == 200 {
                        SignedExport::from_zip(&r.body).map_err(|e| e.to_string())
                    } else {
                        Err(format!("HTTP {}", r.status))
                    }
                })
                .and_then(|f| {
                    f.verify(self.verifiers)
                        .map(|_| f)
                        .map_err(|e| e.to_string())
                });
            match file {
                Ok(file) => {
                    audit.files_downloaded += 1;
                    for key in &file.export.keys {
                        match self.sent.get_mut(key.key.as_bytes()) {
                            Some(n) => {
                                *n += 1;
                                audit.registered_keys_found += 1;
                            }
                            None => audit.other_keys += 1,
                        }
                    }
                }
                Err(reason) => {
                    audit.files_failed += 1;
                    tracing::warn!(url = %entry.url, %reason, "the auditor could not use a file");
                }
            }
        }
        Ok(())
    }

    fn finish(&self, audit: &mut Audit) {
        for &n in self.sent.values() {
            match n {
                0 => audit.sent_keys_never_published += 1,
                1 => audit.sent_keys_published_once += 1,
                _ => audit.sent_keys_published_more_than_once += 1,
            }
        }
    }
}

impl Driver<'_> {
    /// The position of a running phone in `phones`.
    fn slot(&self, id: PhoneId) -> Option<usize> {
        Some(self.slot[id.index()])
            .filter(|&s| s != NOT_RUNNING)
            .map(|s| s as usize)
    }

    fn minute(&self, day: Day, minute: u16) -> i64 {
        self.city.scenario().unix_seconds(day, minute)
    }

    /// Moves the clock to `t`, running what is due.
    fn advance(&mut self, t: i64) {
        let started = Instant::now();
        note_due(self.server.advance_to(t));
        self.timings.schedule += started.elapsed().as_secs_f64();
    }

    /// Every day of the scenario; returns the census taken before the survey.
    fn simulate(&mut self) -> Result<Census, Failure> {
        let days = self.city.scenario().days;
        self.progress.set_length(u64::from(days));
        let mut events = DayEvents::default();
        let mut encounters: Vec<Encounter> = Vec::new();
        let mut census = None;
        for d in 0..days {
            let day = Day(d);
            let last = d + 1 == days;
            self.advance(self.minute(day, 0));
            let started = Instant::now();
            self.city.step(&mut events);
            self.timings.model += started.elapsed().as_secs_f64();
            self.counts.days += 1;
            self.counts.infections += events.infections.len() as u64;
            self.counts.positives += events.positives.len() as u64;
            for &phone in &events.installs {
                self.install(phone)?;
            }
            for hour in 0..24u16 {
                let minute = hour * 60 + 30;
                self.advance(self.minute(day, minute));
                let started = Instant::now();
                if minute == REGISTER_MINUTE {
                    let positives = std::mem::take(&mut events.positives);
                    for p in &positives {
                        self.register(p)?;
                    }
                    events.positives = positives;
                    self.timings.registrations += started.elapsed().as_secs_f64();
                }
                if minute == CHECK_MINUTE {
                    self.check(day)?;
                }
                if last && minute == SURVEY_MINUTE {
                    self.counts.phone_state_sha256 = phone_state_digest(&self.phones)?;
                    let mut c = self.census();
                    self.survey(&mut c)?;
                    census = Some(c);
                    self.timings.survey += started.elapsed().as_secs_f64();
                }
            }
            if !last {
                let started = Instant::now();
                self.city
                    .encounters(&events, &mut encounters)
                    .usage_or_io("the day's encounters")?;
                self.timings.model += started.elapsed().as_secs_f64();
                let started = Instant::now();
                self.record(day, &encounters)?;
                self.timings.encounters += started.elapsed().as_secs_f64();
                let started = Instant::now();
                let end = self.minute(day, 0) + 86_400;
                {
                    use rayon::prelude::*;
                    let phones = &mut self.phones;
                    self.check_pool
                        .install(|| phones.par_iter_mut().try_for_each(|p| p.prune(end)))
                        .map_err(fail)?;
                }
                self.timings.prune += started.elapsed().as_secs_f64();
            }
            self.progress.set_position(u64::from(d + 1));
            self.progress.set_message(format!(
                "infected {} · registered {} · notified {} phones",
                self.counts.infections,
                self.counts.registrations_accepted,
                self.counts.phones_notified
            ));
        }
        self.counts.phones_in_use = self.phones.len() as u64;
        let stored = self
            .server
            .runtime
            .block_on(self.server.app.state().store.count_survey_responses())
            .usage_or_io("counting the survey answers")?;
        self.counts.survey_answers_stored = stored;
        census.ok_or_else(|| fail(anyhow!("the scenario has no day")))
    }

    /// A phone starts: configured as a real phone's first start, with the day its owner
    /// started using COCOA.
    fn install(&mut self, id: PhoneId) -> Result<(), Failure> {
        let population = self.city.population();
        let p = population.phone(id);
        let mut phone = Phone::new(MemoryStorage::default()).with_threads(1);
        phone.configure(&self.settings).map_err(fail)?;
        if let Some(since) = p.cocoa_since {
            phone
                .record_start_of_use(since.epoch_day() * 86_400)
                .map_err(fail)?;
        }
        self.slot[id.index()] = u32::try_from(self.phones.len()).map_err(fail)?;
        self.phones.push(phone);
        self.states.push(PhoneState {
            id,
            owner: p.owner,
            keys: [None, None],
            notified: false,
            notified_days: BTreeSet::new(),
        });
        self.counts.phones_installed += 1;
        Ok(())
    }

    /// A processing number from the health centre, through the admin API.
    fn issue_number(&mut self) -> Result<String, Failure> {
        let url = format!("{}/api/v1/processing-numbers", self.server.base_url);
        let body = IssueNumbersRequest {
            count: Some(1),
            lifetime_minutes: None,
            symptom_onset_date: None,
            test_date: None,
        };
        let answer: IssueNumbersResponse = self
            .server
            .runtime
            .block_on(async {
                self.admin
                    .post(&url)
                    .bearer_auth(&self.server.admin_token)
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await
            })
            .usage_or_io(format!("POST {url}"))?;
        let number = answer
            .processing_numbers
            .into_iter()
            .next()
            .ok_or_else(|| fail(anyhow!("{url} issued no number")))?;
        self.counts.processing_numbers_issued += 1;
        Ok(number.processing_number)
    }

    /// A positive result registered from its phone, if the person registers.
    fn register(&mut self, result: &cocoa_sim::PositiveResult) -> Result<(), Failure> {
        let Some(id) = result.register_phone else {
            return Ok(());
        };
        self.counts.positives_registering += 1;
        let Some(slot) = self.slot(id) else {
            *self
                .counts
                .registration_failures
                .entry("the phone is not running".into())
                .or_insert(0) += 1;
            return Ok(());
        };
        let number = self.issue_number()?;
        let scenario = self.city.scenario();
        let date = scenario.date(result.onset_day.unwrap_or(result.test_day));
        let date_day = date.epoch_day();
        let date = chrono::NaiveDate::default() + chrono::Duration::days(date_day);
        let now = self.server.now();
        let mut rng = self.city.derived_rng(STREAM_REGISTER, u64::from(id.0));
        let http = &self.http;
        let phone = &mut self.phones[slot];
        // Today's key is made from the phone's own stream first, as advertising would.
        key_of(&self.city, phone, &mut self.states[slot], now)?;
        match phone.register(
            now,
            http,
            &number,
            result.onset_day.is_some(),
            date,
            &mut rng,
        ) {
            Ok(sent) => {
                self.counts.registrations_accepted += 1;
                self.counts.keys_sent += sent as u64;
                let first = date_day - cocoa_device::phone::REGISTER_DAYS_BEFORE;
                for t in phone.storage().teks().map_err(fail)? {
                    if i64::from(t.rolling_start.utc_day()) >= first {
                        self.sent.entry(t.tek.to_bytes()).or_insert(0);
                    }
                }
            }
            Err(e) => {
                *self
                    .counts
                    .registration_failures
                    .entry(e.to_string())
                    .or_insert(0) += 1;
            }
        }
        Ok(())
    }

    /// Every phone checks; new notifications go back to the model.
    fn check(&mut self, day: Day) -> Result<(), Failure> {
        let now = self.server.now();
        let started = Instant::now();
        let results = check_phones(
            self.checks,
            &self.lab,
            &self.check_pool,
            &mut self.phones,
            now,
            &self.http,
        );
        self.timings.checks += started.elapsed().as_secs_f64();
        for (state, result) in self.states.iter_mut().zip(results) {
            self.counts.checks += 1;
            match result {
                Ok(report) => {
                    self.counts.check_file_failures += report.files_failed.len() as u64;
                    if report.new_high_risk_days.is_empty() {
                        continue;
                    }
                    self.counts.notifications += report.new_high_risk_days.len() as u64;
                    for d in report.new_high_risk_days {
                        if !state.notified_days.insert(d) {
                            self.counts.notifications_repeated += 1;
                        }
                    }
                    if !state.notified {
                        state.notified = true;
                        self.counts.phones_notified += 1;
                    }
                    let owner = state.owner;
                    self.counts.notify_calls += 1;
                    self.city
                        .notify(owner, day)
                        .usage_or_io("reporting a notification")?;
                }
                Err(e) => {
                    *self.counts.check_failures.entry(e.to_string()).or_insert(0) += 1;
                }
            }
        }
        let mut auditor = Auditor {
            http: &self.http,
            verifiers: &self.verifiers,
            base_url: &self.server.base_url,
            sent: std::mem::take(&mut self.sent),
            audited: std::mem::take(&mut self.audited),
        };
        let started = Instant::now();
        let audited = auditor.audit(&mut self.counts.audit);
        self.timings.audit += started.elapsed().as_secs_f64();
        self.sent = auditor.sent;
        self.audited = auditor.audited;
        audited
    }

    /// What every phone in use would answer with every consent: the truth's census.
    fn census(&self) -> Census {
        let population = self.city.population();
        let last_day = self.server.now().div_euclid(86_400);
        let mut census = Census::new(self.first_day, last_day);
        let answer = SurveyAnswer {
            age_group: None,
            commute: None,
            send_start_date: false,
            send_exposure_data: true,
        };
        for (sim, state) in self.phones.iter().zip(&self.states) {
            let phone = population.phone(state.id);
            let owner = population.person(phone.owner);
            let days: Vec<(i64, bool)> = match sim.survey_content(&answer, self.first_day) {
                Ok(content) => content
                    .exposure_data
                    .map(|d| {
                        d.daily_summaries
                            .iter()
                            .map(|s| {
                                (
                                    s.date_millis.div_euclid(86_400_000),
                                    s.exposure_detected == 1,
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            census.add(
                owner.age.get(),
                phone.survey_commute(owner).get(),
                &days,
                state.notified,
            );
        }
        census
    }

    /// The end of use: every phone that takes part submits its answer.
    fn survey(&mut self, census: &mut Census) -> Result<(), Failure> {
        let intents = self.city.survey().usage_or_io("the survey")?;
        let now = self.server.now();
        // Each taking part phone's answer and its own random stream, by its position.
        let mut jobs: Vec<Option<(SurveyAnswer, ChaCha8Rng)>> =
            (0..self.phones.len()).map(|_| None).collect();
        for intent in intents {
            self.counts.survey_intents += 1;
            let owner = self.city.population().phone(intent.phone).owner;
            census.add_respondent(self.city.population().person(owner).age.get());
            let Some(slot) = self.slot(intent.phone) else {
                *self
                    .counts
                    .survey_failures
                    .entry("the phone is not running".into())
                    .or_insert(0) += 1;
                continue;
            };
            let answer = SurveyAnswer {
                age_group: intent.age_group.map(|a| a.get()),
                commute: intent.commute.map(|c| c.get()),
                send_start_date: intent.start_date.is_some(),
                send_exposure_data: intent.daily_data,
            };
            let rng = self
                .city
                .derived_rng(STREAM_SURVEY, u64::from(intent.phone.0));
            if jobs[slot].replace((answer, rng)).is_some() {
                return Err(fail(anyhow!("the survey named one phone twice")));
            }
        }
        // The phones submit side by side, as a city's phones would (the server batches
        // concurrent answers into one commit); each phone's request is its own.
        use rayon::prelude::*;
        let (http, first_day) = (&self.http, self.first_day);
        let phones = &mut self.phones;
        let results: Vec<Option<Result<(), cocoa_device::Error>>> = self.check_pool.install(|| {
            phones
                .par_iter_mut()
                .zip(jobs.par_iter_mut())
                .map(|(phone, job)| {
                    let (answer, rng) = job.as_mut()?;
                    Some(phone.submit_survey(now, http, answer, first_day, rng))
                })
                .collect()
        });
        for result in results.into_iter().flatten() {
            match result {
                Ok(()) => self.counts.survey_answers_submitted += 1,
                Err(e) => {
                    *self
                        .counts
                        .survey_failures
                        .entry(e.to_string())
                        .or_insert(0) += 1;
                }
            }
        }
        Ok(())
    }

    /// The day's encounters, scan by scan: the hot loop.
    fn record(&mut self, day: Day, encounters: &[Encounter]) -> Result<(), Failure> {
        use rayon::prelude::*;
        let radio: RadioModel = *self.city.radio();
        // First the scans: each chunk of encounters draws from its own random stream (of the
        // day and the chunk), so chunks are drawn side by side and the draws do not depend on
        // the threads.
        let (city, slots) = (&self.city, &self.slot);
        let running = |id: PhoneId| Some(slots[id.index()]).filter(|&s| s != NOT_RUNNING);
        let chunks: Vec<Vec<(u32, u32, Scan)>> = self.check_pool.install(|| {
            encounters
                .par_chunks(SCAN_CHUNK)
                .enumerate()
                .map(|(c, chunk)| {
                    let mut rng =
                        city.derived_rng(STREAM_RADIO, (u64::from(day.0) << 32) | c as u64);
                    let scenario = city.scenario();
                    let mut scans: Vec<Scan> = Vec::new();
                    let mut out = Vec::new();
                    for e in chunk {
                        let start = scenario.unix_seconds(day, e.contact.start_minute);
                        let duration_s = u32::from(e.contact.duration_minutes) * 60;
                        let distance = f64::from(e.contact.distance_m);
                        for (observer, other) in [(e.phone_a, e.phone_b), (e.phone_b, e.phone_a)] {
                            scans.clear();
                            radio.scans(start, duration_s, distance, &mut rng, &mut scans);
                            if let (Some(observer), Some(other)) =
                                (running(observer), running(other))
                            {
                                out.extend(scans.iter().map(|s| (observer, other, *s)));
                            }
                        }
                    }
                    out
                })
                .collect()
        });
        self.counts.encounters += encounters.len() as u64;
        // Then, in the model's order, the advertising phone's key of each scan's time (which
        // may make that phone's key of the day).
        let mut heard: Vec<Heard> = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
        for (observer, other, s) in chunks.into_iter().flatten() {
            let key = key_of(
                &self.city,
                &mut self.phones[other as usize],
                &mut self.states[other as usize],
                s.at,
            )?;
            heard.push(Heard {
                observer,
                other,
                interval: interval_of(s.at)?,
                key,
                rssi: RadioModel::rssi_dbm(TX_POWER_DBM, s.attenuation_db),
                at: s.at,
                previous_scan_at: s.previous_scan_at,
            });
        }
        self.counts.sightings += heard.len() as u64;
        // Then each phone records what it heard, in the same order, phones side by side: each
        // phone's storage gets exactly the sightings, in exactly the order, of one pass.
        let mut starts = vec![0usize; self.phones.len() + 1];
        for h in &heard {
            starts[h.observer as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; heard.len()];
        for (i, h) in heard.iter().enumerate() {
            let slot = &mut next[h.observer as usize];
            order[*slot] = i as u32;
            *slot += 1;
        }
        let phones = &mut self.phones;
        let (heard, order, starts) = (&heard, &order, &starts);
        self.check_pool
            .install(|| {
                phones
                    .par_iter_mut()
                    .enumerate()
                    .try_for_each(|(slot, phone)| {
                        // Scans of one interval hear the same advertisement.
                        let mut last: Option<(u32, u32, [u8; 31])> = None;
                        for &i in &order[starts[slot]..starts[slot + 1]] {
                            let h = &heard[i as usize];
                            let payload = match last {
                                Some((other, interval, payload))
                                    if other == h.other && interval == h.interval =>
                                {
                                    payload
                                }
                                _ => {
                                    let payload = advertisement(&h.key, h.interval);
                                    last = Some((h.other, h.interval, payload));
                                    payload
                                }
                            };
                            phone.observe(&payload, h.rssi, h.at, Some(h.previous_scan_at))?;
                        }
                        Ok::<(), cocoa_device::Error>(())
                    })
            })
            .map_err(fail)
    }
}

/// Encounters whose scans one random stream draws (see `Driver::record`).
const SCAN_CHUNK: usize = 1024;

/// One scan that heard another phone: what the observer records.
struct Heard {
    observer: u32,
    /// The advertising phone's position, its key of the scan's UTC day, and the interval.
    other: u32,
    key: DayKey,
    interval: u32,
    rssi: i8,
    at: i64,
    previous_scan_at: i64,
}

/// The phone's key of the UTC day of `at` (made from its own stream of the seed if it has none
/// yet), derived for advertising.
fn key_of(
    city: &City,
    phone: &mut Phone<MemoryStorage>,
    state: &mut PhoneState,
    at: i64,
) -> Result<DayKey, Failure> {
    let interval = IntervalNumber::from_unix_seconds(at.max(0) as u64).map_err(fail)?;
    let utc_day = interval.utc_day();
    let slot = (utc_day % 2) as usize;
    if let Some(k) = state.keys[slot].filter(|k| k.utc_day == utc_day) {
        return Ok(k);
    }
    let mut rng: ChaCha8Rng = city.derived_rng(
        STREAM_TEK,
        (u64::from(state.id.0) << 24) | u64::from(utc_day & 0xff_ffff),
    );
    let record = phone.key_for(at, &mut rng).map_err(fail)?;
    let (rpik, aemk) = record.tek.derive();
    let key = DayKey {
        utc_day,
        rpik,
        aemk,
    };
    state.keys[slot] = Some(key);
    Ok(key)
}

/// The interval number of `at`.
fn interval_of(at: i64) -> Result<u32, Failure> {
    Ok(IntervalNumber::from_unix_seconds(at.max(0) as u64)
        .map_err(fail)?
        .get())
}

/// The 31-byte advertisement a phone broadcasts in `interval` with its key of that day: the
/// RPI of the interval, and the metadata encrypted under its AEMK.
fn advertisement(key: &DayKey, interval: u32) -> [u8; 31] {
    let rpi = key.rpik.rpi(IntervalNumber::new(interval));
    let aem = key.aemk.encrypt(&rpi, &Metadata::v1_0(TX_POWER_DBM));
    Advertisement { rpi, aem }.to_bytes()
}
