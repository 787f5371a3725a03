//! Twelve answers whose tables were computed by hand (the working is in the comments).
//!
//! Window: 2022-08-01 ..= 2022-08-10 (offsets 0..=9). `T` = flagged day.
//!
//! | #  | age  | commute | start      | daily data (offset:flag) | received |
//! | -- | ---- | ------- | ---------- | ------------------------ | -------- |
//! | 1  | 3    | 1       | 2021-01-15 | 0 2T 5                   | 08-09    |
//! | 2  | 3    | 3       | 2021-01-20 | 1T 3T 4                  | 08-09    |
//! | 3  | 3    | 2       | -          | 0 9                      | 08-10    |
//! | 4  | 5    | 3       | 2021-03-02 | 2 6T                     | 08-09    |
//! | 5  | 5    | 1       | 2021-03-10 | (consented, no day)      | 08-10    |
//! | 6  | 5    | -       | -          | 8 9                      | 08-10    |
//! | 7  | -    | 3       | 2021-01-05 | 4T                       | 08-10    |
//! | 8  | -    | -       | -          | (not consented)          | 08-09    |
//! | 9  | 7    | 2       | 2021-03-30 | 3 7                      | 08-10    |
//! | 10 | 7    | 1       | -          | 5T 6T 7                  | 08-10    |
//! | 11 | 7    | 3       | 2021-01-01 | 0 1 8                    | 08-09    |
//! | 12 | 3    | 1       | 2021-03-15 | (not consented)          | 08-10    |
//!
//! Observed person-days (first to last day): 6, 4, 10, 5, 0, 2, 1, -, 5, 3, 9, -; flagged
//! days: 1, 2, 0, 1, 0, 0, 1, -, 0, 2, 0, -. Notified: 1, 2, 4, 7, 10.

use cocoa_analytics::date::days_from_civil;
use cocoa_analytics::estimate::{analyse, DayRange, SideInputs};
use cocoa_analytics::inputs::DailySeries;
use cocoa_analytics::protect::{record_key, Cell};
use cocoa_analytics::tables::group_cooperation_csv;
use cocoa_analytics::Protection;
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};

const AUG1: i64 = 19_205;

fn answer(
    age: Option<u8>,
    commute: Option<u8>,
    start: Option<(i64, u32, u32)>,
    days: Option<&[(i64, bool)]>,
    received: i64,
) -> SurveyResponse {
    SurveyResponse {
        id_hash: String::new(),
        received_day: AUG1 + received,
        age_group: age.map(|a| AgeGroup::new(a).unwrap()),
        commute: commute.map(|c| Commute::new(c).unwrap()),
        start_day: start.map(|(y, m, d)| days_from_civil(y, m, d)),
        days: days.map(|d| {
            d.iter()
                .map(|&(offset, flag)| SurveyDayFlag {
                    day: AUG1 + offset,
                    exposure_detected: flag,
                })
                .collect()
        }),
    }
}

fn answers() -> Vec<SurveyResponse> {
    let (f, t) = (false, true);
    vec![
        answer(
            Some(3),
            Some(1),
            Some((2021, 1, 15)),
            Some(&[(0, f), (2, t), (5, f)]),
            8,
        ),
        answer(
            Some(3),
            Some(3),
            Some((2021, 1, 20)),
            Some(&[(1, t), (3, t), (4, f)]),
            8,
        ),
        answer(Some(3), Some(2), None, Some(&[(0, f), (9, f)]), 9),
        answer(
            Some(5),
            Some(3),
            Some((2021, 3, 2)),
            Some(&[(2, f), (6, t)]),
            8,
        ),
        answer(Some(5), Some(1), Some((2021, 3, 10)), Some(&[]), 9),
        answer(Some(5), None, None, Some(&[(8, f), (9, f)]), 9),
        answer(None, Some(3), Some((2021, 1, 5)), Some(&[(4, t)]), 9),
        answer(None, None, None, None, 8),
        answer(
            Some(7),
            Some(2),
            Some((2021, 3, 30)),
            Some(&[(3, f), (7, f)]),
            9,
        ),
        answer(Some(7), Some(1), None, Some(&[(5, t), (6, t), (7, f)]), 9),
        answer(
            Some(7),
            Some(3),
            Some((2021, 1, 1)),
            Some(&[(0, f), (1, f), (8, f)]),
            8,
        ),
        answer(Some(3), Some(1), Some((2021, 3, 15)), None, 9),
    ]
}

fn registrations() -> DailySeries<u64> {
    let values = [52, 61, 73, 84, 95, 101, 118, 7, 9, 140];
    DailySeries::from_points(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (AUG1 + i as i64, v))
            .collect(),
    )
    .unwrap()
}

fn window() -> DayRange {
    DayRange::new(AUG1, AUG1 + 9).unwrap()
}

/// With a threshold of 1 and no rounding every count is exact, but zero counts (from no one)
/// and a numerator whose complement is zero (everyone in the group notified) are still
/// suppressed, with their complements.
#[test]
fn exact_tables_with_a_threshold_of_one() {
    let regs = registrations();
    let inputs = SideInputs {
        registrations: Some(&regs),
        ..SideInputs::default()
    };
    let a = analyse(
        window(),
        &answers(),
        Protection::new(1, 1).unwrap(),
        &inputs,
    );
    assert_eq!(a.answers.get(), Some(12));

    // Age 3: #1 #2 #3 with data, #1 #2 notified. Age 5: #4 #5 #6, #4. Age 7: #9 #10 #11, #10.
    // No answer: #7, notified, so "all notified": the numerator goes.
    assert_eq!(
        a.age.to_csv(),
        "age_group,respondents,notified,share\n\
         1,,,\n2,,,\n3,3,2,0.6667\n4,,,\n5,3,1,0.3333\n6,,,\n7,3,1,0.3333\n8,,,\n9,,,\n\
         none,1,,\n"
    );
    assert_eq!(a.age.total.value(), Some(0.5));

    // Commute 1: #1 #5 #10, notified #1 #10, person-days 6+0+3, flagged 1+2.
    // Commute 2: #3 #9, none notified (0: suppressed), person-days 10+5.
    // Commute 3: #2 #4 #7 #11, notified #2 #4 #7, person-days 4+5+1+9, flagged 2+1+1+0.
    // No answer: #6 (#8 has no data), person-days 2.
    assert_eq!(
        a.commuting.table.to_csv(),
        "commute,respondents,notified,share,person_days,flagged_days,rate_per_1000\n\
         1,3,2,0.6667,9,3,333.333\n\
         2,2,,,15,,\n\
         3,4,3,0.7500,19,4,210.526\n\
         none,1,,,2,,\n"
    );

    // Covering respondents per day (ranges 0-5, 1-4, 0-9, 2-6, 8-9, 4-4, 3-7, 5-7, 0-8) and
    // flags (2, 1 3, 6, 4, 5 6); zero flags are suppressed; registrations as given.
    assert_eq!(
        a.daily.to_csv(),
        "date,respondents_with_data,flagged,registrations\n\
         2022-08-01,3,,52\n\
         2022-08-02,4,1,61\n\
         2022-08-03,5,1,73\n\
         2022-08-04,6,1,84\n\
         2022-08-05,7,1,95\n\
         2022-08-06,6,1,101\n\
         2022-08-07,5,2,118\n\
         2022-08-08,4,,7\n\
         2022-08-09,3,,9\n\
         2022-08-10,2,,140\n"
    );

    // q1 and q2: 12 minus 2 unanswered each; start date 8; daily data 10.
    assert_eq!(
        a.cooperation.items.to_csv(),
        "item,answered,respondents\nq1,10,12\nq2,10,12\nstart_date,8,12\nexposure_data,10,12\n"
    );
    // By age: age 3 is #1 #2 #3 #12 (all answered q2; starts #1 #2 #12; data #1 #2 #3) ...
    assert_eq!(
        group_cooperation_csv(&a.cooperation.by_age),
        "group,respondents,q1,q2,start_date,exposure_data\n\
         1,,,,,\n2,,,,,\n3,4,,4,3,3\n4,,,,,\n5,3,,2,2,3\n6,,,,,\n7,3,,3,2,3\n8,,,,,\n9,,,,,\n\
         none,2,,1,1,1\n"
    );
    // By commuting group the start dates are 3, 1, 4, 0: the 0 is suppressed, and with it the
    // next smallest (commute 2), as the four add up to the published 8.
    assert_eq!(
        group_cooperation_csv(&a.cooperation.by_commute),
        "group,respondents,q1,q2,start_date,exposure_data\n\
         1,4,4,,3,3\n2,2,2,,,2\n3,4,3,,4,4\nnone,2,1,,,1\n"
    );
    let received = a.cooperation.received.to_csv();
    assert!(
        received.ends_with("2022-08-08,\n2022-08-09,5\n2022-08-10,7\n"),
        "{received}"
    );

    // Start months: 2021-01 is #1 #2 #7 #11 (notified #1 #2 #7), 2021-03 #4 #5 #9 (#4); no
    // date: #3 #6 #10 (#10). Every month from 2020-06 to 2022-08 is listed.
    let months = a.start_month.to_csv();
    let lines: Vec<&str> = months.lines().collect();
    assert_eq!(lines.len(), 1 + 27 + 2);
    assert_eq!(lines[1], "2020-06,,,");
    assert!(lines.contains(&"2021-01,4,3,0.7500"));
    assert!(lines.contains(&"2021-02,,,"));
    assert!(lines.contains(&"2021-03,3,1,0.3333"));
    assert_eq!(&lines[28..], ["other,,,", "none,3,1,0.3333"]);

    // Ten days are too few for 7-day rates with suppressed days: no lag is chosen.
    let q1 = a.registrations.as_ref().unwrap();
    assert_eq!(q1.lag, None);
    assert_eq!(q1.days[1].rate_per_100k, Some(25_000.0));
}

/// With the defaults (10, rounded to 5) a dozen answers publish almost nothing.
#[test]
fn the_defaults_suppress_a_dozen_answers() {
    let regs = registrations();
    let inputs = SideInputs {
        registrations: Some(&regs),
        active_users: Some(100),
        ..SideInputs::default()
    };
    let p = Protection::default();
    let a = analyse(window(), &answers(), p, &inputs);
    // Every group is under 10. The 12 answers and the 10 with daily data meet a bar of 10 to
    // 14 that their cell key sets (the answers here have no id, so all record keys are equal).
    let cell = |n: u64| Cell::count(n).keyed(record_key("").wrapping_mul(n));
    let answers = (p.threshold(cell(12)) <= 12).then(|| p.round_cell(cell(12)));
    let with_data = (answers.is_some() && p.threshold(cell(10)) <= 10).then_some(10);
    assert_eq!(a.answers.get(), answers);
    let field = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let (n, d) = (field(answers), field(with_data));
    assert_eq!(
        a.cooperation.items.to_csv(),
        format!(
            "item,answered,respondents\nq1,,{n}\nq2,,{n}\nstart_date,,{n}\nexposure_data,{d},{n}\n"
        )
    );
    assert_eq!(
        a.cooperation.of_active_users,
        answers.map(|n| n as f64 / 100.0)
    );
    assert_eq!(
        a.age.to_csv(),
        "age_group,respondents,notified,share\n\
         1,,,\n2,,,\n3,,,\n4,,,\n5,,,\n6,,,\n7,,,\n8,,,\n9,,,\nnone,,,\n"
    );
    assert_eq!(
        a.commuting.table.to_csv(),
        "commute,respondents,notified,share,person_days,flagged_days,rate_per_1000\n\
         1,,,,,,\n2,,,,,,\n3,,,,,,\nnone,,,,,,\n"
    );
    // Registrations under 10 (7 and 9) are suppressed, the others rounded to 5.
    assert_eq!(
        a.daily.to_csv(),
        "date,respondents_with_data,flagged,registrations\n\
         2022-08-01,,,50\n\
         2022-08-02,,,60\n\
         2022-08-03,,,75\n\
         2022-08-04,,,85\n\
         2022-08-05,,,95\n\
         2022-08-06,,,100\n\
         2022-08-07,,,120\n\
         2022-08-08,,,\n\
         2022-08-09,,,\n\
         2022-08-10,,,140\n"
    );
    assert!(a
        .cooperation
        .received
        .rows
        .iter()
        .all(|r| r.answers.is_suppressed()));
    assert!(a
        .commuting
        .comparisons
        .iter()
        .all(|c| c.rate_ratio.is_none()));
}
