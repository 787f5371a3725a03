//! The scenario file: the demo preset and `scenarios/demo.toml`, TOML round trips, and the
//! errors a bad scenario gets.

use cocoa_sim::{Error, Scenario};

/// Compiled in, so the test reads no file at run time.
const DEMO_TOML: &str = include_str!("../scenarios/demo.toml");

#[test]
fn demo_toml_parses_and_equals_the_demo_preset() {
    let parsed = Scenario::from_toml_str(DEMO_TOML).unwrap();
    assert_eq!(parsed, Scenario::preset_demo());
}

#[test]
fn demo_toml_writes_out_every_parameter() {
    // Every key of the full serialisation appears in the documented file.
    let full = Scenario::preset_demo().to_toml_string().unwrap();
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
            .filter(|k| !k.starts_with('#') && !k.contains(' '))
            .collect()
    };
    let documented = keys(DEMO_TOML).join(" ");
    for key in keys(&full) {
        assert!(
            documented.contains(&key) || DEMO_TOML.contains(&format!("{key} =")),
            "demo.toml does not show `{key}`"
        );
    }
}

#[test]
fn the_demo_preset_survives_a_toml_round_trip() {
    let demo = Scenario::preset_demo();
    let text = demo.to_toml_string().unwrap();
    assert_eq!(Scenario::from_toml_str(&text).unwrap(), demo);
    let default = Scenario::default();
    let text = default.to_toml_string().unwrap();
    assert_eq!(Scenario::from_toml_str(&text).unwrap(), default);
}

#[test]
fn an_empty_file_is_the_default_scenario_and_a_partial_table_keeps_the_other_defaults() {
    assert_eq!(Scenario::from_toml_str("").unwrap(), Scenario::default());
    let s = Scenario::from_toml_str("[contacts.transit]\nmultiplier = 2.5\n").unwrap();
    assert_eq!(s.contacts.transit.multiplier, 2.5);
    assert_eq!(
        s.contacts.transit.per_ride,
        Scenario::default().contacts.transit.per_ride
    );
    assert_eq!(s.contacts.work, Scenario::default().contacts.work);
}

#[test]
fn an_unknown_key_is_a_clear_error() {
    for (text, key) in [
        ("popuation = 100\n", "popuation"),
        ("[disease]\nbeta = 0.1\n", "beta"),
        ("[contacts.school]\nclass = 3\n", "class"),
        (
            "[[activity]]\nname = \"x\"\nstart = 2022-05-01\nend = 2022-05-02\nmultipler = 0.5\n",
            "multipler",
        ),
    ] {
        let err = Scenario::from_toml_str(text).unwrap_err();
        assert!(matches!(err, Error::Toml(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("unknown field") && message.contains(&format!("`{key}`")),
            "{message}"
        );
    }
}

#[test]
fn out_of_range_values_name_their_parameter() {
    for (text, field) in [
        ("days = 0\n", "days"),
        ("population = 1\n", "population"),
        ("[commuting]\ntelework_day_probability = 1.5\n", "commuting.telework_day_probability"),
        (
            "[phones]\nsmartphone_by_age = [0.3, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, -0.1]\n",
            "phones.smartphone_by_age[8]",
        ),
        ("[contacts.work]\nduration = { median = 0.0, sigma = 0.5 }\n", "contacts.work.duration.median"),
        ("[contacts.community]\ndistance = { min = 2.0, max = 1.0 }\n", "contacts.community.distance.max"),
        ("[contacts.transit]\nevening = { from = 1200, to = 1100 }\n", "contacts.transit.evening"),
        ("[disease]\nincubation_shape = 0.5\n", "disease.incubation_shape"),
        ("[radio]\nscan_jitter_s = 300\n", "radio.scan_jitter_s"),
        (
            "[care]\nregistration = [{ from = 2022-09-26, probability = 0.2 }, { from = 2022-04-07, probability = 0.6 }]\n",
            "care.registration",
        ),
        (
            "[[activity]]\nname = \"Backwards\"\nstart = 2022-05-02\nend = 2022-05-01\n",
            "activity[0] (Backwards)",
        ),
    ] {
        let err = Scenario::from_toml_str(text).unwrap_err();
        match &err {
            Error::Invalid { field: f, .. } => assert_eq!(f, field, "{err}"),
            other => panic!("{text}: {other}"),
        }
        assert!(err.to_string().contains(field));
    }
}

#[test]
fn a_wrong_length_age_list_is_refused() {
    let err = Scenario::from_toml_str("[survey]\nparticipation_by_age = [0.1, 0.2]\n").unwrap_err();
    assert!(err.to_string().contains("length 9"), "{err}");
}

#[test]
fn dates_schedule_activity_imports_and_registration() {
    let s = Scenario::default();
    // 2022-04-07 is a Thursday; day 2 a Saturday; Golden Week holidays; the summer school holiday.
    let day = |date: &str| s.day_of(date.parse().unwrap()).unwrap();
    let thursday = s.day_kind(day("2022-04-07"));
    assert!(thursday.work && thursday.school && thursday.activity == 1.0);
    assert!(!s.day_kind(day("2022-04-09")).work);
    let golden = s.day_kind(day("2022-05-04"));
    assert!(!golden.work && !golden.school);
    let summer = s.day_kind(day("2022-08-01"));
    assert!(summer.work && !summer.school);
    assert_eq!(s.day_of("2022-04-06".parse().unwrap()), None);
    // The 7th wave's imports are several times those of June's trough.
    assert!(s.expected_imports(day("2022-08-24")) > 10.0 * s.expected_imports(day("2022-06-20")));
    assert_eq!(
        s.registration_probability("2022-09-25".parse().unwrap()),
        0.63
    );
    assert_eq!(
        s.registration_probability("2022-09-26".parse().unwrap()),
        0.20
    );
    // Day 0 starts at midnight JST.
    assert_eq!(s.unix_seconds(cocoa_sim::Day(0), 0), 1_649_257_200);
    let per_person = s.expected_cocoa_phones_per_person();
    assert!((0.28..0.34).contains(&per_person), "{per_person}");
}
