//! `cocoa sim`, `cocoa demo` and `cocoa bench sim`: a simulated city (`cocoa-sim`) run through
//! the real server and the real phone code, then the survey's report made from what the server
//! stored, with the truth and a validation table next to it.
//!
//! - [`driver`]: the day loop (encounters, registrations, checks, the survey), the audit of the
//!   published keys, and the counts.
//! - [`server`]: the real `App` on a loopback port, its clock a `ManualClock` the driver moves.
//! - [`truth`]: `truth.json` and `validation.csv`.
//!
//! `DIR/report/` is what `cocoa report` writes (made by the same code from the same `App`, with
//! the users in use on the last day as `--active-users`); `--serve` keeps the server up after the
//! run so that `/report/` and `/portal` can be opened.

mod driver;
mod server;
mod truth;

use crate::failure::{Failure, OrFail};
use clap::Args;
use cocoa_sim::Scenario;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `cocoa sim`: a city from a scenario file (or the demo preset).
#[derive(Debug, Args)]
pub struct SimArgs {
    /// A TOML scenario (every parameter, its default and its source are documented in
    /// crates/cocoa-sim/src/scenario.rs) [default: the demo preset].
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Where to write report/ (as `cocoa report` does), truth.json and validation.csv.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

/// `cocoa demo`: the demo preset (32,000 people, about 9,500 phones, over 120 days).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write report/, truth.json and validation.csv.
    #[arg(long, value_name = "DIR", default_value = "cocoa-demo")]
    out: PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

/// What `sim` and `demo` share.
#[derive(Debug, Args)]
struct RunArgs {
    /// About this many COCOA phones: the population is sized for it (phones also start during
    /// the run, as the downloads curve says) [default: the scenario's population].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    phones: Option<u32>,
    /// Simulated days [default: the scenario's].
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    days: Option<u32>,
    /// The seed of every random draw [default: the scenario's].
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// An empty PostgreSQL database for the server (postgres://...) [default: SQLite in a
    /// temporary folder].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The server's address [default: a free port on 127.0.0.1].
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Minutes between the server's scheduled exports, on the simulated clock.
    #[arg(long, value_name = "MINUTES", default_value_t = 288)]
    export_interval_minutes: u32,
    /// Fake keys each export file is padded to (the server's `min_keys_per_file`; 0 = none).
    /// Every phone derives every key it downloads, so padding multiplies the phones' work.
    #[arg(long, value_name = "N", default_value_t = 0)]
    min_keys_per_file: usize,
    /// The random part of the padding (the server's `padding_jitter`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    padding_jitter: usize,
    /// How the phones check for exposures: `shared` (each file downloaded and verified once for
    /// all phones, each key's RPIs derived once, then every phone's own evaluation, scoring and
    /// commit) or `per-phone` (each phone's own full check, as on a real phone: slower, the same
    /// results).
    #[arg(long, value_enum, value_name = "HOW", default_value = "shared")]
    checks: driver::Checks,
    /// The report's small-cell threshold, as `cocoa report --min-cell`.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    min_cell: u64,
    /// The report's rounding, as `cocoa report --round-to`.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    round_to: u64,
    /// After the run, keep the server up (the report at /report/, the portal at /portal) until
    /// Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// Print the summary as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
}

/// `cocoa bench sim`: the whole simulation, timed.
#[derive(Debug, Args)]
pub struct BenchSimArgs {
    /// About this many COCOA phones.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    phones: u32,
    /// Simulated days.
    #[arg(long, value_name = "DAYS", default_value_t = 270, value_parser = clap::value_parser!(u32).range(1..))]
    days: u32,
    /// The seed.
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// A TOML scenario [default: the demo preset].
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// An empty PostgreSQL database for the server [default: SQLite in a temporary folder].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// How the phones check: `shared` or `per-phone` (the baseline: each phone's own check).
    #[arg(long, value_enum, value_name = "HOW", default_value = "shared")]
    checks: driver::Checks,
    /// Print one JSON object (and no progress bar).
    #[arg(long)]
    json: bool,
}

/// Logs on stderr: warnings by default (`COCOA_LOG` overrides), with the caps of `serve`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COCOA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
        .add_directive("axum::serve=debug".parse().expect("a valid directive"))
        .add_directive("sqlx::query=info".parse().expect("a valid directive"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The scenario of a file (or the demo preset), with the flags' overrides.
fn scenario(
    path: Option<&Path>,
    phones: Option<u32>,
    days: Option<u32>,
    seed: Option<u64>,
) -> Result<Scenario, Failure> {
    let mut s = match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).usage_or_io(format!("reading {}", path.display()))?;
            Scenario::from_toml_str(&text).invalid(path.display())?
        }
        None => Scenario::preset_demo(),
    };
    if let Some(days) = days {
        s.days = days;
    }
    if let Some(seed) = seed {
        s.seed = seed;
    }
    if let Some(phones) = phones {
        let people = f64::from(phones) / s.expected_cocoa_phones_per_person();
        s.population = people.round().clamp(2.0, f64::from(u32::MAX)) as u32;
    }
    s.validate().invalid("the scenario")?;
    Ok(s)
}

fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} day {pos}/{len} {bar:25} {msg} ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

/// What a run did, for the summary.
struct Done {
    outcome: driver::Outcome,
    seconds: f64,
    rows: Vec<truth::Row>,
}

fn simulate(
    scenario: Scenario,
    run: &RunArgs,
    out: &Path,
    hide_progress: bool,
) -> Result<Done, Failure> {
    init_logging();
    std::fs::create_dir_all(out).usage_or_io(format!("creating {}", out.display()))?;
    let options = driver::Options {
        scenario,
        listen: run.listen,
        database_url: run.database_url.clone(),
        export_interval_minutes: run.export_interval_minutes,
        min_keys_per_file: run.min_keys_per_file,
        padding_jitter: run.padding_jitter,
        // A check mostly waits for the server: four in flight per core keep the cores busy.
        check_threads: 4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        checks: run.checks,
        min_cell: run.min_cell,
        round_to: run.round_to,
    };
    let bar = progress_bar(hide_progress);
    let started = Instant::now();
    let outcome = driver::run(&options, &out.join("report"), &bar)?;
    bar.finish_and_clear();
    let rows = truth::write(out, &outcome)?;
    Ok(Done {
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        rows,
    })
}

/// Prints the summary, and serves on with `--serve`.
fn finish(done: Done, run: &RunArgs, out: &Path) -> Result<(), Failure> {
    let o = &done.outcome;
    let c = &o.counts;
    let base = o.server.base_url.clone();
    let index = out.join("report").join("index.html");
    if run.json {
        let summary = json!({
            "seconds": done.seconds,
            "days": c.days,
            "people": o.scenario.population,
            "phones": c.phones_in_use,
            "infections": c.infections,
            "registrations": c.registrations_accepted,
            "keys_published": c.keys_published,
            "export_files": c.export_files,
            "notifications": c.notifications,
            "phones_notified": c.phones_notified,
            "phone_state_sha256": c.phone_state_sha256,
            "survey_answers": c.survey_answers_stored,
            "answers_in_report": o.report.read,
            "report": index.display().to_string(),
            "truth": out.join("truth.json").display().to_string(),
            "validation": out.join("validation.csv").display().to_string(),
            "covered": done.rows.iter().filter(|r| r.covered() == Some(true)).count(),
            "compared": done.rows.iter().filter(|r| r.covered().is_some()).count(),
            "server": run.serve.then(|| base.clone()),
            "timings": o.timings,
        });
        println!("{summary}");
    } else {
        println!(
            "simulated {} COCOA phones ({} people) for {} days in {:.1} s: {} infections, {} \
             registrations ({} keys published in {} files), {} phones notified, {} survey answers",
            c.phones_in_use,
            o.scenario.population,
            c.days,
            done.seconds,
            c.infections,
            c.registrations_accepted,
            c.keys_published,
            c.export_files,
            c.phones_notified,
            c.survey_answers_stored,
        );
        println!("report: {}", index.display());
        println!(
            "truth and validation: {} and {}",
            out.join("truth.json").display(),
            out.join("validation.csv").display()
        );
    }
    if run.serve {
        // The portal asks for the admin token: it goes into a file only its owner can read.
        let token_path = out.join("admin-token");
        let _ = std::fs::remove_file(&token_path);
        cocoa_server::server::write_secret_file(&token_path, o.server.admin_token.as_bytes())
            .usage_or_io(format!("writing {}", token_path.display()))?;
        if !run.json {
            println!(
                "serving the report at {base}/report/ and the portal at {base}/portal (its admin \
                 token is in {}); Ctrl-C to stop",
                token_path.display()
            );
        }
        done.outcome.server.serve_until_signal()?;
    }
    Ok(())
}

pub fn sim(args: SimArgs) -> Result<(), Failure> {
    let r = &args.run;
    let scenario = scenario(args.scenario.as_deref(), r.phones, r.days, r.seed)?;
    let done = simulate(scenario, r, &args.out, r.json)?;
    finish(done, r, &args.out)
}

pub fn demo(args: DemoArgs) -> Result<(), Failure> {
    let r = &args.run;
    let scenario = scenario(None, r.phones, r.days, r.seed)?;
    let done = simulate(scenario, r, &args.out, r.json)?;
    finish(done, r, &args.out)
}

/// Peak resident memory of the process (VmHWM), MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn bench(args: BenchSimArgs) -> Result<(), Failure> {
    let scenario = scenario(
        args.scenario.as_deref(),
        Some(args.phones),
        Some(args.days),
        args.seed,
    )?;
    let out = tempfile::Builder::new()
        .prefix("cocoa-bench-sim-")
        .tempdir()
        .usage_or_io("creating a temporary folder")?;
    let run = RunArgs {
        phones: Some(args.phones),
        days: Some(args.days),
        seed: args.seed,
        database_url: args.database_url.clone(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        export_interval_minutes: 288,
        min_keys_per_file: 0,
        padding_jitter: 0,
        checks: args.checks,
        min_cell: 10,
        round_to: 5,
        serve: false,
        json: args.json,
    };
    let done = simulate(scenario, &run, out.path(), args.json)?;
    let c = &done.outcome.counts;
    let phone_days = c.phones_in_use as f64 * f64::from(c.days);
    let report = json!({
        "phones": c.phones_in_use,
        "phones_requested": args.phones,
        "checks": args.checks,
        "people": done.outcome.scenario.population,
        "days": c.days,
        "seconds": done.seconds,
        "phone_days_per_second": phone_days / done.seconds.max(1e-9),
        "peak_rss_mib": peak_rss_mib(),
        "registrations": c.registrations_accepted,
        "notifications": c.notifications,
        "phones_notified": c.phones_notified,
        "survey_answers": c.survey_answers_stored,
        "sightings": c.sightings,
        "phone_checks": c.checks,
        "export_files": c.export_files,
        "keys_published": c.keys_published,
        "timings": done.outcome.timings,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} phones x {} days in {:.1} s ({:.0} phone-days/s), peak {} MiB: {} registrations, {} \
             notifications, {} survey answers",
            c.phones_in_use,
            c.days,
            done.seconds,
            phone_days / done.seconds.max(1e-9),
            peak_rss_mib().map_or("?".into(), |m| format!("{m:.0}")),
            c.registrations_accepted,
            c.notifications,
            c.survey_answers_stored,
        );
    }
    Ok(())
}
