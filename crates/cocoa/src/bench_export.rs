//! `cocoa bench export`: how long one export run takes for a large backlog (by default 1.4
//! million keys: 100,000 registrations of 14 keys, the reference key server's load test), on
//! SQLite or PostgreSQL, with the run's peak memory. The keys are stored before the clock
//! starts; the timed part is exactly what `cocoa export` does.

use crate::failure::{Failure, OrFail, USAGE_OR_IO};
use anyhow::anyhow;
use clap::Args;
use cocoa_server::registration::NewKey;
use cocoa_server::{App, ServerConfig, SystemClock};
use gaen::{DaysSinceOnset, IntervalNumber, ReportType, RollingPeriod, Tek};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use sqlx::Connection;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct ExportBenchArgs {
    /// Keys to export (spread over the last 14 days, as registrations of 14 keys spread them).
    #[arg(long, default_value_t = 1_400_000, value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    keys: u64,
    /// PostgreSQL server to use (a fresh database is created on it and dropped afterwards);
    /// without it, SQLite in a temporary folder.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ExportBenchReport {
    backend: String,
    keys: u64,
    seconds: f64,
    keys_per_second: f64,
    files: usize,
    padding_keys: u64,
    zip_bytes: u64,
    /// Peak resident memory of the process during the timed run (VmHWM, reset just before).
    peak_rss_mib: Option<f64>,
    /// Resident memory just before the run.
    rss_before_mib: Option<f64>,
}

pub fn export(args: ExportBenchArgs) -> Result<(), Failure> {
    crate::serve::init_logging();
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let report = runtime.block_on(run(&args))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("plain values serialise")
        );
    } else {
        println!(
            "exported {} keys from {} in {:.2} s ({:.0} keys/s): {} files, {} padding keys, {:.1} MiB of zips",
            report.keys,
            report.backend,
            report.seconds,
            report.keys_per_second,
            report.files,
            report.padding_keys,
            report.zip_bytes as f64 / (1 << 20) as f64
        );
        if let (Some(peak), Some(before)) = (report.peak_rss_mib, report.rss_before_mib) {
            println!(
                "memory: {before:.1} MiB resident before the run, peak {peak:.1} MiB during it"
            );
        }
    }
    Ok(())
}

async fn run(args: &ExportBenchArgs) -> Result<ExportBenchReport, Failure> {
    let dir = tempfile::tempdir().usage_or_io("creating a temporary folder")?;
    let (database_url, cleanup) = match &args.database_url {
        Some(server) => {
            let name = format!("cocoa_bench_{:016x}", rand::random::<u64>());
            let mut admin = sqlx::PgConnection::connect(server)
                .await
                .usage_or_io("connecting to PostgreSQL")?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .usage_or_io("creating the benchmark database")?;
            (
                Some(cocoa_server::testing::with_database(server, &name)),
                Some((server.clone(), name)),
            )
        }
        None => (None, None),
    };
    let backend = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
    .to_owned();
    let config = ServerConfig {
        data_dir: dir.path().to_owned(),
        database_url,
        admin_token: Some("benchmark-token-0123456789".into()),
        ..ServerConfig::default()
    };
    let result = async {
        let app = App::open(config, Arc::new(SystemClock))
            .await
            .usage_or_io("opening the store")?;
        seed(&app, args.keys, args.json).await?;
        let rss_before = memory_mib("VmRSS");
        // Reset the peak-memory mark (Linux: writing 5 to clear_refs resets VmHWM).
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let started = Instant::now();
        let report = app.export().await.usage_or_io("export")?;
        let seconds = started.elapsed().as_secs_f64();
        let peak = if reset { memory_mib("VmHWM") } else { None };
        if report.real_keys != args.keys {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!(
                    "the run published {} keys, not {}",
                    report.real_keys,
                    args.keys
                ),
            ));
        }
        let mut zip_bytes = 0;
        for f in &report.files {
            let blob = app
                .state()
                .blobs
                .get(&f.path)
                .await
                .usage_or_io("reading a file back")?;
            zip_bytes += blob.map_or(0, |b| b.data.len() as u64);
        }
        Ok(ExportBenchReport {
            backend: backend.clone(),
            keys: report.real_keys,
            seconds,
            keys_per_second: report.real_keys as f64 / seconds,
            files: report.files.len(),
            padding_keys: report.padding_keys,
            zip_bytes,
            peak_rss_mib: peak,
            rss_before_mib: rss_before,
        })
    }
    .await;
    if let Some((server, name)) = cleanup {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
    result
}

/// Stores `count` random keys of the last 14 days, released an hour ago.
async fn seed(app: &App, count: u64, quiet: bool) -> Result<(), Failure> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(count)
    };
    bar.set_style(
        ProgressStyle::with_template("storing keys {bar:40} {pos}/{len} ({eta})")
            .expect("a valid template"),
    );
    let now = chrono::Utc::now().timestamp();
    let today = now / 86_400 * 144;
    let mut rng = StdRng::seed_from_u64(1);
    let mut stored = 0u64;
    while stored < count {
        let n = (count - stored).min(50_000);
        let keys: Vec<NewKey> = (0..n)
            .map(|i| {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                let day = ((stored + i) % 14) as i64 + 1;
                NewKey {
                    region: "440".into(),
                    key: Tek::from_bytes(bytes),
                    rolling_start: IntervalNumber::new((today - day * 144) as u32),
                    rolling_period: RollingPeriod::FULL_DAY,
                    report_type: ReportType::ConfirmedTest,
                    days_since_onset: DaysSinceOnset::new(7 - day as i32).expect("-7..=6"),
                    release_at: now - 3600,
                }
            })
            .collect();
        app.state()
            .store
            .import_keys(&keys)
            .await
            .usage_or_io("storing keys")?;
        stored += n;
        bar.set_position(stored);
    }
    bar.finish_and_clear();
    Ok(())
}

/// A memory figure of this process from /proc/self/status, in MiB.
fn memory_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
