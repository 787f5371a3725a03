//! The disclosure rules, as properties: every published count comes from at least `min_cell`
//! respondents (and so does every notified count's complement), is the true count rounded to
//! the base, and no published sum has a lone suppressed member; a differencing attack (tables
//! of N answers and of N − 1) reveals no suppressed value.

use cocoa_analytics::estimate::{analyse, DayRange, SideInputs, AGE_SLOTS, COMMUTE_SLOTS};
use cocoa_analytics::protect::{Cell, Protection, Published, RawGrid};
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use proptest::prelude::*;
use std::collections::BTreeSet;

const FIRST: i64 = 19_205;
const DAYS: i64 = 10;

fn answer_strategy() -> impl Strategy<Value = SurveyResponse> {
    (
        prop::option::weighted(0.9, 1u8..=3),
        prop::option::weighted(0.9, 1u8..=3),
        any::<bool>(),
        prop::option::weighted(
            0.8,
            prop::collection::btree_set((0..DAYS, any::<bool>()), 0..5),
        ),
        0..DAYS,
    )
        .prop_map(|(age, commute, start, days, received)| SurveyResponse {
            id_hash: String::new(),
            received_day: FIRST + received,
            age_group: age.and_then(AgeGroup::new),
            commute: commute.and_then(Commute::new),
            start_day: start.then_some(18_800),
            days: days.map(|set| {
                // One entry per day, ascending.
                let mut seen = BTreeSet::new();
                set.into_iter()
                    .filter(|(d, _)| seen.insert(*d))
                    .map(|(d, flag)| SurveyDayFlag {
                        day: FIRST + d,
                        exposure_detected: flag,
                    })
                    .collect()
            }),
        })
}

/// The true counts, recomputed naively from the answers.
#[derive(Debug, Default, Clone, Copy)]
struct Truth {
    answers: u64,
    with_data: u64,
    with_days: u64,
    notified: u64,
    person_days: u64,
    flagged_days: u64,
}

fn truth(answers: &[SurveyResponse], keep: impl Fn(&SurveyResponse) -> bool) -> Truth {
    let mut t = Truth::default();
    for a in answers.iter().filter(|a| keep(a)) {
        t.answers += 1;
        let Some(days) = &a.days else { continue };
        t.with_data += 1;
        let flagged = days.iter().filter(|d| d.exposure_detected).count() as u64;
        t.notified += u64::from(flagged > 0);
        t.flagged_days += flagged;
        if let (Some(f), Some(l)) = (days.first(), days.last()) {
            t.with_days += 1;
            t.person_days += (l.day - f.day + 1) as u64;
        }
    }
    t
}

/// A published count against its truth: suppressed, or from `contributors ≥ min_cell`, a
/// multiple of the base, and one of the two multiples nearest the truth.
fn check(p: Protection, what: &str, published: Published, value: u64, contributors: u64) {
    if let Some(v) = published.get() {
        assert!(
            contributors >= p.min_cell(),
            "{what}: {v} from {contributors}"
        );
        assert_eq!(v % p.round_to(), 0, "{what}: {v}");
        assert!(v.abs_diff(value) < p.round_to(), "{what}: {v} for {value}");
    }
}

/// A sum (members and total) never has exactly one unknown.
fn check_sum(what: &str, members: &[Published], total: Published) {
    let unknown =
        members.iter().filter(|m| m.is_suppressed()).count() + usize::from(total.is_suppressed());
    assert_ne!(unknown, 1, "{what}: {members:?} = {total:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn published_counts_meet_the_threshold_and_the_base(
        answers in prop::collection::vec(answer_strategy(), 0..160),
        min_cell in 1u64..=12,
        round_to in 1u64..=6,
    ) {
        let p = Protection::new(min_cell, round_to).unwrap();
        let window = DayRange::new(FIRST, FIRST + DAYS - 1).unwrap();
        let a = analyse(window, &answers, p, &SideInputs::default());

        let all = truth(&answers, |_| true);
        check(p, "answers", a.answers, all.answers, all.answers);
        for (slot, row) in a.age.rows.iter().enumerate() {
            let t = truth(&answers, |x| x.age_group == row.age_group);
            let what = format!("age slot {slot}");
            check(p, &what, row.notified.denominator(), t.with_data, t.with_data);
            check(p, &what, row.notified.numerator(), t.notified, t.notified);
            if row.notified.value().is_some() {
                prop_assert!(t.with_data - t.notified >= min_cell, "{what}: complement");
            }
        }
        for (slot, row) in a.commuting.table.rows.iter().enumerate() {
            let t = truth(&answers, |x| x.commute == row.commute);
            let what = format!("commute slot {slot}");
            check(p, &what, row.notified.denominator(), t.with_data, t.with_data);
            check(p, &what, row.notified.numerator(), t.notified, t.notified);
            check(p, &what, row.flagged.denominator(), t.person_days, t.with_days);
            check(p, &what, row.flagged.numerator(), t.flagged_days, t.notified);
            if row.notified.value().is_some() {
                prop_assert!(t.with_data - t.notified >= min_cell, "{what}: complement");
            }
        }
        for row in &a.daily.rows {
            let covering = answers.iter().filter(|x| {
                x.days.as_ref().is_some_and(|d| {
                    d.first().is_some_and(|f| f.day <= row.day)
                        && d.last().is_some_and(|l| l.day >= row.day)
                })
            }).count() as u64;
            let flagged = answers.iter().filter(|x| {
                x.days.as_ref().is_some_and(|d| d.iter().any(|f| f.day == row.day && f.exposure_detected))
            }).count() as u64;
            check(p, "covering", row.respondents_with_data, covering, covering);
            check(p, "flagged", row.flagged, flagged, flagged);
            if row.flagged.get().is_some() && row.respondents_with_data.get().is_some() {
                prop_assert!(covering - flagged >= min_cell, "day complement");
            }
        }
        for row in &a.cooperation.received.rows {
            let n = answers.iter().filter(|x| x.received_day == row.day).count() as u64;
            check(p, "received", row.answers, n, n);
        }
        let items = &a.cooperation.items.rows;
        let answered = [
            answers.iter().filter(|x| x.age_group.is_some()).count() as u64,
            answers.iter().filter(|x| x.commute.is_some()).count() as u64,
            answers.iter().filter(|x| x.start_day.is_some()).count() as u64,
            all.with_data,
        ];
        for (row, n) in items.iter().zip(answered) {
            check(p, row.item.name(), row.answered.numerator(), n, n);
        }

        // No published sum with a lone unknown.
        let strata = &a.strata;
        for grid in [&strata.with_data, &strata.notified, &strata.person_days, &strata.flagged_days] {
            let rows: Vec<Published> = (0..AGE_SLOTS).map(|r| grid.row_total(r)).collect();
            let cols: Vec<Published> = (0..COMMUTE_SLOTS).map(|c| grid.col_total(c)).collect();
            check_sum("age margins", &rows, grid.total());
            check_sum("commute margins", &cols, grid.total());
            for r in 0..AGE_SLOTS {
                let cells: Vec<Published> = (0..COMMUTE_SLOTS).map(|c| grid.cell(r, c)).collect();
                check_sum("grid row", &cells, grid.row_total(r));
            }
            for c in 0..COMMUTE_SLOTS {
                let cells: Vec<Published> = (0..AGE_SLOTS).map(|r| grid.cell(r, c)).collect();
                check_sum("grid column", &cells, grid.col_total(c));
            }
        }
        let covering: Vec<Published> = a.daily.rows.iter().map(|r| r.respondents_with_data).collect();
        let flagged: Vec<Published> = a.daily.rows.iter().map(|r| r.flagged).collect();
        check_sum("daily covering = person-days", &covering, strata.person_days.total());
        check_sum("daily flagged = flagged days", &flagged, strata.flagged_days.total());
        let months: Vec<Published> = a.start_month.rows.iter().map(|r| r.notified.denominator()).collect();
        check_sum("months", &months, strata.with_data.total());
        let start: Vec<Published> = a.cooperation.by_commute.iter().map(|r| r.start_date.numerator()).collect();
        check_sum("start dates by commute", &start, items[2].answered.numerator());
        let q2: Vec<Published> = a.cooperation.by_age.iter().map(|r| r.q2.unwrap().numerator()).collect();
        check_sum("q2 by age", &q2, items[1].answered.numerator());
        check_sum("q2 and no answer", &[items[1].answered.numerator(), strata.answers.col_total(COMMUTE_SLOTS - 1)], a.answers);
    }

    #[test]
    fn grids_leave_no_line_with_one_unknown(
        values in prop::collection::vec(0u64..40, 12),
        min_cell in 1u64..=15,
    ) {
        let p = Protection::new(min_cell, 1).unwrap();
        let (rows, cols) = (3, 4);
        let at = |r: usize, c: usize| values[r * cols + c];
        let g = p.grid(&RawGrid {
            rows,
            cols,
            cells: values.iter().map(|&v| Cell::count(v)).collect(),
            row_totals: (0..rows).map(|r| Cell::count((0..cols).map(|c| at(r, c)).sum())).collect(),
            col_totals: (0..cols).map(|c| Cell::count((0..rows).map(|r| at(r, c)).sum())).collect(),
            total: Cell::count(values.iter().sum()),
        });
        for r in 0..rows {
            check_sum("row", &(0..cols).map(|c| g.cell(r, c)).collect::<Vec<_>>(), g.row_total(r));
        }
        for c in 0..cols {
            check_sum("column", &(0..rows).map(|r| g.cell(r, c)).collect::<Vec<_>>(), g.col_total(c));
        }
        check_sum("row margins", &(0..rows).map(|r| g.row_total(r)).collect::<Vec<_>>(), g.total());
        check_sum("column margins", &(0..cols).map(|c| g.col_total(c)).collect::<Vec<_>>(), g.total());
        for r in 0..rows {
            for c in 0..cols {
                if g.cell(r, c).get().is_some() {
                    prop_assert!(at(r, c) >= min_cell);
                }
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The attacker audits the two releases (tables of N answers and of N − 1, one answer
    /// removed from any group) as statistical offices audit a table: a published count is
    /// within the base of the truth and met the threshold, a suppressed one is unknown, the
    /// cells add up to the total, one cell lost one answer; every count is at most 29. It keeps
    /// every pair of tables that fits. A count the threshold hid (under its bar) is revealed if
    /// all of them agree on it. (It does not reason about which cell the complementary
    /// suppression chose: "next smallest" tells the order of the counts, and an attacker who
    /// uses that can sometimes go further.)
    #[test]
    fn a_differencing_attack_reveals_no_suppressed_value(
        cells in prop::array::uniform3(0u64..20),
        removed in 0usize..3,
        keys_before in prop::array::uniform4(1u64..),
        key_removed in 1u64..,
        key_total in 1u64..,
    ) {
        let mut cells = cells;
        cells[removed] = cells[removed].max(1);
        let p = Protection::default();
        let smaller = minus(cells, removed);
        // The cells the removal did not touch keep their keys.
        let mut keys_after = keys_before;
        keys_after[removed] = key_removed;
        keys_after[3] = key_total;
        let seen_before = publish(p, cells, keys_before);
        let seen_after = publish(p, smaller, keys_after);
        let fits = |x: [u64; 3], seen: &[Published; 4]| {
            let counts = [x[0], x[1], x[2], x[0] + x[1] + x[2]];
            counts.iter().zip(seen).all(|(&v, s)| match s.get() {
                Some(published) => published.abs_diff(v) < p.round_to() && v >= p.min_cell(),
                None => true,
            })
        };
        let mut candidates = Vec::new();
        for a in 0..30 {
            for b in 0..30 {
                for c in 0..30 {
                    let x = [a, b, c];
                    if !fits(x, &seen_before) {
                        continue;
                    }
                    for j in 0..3 {
                        if x[j] > 0 && fits(minus(x, j), &seen_after) {
                            candidates.push((x, minus(x, j)));
                        }
                    }
                }
            }
        }
        prop_assert!(candidates.contains(&(cells, smaller)));
        let bar = |v: u64, key: u64| p.threshold(Cell::count(v).keyed(key));
        for i in 0..3 {
            if seen_before[i].is_suppressed() && cells[i] < bar(cells[i], keys_before[i]) {
                let values: BTreeSet<u64> = candidates.iter().map(|c| c.0[i]).collect();
                prop_assert!(values.len() > 1, "cell {i} of {cells:?} revealed: {values:?}");
            }
            if seen_after[i].is_suppressed() && smaller[i] < bar(smaller[i], keys_after[i]) {
                let values: BTreeSet<u64> = candidates.iter().map(|c| c.1[i]).collect();
                prop_assert!(values.len() > 1, "cell {i} of {smaller:?} revealed: {values:?}");
            }
        }
    }
}

fn minus(mut x: [u64; 3], j: usize) -> [u64; 3] {
    x[j] -= 1;
    x
}

/// A 3-cell table with its total, with cell keys.
fn publish(p: Protection, x: [u64; 3], keys: [u64; 4]) -> [Published; 4] {
    let cells: Vec<Cell> = (0..3).map(|i| Cell::count(x[i]).keyed(keys[i])).collect();
    let total = Cell::count(x.iter().sum()).keyed(keys[3]);
    let col = p.column(&cells, total);
    [col.cell(0), col.cell(1), col.cell(2), col.total()]
}

/// Why the cell keys matter: complementary suppression alone does not survive differencing,
/// nor does rounding to the nearest multiple. 0, 10, 10 publishes (_, _, 10 | 20) and, after one answer
/// of the third group is removed, (_, 10, _ | 19): the first cell can only be 0. (And with a
/// fixed threshold, 10 published then suppressed can only have become 9.)
#[test]
fn fixed_rules_alone_let_differencing_reveal_a_suppressed_zero() {
    let p = Protection::new(10, 1).unwrap();
    let plain = |x: [u64; 3]| {
        let col = p.column(&x.map(Cell::count), Cell::count(x.iter().sum()));
        [col.cell(0), col.cell(1), col.cell(2), col.total()]
    };
    let before = plain([0, 10, 10]);
    let after = plain([0, 10, 9]);
    assert_eq!(before.map(|c| c.get()), [None, None, Some(10), Some(20)]);
    assert_eq!(after.map(|c| c.get()), [None, Some(10), None, Some(19)]);
    // x1 = 10 (published after, and no removal could leave it at 10 unless it was 10);
    // x0 + x1 = 20 - 10 before, so x0 = 0.
    // Rounded to the nearest 5 the totals read 20 both times: the zero is hidden again.
    let rounded = Protection::default();
    assert_eq!(
        publish(rounded, [0, 10, 10], [0; 4]).map(|c| c.get()),
        [None, None, Some(10), Some(20)]
    );
    assert_eq!(
        publish(rounded, [0, 10, 9], [0; 4]).map(|c| c.get()),
        [None, Some(10), None, Some(20)]
    );
    // But nearest rounding alone is pinned down where it changes: 0, 0, 18 publishes
    // (_, _, 20 | 20), and without one answer of the third cell (_, _, 15 | 15); only
    // 18 → 17 fits both, so the two suppressed cells are 0.
    assert_eq!(
        publish(rounded, [0, 0, 18], [0; 4]).map(|c| c.get()),
        [None, None, Some(20), Some(20)]
    );
    assert_eq!(
        publish(rounded, [0, 0, 17], [0; 4]).map(|c| c.get()),
        [None, None, Some(15), Some(15)]
    );
}
