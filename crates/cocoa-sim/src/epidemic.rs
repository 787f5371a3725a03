//! The epidemic: each person's course (susceptible → exposed → presymptomatic or asymptomatic
//! infectious → symptomatic → recovered) drawn once at infection as the days of its transitions,
//! transmission per contact from its duration and distance, imported cases, and the care path's
//! calendar (symptom onset, test, result).
//!
//! Time is whole days: a person infected on day d is infectious from day d + 1 at the earliest,
//! so the order of a day's contacts does not matter.

use cocoa_api::AgeGroup;
use rand::Rng;
use serde::Serialize;

use crate::contacts::{Contact, Setting};
use crate::dist;
use crate::population::PersonId;
use crate::scenario::{ByAge, Disease};

/// "No such day" in per-person day tables.
pub(crate) const NEVER: u32 = u32::MAX;

/// Where a person is in the course of the disease on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Susceptible,
    /// Immune from the start (never infected in the simulation).
    Immune,
    /// Infected, not yet infectious.
    Exposed,
    /// Infectious, symptoms still to come.
    Presymptomatic,
    /// Infectious, and will never have symptoms.
    Asymptomatic,
    /// Infectious with symptoms.
    Symptomatic,
    Recovered,
}

/// One infection's timeline, in simulated days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Course {
    pub infected: u32,
    /// First infectious day.
    pub infectious_from: u32,
    /// First day no longer infectious.
    pub infectious_until: u32,
    /// Day of symptom onset; `None` for an asymptomatic course.
    pub onset: Option<u32>,
    /// Relative infectiousness (1, or the asymptomatic factor).
    pub infectiousness: f32,
}

/// Draws courses from the scenario's natural history.
#[derive(Debug, Clone)]
pub struct NaturalHistory {
    incubation_shape: f64,
    incubation_scale: f64,
    presymptomatic_days: u32,
    symptomatic_days: u32,
    asymptomatic_days: u32,
    asymptomatic_share: ByAge,
    asymptomatic_infectiousness: f32,
}

impl NaturalHistory {
    pub fn new(d: &Disease) -> Self {
        Self {
            incubation_shape: d.incubation_shape,
            incubation_scale: d.incubation_mean_days / d.incubation_shape,
            presymptomatic_days: d.presymptomatic_days,
            symptomatic_days: d.symptomatic_days,
            asymptomatic_days: d.asymptomatic_days,
            asymptomatic_share: d.asymptomatic_share_by_age,
            asymptomatic_infectiousness: d.asymptomatic_infectiousness as f32,
        }
    }

    /// The course of an infection of a person of `age` on `day`: incubation from the gamma
    /// (at least one day), infectious from `presymptomatic_days` before onset (after at least a
    /// day of latency) for `symptomatic_days` from onset; an asymptomatic course is infectious
    /// from the same day for `asymptomatic_days`, at reduced infectiousness.
    pub fn course(&self, age: AgeGroup, day: u32, rng: &mut impl Rng) -> Course {
        let incubation = dist::gamma(rng, self.incubation_shape, self.incubation_scale);
        let onset = day + (incubation.round() as u32).max(1);
        let from = (day + 1).max(onset.saturating_sub(self.presymptomatic_days));
        if dist::chance(rng, self.asymptomatic_share[usize::from(age.get() - 1)]) {
            Course {
                infected: day,
                infectious_from: from,
                infectious_until: from + self.asymptomatic_days,
                onset: None,
                infectiousness: self.asymptomatic_infectiousness,
            }
        } else {
            Course {
                infected: day,
                infectious_from: from,
                infectious_until: onset + self.symptomatic_days,
                onset: Some(onset),
                infectiousness: 1.0,
            }
        }
    }
}

/// The probability that one contact transmits:
/// `1 - exp(-beta * weight * infectiousness * minutes * min(1, (reference / distance)^2))`.
///
/// A constant hazard per minute of exposure (so long contacts saturate instead of growing without
/// bound), scaled by the setting (masks, ventilation, talking) and the infector's stage, and
/// diluted with the square of the distance beyond the reference distance (droplets and aerosol
/// spreading out); no dilution closer than that.
pub fn transmission_probability(
    beta_per_minute: f64,
    weight: f64,
    infectiousness: f64,
    minutes: f64,
    distance_m: f64,
    reference_m: f64,
) -> f64 {
    let dilution = if distance_m <= reference_m {
        1.0
    } else {
        (reference_m / distance_m).powi(2)
    };
    1.0 - (-beta_per_minute * weight * infectiousness * minutes * dilution).exp()
}

/// How a person got infected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    /// From outside the city (or a seed case of day 0).
    Imported,
    /// By a contact in the city.
    Contact {
        infector: PersonId,
        setting: Setting,
    },
}

/// A new infection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Infection {
    pub person: PersonId,
    pub source: Source,
    pub course: Course,
}

/// Why a test was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestReason {
    /// The person has symptoms.
    Symptoms,
    /// The person's phone was notified.
    Notified,
}

/// What the care path has due on a day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scheduled {
    Onset(PersonId),
    Test(PersonId, TestReason),
    Result {
        person: PersonId,
        test_day: u32,
        reason: TestReason,
        positive: bool,
    },
}

impl Scheduled {
    /// The order a day's items are handled in: onsets, then tests, then results, each by
    /// person; so the order the driver reported notifications in does not matter.
    fn order(&self) -> (u8, PersonId) {
        match *self {
            Scheduled::Onset(p) => (0, p),
            Scheduled::Test(p, _) => (1, p),
            Scheduled::Result { person, .. } => (2, person),
        }
    }
}

/// Status codes of the per-day lookup table: `a | b == 3` finds an infectious-susceptible pair.
const OTHER: u8 = 0;
const SUSCEPTIBLE: u8 = 1;
const INFECTIOUS: u8 = 2;

/// Everyone's disease state and the care path's calendar.
#[derive(Debug, Clone)]
pub struct Epidemic {
    history: NaturalHistory,
    beta: f64,
    reference_m: f64,
    weights: [f64; 5],
    infected: Vec<u32>,
    from: Vec<u32>,
    until: Vec<u32>,
    onset: Vec<u32>,
    infectiousness: Vec<f32>,
    immune: Vec<bool>,
    offspring: Vec<u32>,
    status: Vec<u8>,
    positive_on: Vec<u32>,
    test_pending: Vec<bool>,
    calendar: Vec<Vec<Scheduled>>,
}

impl Epidemic {
    /// Everyone susceptible but the `immune` ones.
    pub fn new(disease: &Disease, setting_weights: [f64; 5], immune: Vec<bool>) -> Self {
        let n = immune.len();
        Self {
            history: NaturalHistory::new(disease),
            beta: disease.beta_per_minute,
            reference_m: disease.reference_distance_m,
            weights: setting_weights,
            infected: vec![NEVER; n],
            from: vec![NEVER; n],
            until: vec![NEVER; n],
            onset: vec![NEVER; n],
            infectiousness: vec![0.0; n],
            immune,
            offspring: vec![0; n],
            status: vec![OTHER; n],
            positive_on: vec![NEVER; n],
            test_pending: vec![false; n],
            calendar: Vec::new(),
        }
    }

    /// The person's state on `day`.
    pub fn state(&self, person: PersonId, day: u32) -> HealthState {
        let i = person.index();
        if self.immune[i] {
            HealthState::Immune
        } else if self.infected[i] == NEVER || day < self.infected[i] {
            HealthState::Susceptible
        } else if day < self.from[i] {
            HealthState::Exposed
        } else if day >= self.until[i] {
            HealthState::Recovered
        } else if self.onset[i] == NEVER {
            HealthState::Asymptomatic
        } else if day < self.onset[i] {
            HealthState::Presymptomatic
        } else {
            HealthState::Symptomatic
        }
    }

    /// Whether the person can still be infected.
    pub fn is_susceptible(&self, person: PersonId) -> bool {
        !self.immune[person.index()] && self.infected[person.index()] == NEVER
    }

    /// The day the person was infected.
    pub fn infected_on(&self, person: PersonId) -> Option<u32> {
        Some(self.infected[person.index()]).filter(|&d| d != NEVER)
    }

    /// The day of symptom onset, if the person had or will have symptoms.
    pub fn onset(&self, person: PersonId) -> Option<u32> {
        Some(self.onset[person.index()]).filter(|&d| d != NEVER)
    }

    /// How many people the person infected.
    pub fn offspring(&self, person: PersonId) -> u32 {
        self.offspring[person.index()]
    }

    /// Refreshes the per-day status table (O(people)); returns how many are infectious.
    pub(crate) fn begin_day(&mut self, day: u32) -> u64 {
        let mut infectious = 0;
        for i in 0..self.status.len() {
            self.status[i] = if self.immune[i] {
                OTHER
            } else if self.infected[i] == NEVER {
                SUSCEPTIBLE
            } else if self.from[i] <= day && day < self.until[i] {
                infectious += 1;
                INFECTIOUS
            } else {
                OTHER
            };
        }
        infectious
    }

    /// Transmission over the day's contacts; new infections are appended to `out`.
    pub(crate) fn transmit(
        &mut self,
        contacts: &[Contact],
        ages: &[AgeGroup],
        day: u32,
        rng: &mut impl Rng,
        out: &mut Vec<Infection>,
    ) {
        for c in contacts {
            let (sa, sb) = (self.status[c.a.index()], self.status[c.b.index()]);
            if sa | sb != SUSCEPTIBLE | INFECTIOUS {
                continue;
            }
            let (infector, infectee) = if sa == INFECTIOUS {
                (c.a, c.b)
            } else {
                (c.b, c.a)
            };
            let p = transmission_probability(
                self.beta,
                self.weights[c.setting.index()],
                f64::from(self.infectiousness[infector.index()]),
                f64::from(c.duration_minutes),
                f64::from(c.distance_m),
                self.reference_m,
            );
            if dist::chance(rng, p) {
                let source = Source::Contact {
                    infector,
                    setting: c.setting,
                };
                out.push(self.infect(infectee, ages[infectee.index()], day, source, rng));
            }
        }
    }

    /// Infects a susceptible person on `day`: draws the course and schedules the onset.
    pub(crate) fn infect(
        &mut self,
        person: PersonId,
        age: AgeGroup,
        day: u32,
        source: Source,
        rng: &mut impl Rng,
    ) -> Infection {
        debug_assert!(self.is_susceptible(person));
        let course = self.history.course(age, day, rng);
        let i = person.index();
        self.infected[i] = course.infected;
        self.from[i] = course.infectious_from;
        self.until[i] = course.infectious_until;
        self.onset[i] = course.onset.unwrap_or(NEVER);
        self.infectiousness[i] = course.infectiousness;
        self.status[i] = OTHER;
        if let Source::Contact { infector, .. } = source {
            self.offspring[infector.index()] += 1;
        }
        if let Some(onset) = course.onset {
            self.schedule(onset, Scheduled::Onset(person));
        }
        Infection {
            person,
            source,
            course,
        }
    }

    /// Whether a test taken on `test_day` finds the person positive: infected between
    /// `from_days` and `until_days` days before.
    pub(crate) fn test_positive(
        &self,
        person: PersonId,
        test_day: u32,
        from_days: u32,
        until_days: u32,
    ) -> bool {
        self.infected_on(person)
            .is_some_and(|d| test_day >= d && (from_days..=until_days).contains(&(test_day - d)))
    }

    /// Schedules a test on `day` unless one is pending or the person already tested positive.
    pub(crate) fn schedule_test(&mut self, person: PersonId, day: u32, reason: TestReason) -> bool {
        let i = person.index();
        if self.test_pending[i] || self.positive_on[i] != NEVER {
            return false;
        }
        self.test_pending[i] = true;
        self.schedule(day, Scheduled::Test(person, reason));
        true
    }

    /// Records a result: no test is pending any more; a positive one is remembered.
    pub(crate) fn record_result(&mut self, person: PersonId, day: u32, positive: bool) {
        let i = person.index();
        self.test_pending[i] = false;
        if positive && self.positive_on[i] == NEVER {
            self.positive_on[i] = day;
        }
    }

    /// The day of the person's positive result, if any.
    pub fn positive_on(&self, person: PersonId) -> Option<u32> {
        Some(self.positive_on[person.index()]).filter(|&d| d != NEVER)
    }

    pub(crate) fn schedule(&mut self, day: u32, what: Scheduled) {
        let d = day as usize;
        if self.calendar.len() <= d {
            self.calendar.resize_with(d + 1, Vec::new);
        }
        self.calendar[d].push(what);
    }

    /// Takes what is due on `day`, in a fixed order (see `Scheduled::order`).
    pub(crate) fn take_due(&mut self, day: u32) -> Vec<Scheduled> {
        let mut due = self
            .calendar
            .get_mut(day as usize)
            .map(std::mem::take)
            .unwrap_or_default();
        due.sort_by_key(Scheduled::order);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn transmission_probability_follows_its_formula() {
        let p = transmission_probability(0.01, 1.0, 1.0, 10.0, 0.5, 1.0);
        assert!((p - (1.0 - (-0.1f64).exp())).abs() < 1e-12);
        // Twice the distance beyond the reference: a quarter of the hazard.
        let far = transmission_probability(0.01, 1.0, 1.0, 10.0, 2.0, 1.0);
        assert!((far - (1.0 - (-0.025f64).exp())).abs() < 1e-12);
        assert_eq!(
            transmission_probability(0.0, 1.0, 1.0, 600.0, 0.1, 1.0),
            0.0
        );
        assert!(transmission_probability(0.01, 1.0, 1.0, 20.0, 1.0, 1.0) > p);
    }

    #[test]
    fn courses_keep_their_order_of_events() {
        let history = NaturalHistory::new(&Disease::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let age = AgeGroup::new(5).unwrap();
        let (mut asymptomatic, mut incubation) = (0, 0.0);
        let n = 20_000;
        for _ in 0..n {
            let c = history.course(age, 10, &mut rng);
            assert!(c.infectious_from > c.infected);
            assert!(c.infectious_until > c.infectious_from);
            match c.onset {
                Some(onset) => {
                    assert!(onset >= c.infectious_from && onset < c.infectious_until);
                    incubation += f64::from(onset - 10);
                }
                None => asymptomatic += 1,
            }
        }
        let share = f64::from(asymptomatic) / f64::from(n);
        assert!((share - 0.324).abs() < 0.015, "{share}");
        let mean = incubation / f64::from(n - asymptomatic);
        assert!((mean - 2.6).abs() < 0.15, "{mean}");
    }
}
