//! `cocoa bench publish`: a load benchmark of positive registrations against the real server.
//!
//! By default the server runs in this process (on 127.0.0.1, port 0) over a fresh store: SQLite in
//! a temporary folder, or a fresh PostgreSQL database created for the run and dropped after it.
//! Everything that is not a registration happens before the clock starts: the processing numbers
//! are issued through the HTTP API (100 per request) and every request body is built and
//! serialised. Then the registrations go out over HTTP/1.1 keep-alive at a fixed concurrency, each
//! one timed from the moment it is sent to the end of its answer. Afterwards the store is counted,
//! so that a run cannot pass by failing silently: every registration must have stored exactly the
//! keys of its infectious window. Any error makes the command exit non-zero.
//!
//! The client shares the machine (and, in-process, the runtime) with the server: the figures are
//! those of the whole loop, client included.

use crate::failure::{Failure, OrFail, INVALID, USAGE_OR_IO};
use anyhow::anyhow;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{Duration as Days, NaiveDate, Utc};
use clap::{Args, Subcommand};
use cocoa_api::{DiagnosisRequest, DiagnosisRequestKey, IssueNumbersRequest, IssueNumbersResponse};
use cocoa_server::{App, ServerConfig, SystemClock};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;
use sqlx::Connection;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// Declared here rather than in main.rs, next to the subcommand it implements.
#[path = "bench_report.rs"]
mod bench_report;

/// Keys per registration: one per day of the last 14 days, today included.
const KEYS_PER_REGISTRATION: i64 = 14;
/// Symptom onset, in days before today.
const ONSET_DAYS_AGO: i64 = 7;
/// Numbers per issuance request (the server's maximum).
const NUMBERS_PER_REQUEST: usize = 100;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Positive registrations (PUT /api/v2/diagnosis, 14 keys each, numbers issued beforehand):
    /// throughput, latency percentiles, errors by status, and a count of the keys stored.
    Publish(PublishArgs),
    /// One export run over a large backlog (1.4 million keys by default): time, files, peak
    /// memory.
    Export(crate::bench_export::ExportBenchArgs),
    /// The phone's matching engine against a baseline of the reference matcher's design:
    /// keys per second, keys found, peak memory.
    Match(crate::bench_match::MatchBenchArgs),
    /// End-of-use survey submissions (PUT /api/v1/event_log, 200 daily entries each):
    /// throughput, latency percentiles, errors, and a count of the answers stored.
    Survey(crate::bench_survey::SurveyBenchArgs),
    /// `cocoa report` over COCOA's whole survey (3,030,000 generated answers of about 200
    /// days by default): time, answers per second, peak memory.
    Report(bench_report::ReportBenchArgs),
    /// The simulated city through the real server and phones (`cocoa sim`), timed: phones x
    /// days per second, peak memory, registrations, notifications, survey answers.
    Sim(crate::sim::BenchSimArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// How many registrations to send (each uses its own processing number).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    registrations: u32,
    /// Registrations in flight at once (one keep-alive connection each).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// The in-process server's database: postgres://... creates a fresh database on that
    /// PostgreSQL server for the run and drops it afterwards; sqlite:... uses that file
    /// [default: SQLite in a fresh temporary folder].
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    database_url: Option<String>,
    /// Benchmark a server that is already running (its base URL) instead of one in-process; the
    /// keys stored are then not counted.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The admin token of the server given with --server.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "COCOA_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Print one JSON object instead of text, and no progress bars.
    #[arg(long)]
    json: bool,
}

pub fn run(command: BenchCommand) -> Result<(), Failure> {
    match command {
        BenchCommand::Publish(args) => publish(args),
        BenchCommand::Export(args) => crate::bench_export::export(args),
        BenchCommand::Match(args) => crate::bench_match::run(args),
        BenchCommand::Survey(args) => crate::bench_survey::run(args),
        BenchCommand::Report(args) => bench_report::run(args),
        BenchCommand::Sim(args) => crate::sim::bench(args),
    }
}

/// What a run measured.
#[derive(Debug, Serialize)]
struct Report {
    /// "SQLite" or "PostgreSQL" in-process; the server's URL with --server.
    backend: String,
    server: &'static str,
    registrations: u64,
    concurrency: u32,
    keys_per_registration: i64,
    /// Wall time of issuing the numbers through the API (not part of the measurement).
    numbers_issue_seconds: f64,
    /// Average request body size in bytes.
    body_bytes_mean: u64,
    /// Wall time from the first request sent to the last answer read.
    elapsed_seconds: f64,
    registrations_per_second: f64,
    latency_ms: Latency,
    errors: u64,
    /// Non-204 answers by status code, and transport failures as "transport".
    errors_by_status: BTreeMap<String, u64>,
    /// The first error's answer, to say what went wrong.
    first_error: Option<String>,
    /// `None` against a server given with --server.
    keys_stored: Option<KeysStored>,
}

/// Latency percentiles of a load run, in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

#[derive(Debug, Serialize)]
struct KeysStored {
    /// Keys of each registration inside the server's infectious window.
    accepted_per_registration: u64,
    expected: u64,
    actual: u64,
    ok: bool,
}

impl Report {
    fn passed(&self) -> bool {
        self.errors == 0 && self.keys_stored.as_ref().is_none_or(|k| k.ok)
    }
}

fn publish(args: PublishArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let report = runtime.block_on(publish_async(&args))?;
    drop(runtime);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).usage_or_io("writing the report")?
        );
    } else {
        print_report(&report);
    }
    if report.passed() {
        return Ok(());
    }
    let mut why = Vec::new();
    if report.errors > 0 {
        why.push(format!(
            "{} of {} registrations failed",
            report.errors, report.registrations
        ));
    }
    if let Some(k) = report.keys_stored.as_ref().filter(|k| !k.ok) {
        why.push(format!("{} keys stored, {} expected", k.actual, k.expected));
    }
    Err(Failure::new(
        INVALID,
        anyhow!("the benchmark failed: {}", why.join("; ")),
    ))
}

fn print_report(r: &Report) {
    let l = &r.latency_ms;
    println!(
        "cocoa bench publish: {} registrations of {} keys, concurrency {}, {} ({} server)",
        r.registrations, r.keys_per_registration, r.concurrency, r.backend, r.server
    );
    println!(
        "setup (not timed): numbers issued in {:.2} s; bodies of {} bytes on average",
        r.numbers_issue_seconds, r.body_bytes_mean
    );
    println!("time:        {:.3} s", r.elapsed_seconds);
    println!(
        "throughput:  {:.0} registrations/s",
        r.registrations_per_second
    );
    println!(
        "latency:     mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.mean, l.p50, l.p90, l.p99, l.max
    );
    if r.errors == 0 {
        println!("errors:      0");
    } else {
        let by: Vec<String> = r
            .errors_by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("errors:      {} ({})", r.errors, by.join(", "));
        if let Some(first) = &r.first_error {
            println!("first error: {first}");
        }
    }
    match &r.keys_stored {
        Some(k) => println!(
            "keys stored: {} of {} expected ({} per registration): {}",
            k.actual,
            k.expected,
            k.accepted_per_registration,
            if k.ok { "ok" } else { "MISMATCH" }
        ),
        None => println!("keys stored: not counted (external server)"),
    }
}

async fn publish_async(args: &PublishArgs) -> Result<Report, Failure> {
    if let Some(server) = &args.server {
        let token = args.admin_token.clone().ok_or_else(|| {
            Failure::new(
                USAGE_OR_IO,
                anyhow!("--server needs --admin-token (or COCOA_ADMIN_TOKEN) to issue numbers"),
            )
        })?;
        let base = server.trim_end_matches('/').to_owned();
        return drive(args, &base, &token, &base, "external").await;
    }
    let dir = tempfile::tempdir().usage_or_io("creating a temporary folder")?;
    match args.database_url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let db = BenchDatabase::create(url).await?;
            let result = in_process(args, dir.path(), Some(db.url.clone()), "PostgreSQL").await;
            db.drop_database().await;
            result
        }
        Some(url) => in_process(args, dir.path(), Some(url.to_owned()), "SQLite").await,
        None => in_process(args, dir.path(), None, "SQLite").await,
    }
}

/// Runs the real server in this process, drives it, stops it, and counts the keys it stored.
async fn in_process(
    args: &PublishArgs,
    data_dir: &Path,
    database_url: Option<String>,
    backend: &str,
) -> Result<Report, Failure> {
    let mut token_bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut token_bytes);
    let token: String = token_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_owned(),
        database_url,
        admin_token: Some(token.clone()),
        ..ServerConfig::default()
    };
    // Only failures are rate-limited; lift the limits anyway so that a failing run shows its
    // real errors rather than 429s.
    config.rate_limit.client_failures_per_window = u32::MAX;
    config.rate_limit.global_failures_per_window = u32::MAX;
    let window = config.registration.symptomatic_window;
    let app = App::open(config, Arc::new(SystemClock))
        .await
        .usage_or_io("starting the server")?;
    let before = count_keys(&app).await?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .usage_or_io("listening on 127.0.0.1")?;
    let base = format!("http://{}", listener.local_addr().usage_or_io("listening")?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.clone().serve(listener, async {
        let _ = stopped.await;
    }));

    let result = drive(args, &base, &token, backend, "in-process").await;
    let _ = stop.send(());
    let _ = serving.await;
    let mut report = result?;
    // Which of the 14 keys (-6..=+7 days from the onset) fall inside the infectious window.
    let accepted = (-(KEYS_PER_REGISTRATION - 1)..=0)
        .map(|d| d + ONSET_DAYS_AGO)
        .filter(|dsos| (i64::from(window[0])..=i64::from(window[1])).contains(dsos))
        .count() as u64;
    let expected = accepted * (report.registrations - report.errors);
    let actual = count_keys(&app).await? - before;
    report.keys_stored = Some(KeysStored {
        accepted_per_registration: accepted,
        expected,
        actual,
        ok: actual == expected,
    });
    Ok(report)
}

async fn count_keys(app: &App) -> Result<u64, Failure> {
    let keys = app
        .state()
        .store
        .all_keys()
        .await
        .usage_or_io("counting the stored keys")?;
    Ok(keys.len() as u64)
}

/// Issues the numbers, builds the bodies, then sends the registrations and times them.
async fn drive(
    args: &PublishArgs,
    base: &str,
    token: &str,
    backend: &str,
    server: &'static str,
) -> Result<Report, Failure> {
    let n = args.registrations as usize;
    let http = load_client(args.concurrency)?;

    let issuing = Instant::now();
    let numbers =
        issue_numbers(&http, base, token, n, progress(args, n, "issuing numbers")).await?;
    let numbers_issue_seconds = issuing.elapsed().as_secs_f64();

    let today = Utc::now().date_naive();
    let mut rng = StdRng::from_entropy();
    let run_id = rng.next_u64();
    let bodies: Vec<Vec<u8>> = numbers
        .iter()
        .enumerate()
        .map(|(i, number)| {
            registration_body(number, &format!("bench-{run_id:016x}-{i}"), today, &mut rng)
        })
        .collect::<Result<_, _>>()
        .usage_or_io("serialising a registration")?;
    drop(numbers);
    let body_bytes_mean = (bodies.iter().map(Vec::len).sum::<usize>() / n.max(1)) as u64;

    let url = format!("{base}/api/v2/diagnosis");
    let bar = progress(args, n, "registering");
    let load = fire(
        &http,
        &url,
        bodies,
        args.concurrency,
        bar,
        reqwest::StatusCode::NO_CONTENT,
    )
    .await?;
    let elapsed = load.elapsed;
    Ok(Report {
        backend: backend.to_owned(),
        server,
        registrations: n as u64,
        concurrency: args.concurrency,
        keys_per_registration: KEYS_PER_REGISTRATION,
        numbers_issue_seconds,
        body_bytes_mean,
        elapsed_seconds: elapsed.as_secs_f64(),
        registrations_per_second: n as f64 / elapsed.as_secs_f64(),
        latency_ms: load.latency_ms,
        errors: load.errors_by_status.values().sum(),
        errors_by_status: load.errors_by_status,
        first_error: load.first_error,
        keys_stored: None,
    })
}

fn progress(args: &PublishArgs, len: usize, what: &'static str) -> ProgressBar {
    if args.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>16} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// Issues `n` processing numbers, 100 per request.
async fn issue_numbers(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
    bar: ProgressBar,
) -> Result<Vec<String>, Failure> {
    let url = format!("{base}/api/v1/processing-numbers");
    let mut numbers = Vec::with_capacity(n);
    while numbers.len() < n {
        let count = (n - numbers.len()).min(NUMBERS_PER_REQUEST);
        let body = IssueNumbersRequest {
            count: Some(count as u32),
            ..IssueNumbersRequest::default()
        };
        let response = http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .usage_or_io(format!("POST {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .usage_or_io(format!("reading the answer of {url}"))?;
        if status != reqwest::StatusCode::CREATED {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!("issuing numbers: the server answered {status}: {text}"),
            ));
        }
        let answer: IssueNumbersResponse =
            serde_json::from_str(&text).usage_or_io("issuing numbers: unexpected answer")?;
        numbers.extend(
            answer
                .processing_numbers
                .into_iter()
                .map(|n| n.processing_number),
        );
        bar.set_position(numbers.len() as u64);
    }
    bar.finish_and_clear();
    Ok(numbers)
}

/// A registration as the phone sends it: keys for the last 14 days (today, UTC, included),
/// symptoms since 7 days ago, region 440, an idempotency key, and 1024-2047 characters of
/// padding.
fn registration_body(
    number: &str,
    idempotency_key: &str,
    today: NaiveDate,
    rng: &mut StdRng,
) -> serde_json::Result<Vec<u8>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date");
    let today_index = (today - epoch).num_days();
    let keys = (today_index - KEYS_PER_REGISTRATION + 1..=today_index)
        .map(|day| {
            let mut key = [0u8; 16];
            rng.fill_bytes(&mut key);
            DiagnosisRequestKey {
                key_data: STANDARD.encode(key),
                rolling_start_number: day * 144,
                rolling_period: 144,
                report_type: Some(1),
            }
        })
        .collect();
    let onset = today - Days::days(ONSET_DAYS_AGO);
    let padding_len = rng.gen_range(1024..=2047);
    let padding: String = (0..padding_len)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect();
    let request = DiagnosisRequest {
        has_symptom: true,
        onset_of_symptom_or_test_date: format!("{onset}T00:00:00.000Z"),
        keys,
        regions: vec!["440".into()],
        platform: Some("android".into()),
        device_verification_payload: Some("bench".into()),
        app_package_name: Some("jp.go.mhlw.covid19radar".into()),
        verification_payload: number.to_owned(),
        idempotency_key: Some(idempotency_key.to_owned()),
        padding: Some(padding),
    };
    serde_json::to_vec(&request)
}

/// An HTTP/1.1 keep-alive client for `concurrency` requests in flight.
pub(crate) fn load_client(concurrency: u32) -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .usage_or_io("building the HTTP client")
}

/// What firing a queue of requests measured.
pub(crate) struct Load {
    /// From the first request sent to the last answer read.
    pub(crate) elapsed: Duration,
    pub(crate) latency_ms: Latency,
    /// Unexpected answers by status code, and transport failures as "transport".
    pub(crate) errors_by_status: BTreeMap<String, u64>,
    pub(crate) first_error: Option<String>,
}

/// PUTs every body to `url` with `concurrency` requests in flight, and measures the answers
/// (anything but `success` is an error).
pub(crate) async fn fire(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: u32,
    bar: ProgressBar,
    success: reqwest::StatusCode,
) -> Result<Load, Failure> {
    let n = bodies.len();
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(worker(
                http.clone(),
                url.to_owned(),
                queue.clone(),
                bar.clone(),
                success,
            ))
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    let mut errors_by_status = BTreeMap::new();
    let mut first_error = None;
    for w in workers {
        let done = w.await.usage_or_io("a benchmark task panicked")?;
        latencies.extend(done.latencies);
        for (status, count) in done.errors {
            *errors_by_status.entry(status).or_insert(0) += count;
        }
        first_error = first_error.or(done.first_error);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| {
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len().max(1));
        latencies.get(rank - 1).map_or(0.0, |d| ms(*d))
    };
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len().max(1) as f64;
    let latency_ms = Latency {
        mean,
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    };
    Ok(Load {
        elapsed,
        latency_ms,
        errors_by_status,
        first_error,
    })
}

/// What one load worker measured.
#[derive(Debug, Default)]
struct WorkerResult {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

/// Sends bodies from the shared queue (PUT, JSON) one after another until it is empty; an
/// answer other than `success` counts as an error.
async fn worker(
    http: reqwest::Client,
    url: String,
    queue: Arc<Mutex<std::vec::IntoIter<Vec<u8>>>>,
    bar: ProgressBar,
    success: reqwest::StatusCode,
) -> WorkerResult {
    let mut out = WorkerResult::default();
    loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some(body) = next else { break };
        let sent = Instant::now();
        let answer = http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let failure = match answer {
            Ok(response) => {
                let status = response.status();
                let text = response.text().await;
                match text {
                    Ok(_) if status == success => None,
                    Ok(text) => Some((status.as_u16().to_string(), format!("{status}: {text}"))),
                    Err(e) => Some(("transport".to_owned(), format!("reading the answer: {e}"))),
                }
            }
            Err(e) => Some(("transport".to_owned(), format!("{e:#}"))),
        };
        out.latencies.push(sent.elapsed());
        if let Some((kind, message)) = failure {
            *out.errors.entry(kind).or_insert(0) += 1;
            out.first_error.get_or_insert(message);
        }
        bar.inc(1);
    }
    out
}

/// A fresh PostgreSQL database for one run, on the server a URL names.
pub(crate) struct BenchDatabase {
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

impl std::fmt::Debug for BenchDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl BenchDatabase {
    pub(crate) async fn create(admin_url: &str) -> Result<Self, Failure> {
        let name = format!("cocoa_bench_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .usage_or_io("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .usage_or_io("creating the benchmark database")?;
        let _ = admin.close().await;
        Ok(Self {
            url: cocoa_server::testing::with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// Drops the database (and any connection still open to it). A failure is only reported.
    pub(crate) async fn drop_database(self) {
        let dropped = async {
            let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await?;
            admin.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!(
                "warning: could not drop the benchmark database {}: {e}",
                self.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_registrations() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let body = registration_body("01234567", "bench-1", today, &mut rng).unwrap();
        let r: DiagnosisRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(r.keys.len(), 14);
        assert_eq!(r.onset_of_symptom_or_test_date, "2026-11-21T00:00:00.000Z");
        let last = r.keys.last().unwrap().rolling_start_number;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(last, (today - epoch).num_days() * 144);
        let distinct: std::collections::HashSet<_> = r.keys.iter().map(|k| &k.key_data).collect();
        assert_eq!(distinct.len(), 14);
        let padding = r.padding.unwrap().len();
        assert!((1024..=2047).contains(&padding), "{padding}");
    }
}
