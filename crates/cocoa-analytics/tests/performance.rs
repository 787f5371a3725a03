//! The aggregation path at some volume (20,000 answers of 200 days). The speed target (3,030,000
//! answers in under 10 s) is a benchmark, not a test: `cocoa bench report` (to come) measures it.

use cocoa_analytics::estimate::{Accumulator, DayRange, SideInputs};
use cocoa_analytics::Protection;
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};

const FIRST: i64 = 19_089;
const DAYS: i64 = 240;

/// A pool of distinct answers of ~200 days, cycled (the accumulator cannot tell).
fn pool() -> Vec<SurveyResponse> {
    (0..1000u64)
        .map(|i| {
            let start = (i % 40) as i64;
            SurveyResponse {
                id_hash: format!("{i:064x}"),
                received_day: FIRST + DAYS - 1 - (i % 20) as i64,
                age_group: AgeGroup::new((i % 9) as u8 + 1),
                commute: Commute::new((i % 4) as u8 + 1),
                start_day: (!i.is_multiple_of(5)).then_some(FIRST - (i as i64 % 700)),
                days: (!i.is_multiple_of(10)).then(|| {
                    (start..start + 200)
                        .map(|d| SurveyDayFlag {
                            day: FIRST + d,
                            exposure_detected: (d as u64 * 7 + i).is_multiple_of(97),
                        })
                        .collect()
                }),
            }
        })
        .collect()
}

fn aggregate(answers: usize) {
    let pool = pool();
    let window = DayRange::new(FIRST, FIRST + DAYS - 1).unwrap();
    let mut acc = Accumulator::new(window);
    for a in pool.iter().cycle().take(answers) {
        acc.add(a);
    }
    let analysis = acc.finish(Protection::default(), &SideInputs::default());
    assert!(analysis.answers.get().is_some());
}

#[test]
fn a_small_load_aggregates() {
    aggregate(20_000);
}
