//! The city model end to end, through its public API: determinism, the population against the
//! facts it copies, contacts, the epidemic, the care path, the driver's hooks.

use cocoa_sim::contacts::Setting;
use cocoa_sim::population::{COMMUTE_PUBLIC, NO_COMMUTE};
use cocoa_sim::scenario::ActivityPeriod;
use cocoa_sim::{City, Day, DayEvents, Error, PersonId, Scenario, Source, TestReason};

/// A small city with the default parameters.
fn small(population: u32, days: u32) -> Scenario {
    Scenario {
        population,
        days,
        ..Scenario::default()
    }
}

/// No disease at all: contacts only.
fn without_disease(mut s: Scenario) -> Scenario {
    s.disease.beta_per_minute = 0.0;
    s.imports.scale = 0.0;
    s
}

fn run(scenario: Scenario) -> (City, Vec<DayEvents>) {
    let mut city = City::new(scenario).unwrap();
    let mut all = Vec::new();
    while !city.is_finished() {
        let mut events = DayEvents::default();
        city.step(&mut events);
        all.push(events);
    }
    (city, all)
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_does_not() {
    let scenario = small(3_000, 25);
    let (a_city, a) = run(scenario.clone());
    let (b_city, b) = run(scenario.clone());
    assert_eq!(a, b);
    assert_eq!(a_city.truth(), b_city.truth());
    assert_eq!(a_city.survey().unwrap(), b_city.survey().unwrap());
    assert!(a.iter().map(|d| d.infections.len()).sum::<usize>() > 0);

    let (_, c) = run(Scenario {
        seed: scenario.seed + 1,
        ..scenario
    });
    assert_ne!(a[0].contacts, c[0].contacts);
    assert_ne!(a, c);
}

#[test]
fn reusing_one_events_buffer_gives_the_same_days() {
    let scenario = small(2_000, 10);
    let (_, fresh) = run(scenario.clone());
    let mut city = City::new(scenario).unwrap();
    let mut events = DayEvents::default();
    for expected in &fresh {
        city.step(&mut events);
        assert_eq!(&events, expected);
    }
}

#[test]
fn age_shares_match_the_pyramid_within_a_point() {
    let city = City::new(small(100_000, 1)).unwrap();
    let people = city.population().people();
    // facts §1: shares of the 9 groups.
    let table = [11.6, 4.4, 5.0, 5.1, 10.9, 13.9, 14.0, 12.0, 23.0];
    for (g, share) in table.iter().enumerate() {
        let n = people
            .iter()
            .filter(|p| usize::from(p.age.get()) == g + 1)
            .count();
        let ours = n as f64 / people.len() as f64 * 100.0;
        assert!(
            (ours - share).abs() <= 1.0,
            "group {}: {ours:.2}% vs {share}%",
            g + 1
        );
    }
}

#[test]
fn households_average_2_2_people_and_nobody_under_20_lives_alone() {
    let city = City::new(small(100_000, 1)).unwrap();
    let pop = city.population();
    let mean = pop.len() as f64 / pop.households() as f64;
    assert!((mean - 2.21).abs() < 0.05, "mean household size {mean}");
    let mut singles = 0;
    for h in 0..pop.households() as u32 {
        let members = pop.household_members(h);
        for id in members.clone() {
            assert_eq!(pop.person(PersonId(id)).household, h);
        }
        if members.len() == 1 {
            singles += 1;
            assert!(pop.person(PersonId(members.start)).age.get() >= 3);
        }
    }
    let share = f64::from(singles) / pop.households() as f64;
    assert!((share - 0.38).abs() < 0.02, "single households {share}");
}

#[test]
fn commuters_belong_to_groups_and_phones_follow_adoption() {
    let city = City::new(small(50_000, 1)).unwrap();
    let pop = city.population();
    for p in pop.people() {
        assert_eq!(p.group.is_some(), p.commute.get() != NO_COMMUTE);
    }
    let public = pop
        .people()
        .iter()
        .filter(|p| p.commute.get() == COMMUTE_PUBLIC)
        .count();
    let commuters = pop
        .people()
        .iter()
        .filter(|p| p.commute.get() != NO_COMMUTE)
        .count();
    let share = public as f64 / commuters as f64;
    assert!(
        (0.2..0.3).contains(&share),
        "public transport share {share}"
    );
    let smartphone_owners = pop
        .people()
        .iter()
        .filter(|p| p.phones().next().is_some())
        .count();
    let share = smartphone_owners as f64 / pop.len() as f64;
    assert!((share - 0.773).abs() < 0.02, "smartphone share {share}");
    let cocoa = pop.phones().iter().filter(|p| p.has_cocoa()).count() as f64 / pop.len() as f64;
    let expected = city.scenario().expected_cocoa_phones_per_person();
    assert!((cocoa - expected).abs() < 0.01, "{cocoa} vs {expected}");
    // The young carry far fewer phones than adults.
    let with_phone = |g: u8| {
        let people: Vec<_> = pop.people().iter().filter(|p| p.age.get() == g).collect();
        people
            .iter()
            .filter(|p| p.phones().next().is_some())
            .count() as f64
            / people.len() as f64
    };
    assert!(with_phone(1) < 0.5 && with_phone(4) > 0.9);
    for (id, phone) in pop.phones().iter().enumerate() {
        assert!(pop.person(phone.owner).phones().any(|p| p.index() == id));
    }
}

#[test]
fn contacts_stay_within_their_day_and_ranges() {
    let scenario = without_disease(small(3_000, 3));
    let k = scenario.contacts.clone();
    let (_, days) = run(scenario);
    for c in days.iter().flat_map(|d| &d.contacts) {
        assert_ne!(c.a, c.b);
        assert!(c.duration_minutes >= 1);
        assert!(u32::from(c.start_minute) + u32::from(c.duration_minutes) <= 1440);
        let range = match c.setting {
            Setting::Household => k.household.distance,
            Setting::School => k.school.distance,
            Setting::Work => k.work.distance,
            Setting::Transit => k.transit.distance,
            Setting::Community => k.community.distance,
        };
        assert!(
            f64::from(c.distance_m) >= range.min - 1e-6
                && f64::from(c.distance_m) <= range.max + 1e-6
        );
    }
    // Thursday: every setting has contacts.
    for s in Setting::ALL {
        assert!(days[0].contacts.iter().any(|c| c.setting == s), "{s:?}");
    }
    // Saturday: no school, work or transit.
    assert!(days[2]
        .contacts
        .iter()
        .all(|c| matches!(c.setting, Setting::Household | Setting::Community)));
}

/// Contacts per person-day of public-transport commuters and of non-commuters.
fn contact_rates(mut scenario: Scenario, multiplier: f64) -> (f64, f64, f64) {
    scenario.contacts.transit.multiplier = multiplier;
    let (city, _) = run(without_disease(scenario));
    let truth = city.truth();
    let rate = |commute: u8, transit_only: bool| {
        let (mut contacts, mut person_days) = (0, 0);
        for g in truth.groups.iter().filter(|g| g.commute == commute) {
            contacts += if transit_only {
                g.contacts.transit
            } else {
                g.contacts.total()
            };
            person_days += g.person_days;
        }
        contacts as f64 / person_days as f64
    };
    (
        rate(COMMUTE_PUBLIC, false),
        rate(NO_COMMUTE, false),
        rate(COMMUTE_PUBLIC, true),
    )
}

#[test]
fn public_transport_commuters_meet_more_people_and_the_planted_multiplier_scales_it() {
    let scenario = small(8_000, 7);
    let (public, none, transit) = contact_rates(scenario.clone(), 1.0);
    assert!(public > none * 1.5, "public {public} vs none {none}");
    let (public3, none3, transit3) = contact_rates(scenario, 3.0);
    let ratio = transit3 / transit;
    assert!((ratio - 3.0).abs() < 0.3, "transit contacts ×{ratio}");
    assert!(public3 > public + 1.5 * transit);
    assert!(
        (none3 - none).abs() / none < 0.05,
        "non-commuters unchanged: {none} {none3}"
    );
}

#[test]
fn the_activity_multiplier_scales_outside_contacts() {
    let mut scenario = without_disease(small(5_000, 14));
    // Two identical weeks (Thursday to Wednesday); the second at half activity.
    scenario.activity = vec![ActivityPeriod {
        name: "State of emergency".into(),
        start: "2022-04-14".parse().unwrap(),
        end: "2022-04-20".parse().unwrap(),
        multiplier: 0.5,
        holiday: false,
        school_holiday: false,
    }];
    let (city, days) = run(scenario);
    let truth = city.truth();
    let outside = |range: std::ops::Range<usize>| -> u64 {
        truth.days[range]
            .iter()
            .map(|d| d.contacts.outside_household())
            .sum()
    };
    let household = |range: std::ops::Range<usize>| -> u64 {
        truth.days[range].iter().map(|d| d.contacts.household).sum()
    };
    let ratio = outside(7..14) as f64 / outside(0..7) as f64;
    assert!((ratio - 0.5).abs() < 0.05, "outside contacts ×{ratio}");
    let ratio = household(7..14) as f64 / household(0..7) as f64;
    assert!((ratio - 1.0).abs() < 0.02, "household contacts ×{ratio}");
    assert_eq!(days[7].activity, 0.5);
    assert_eq!(truth.days[7].activity, 0.5);
}

#[test]
fn the_epidemic_grows_when_transmission_is_high_and_dies_out_without_it() {
    let mut scenario = small(5_000, 30);
    scenario.imports.scale = 0.0;
    scenario.imports.initial_infections = 10;
    let mut hot = scenario.clone();
    hot.disease.beta_per_minute = 0.02;
    let (city, _) = run(hot);
    let truth = city.truth();
    let week = |from: usize| -> u64 {
        truth.days[from..from + 7]
            .iter()
            .map(|d| d.infections.total())
            .sum()
    };
    assert!(
        week(10) > 3 * week(0).max(10),
        "{} then {}",
        week(0),
        week(10)
    );
    assert!(truth.total_infections() > 500);
    let early: Vec<f64> = truth.days[..10]
        .iter()
        .filter_map(|d| d.cohort_reproduction)
        .collect();
    assert!(
        early.iter().sum::<f64>() / early.len() as f64 > 1.0,
        "{early:?}"
    );

    let mut cold = scenario;
    cold.disease.beta_per_minute = 0.0;
    let (city, days) = run(cold);
    let truth = city.truth();
    assert_eq!(truth.total_infections(), 10);
    assert!(days[0]
        .infections
        .iter()
        .all(|i| i.source == Source::Imported));
    assert!(truth.days.iter().all(|d| d.infections.total() == 0));
    assert_eq!(truth.days[29].infectious, 0);
    assert!(truth.days[2].infectious > 0);
}

#[test]
fn infections_follow_contacts_with_infectious_people() {
    let (city, days) = run(small(5_000, 30));
    let epidemic = city.epidemic();
    for (d, events) in days.iter().enumerate() {
        for infection in &events.infections {
            assert_eq!(epidemic.infected_on(infection.person), Some(d as u32));
            if let Source::Contact { infector, setting } = infection.source {
                assert!(events.contacts.iter().any(|c| c.setting == setting
                    && ((c.a == infector && c.b == infection.person)
                        || (c.b == infector && c.a == infection.person))));
                let state = epidemic.state(infector, d as u32);
                assert!(matches!(
                    state,
                    cocoa_sim::HealthState::Presymptomatic
                        | cocoa_sim::HealthState::Symptomatic
                        | cocoa_sim::HealthState::Asymptomatic
                ));
            }
        }
    }
}

#[test]
fn the_care_path_tests_after_onset_and_registers_only_from_a_cocoa_phone() {
    let mut scenario = small(8_000, 40);
    scenario.imports.initial_infections = 40;
    scenario.care.symptomatic_test_probability = 1.0;
    let (city, days) = run(scenario);
    let mut positives = 0;
    let mut registered = 0;
    for (d, events) in days.iter().enumerate() {
        for test in events
            .tests
            .iter()
            .filter(|t| t.reason == TestReason::Symptoms)
        {
            let onset = city.epidemic().onset(test.person).unwrap();
            assert_eq!(onset + 1, d as u32, "tested the day after onset");
        }
        for p in &events.positives {
            positives += 1;
            assert_eq!(p.test_day.0 + 1, d as u32, "result a day after the test");
            assert_eq!(city.epidemic().positive_on(p.person), Some(d as u32));
            if let Some(phone) = p.register_phone {
                registered += 1;
                assert_eq!(city.population().phone(phone).owner, p.person);
                assert!(city.phone_active(phone, Day(d as u32)));
            }
            if let Some(onset) = p.onset_day {
                assert_eq!(onset.0 + 2, d as u32);
            }
        }
    }
    assert!(positives > 50, "{positives}");
    assert!(registered > 0 && registered < positives);
    let truth = city.truth();
    assert_eq!(
        truth.days.iter().map(|d| d.positives).sum::<u64>(),
        positives
    );
    assert_eq!(
        truth.days.iter().map(|d| d.registrations).sum::<u64>(),
        registered
    );
}

#[test]
fn a_notified_person_reduces_contacts_and_may_be_tested_positive() {
    let mut scenario = without_disease(small(3_000, 12));
    scenario.behaviour.notified_response_probability = 1.0;
    scenario.behaviour.notified_contact_multiplier = 0.0;
    scenario.behaviour.notified_test_probability = 1.0;
    scenario.imports.initial_infections = 30;
    let mut city = City::new(scenario).unwrap();
    let mut events = DayEvents::default();
    city.step(&mut events);
    let infected = events.infections[0].person;
    // A commuter too, if there is one in the same household chain: any person works.
    let other = PersonId(if infected.0 == 0 { 1 } else { 0 });
    city.notify(infected, Day(0)).unwrap();
    city.notify(other, Day(0)).unwrap();
    let mut tested = false;
    let mut positive = false;
    for _ in 1..8 {
        city.step(&mut events);
        for who in [infected, other] {
            assert!(
                events
                    .contacts
                    .iter()
                    .all(|c| c.setting == Setting::Household || (c.a != who && c.b != who)),
                "{who:?} met someone outside on {}",
                events.day
            );
        }
        tested |= events
            .tests
            .iter()
            .any(|t| t.person == infected && t.reason == TestReason::Notified);
        positive |= events.positives.iter().any(|p| p.person == infected);
    }
    assert!(tested && positive);
    let truth = city.truth();
    assert_eq!(truth.days[0].notifications, 2);
    assert_eq!(truth.days[0].newly_notified_people, 2);
    // After the 7 days of response the person goes out again.
    let mut out_again = false;
    for _ in 8..12 {
        city.step(&mut events);
        out_again |= events
            .contacts
            .iter()
            .any(|c| c.setting == Setting::Community && (c.a == other || c.b == other));
    }
    assert!(out_again);
}

#[test]
fn notifications_do_not_depend_on_the_order_they_are_reported_in() {
    let scenario = small(3_000, 12);
    let people = [PersonId(5), PersonId(900), PersonId(2_000), PersonId(77)];
    let run_with = |order: &[PersonId]| {
        let mut city = City::new(scenario.clone()).unwrap();
        let mut events = DayEvents::default();
        let mut all = Vec::new();
        for day in 0..12 {
            city.step(&mut events);
            if day == 3 {
                for &p in order {
                    city.notify(p, Day(3)).unwrap();
                }
            }
            all.push(events.clone());
        }
        (all, city.truth())
    };
    let mut reversed = people;
    reversed.reverse();
    assert_eq!(run_with(&people), run_with(&reversed));
}

#[test]
fn notify_refuses_unknown_people_and_future_days() {
    let mut city = City::new(small(1_000, 5)).unwrap();
    assert!(matches!(
        city.notify(PersonId(1), Day(0)),
        Err(Error::NotStarted)
    ));
    let mut events = DayEvents::default();
    city.step(&mut events);
    assert!(matches!(
        city.notify(PersonId(1), Day(1)),
        Err(Error::FutureDay { .. })
    ));
    assert!(matches!(
        city.notify(PersonId(1_000), Day(0)),
        Err(Error::UnknownPerson(1_000, 1_000))
    ));
    city.notify(PersonId(999), Day(0)).unwrap();
}

#[test]
fn encounters_pair_cocoa_phones_that_are_in_use_and_with_their_owners() {
    let mut scenario = without_disease(small(4_000, 3));
    scenario.phones.left_at_home = 0.3;
    let mut city = City::new(scenario).unwrap();
    let mut events = DayEvents::default();
    let mut encounters = Vec::new();
    assert!(matches!(
        city.encounters(&events, &mut encounters),
        Err(Error::NotStarted)
    ));
    city.step(&mut events);
    assert!(!events.installs.is_empty());
    assert!(events
        .installs
        .iter()
        .all(|&p| city.population().phone(p).has_cocoa()));
    city.encounters(&events, &mut encounters).unwrap();
    assert!(!encounters.is_empty());
    let pop = city.population();
    for e in &encounters {
        assert_eq!(pop.phone(e.phone_a).owner, e.contact.a);
        assert_eq!(pop.phone(e.phone_b).owner, e.contact.b);
        for phone in [e.phone_a, e.phone_b] {
            assert!(city.phone_active(phone, events.day));
            if e.contact.setting != Setting::Household {
                assert!(events.left_at_home.binary_search(&phone).is_err());
            }
        }
    }
    // A phone left at home still sees its household.
    assert!(encounters
        .iter()
        .any(|e| e.contact.setting == Setting::Household
            && events.left_at_home.binary_search(&e.phone_a).is_ok()));
    // Every contact between two people with phones in use and carried shows up.
    let expected = events
        .contacts
        .iter()
        .map(|c| {
            let carried = |who: PersonId| {
                pop.person(who)
                    .phones()
                    .filter(|&p| {
                        city.phone_active(p, events.day)
                            && (c.setting == Setting::Household
                                || events.left_at_home.binary_search(&p).is_err())
                    })
                    .count()
            };
            carried(c.a) * carried(c.b)
        })
        .sum::<usize>();
    assert_eq!(encounters.len(), expected);
    let old = events.clone();
    city.step(&mut events);
    assert!(matches!(
        city.encounters(&old, &mut encounters),
        Err(Error::StaleEvents { .. })
    ));
}

#[test]
fn phones_start_on_their_install_day() {
    let (city, days) = run(small(5_000, 120));
    let installs_later: usize = days[1..].iter().map(|d| d.installs.len()).sum();
    assert!(
        installs_later > 0,
        "some phones install during the simulation"
    );
    for (d, events) in days.iter().enumerate() {
        for &phone in &events.installs {
            assert_eq!(city.phone_active_from(phone), Some(Day(d as u32)));
        }
    }
    let truth = city.truth();
    assert!(truth.days[119].cocoa_phones > truth.days[0].cocoa_phones);
}

#[test]
fn the_survey_follows_participation_and_consent() {
    let mut scenario = without_disease(small(6_000, 2));
    scenario.survey.participation_by_age = [1.0; 9];
    scenario.survey.answer_age_by_age = [0.0; 9];
    scenario.survey.consent_daily_by_age = [0.5; 9];
    let (city, _) = run(scenario);
    let intents = city.survey().unwrap();
    let in_use = city
        .population()
        .phones()
        .iter()
        .enumerate()
        .filter(|(i, _)| city.phone_active(cocoa_sim::PhoneId(*i as u32), Day(1)))
        .count();
    assert_eq!(intents.len(), in_use);
    assert!(intents.iter().all(|i| i.age_group.is_none()));
    let daily = intents.iter().filter(|i| i.daily_data).count() as f64 / intents.len() as f64;
    assert!((daily - 0.5).abs() < 0.05, "{daily}");
    for i in &intents {
        let phone = city.population().phone(i.phone);
        if let Some(start) = i.start_date {
            assert_eq!(Some(start), phone.cocoa_since);
        }
        if phone.second {
            // Second phones are left at home half the days: "does not commute".
            assert!(i.commute.is_none_or(|c| c.get() == NO_COMMUTE));
        }
    }

    let (default_city, _) = run(without_disease(small(6_000, 2)));
    let share = default_city.survey().unwrap().len() as f64 / in_use as f64;
    assert!((share - 0.081).abs() < 0.03, "participation {share}");
}

#[test]
fn the_demo_preset_has_about_ten_thousand_cocoa_phones() {
    let city = City::new(Scenario::preset_demo()).unwrap();
    let phones = city
        .population()
        .phones()
        .iter()
        .filter(|p| p.has_cocoa())
        .count();
    assert!((9_000..11_000).contains(&phones), "{phones}");
}
