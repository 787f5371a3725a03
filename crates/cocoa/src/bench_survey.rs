//! `cocoa bench survey`: a load benchmark of end-of-use survey submissions
//! (`PUT /api/v1/event_log`) against the real server, in this process, over a fresh store
//! (SQLite in a temporary folder, or a fresh PostgreSQL database dropped afterwards).
//!
//! Every body is built before the clock starts: COCOA's event log with one survey, both
//! questions answered, a start date, and by default 200 daily entries. Then the submissions go
//! out over HTTP/1.1 keep-alive at a fixed concurrency, each timed from sending to the end of
//! its answer; anything but 201 is an error. Afterwards the stored answers are counted: every
//! submission must have stored exactly one. Any error makes the command exit non-zero.
//!
//! The client shares the machine and the runtime with the server, as in `bench publish`.

use crate::bench::{BenchDatabase, Latency};
use crate::failure::{Failure, OrFail, INVALID};
use anyhow::anyhow;
use chrono::{NaiveDate, Utc};
use clap::Args;
use cocoa_api::{EventLogEntry, EventLogRequest, SurveyContent, SurveyDay, SurveyExposureData};
use cocoa_server::{App, ServerConfig, SystemClock};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct SurveyBenchArgs {
    /// How many submissions to send (each a distinct answer).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    submissions: u32,
    /// Daily entries per submission (consecutive days from 2022-04-07 on).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1000))]
    days: u32,
    /// Submissions in flight at once (one keep-alive connection each).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// postgres://... creates a fresh database on that PostgreSQL server for the run and drops
    /// it afterwards [default: SQLite in a fresh temporary folder].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    submissions: u64,
    days_per_submission: u32,
    concurrency: u32,
    /// Average request body size in bytes.
    body_bytes_mean: u64,
    /// Wall time from the first request sent to the last answer read.
    elapsed_seconds: f64,
    submissions_per_second: f64,
    latency_ms: Latency,
    errors: u64,
    /// Non-201 answers by status code, and transport failures as "transport".
    errors_by_status: BTreeMap<String, u64>,
    first_error: Option<String>,
    /// Answers in the store afterwards; must equal `submissions`.
    stored: u64,
}

pub fn run(args: SurveyBenchArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let report = runtime.block_on(async {
        let dir = tempfile::tempdir().usage_or_io("creating a temporary folder")?;
        match args.database_url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let db = BenchDatabase::create(url).await?;
                let result =
                    in_process(&args, dir.path(), Some(db.url.clone()), "PostgreSQL").await;
                db.drop_database().await;
                result
            }
            Some(url) => in_process(&args, dir.path(), Some(url.to_owned()), "SQLite").await,
            None => in_process(&args, dir.path(), None, "SQLite").await,
        }
    })?;
    drop(runtime);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).usage_or_io("writing the report")?
        );
    } else {
        print_report(&report);
    }
    if report.errors == 0 && report.stored == report.submissions {
        return Ok(());
    }
    Err(Failure::new(
        INVALID,
        anyhow!(
            "the benchmark failed: {} of {} submissions failed; {} answers stored",
            report.errors,
            report.submissions,
            report.stored
        ),
    ))
}

fn print_report(r: &Report) {
    let l = &r.latency_ms;
    println!(
        "cocoa bench survey: {} submissions of {} days, concurrency {}, {} (in-process server)",
        r.submissions, r.days_per_submission, r.concurrency, r.backend
    );
    println!("bodies:      {} bytes on average", r.body_bytes_mean);
    println!("time:        {:.3} s", r.elapsed_seconds);
    println!("throughput:  {:.0} submissions/s", r.submissions_per_second);
    println!(
        "latency:     mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.mean, l.p50, l.p90, l.p99, l.max
    );
    let by: Vec<String> = r
        .errors_by_status
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("errors:      {} {}", r.errors, by.join(", "));
    if let Some(first) = &r.first_error {
        println!("first error: {first}");
    }
    println!(
        "stored:      {} of {}: {}",
        r.stored,
        r.submissions,
        if r.stored == r.submissions {
            "ok"
        } else {
            "MISMATCH"
        }
    );
}

/// Runs the real server in this process, drives it, stops it, and counts what it stored.
async fn in_process(
    args: &SurveyBenchArgs,
    data_dir: &Path,
    database_url: Option<String>,
    backend: &str,
) -> Result<Report, Failure> {
    let mut config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_owned(),
        database_url,
        admin_token: Some("benchmark-token-0123456789".into()),
        ..ServerConfig::default()
    };
    // Every submission comes from 127.0.0.1: lift the per-client limit.
    config.survey.client_submissions_per_window = u32::MAX;
    let app = App::open(config, Arc::new(SystemClock))
        .await
        .usage_or_io("starting the server")?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .usage_or_io("listening on 127.0.0.1")?;
    let base = format!("http://{}", listener.local_addr().usage_or_io("listening")?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    let result = drive(args, &base, backend).await;
    let _ = stop.send(());
    let _ = serving.await;
    let mut report = result?;
    report.stored = app
        .state()
        .store
        .count_survey_responses()
        .await
        .usage_or_io("counting the stored answers")?;
    Ok(report)
}

/// A survey as COCOA's final update sends it: both answers, a start date, `days` consecutive
/// daily entries from a random day on (each flagged with probability 1/20).
pub(crate) fn survey_body(
    idempotency_key: &str,
    days: u32,
    today: NaiveDate,
    rng: &mut StdRng,
) -> serde_json::Result<Vec<u8>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    let first = (NaiveDate::from_ymd_opt(2022, 4, 7).expect("a date") - epoch).num_days();
    let last_start = ((today - epoch).num_days() - i64::from(days)).max(first);
    let start = rng.gen_range(first..=last_start);
    let daily_summaries = (start..start + i64::from(days))
        .map(|day| SurveyDay {
            date_millis: day * 86_400_000,
            exposure_detected: u8::from(rng.gen_ratio(1, 20)),
        })
        .collect();
    let content = SurveyContent {
        q1: Some(rng.gen_range(1..=9)),
        q2: Some(rng.gen_range(1..=3)),
        start_date: Some(rng.gen_range(18_433..first) * 86_400),
        exposure_data: Some(SurveyExposureData { daily_summaries }),
    };
    let request = EventLogRequest {
        idempotency_key: idempotency_key.to_owned(),
        platform: Some("android".into()),
        app_package_name: Some("jp.go.mhlw.covid19radar".into()),
        device_verification_payload: Some("bench".into()),
        event_logs: vec![EventLogEntry {
            has_consent: true,
            epoch: Utc::now().timestamp(),
            kind: cocoa_api::survey::SURVEY_TYPE.into(),
            subtype: cocoa_api::survey::SURVEY_TYPE.into(),
            content: serde_json::to_value(&content)?,
        }],
    };
    serde_json::to_vec(&request)
}

async fn drive(args: &SurveyBenchArgs, base: &str, backend: &str) -> Result<Report, Failure> {
    let n = args.submissions as usize;
    let http = crate::bench::load_client(args.concurrency)?;
    let today = Utc::now().date_naive();
    let mut rng = StdRng::from_entropy();
    let run_id = rng.next_u64();
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            survey_body(
                &format!("bench-{run_id:016x}-{i}"),
                args.days,
                today,
                &mut rng,
            )
        })
        .collect::<Result<_, _>>()
        .usage_or_io("serialising a survey")?;
    let body_bytes_mean = (bodies.iter().map(Vec::len).sum::<usize>() / n.max(1)) as u64;

    let url = format!("{base}/api/v1/event_log");
    let load = crate::bench::fire(
        &http,
        &url,
        bodies,
        args.concurrency,
        indicatif::ProgressBar::hidden(),
        reqwest::StatusCode::CREATED,
    )
    .await?;
    let elapsed = load.elapsed;
    Ok(Report {
        backend: backend.to_owned(),
        submissions: n as u64,
        days_per_submission: args.days,
        concurrency: args.concurrency,
        body_bytes_mean,
        elapsed_seconds: elapsed.as_secs_f64(),
        submissions_per_second: n as f64 / elapsed.as_secs_f64(),
        latency_ms: load.latency_ms,
        errors: load.errors_by_status.values().sum(),
        errors_by_status: load.errors_by_status,
        first_error: load.first_error,
        stored: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bodies_are_surveys_the_rules_accept() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let body = survey_body("bench-1", 200, today, &mut rng).unwrap();
        let request: EventLogRequest = serde_json::from_slice(&body).unwrap();
        let now = Utc.from_utc_datetime(&today.and_hms_opt(12, 0, 0).unwrap());
        let rules = cocoa_server::survey::SurveyRules {
            first_day: NaiveDate::from_ymd_opt(2022, 4, 7).unwrap(),
        };
        let answers = cocoa_server::survey::accept(&request, now, &rules).unwrap();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].days.as_ref().unwrap().len(), 200);
    }
}
