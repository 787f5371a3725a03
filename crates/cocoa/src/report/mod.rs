//! `cocoa report`: the survey's published analysis as files: `tables/*.csv` and `report.json`.
//!
//! Side inputs are read and parsed first, so a bad one writes nothing. The answers are read
//! twice, each time as a stream (never all held): once for the last day an answer was
//! received (the window's end), once into the [`Accumulator`]. An answer stored between the
//! two reads with a later day is counted as received outside the window.

use crate::failure::{Failure, OrFail, USAGE_OR_IO};
use crate::serve::{init_logging, load_config, ServeArgs};
use anyhow::anyhow;
use clap::Args;
use cocoa_analytics::date::{format_day, format_month};
use cocoa_analytics::estimate::{self, Analysis};
use cocoa_analytics::inputs::{self, DailySeries, Period};
use cocoa_analytics::protect::{Protection, Published, Rate, Share};
use cocoa_analytics::stats::Estimate;
use cocoa_analytics::tables::{self, age_label, commute_label};
use cocoa_analytics::{Accumulator, DayRange, Method, SideInputs};
use cocoa_server::store::Store;
use cocoa_server::{App, SystemClock};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `cocoa report`: the survey's analysis as CSV tables and a JSON report. A side-input file
/// that cannot be read is an error naming the file and its line, and nothing is written.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// The folder to write tables/*.csv and report.json in (created if missing).
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
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// The side inputs, parsed.
struct Sides {
    cases: Option<DailySeries<u64>>,
    activity: Option<DailySeries<f64>>,
    periods: Vec<Period>,
    active_users: Option<u64>,
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

fn epoch_day(date: chrono::NaiveDate) -> i64 {
    date.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

fn progress(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>9} {wide_bar} {pos}/{len} answers ({eta} left)")
    {
        bar.set_style(style);
    }
    bar
}

pub fn run(args: ReportArgs) -> Result<(), Failure> {
    let protection = Protection::new(args.min_cell, args.round_to).usage_or_io("protection")?;
    let sides = read_sides(&args)?;
    let config = load_config(&args.serve)?;
    init_logging();
    let first_day = epoch_day(config.survey.first_day);
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let sides_ref = &sides;
    let (analysis, read) = runtime.block_on(async move {
        let app = App::open(config, Arc::new(SystemClock))
            .await
            .usage_or_io("opening the server's storage")?;
        let state = app.state();
        let today = epoch_day(state.clock.now().date_naive());
        analyse(
            state.store.as_ref(),
            first_day,
            today,
            protection,
            sides_ref,
        )
        .await
    })?;
    let files = write(&args.out, &analysis, &sides)?;
    if args.json {
        let summary = json!({
            "answers_read": read,
            "window": window_json(analysis.window),
            "out": args.out.display().to_string(),
            "files": files,
        });
        println!("{summary}");
    } else {
        println!(
            "read {read} answers ({} to {}); wrote {} files to {}",
            format_day(analysis.window.first()),
            format_day(analysis.window.last()),
            files.len(),
            args.out.display()
        );
    }
    Ok(())
}

async fn analyse(
    store: &dyn Store,
    first_day: i64,
    today: i64,
    protection: Protection,
    sides: &Sides,
) -> Result<(Analysis, u64), Failure> {
    let stored = store
        .count_survey_responses()
        .await
        .usage_or_io("counting the answers")?;
    let bar = progress(stored);
    bar.set_message("scanning");
    let mut last_received: Option<i64> = None;
    let mut stream = store.survey_responses_stream();
    while let Some(answer) = stream.next().await {
        let answer = answer.usage_or_io("reading the answers")?;
        last_received =
            Some(last_received.map_or(answer.received_day, |d| d.max(answer.received_day)));
        bar.inc(1);
    }
    drop(stream);
    let last = last_received.unwrap_or(today).max(first_day);
    let window = DayRange::new(first_day, last).ok_or_else(|| {
        Failure::new(
            USAGE_OR_IO,
            anyhow!(
                "the window {} to {} is longer than {} days",
                format_day(first_day),
                format_day(last),
                estimate::MAX_WINDOW_DAYS
            ),
        )
    })?;

    bar.set_position(0);
    bar.set_message("reading");
    let mut acc = Accumulator::new(window);
    let mut read = 0u64;
    let mut stream = store.survey_responses_stream();
    while let Some(answer) = stream.next().await {
        let answer = answer.usage_or_io("reading the answers")?;
        acc.add(&answer);
        read += 1;
        bar.inc(1);
    }
    drop(stream);
    bar.finish_and_clear();

    // Registrations per day of the window, summed over regions; a day without any is 0.
    let stats = store
        .registration_stats()
        .await
        .usage_or_io("reading the registration counts")?;
    let mut per_day = vec![0u64; window.len()];
    for s in &stats {
        if window.contains(s.day) {
            per_day[(s.day - window.first()) as usize] += s.registrations;
        }
    }
    let registrations =
        DailySeries::from_points(window.days().zip(per_day).collect()).unwrap_or_default();
    let inputs = SideInputs {
        registrations: Some(&registrations),
        national_cases: sides.cases.as_ref(),
        activity: sides.activity.as_ref(),
        periods: &sides.periods,
        active_users: sides.active_users,
    };
    Ok((acc.finish(protection, &inputs), read))
}

/// Writes the tables and the report; returns the files written, relative to `out`.
fn write(out: &Path, a: &Analysis, sides: &Sides) -> Result<Vec<String>, Failure> {
    let c = &a.cooperation;
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
            serde_json::to_string_pretty(&report_json(a, sides)).expect("plain values serialise")
                + "\n",
        ),
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

fn window_json(w: DayRange) -> Value {
    json!({ "first": format_day(w.first()), "last": format_day(w.last()), "days": w.len() })
}

fn method_json(m: Method) -> Value {
    json!({ "en": m.en, "ja": m.ja })
}

/// A published count with its protection.
fn count(p: Protection, c: Published) -> Value {
    json!({
        "value": c.get(),
        "suppressed": c.is_suppressed(),
        "min_cell": p.min_cell(),
        "round_to": p.round_to(),
    })
}

fn share(p: Protection, s: Share) -> Value {
    json!({
        "numerator": count(p, s.numerator()),
        "denominator": count(p, s.denominator()),
        "value": s.value(),
        "interval": s.interval().map(|(lo, hi)| [lo, hi]),
    })
}

fn rate(p: Protection, r: Rate) -> Value {
    json!({
        "numerator": count(p, r.numerator()),
        "denominator": count(p, r.denominator()),
        "per": r.per(),
        "dispersion": r.dispersion(),
        "value": r.value(),
        "interval": r.interval().map(|(lo, hi)| [lo, hi]),
    })
}

fn est(e: Option<Estimate>) -> Value {
    e.map_or(
        Value::Null,
        |e| json!({ "value": e.value, "interval": [e.low, e.high] }),
    )
}

fn registrations_json(r: &estimate::RegistrationsAnalysis) -> Value {
    json!({
        "regressor": format!("{:?}", r.regressor),
        "lag": r.lag,
        "lag_interval": r.lag_interval.map(|(lo, hi)| [lo, hi]),
        "elasticity": est(r.elasticity),
        "dispersion": r.dispersion,
        "days_used": r.days_used,
        "lags": r.lags.iter().map(|l| json!({
            "lag": l.lag, "correlation": l.correlation, "days": l.days,
        })).collect::<Vec<_>>(),
        "days": r.days.iter().map(|d| json!({
            "date": format_day(d.day),
            "rate_per_100k": d.rate_per_100k,
            "rate7_per_100k": d.rate7_per_100k,
            "regressor7": d.regressor7,
            "per_registration": d.per_registration,
        })).collect::<Vec<_>>(),
    })
}

fn group_rates(g: &[estimate::activity::GroupRates]) -> Vec<Value> {
    g.iter()
        .map(|g| {
            json!({
                "label": g.label,
                "days": g.days,
                "days_used": g.days_used,
                "rate_per_100k": est(g.rate_per_100k),
                "per_registration": est(g.per_registration),
            })
        })
        .collect()
}

fn group_cooperation(p: Protection, rows: &[tables::GroupCooperation]) -> Vec<Value> {
    let opt = |s: Option<Share>| s.map_or(Value::Null, |s| share(p, s));
    rows.iter()
        .map(|r| {
            json!({
                "group": r.group,
                "respondents": count(p, r.respondents),
                "q1": opt(r.q1),
                "q2": opt(r.q2),
                "start_date": share(p, r.start_date),
                "exposure_data": share(p, r.exposure_data),
            })
        })
        .collect()
}

fn report_json(a: &Analysis, sides: &Sides) -> Value {
    let p = a.protection;
    let commute_row = |r: &tables::CommuteRow| {
        json!({
            "commute": commute_label(r.commute),
            "notified": share(p, r.notified),
            "flagged_days_per_1000": rate(p, r.flagged),
        })
    };
    let c = &a.cooperation;
    json!({
        "window": window_json(a.window),
        "protection": {
            "min_cell": p.min_cell(),
            "round_to": p.round_to(),
            "threshold_spread": p.spread(),
            "method": method_json(estimate::PROTECTION_METHOD),
        },
        "side_inputs": {
            "registrations": "the server's registration counts",
            "national_cases": sides.cases.is_some(),
            "activity": sides.activity.is_some(),
            "periods": sides.periods.len(),
            "active_users": sides.active_users,
        },
        "answers": count(p, a.answers),
        "days_outside_window": count(p, a.days_outside_window),
        "received_outside_window": count(p, a.received_outside_window),
        "age": {
            "rows": a.age.rows.iter().map(|r| json!({
                "age_group": age_label(r.age_group),
                "notified": share(p, r.notified),
            })).collect::<Vec<_>>(),
            "total": share(p, a.age.total),
        },
        "start_month": {
            "rows": a.start_month.rows.iter().map(|r| json!({
                "start_month": match r.month {
                    None => "none".to_owned(),
                    Some(tables::MonthRow::OTHER) => "other".to_owned(),
                    Some(m) => format_month(m),
                },
                "notified": share(p, r.notified),
            })).collect::<Vec<_>>(),
            "total": share(p, a.start_month.total),
        },
        "daily": a.daily.rows.iter().map(|r| json!({
            "date": format_day(r.day),
            "respondents_with_data": count(p, r.respondents_with_data),
            "flagged": count(p, r.flagged),
            "registrations": r.registrations.map(|c| count(p, c)),
        })).collect::<Vec<_>>(),
        "questions": {
            "registrations": {
                "method": method_json(estimate::registrations::METHOD),
                "against_registrations": a.registrations.as_ref().map(registrations_json),
                "against_national_cases": a.national_cases.as_ref().map(registrations_json),
            },
            "commuting": {
                "method": method_json(estimate::commuting::METHOD),
                "rows": a.commuting.table.rows.iter().map(commute_row).collect::<Vec<_>>(),
                "total": commute_row(&a.commuting.table.total),
                "comparisons": a.commuting.comparisons.iter().map(|k| json!({
                    "commute": commute_label(k.commute),
                    "against": "1",
                    "rate_ratio": est(k.rate_ratio),
                    "rate_ratio_age_adjusted": est(k.rate_ratio_age_adjusted),
                    "share_ratio": est(k.share_ratio),
                    "share_ratio_age_adjusted": est(k.share_ratio_age_adjusted),
                    "rate_strata_used": k.rate_strata_used,
                    "share_strata_used": k.share_strata_used,
                })).collect::<Vec<_>>(),
            },
            "activity": {
                "method": method_json(estimate::activity::METHOD),
                "lag": a.activity.lag,
                "correlation": est(a.activity.correlation),
                "activity_effect": est(a.activity.activity_effect),
                "elasticity_adjusted": est(a.activity.elasticity_adjusted),
                "days_used": a.activity.days_used,
                "by_period": group_rates(&a.activity.by_period),
                "by_weekday": group_rates(&a.activity.by_weekday),
            },
            "cooperation": {
                "method": method_json(estimate::cooperation::METHOD),
                "items": c.items.rows.iter().map(|r| json!({
                    "item": r.item.name(),
                    "answered": share(p, r.answered),
                })).collect::<Vec<_>>(),
                "by_age": group_cooperation(p, &c.by_age),
                "by_commute": group_cooperation(p, &c.by_commute),
                "of_active_users": c.of_active_users,
                "received": {
                    "rows": c.received.rows.iter().map(|r| json!({
                        "date": format_day(r.day),
                        "answers": count(p, r.answers),
                    })).collect::<Vec<_>>(),
                    "total": count(p, c.received.total),
                },
            },
        },
    })
}
