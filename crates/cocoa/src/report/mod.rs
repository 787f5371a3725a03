//! `cocoa report`: the survey's published analysis as files: `tables/*.csv`, `report.json`,
//! and `index.html`, the report itself (one self-contained page: inline style and SVG charts,
//! no script, nothing loaded; in Japanese, English or both, `--lang`).
//!
//! Side inputs are read and parsed first, so a bad one writes nothing. The answers are read
//! once, in one snapshot, into the `Accumulator` (never all held); the window ends on the last
//! day an answer was received, read from an index first (an answer stored in between with a
//! later day is counted as received outside the window). The files are then published to the
//! server's blob storage, which `cocoa serve` serves at `/report/`.

mod json;
mod read;

use crate::failure::{Failure, OrFail};
use crate::serve::{init_logging, load_config, ServeArgs};
use clap::Args;
use cocoa_analytics::date::format_day;
use cocoa_analytics::estimate::Analysis;
use cocoa_analytics::html;
use cocoa_analytics::inputs::{self, DailySeries, Period};
use cocoa_analytics::protect::Protection;
use cocoa_analytics::tables;
use cocoa_server::{App, SystemClock};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `cocoa report`: the survey's analysis as CSV tables and a JSON report. A side-input file
/// that cannot be read is an error naming the file and its line, and nothing is written.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// The folder to write tables/*.csv, report.json and index.html in (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// National new cases per day, the Ministry's CSV (Date,ALL,...): question 1 is also
    /// answered against it.
    #[arg(long, value_name = "FILE")]
    cases: Option<PathBuf>,
    /// A social-activity index per day (date,value), for question 3.
    #[arg(long, value_name = "FILE")]
    activity: Option<PathBuf>,
    /// Named periods (start,end,label): question 3 gives the rates in each.
    #[arg(long, value_name = "FILE")]
    periods: Option<PathBuf>,
    /// Users active at the survey's time: question 4 gives the answers as a share of them.
    #[arg(long, value_name = "N")]
    active_users: Option<String>,
    /// Counts from fewer respondents than this are suppressed (an empty field).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    min_cell: u64,
    /// Published counts are multiples of this.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    round_to: u64,
    /// The language of index.html: Japanese, English, or both side by side.
    #[arg(long, value_enum, default_value_t = Lang::Both)]
    lang: Lang,
    /// Differential privacy: noise every count of the survey with this total epsilon, before
    /// the threshold and the rounding (which then see noised counts only). User level: a
    /// respondent counts on at most the window's days; OpenDP's discrete Laplace, the budget
    /// split by basic composition (report.json's "privacy" states each share). Above 0.
    #[arg(long, value_name = "E")]
    dp_epsilon: Option<f64>,
    /// With --dp-epsilon: (epsilon, delta)-DP instead, by the discrete Gaussian and
    /// zero-concentrated composition. Above 0 and below 1.
    #[arg(long, value_name = "D", requires = "dp_epsilon")]
    dp_delta: Option<f64>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// The languages `index.html` can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Ja,
    En,
    Both,
}

/// The side inputs, parsed.
#[derive(Debug, Default)]
pub(crate) struct Sides {
    pub(crate) cases: Option<DailySeries<u64>>,
    pub(crate) activity: Option<DailySeries<f64>>,
    pub(crate) periods: Vec<Period>,
    pub(crate) active_users: Option<u64>,
}

fn read_input<T>(
    path: &Option<PathBuf>,
    parse: impl Fn(&str) -> Result<T, inputs::InputError>,
) -> Result<Option<T>, Failure> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).usage_or_io(format!("reading {}", path.display()))?;
    parse(&text).usage_or_io(path.display()).map(Some)
}

fn read_sides(args: &ReportArgs) -> Result<Sides, Failure> {
    Ok(Sides {
        cases: read_input(&args.cases, inputs::parse_national_cases)?,
        activity: read_input(&args.activity, inputs::parse_activity)?,
        periods: read_input(&args.periods, inputs::parse_periods)?.unwrap_or_default(),
        active_users: args
            .active_users
            .as_deref()
            .map(inputs::parse_active_users)
            .transpose()
            .usage_or_io("--active-users")?,
    })
}

/// The name of the cell keys' secret in the server's store.
const CELL_KEY_SECRET: &str = "report-cell-keys";

fn epoch_day(date: chrono::NaiveDate) -> i64 {
    date.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

pub fn run(args: ReportArgs) -> Result<(), Failure> {
    let protection = Protection::new(args.min_cell, args.round_to).usage_or_io("protection")?;
    let protection = match args.dp_epsilon {
        None => protection,
        Some(epsilon) => {
            use cocoa_analytics::dp::{DpBudget, DpError};
            let budget = DpBudget::new(epsilon, args.dp_delta).map_err(|e| {
                let flag = match e {
                    DpError::Epsilon => "--dp-epsilon",
                    DpError::Delta => "--dp-delta",
                };
                Failure::new(
                    crate::failure::USAGE_OR_IO,
                    anyhow::Error::new(e).context(flag),
                )
            })?;
            protection.with_dp(budget)
        }
    };
    let sides = read_sides(&args)?;
    let config = load_config(&args.serve)?;
    init_logging();
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let app = runtime
        .block_on(App::open(config, Arc::new(SystemClock)))
        .usage_or_io("opening the server's storage")?;
    let made = runtime.block_on(make(
        &app,
        &args.out,
        protection,
        &sides,
        args.lang,
        rand::random::<[u8; 8]>(),
    ))?;
    let dp = made.dp;
    if args.json {
        let mut summary = json!({
            "answers_read": made.read,
            "window": json::window_json(made.window),
            "out": args.out.display().to_string(),
            "files": made.files,
        });
        if let Some(b) = dp {
            summary["dp"] = json!({ "epsilon": b.epsilon(), "delta": b.delta() });
        }
        println!("{summary}");
    } else {
        let dp = dp.map_or(String::new(), |b| match b.delta() {
            None => format!(" with differential privacy (epsilon {})", b.epsilon()),
            Some(d) => format!(
                " with differential privacy (epsilon {}, delta {d})",
                b.epsilon()
            ),
        });
        println!(
            "read {} answers ({} to {}); wrote {} files to {}{dp}",
            made.read,
            format_day(made.window.first()),
            format_day(made.window.last()),
            made.files.len(),
            args.out.display()
        );
    }
    Ok(())
}

/// What [`make`] wrote.
#[derive(Debug)]
pub(crate) struct Made {
    /// Answers read.
    pub(crate) read: u64,
    pub(crate) window: cocoa_analytics::DayRange,
    /// The files written, relative to the folder.
    pub(crate) files: Vec<String>,
    pub(crate) dp: Option<cocoa_analytics::dp::DpBudget>,
}

/// Makes the report of an open server into `out` (tables/*.csv, report.json, index.html) and
/// publishes it in the server's blob storage (`/report/`): the answers and registration counts
/// of the server's store, the window ending on the last day an answer was received (or the
/// server clock's today; under differential privacy, the day the survey closes or today). `secret_candidate` becomes the cell keys' secret if the server has
/// none yet (a secret already stored wins).
pub(crate) async fn make(
    app: &App,
    out: &Path,
    protection: Protection,
    sides: &Sides,
    lang: Lang,
    secret_candidate: [u8; 8],
) -> Result<Made, Failure> {
    let state = app.state();
    let first_day = epoch_day(state.config.survey.first_day);
    // The cell keys' secret: made once per server and kept with its other secrets, so that a
    // report made again from the same answers is the same, and no reader can recompute the
    // thresholds and rounding from the published tables.
    let secret = state
        .store
        .secret(CELL_KEY_SECRET, &secret_candidate)
        .await
        .usage_or_io("reading the report's secret")?;
    let secret: [u8; 8] = secret
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            Failure::new(
                crate::failure::USAGE_OR_IO,
                anyhow::anyhow!("the stored report secret is too short"),
            )
        })?;
    let protection = protection.with_secret(u64::from_le_bytes(secret));
    let today = epoch_day(state.clock.now().date_naive());
    // Under differential privacy the window may not depend on the answers (the last day one
    // was received would be published exactly): it ends when the survey closes, or today.
    let fixed_last = protection.dp().map(|_| {
        state.config.survey.closes_at.map_or(today, |closes| {
            epoch_day(closes.naive_utc().date()).min(today)
        })
    });
    let (analysis, read) = read::analyse(
        state.store.as_ref(),
        first_day,
        today,
        fixed_last,
        protection,
        sides,
    )
    .await?;
    // The noise could not be drawn: nothing was released, and nothing is written.
    if let Some(error) = analysis.privacy.as_ref().and_then(|p| p.error.as_ref()) {
        return Err(Failure::new(
            crate::failure::USAGE_OR_IO,
            anyhow::anyhow!("{error}; nothing written"),
        ));
    }
    let files = write(out, &analysis, sides, lang)?;
    publish(state.blobs.as_ref(), out, &files).await?;
    Ok(Made {
        read,
        window: analysis.window,
        files,
        dp: analysis.privacy.as_ref().map(|p| p.budget),
    })
}

/// Publishes the files just written to `out` (named relative to it) in the server's blob
/// storage, where `cocoa serve` serves them at `/report/`.
async fn publish(
    blobs: &dyn cocoa_server::blob::BlobStore,
    out: &Path,
    names: &[String],
) -> Result<(), Failure> {
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let path = out.join(name);
        let data = std::fs::read(&path).usage_or_io(format!("reading {}", path.display()))?;
        files.push((name.clone(), data.into()));
    }
    cocoa_server::report::publish(blobs, &files)
        .await
        .usage_or_io("publishing the report for `cocoa serve` (/report/)")
}

/// Writes the tables, the JSON report and the page; returns the files written, relative to
/// `out`.
fn write(out: &Path, a: &Analysis, sides: &Sides, lang: Lang) -> Result<Vec<String>, Failure> {
    let c = &a.cooperation;
    let page_lang = match lang {
        Lang::Ja => html::Lang::Ja,
        Lang::En => html::Lang::En,
        Lang::Both => html::Lang::Both,
    };
    let context = html::ReportContext {
        link_files: true,
        activity_index: sides.activity.is_some(),
    };
    let files: Vec<(&str, String)> = vec![
        ("tables/age.csv", a.age.to_csv()),
        ("tables/start_month.csv", a.start_month.to_csv()),
        ("tables/commute.csv", a.commuting.table.to_csv()),
        ("tables/daily.csv", a.daily.to_csv()),
        ("tables/cooperation.csv", c.items.to_csv()),
        (
            "tables/cooperation_by_age.csv",
            tables::group_cooperation_csv(&c.by_age),
        ),
        (
            "tables/cooperation_by_commute.csv",
            tables::group_cooperation_csv(&c.by_commute),
        ),
        ("tables/received.csv", c.received.to_csv()),
        (
            "report.json",
            serde_json::to_string_pretty(&json::report_json(a, sides))
                .expect("plain values serialise")
                + "\n",
        ),
        ("index.html", html::render(a, page_lang, &context)),
    ];
    let tables_dir = out.join("tables");
    std::fs::create_dir_all(&tables_dir)
        .usage_or_io(format!("creating {}", tables_dir.display()))?;
    for (name, text) in &files {
        let path = out.join(name);
        std::fs::write(&path, text).usage_or_io(format!("writing {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(n, _)| n.to_owned()).collect())
}
