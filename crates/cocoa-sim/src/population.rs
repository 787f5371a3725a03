//! The people of the city, built once from the scenario and a seeded RNG: age group, household,
//! school class or work group, commute, and phones (how many, which have COCOA and since when,
//! how often each is left at home).
//!
//! Members of a household have consecutive person ids, so a household is a range of ids; a
//! person's phones have consecutive phone ids.

use std::ops::Range;

use cocoa_api::{AgeGroup, Commute};
use rand::Rng;
use serde::Serialize;

use crate::dist;
use crate::scenario::Scenario;
use crate::time::Date;

/// A person: an index into the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PersonId(pub u32);

impl PersonId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A phone (any smartphone, with or without COCOA): an index into the population's phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneId(pub u32);

impl PhoneId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Commute code 1: does not commute.
pub const NO_COMMUTE: u8 = 1;
/// Commute code 2: commutes without public transport.
pub const COMMUTE_PRIVATE: u8 = 2;
/// Commute code 3: commutes using public transport.
pub const COMMUTE_PUBLIC: u8 = 3;

/// School (groups 1-2) or work (the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    School,
    Work,
}

/// One person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub age: AgeGroup,
    /// The survey's commute code of the person (at least weekly): 1 none, 2 without public
    /// transport, 3 with.
    pub commute: Commute,
    /// Index of the household.
    pub household: u32,
    /// Index of the school class or work group (commuters only).
    pub group: Option<u32>,
    first_phone: u32,
    phone_count: u8,
}

impl Person {
    /// The person's phones (0, 1 or 2).
    pub fn phones(&self) -> impl Iterator<Item = PhoneId> {
        (self.first_phone..self.first_phone + u32::from(self.phone_count)).map(PhoneId)
    }

    /// Whether the person commutes on public transport.
    pub fn rides_public_transport(&self) -> bool {
        self.commute.get() == COMMUTE_PUBLIC
    }
}

/// One smartphone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phone {
    pub owner: PersonId,
    /// The owner's second phone.
    pub second: bool,
    /// When COCOA was installed (may be before the simulation starts); `None`: no COCOA.
    pub cocoa_since: Option<Date>,
    /// Per-day probability that the phone stays at home.
    pub left_at_home: f64,
}

impl Phone {
    /// Has COCOA (at some date).
    pub fn has_cocoa(&self) -> bool {
        self.cocoa_since.is_some()
    }

    /// The commute this phone's survey answer describes: the FAQ's rule that a phone left behind
    /// (at home, in a locker) counts as "does not commute"; here, one left behind on half the
    /// days or more.
    pub fn survey_commute(&self, owner: &Person) -> Commute {
        if self.left_at_home >= 0.5 {
            Commute::new(NO_COMMUTE).expect("a valid code")
        } else {
            owner.commute
        }
    }
}

/// The whole population.
#[derive(Debug, Clone)]
pub struct Population {
    people: Vec<Person>,
    phones: Vec<Phone>,
    household_start: Vec<u32>,
    group_start: Vec<u32>,
    group_members: Vec<PersonId>,
    group_kind: Vec<GroupKind>,
}

impl Population {
    /// Builds the population of a (validated) scenario.
    pub fn build(scenario: &Scenario, rng: &mut impl Rng) -> Self {
        let n = scenario.population as usize;
        let mut pools = age_counts(&scenario.ages.weights, n);
        let sizes = household_sizes(&scenario.households.size_shares, n, rng);
        let ages = assign_households(&sizes, &mut pools, rng);

        let mut household_start = Vec::with_capacity(sizes.len() + 1);
        let mut household_of = Vec::with_capacity(n);
        let mut start = 0u32;
        for (h, &size) in sizes.iter().enumerate() {
            household_start.push(start);
            start += size;
            household_of.extend(std::iter::repeat_n(h as u32, size as usize));
        }
        household_start.push(start);

        let c = &scenario.commuting;
        let p = &scenario.phones;
        let downloads: Vec<(i64, f64)> = p
            .downloads
            .iter()
            .map(|d| (d.date.epoch_day(), d.millions))
            .collect();
        let mut people = Vec::with_capacity(n);
        let mut phones = Vec::new();
        for (id, (&age, &household)) in ages.iter().zip(&household_of).enumerate() {
            let g = usize::from(age - 1);
            let commute = if dist::chance(rng, c.share_by_age[g]) {
                if dist::chance(rng, c.public_transport_share_by_age[g]) {
                    COMMUTE_PUBLIC
                } else {
                    COMMUTE_PRIVATE
                }
            } else {
                NO_COMMUTE
            };
            let first_phone = phones.len() as u32;
            if dist::chance(rng, p.smartphone_by_age[g]) {
                let owner = PersonId(id as u32);
                let cocoa = dist::chance(rng, p.cocoa_by_age[g]);
                phones.push(Phone {
                    owner,
                    second: false,
                    cocoa_since: cocoa.then(|| install_date(&downloads, rng)),
                    left_at_home: p.left_at_home,
                });
                if dist::chance(rng, p.second_phone_share) {
                    let cocoa = cocoa && dist::chance(rng, p.second_phone_cocoa);
                    phones.push(Phone {
                        owner,
                        second: true,
                        cocoa_since: cocoa.then(|| install_date(&downloads, rng)),
                        left_at_home: p.second_left_at_home,
                    });
                }
            }
            people.push(Person {
                age: AgeGroup::new(age).expect("1..=9"),
                commute: Commute::new(commute).expect("1..=3"),
                household,
                group: None,
                first_phone,
                phone_count: (phones.len() as u32 - first_phone) as u8,
            });
        }

        let mut population = Population {
            people,
            phones,
            household_start,
            group_start: vec![0],
            group_members: Vec::new(),
            group_kind: Vec::new(),
        };
        let k = &scenario.contacts;
        // Pupils are grouped with their own age group; workers of all ages together.
        for (kind, ages, size) in [
            (GroupKind::School, 1..=1, k.school.class_size),
            (GroupKind::School, 2..=2, k.school.class_size),
            (GroupKind::Work, 3..=9, k.work.group_size),
        ] {
            let mut members: Vec<PersonId> = population
                .people
                .iter()
                .enumerate()
                .filter(|(_, p)| p.commute.get() != NO_COMMUTE && ages.contains(&p.age.get()))
                .map(|(i, _)| PersonId(i as u32))
                .collect();
            dist::shuffle(rng, &mut members);
            population.add_groups(kind, &members, size as usize);
        }
        population
    }

    /// Cuts `members` into groups of `size`; a last group of one joins the one before.
    fn add_groups(&mut self, kind: GroupKind, members: &[PersonId], size: usize) {
        let mut bounds: Vec<usize> = (0..members.len()).step_by(size).collect();
        if members.len() % size == 1 && bounds.len() >= 2 {
            bounds.pop();
        }
        bounds.push(members.len());
        for w in bounds.windows(2) {
            let chunk = &members[w[0]..w[1]];
            let group = self.group_kind.len() as u32;
            for p in chunk {
                self.people[p.index()].group = Some(group);
            }
            self.group_members.extend_from_slice(chunk);
            self.group_start.push(self.group_members.len() as u32);
            self.group_kind.push(kind);
        }
    }

    /// Number of people.
    pub fn len(&self) -> usize {
        self.people.len()
    }

    /// Whether there is nobody (never, for a validated scenario).
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn person(&self, id: PersonId) -> &Person {
        &self.people[id.index()]
    }

    /// Every smartphone, with or without COCOA.
    pub fn phones(&self) -> &[Phone] {
        &self.phones
    }

    pub fn phone(&self, id: PhoneId) -> &Phone {
        &self.phones[id.index()]
    }

    /// Number of households.
    pub fn households(&self) -> usize {
        self.household_start.len() - 1
    }

    /// The members of household `h`, as a range of person ids.
    pub fn household_members(&self, h: u32) -> Range<u32> {
        self.household_start[h as usize]..self.household_start[h as usize + 1]
    }

    /// Number of school classes and work groups.
    pub fn groups(&self) -> usize {
        self.group_kind.len()
    }

    /// Kind and members of group `g`.
    pub fn group(&self, g: u32) -> (GroupKind, &[PersonId]) {
        let g = g as usize;
        let range = self.group_start[g] as usize..self.group_start[g + 1] as usize;
        (self.group_kind[g], &self.group_members[range])
    }
}

/// People per age group: the shares applied exactly, by largest remainder.
fn age_counts(weights: &[f64; 9], n: usize) -> [u32; 9] {
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
    let mut counts = [0u32; 9];
    for (c, e) in counts.iter_mut().zip(&exact) {
        *c = e.floor() as u32;
    }
    let mut order: Vec<usize> = (0..9).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let missing = n - counts.iter().map(|&c| c as usize).sum::<usize>();
    for &g in order.iter().take(missing) {
        counts[g] += 1;
    }
    counts
}

/// Household sizes drawn from the shares until they hold `n` people (the last one cut to fit).
fn household_sizes(shares: &[f64], n: usize, rng: &mut impl Rng) -> Vec<u32> {
    let cumulative = dist::cumulative(shares);
    let mut sizes = Vec::new();
    let mut placed = 0usize;
    while placed < n {
        let size = (dist::weighted_index(rng, &cumulative) + 1).min(n - placed);
        sizes.push(size as u32);
        placed += size;
    }
    sizes
}

/// Draws an age group (1..=9) among `groups`, weighted by the people left in each; `None` when
/// they are all used up.
fn take(pools: &mut [u32; 9], groups: &[u8], rng: &mut impl Rng) -> Option<u8> {
    let left: u32 = groups.iter().map(|&g| pools[usize::from(g - 1)]).sum();
    if left == 0 {
        return None;
    }
    let mut x = dist::index(rng, left as usize) as u32;
    for &g in groups {
        let c = pools[usize::from(g - 1)];
        if x < c {
            pools[usize::from(g - 1)] -= 1;
            return Some(g);
        }
        x -= c;
    }
    unreachable!("x < left")
}

const ALL: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const ADULTS: [u8; 7] = [3, 4, 5, 6, 7, 8, 9];
const PARENTS: [u8; 3] = [5, 6, 7];
const CHILDREN: [u8; 2] = [1, 2];

/// Takes from the first list of groups that has anyone left.
fn take_first(pools: &mut [u32; 9], preferences: &[&[u8]], rng: &mut impl Rng) -> u8 {
    preferences
        .iter()
        .find_map(|groups| take(pools, groups, rng))
        .or_else(|| take(pools, &ALL, rng))
        .expect("as many places as people")
}

/// The age group of every person, household by household, by the composition rule documented
/// on `Households::size_shares`.
fn assign_households(sizes: &[u32], pools: &mut [u32; 9], rng: &mut impl Rng) -> Vec<u8> {
    let mut members: Vec<Vec<u8>> = vec![Vec::new(); sizes.len()];
    // Families first, so that children find parents.
    for (h, &size) in sizes.iter().enumerate().filter(|(_, &s)| s >= 3) {
        let m = &mut members[h];
        let parent = take_first(pools, &[&PARENTS, &ADULTS], rng);
        m.push(parent);
        let same = [parent];
        m.push(take_first(pools, &[&same, &PARENTS, &ADULTS], rng));
        for _ in 2..size {
            m.push(take_first(pools, &[&CHILDREN, &[3], &[9]], rng));
        }
    }
    // Couples of similar age (or a single parent, when children are left over).
    for (h, _) in sizes.iter().enumerate().filter(|(_, &s)| s == 2) {
        let m = &mut members[h];
        let first = take_first(pools, &[&ADULTS], rng);
        m.push(first);
        let near = [first.saturating_sub(1).max(3), first, (first + 1).min(9)];
        m.push(take_first(
            pools,
            &[&CHILDREN, &[first], &near, &ADULTS],
            rng,
        ));
    }
    for (h, _) in sizes.iter().enumerate().filter(|(_, &s)| s == 1) {
        members[h].push(take_first(pools, &[&ADULTS], rng));
    }
    members.into_iter().flatten().collect()
}

/// An install date drawn from the cumulative downloads curve (linear between its points).
fn install_date(curve: &[(i64, f64)], rng: &mut impl Rng) -> Date {
    let total = curve.last().map_or(0.0, |p| p.1);
    let target = dist::unit(rng) * total;
    let mut day = curve[curve.len() - 1].0;
    for w in curve.windows(2) {
        let ((d0, c0), (d1, c1)) = (w[0], w[1]);
        if target < c1 {
            day = d0 + ((target - c0) / (c1 - c0) * (d1 - d0) as f64).floor() as i64;
            break;
        }
    }
    let epoch = Date::from_ymd(1970, 1, 1).expect("a date");
    epoch.add_days(day).expect("within the curve's dates")
}
