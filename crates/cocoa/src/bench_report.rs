//! `cocoa bench report`: how long `cocoa report` takes over COCOA's whole survey (by default
//! 3,030,000 answers with about 200 days of daily data each), on SQLite or PostgreSQL, and its
//! peak memory.
//!
//! The answers are generated from a seed and stored before the clock starts, straight through
//! the store's `insert_survey_responses` in large batches (one transaction each), with plausible
//! distributions: age groups and commuting weighted as smartphone users are, starts of use
//! bunched at the app's release, answers received over the weeks after the service ended, daily
//! data of about 200 days ending just before the answer (some with gaps, some short), about one
//! answer in sixteen notified, and some answers without daily data or without a start date.
//!
//! The timed part is the real command: this binary is run again as `cocoa report --json` on the
//! same store (a process of its own, so that its memory is its own), from its start to its
//! exit: open the store, stream the answers into the accumulator, finish, write the files. Its
//! peak memory is its `VmHWM` (the kernel's high-water mark of its resident memory), read from
//! `/proc/<pid>/status` every few milliseconds while it runs. The run fails unless it read every
//! answer and wrote every file.

use crate::bench::BenchDatabase;
use crate::failure::{Failure, OrFail, USAGE_OR_IO};
use anyhow::anyhow;
use clap::Args;
use cocoa_server::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use cocoa_server::{App, ServerConfig, SystemClock};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2022-04-07: the first day the daily data may hold (`[survey] first_day`'s default).
const FIRST_DAY: i64 = 19_089;
/// 2022-11-17: the service's last day; answers arrive from then on, over 30 days.
const FIRST_RECEIVED: i64 = 19_313;
const RECEIVED_DAYS: i64 = 30;
/// 2020-06-19: the app's release, the earliest start of use.
const RELEASE_DAY: i64 = 18_432;
/// Answers per `insert_survey_responses` call (one transaction).
const BATCH: usize = 10_000;

#[derive(Debug, Args)]
pub struct ReportBenchArgs {
    /// Answers to generate (COCOA received 3,030,000).
    #[arg(long, default_value_t = 3_030_000, value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    answers: u64,
    /// Typical days of daily data per answer (most answers get this many, give or take 10 %).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=220))]
    days: u32,
    /// PostgreSQL server to use (a fresh database is created on it and dropped afterwards, or,
    /// with --reuse, this database itself); without it, SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The data folder (SQLite database, secrets) [default: a temporary folder, removed
    /// afterwards]. A folder given here is kept.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use the store named by --data-dir or --database-url as it is and keep it: if it already
    /// holds exactly --answers answers, nothing is generated (to time `cocoa report` again on
    /// the same data).
    #[arg(long)]
    reuse: bool,
    /// Where `cocoa report` writes its files [default: a temporary folder].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// How many times to run `cocoa report` on the data (the figures are the median run's).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,
    /// The seed of the generated answers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    answers: u64,
    /// Mean days of daily data per answer that has daily data.
    days_per_answer_mean: Option<f64>,
    /// Answers with daily data (consented), without, and without a start date; `None` when
    /// the store was reused.
    answers_with_days: Option<u64>,
    answers_without_days: Option<u64>,
    answers_without_start: Option<u64>,
    /// Wall time of generating and storing the answers (not part of the measurement); `None`
    /// when the store was reused.
    generate_seconds: Option<f64>,
    /// The median run of `cocoa report`, from its start to its exit.
    seconds: f64,
    /// Every run's time, in order.
    runs_seconds: Vec<f64>,
    /// Answers per second of the median run.
    rows_per_second: f64,
    /// The highest peak resident memory (VmHWM) of the runs.
    peak_rss_mib: Option<f64>,
    /// The report's window, as `cocoa report --json` gave it.
    window: serde_json::Value,
    /// The files the report wrote (relative to its folder).
    files: Vec<String>,
}

pub fn run(args: ReportBenchArgs) -> Result<(), Failure> {
    if args.reuse && args.data_dir.is_none() && args.database_url.is_none() {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("--reuse needs --data-dir or --database-url"),
        ));
    }
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let report = runtime.block_on(async {
        let temp = tempfile::tempdir().usage_or_io("creating a temporary folder")?;
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        match args.database_url.as_deref() {
            Some(url) if !args.reuse => {
                let db = BenchDatabase::create(url).await?;
                let result = bench(&args, &data_dir, temp.path(), Some(db.url.clone())).await;
                db.drop_database().await;
                result
            }
            url => bench(&args, &data_dir, temp.path(), url.map(str::to_owned)).await,
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
    Ok(())
}

fn print_report(r: &Report) {
    println!(
        "cocoa bench report: {} answers on {}, `cocoa report` in {:.2} s ({:.0} answers/s)",
        r.answers, r.backend, r.seconds, r.rows_per_second
    );
    if r.runs_seconds.len() > 1 {
        let runs: Vec<String> = r.runs_seconds.iter().map(|s| format!("{s:.2}")).collect();
        println!("runs:      {} s", runs.join(", "));
    }
    if let Some(peak) = r.peak_rss_mib {
        println!("memory:    peak {peak:.1} MiB resident");
    }
    if let Some(g) = r.generate_seconds {
        println!(
            "generated: {} with daily data ({:.1} days on average), {} without, {} without a start date, in {g:.1} s",
            r.answers_with_days.unwrap_or(0),
            r.days_per_answer_mean.unwrap_or(0.0),
            r.answers_without_days.unwrap_or(0),
            r.answers_without_start.unwrap_or(0),
        );
    }
    println!("window:    {}; {} files", r.window, r.files.len());
}

/// Fills the store (unless reused), then times `cocoa report` on it.
async fn bench(
    args: &ReportBenchArgs,
    data_dir: &Path,
    temp: &Path,
    database_url: Option<String>,
) -> Result<Report, Failure> {
    let backend = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let config = ServerConfig {
        data_dir: data_dir.to_owned(),
        database_url: database_url.clone(),
        admin_token: Some("benchmark-token-0123456789".into()),
        ..ServerConfig::default()
    };
    let app = App::open(config, Arc::new(SystemClock))
        .await
        .usage_or_io("opening the store")?;
    let stored = app
        .state()
        .store
        .count_survey_responses()
        .await
        .usage_or_io("counting the answers")?;
    let generated = match stored {
        0 => Some(generate(&app, args).await?),
        n if args.reuse && n == args.answers => None,
        n => {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!(
                    "the store holds {n} answers already (not {}); use an empty one",
                    args.answers
                ),
            ))
        }
    };
    // Close the store (SQLite checkpoints its WAL as the last connection closes) before the
    // report opens it.
    drop(app);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let out = args.out.clone().unwrap_or_else(|| temp.join("report"));
    let mut runs = Vec::new();
    for _ in 0..args.runs {
        runs.push(time_report(data_dir, database_url.as_deref(), &out)?);
    }
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| runs[a].seconds.total_cmp(&runs[b].seconds));
    let median = &runs[order[order.len() / 2]];
    for run in &runs {
        if run.answers_read != args.answers {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!(
                    "`cocoa report` read {} answers, not {}",
                    run.answers_read,
                    args.answers
                ),
            ));
        }
    }
    let peak = runs
        .iter()
        .filter_map(|r| r.peak_rss_mib)
        .max_by(f64::total_cmp);
    Ok(Report {
        backend: backend.to_owned(),
        answers: args.answers,
        days_per_answer_mean: generated
            .as_ref()
            .map(|g| g.days as f64 / g.with_days.max(1) as f64),
        answers_with_days: generated.as_ref().map(|g| g.with_days),
        answers_without_days: generated.as_ref().map(|g| args.answers - g.with_days),
        answers_without_start: generated.as_ref().map(|g| g.without_start),
        generate_seconds: generated.as_ref().map(|g| g.seconds),
        seconds: median.seconds,
        runs_seconds: runs.iter().map(|r| r.seconds).collect(),
        rows_per_second: args.answers as f64 / median.seconds,
        peak_rss_mib: peak,
        window: median.window.clone(),
        files: median.files.clone(),
    })
}

/// What generating the answers did.
struct Generated {
    seconds: f64,
    with_days: u64,
    days: u64,
    without_start: u64,
}

/// Generates the answers on a thread of its own (batch by batch, a few batches ahead) while
/// this task stores them.
async fn generate(app: &App, args: &ReportBenchArgs) -> Result<Generated, Failure> {
    let bar = ProgressBar::with_draw_target(Some(args.answers), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>9} [{elapsed_precise}] {wide_bar} {pos}/{len} answers ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar.set_message("storing");
    let started = Instant::now();
    let (send, mut receive) = tokio::sync::mpsc::channel::<Vec<SurveyResponse>>(2);
    let (total, days, seed) = (args.answers, args.days, args.seed);
    let generator = std::thread::spawn(move || {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut made = 0u64;
        let (mut with_days, mut day_count, mut without_start) = (0u64, 0u64, 0u64);
        while made < total {
            let n = (total - made).min(BATCH as u64);
            let batch: Vec<SurveyResponse> = (0..n).map(|_| answer(&mut rng, days)).collect();
            for a in &batch {
                if let Some(d) = &a.days {
                    with_days += 1;
                    day_count += d.len() as u64;
                }
                without_start += u64::from(a.start_day.is_none());
            }
            made += n;
            if send.blocking_send(batch).is_err() {
                break;
            }
        }
        (with_days, day_count, without_start)
    });
    let store = &app.state().store;
    let mut stored = 0u64;
    while let Some(batch) = receive.recv().await {
        let new = store
            .insert_survey_responses(&batch)
            .await
            .usage_or_io("storing answers")?;
        if new != batch.len() as u64 {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!("two generated answers had the same id"),
            ));
        }
        stored += new;
        bar.set_position(stored);
    }
    let (with_days, days, without_start) = generator
        .join()
        .map_err(|_| Failure::new(USAGE_OR_IO, anyhow!("the generator panicked")))?;
    bar.finish_and_clear();
    Ok(Generated {
        seconds: started.elapsed().as_secs_f64(),
        with_days,
        days,
        without_start,
    })
}

/// One of `weights.len()` choices, in proportion to the weights.
fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let mut x = rng.gen_range(0..weights.iter().sum::<u32>());
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// One generated answer, as the server would have stored it.
fn answer(rng: &mut StdRng, typical_days: u32) -> SurveyResponse {
    let id: [u64; 4] = rng.gen();
    let id_hash = format!("{:016x}{:016x}{:016x}{:016x}", id[0], id[1], id[2], id[3]);
    // Most answers in the first days after the end of the service, fewer each week after.
    let received_day =
        FIRST_RECEIVED + ((-(1.0 - rng.gen::<f64>()).ln() * 6.0) as i64).min(RECEIVED_DAYS - 1);
    // Age groups 1..=9 (14 or under, 15-19, 20s, ..., 70 or over) and "no answer" last.
    let age = weighted(rng, &[3, 6, 13, 17, 20, 19, 12, 6, 2, 2]);
    let age_group = AgeGroup::new(age as u8 + 1);
    // Does not commute, commutes without public transport, with it, no answer.
    let commute = Commute::new(weighted(rng, &[37, 30, 31, 2]) as u8 + 1);
    // Start of use: a third at the release (its first six weeks), the rest spread over the
    // two years after; 8 % not consented.
    let start_day = match rng.gen_range(0..100) {
        0..=7 => None,
        8..=40 => Some(RELEASE_DAY + rng.gen_range(0..42)),
        _ => Some(rng.gen_range(RELEASE_DAY + 42..FIRST_DAY + 200)),
    };
    // Daily data: 12 % not consented, 1 % consented with no day; otherwise about
    // `typical_days` days ending a day or two before the answer (never before the first day),
    // and for 8 % a short history (installed late, or a new phone). One answer in 25 has gaps
    // (days the phone did not check).
    let days = match rng.gen_range(0..100) {
        0..=11 => None,
        12 => Some(Vec::new()),
        kind => {
            let last = received_day - rng.gen_range(1..=3);
            let typical = i64::from(typical_days);
            let wanted = if kind < 21 {
                rng.gen_range(1..=typical)
            } else {
                typical + rng.gen_range(-typical / 10..=typical / 10)
            };
            let first = (last - wanted + 1).max(FIRST_DAY);
            let gaps = rng.gen_ratio(1, 25);
            let mut days: Vec<SurveyDayFlag> = (first..=last)
                .filter(|_| !gaps || !rng.gen_ratio(1, 8))
                .map(|day| SurveyDayFlag {
                    day,
                    exposure_detected: false,
                })
                .collect();
            // One in sixteen notified, on 1 to 4 days (mostly 1).
            if !days.is_empty() && rng.gen_ratio(1, 16) {
                for _ in 0..weighted(rng, &[70, 20, 7, 3]) + 1 {
                    let i = rng.gen_range(0..days.len());
                    days[i].exposure_detected = true;
                }
            }
            Some(days)
        }
    };
    SurveyResponse {
        id_hash,
        received_day,
        age_group,
        commute,
        start_day,
        days,
    }
}

/// One timed run of `cocoa report`.
struct Run {
    seconds: f64,
    peak_rss_mib: Option<f64>,
    answers_read: u64,
    window: serde_json::Value,
    files: Vec<String>,
}

/// Runs this binary as `cocoa report --json` on the store and times it from start to exit,
/// sampling its peak memory; checks that it wrote every file it names.
fn time_report(data_dir: &Path, database_url: Option<&str>, out: &Path) -> Result<Run, Failure> {
    // This very program, even if its file was replaced meanwhile (a rebuild): on Linux
    // /proc/self/exe still names the running executable.
    let proc_exe = Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe.to_owned()
    } else {
        std::env::current_exe().usage_or_io("finding this program")?
    };
    let mut command = Command::new(exe);
    command
        .arg("report")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--out")
        .arg(out)
        .arg("--json");
    if let Some(url) = database_url {
        command.arg("--database-url").arg(url);
    }
    // The store and settings are exactly the ones given here, not the environment's.
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with("COCOA_") && k != "COCOA_LOG")
        {
            command.env_remove(key);
        }
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = command.spawn().usage_or_io("starting `cocoa report`")?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak: Option<f64> = None;
    // The output is a line of JSON, far below a pipe's capacity: it is read after the exit.
    let status = loop {
        if let Some(hwm) = vm_hwm_mib(&status_path) {
            peak = Some(peak.map_or(hwm, |p| p.max(hwm)));
        }
        if let Some(status) = child.try_wait().usage_or_io("waiting for `cocoa report`")? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stdout)
            .usage_or_io("reading the output of `cocoa report`")?;
    }
    if !status.success() {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("`cocoa report` failed ({status})"),
        ));
    }
    let summary: serde_json::Value =
        serde_json::from_str(stdout.trim()).usage_or_io("reading the summary of `cocoa report`")?;
    let files: Vec<String> = summary["files"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("`cocoa report` wrote no file"),
        ));
    }
    for f in &files {
        let len = std::fs::metadata(out.join(f))
            .usage_or_io(format!("checking {f}"))?
            .len();
        if len == 0 {
            return Err(Failure::new(USAGE_OR_IO, anyhow!("{f} is empty")));
        }
    }
    Ok(Run {
        seconds,
        peak_rss_mib: peak,
        answers_read: summary["answers_read"].as_u64().unwrap_or(0),
        window: summary["window"].clone(),
        files,
    })
}

/// A process's peak resident memory (`VmHWM`) in MiB, while it runs.
fn vm_hwm_mib(status_path: &str) -> Option<f64> {
    let status = std::fs::read_to_string(status_path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_answers_are_plausible_and_storable() {
        let mut rng = StdRng::seed_from_u64(7);
        let answers: Vec<SurveyResponse> = (0..5000).map(|_| answer(&mut rng, 200)).collect();
        let with_days: Vec<&Vec<SurveyDayFlag>> =
            answers.iter().filter_map(|a| a.days.as_ref()).collect();
        let share = with_days.len() as f64 / answers.len() as f64;
        assert!((0.84..0.92).contains(&share), "{share}");
        let long = with_days.iter().filter(|d| d.len() >= 150).count();
        let mean = with_days.iter().map(|d| d.len()).sum::<usize>() as f64 / with_days.len() as f64;
        assert!((170.0..200.0).contains(&mean), "{mean}");
        assert!(long > with_days.len() * 8 / 10, "{long}");
        let notified = with_days
            .iter()
            .filter(|d| d.iter().any(|d| d.exposure_detected))
            .count();
        assert!((150..500).contains(&notified), "{notified}");
        for a in &answers {
            assert_eq!(a.id_hash.len(), 64);
            assert!((FIRST_RECEIVED..FIRST_RECEIVED + RECEIVED_DAYS).contains(&a.received_day));
            if let Some(s) = a.start_day {
                assert!((RELEASE_DAY..a.received_day).contains(&s));
            }
            if let Some(days) = &a.days {
                assert!(days.windows(2).all(|w| w[0].day < w[1].day));
                assert!(days
                    .iter()
                    .all(|d| d.day >= FIRST_DAY && d.day < a.received_day));
                cocoa_api::survey_domain::encode_days(days).unwrap();
            }
        }
        assert!(answers.iter().any(|a| a.age_group.is_none()));
        assert!(answers.iter().any(|a| a.commute.is_none()));
        assert!(answers.iter().any(|a| a.start_day.is_none()));
    }
}
