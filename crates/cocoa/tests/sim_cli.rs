//! `cocoa sim` end to end with the real binary: a small city through the real server and phones
//! (numbers issued, keys registered and exported on the schedule, phones notified, survey
//! answers stored, the report made), the invariants of `truth.json`, the same seed giving
//! the same report bytes, the shared checks giving every phone what its own check gives it, a
//! planted effect found, and `--serve`.
//!
//! The city is smaller than the demo's (about 140 phones over 20 days, with a stronger epidemic
//! and every positive registering) so that a debug build runs it twice in well under a minute:
//! every phone verifies every export file itself, which a debug build does slowly.

mod common;

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

fn sim(scenario: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["sim", "--scenario"])
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .args(extra)
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
    let summary = sim(&scenario, &first, &[]);

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

    // The same seed and scenario: the same report, byte for byte (and the same truth, with the
    // digest of every phone's history).
    let second = dir.path().join("second");
    let again = sim(&scenario, &second, &[]);
    assert_same_files(&first, &second, "two runs of one seed");
    assert_eq!(again["phone_state_sha256"], summary["phone_state_sha256"]);

    // Each phone's own check instead of the shared one: every phone ends with the same history
    // (daily summaries, exposure windows, notified days: the digest in truth.json and the
    // summary), and so the same notifications, model, survey and report.
    let alone = dir.path().join("per-phone");
    let per_phone = sim(&scenario, &alone, &["--checks", "per-phone"]);
    assert_eq!(
        per_phone["phone_state_sha256"],
        summary["phone_state_sha256"]
    );
    assert_eq!(per_phone["notifications"], summary["notifications"]);
    assert_same_files(&first, &alone, "shared and per-phone checks");
    assert_eq!(
        driver["phone_state_sha256"].as_str().unwrap().len(),
        64,
        "{driver:#}"
    );
}

/// `a` and `b` hold the same report, truth.json and validation.csv, byte for byte.
fn assert_same_files(a: &Path, b: &Path, what: &str) {
    let names = files(&a.join("report"));
    assert_eq!(names, files(&b.join("report")));
    assert!(names.len() >= 10, "{names:?}");
    for name in names
        .iter()
        .map(|n| Path::new("report").join(n))
        .chain([PathBuf::from("truth.json"), PathBuf::from("validation.csv")])
    {
        assert!(
            std::fs::read(a.join(&name)).unwrap() == std::fs::read(b.join(&name)).unwrap(),
            "{} differs between {what}",
            name.display()
        );
    }
}

/// A city of about 1,700 phones over 60 days where commuters on public transport meet twice
/// as many people in their carriages (`contacts.transit.multiplier = 2`), most people answer the
/// survey, and one in five leaves the commuting question unanswered (so that no group of the
/// comparison is nearly all notified or nearly none, which the small-cell rule would hide).
const PLANTED: &str = r#"
seed = 7
days = 60
population = 2600

[phones]
cocoa_by_age = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]

[contacts.transit]
multiplier = 2.0

[imports]
scale = 1.0

[care]
registration = [{ from = 2022-04-07, probability = 1.0 }]

[survey]
participation_by_age = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
consent_daily_by_age = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
answer_commute_by_age = [0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
"#;

/// One row of validation.csv: (estimate, low, high, truth, covered).
fn validation_row(csv: &str, statistic: &str) -> [Option<f64>; 4] {
    let line = csv
        .lines()
        .find(|l| l.split(',').nth(1) == Some(statistic))
        .unwrap_or_else(|| panic!("{statistic} missing from {csv}"));
    let cells: Vec<&str> = line.split(',').collect();
    std::array::from_fn(|i| cells[2 + i].parse().ok())
}

#[test]
fn the_report_finds_the_planted_effect_of_public_transport_and_covers_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("planted.toml");
    std::fs::write(&scenario, PLANTED).unwrap();
    let out = dir.path().join("out");
    let summary = sim(&scenario, &out, &[]);
    assert!(count(&summary, "phones") >= 1_500, "{summary:#}");
    assert!(count(&summary, "registrations") > 0, "{summary:#}");
    let truth = read_json(&out.join("truth.json"));
    for (name, ok) in truth["invariants"].as_object().unwrap() {
        assert_eq!(ok, &serde_json::Value::Bool(true), "invariant {name}");
    }
    let csv = std::fs::read_to_string(out.join("validation.csv")).unwrap();

    // The planted effect: public-transport commuters (3) are notified more often than
    // non-commuters (1), and more than commuters without public transport (2) are, in truth and
    // in the report; the report's interval covers the true ratio.
    let [estimate, low, high, true_ratio] = validation_row(&csv, "share_ratio_3_vs_1");
    let (estimate, low, high, true_ratio) = (
        estimate.expect("the ratio is published"),
        low.unwrap(),
        high.unwrap(),
        true_ratio.unwrap(),
    );
    assert!(true_ratio > 1.0 && estimate > 1.0 && low > 1.0, "{csv}");
    assert!(low <= true_ratio && true_ratio <= high, "{csv}");
    let [without, _, _, true_without] = validation_row(&csv, "share_ratio_2_vs_1");
    assert!(estimate > without.expect("published"), "{csv}");
    assert!(true_ratio > true_without.unwrap(), "{csv}");

    // Every estimate the report published, next to its truth: most intervals cover it (95%
    // intervals, some twenty of them).
    let compared = count(&summary, "compared");
    let covered = count(&summary, "covered");
    assert!(compared >= 15, "{csv}");
    assert!(
        covered * 10 >= compared * 8,
        "{covered} of {compared} covered: {csv}"
    );
}

#[test]
fn serve_keeps_the_server_up_with_the_report_and_the_portal_until_interrupted() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("city.toml");
    // The small city over fewer days: what is served, not what it found, is checked here.
    std::fs::write(&scenario, SCENARIO.replace("days = 20", "days = 8")).unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["sim", "--json", "--serve", "--scenario"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let summary: serde_json::Value = serde_json::from_str(&line).unwrap();
    let base = summary["server"]
        .as_str()
        .expect("the server's address")
        .to_owned();
    let page = reqwest::blocking::get(format!("{base}/report/")).unwrap();
    assert_eq!(page.status(), 200);
    let served = page.bytes().unwrap();
    assert_eq!(
        served.as_ref(),
        std::fs::read(out.join("report/index.html")).unwrap()
    );
    let portal = reqwest::blocking::get(format!("{base}/portal")).unwrap();
    assert_eq!(portal.status(), 200);
    // The portal's admin token, readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Ctrl-C stops it.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap();
    assert!(code.success(), "{code:?}");
    assert!(reqwest::blocking::get(format!("{base}/report/")).is_err());
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

/// `cocoa demo` on a terminal: a progress bar with the day and the key figures, the report in
/// `./cocoa-demo` by default, and where it is printed. (A smaller city than the preset's, as
/// `--phones` and `--days` allow.)
#[test]
fn demo_shows_its_progress_and_writes_the_report_into_cocoa_demo() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        // A terminal of a usual size (a new one has 0 columns, where nothing fits).
        "stty cols 160 rows 40; {} demo --phones 300 --days 6",
        env!("CARGO_BIN_EXE_cocoa"),
    );
    let (status, shown) = common::on_terminal(&command, dir.path(), &[("COCOA_LOG", "warn")]);
    assert!(status.success(), "{status:?}: {shown}");
    assert!(shown.contains("day "), "no progress bar: {shown:?}");
    assert!(shown.contains("/6"), "no progress bar: {shown:?}");
    assert!(shown.contains("infected"), "no key figures: {shown:?}");
    assert!(shown.contains("registered"), "no key figures: {shown:?}");
    assert!(
        shown.contains("phones notified"),
        "no key figures: {shown:?}"
    );
    assert!(
        shown.contains("report: cocoa-demo/report/index.html"),
        "{shown:?}"
    );
    for name in ["report/index.html", "truth.json", "validation.csv"] {
        assert!(dir.path().join("cocoa-demo").join(name).is_file(), "{name}");
    }
}

/// `cocoa bench sim --json`: one JSON object with the figures its contract names, for about the
/// phones and days asked.
#[test]
fn bench_sim_prints_one_json_object_with_its_figures() {
    let output = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args([
            "bench", "sim", "--phones", "400", "--days", "5", "--seed", "3", "--json",
        ])
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for field in [
        "phones",
        "days",
        "registrations",
        "notifications",
        "survey_answers",
    ] {
        assert!(v[field].is_u64(), "{field} in {v:#}");
    }
    assert!(v["seconds"].as_f64().unwrap() > 0.0, "{v:#}");
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 0.0, "{v:#}");
    assert_eq!(count(&v, "days"), 5);
    // About the phones asked: the population is sized for them.
    let phones = count(&v, "phones");
    assert!((250..=550).contains(&phones), "{phones} phones for 400");
    assert!(count(&v, "survey_answers") > 0, "{v:#}");
}

/// `--days`, `--seed` and `--phones` override the scenario file's; `--min-cell` and
/// `--round-to` set the report's protection.
#[test]
fn flags_override_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("city.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let summary = sim(
        &scenario,
        &out,
        &[
            "--days",
            "4",
            "--seed",
            "12",
            "--phones",
            "100",
            "--min-cell",
            "3",
            "--round-to",
            "2",
        ],
    );
    // The report's protection, as `cocoa report --min-cell --round-to` sets it.
    let report = read_json(&out.join("report/report.json"));
    assert_eq!(count(&report["protection"], "min_cell"), 3);
    assert_eq!(count(&report["protection"], "round_to"), 2);
    assert_eq!(count(&summary, "days"), 4);
    let truth = read_json(&out.join("truth.json"));
    assert_eq!(count(&truth["scenario"], "seed"), 12);
    assert_eq!(count(&truth["scenario"], "days"), 4);
    // The file's 240 people (about 190 phones) resized for about 100 phones.
    let phones = count(&summary, "phones");
    assert!((60..=140).contains(&phones), "{phones} phones for 100");
    assert!(count(&truth["scenario"], "population") < 240);
}

/// The demo's city as the README gives it: 32,000 people with about 8,500 COCOA phones at the
/// start (one day of it here; `tests/scenario.rs` holds the preset's 120 days from
/// 2022-04-07; BENCHMARKS.md the 9,530 phones in use at the end).
#[test]
fn the_demo_city_has_32000_people_and_about_8500_phones_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["demo", "--days", "1", "--json", "--out"])
        .arg(dir.path().join("out"))
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(count(&summary, "people"), 32_000);
    let phones = count(&summary, "phones");
    assert!((8_000..=9_000).contains(&phones), "{phones} phones");
    let truth = read_json(&dir.path().join("out/truth.json"));
    assert_eq!(truth["scenario"]["start_date"], "2022-04-07");
}
