//! The day's contacts: household (every pair, long and near), school and work (within classes
//! and work groups), public transport (commuters shuffled into carriages with strangers, meeting
//! their neighbours) and community (random partners, short). Counts scale with the day's activity
//! and each person's behaviour multiplier (notified, symptomatic, isolating).
//!
//! Cost: O(people + contacts) per day. Scratch buffers live in the generator and are reused, each
//! contact's timing and distance come from one 64-bit draw and a precomputed table of durations,
//! and nothing is allocated per contact beyond the caller's output `Vec`.

use rand::Rng;
use serde::Serialize;

use crate::dist;
use crate::population::{GroupKind, PersonId, Population};
use crate::scenario::{Distance, Duration, Scenario, Window};
use crate::time::MINUTES_PER_DAY;

/// Where a contact happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Setting {
    Household = 0,
    School = 1,
    Work = 2,
    Transit = 3,
    Community = 4,
}

impl Setting {
    pub const ALL: [Setting; 5] = [
        Setting::Household,
        Setting::School,
        Setting::Work,
        Setting::Transit,
        Setting::Community,
    ];

    /// Index 0..5, for per-setting tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Two people near each other for a while on one day. `a < b` is not implied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contact {
    pub a: PersonId,
    pub b: PersonId,
    /// Minute of the local (JST) day it starts, 0..1440.
    pub start_minute: u16,
    /// Minutes, at least 1; it ends by midnight.
    pub duration_minutes: u16,
    /// Metres between the two.
    pub distance_m: f32,
    pub setting: Setting,
}

/// Draws a contact's start, duration and distance for one setting from a single 64-bit value.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    /// Durations at 1024 evenly spaced quantiles of the log-normal.
    durations: Box<[u16; TABLE]>,
    start_from: u16,
    start_span: u32,
    distance_min: f32,
    distance_span: f32,
}

const TABLE: usize = 1024;

/// Pairs in a carriage start meeting within this many minutes of its departure.
const BOARDING_SPREAD_MINUTES: u32 = 10;

impl Timing {
    pub(crate) fn new(duration: Duration, distance: Distance, start: Window) -> Self {
        let mut durations = Box::new([0u16; TABLE]);
        for (k, d) in durations.iter_mut().enumerate() {
            let z = dist::inverse_normal((k as f64 + 0.5) / TABLE as f64);
            let minutes = (duration.median * (duration.sigma * z).exp()).round();
            *d = minutes.clamp(1.0, f64::from(MINUTES_PER_DAY)) as u16;
        }
        Self {
            durations,
            start_from: start.from,
            start_span: u32::from(start.to - start.from) + 1,
            distance_min: distance.min as f32,
            distance_span: (distance.max - distance.min) as f32,
        }
    }

    /// A contact of `a` and `b` starting within the setting's window.
    #[inline]
    fn contact(&self, rng: &mut impl Rng, a: PersonId, b: PersonId, setting: Setting) -> Contact {
        self.contact_in(rng, a, b, setting, self.start_from, self.start_span)
    }

    /// A contact starting in `from .. from + span` (minutes, cut at the day's last minute).
    #[inline]
    fn contact_in(
        &self,
        rng: &mut impl Rng,
        a: PersonId,
        b: PersonId,
        setting: Setting,
        from: u16,
        span: u32,
    ) -> Contact {
        let bits = rng.next_u64();
        let duration = self.durations[(bits & (TABLE as u64 - 1)) as usize];
        let fraction = ((bits >> 10) & 0x3f_ffff) as f32 / (1u32 << 22) as f32;
        let offset = ((bits >> 32) * u64::from(span)) >> 32;
        let start = (u64::from(from) + offset).min(u64::from(MINUTES_PER_DAY - 1)) as u16;
        Contact {
            a,
            b,
            start_minute: start,
            duration_minutes: duration.min(MINUTES_PER_DAY - start),
            distance_m: self.distance_min + self.distance_span * fraction,
            setting,
        }
    }

    /// A start minute in the setting's window.
    #[inline]
    fn start(&self, rng: &mut impl Rng) -> u16 {
        self.start_from + dist::index(rng, self.start_span as usize) as u16
    }
}

/// What changes from day to day for the generator.
#[derive(Debug, Clone, Copy)]
pub struct DayInput<'a> {
    /// Multiplier of every contact outside households.
    pub activity: f64,
    /// Work takes place.
    pub work: bool,
    /// School takes place.
    pub school: bool,
    /// Per person, the share of outside contacts kept (1 = normal, 0 = none): presence at school,
    /// work and on transport is drawn with it, community contacts scale with it.
    pub behaviour: &'a [f32],
}

/// Makes each day's contacts; owns the reusable scratch buffers.
#[derive(Debug, Clone)]
pub struct ContactGenerator {
    household: Timing,
    school: Timing,
    work: Timing,
    transit_morning: Timing,
    transit_evening: Timing,
    community: Timing,
    school_per_day: f64,
    work_per_day: f64,
    per_ride: f64,
    carriage: usize,
    community_per_day: f64,
    weekend_multiplier: f64,
    telework: f64,
    present: Vec<PersonId>,
    riders: Vec<PersonId>,
}

impl ContactGenerator {
    pub fn new(scenario: &Scenario) -> Self {
        let k = &scenario.contacts;
        let t = &k.transit;
        Self {
            household: Timing::new(
                k.household.duration,
                k.household.distance,
                k.household.start,
            ),
            school: Timing::new(k.school.duration, k.school.distance, k.school.start),
            work: Timing::new(k.work.duration, k.work.distance, k.work.start),
            transit_morning: Timing::new(t.duration, t.distance, t.morning),
            transit_evening: Timing::new(t.duration, t.distance, t.evening),
            community: Timing::new(
                k.community.duration,
                k.community.distance,
                k.community.start,
            ),
            school_per_day: k.school.per_day,
            work_per_day: k.work.per_day,
            per_ride: t.per_ride * t.multiplier,
            carriage: t.carriage_riders as usize,
            community_per_day: k.community.per_day,
            weekend_multiplier: k.community.weekend_multiplier,
            telework: scenario.commuting.telework_day_probability,
            present: Vec::new(),
            riders: Vec::new(),
        }
    }

    /// Appends the day's contacts to `out` (which the caller clears and reuses).
    pub fn generate(
        &mut self,
        population: &Population,
        day: DayInput<'_>,
        rng: &mut impl Rng,
        out: &mut Vec<Contact>,
    ) {
        self.households(population, rng, out);
        self.riders.clear();
        if day.work || day.school {
            self.groups(population, day, rng, out);
        }
        self.transit(day, rng, out);
        self.community(population, day, rng, out);
    }

    /// Every pair of household members, every day.
    fn households(&self, population: &Population, rng: &mut impl Rng, out: &mut Vec<Contact>) {
        for h in 0..population.households() as u32 {
            let members = population.household_members(h);
            for a in members.clone() {
                for b in a + 1..members.end {
                    out.push(self.household.contact(
                        rng,
                        PersonId(a),
                        PersonId(b),
                        Setting::Household,
                    ));
                }
            }
        }
    }

    /// Who goes to school or work today, their contacts there, and the public-transport riders.
    fn groups(
        &mut self,
        population: &Population,
        day: DayInput<'_>,
        rng: &mut impl Rng,
        out: &mut Vec<Contact>,
    ) {
        for g in 0..population.groups() as u32 {
            let (kind, members) = population.group(g);
            let (open, telework, per_day, timing, setting) = match kind {
                GroupKind::School => (
                    day.school,
                    0.0,
                    self.school_per_day,
                    &self.school,
                    Setting::School,
                ),
                GroupKind::Work => (
                    day.work,
                    self.telework,
                    self.work_per_day,
                    &self.work,
                    Setting::Work,
                ),
            };
            if !open {
                continue;
            }
            self.present.clear();
            for &p in members {
                if dist::chance(rng, f64::from(day.behaviour[p.index()]))
                    && !dist::chance(rng, telework)
                {
                    self.present.push(p);
                    if population.person(p).rides_public_transport() {
                        self.riders.push(p);
                    }
                }
            }
            let n = self.present.len();
            if n < 2 {
                continue;
            }
            // Each present member starts half their contacts and receives the other half.
            let mean = per_day * day.activity / 2.0;
            for i in 0..n {
                for _ in 0..dist::stochastic_round(rng, mean) {
                    let mut j = dist::index(rng, n - 1);
                    if j >= i {
                        j += 1;
                    }
                    out.push(timing.contact(rng, self.present[i], self.present[j], setting));
                }
            }
        }
    }

    /// Two rides a day: riders shuffled into carriages, each meeting the next few riders in the
    /// shuffled order (and so, symmetrically, the previous few).
    fn transit(&mut self, day: DayInput<'_>, rng: &mut impl Rng, out: &mut Vec<Contact>) {
        let mean = self.per_ride * day.activity / 2.0;
        for evening in [false, true] {
            dist::shuffle(rng, &mut self.riders);
            let timing = if evening {
                &self.transit_evening
            } else {
                &self.transit_morning
            };
            for carriage in self.riders.chunks(self.carriage) {
                let n = carriage.len();
                if n < 2 {
                    continue;
                }
                // A carriage departs once; its pairs start within ten minutes of it.
                let departure = timing.start(rng);
                // At most half the others ahead, so that no pair meets twice around the ring
                // (two riders: only the first one looks ahead).
                let most = ((n - 1) / 2).max(1);
                let lookers = if n == 2 { 1 } else { n };
                for i in 0..lookers {
                    let k = (dist::stochastic_round(rng, mean) as usize).min(most);
                    for step in 1..=k {
                        let j = (i + step) % n;
                        out.push(timing.contact_in(
                            rng,
                            carriage[i],
                            carriage[j],
                            Setting::Transit,
                            departure,
                            BOARDING_SPREAD_MINUTES,
                        ));
                    }
                }
            }
        }
    }

    /// Random partners anywhere in the city.
    fn community(
        &self,
        population: &Population,
        day: DayInput<'_>,
        rng: &mut impl Rng,
        out: &mut Vec<Contact>,
    ) {
        let n = population.len();
        let weekend = if day.work {
            1.0
        } else {
            self.weekend_multiplier
        };
        let mean = self.community_per_day * day.activity * weekend / 2.0;
        for i in 0..n {
            let own = f64::from(day.behaviour[i]);
            for _ in 0..dist::poisson(rng, mean * own) {
                let mut j = dist::index(rng, n - 1);
                if j >= i {
                    j += 1;
                }
                if dist::chance(rng, f64::from(day.behaviour[j])) {
                    out.push(self.community.contact(
                        rng,
                        PersonId(i as u32),
                        PersonId(j as u32),
                        Setting::Community,
                    ));
                }
            }
        }
    }
}

/// Per person, the windows in which the driver's notifications and the care path change
/// behaviour. The model multiplies them into each day's behaviour multipliers.
#[derive(Debug, Clone)]
pub struct BehaviourState {
    /// Responding to a notification on days `[from, until)`.
    notified: Vec<(u32, u32)>,
    /// Isolating after a positive result, until this day (exclusive).
    isolated_until: Vec<u32>,
}

impl BehaviourState {
    pub fn new(people: usize) -> Self {
        Self {
            notified: vec![(0, 0); people],
            isolated_until: vec![0; people],
        }
    }

    /// The person responds to a notification on days `from..until`; a later window extends it.
    pub fn respond(&mut self, person: PersonId, from: u32, until: u32) {
        let w = &mut self.notified[person.index()];
        if w.1 > from && w.0 <= from {
            w.1 = w.1.max(until);
        } else {
            *w = (from, until);
        }
    }

    /// Whether the person is in a response window on `day`.
    pub fn responding(&self, person: PersonId, day: u32) -> bool {
        let (from, until) = self.notified[person.index()];
        from <= day && day < until
    }

    /// The person isolates until `until` (exclusive).
    pub fn isolate(&mut self, person: PersonId, until: u32) {
        let w = &mut self.isolated_until[person.index()];
        *w = (*w).max(until);
    }

    /// Whether the person isolates on `day`.
    pub fn isolating(&self, person: PersonId, day: u32) -> bool {
        day < self.isolated_until[person.index()]
    }
}
