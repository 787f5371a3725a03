//! The accumulator's sums do not depend on the order of the answers, nor on how they are split
//! between merged accumulators (so a store may read them in its own order), and its fast path
//! for ascending daily data gives exactly what the general one gives.

use cocoa_analytics::estimate::{Accumulator, DayRange, SideInputs};
use cocoa_analytics::Protection;
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const FIRST: i64 = 19_089;
const DAYS: i64 = 240;

fn window() -> DayRange {
    DayRange::new(FIRST, FIRST + DAYS - 1).unwrap()
}

/// Daily data of every kind: ascending runs across either end of the window, gaps, flags,
/// and now and then days far outside it.
fn days(rng: &mut StdRng) -> Vec<SurveyDayFlag> {
    let start = FIRST + rng.gen_range(-30..DAYS);
    let len = rng.gen_range(0..260);
    let notified = rng.gen_ratio(1, 3);
    let mut days = Vec::new();
    for day in start..start + len {
        if !rng.gen_ratio(1, 10) {
            days.push(SurveyDayFlag {
                day,
                exposure_detected: notified && rng.gen_ratio(1, 20),
            });
        }
    }
    if rng.gen_ratio(1, 10) {
        for day in [i64::MIN, -1, 0, i64::MAX] {
            days.push(SurveyDayFlag {
                day,
                exposure_detected: true,
            });
        }
        days.sort();
    }
    days
}

fn answers(n: u64, rng: &mut StdRng) -> Vec<SurveyResponse> {
    (0..n)
        .map(|i| SurveyResponse {
            id_hash: format!("{:016x}{i:048x}", rng.gen::<u64>()),
            received_day: FIRST + rng.gen_range(-5..DAYS + 5),
            age_group: AgeGroup::new(rng.gen_range(0..=9)),
            commute: Commute::new(rng.gen_range(0..=3)),
            start_day: rng
                .gen_ratio(9, 10)
                .then(|| 18_432 + rng.gen_range(-40..900)),
            days: match rng.gen_range(0..10) {
                0 => None,
                1 => Some(vec![]),
                _ => Some(days(rng)),
            },
        })
        .collect()
}

fn accumulate<'a>(answers: impl IntoIterator<Item = &'a SurveyResponse>) -> Accumulator {
    let mut acc = Accumulator::new(window());
    for a in answers {
        acc.add(a);
    }
    acc
}

#[test]
fn any_order_and_any_split_give_the_same_sums_and_tables() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut all = answers(3000, &mut rng);
    let one = accumulate(&all);
    all.reverse();
    assert!(accumulate(&all) == one, "reversed");
    all.shuffle(&mut rng);
    assert!(accumulate(&all) == one, "shuffled");
    // Two threads' worth, split unevenly and interleaved, merged either way round.
    let (mut a, mut b) = (Accumulator::new(window()), Accumulator::new(window()));
    for (i, answer) in all.iter().enumerate() {
        if i % 3 == 0 {
            a.add(answer);
        } else {
            b.add(answer);
        }
    }
    let mut ab = a.clone();
    ab.merge(&b);
    b.merge(&a);
    assert!(ab == one, "merged");
    assert!(b == one, "merged the other way round");
    let tables = |acc: &Accumulator| {
        format!(
            "{:?}",
            acc.finish(Protection::default(), &SideInputs::default())
                .daily
                .to_csv()
        )
    };
    assert_eq!(tables(&ab), tables(&one));
}

#[test]
fn ascending_daily_data_takes_the_fast_path_to_the_same_sums() {
    let mut rng = StdRng::seed_from_u64(12);
    for answer in answers(2000, &mut rng) {
        let Some(days) = &answer.days else { continue };
        if days.len() < 2 {
            continue;
        }
        // The same days out of order: the general pass.
        let mut shuffled = days.clone();
        while shuffled.windows(2).all(|w| w[0].day < w[1].day) {
            shuffled.shuffle(&mut rng);
        }
        let unordered = SurveyResponse {
            days: Some(shuffled),
            ..answer.clone()
        };
        assert!(
            accumulate([&answer]) == accumulate([&unordered]),
            "{:?}",
            answer.days
        );
    }
}
