//! Answers generated from a known model, for the planted-effect tests.
#![allow(dead_code)]

use cocoa_analytics::inputs::DailySeries;
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 2022-04-07.
pub const FIRST: i64 = 19_089;

/// The planted model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub answers: usize,
    pub days: i64,
    /// Flags on day d follow the 7-day registrations around d − lag.
    pub lag: i64,
    /// Flag probability ∝ registrations7^elasticity.
    pub elasticity: f64,
    /// Flag probability ∝ exp(activity_effect × index).
    pub activity_effect: f64,
    /// Rate ratio of flagged days against non-commuters: commute 1, 2, 3, no answer.
    pub rate_ratio: [f64; 4],
    /// Flag probability per respondent-day at the mean registrations, for commute 1 and age
    /// factor 1.
    pub base: f64,
    /// Share consenting to the daily data.
    pub consent: f64,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            answers: 3000,
            days: 150,
            lag: -4,
            elasticity: 0.8,
            activity_effect: 0.25,
            rate_ratio: [1.0, 1.5, 2.0, 1.2],
            base: 0.012,
            consent: 0.7,
        }
    }
}

/// Age factor of the flag rate (younger: more), and the commuting mix (younger: more public
/// transport): age confounds commuting.
pub fn age_factor(age: u8) -> f64 {
    1.6 - 0.1 * f64::from(age)
}

fn commute_weights(age: u8) -> [f64; 4] {
    let a = f64::from(age);
    [0.2 + 0.05 * a, 0.3, 0.6 - 0.05 * a, 0.1]
}

fn normal(rng: &mut StdRng) -> f64 {
    let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A generated survey with its side inputs.
#[derive(Debug)]
pub struct Planted {
    pub answers: Vec<SurveyResponse>,
    pub registrations: DailySeries<u64>,
    pub activity: DailySeries<f64>,
}

pub fn generate(model: &Model, seed: u64) -> Planted {
    let mut rng = StdRng::seed_from_u64(seed);
    let margin = 40;
    // Registrations: a wave and a random walk, as whole numbers.
    let phase: f64 = rng.gen_range(0.0..6.3);
    let mut walk = 0.0;
    let mut regs = Vec::new();
    for d in FIRST - margin..FIRST + model.days + margin {
        walk += 0.1 * normal(&mut rng);
        let t = (d - FIRST) as f64;
        let log = 1500f64.ln() + 0.8 * (2.0 * std::f64::consts::PI * t / 60.0 + phase).sin() + walk;
        regs.push((d, log.exp().round() as u64));
    }
    // Keep the walk from drifting far: recentre on its mean.
    let mean_log = regs.iter().map(|&(_, r)| (r as f64).ln()).sum::<f64>() / regs.len() as f64;
    let shift = 1500f64.ln() - mean_log;
    for r in &mut regs {
        r.1 = ((r.1 as f64).ln() + shift).exp().round().max(1.0) as u64;
    }
    let reg = |d: i64| regs[(d - (FIRST - margin)) as usize].1 as f64;
    let reg7 = |d: i64| (d - 3..=d + 3).map(reg).sum::<f64>() / 7.0;
    let activity: Vec<(i64, f64)> = (FIRST..FIRST + model.days)
        .map(|d| {
            let t = (d - FIRST) as f64;
            (
                d,
                (2.0 * std::f64::consts::PI * t / 23.0).sin() + 0.5 * normal(&mut rng),
            )
        })
        .collect();
    let day_factor: Vec<f64> = (0..model.days)
        .map(|i| {
            let d = FIRST + i;
            model.base
                * (reg7(d - model.lag) / 1500.0).powf(model.elasticity)
                * (model.activity_effect * activity[i as usize].1).exp()
        })
        .collect();

    let mut answers = Vec::with_capacity(model.answers);
    for _ in 0..model.answers {
        let age: u8 = rng.gen_range(1..=9);
        let w = commute_weights(age);
        let mut u = rng.gen::<f64>() * w.iter().sum::<f64>();
        let mut g = 0;
        while g < 3 && u >= w[g] {
            u -= w[g];
            g += 1;
        }
        let commute = if g == 3 {
            None
        } else {
            Commute::new(g as u8 + 1)
        };
        let days = if rng.gen::<f64>() < model.consent {
            let start = rng.gen_range(0..30);
            let end = rng.gen_range(model.days - 30..model.days);
            let factor = model.rate_ratio[g] * age_factor(age);
            let mut list = Vec::new();
            for i in start..=end {
                let flagged = rng.gen::<f64>() < day_factor[i as usize] * factor;
                if flagged || i == start || i == end {
                    list.push(SurveyDayFlag {
                        day: FIRST + i,
                        exposure_detected: flagged,
                    });
                }
            }
            Some(list)
        } else {
            None
        };
        answers.push(SurveyResponse {
            id_hash: String::new(),
            received_day: FIRST + model.days - 1,
            age_group: AgeGroup::new(age),
            commute,
            start_day: rng.gen_bool(0.8).then_some(FIRST - rng.gen_range(0..700)),
            days,
        });
    }
    Planted {
        answers,
        registrations: DailySeries::from_points(regs).unwrap(),
        activity: DailySeries::from_points(activity).unwrap(),
    }
}
