//! Differential privacy: the noise has the spread the accounting states, the shares add up to
//! the budget, no published count falls under the threshold after the noise, and intervals
//! hold the noise. opendp draws its own randomness, so these are statistical checks over many
//! draws (with bounds many standard errors wide), not exact values.

use cocoa_analytics::dp::{self, Composition, DpBudget, Mechanism};
use cocoa_analytics::estimate::{analyse, Analysis, DayRange, SideInputs};
use cocoa_analytics::protect::{wilson, Published, Share};
use cocoa_analytics::Protection;
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};

/// 2022-08-01.
const FIRST: i64 = 19_205;

fn window(days: i64) -> DayRange {
    DayRange::new(FIRST, FIRST + days - 1).unwrap()
}

/// `n` answers of one group, each covering every day of a `days`-day window, the first
/// `flagged` of them flagged on day 1.
fn group(
    tag: usize,
    n: usize,
    age: u8,
    commute: u8,
    days: i64,
    flagged: usize,
) -> Vec<SurveyResponse> {
    (0..n)
        .map(|i| SurveyResponse {
            id_hash: format!("{tag:08x}{i:08x}"),
            received_day: FIRST + days - 1,
            age_group: AgeGroup::new(age),
            commute: Commute::new(commute),
            start_day: (i % 2 == 0).then_some(18_800),
            days: Some(
                (0..days)
                    .map(|d| SurveyDayFlag {
                        day: FIRST + d,
                        exposure_detected: d == 1 && i < flagged,
                    })
                    .collect(),
            ),
        })
        .collect()
}

fn run(answers: &[SurveyResponse], days: i64, p: Protection) -> Analysis {
    analyse(window(days), answers, p, &SideInputs::default())
}

fn sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn the_noise_spread_matches_the_stated_scale() {
    let answers = group(1, 40, 3, 1, 3, 10);
    for budget in [
        DpBudget::new(1.0, None).unwrap(),
        DpBudget::new(1.0, Some(1e-6)).unwrap(),
    ] {
        let a = run(&answers, 3, Protection::default().with_dp(budget));
        let accounting = a.privacy.expect("DP accounting");
        assert_eq!(accounting.mechanism, budget.mechanism());
        for name in ["respondents", "daily"] {
            let stat = accounting.statistic(name).unwrap();
            // 40,000 draws of one count through the statistic's own noise: the sample sd's
            // relative standard error is under 0.6% (Laplace) and 0.4% (Gaussian).
            let draws: Vec<f64> = stat
                .noise
                .apply(&vec![1_000; 40_000])
                .unwrap()
                .into_iter()
                .map(|x| x as f64)
                .collect();
            let (mean, spread) = sd(&draws);
            let stated = stat.noise_sd();
            assert!(
                (spread / stated - 1.0).abs() < 0.03,
                "{name} {:?}: sd {spread} against {stated}",
                stat.noise.mechanism()
            );
            assert!(
                (mean - 1_000.0).abs() < 5.0 * stated / 200.0,
                "{name}: mean {mean}"
            );
            match stat.noise.mechanism() {
                Mechanism::DiscreteLaplace => {
                    assert!(
                        (stat.scale() - stat.l1_sensitivity / stat.epsilon.unwrap()).abs()
                            < 1e-6 * stat.scale()
                    )
                }
                Mechanism::DiscreteGaussian => {
                    let rho = stat.rho.unwrap();
                    let sigma = stat.l2_sensitivity / (2.0 * rho).sqrt();
                    assert!((stat.scale() - sigma).abs() < 1e-6 * sigma)
                }
            }
        }
    }
}

#[test]
fn a_published_count_varies_as_its_stated_noise() {
    // 400 respondents covering all 3 days, 300 flagged on day 1: with the threshold and the
    // rounding turned down, the published count is the true one plus the noise.
    let answers = group(1, 400, 3, 1, 3, 300);
    let p = Protection::new(1, 1)
        .unwrap()
        .with_dp(DpBudget::new(2.0, None).unwrap());
    let runs = 600;
    let mut flagged = Vec::with_capacity(runs);
    let mut answers_total = Vec::with_capacity(runs);
    let (mut stated, mut total_sd) = (0.0, 0.0);
    for _ in 0..runs {
        let a = run(&answers, 3, p);
        let day1: Published = a.daily.rows[1].flagged;
        flagged.push(day1.as_f64().expect("published"));
        answers_total.push(a.answers.as_f64().expect("published"));
        total_sd = a.answers.noise_variance().sqrt();
        let accounting = a.privacy.unwrap();
        stated = accounting.statistic("daily").unwrap().noise_sd();
        // The count carries its noise: one noised cell.
        assert!((day1.noise_variance().sqrt() / stated - 1.0).abs() < 1e-12);
    }
    let (mean, spread) = sd(&flagged);
    // 600 Laplace draws: the sample sd's relative standard error is about 4.6%; the mean's
    // standard error is sd / 24.5.
    assert!(
        (spread / stated - 1.0).abs() < 0.2,
        "sd {spread} against {stated}"
    );
    assert!(
        (mean - 300.0).abs() < 5.0 * stated / (runs as f64).sqrt(),
        "mean {mean}"
    );
    // The total is a sum of 160 noised cells, most of them empty: summed as signed numbers,
    // it is unbiased, and its spread is the one it states.
    let (mean, spread) = sd(&answers_total);
    assert!(
        (mean - 400.0).abs() < 5.0 * total_sd / (runs as f64).sqrt(),
        "answers: mean {mean}, sd {total_sd}"
    );
    assert!(
        (spread / total_sd - 1.0).abs() < 0.2,
        "answers: sd {spread} against {total_sd}"
    );
}

#[test]
fn the_shares_add_up_to_the_budget() {
    let answers = group(1, 50, 3, 1, 10, 10);
    // Pure DP: basic composition.
    for epsilon in [0.1, 1.0, 3.7] {
        let budget = DpBudget::new(epsilon, None).unwrap();
        let a = run(&answers, 10, Protection::default().with_dp(budget));
        let acc = a.privacy.unwrap();
        assert_eq!(acc.composition, Composition::Basic);
        assert_eq!(acc.max_days, 10);
        let shares: Vec<f64> = acc.statistics.iter().map(|s| s.epsilon.unwrap()).collect();
        let sum: f64 = shares.iter().sum();
        assert!(sum <= epsilon * (1.0 + 1e-12), "{sum} > {epsilon}");
        assert!(
            (sum / epsilon - 1.0).abs() < 1e-8,
            "{sum} against {epsilon}"
        );
        assert!((acc.epsilon_spent / epsilon - 1.0).abs() < 1e-8);
        assert!(acc.epsilon_spent <= epsilon);
        // Each share is in proportion to its weight.
        let weights: u32 = acc.statistics.iter().map(|s| s.weight).sum();
        for s in &acc.statistics {
            let part = f64::from(s.weight) / f64::from(weights);
            assert!((s.epsilon.unwrap() / (epsilon * part) - 1.0).abs() < 1e-8);
            assert_eq!(s.sensitivity, s.l1_sensitivity);
        }
        // The day statistics are bounded by the window's days.
        assert_eq!(acc.statistic("daily").unwrap().l1_sensitivity, 10.0);
        assert_eq!(acc.statistic("respondents").unwrap().l1_sensitivity, 1.0);
    }
    // Approximate DP: zCDP shares of rho, converted to (epsilon, delta).
    for (epsilon, delta) in [(0.5, 1e-6), (1.0, 1e-9), (4.0, 1e-5)] {
        let budget = DpBudget::new(epsilon, Some(delta)).unwrap();
        let a = run(&answers, 10, Protection::default().with_dp(budget));
        let acc = a.privacy.unwrap();
        assert_eq!(acc.composition, Composition::ZeroConcentrated);
        assert_eq!(acc.mechanism, Mechanism::DiscreteGaussian);
        let rho = acc.rho.unwrap();
        let sum: f64 = acc.statistics.iter().map(|s| s.rho.unwrap()).sum();
        assert!((sum / rho - 1.0).abs() < 1e-8, "{sum} against {rho}");
        let spent = dp::zcdp_epsilon(sum, delta).unwrap();
        assert!(spent <= epsilon, "{spent} > {epsilon}");
        assert!(
            (spent / epsilon - 1.0).abs() < 1e-6,
            "{spent} against {epsilon}"
        );
        assert!((acc.epsilon_spent / epsilon - 1.0).abs() < 1e-6);
        assert_eq!(acc.statistic("daily").unwrap().sensitivity, 10f64.sqrt());
    }
}

#[test]
fn no_published_count_is_under_the_threshold_after_the_noise() {
    // Groups of every size around the threshold, over a 5-day window.
    let mut answers = Vec::new();
    let sizes = [1, 3, 6, 9, 10, 12, 15, 25, 60];
    for (i, &n) in sizes.iter().enumerate() {
        let age = (i % 9) as u8 + 1;
        let commute = (i % 3) as u8 + 1;
        answers.extend(group(i, n, age, commute, 5, n / 3));
    }
    let p = Protection::default().with_dp(DpBudget::new(0.5, None).unwrap());
    let min = p.min_cell();
    let mut published = 0;
    for _ in 0..40 {
        let a = run(&answers, 5, p);
        let mut counts: Vec<(&str, Published)> = Vec::new();
        for r in &a.age.rows {
            counts.push(("age", r.notified.numerator()));
            counts.push(("age", r.notified.denominator()));
        }
        for r in &a.start_month.rows {
            counts.push(("start_month", r.notified.numerator()));
            counts.push(("start_month", r.notified.denominator()));
        }
        for r in &a.daily.rows {
            counts.push(("daily", r.respondents_with_data));
            counts.push(("daily", r.flagged));
        }
        for r in a
            .commuting
            .table
            .rows
            .iter()
            .chain([&a.commuting.table.total])
        {
            counts.push(("commute", r.notified.numerator()));
            counts.push(("commute", r.notified.denominator()));
        }
        let c = &a.cooperation;
        for r in &c.items.rows {
            counts.push(("cooperation", r.answered.numerator()));
            counts.push(("cooperation", r.answered.denominator()));
        }
        for g in c.by_age.iter().chain(&c.by_commute) {
            counts.push(("by_group", g.respondents));
            for s in [g.q1, g.q2, Some(g.start_date), Some(g.exposure_data)]
                .into_iter()
                .flatten()
            {
                counts.push(("by_group", s.numerator()));
            }
        }
        for r in &c.received.rows {
            counts.push(("received", r.answers));
        }
        counts.push(("answers", a.answers));
        counts.push(("received_outside", a.received_outside_window));
        for (table, count) in counts {
            if let Some(v) = count.get() {
                assert!(v >= min, "{table}: {v} under {min}");
                assert_eq!(v % 5, 0, "{table}: {v}");
                assert!(count.noise_variance() > 0.0, "{table}: no noise stated");
                published += 1;
            }
        }
        assert!(a.days_outside_window.is_suppressed(), "withheld under DP");
        let acc = a.privacy.unwrap();
        assert!(acc
            .withheld
            .iter()
            .any(|(w, _)| *w == "days_outside_window"));
        assert_eq!(a.protection.spread(), 1, "no keyed threshold under DP");
    }
    assert!(published > 100, "{published}");
}

#[test]
fn intervals_hold_the_noise() {
    // Large enough that every count here is published whatever the noise.
    let answers = group(1, 3_000, 3, 1, 4, 1_500);
    let p = Protection::default().with_dp(DpBudget::new(1.0, None).unwrap());
    let a = run(&answers, 4, p);
    let share: Share = a.age.total;
    let (x, n) = (
        share.numerator().as_f64().unwrap(),
        share.denominator().as_f64().unwrap(),
    );
    let (lo, hi) = share.interval().unwrap();
    let (wlo, whi) = wilson(x.min(n), n);
    assert!(
        lo < wlo && whi < hi,
        "{lo}..{hi} against Wilson {wlo}..{whi}"
    );
    // Wider by about the noise: the half-widths add in quadrature.
    let p_hat = x.min(n) / n;
    let noise = (share.numerator().noise_variance()
        + p_hat * p_hat * share.denominator().noise_variance())
    .sqrt()
        / n;
    let expected = ((whi - p_hat).powi(2) + (1.959_963_984_540_054 * noise).powi(2)).sqrt();
    assert!(((hi - p_hat) - expected).abs() < 1e-12);

    let rate = a.commuting.table.total.flagged;
    let (rlo, rhi) = rate.interval().unwrap();
    let plain = cocoa_analytics::protect::Rate::new(
        exact_copy(rate.numerator()),
        exact_copy(rate.denominator()),
        rate.per(),
    )
    .with_dispersion(rate.dispersion());
    let (plo, phi) = plain.interval().unwrap();
    assert!(rlo < plo && phi < rhi, "{rlo}..{rhi} against {plo}..{phi}");

    // Without DP nothing carries noise, and there is no accounting.
    let a = run(&answers, 4, Protection::default());
    assert!(a.privacy.is_none());
    assert_eq!(a.age.total.numerator().noise_variance(), 0.0);
}

/// The same count without its noise variance: published by a protection that publishes
/// exact counts (threshold 1, base 1).
fn exact_copy(c: Published) -> Published {
    let p = Protection::new(1, 1).unwrap();
    p.single(cocoa_analytics::protect::Cell::count(c.get().unwrap()))
}

#[test]
fn noise_that_cannot_be_drawn_publishes_nothing() {
    // A zCDP budget this large overflows opendp's conversion: the release fails closed.
    let answers = group(1, 300, 3, 1, 4, 60);
    let budget = DpBudget::new(1e300, Some(1e-6)).unwrap();
    let a = run(&answers, 4, Protection::default().with_dp(budget));
    let acc = a.privacy.unwrap();
    assert!(acc
        .error
        .as_deref()
        .unwrap()
        .contains("differential privacy"));
    assert!(a.answers.is_suppressed());
    assert!(a.age.total.denominator().is_suppressed());
    assert!(a
        .daily
        .rows
        .iter()
        .all(|r| r.respondents_with_data.is_suppressed()));
    assert!(a
        .cooperation
        .received
        .rows
        .iter()
        .all(|r| r.answers.is_suppressed()));
}
