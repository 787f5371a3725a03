//! The differential-privacy layer of [`Accumulator::finish`] ([`crate::dp`]): the statistics
//! the accumulator's sums are released through, their sensitivities, the noised accumulator
//! every table is then built from, and the noise variance of every published count.
//!
//! **Statistics** (W: the window's days; a respondent is one answer):
//! - `respondents`: per age × commuting group, the answers in four disjoint classes: no daily
//!   data; daily data but no day in the window; covering a day but not notified; notified.
//!   A respondent is in one cell: L1 = L2 = 1. Every group's and margin's answers, answers with
//!   daily data, covering respondents, notified and not notified are sums of these cells.
//! - `start_given`: per group, the answers giving a start date: L1 = L2 = 1.
//! - `start_month`: per start-month row, respondents with daily data not notified, and
//!   notified: L1 = L2 = 1.
//! - `person_days`: per group, the covered days without a flag, and the flagged days: a
//!   respondent adds its covered days (at most W) over two cells: L1 = L2 = W.
//! - `daily`: per day of the window, the covering respondents not flagged that day, and those
//!   flagged: a respondent is in one cell of each day it covers, at most W days: L1 = W,
//!   L2 = √W.
//! - `received`: answers per day of receipt, then those received outside the window:
//!   L1 = L2 = 1.
//! - `flag_clustering`: per group, Σ flagged² / covered days (the numerator of the commuting
//!   rates' dispersion) in hundredths, rounded: a respondent adds f² / t ≤ f ≤ W, so
//!   L1 = L2 = 100 W + 1 (1 for the rounding).
//!
//! **Contribution bound.** [`Accumulator::add`] clips every respondent's daily data to the
//! window (days outside it are ignored), so a respondent is counted on at most W days and
//! contributes at most W person-days and W flagged days: that is the bound the day
//! statistics are calibrated to. (A tighter one would need a per-respondent clip in `add`:
//! the accumulator keeps sums, not respondents.)
//!
//! **Withheld.** The count of daily-data days outside the window has no bound per respondent:
//! under DP it is not released.
//!
//! After the noise, every count the tables show is a sum of noised cells, summed as signed
//! numbers (so margins are unbiased) and only then taken as 0 if negative; the disclosure rules
//! get these counts, tied by the same sums as the exact ones ([`Accumulator::finish`]), and no
//! record keys (they depend on who is in a count). Everything after the noise is
//! post-processing of the noised cells.

use super::{Accumulator, GroupSums, Ids, AGE_SLOTS, COMMUTE_SLOTS};
use crate::dp::{self, Accounting, DpBudget, NoiseError, Statistic};
use crate::protect::{Cell, CellId, GridIds, Protection, RawGrid, Solution, System};

/// `flag_clustering` is counted in hundredths.
const CLUSTERING_UNIT: f64 = 100.0;

const GROUPS: usize = AGE_SLOTS * COMMUTE_SLOTS;
/// Classes of the `respondents` statistic, per group.
const CLASSES: usize = 4;

/// How the contribution bound is enforced, as the report states it.
pub const BOUND_RULE: &str = "each respondent's daily data is clipped to the analysis window \
     (days outside it are ignored), so a respondent is counted on at most the window's days in \
     the daily statistic and contributes at most that many person-days and flagged days; every \
     other statistic counts a respondent once";

/// The statistics, in the order they are noised, for a window of `days` days and `months`
/// start-month rows.
pub fn statistics(days: usize, months: usize) -> Vec<Statistic> {
    let w = days as f64;
    vec![
        Statistic {
            name: "respondents",
            description: "answers per age x commuting group in four classes (no daily data; \
                 daily data without a day in the window; covering, not notified; notified): one \
                 cell per respondent",
            cells: GROUPS * CLASSES,
            l1_sensitivity: 1.0,
            l2_sensitivity: 1.0,
            weight: 2,
        },
        Statistic {
            name: "start_given",
            description: "answers giving a start date, per age x commuting group: one cell \
                 per respondent",
            cells: GROUPS,
            l1_sensitivity: 1.0,
            l2_sensitivity: 1.0,
            weight: 1,
        },
        Statistic {
            name: "start_month",
            description: "respondents with daily data per start month, not notified and \
                 notified: one cell per respondent",
            cells: months * 2,
            l1_sensitivity: 1.0,
            l2_sensitivity: 1.0,
            weight: 1,
        },
        Statistic {
            name: "person_days",
            description: "covered days without a flag and flagged days, per age x commuting \
                 group: a respondent adds its covered days, at most the window's",
            cells: GROUPS * 2,
            l1_sensitivity: w,
            l2_sensitivity: w,
            weight: 2,
        },
        Statistic {
            name: "daily",
            description: "per day of the window, covering respondents not flagged that day and \
                 flagged: a respondent is in one cell on each day it covers, at most the \
                 window's days",
            cells: days * 2,
            l1_sensitivity: w,
            l2_sensitivity: w.sqrt(),
            weight: 3,
        },
        Statistic {
            name: "received",
            description: "answers per day of receipt, and received outside the window: one \
                 cell per respondent",
            cells: days + 1,
            l1_sensitivity: 1.0,
            l2_sensitivity: 1.0,
            weight: 1,
        },
        Statistic {
            name: "flag_clustering",
            description: "per age x commuting group, the sum over respondents of flagged days \
                 squared over covered days, in hundredths (for the rates' dispersion): a \
                 respondent adds at most its flagged days, at most the window's",
            cells: GROUPS,
            l1_sensitivity: CLUSTERING_UNIT * w + 1.0,
            l2_sensitivity: CLUSTERING_UNIT * w + 1.0,
            weight: 1,
        },
    ]
}

/// The noised statistics (signed, as drawn), each one's noise variance per cell, and the
/// accounting.
#[derive(Debug, Clone)]
pub(super) struct Noised {
    pub(super) accounting: Accounting,
    /// Per group, the four classes of `respondents`.
    respondents: Vec<i64>,
    start_given: Vec<i64>,
    /// Per start-month row: not notified, notified.
    start_month: Vec<i64>,
    /// Per group: days without a flag, flagged days.
    person_days: Vec<i64>,
    /// Per day: covering not flagged, flagged.
    daily: Vec<i64>,
    /// Per day of receipt, then outside the window.
    received: Vec<i64>,
    /// Per group, hundredths.
    clustering: Vec<i64>,
    variance: Variances,
}

/// Each statistic's noise variance per cell.
#[derive(Debug, Clone, Copy, Default)]
struct Variances {
    respondents: f64,
    start_given: f64,
    start_month: f64,
    person_days: f64,
    daily: f64,
    received: f64,
}

fn int(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn pos(x: i64) -> u64 {
    x.max(0) as u64
}

/// The accumulator's sums through the DP statistics. If the noise cannot be drawn, nothing is
/// released: every noised cell is 0 (so every count is suppressed) and the accounting says why.
pub(super) fn noise(acc: &Accumulator, budget: DpBudget) -> Noised {
    let days = acc.window.len();
    let months = acc.months.counts.len();
    let statistics = statistics(days, months);
    let withheld = vec![(
        "days_outside_window",
        "a respondent's days of daily data outside the window have no bound",
    )];
    match noised(acc, budget, &statistics) {
        Ok(mut noised) => {
            noised.accounting.withheld = withheld;
            noised
        }
        Err(e) => Noised {
            accounting: Accounting {
                budget,
                mechanism: budget.mechanism(),
                composition: budget.composition(),
                rho: None,
                epsilon_spent: 0.0,
                max_days: days as u64,
                bound_rule: BOUND_RULE,
                statistics: Vec::new(),
                withheld,
                error: Some(e.to_string()),
            },
            respondents: vec![0; GROUPS * CLASSES],
            start_given: vec![0; GROUPS],
            start_month: vec![0; months * 2],
            person_days: vec![0; GROUPS * 2],
            daily: vec![0; days * 2],
            received: vec![0; days + 1],
            clustering: vec![0; GROUPS],
            variance: Variances::default(),
        },
    }
}

fn noised(
    acc: &Accumulator,
    budget: DpBudget,
    statistics: &[Statistic],
) -> Result<Noised, NoiseError> {
    let days = acc.window.len();
    let accounting = dp::plan(budget, days as u64, BOUND_RULE, statistics)?;
    let noise = |i: usize, cells: Vec<i64>| -> Result<Vec<i64>, NoiseError> {
        let stat = &accounting.statistics[i];
        debug_assert_eq!(stat.cells, cells.len(), "{}", stat.name);
        stat.noise.apply(&cells)
    };

    // The exact cells, in the statistics' order.
    let groups = &acc.groups;
    let respondents = groups
        .iter()
        .flat_map(|g| {
            [
                g.answers - g.with_data,
                g.with_data - g.with_days,
                g.with_days - g.notified,
                g.notified,
            ]
        })
        .map(int)
        .collect();
    let start_given = groups.iter().map(|g| int(g.start_given)).collect();
    let start_month = acc
        .months
        .counts
        .iter()
        .flat_map(|c| [c[0] - c[1], c[1]])
        .map(int)
        .collect();
    let person_days = groups
        .iter()
        .flat_map(|g| [g.person_days - g.flagged_days, g.flagged_days])
        .map(int)
        .collect();
    let daily = acc
        .coverage()
        .iter()
        .zip(&acc.flagged)
        .flat_map(|(&(n, _), &f)| [n - f, f])
        .map(int)
        .collect();
    let received = acc
        .received
        .iter()
        .chain([&acc.received_outside])
        .map(|&v| int(v))
        .collect();
    let clustering = groups
        .iter()
        .map(|g| (g.flagged_sq_per_day * CLUSTERING_UNIT).round() as i64)
        .collect();

    let variance = |i: usize| accounting.statistics[i].noise.variance();
    Ok(Noised {
        respondents: noise(0, respondents)?,
        start_given: noise(1, start_given)?,
        start_month: noise(2, start_month)?,
        person_days: noise(3, person_days)?,
        daily: noise(4, daily)?,
        received: noise(5, received)?,
        clustering: noise(6, clustering)?,
        variance: Variances {
            respondents: variance(0),
            start_given: variance(1),
            start_month: variance(2),
            person_days: variance(3),
            daily: variance(4),
            received: variance(5),
        },
        accounting,
    })
}

/// A signed value per age × commuting group (row-major).
type Groups = [i64; GROUPS];

/// A grid of counts from signed values per group: each margin summed before it is taken as 0
/// if negative; `contributors`, if given, the respondents each count comes from.
fn raw_grid(v: &Groups, contributors: Option<&Groups>) -> RawGrid {
    let cell = |x: i64, c: Option<i64>| match c {
        None => Cell::count(pos(x)),
        Some(c) => Cell::of(pos(x), pos(c)),
    };
    let row = |g: &Groups, a: usize| (0..COMMUTE_SLOTS).map(|c| g[a * COMMUTE_SLOTS + c]).sum();
    let col = |g: &Groups, c: usize| (0..AGE_SLOTS).map(|a| g[a * COMMUTE_SLOTS + c]).sum();
    let all = |g: &Groups| g.iter().sum::<i64>();
    RawGrid {
        rows: AGE_SLOTS,
        cols: COMMUTE_SLOTS,
        cells: (0..GROUPS)
            .map(|i| cell(v[i], contributors.map(|c| c[i])))
            .collect(),
        row_totals: (0..AGE_SLOTS)
            .map(|a| cell(row(v, a), contributors.map(|c| row(c, a))))
            .collect(),
        col_totals: (0..COMMUTE_SLOTS)
            .map(|c| cell(col(v, c), contributors.map(|g| col(g, c))))
            .collect(),
        total: cell(all(v), contributors.map(all)),
    }
}

impl Noised {
    /// A signed value per group, from the group's cells of a statistic (`per` cells a group).
    fn groups(cells: &[i64], per: usize, f: impl Fn(&[i64]) -> i64) -> Groups {
        let mut g = [0; GROUPS];
        for (i, v) in g.iter_mut().enumerate() {
            *v = f(&cells[i * per..(i + 1) * per]);
        }
        g
    }

    fn class_sum(&self, classes: std::ops::Range<usize>) -> Groups {
        Self::groups(&self.respondents, CLASSES, |c| {
            c[classes.clone()].iter().sum()
        })
    }

    /// Every count the tables show, tied by the same sums as the exact ones
    /// (`Accumulator::system`).
    pub(super) fn system(&self, p: Protection) -> (System, Ids) {
        let mut s = System::new(p);
        let answers_g = self.class_sum(0..4);
        let with_data_g = self.class_sum(1..4);
        let with_days_g = self.class_sum(2..4);
        let notified_g = self.class_sum(3..4);
        let not_notified_g = self.class_sum(1..3);
        let flagged_days_g = Self::groups(&self.person_days, 2, |c| c[1]);
        let person_days_g = Self::groups(&self.person_days, 2, |c| c[0] + c[1]);
        let start_g = Self::groups(&self.start_given, 1, |c| c[0]);

        let answers = s.grid(&raw_grid(&answers_g, None), true);
        let with_data = s.grid(&raw_grid(&with_data_g, None), false);
        let notified = s.grid(&raw_grid(&notified_g, None), false);
        let not_notified = raw_grid(&not_notified_g, None);
        let pairs = notified
            .cells
            .iter()
            .chain(&notified.row_totals)
            .chain(&notified.col_totals)
            .chain([&notified.total])
            .zip(
                with_data
                    .cells
                    .iter()
                    .chain(&with_data.row_totals)
                    .chain(&with_data.col_totals)
                    .chain([&with_data.total]),
            )
            .zip(
                not_notified
                    .cells
                    .iter()
                    .chain(&not_notified.row_totals)
                    .chain(&not_notified.col_totals)
                    .chain([&not_notified.total]),
            );
        for ((&n, &d), &x) in pairs {
            let x = s.count(x);
            s.sum(&[n, x], d);
        }
        let person_days = s.grid(&raw_grid(&person_days_g, Some(&with_days_g)), false);
        let flagged_days = s.grid(&raw_grid(&flagged_days_g, Some(&notified_g)), false);
        let start = s.grid(&raw_grid(&start_g, None), true);

        // Answered q2 = all but "no answer" to it, by age group and in all; q1 likewise.
        let (none_age, none_commute) = (AGE_SLOTS - 1, COMMUTE_SLOTS - 1);
        let at = |a: usize, c: usize| answers_g[a * COMMUTE_SLOTS + c];
        let q2_by_age: Vec<CellId> = (0..AGE_SLOTS)
            .map(|a| {
                let v: i64 = (0..none_commute).map(|c| at(a, c)).sum();
                let id = s.count(Cell::count(pos(v)));
                s.sum(&[id, answers.cell(a, none_commute)], answers.row_totals[a]);
                id
            })
            .collect();
        let v: i64 = (0..AGE_SLOTS)
            .flat_map(|a| (0..none_commute).map(move |c| (a, c)))
            .map(|(a, c)| at(a, c))
            .sum();
        let q2 = s.count(Cell::count(pos(v)));
        s.sum(&[q2, answers.col_totals[none_commute]], answers.total);
        s.sum(&q2_by_age, q2);
        let q1_by_commute: Vec<CellId> = (0..COMMUTE_SLOTS)
            .map(|c| {
                let v: i64 = (0..none_age).map(|a| at(a, c)).sum();
                let id = s.count(Cell::count(pos(v)));
                s.sum(&[id, answers.cell(none_age, c)], answers.col_totals[c]);
                id
            })
            .collect();
        let v: i64 = (0..none_age)
            .flat_map(|a| (0..COMMUTE_SLOTS).map(move |c| (a, c)))
            .map(|(a, c)| at(a, c))
            .sum();
        let q1 = s.count(Cell::count(pos(v)));
        s.sum(&[q1, answers.row_totals[none_age]], answers.total);
        s.sum(&q1_by_commute, q1);

        let months: Vec<[CellId; 2]> = self
            .start_month
            .chunks(2)
            .map(|c| {
                let d = s.count(Cell::count(pos(c[0] + c[1])));
                let n = s.count(Cell::count(pos(c[1])));
                let x = s.count(Cell::count(pos(c[0])));
                s.sum(&[n, x], d);
                [d, n]
            })
            .collect();
        s.sum(
            &months.iter().map(|m| m[0]).collect::<Vec<_>>(),
            with_data.total,
        );
        s.sum(
            &months.iter().map(|m| m[1]).collect::<Vec<_>>(),
            notified.total,
        );

        let daily: Vec<[CellId; 2]> = self
            .daily
            .chunks(2)
            .map(|c| {
                let covering = s.count(Cell::count(pos(c[0] + c[1])));
                let flagged = s.count(Cell::count(pos(c[1])));
                let x = s.count(Cell::count(pos(c[0])));
                s.sum(&[flagged, x], covering);
                [covering, flagged]
            })
            .collect();
        s.sum(
            &daily.iter().map(|d| d[0]).collect::<Vec<_>>(),
            person_days.total,
        );
        s.sum(
            &daily.iter().map(|d| d[1]).collect::<Vec<_>>(),
            flagged_days.total,
        );

        let (in_window, outside) = self.received.split_at(self.received.len() - 1);
        let received = s.counts(
            &in_window
                .iter()
                .map(|&v| Cell::count(pos(v)))
                .collect::<Vec<_>>(),
        );
        let received_total = if pos(outside[0]) == 0 {
            answers.total
        } else {
            s.count(Cell::count(pos(in_window.iter().sum())))
        };
        s.sum(&received, received_total);

        let ids = Ids {
            answers,
            with_data,
            notified,
            person_days,
            flagged_days,
            start,
            q1,
            q2,
            q1_by_commute,
            q2_by_age,
            months,
            daily,
            received,
            received_total,
        };
        (s, ids)
    }

    /// The answers received outside the window, and the variance of the noise in it.
    pub(super) fn received_outside(&self) -> (Cell, f64) {
        (
            Cell::count(pos(self.received[self.received.len() - 1])),
            self.variance.received,
        )
    }

    /// The quasi-Poisson dispersion of flagged days per commuting group and in all
    /// (`GroupSums::dispersion`), from the noised sums.
    pub(super) fn dispersions(&self) -> ([f64; COMMUTE_SLOTS], f64) {
        let with_days = self.class_sum(2..4);
        let sums = |member: &dyn Fn(usize) -> bool| {
            let mut s = GroupSums::default();
            let (mut n, mut t, mut y, mut q) = (0i64, 0i64, 0i64, 0i64);
            for g in (0..GROUPS).filter(|&g| member(g)) {
                n += with_days[g];
                t += self.person_days[2 * g] + self.person_days[2 * g + 1];
                y += self.person_days[2 * g + 1];
                q += self.clustering[g];
            }
            s.with_days = pos(n);
            s.person_days = pos(t);
            s.flagged_days = pos(y);
            s.flagged_sq_per_day = pos(q) as f64 / CLUSTERING_UNIT;
            s.dispersion()
        };
        let mut by_commute = [1.0; COMMUTE_SLOTS];
        for (c, d) in by_commute.iter_mut().enumerate() {
            *d = sums(&|g| g % COMMUTE_SLOTS == c);
        }
        (by_commute, sums(&|_| true))
    }

    /// Records in `solved` the noise variance of every count the tables show: the number of
    /// noised cells it sums times their variance.
    pub(super) fn annotate(&self, solved: &mut Solution, ids: &Ids) {
        let v = self.variance;
        let classes = CLASSES as f64;
        let r = v.respondents;
        grid(solved, &ids.answers, classes * r);
        grid(solved, &ids.with_data, (classes - 1.0) * r);
        grid(solved, &ids.notified, r);
        grid(solved, &ids.person_days, 2.0 * v.person_days);
        grid(solved, &ids.flagged_days, v.person_days);
        grid(solved, &ids.start, v.start_given);
        let (ages, commutes) = (AGE_SLOTS as f64, COMMUTE_SLOTS as f64);
        // Answered q1: every age group but "no answer"; q2: every commuting answer but it.
        solved.set_noise_variance(ids.q1, (ages - 1.0) * commutes * classes * r);
        solved.set_noise_variance(ids.q2, ages * (commutes - 1.0) * classes * r);
        for &id in &ids.q1_by_commute {
            solved.set_noise_variance(id, (ages - 1.0) * classes * r);
        }
        for &id in &ids.q2_by_age {
            solved.set_noise_variance(id, (commutes - 1.0) * classes * r);
        }
        for &[with_data, notified] in &ids.months {
            solved.set_noise_variance(with_data, 2.0 * v.start_month);
            solved.set_noise_variance(notified, v.start_month);
        }
        for &[covering, flagged] in &ids.daily {
            solved.set_noise_variance(covering, 2.0 * v.daily);
            solved.set_noise_variance(flagged, v.daily);
        }
        for &id in &ids.received {
            solved.set_noise_variance(id, v.received);
        }
        if ids.received_total != ids.answers.total {
            solved.set_noise_variance(ids.received_total, ids.received.len() as f64 * v.received);
        }
    }
}

/// A grid whose inner cells each hold noise of variance `cell`: its margins hold the sum of
/// theirs.
fn grid(solved: &mut Solution, ids: &GridIds, cell: f64) {
    let (rows, cols) = (ids.rows as f64, ids.cols as f64);
    ids.cells
        .iter()
        .for_each(|&i| solved.set_noise_variance(i, cell));
    ids.row_totals
        .iter()
        .for_each(|&i| solved.set_noise_variance(i, cell * cols));
    ids.col_totals
        .iter()
        .for_each(|&i| solved.set_noise_variance(i, cell * rows));
    solved.set_noise_variance(ids.total, cell * rows * cols);
}
