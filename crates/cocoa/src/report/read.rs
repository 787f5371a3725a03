//! Reading the stored answers into the [`Accumulator`], in one pass, with a progress bar.

use super::Sides;
use crate::failure::{Failure, OrFail, USAGE_OR_IO};
use anyhow::anyhow;
use cocoa_analytics::date::format_day;
use cocoa_analytics::estimate::{self, Analysis};
use cocoa_analytics::inputs::DailySeries;
use cocoa_analytics::protect::Protection;
use cocoa_analytics::{Accumulator, DayRange, SideInputs};
use cocoa_server::store::Store;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Answers between two updates of the progress bar.
const PROGRESS_STEP: u64 = 4096;

/// A progress bar on stderr when it is a terminal (the count of answers is read only then).
async fn progress(store: &dyn Store) -> Result<ProgressBar, Failure> {
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let len = store
        .count_survey_responses()
        .await
        .usage_or_io("counting the answers")?;
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>9} {wide_bar} {pos}/{len} answers ({eta} left)")
    {
        bar.set_style(style);
    }
    Ok(bar)
}

/// The analysis of the stored answers. The window runs from `first_day` to the last day an
/// answer was received, or to `fixed_last` when given (under differential privacy the window
/// may not depend on the answers: its length bounds each respondent's contribution).
pub(super) async fn analyse(
    store: &dyn Store,
    first_day: i64,
    today: i64,
    fixed_last: Option<i64>,
    protection: Protection,
    sides: &Sides,
) -> Result<(Analysis, u64), Failure> {
    let (acc, read) = accumulate(store, first_day, today, fixed_last).await?;
    let window = acc.window();

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

/// The window (from `first_day` to the last day an answer was received) and its sums, from
/// one pass over the answers.
async fn accumulate(
    store: &dyn Store,
    first_day: i64,
    today: i64,
    fixed_last: Option<i64>,
) -> Result<(Accumulator, u64), Failure> {
    // The window ends on the last day an answer was received: one cheap query (an index),
    // not a pass over the answers. An answer stored after it, with a later day, is counted as
    // received outside the window.
    let last = match fixed_last {
        Some(last) => last,
        None => store
            .last_survey_received_day()
            .await
            .usage_or_io("reading the last day of receipt")?
            .unwrap_or(today),
    }
    .max(first_day);
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

    let bar = progress(store).await?;
    bar.set_message("reading");
    // Drawn at once, not at the first update: a small store may be read before any.
    bar.force_draw();
    let mut acc = Accumulator::new(window);
    let mut since_tick = 0u64;
    let read = store
        .for_each_survey_response(&mut |answer| {
            acc.add(answer);
            since_tick += 1;
            if since_tick == PROGRESS_STEP {
                bar.inc(since_tick);
                since_tick = 0;
            }
        })
        .await
        .usage_or_io("reading the answers")?;
    bar.finish_and_clear();
    Ok((acc, read))
}
