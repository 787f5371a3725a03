//! The truth next to the report: `truth.json` (the model's ground truth, what the driver counted,
//! the census, the invariants) and `validation.csv` (each estimate of the report next to its true
//! value).
//!
//! Two kinds of truth:
//! - The census: what every COCOA phone in use would have answered with every consent given
//!   (its owner's true age group and commute answer, all its daily data), with each statistic
//!   computed as the report computes it (the same definitions and formulas, `cocoa-analytics`'
//!   own functions where they are public) from exact counts and the server's exact registration
//!   counts. It is the value the report's estimate aims at: the same statistic over the whole
//!   population rather than the respondents who consented, and unprotected.
//! - The scenario's parameters, where an estimate aims at one: the shares answering each survey
//!   item (the consent probabilities by age, weighted by the respondents' true ages) and the
//!   share of users answering at all (the participation by age, weighted by the users' ages).

use super::driver::{Counts, Outcome};
use crate::failure::{Failure, OrFail};
use cocoa_analytics::estimate::registrations::{LAGS, MIN_DAYS};
use cocoa_analytics::stats::{
    mantel_haenszel_rate_ratio, mantel_haenszel_risk_ratio, pearson, poisson_regression,
    RateStratum, ShareStratum,
};
use cocoa_analytics::DayRange;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// The sums of one age group × commute cell of the census.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// Phones (every one "with data": all consent).
    phones: u64,
    /// Of them, those with a flagged day in the window.
    notified: u64,
    flagged_days: u64,
    /// Days from each phone's first to its last reported day in the window.
    person_days: u64,
}

/// Every phone in use, as a survey answer with every consent: the sums the report's statistics
/// are made of, exact.
#[derive(Debug)]
pub(crate) struct Census {
    window: DayRange,
    /// By age group 1..=9 (index 0..9), then commute 1..=3.
    cells: [[Cell; 3]; 9],
    /// Per day of the window: phones whose reported days cover it, and those flagged on it.
    covering: Vec<u64>,
    flagged: Vec<u64>,
    phones: u64,
    /// Phones that notified by COCOA's rule.
    phones_notified: u64,
    /// Phones in use by their owner's age group (index 0 = group 1).
    phones_by_age: [u64; 9],
    /// Survey respondents by their owner's true age group.
    respondents_by_age: [u64; 9],
}

impl Census {
    /// A census of the days `first_day ..= last_day` (the report's window: the survey's first day
    /// to the day the answers were received).
    pub(crate) fn new(first_day: i64, last_day: i64) -> Self {
        let window = DayRange::new(first_day, last_day.max(first_day))
            .or_else(|| DayRange::new(first_day, first_day))
            .expect("a one-day window is valid");
        Self {
            window,
            cells: [[Cell::default(); 3]; 9],
            covering: vec![0; window.len()],
            flagged: vec![0; window.len()],
            phones: 0,
            phones_notified: 0,
            phones_by_age: [0; 9],
            respondents_by_age: [0; 9],
        }
    }

    /// One phone: its owner's age group (1..=9) and commute answer (1..=3), its daily data
    /// (day, flagged) in ascending order, and whether it notified by COCOA's rule.
    pub(crate) fn add(&mut self, age_group: u8, commute: u8, days: &[(i64, bool)], notified: bool) {
        let (a, c) = (usize::from(age_group) - 1, usize::from(commute) - 1);
        self.phones += 1;
        self.phones_notified += u64::from(notified);
        self.phones_by_age[a] += 1;
        let first = self.window.first();
        let inside: Vec<(usize, bool)> = days
            .iter()
            .filter(|d| self.window.contains(d.0))
            .map(|&(day, flag)| ((day - first) as usize, flag))
            .collect();
        let cell = &mut self.cells[a][c];
        cell.phones += 1;
        let flagged = inside.iter().filter(|d| d.1).count() as u64;
        cell.notified += u64::from(flagged > 0);
        if let (Some(lo), Some(hi)) = (inside.first(), inside.last()) {
            cell.flagged_days += flagged;
            cell.person_days += (hi.0 - lo.0 + 1) as u64;
            for n in &mut self.covering[lo.0..=hi.0] {
                *n += 1;
            }
        }
        for &(i, flag) in &inside {
            self.flagged[i] += u64::from(flag);
        }
    }

    /// A respondent of the survey, by its owner's true age group.
    pub(crate) fn add_respondent(&mut self, age_group: u8) {
        if let Some(n) = self
            .respondents_by_age
            .get_mut(usize::from(age_group).wrapping_sub(1))
        {
            *n += 1;
        }
    }

    fn column(&self, c: usize) -> Cell {
        let mut sum = Cell::default();
        for row in &self.cells {
            sum.phones += row[c].phones;
            sum.notified += row[c].notified;
            sum.flagged_days += row[c].flagged_days;
            sum.person_days += row[c].person_days;
        }
        sum
    }

    /// The share of phones of age group `g` (1..=9, or all) with a flagged day.
    fn notified_share(&self, g: Option<usize>) -> Option<f64> {
        let (mut x, mut n) = (0, 0);
        for (a, row) in self.cells.iter().enumerate() {
            if g.is_none_or(|g| g == a + 1) {
                x += row.iter().map(|c| c.notified).sum::<u64>();
                n += row.iter().map(|c| c.phones).sum::<u64>();
            }
        }
        (n > 0).then(|| x as f64 / n as f64)
    }

    /// Commute code `code` (2 or 3) against 1, as the report compares them: the rate ratio of
    /// flagged days per person-day and the ratio of shares notified, crude and Mantel-Haenszel
    /// over age groups.
    fn comparison(&self, code: usize) -> [Option<f64>; 4] {
        let (g1, g0) = (self.column(code - 1), self.column(0));
        let ratio = |y1: u64, t1: u64, y0: u64, t0: u64| {
            (y1 > 0 && y0 > 0 && t1 > 0 && t0 > 0)
                .then(|| (y1 as f64 / t1 as f64) / (y0 as f64 / t0 as f64))
        };
        let rate_strata: Vec<RateStratum> = self
            .cells
            .iter()
            .map(|row| RateStratum {
                events1: row[code - 1].flagged_days as f64,
                time1: row[code - 1].person_days as f64,
                events0: row[0].flagged_days as f64,
                time0: row[0].person_days as f64,
            })
            .filter(|s| s.time1 > 0.0 && s.time0 > 0.0)
            .collect();
        let share_strata: Vec<ShareStratum> = self
            .cells
            .iter()
            .map(|row| ShareStratum {
                cases1: row[code - 1].notified as f64,
                n1: row[code - 1].phones as f64,
                cases0: row[0].notified as f64,
                n0: row[0].phones as f64,
            })
            .filter(|s| s.n1 > 0.0 && s.n0 > 0.0)
            .collect();
        [
            ratio(
                g1.flagged_days,
                g1.person_days,
                g0.flagged_days,
                g0.person_days,
            ),
            mantel_haenszel_rate_ratio(&rate_strata).map(|r| r.0),
            ratio(g1.notified, g1.phones, g0.notified, g0.phones),
            mantel_haenszel_risk_ratio(&share_strata).map(|r| r.0),
        ]
    }

    /// Question 1 on the census, as the report answers it: the lag of highest correlation
    /// between the log 7-day flagged rate on day d and the log 7-day registrations on day d − k
    /// (ties: the lag nearest 0), and the Poisson elasticity at that lag.
    fn lag(&self, registrations: &dyn Fn(i64) -> Option<f64>) -> (Option<i64>, Option<f64>) {
        let len = self.covering.len();
        let first = self.window.first();
        let day_of = |i: usize| first + i as i64;
        let mean7 = |day: i64| -> Option<f64> {
            let mut s = 0.0;
            for d in day - 3..=day + 3 {
                s += registrations(d)?;
            }
            Some(s / 7.0)
        };
        let rate7: Vec<Option<f64>> = (0..len)
            .map(|i| {
                if i < 3 || i + 3 >= len {
                    return None;
                }
                let sf: u64 = self.flagged[i - 3..=i + 3].iter().sum();
                let sn: u64 = self.covering[i - 3..=i + 3].iter().sum();
                (sn > 0).then(|| sf as f64 / sn as f64 * 1e5)
            })
            .collect();
        let mut order: Vec<i64> = LAGS.collect();
        order.sort_by_key(|k| (k.abs(), *k));
        let mut best = f64::NEG_INFINITY;
        let mut lag = None;
        for k in order {
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for (i, r) in rate7.iter().enumerate() {
                let Some(r) = r.filter(|r| *r > 0.0) else {
                    continue;
                };
                if let Some(g) = mean7(day_of(i) - k).filter(|g| *g > 0.0) {
                    xs.push(r.ln());
                    ys.push(g.ln());
                }
            }
            let c = (xs.len() >= MIN_DAYS).then(|| pearson(&xs, &ys)).flatten();
            if let Some(c) = c.filter(|c| *c > best) {
                best = c;
                lag = Some(k);
            }
        }
        let elasticity = lag.and_then(|k| {
            let (mut y, mut offset, mut rows, mut days) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in 0..len {
                let Some(g) = mean7(day_of(i) - k).filter(|g| *g > 0.0) else {
                    continue;
                };
                if self.covering[i] > 0 {
                    y.push(self.flagged[i] as f64);
                    offset.push((self.covering[i] as f64).ln());
                    rows.push(vec![1.0, g.ln()]);
                    days.push(day_of(i));
                }
            }
            poisson_regression(&y, &offset, &rows, &days).map(|fit| fit.coefficients[1])
        });
        (lag, elasticity)
    }
}

/// The census's answers to what the report estimates.
#[derive(Debug, Clone, Default)]
struct CensusAnswers {
    lag: Option<i64>,
    elasticity: Option<f64>,
    /// Commute 2 and 3 against 1: rate ratio, its age-adjusted form, share ratio, adjusted.
    comparisons: [[Option<f64>; 4]; 2],
    /// Age groups 1..=9.
    notified_by_age: [Option<f64>; 9],
    notified_total: Option<f64>,
}

/// One line of `validation.csv`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) question: &'static str,
    pub(crate) statistic: String,
    pub(crate) estimate: Option<f64>,
    pub(crate) low: Option<f64>,
    pub(crate) high: Option<f64>,
    pub(crate) truth: Option<f64>,
}

impl Row {
    /// Whether the estimate's interval holds the truth (`None`: either is missing).
    pub(crate) fn covered(&self) -> Option<bool> {
        match (self.low, self.high, self.truth) {
            (Some(lo), Some(hi), Some(t)) => Some(lo <= t && t <= hi),
            _ => None,
        }
    }
}

/// `{"value": x, "interval": [lo, hi]}` (or a bare number) of report.json.
fn estimate_of(v: &Value) -> (Option<f64>, Option<f64>, Option<f64>) {
    if let Some(x) = v.as_f64() {
        return (Some(x), None, None);
    }
    let interval = v.get("interval").and_then(Value::as_array);
    let side = |i: usize| interval.and_then(|a| a.get(i)).and_then(Value::as_f64);
    (v.get("value").and_then(Value::as_f64), side(0), side(1))
}

fn find<'a>(rows: &'a Value, field: &str, label: &str) -> &'a Value {
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r[field] == label))
        .unwrap_or(&Value::Null)
}

/// Each estimate of `report` (report.json) next to its truth.
fn rows(report: &Value, census: &CensusAnswers, expected: &Expected) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push =
        |question, statistic: String, est: (Option<f64>, Option<f64>, Option<f64>), truth| {
            rows.push(Row {
                question,
                statistic,
                estimate: est.0,
                low: est.1,
                high: est.2,
                truth,
            });
        };

    // Question 1: registrations and notifications.
    let q1 = &report["questions"]["registrations"]["against_registrations"];
    let lag_interval = q1["lag_interval"].as_array();
    let side = |i: usize| lag_interval.and_then(|a| a.get(i)).and_then(Value::as_f64);
    push(
        "registrations",
        "lag_days".into(),
        (q1["lag"].as_f64(), side(0), side(1)),
        census.lag.map(|l| l as f64),
    );
    push(
        "registrations",
        "elasticity".into(),
        estimate_of(&q1["elasticity"]),
        census.elasticity,
    );

    // Question 2: commuting, against those who do not commute.
    let comparisons = &report["questions"]["commuting"]["comparisons"];
    for (code, truths) in [2u8, 3].into_iter().zip(&census.comparisons) {
        let r = find(comparisons, "commute", &code.to_string());
        for (name, truth) in [
            "rate_ratio",
            "rate_ratio_age_adjusted",
            "share_ratio",
            "share_ratio_age_adjusted",
        ]
        .into_iter()
        .zip(truths)
        {
            push(
                "commuting",
                format!("{name}_{code}_vs_1"),
                estimate_of(&r[name]),
                *truth,
            );
        }
    }

    // The headline: the share notified (a flagged day) by age group.
    for (g, truth) in (1..=9u8).zip(census.notified_by_age) {
        let r = find(&report["age"]["rows"], "age_group", &g.to_string());
        push(
            "notified_by_age",
            format!("notified_share_age_{g}"),
            estimate_of(&r["notified"]),
            truth,
        );
    }
    push(
        "notified_by_age",
        "notified_share_total".into(),
        estimate_of(&report["age"]["total"]),
        census.notified_total,
    );

    // Question 4: cooperation, against the scenario's probabilities.
    let items = &report["questions"]["cooperation"]["items"];
    for (item, truth) in [
        ("q1", expected.q1),
        ("q2", expected.q2),
        ("start_date", expected.start_date),
        ("exposure_data", expected.exposure_data),
    ] {
        push(
            "cooperation",
            format!("answered_{item}"),
            estimate_of(&find(items, "item", item)["answered"]),
            truth,
        );
    }
    push(
        "cooperation",
        "answers_of_active_users".into(),
        estimate_of(&report["questions"]["cooperation"]["of_active_users"]),
        expected.participation,
    );
    rows
}

/// What the scenario's probabilities make of the population and the respondents.
#[derive(Debug, Clone, Copy, Default)]
struct Expected {
    q1: Option<f64>,
    q2: Option<f64>,
    start_date: Option<f64>,
    exposure_data: Option<f64>,
    participation: Option<f64>,
}

fn expected(census: &Census, survey: &cocoa_sim::scenario::Survey) -> Expected {
    let weighted = |counts: &[u64; 9], p: &[f64; 9]| {
        let n: u64 = counts.iter().sum();
        (n > 0).then(|| {
            counts
                .iter()
                .zip(p)
                .map(|(&c, &p)| c as f64 * p)
                .sum::<f64>()
                / n as f64
        })
    };
    let r = &census.respondents_by_age;
    Expected {
        q1: weighted(r, &survey.answer_age_by_age),
        q2: weighted(r, &survey.answer_commute_by_age),
        start_date: weighted(r, &survey.consent_start_date_by_age),
        exposure_data: weighted(r, &survey.consent_daily_by_age),
        participation: weighted(&census.phones_by_age, &survey.participation_by_age),
    }
}

fn number(x: Option<f64>) -> String {
    x.map_or(String::new(), |x| x.to_string())
}

fn csv(rows: &[Row]) -> String {
    let mut out = String::from("question,statistic,estimate,low,high,truth,covered\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.question,
            r.statistic,
            number(r.estimate),
            number(r.low),
            number(r.high),
            number(r.truth),
            r.covered().map_or(String::new(), |c| c.to_string()),
        );
    }
    out
}

/// The checks that nothing was lost on the way.
fn invariants(counts: &Counts, truth: &cocoa_sim::Truth) -> Value {
    let consenting: u64 = truth.days.iter().map(|d| d.registrations).sum();
    let a = &counts.audit;
    json!({
        "registrations_accepted_equal_positives_registering_with_a_phone":
            counts.registrations_accepted == consenting
                && counts.registrations_counted_by_server == consenting,
        "every_accepted_key_published_once":
            a.sent_keys_published_more_than_once == 0
                && a.sent_keys_published_once == counts.keys_accepted
                && counts.keys_published == counts.keys_accepted,
        "no_day_notified_twice": counts.notifications_repeated == 0,
        "every_survey_answer_stored":
            counts.survey_answers_stored == counts.survey_answers_submitted
                && counts.survey_answers_submitted == counts.survey_intents,
    })
}

/// Writes `truth.json` and `validation.csv` into `out`; returns the validation rows.
pub(crate) fn write(out: &Path, outcome: &Outcome) -> Result<Vec<Row>, Failure> {
    let report_path = out.join("report").join("report.json");
    let report: Value = serde_json::from_slice(
        &std::fs::read(&report_path).usage_or_io(format!("reading {}", report_path.display()))?,
    )
    .usage_or_io(format!("{}: not JSON", report_path.display()))?;
    let census = &outcome.census;
    let window = census.window;
    // The server's exact registrations, known on the window's days (as the report's are).
    let registrations = |d: i64| {
        window
            .contains(d)
            .then(|| outcome.registrations_by_day.get(&d).copied().unwrap_or(0) as f64)
    };
    let (lag, elasticity) = census.lag(&registrations);
    let answers = CensusAnswers {
        lag,
        elasticity,
        comparisons: [census.comparison(2), census.comparison(3)],
        notified_by_age: std::array::from_fn(|a| census.notified_share(Some(a + 1))),
        notified_total: census.notified_share(None),
    };
    let expected = expected(census, &outcome.scenario.survey);
    let rows = rows(&report, &answers, &expected);

    let s = &outcome.scenario;
    let truth = json!({
        "scenario": {
            "seed": s.seed,
            "start_date": s.start_date.to_string(),
            "days": s.days,
            "population": s.population,
            "transit_multiplier": s.contacts.transit.multiplier,
        },
        "model": outcome.truth,
        "driver": outcome.counts,
        "census": {
            "window": { "first": window.first(), "last": window.last() },
            "phones": census.phones,
            "phones_with_a_flagged_day": census.column(0).notified
                + census.column(1).notified
                + census.column(2).notified,
            "phones_notified": census.phones_notified,
            "phones_by_age": census.phones_by_age,
            "respondents_by_age": census.respondents_by_age,
        },
        "invariants": invariants(&outcome.counts, &outcome.truth),
        "validation": rows.iter().map(|r| json!({
            "question": r.question,
            "statistic": r.statistic,
            "estimate": r.estimate,
            "low": r.low,
            "high": r.high,
            "truth": r.truth,
            "covered": r.covered(),
        })).collect::<Vec<_>>(),
    });
    let truth_path = out.join("truth.json");
    std::fs::write(
        &truth_path,
        serde_json::to_string_pretty(&truth).expect("plain values serialise") + "\n",
    )
    .usage_or_io(format!("writing {}", truth_path.display()))?;
    let csv_path = out.join("validation.csv");
    std::fs::write(&csv_path, csv(&rows)).usage_or_io(format!("writing {}", csv_path.display()))?;
    Ok(rows)
}
