//! The four questions, from one pass over the answers.
//!
//! [`Accumulator::add`] takes one answer at a time and keeps only sums: per age × commuting
//! group, and per day of the analysis window in flat arrays indexed by day offset. Memory does
//! not grow with the number of answers; the work per answer is O(its days) with no
//! allocation. Accumulators of disjoint parts of the answers can be merged (one per thread).
//! [`Accumulator::finish`] protects the sums ([`crate::protect`]) and computes every table and
//! statistic from the protected values only.
//!
//! **Coverage rule.** A respondent with daily data *covers* day `d` if `d` lies between the
//! first and the last day present in its daily data (both included), clipped to the window:
//! those are the days its phone is known to have been checking. Its *observed person-days*
//! are the number of days it covers. Days of the daily data outside the window are ignored
//! (and counted). A respondent is *notified* if it has at least one flagged
//! (`exposure_detected`) day in the window. The daily data is taken as the server stores it:
//! ascending, each day once.
//!
//! **Cell keys.** Each answer's record key comes from its `id_hash` ([`record_key`]); every
//! count carries the wrapping sum of its respondents' keys, which sets its threshold raise and
//! its rounding ([`crate::protect`]). With the [`Protection`]'s secret kept, the same answers
//! always give the same tables.

pub mod activity;
pub mod commuting;
pub mod cooperation;
pub mod privacy;
pub mod registrations;

use crate::date::month_key;
use crate::inputs::{DailySeries, Period};
use crate::protect::{
    record_key, Cell, CellId, Grid, GridIds, Protection, Published, RawGrid, Share, System,
};
use crate::tables::{AgeRow, AgeTable, DailyRow, DailyTable, MonthRow, MonthTable};
use cocoa_api::{AgeGroup, Commute, SurveyResponse};

pub use activity::ActivityAnalysis;
pub use commuting::CommutingAnalysis;
pub use cooperation::CooperationAnalysis;
pub use registrations::RegistrationsAnalysis;

/// A method description in English and Japanese, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub en: &'static str,
    pub ja: &'static str,
}

/// Disclosure control, as the report states it.
pub const PROTECTION_METHOD: Method = Method {
    en: "Every published count comes from at least the threshold number of respondents \
         (default 10; for each count the bar is raised by 0 to 4 at random, fixed by who is in \
         it), and for notifications so does the rest of the group (those not notified); other \
         counts are suppressed (left empty). Wherever counts add up to a total, in one table or \
         across tables, a lone suppressed count is hidden with the next smallest one. Published \
         counts are rounded to a multiple of the rounding base (default 5), up or down at \
         random in proportion to the remainder, again fixed by who is in the count, so the same \
         tables come out every time. Every share, rate and statistic is computed from the \
         rounded counts.",
    ja: "公表する件数はすべて、しきい値（既定10。件数ごとに、含まれる回答者で決まる乱数で0〜4上乗せ）\
         以上の回答者に由来するものに限り、通知については群の残り（通知のない人）も同様とする。\
         満たさない件数は秘匿（空欄）とする。表の中でも表をまたいでも、合計で結ばれる件数のうち秘匿が\
         1つだけになる場合は、次に小さい件数も秘匿する。公表件数は丸め単位（既定5）の倍数に、端数に\
         比例する確率で切り上げ・切り捨て（含まれる回答者で決まるため、何度集計しても同じ表になる）、\
         割合・率・統計量はすべて丸めた件数から計算する。",
};

/// Age groups 1..=9 then "no answer".
pub const AGE_SLOTS: usize = 10;
/// Commuting 1, 2, 3 then "no answer".
pub const COMMUTE_SLOTS: usize = 4;
/// The longest window an accumulator takes (about 100 years).
pub const MAX_WINDOW_DAYS: i64 = 36_525;

/// The age group of a slot (`AGE_SLOTS - 1`: no answer).
pub fn age_of_slot(slot: usize) -> Option<AgeGroup> {
    AgeGroup::new(u8::try_from(slot + 1).ok()?)
}

/// The commuting answer of a slot (`COMMUTE_SLOTS - 1`: no answer).
pub fn commute_of_slot(slot: usize) -> Option<Commute> {
    Commute::new(u8::try_from(slot + 1).ok()?)
}

fn age_slot(age: Option<AgeGroup>) -> usize {
    age.map_or(AGE_SLOTS - 1, |a| usize::from(a.get()) - 1)
}

fn commute_slot(commute: Option<Commute>) -> usize {
    commute.map_or(COMMUTE_SLOTS - 1, |c| usize::from(c.get()) - 1)
}

/// The days analysed, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    first: i64,
    last: i64,
}

impl DayRange {
    /// `None` if `last < first` or the range is longer than [`MAX_WINDOW_DAYS`].
    pub fn new(first: i64, last: i64) -> Option<Self> {
        (first <= last && last - first < MAX_WINDOW_DAYS).then_some(Self { first, last })
    }

    pub fn first(self) -> i64 {
        self.first
    }

    pub fn last(self) -> i64 {
        self.last
    }

    pub fn len(self) -> usize {
        (self.last - self.first + 1) as usize
    }

    pub fn is_empty(self) -> bool {
        false
    }

    pub fn contains(self, day: i64) -> bool {
        (self.first..=self.last).contains(&day)
    }

    pub fn days(self) -> impl Iterator<Item = i64> {
        self.first..=self.last
    }
}

/// Sums over the answers of one age × commuting group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct GroupSums {
    pub answers: u64,
    pub start_given: u64,
    /// Daily data consented (possibly with no day).
    pub with_data: u64,
    /// Covering at least one day of the window.
    pub with_days: u64,
    pub notified: u64,
    pub person_days: u64,
    pub flagged_days: u64,
    /// Σ flagged² / person-days over respondents with days (for the dispersion).
    pub flagged_sq_per_day: f64,
    /// Cell keys (wrapping sums of record keys) of answers, start given, with data, with
    /// days, notified.
    pub keys: [u64; 5],
}

impl std::ops::AddAssign<&GroupSums> for GroupSums {
    fn add_assign(&mut self, o: &GroupSums) {
        self.answers += o.answers;
        self.start_given += o.start_given;
        self.with_data += o.with_data;
        self.with_days += o.with_days;
        self.notified += o.notified;
        self.person_days += o.person_days;
        self.flagged_days += o.flagged_days;
        self.flagged_sq_per_day += o.flagged_sq_per_day;
        for (a, b) in self.keys.iter_mut().zip(o.keys) {
            *a = a.wrapping_add(b);
        }
    }
}

impl GroupSums {
    pub(crate) fn answers_cell(&self) -> Cell {
        Cell::count(self.answers).keyed(self.keys[K_ANSWERS])
    }

    pub(crate) fn with_data_cell(&self) -> Cell {
        Cell::count(self.with_data).keyed(self.keys[K_WITH_DATA])
    }

    pub(crate) fn notified_cell(&self) -> Cell {
        Cell::count(self.notified).keyed(self.keys[K_NOTIFIED])
    }

    pub(crate) fn not_notified_cell(&self) -> Cell {
        Cell::count(self.with_data - self.notified)
            .keyed(self.keys[K_WITH_DATA].wrapping_sub(self.keys[K_NOTIFIED]))
    }

    pub(crate) fn person_days_cell(&self) -> Cell {
        Cell::of(self.person_days, self.with_days).keyed(self.keys[K_WITH_DAYS])
    }

    pub(crate) fn flagged_days_cell(&self) -> Cell {
        Cell::of(self.flagged_days, self.notified).keyed(self.keys[K_NOTIFIED])
    }

    pub(crate) fn start_cell(&self) -> Cell {
        Cell::count(self.start_given).keyed(self.keys[K_START])
    }

    /// The quasi-Poisson dispersion of flagged days across respondents: Pearson χ² / (n − 1)
    /// of each respondent's flagged days against `rate × person-days`, at least 1, to 2
    /// decimals.
    pub(crate) fn dispersion(&self) -> f64 {
        let (y, t, n) = (
            self.flagged_days as f64,
            self.person_days as f64,
            self.with_days as f64,
        );
        if y <= 0.0 || t <= 0.0 || n < 2.0 {
            return 1.0;
        }
        let chi2 = self.flagged_sq_per_day * t / y - y;
        ((chi2 / (n - 1.0)).max(1.0) * 100.0).round() / 100.0
    }
}

/// COCOA's release (2020-06-19): the first month a start of use can fall in.
pub const FIRST_START_DAY: i64 = 18_432;

const K_ANSWERS: usize = 0;
const K_START: usize = 1;
const K_WITH_DATA: usize = 2;
const K_WITH_DAYS: usize = 3;
const K_NOTIFIED: usize = 4;

/// Per start month, from [`FIRST_START_DAY`]'s to the window's last: respondents with daily
/// data, notified, and their cell keys; then those outside that range, then those with no
/// start date.
#[derive(Debug, Clone, PartialEq)]
struct Months {
    first: i64,
    counts: Vec<[u64; 4]>,
}

impl Months {
    fn new(window: DayRange) -> Self {
        let first = month_key(FIRST_START_DAY);
        let last = month_key(window.last).max(first - 1);
        Self {
            first,
            counts: vec![[0; 4]; (last - first + 1) as usize + 2],
        }
    }

    fn months(&self) -> usize {
        self.counts.len() - 2
    }

    fn add(&mut self, start_day: Option<i64>, notified: bool, key: u64) {
        let months = self.months();
        let i = match start_day {
            None => months + 1,
            Some(day) => match usize::try_from(month_key(day) - self.first) {
                Ok(i) if i < months => i,
                _ => months,
            },
        };
        let c = &mut self.counts[i];
        c[0] += 1;
        c[2] = c[2].wrapping_add(key);
        if notified {
            c[1] += 1;
            c[3] = c[3].wrapping_add(key);
        }
    }
}

/// The side inputs of [`Accumulator::finish`]; each optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct SideInputs<'a> {
    /// New positive registrations per day (the server's aggregate).
    pub registrations: Option<&'a DailySeries<u64>>,
    /// National new cases per day (the Ministry's open data).
    pub national_cases: Option<&'a DailySeries<u64>>,
    /// A social-activity index per day.
    pub activity: Option<&'a DailySeries<f64>>,
    pub periods: &'a [Period],
    pub active_users: Option<u64>,
}

/// One pass over the answers: sums only.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulator {
    window: DayRange,
    groups: [GroupSums; AGE_SLOTS * COMMUTE_SLOTS],
    /// Coverage as differences: +1 at a respondent's first covered day, −1 after its last.
    cover_diff: Vec<i64>,
    /// The same for the covering respondents' cell keys (wrapping).
    cover_key_diff: Vec<u64>,
    flagged: Vec<u64>,
    flagged_keys: Vec<u64>,
    received: Vec<u64>,
    received_keys: Vec<u64>,
    received_outside: u64,
    days_outside: u64,
    answers_with_days_outside: u64,
    months: Months,
    /// Per group, Σ flagged² / person-days in fixed point (2⁻⁶⁴ units, each term rounded
    /// down): integers add up to the same whatever the order of the answers, so the group's
    /// `flagged_sq_per_day` (this, as a float) and every table are identical however the
    /// answers were read or split between merged accumulators.
    flagged_sq_fixed: [u128; AGE_SLOTS * COMMUTE_SLOTS],
}

/// 2⁶⁴, the scale of [`Accumulator`]'s fixed-point sums.
const FIXED_ONE: f64 = 18_446_744_073_709_551_616.0;

impl Accumulator {
    pub fn new(window: DayRange) -> Self {
        Self {
            window,
            groups: [GroupSums::default(); AGE_SLOTS * COMMUTE_SLOTS],
            cover_diff: vec![0; window.len() + 1],
            cover_key_diff: vec![0; window.len() + 1],
            flagged: vec![0; window.len()],
            flagged_keys: vec![0; window.len()],
            received: vec![0; window.len()],
            received_keys: vec![0; window.len()],
            received_outside: 0,
            days_outside: 0,
            answers_with_days_outside: 0,
            months: Months::new(window),
            flagged_sq_fixed: [0; AGE_SLOTS * COMMUTE_SLOTS],
        }
    }

    pub fn window(&self) -> DayRange {
        self.window
    }

    /// Adds one answer: O(its days), no allocation (except, rarely, a new start month).
    pub fn add(&mut self, answer: &SurveyResponse) {
        let first = self.window.first;
        let len = self.flagged.len();
        let slot = age_slot(answer.age_group) * COMMUTE_SLOTS + commute_slot(answer.commute);
        let g = &mut self.groups[slot];
        let key = record_key(&answer.id_hash);
        g.answers += 1;
        g.keys[K_ANSWERS] = g.keys[K_ANSWERS].wrapping_add(key);
        if answer.start_day.is_some() {
            g.start_given += 1;
            g.keys[K_START] = g.keys[K_START].wrapping_add(key);
        }
        match usize::try_from(answer.received_day - first) {
            Ok(i) if i < len => {
                self.received[i] += 1;
                self.received_keys[i] = self.received_keys[i].wrapping_add(key);
            }
            _ => self.received_outside += 1,
        }
        let Some(days) = &answer.days else {
            return;
        };
        g.with_data += 1;
        g.keys[K_WITH_DATA] = g.keys[K_WITH_DATA].wrapping_add(key);
        // The hot loop of a report (about 200 days per answer, millions of answers). Stored
        // daily data is ascending, each day once; then one pass that only checks the order and
        // looks for a flag suffices, and the days in the window are a run found by binary
        // search. Any other list takes the general pass (the same result, slower). Either pass
        // has no store; the few answers with a flagged day in the window get a second one.
        let (mut lo, mut hi, mut outside) = (u64::MAX, 0u64, 0u64);
        let (mut ascending, mut any_flag, mut previous) = (true, false, i64::MIN);
        for d in days {
            ascending &= previous < d.day;
            previous = d.day;
            any_flag |= d.exposure_detected;
        }
        // With `first + len` representable, a day is in the window exactly when first <= day <
        // first + len (the general pass's wrapping offset cannot wrap into it).
        let end = i64::try_from(len).ok().and_then(|l| first.checked_add(l));
        match end {
            Some(end) if ascending => {
                let from = days.partition_point(|d| d.day < first);
                let to = from + days[from..].partition_point(|d| d.day < end);
                outside = (days.len() - (to - from)) as u64;
                if from < to {
                    lo = (days[from].day - first) as u64;
                    hi = (days[to - 1].day - first) as u64;
                }
            }
            _ => {
                for d in days {
                    // Negative offsets wrap to huge ones and fall outside.
                    let i = d.day.wrapping_sub(first) as u64;
                    let inside = i < len as u64;
                    lo = lo.min(if inside { i } else { u64::MAX });
                    hi = hi.max(if inside { i } else { 0 });
                    outside += u64::from(!inside);
                }
            }
        }
        let (lo, hi) = (lo as usize, hi as usize);
        let mut flagged = 0u64;
        if any_flag {
            for d in days {
                let i = d.day.wrapping_sub(first) as u64 as usize;
                if i < len && d.exposure_detected {
                    self.flagged[i] += 1;
                    self.flagged_keys[i] = self.flagged_keys[i].wrapping_add(key);
                    flagged += 1;
                }
            }
        }
        if outside > 0 {
            self.days_outside += outside;
            self.answers_with_days_outside += 1;
        }
        if lo <= hi {
            self.cover_diff[lo] += 1;
            self.cover_diff[hi + 1] -= 1;
            self.cover_key_diff[lo] = self.cover_key_diff[lo].wrapping_add(key);
            self.cover_key_diff[hi + 1] = self.cover_key_diff[hi + 1].wrapping_sub(key);
            let t = (hi - lo + 1) as u64;
            g.with_days += 1;
            g.keys[K_WITH_DAYS] = g.keys[K_WITH_DAYS].wrapping_add(key);
            g.person_days += t;
            g.flagged_days += flagged;
            if flagged > 0 {
                let term = if flagged < 1 << 16 {
                    // floor(flagged² · 2⁶⁴ / t) with two 64-bit divisions: t ≤ the window's
                    // length < 2¹⁶ and flagged < 2¹⁶, so flagged² · 2³² < 2⁶⁴ and the
                    // remainder · 2³² < 2⁴⁸; the second quotient is below 2³² (the remainder
                    // is below t).
                    let sq = (flagged * flagged) << 32;
                    let (high, rest) = (sq / t, sq % t);
                    (u128::from(high) << 32) | u128::from((rest << 32) / t)
                } else {
                    // Only with a day listed many times over (stored data never is).
                    (u128::from(flagged) * u128::from(flagged))
                        .saturating_mul(1 << 64)
                        .div_euclid(u128::from(t))
                };
                let sum = &mut self.flagged_sq_fixed[slot];
                *sum = sum.saturating_add(term);
                g.flagged_sq_per_day = *sum as f64 / FIXED_ONE;
            }
        }
        let notified = flagged > 0;
        if notified {
            g.notified += 1;
            g.keys[K_NOTIFIED] = g.keys[K_NOTIFIED].wrapping_add(key);
        }
        self.months.add(answer.start_day, notified, key);
    }

    /// Adds the sums of another accumulator (of other answers).
    ///
    /// # Panics
    /// If the windows differ.
    pub fn merge(&mut self, other: &Accumulator) {
        assert_eq!(
            self.window, other.window,
            "accumulators of different windows"
        );
        for ((a, b), (fixed, other_fixed)) in self.groups.iter_mut().zip(&other.groups).zip(
            self.flagged_sq_fixed
                .iter_mut()
                .zip(&other.flagged_sq_fixed),
        ) {
            *a += b;
            *fixed = fixed.saturating_add(*other_fixed);
            a.flagged_sq_per_day = *fixed as f64 / FIXED_ONE;
        }
        let add = |a: &mut [u64], b: &[u64]| {
            a.iter_mut()
                .zip(b)
                .for_each(|(x, y)| *x = x.wrapping_add(*y))
        };
        add(&mut self.flagged, &other.flagged);
        add(&mut self.flagged_keys, &other.flagged_keys);
        add(&mut self.received, &other.received);
        add(&mut self.received_keys, &other.received_keys);
        add(&mut self.cover_key_diff, &other.cover_key_diff);
        self.cover_diff
            .iter_mut()
            .zip(&other.cover_diff)
            .for_each(|(x, y)| *x += y);
        self.received_outside += other.received_outside;
        self.days_outside += other.days_outside;
        self.answers_with_days_outside += other.answers_with_days_outside;
        for (a, b) in self.months.counts.iter_mut().zip(&other.months.counts) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = x.wrapping_add(*y);
            }
        }
    }

    fn group(&self, age: usize, commute: usize) -> &GroupSums {
        &self.groups[age * COMMUTE_SLOTS + commute]
    }

    fn age_sums(&self, age: usize) -> GroupSums {
        let mut s = GroupSums::default();
        (0..COMMUTE_SLOTS).for_each(|c| s += self.group(age, c));
        s
    }

    fn commute_sums(&self, commute: usize) -> GroupSums {
        let mut s = GroupSums::default();
        (0..AGE_SLOTS).for_each(|a| s += self.group(a, commute));
        s
    }

    fn total_sums(&self) -> GroupSums {
        let mut s = GroupSums::default();
        self.groups.iter().for_each(|g| s += g);
        s
    }

    /// Respondents covering each day of the window, and their cell keys.
    fn coverage(&self) -> Vec<(u64, u64)> {
        let (mut running, mut key) = (0i64, 0u64);
        self.cover_diff[..self.window.len()]
            .iter()
            .zip(&self.cover_key_diff)
            .map(|(d, k)| {
                running += d;
                key = key.wrapping_add(*k);
                (running as u64, key)
            })
            .collect()
    }

    fn raw_grid(&self, cell: impl Fn(&GroupSums) -> Cell) -> RawGrid {
        RawGrid {
            rows: AGE_SLOTS,
            cols: COMMUTE_SLOTS,
            cells: self.groups.iter().map(&cell).collect(),
            row_totals: (0..AGE_SLOTS).map(|a| cell(&self.age_sums(a))).collect(),
            col_totals: (0..COMMUTE_SLOTS)
                .map(|c| cell(&self.commute_sums(c)))
                .collect(),
            total: cell(&self.total_sums()),
        }
    }

    /// Every count the tables show, and every sum that ties them, as one system
    /// ([`crate::protect`]): a count has one fate wherever it appears.
    fn system(&self, p: Protection) -> (System, Ids) {
        let mut s = System::new(p);
        let total = self.total_sums();
        // Answers per age × commuting group are never shown, only their margins.
        let answers = s.grid(&self.raw_grid(GroupSums::answers_cell), true);
        let with_data = s.grid(&self.raw_grid(GroupSums::with_data_cell), false);
        let notified = s.grid(&self.raw_grid(GroupSums::notified_cell), false);
        // Not notified: the sensitive complement, held to the threshold, never shown.
        let not_notified = self.raw_grid(GroupSums::not_notified_cell);
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
        let person_days = s.grid(&self.raw_grid(GroupSums::person_days_cell), false);
        let flagged_days = s.grid(&self.raw_grid(GroupSums::flagged_days_cell), false);
        let start = s.grid(&self.raw_grid(GroupSums::start_cell), true);

        // Answered q2 = all − no answer, by age group and in all; q1 likewise by commuting.
        let (none_age, none_commute) = (AGE_SLOTS - 1, COMMUTE_SLOTS - 1);
        let q2_by_age: Vec<CellId> = (0..AGE_SLOTS)
            .map(|a| {
                let (all, none) = (self.age_sums(a), self.group(a, none_commute));
                let id = s.count(
                    Cell::count(all.answers - none.answers)
                        .keyed(all.keys[K_ANSWERS].wrapping_sub(none.keys[K_ANSWERS])),
                );
                s.sum(&[id, answers.cell(a, none_commute)], answers.row_totals[a]);
                id
            })
            .collect();
        let none = self.commute_sums(none_commute);
        let q2 = s.count(
            Cell::count(total.answers - none.answers)
                .keyed(total.keys[K_ANSWERS].wrapping_sub(none.keys[K_ANSWERS])),
        );
        s.sum(&[q2, answers.col_totals[none_commute]], answers.total);
        s.sum(&q2_by_age, q2);
        let q1_by_commute: Vec<CellId> = (0..COMMUTE_SLOTS)
            .map(|c| {
                let (all, none) = (self.commute_sums(c), self.group(none_age, c));
                let id = s.count(
                    Cell::count(all.answers - none.answers)
                        .keyed(all.keys[K_ANSWERS].wrapping_sub(none.keys[K_ANSWERS])),
                );
                s.sum(&[id, answers.cell(none_age, c)], answers.col_totals[c]);
                id
            })
            .collect();
        let none = self.age_sums(none_age);
        let q1 = s.count(
            Cell::count(total.answers - none.answers)
                .keyed(total.keys[K_ANSWERS].wrapping_sub(none.keys[K_ANSWERS])),
        );
        s.sum(&[q1, answers.row_totals[none_age]], answers.total);
        s.sum(&q1_by_commute, q1);

        let months: Vec<[CellId; 2]> = self
            .months
            .counts
            .iter()
            .map(|c| {
                let d = s.count(Cell::count(c[0]).keyed(c[2]));
                let n = s.count(Cell::count(c[1]).keyed(c[3]));
                let x = s.count(Cell::count(c[0] - c[1]).keyed(c[2].wrapping_sub(c[3])));
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

        // The daily columns add up to the person-days and flagged days.
        let daily: Vec<[CellId; 2]> = self
            .coverage()
            .iter()
            .zip(self.flagged.iter().zip(&self.flagged_keys))
            .map(|(&(n, nk), (&f, &fk))| {
                let covering = s.count(Cell::count(n).keyed(nk));
                let flagged = s.count(Cell::count(f).keyed(fk));
                let x = s.count(Cell::count(n - f).keyed(nk.wrapping_sub(fk)));
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

        let received = s.counts(
            &self
                .received
                .iter()
                .zip(&self.received_keys)
                .map(|(&n, &k)| Cell::count(n).keyed(k))
                .collect::<Vec<_>>(),
        );
        let received_total = if self.received_outside == 0 {
            answers.total
        } else {
            s.count(
                Cell::count(self.received.iter().sum()).keyed(
                    self.received_keys
                        .iter()
                        .fold(0u64, |a, k| a.wrapping_add(*k)),
                ),
            )
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

    /// Every table and estimate, protected by `protection`; with differential privacy if it
    /// has a budget: then every count is made from noised statistics of the sums
    /// ([`privacy`]), with a fixed threshold and rounding to the nearest multiple (no record
    /// keys), and the analysis holds the accounting.
    pub fn finish(&self, protection: Protection, inputs: &SideInputs<'_>) -> Analysis {
        match protection.dp() {
            None => self.finish_with(protection, inputs, None),
            Some(budget) => {
                let noised = privacy::noise(self, budget);
                let p = protection.with_spread(1).unwrap_or(protection);
                self.finish_with(p, inputs, Some(&noised))
            }
        }
    }

    /// [`Accumulator::finish`]: from the exact sums, or (`noised`) from their noised
    /// statistics only.
    fn finish_with(
        &self,
        protection: Protection,
        inputs: &SideInputs<'_>,
        noised: Option<&privacy::Noised>,
    ) -> Analysis {
        let p = protection;
        let (system, ids) = match noised {
            None => self.system(p),
            Some(n) => n.system(p),
        };
        let mut solved = system.solve();
        if let Some(n) = noised {
            n.annotate(&mut solved, &ids);
        }
        let strata = Strata {
            answers: solved.grid(&ids.answers),
            with_data: solved.grid(&ids.with_data),
            notified: solved.grid(&ids.notified),
            person_days: solved.grid(&ids.person_days),
            flagged_days: solved.grid(&ids.flagged_days),
        };

        let age = AgeTable {
            rows: (0..AGE_SLOTS)
                .map(|a| AgeRow {
                    age_group: age_of_slot(a),
                    notified: Share::new(
                        strata.notified.row_total(a),
                        strata.with_data.row_total(a),
                    ),
                })
                .collect(),
            total: Share::new(strata.notified.total(), strata.with_data.total()),
        };

        let months = self.months.months();
        let start_month = MonthTable {
            rows: ids
                .months
                .iter()
                .enumerate()
                .map(|(i, m)| MonthRow {
                    month: match i {
                        i if i < months => Some(self.months.first + i as i64),
                        i if i == months => Some(MonthRow::OTHER),
                        _ => None,
                    },
                    notified: Share::new(solved.get(m[1]), solved.get(m[0])),
                })
                .collect(),
            total: age.total,
        };

        let covered: Vec<Published> = ids.daily.iter().map(|d| solved.get(d[0])).collect();
        let flagged: Vec<Published> = ids.daily.iter().map(|d| solved.get(d[1])).collect();
        let registrations = inputs.registrations.map(|r| protect_series(p, r));
        let daily = DailyTable {
            rows: self
                .window
                .days()
                .enumerate()
                .map(|(i, day)| DailyRow {
                    day,
                    respondents_with_data: covered[i],
                    flagged: flagged[i],
                    registrations: registrations
                        .as_ref()
                        .map(|r| r.get(day).unwrap_or(Published::EMPTY)),
                })
                .collect(),
        };

        let published_registrations = registrations
            .as_ref()
            .map(|r| move |day: i64| r.get(day).and_then(Published::as_f64));
        let q1 = published_registrations.as_ref().map(|reg| {
            RegistrationsAnalysis::estimate(
                registrations::Regressor::Registrations,
                self.window,
                &covered,
                &flagged,
                reg,
            )
        });
        let q1_cases = inputs.national_cases.map(|cases| {
            RegistrationsAnalysis::estimate(
                registrations::Regressor::NationalCases,
                self.window,
                &covered,
                &flagged,
                &|day: i64| cases.get(day).map(|v| v as f64),
            )
        });
        let (dispersion, total_dispersion) = match noised {
            None => (
                std::array::from_fn(|c| self.commute_sums(c).dispersion()),
                self.total_sums().dispersion(),
            ),
            Some(n) => n.dispersions(),
        };
        let commuting = CommutingAnalysis::estimate(&strata, &dispersion, total_dispersion);
        let activity = ActivityAnalysis::estimate(
            self.window,
            &covered,
            &flagged,
            published_registrations
                .as_ref()
                .map(|r| r as &dyn Fn(i64) -> Option<f64>),
            q1.as_ref(),
            inputs.activity,
            inputs.periods,
        );
        let cooperation =
            CooperationAnalysis::estimate(&solved, &ids, &strata, self.window, inputs.active_users);

        Analysis {
            window: self.window,
            protection: p,
            answers: strata.answers.total(),
            days_outside_window: match noised {
                // Withheld under DP (see [`privacy`]).
                Some(_) => Published::EMPTY,
                None => p.single(Cell::of(self.days_outside, self.answers_with_days_outside)),
            },
            received_outside_window: match noised {
                None => p.single(Cell::count(self.received_outside)),
                Some(n) => {
                    let (cell, variance) = n.received_outside();
                    p.single(cell).with_noise_variance(variance)
                }
            },
            age,
            start_month,
            daily,
            registrations: q1,
            national_cases: q1_cases,
            commuting,
            activity,
            cooperation,
            strata,
            privacy: noised.map(|n| n.accounting.clone()),
        }
    }
}

/// Where each shown count sits in the system.
#[derive(Debug)]
pub(crate) struct Ids {
    answers: GridIds,
    with_data: GridIds,
    notified: GridIds,
    person_days: GridIds,
    flagged_days: GridIds,
    start: GridIds,
    q1: CellId,
    q2: CellId,
    q1_by_commute: Vec<CellId>,
    q2_by_age: Vec<CellId>,
    /// Per month row: respondents with daily data, notified.
    months: Vec<[CellId; 2]>,
    /// Per day: covering respondents, flagged.
    daily: Vec<[CellId; 2]>,
    received: Vec<CellId>,
    received_total: CellId,
}

/// The registrations input, protected as one column (each day a count of registrants).
fn protect_series(p: Protection, series: &DailySeries<u64>) -> DailySeries<Published> {
    let cells: Vec<Cell> = series
        .points()
        .iter()
        .map(|&(_, v)| Cell::count(v))
        .collect();
    let total = Cell::count(cells.iter().map(|c| c.value).sum());
    let column = p.column(&cells, total);
    DailySeries::from_points(
        series
            .points()
            .iter()
            .zip(column.cells())
            .map(|(&(day, _), &c)| (day, c))
            .collect(),
    )
    .unwrap_or_default()
}

/// The age × commuting tables every group estimate is computed from (rows: age slots, columns:
/// commuting slots, with margins): all answers, answers with daily data, notified, observed
/// person-days, flagged days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strata {
    pub answers: Grid,
    pub with_data: Grid,
    pub notified: Grid,
    pub person_days: Grid,
    pub flagged_days: Grid,
}

/// Everything the survey's analysis publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub window: DayRange,
    pub protection: Protection,
    /// All answers.
    pub answers: Published,
    /// Days of daily data outside the window (ignored).
    pub days_outside_window: Published,
    /// Answers received outside the window (counted in every table but the one by day of
    /// receipt).
    pub received_outside_window: Published,
    /// Headline: share with at least one notification by age group.
    pub age: AgeTable,
    /// Headline: the same by start-of-use month.
    pub start_month: MonthTable,
    pub daily: DailyTable,
    /// Question 1, against registrations (`None` without that input).
    pub registrations: Option<RegistrationsAnalysis>,
    /// Question 1 against national new cases (`None` without that input).
    pub national_cases: Option<RegistrationsAnalysis>,
    /// Question 2.
    pub commuting: CommutingAnalysis,
    /// Question 3.
    pub activity: ActivityAnalysis,
    /// Question 4.
    pub cooperation: CooperationAnalysis,
    pub strata: Strata,
    /// The differential-privacy accounting (`None` without DP).
    pub privacy: Option<crate::dp::Accounting>,
}

/// One pass over `answers`, then [`Accumulator::finish`].
pub fn analyse<'a>(
    window: DayRange,
    answers: impl IntoIterator<Item = &'a SurveyResponse>,
    protection: Protection,
    inputs: &SideInputs<'_>,
) -> Analysis {
    let mut acc = Accumulator::new(window);
    answers.into_iter().for_each(|a| acc.add(a));
    acc.finish(protection, inputs)
}
