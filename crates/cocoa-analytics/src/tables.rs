//! The published tables: rows of [`Published`] counts, [`Share`]s and [`Rate`]s only, and
//! their CSV form. A suppressed value is an empty field. Shares are written with 4 decimals,
//! rates with 3; both are computed from the rounded counts beside them.

use crate::date::{format_day, format_month};
use crate::protect::{Published, Rate, Share};
use cocoa_api::{AgeGroup, Commute};
use std::fmt::Write as _;

fn share_field(s: Share) -> String {
    s.value().map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn rate_field(r: Rate) -> String {
    r.value().map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// An age group's CSV label: `1`..`9` or `none`.
pub fn age_label(age: Option<AgeGroup>) -> String {
    age.map_or_else(|| "none".into(), |a| a.get().to_string())
}

/// A commuting answer's CSV label: `1`..`3` or `none`.
pub fn commute_label(commute: Option<Commute>) -> String {
    commute.map_or_else(|| "none".into(), |c| c.get().to_string())
}

fn csv(header: &str, lines: impl Iterator<Item = String>) -> String {
    let mut out = String::from(header);
    out.push('\n');
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    out
}

/// Respondents with daily data (consented) and those of them with at least one flagged day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeRow {
    pub age_group: Option<AgeGroup>,
    /// notified / respondents.
    pub notified: Share,
}

/// The headline table by age group: rows 1..=9 then `none`, and the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeTable {
    pub rows: Vec<AgeRow>,
    pub total: Share,
}

impl AgeTable {
    pub const HEADER: &'static str = "age_group,respondents,notified,share";

    pub fn to_csv(&self) -> String {
        csv(
            Self::HEADER,
            self.rows.iter().map(|r| {
                format!(
                    "{},{},{},{}",
                    age_label(r.age_group),
                    r.notified.denominator(),
                    r.notified.numerator(),
                    share_field(r.notified)
                )
            }),
        )
    }
}

/// The headline table by start-of-use month (respondents with daily data, as [`AgeRow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRow {
    /// A [`crate::date::month_key`], [`MonthRow::OTHER`] (a start outside the months listed),
    /// or `None`: no start date given.
    pub month: Option<i64>,
    pub notified: Share,
}

impl MonthRow {
    /// The row of starts outside the months listed (`other`).
    pub const OTHER: i64 = i64::MIN;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthTable {
    /// Every month from COCOA's release (2020-06) to the window's last, ascending, then
    /// `other`, then `none`.
    pub rows: Vec<MonthRow>,
    pub total: Share,
}

impl MonthTable {
    pub const HEADER: &'static str = "start_month,respondents,notified,share";

    pub fn to_csv(&self) -> String {
        csv(
            Self::HEADER,
            self.rows.iter().map(|r| {
                format!(
                    "{},{},{},{}",
                    match r.month {
                        None => "none".into(),
                        Some(MonthRow::OTHER) => "other".into(),
                        Some(m) => format_month(m),
                    },
                    r.notified.denominator(),
                    r.notified.numerator(),
                    share_field(r.notified)
                )
            }),
        )
    }
}

/// A commuting group: respondents with daily data, notified, person-days observed, flagged
/// days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommuteRow {
    pub commute: Option<Commute>,
    /// notified / respondents.
    pub notified: Share,
    /// flagged days per 1,000 person-days.
    pub flagged: Rate,
}

/// Rows 1, 2, 3, then `none`, and the total.
#[derive(Debug, Clone, PartialEq)]
pub struct CommuteTable {
    pub rows: Vec<CommuteRow>,
    pub total: CommuteRow,
}

impl CommuteTable {
    pub const HEADER: &'static str =
        "commute,respondents,notified,share,person_days,flagged_days,rate_per_1000";

    pub fn to_csv(&self) -> String {
        csv(
            Self::HEADER,
            self.rows.iter().map(|r| {
                format!(
                    "{},{},{},{},{},{},{}",
                    commute_label(r.commute),
                    r.notified.denominator(),
                    r.notified.numerator(),
                    share_field(r.notified),
                    r.flagged.denominator(),
                    r.flagged.numerator(),
                    rate_field(r.flagged)
                )
            }),
        )
    }
}

/// One day: respondents whose daily data covers it, those flagged that day, registrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyRow {
    pub day: i64,
    pub respondents_with_data: Published,
    pub flagged: Published,
    /// `None` without the registrations input.
    pub registrations: Option<Published>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTable {
    /// Every day of the window, ascending.
    pub rows: Vec<DailyRow>,
}

impl DailyTable {
    pub const HEADER: &'static str = "date,respondents_with_data,flagged,registrations";

    pub fn to_csv(&self) -> String {
        csv(
            Self::HEADER,
            self.rows.iter().map(|r| {
                format!(
                    "{},{},{},{}",
                    format_day(r.day),
                    r.respondents_with_data,
                    r.flagged,
                    r.registrations.map(|p| p.to_string()).unwrap_or_default()
                )
            }),
        )
    }
}

/// A survey item respondents may leave unanswered (or not consent to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Item {
    Q1,
    Q2,
    StartDate,
    ExposureData,
}

impl Item {
    pub const ALL: [Item; 4] = [Item::Q1, Item::Q2, Item::StartDate, Item::ExposureData];

    /// The CSV name: `q1`, `q2`, `start_date`, `exposure_data`.
    pub fn name(self) -> &'static str {
        match self {
            Item::Q1 => "q1",
            Item::Q2 => "q2",
            Item::StartDate => "start_date",
            Item::ExposureData => "exposure_data",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooperationRow {
    pub item: Item,
    /// answered / respondents (all answers).
    pub answered: Share,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooperationTable {
    /// `q1`, `q2`, `start_date`, `exposure_data`.
    pub rows: Vec<CooperationRow>,
}

impl CooperationTable {
    pub const HEADER: &'static str = "item,answered,respondents";

    pub fn to_csv(&self) -> String {
        csv(
            Self::HEADER,
            self.rows.iter().map(|r| {
                format!(
                    "{},{},{}",
                    r.item.name(),
                    r.answered.numerator(),
                    r.answered.denominator()
                )
            }),
        )
    }
}

/// Cooperation within one age or commuting group: each item's answered / respondents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCooperation {
    /// `1`..`9`, `1`..`3` or `none`.
    pub group: String,
    pub respondents: Published,
    /// `None` in the table by age group (the group is the answer).
    pub q1: Option<Share>,
    /// `None` in the table by commuting group.
    pub q2: Option<Share>,
    pub start_date: Share,
    pub exposure_data: Share,
}

/// Cooperation by group, as CSV: `group,respondents,q1,q2,start_date,exposure_data` (answered
/// counts; an item that is the grouping itself is empty).
pub fn group_cooperation_csv(rows: &[GroupCooperation]) -> String {
    let answered = |s: Option<Share>| s.map(|s| s.numerator().to_string()).unwrap_or_default();
    csv(
        "group,respondents,q1,q2,start_date,exposure_data",
        rows.iter().map(|r| {
            format!(
                "{},{},{},{},{},{}",
                r.group,
                r.respondents,
                answered(r.q1),
                answered(r.q2),
                r.start_date.numerator(),
                r.exposure_data.numerator()
            )
        }),
    )
}

/// Answers received on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedRow {
    pub day: i64,
    pub answers: Published,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedTable {
    /// Every day of the window, ascending.
    pub rows: Vec<ReceivedRow>,
    pub total: Published,
}

impl ReceivedTable {
    pub const HEADER: &'static str = "date,answers";

    pub fn to_csv(&self) -> String {
        csv(
            Self::HEADER,
            self.rows
                .iter()
                .map(|r| format!("{},{}", format_day(r.day), r.answers)),
        )
    }
}
