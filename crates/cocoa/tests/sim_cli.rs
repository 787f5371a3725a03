//! `cocoa sim` end to end with the real binary: a small city through the real server and phones
//! (numbers issued, keys registered and exported on the schedule, phones notified, survey
//! answers stored, the report made), the invariants of `truth.json`, and the same seed giving
//! the same report bytes.
//!
//! The city is smaller than the demo's (about 140 phones over 20 days, with a stronger epidemic
//! and every positive registering) so that a debug build runs it twice in well under a minute:
//! every phone verifies every export file itself, which a debug build does slowly.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A small city where registrations and notifications happen within 20 days.
const SCENARIO: &str = r#"
seed = 11
days = 20
population = 240

[phones]
cocoa_by_age = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]

[imports]
scale = 10.0

[care]
registration = [{ from = 2022-04-07, probability = 1.0 }]

[survey]
participation_by_age = [0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
consent_daily_by_age = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
"#;

fn sim(scenario: &Path, out: &Path) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["sim", "--scenario"])
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cocoa sim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn count(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v:#}"))
}

#[test]
fn a_small_city_runs_through_the_whole_chain_and_the_same_seed_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("city.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let first = dir.path().join("first");
    let summary = sim(&scenario, &first);

    // The report, as `cocoa report` writes it, and the truth next to it.
    for name in [
        "report/index.html",
        "report/report.json",
        "report/tables/age.csv",
        "report/tables/commute.csv",
        "report/tables/daily.csv",
        "report/tables/cooperation.csv",
        "truth.json",
        "validation.csv",
    ] {
        assert!(first.join(name).is_file(), "{name} missing");
    }
    let report = read_json(&first.join("report/report.json"));
    assert!(
        report["questions"]["registrations"].is_object(),
        "{report:#}"
    );

    // The whole chain happened, through the real server.
    let truth = read_json(&first.join("truth.json"));
    let driver = &truth["driver"];
    assert!(count(driver, "processing_numbers_issued") > 0, "{driver:#}");
    assert!(count(driver, "registrations_accepted") > 0, "{driver:#}");
    assert!(count(driver, "keys_accepted") > 0, "{driver:#}");
    assert!(count(driver, "export_runs") > 0, "{driver:#}");
    assert!(count(driver, "export_files") > 0, "{driver:#}");
    assert!(
        count(driver, "keys_published_by_last_day") > 0,
        "{driver:#}"
    );
    assert!(count(driver, "phones_notified") > 0, "{driver:#}");
    assert!(count(driver, "notify_calls") > 0, "{driver:#}");
    assert!(count(driver, "survey_answers_stored") > 0, "{driver:#}");
    assert!(count(driver, "checks") > 0, "{driver:#}");
    assert!(
        driver["check_failures"].as_object().unwrap().is_empty(),
        "{driver:#}"
    );
    assert!(
        driver["registration_failures"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{driver:#}"
    );
    assert_eq!(
        count(&summary, "survey_answers"),
        count(driver, "survey_answers_stored")
    );
    assert_eq!(
        count(&summary, "answers_in_report"),
        count(driver, "survey_answers_stored")
    );

    // Nothing lost on the way. Registrations: every positive who consented, with a phone,
    // registered, and the server counted each once.
    let consenting: u64 = truth["model"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| count(d, "registrations"))
        .sum();
    assert_eq!(count(driver, "registrations_accepted"), consenting);
    assert_eq!(count(driver, "registrations_counted_by_server"), consenting);
    assert_eq!(count(driver, "positives_registering"), consenting);
    assert_eq!(count(driver, "processing_numbers_issued"), consenting);
    // Keys: every key the server accepted was published exactly once (the auditor found each
    // registered key in exactly one file), and the export's own count agrees.
    let audit = &driver["audit"];
    assert_eq!(
        count(audit, "sent_keys_published_more_than_once"),
        0,
        "{audit:#}"
    );
    assert_eq!(
        count(audit, "sent_keys_published_once"),
        count(driver, "keys_accepted"),
        "{audit:#}"
    );
    assert_eq!(
        count(driver, "keys_published"),
        count(driver, "keys_accepted")
    );
    assert_eq!(
        count(audit, "registered_keys_found"),
        count(driver, "keys_accepted")
    );
    assert_eq!(count(audit, "files_failed"), 0, "{audit:#}");
    assert_eq!(
        count(audit, "files_downloaded"),
        count(driver, "export_files")
    );
    // Survey: every phone that took part was stored.
    assert_eq!(
        count(driver, "survey_answers_stored"),
        count(driver, "survey_intents")
    );
    for (name, ok) in truth["invariants"].as_object().unwrap() {
        assert_eq!(ok, &serde_json::Value::Bool(true), "invariant {name}");
    }

    // The validation table: the four questions' estimates next to their truth.
    let csv = std::fs::read_to_string(first.join("validation.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("question,statistic,estimate,low,high,truth,covered")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == 7), "{csv}");
    for statistic in [
        "lag_days",
        "rate_ratio_3_vs_1",
        "notified_share_age_9",
        "notified_share_total",
        "answered_exposure_data",
    ] {
        assert!(
            rows.iter().any(|r| r[1] == statistic),
            "{statistic} missing from {csv}"
        );
    }
    // The census's truth of the share notified is what the truth.json's census counts say.
    let total = rows
        .iter()
        .find(|r| r[1] == "notified_share_total")
        .unwrap();
    let census = &truth["census"];
    let share = count(census, "phones_with_a_flagged_day") as f64 / count(census, "phones") as f64;
    assert!(
        (total[5].parse::<f64>().unwrap() - share).abs() < 1e-12,
        "{csv}"
    );
    assert!(share > 0.0);

    // The same seed and scenario: the same report, byte for byte (and the same truth).
    let second = dir.path().join("second");
    sim(&scenario, &second);
    let names = files(&first.join("report"));
    assert_eq!(names, files(&second.join("report")));
    assert!(names.len() >= 10, "{names:?}");
    for name in names
        .iter()
        .map(|n| Path::new("report").join(n))
        .chain([PathBuf::from("truth.json"), PathBuf::from("validation.csv")])
    {
        assert!(
            std::fs::read(first.join(&name)).unwrap() == std::fs::read(second.join(&name)).unwrap(),
            "{} differs between two runs of one seed",
            name.display()
        );
    }
}

#[test]
fn a_bad_scenario_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.toml");
    std::fs::write(&scenario, "days = 10\ncolour = \"blue\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["sim", "--scenario"])
        .arg(&scenario)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("colour"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}
