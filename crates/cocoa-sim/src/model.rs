//! The city: population, epidemic and behaviour, stepped one day at a time. Each step fills a
//! caller-owned [`DayEvents`] (reused day to day) with what the driver acts on: COCOA installs,
//! phones left at home, contacts, infections, symptom onsets, tests and positive results (with
//! the phone that registers, if any). The driver reports back notifications with
//! [`City::notify`]. Ground truth is counted as it goes ([`City::truth`]).
//!
//! All randomness comes from the scenario's seed: the day-to-day dynamics from one ChaCha8
//! stream, and the draws of `notify` and `survey` from streams derived from (person, day) and
//! (phone), so that the order in which the driver reports notifications does not matter.

use cocoa_api::{AgeGroup, Commute};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::contacts::{BehaviourState, Contact, ContactGenerator, DayInput, Setting};
use crate::dist;
use crate::epidemic::{Epidemic, HealthState, Infection, Scheduled, Source, TestReason, NEVER};
use crate::error::Error;
use crate::population::{PersonId, PhoneId, Population};
use crate::radio::RadioModel;
use crate::scenario::{DayKind, Scenario};
use crate::time::{Date, Day};
use crate::truth::{cell, ByInfectorState, BySetting, DayTruth, GroupTruth, Truth};

/// Streams of the seed used by the model itself; [`City::derived_rng`] takes the others.
const STREAM_POPULATION: u64 = 0;
const STREAM_DYNAMICS: u64 = 1;
const STREAM_NOTIFY: u64 = 2;
const STREAM_SURVEY: u64 = 3;
/// The first stream a driver may use with [`City::derived_rng`].
pub const FIRST_DRIVER_STREAM: u64 = 16;

/// A test taken today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TestTaken {
    pub person: PersonId,
    pub reason: TestReason,
}

/// A positive result, known today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PositiveResult {
    pub person: PersonId,
    /// The day the test was taken.
    pub test_day: Day,
    /// Symptom onset, if the person has had symptoms (the registration's onset date).
    pub onset_day: Option<Day>,
    /// The COCOA phone the person registers from (the health centre issues a processing number
    /// for it); `None` when the person has no COCOA phone in use or does not consent.
    pub register_phone: Option<PhoneId>,
}

/// Two COCOA phones near each other: the driver records a sighting of each by the other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encounter {
    pub phone_a: PhoneId,
    pub phone_b: PhoneId,
    /// The owners' contact (`contact.a` owns `phone_a`).
    pub contact: Contact,
}

/// What happened on one simulated day. Owned by the caller and refilled by [`City::step`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayEvents {
    pub day: Day,
    /// Activity multiplier of the day.
    pub activity: f64,
    /// Work took place.
    pub work: bool,
    /// School took place.
    pub school: bool,
    /// COCOA phones that start today (on day 0: every phone installed by then). Each starts
    /// advertising and scanning today.
    pub installs: Vec<PhoneId>,
    /// COCOA phones left at home today (in ascending order): they record only household
    /// contacts.
    pub left_at_home: Vec<PhoneId>,
    /// Every contact of the day, phones or not.
    pub contacts: Vec<Contact>,
    /// New infections (infectious from a later day).
    pub infections: Vec<Infection>,
    /// People whose symptoms start today.
    pub onsets: Vec<PersonId>,
    /// Tests taken today.
    pub tests: Vec<TestTaken>,
    /// Positive results known today.
    pub positives: Vec<PositiveResult>,
}

impl DayEvents {
    fn clear(&mut self) {
        self.installs.clear();
        self.left_at_home.clear();
        self.contacts.clear();
        self.infections.clear();
        self.onsets.clear();
        self.tests.clear();
        self.positives.clear();
    }
}

/// One answer the survey will get from a phone (the driver submits it through the real API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyIntent {
    pub phone: PhoneId,
    /// `None`: "no answer".
    pub age_group: Option<AgeGroup>,
    /// `None`: "no answer". A phone usually left behind answers "does not commute".
    pub commute: Option<Commute>,
    /// The date COCOA was installed, when the owner consents to send it.
    pub start_date: Option<Date>,
    /// The owner consents to send the daily data.
    pub daily_data: bool,
}

/// The simulated city.
#[derive(Debug, Clone)]
pub struct City {
    scenario: Scenario,
    population: Population,
    epidemic: Epidemic,
    behaviour: BehaviourState,
    generator: ContactGenerator,
    radio: RadioModel,
    rng: ChaCha8Rng,
    /// The next day to simulate.
    next_day: u32,
    ages: Vec<AgeGroup>,
    cells: Vec<u8>,
    /// Per phone, the first simulated day it runs COCOA (`NEVER`: no COCOA).
    active_from: Vec<u32>,
    /// COCOA phones by `active_from`, and how many have started.
    install_order: Vec<PhoneId>,
    installed: usize,
    /// Per phone, the last day it was left at home.
    left_home_on: Vec<u32>,
    registered: Vec<bool>,
    notified: Vec<bool>,
    multipliers: Vec<f32>,
    imports_curve: Vec<(i64, f64)>,
    truth: Truth,
}

impl City {
    /// Builds the city of a scenario (validated first).
    pub fn new(scenario: Scenario) -> Result<Self, Error> {
        scenario.validate()?;
        let mut rng = derived(scenario.seed, STREAM_POPULATION, 0, 0);
        let population = Population::build(&scenario, &mut rng);
        let n = population.len();
        let immune: Vec<bool> = (0..n)
            .map(|_| dist::chance(&mut rng, scenario.disease.initial_immune_share))
            .collect();
        let k = &scenario.contacts;
        let weights = [
            k.household.transmission_weight,
            k.school.transmission_weight,
            k.work.transmission_weight,
            k.transit.transmission_weight,
            k.community.transmission_weight,
        ];
        let epidemic = Epidemic::new(&scenario.disease, weights, immune);
        let ages: Vec<AgeGroup> = population.people().iter().map(|p| p.age).collect();
        let cells: Vec<u8> = population
            .people()
            .iter()
            .map(|p| cell(p.age.get(), p.commute.get()) as u8)
            .collect();
        let active_from: Vec<u32> = population
            .phones()
            .iter()
            .map(|phone| match phone.cocoa_since {
                Some(date) if date <= scenario.start_date => 0,
                Some(date) => scenario.day_of(date).map_or(NEVER, |d| d.0),
                None => NEVER,
            })
            .collect();
        let mut install_order: Vec<PhoneId> = (0..active_from.len() as u32)
            .map(PhoneId)
            .filter(|p| active_from[p.index()] != NEVER)
            .collect();
        install_order.sort_by_key(|p| (active_from[p.index()], p.0));
        let mut groups: Vec<GroupTruth> = (1..=9u8)
            .flat_map(|age_group| {
                (1..=3u8).map(move |commute| GroupTruth {
                    age_group,
                    commute,
                    people: 0,
                    cocoa_phones: 0,
                    contacts: BySetting::default(),
                    person_days: 0,
                    infections: 0,
                    positives: 0,
                    registrations: 0,
                    notified_people: 0,
                    notifications: 0,
                })
            })
            .collect();
        for &c in &cells {
            groups[usize::from(c)].people += 1;
        }
        let imports_curve = scenario
            .imports
            .national_cases
            .iter()
            .map(|p| (p.date.epoch_day(), p.cases))
            .collect();
        Ok(Self {
            generator: ContactGenerator::new(&scenario),
            radio: RadioModel::new(&scenario.radio),
            rng: derived(scenario.seed, STREAM_DYNAMICS, 0, 0),
            behaviour: BehaviourState::new(n),
            next_day: 0,
            ages,
            cells,
            left_home_on: vec![NEVER; active_from.len()],
            active_from,
            install_order,
            installed: 0,
            registered: vec![false; n],
            notified: vec![false; n],
            multipliers: vec![1.0; n],
            imports_curve,
            truth: Truth {
                days: Vec::new(),
                groups,
                infections_by_infector_state: ByInfectorState::default(),
            },
            population,
            epidemic,
            scenario,
        })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn population(&self) -> &Population {
        &self.population
    }

    pub fn epidemic(&self) -> &Epidemic {
        &self.epidemic
    }

    /// The radio model of the scenario, for the driver's sightings.
    pub fn radio(&self) -> &RadioModel {
        &self.radio
    }

    /// The next day [`City::step`] will simulate.
    pub fn next_day(&self) -> Day {
        Day(self.next_day)
    }

    /// Whether every day of the scenario has been simulated (stepping on is allowed).
    pub fn is_finished(&self) -> bool {
        self.next_day >= self.scenario.days
    }

    /// Whether the phone runs COCOA on `day`.
    pub fn phone_active(&self, phone: PhoneId, day: Day) -> bool {
        self.active_from[phone.index()] <= day.0
    }

    /// The first day the phone runs COCOA in the simulation (day 0 for phones installed before
    /// the start; possibly after the scenario's last day); `None`: no COCOA.
    pub fn phone_active_from(&self, phone: PhoneId) -> Option<Day> {
        Some(self.active_from[phone.index()])
            .filter(|&d| d != NEVER)
            .map(Day)
    }

    /// A random generator of its own for the driver (per phone, say), derived from the seed,
    /// a `stream` (at least [`FIRST_DRIVER_STREAM`]; lower ones are the model's) and an index.
    pub fn derived_rng(&self, stream: u64, index: u64) -> ChaCha8Rng {
        derived(
            self.scenario.seed,
            stream.max(FIRST_DRIVER_STREAM),
            index,
            0,
        )
    }

    /// Simulates the next day into `out` (cleared first).
    pub fn step(&mut self, out: &mut DayEvents) {
        let day = self.next_day;
        self.next_day += 1;
        let kind: DayKind = self.scenario.day_kind(Day(day));
        out.clear();
        out.day = Day(day);
        out.activity = kind.activity;
        out.work = kind.work;
        out.school = kind.school;
        let mut today = DayTruth {
            day: Day(day),
            date: self.scenario.date(Day(day)),
            activity: kind.activity,
            work: kind.work,
            school: kind.school,
            contacts: BySetting::default(),
            infections: BySetting::default(),
            imported: 0,
            infectious: 0,
            onsets: 0,
            tests: 0,
            positives: 0,
            registrations: 0,
            notifications: 0,
            newly_notified_people: 0,
            cocoa_phones: 0,
            cohort_reproduction: None,
        };

        while let Some(&phone) = self.install_order.get(self.installed) {
            if self.active_from[phone.index()] > day {
                break;
            }
            out.installs.push(phone);
            self.installed += 1;
        }
        today.cocoa_phones = self.installed as u64;

        self.care_path(day, out, &mut today);
        self.update_multipliers(day);
        for &phone in &self.install_order[..self.installed] {
            if dist::chance(&mut self.rng, self.population.phone(phone).left_at_home) {
                self.left_home_on[phone.index()] = day;
                out.left_at_home.push(phone);
            }
        }
        out.left_at_home.sort_unstable();

        let input = DayInput {
            activity: kind.activity,
            work: kind.work,
            school: kind.school,
            behaviour: &self.multipliers,
        };
        self.generator
            .generate(&self.population, input, &mut self.rng, &mut out.contacts);

        today.infectious = self.epidemic.begin_day(day);
        self.epidemic.transmit(
            &out.contacts,
            &self.ages,
            day,
            &mut self.rng,
            &mut out.infections,
        );
        self.imports(day, out);

        for c in &out.contacts {
            today.contacts.add(c.setting, 1);
            self.truth.groups[usize::from(self.cells[c.a.index()])]
                .contacts
                .add(c.setting, 1);
            self.truth.groups[usize::from(self.cells[c.b.index()])]
                .contacts
                .add(c.setting, 1);
        }
        for g in &mut self.truth.groups {
            g.person_days += g.people;
        }
        for infection in &out.infections {
            self.truth.groups[usize::from(self.cells[infection.person.index()])].infections += 1;
            match infection.source {
                Source::Imported => today.imported += 1,
                Source::Contact { infector, setting } => {
                    today.infections.add(setting, 1);
                    let by = &mut self.truth.infections_by_infector_state;
                    match self.epidemic.state(infector, day) {
                        HealthState::Presymptomatic => by.presymptomatic += 1,
                        HealthState::Symptomatic => by.symptomatic += 1,
                        _ => by.asymptomatic += 1,
                    }
                }
            }
        }
        self.truth.days.push(today);
    }

    /// Onsets, tests and results due today (including those a zero delay makes due today).
    fn care_path(&mut self, day: u32, out: &mut DayEvents, today: &mut DayTruth) {
        let care = self.scenario.care.clone();
        loop {
            let due = self.epidemic.take_due(day);
            if due.is_empty() {
                break;
            }
            for item in due {
                match item {
                    Scheduled::Onset(person) => {
                        out.onsets.push(person);
                        today.onsets += 1;
                        if dist::chance(&mut self.rng, care.symptomatic_test_probability) {
                            self.epidemic.schedule_test(
                                person,
                                day + care.test_delay_days,
                                TestReason::Symptoms,
                            );
                        }
                    }
                    Scheduled::Test(person, reason) => {
                        out.tests.push(TestTaken { person, reason });
                        today.tests += 1;
                        let positive = self.epidemic.test_positive(
                            person,
                            day,
                            care.detectable_from_days,
                            care.detectable_until_days,
                        );
                        self.epidemic.schedule(
                            day + care.result_delay_days,
                            Scheduled::Result {
                                person,
                                test_day: day,
                                reason,
                                positive,
                            },
                        );
                    }
                    Scheduled::Result {
                        person,
                        test_day,
                        positive,
                        ..
                    } => {
                        let first = positive && self.epidemic.positive_on(person).is_none();
                        self.epidemic.record_result(person, day, positive);
                        if first {
                            let result = self.positive(person, day, test_day);
                            if result.register_phone.is_some() {
                                today.registrations += 1;
                            }
                            today.positives += 1;
                            out.positives.push(result);
                        }
                    }
                }
            }
        }
    }

    /// A positive result: isolation, and the registration decision.
    fn positive(&mut self, person: PersonId, day: u32, test_day: u32) -> PositiveResult {
        let b = &self.scenario.behaviour;
        self.behaviour.isolate(person, day + b.isolation_days);
        let g = &mut self.truth.groups[usize::from(self.cells[person.index()])];
        g.positives += 1;
        let phone = self
            .population
            .person(person)
            .phones()
            .find(|&p| self.active_from[p.index()] <= day);
        let probability = self
            .scenario
            .registration_probability(self.scenario.date(Day(day)));
        let register_phone = match phone {
            Some(phone)
                if !self.registered[person.index()] && dist::chance(&mut self.rng, probability) =>
            {
                self.registered[person.index()] = true;
                g.registrations += 1;
                Some(phone)
            }
            _ => None,
        };
        PositiveResult {
            person,
            test_day: Day(test_day),
            onset_day: self.epidemic.onset(person).filter(|&o| o <= day).map(Day),
            register_phone,
        }
    }

    /// Each person's share of outside contacts kept today.
    fn update_multipliers(&mut self, day: u32) {
        let b = &self.scenario.behaviour;
        for (i, m) in self.multipliers.iter_mut().enumerate() {
            let person = PersonId(i as u32);
            let mut x = 1.0;
            if self.epidemic.state(person, day) == HealthState::Symptomatic {
                x *= b.symptomatic_contact_multiplier;
            }
            if self.behaviour.isolating(person, day) {
                x *= b.isolation_contact_multiplier;
            }
            if self.behaviour.responding(person, day) {
                x *= b.notified_contact_multiplier;
            }
            *m = x as f32;
        }
    }

    /// Imported infections, and day 0's seed cases.
    fn imports(&mut self, day: u32, out: &mut DayEvents) {
        let date = self.scenario.date(Day(day));
        let i = &self.scenario.imports;
        let cases = crate::scenario::interpolate(&self.imports_curve, date.epoch_day() as f64);
        let lambda = i.scale * cases / i.national_population * f64::from(self.scenario.population);
        let mut count = dist::poisson(&mut self.rng, lambda);
        if day == 0 {
            count += i.initial_infections;
        }
        let n = self.population.len();
        for _ in 0..count {
            // An import that lands on an immune or already infected person is lost, as it
            // would be.
            let person = PersonId(dist::index(&mut self.rng, n) as u32);
            if self.epidemic.is_susceptible(person) {
                let age = self.ages[person.index()];
                out.infections.push(self.epidemic.infect(
                    person,
                    age,
                    day,
                    Source::Imported,
                    &mut self.rng,
                ));
            }
        }
    }

    /// The driver reports that `person`'s phone notified them on `day` (today or earlier): a
    /// share of notified people reduce their outside contacts from the next day on, a share get
    /// tested. The draws depend only on (person, day), so the order of reports does not matter,
    /// and a second report of the same person and day (a second phone) changes nothing more.
    pub fn notify(&mut self, person: PersonId, day: Day) -> Result<(), Error> {
        if self.next_day == 0 {
            return Err(Error::NotStarted);
        }
        if day.0 >= self.next_day {
            return Err(Error::FutureDay {
                reported: day,
                current: Day(self.next_day - 1),
            });
        }
        if person.index() >= self.population.len() {
            return Err(Error::UnknownPerson(person.0, self.population.len()));
        }
        let g = &mut self.truth.groups[usize::from(self.cells[person.index()])];
        g.notifications += 1;
        let today = &mut self.truth.days[day.index()];
        today.notifications += 1;
        if !self.notified[person.index()] {
            self.notified[person.index()] = true;
            g.notified_people += 1;
            today.newly_notified_people += 1;
        }
        let b = &self.scenario.behaviour;
        let care = &self.scenario.care;
        let mut rng = derived(
            self.scenario.seed,
            STREAM_NOTIFY,
            u64::from(person.0),
            u64::from(day.0),
        );
        if dist::chance(&mut rng, b.notified_response_probability) {
            self.behaviour
                .respond(person, day.0 + 1, day.0 + 1 + b.notified_response_days);
        }
        if dist::chance(&mut rng, b.notified_test_probability) {
            let test_day = (day.0 + care.test_delay_days).max(self.next_day);
            self.epidemic
                .schedule_test(person, test_day, TestReason::Notified);
        }
        Ok(())
    }

    /// The pairs of COCOA phones, in use and with their owners, in the day's contacts (each pair
    /// once per contact), into `out` (cleared first). A phone left at home is there only for
    /// household contacts. `events` must be the last simulated day's.
    pub fn encounters(&self, events: &DayEvents, out: &mut Vec<Encounter>) -> Result<(), Error> {
        if self.next_day == 0 {
            return Err(Error::NotStarted);
        }
        let current = self.next_day - 1;
        if events.day.0 != current {
            return Err(Error::StaleEvents {
                given: events.day,
                current: Day(current),
            });
        }
        out.clear();
        let with_owner = |phone: PhoneId, setting: Setting| {
            self.active_from[phone.index()] <= current
                && (setting == Setting::Household || self.left_home_on[phone.index()] != current)
        };
        for c in &events.contacts {
            let (pa, pb) = (self.population.person(c.a), self.population.person(c.b));
            for phone_a in pa.phones().filter(|&p| with_owner(p, c.setting)) {
                for phone_b in pb.phones().filter(|&p| with_owner(p, c.setting)) {
                    out.push(Encounter {
                        phone_a,
                        phone_b,
                        contact: *c,
                    });
                }
            }
        }
        Ok(())
    }

    /// The survey answers COCOA phones in use on the last simulated day will give (those that
    /// take part), by the scenario's participation and per-item consent by age. Depends only on
    /// the seed and each phone, not on when it is called.
    pub fn survey(&self) -> Result<Vec<SurveyIntent>, Error> {
        if self.next_day == 0 {
            return Err(Error::NotStarted);
        }
        let s = &self.scenario.survey;
        let mut intents = Vec::new();
        for &phone in &self.install_order[..self.installed] {
            let p = self.population.phone(phone);
            let owner = self.population.person(p.owner);
            let g = usize::from(owner.age.get() - 1);
            let mut rng = derived(self.scenario.seed, STREAM_SURVEY, u64::from(phone.0), 0);
            if !dist::chance(&mut rng, s.participation_by_age[g]) {
                continue;
            }
            intents.push(SurveyIntent {
                phone,
                age_group: dist::chance(&mut rng, s.answer_age_by_age[g]).then_some(owner.age),
                commute: dist::chance(&mut rng, s.answer_commute_by_age[g])
                    .then(|| p.survey_commute(owner)),
                start_date: p
                    .cocoa_since
                    .filter(|_| dist::chance(&mut rng, s.consent_start_date_by_age[g])),
                daily_data: dist::chance(&mut rng, s.consent_daily_by_age[g]),
            });
        }
        Ok(intents)
    }

    /// What really happened so far.
    pub fn truth(&self) -> Truth {
        let mut truth = self.truth.clone();
        let days = truth.days.len();
        let mut infected = vec![0u64; days];
        let mut caused = vec![0u64; days];
        for i in 0..self.population.len() {
            let person = PersonId(i as u32);
            if let Some(d) = self.epidemic.infected_on(person) {
                if let Some(slot) = infected.get_mut(d as usize) {
                    *slot += 1;
                    caused[d as usize] += u64::from(self.epidemic.offspring(person));
                }
            }
        }
        for (d, t) in truth.days.iter_mut().enumerate() {
            t.cohort_reproduction =
                (infected[d] > 0).then(|| caused[d] as f64 / infected[d] as f64);
        }
        let last = self.next_day.saturating_sub(1);
        for &phone in &self.install_order[..self.installed] {
            let owner = self.population.phone(phone).owner;
            if self.active_from[phone.index()] <= last {
                truth.groups[usize::from(self.cells[owner.index()])].cocoa_phones += 1;
            }
        }
        truth
    }
}

/// A generator for (stream, a, b) of the seed: SplitMix64 finalisers chained over the parts.
fn derived(seed: u64, stream: u64, a: u64, b: u64) -> ChaCha8Rng {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed ^ mix(stream)) ^ a) ^ b))
}
