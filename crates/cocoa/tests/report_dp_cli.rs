//! `cocoa report --dp-epsilon`: the real binary on a seeded SQLite data folder, with
//! differential privacy: report.json states the accounting, a bad budget is a clear error that
//! writes nothing, and two runs give different noised counts that both respect suppression.

mod common;

use common::answers::{cocoa, ok, setup, Setup};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The survey closed on 2022-05-07 (JST), the day every answer was received: under DP the
/// window ends then, FIRST..=RECEIVED, 31 days.
const CLOSED: &str = "[survey]\ncloses_at = \"2022-05-07T23:59:59+09:00\"\n";

fn report(t: &Setup, out: &Path, extra: &[&str]) -> Output {
    let config = t.root.join("cocoa.toml");
    std::fs::write(&config, CLOSED).unwrap();
    let (out, config) = (out.to_str().unwrap(), config.to_str().unwrap());
    let mut args = vec![
        "report",
        "--data-dir",
        &t.data,
        "--config",
        config,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    cocoa(&args)
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The counts of respondents in the CSV tables (table, row, value or empty).
fn respondent_counts(out: &Path) -> Vec<(String, String)> {
    let columns: [(&str, &[usize]); 7] = [
        ("age", &[1, 2]),
        ("start_month", &[1, 2]),
        ("commute", &[1, 2]),
        ("daily", &[1, 2]),
        ("cooperation", &[1, 2]),
        ("cooperation_by_age", &[1, 2, 3, 4, 5]),
        ("received", &[1]),
    ];
    let mut counts = Vec::new();
    for (table, cols) in columns {
        let text = std::fs::read_to_string(out.join(format!("tables/{table}.csv"))).unwrap();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            for &c in cols {
                counts.push((format!("{table} {}", fields[0]), fields[c].to_owned()));
            }
        }
    }
    counts
}

#[test]
fn two_runs_noise_differently_and_both_respect_suppression() {
    let t = setup();
    let (a, b) = (t.root.join("a"), t.root.join("b"));
    let stdout = ok(&report(&t, &a, &["--dp-epsilon", "1"]));
    assert!(
        stdout.contains("differential privacy (epsilon 1)"),
        "{stdout}"
    );
    ok(&report(&t, &b, &["--dp-epsilon", "1", "--json"]));

    let (ca, cb) = (respondent_counts(&a), respondent_counts(&b));
    assert_ne!(ca, cb, "two DP runs gave the same tables");
    let mut published = 0;
    for (what, v) in ca.iter().chain(&cb) {
        if v.is_empty() {
            continue;
        }
        let v: u64 = v.parse().unwrap();
        assert!(v >= 10, "{what}: {v} under the threshold");
        assert_eq!(v % 5, 0, "{what}: {v}");
        published += 1;
    }
    assert!(published > 10, "{published}");

    let r = json(a.join("report.json"));
    let privacy = &r["privacy"];
    assert_eq!(privacy["epsilon"], 1.0);
    assert_eq!(privacy["delta"], serde_json::Value::Null);
    assert!(privacy["mechanism"].as_str().unwrap().contains("Laplace"));
    assert!(privacy["composition"]["rule"]
        .as_str()
        .unwrap()
        .contains("basic sequential composition"));
    assert_eq!(privacy["contribution_bound"]["max_days"], 31);
    assert!(privacy["method"]["ja"].as_str().unwrap().len() > 10);
    let stats = privacy["statistics"].as_array().unwrap();
    assert!(stats.len() >= 5);
    let sum: f64 = stats.iter().map(|s| s["epsilon"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-8, "{sum}");
    for s in stats {
        assert!(s["noise_scale"].as_f64().unwrap() > 0.0, "{s}");
        assert!(s["noise_sd"].as_f64().unwrap() > 0.0, "{s}");
        assert!(s["sensitivity"].as_f64().unwrap() >= 1.0, "{s}");
        assert!(s["name"].is_string() && s["description"].is_string());
    }
    let daily = stats.iter().find(|s| s["name"] == "daily").unwrap();
    assert_eq!(daily["l1_sensitivity"], 31.0);
    assert_eq!(r["days_outside_window"]["suppressed"], true);
    assert_eq!(privacy["withheld"][0]["name"], "days_outside_window");
    // A published count states its noise.
    let answers = &r["answers"];
    let noise_sd = answers["noise_sd"].as_f64().unwrap();
    assert!(noise_sd > 0.0 || answers["suppressed"] == true, "{answers}");
    assert_eq!(r["protection"]["threshold_spread"], 1);

    let summary: serde_json::Value = serde_json::from_str(&ok(&report(
        &t,
        &t.root.join("c"),
        &["--dp-epsilon=0.5", "--json"],
    )))
    .unwrap();
    assert_eq!(summary["dp"]["epsilon"], 0.5);
}

#[test]
fn with_delta_the_gaussian_under_zcdp() {
    let t = setup();
    let out = t.root.join("out");
    ok(&report(
        &t,
        &out,
        &["--dp-epsilon", "2", "--dp-delta", "1e-6"],
    ));
    let r = json(out.join("report.json"));
    let privacy = &r["privacy"];
    assert_eq!(privacy["delta"], 1e-6);
    assert!(privacy["mechanism"].as_str().unwrap().contains("Gaussian"));
    let rho = privacy["composition"]["rho"].as_f64().unwrap();
    let stats = privacy["statistics"].as_array().unwrap();
    let sum: f64 = stats.iter().map(|s| s["rho"].as_f64().unwrap()).sum();
    assert!((sum / rho - 1.0).abs() < 1e-8, "{sum} against {rho}");
    let spent = privacy["composition"]["epsilon_spent"].as_f64().unwrap();
    assert!(spent <= 2.0 && spent > 2.0 * (1.0 - 1e-6), "{spent}");
    let daily = stats.iter().find(|s| s["name"] == "daily").unwrap();
    assert!((daily["sensitivity"].as_f64().unwrap() - 31f64.sqrt()).abs() < 1e-12);
}

#[test]
fn a_bad_budget_is_a_clear_error_and_writes_nothing() {
    let t = setup();
    let out = t.root.join("out");
    for (args, flag) in [
        (&["--dp-epsilon=0"][..], "--dp-epsilon"),
        (&["--dp-epsilon=-1"], "--dp-epsilon"),
        (&["--dp-epsilon", "NaN"], "--dp-epsilon"),
        (&["--dp-epsilon", "inf"], "--dp-epsilon"),
        (&["--dp-epsilon", "1", "--dp-delta", "0"], "--dp-delta"),
        (&["--dp-epsilon", "1", "--dp-delta", "1"], "--dp-delta"),
        (&["--dp-epsilon", "1", "--dp-delta=-0.1"], "--dp-delta"),
    ] {
        let output = report(&t, &out, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("must be"),
            "{args:?}: {stderr}"
        );
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // A budget opendp cannot account (its zCDP conversion overflows): nothing is written.
    let output = report(&t, &out, &["--dp-epsilon", "1e300", "--dp-delta", "1e-6"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing written"), "{stderr}");
    assert!(!out.exists());
    // Not numbers, or delta alone: refused by the parser.
    for args in [
        &["--dp-epsilon", "much"][..],
        &["--dp-delta", "1e-6"],
        &["--dp-epsilon", "1", "--dp-delta", "tiny"],
    ] {
        let output = report(&t, &out, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!out.exists());
    }
}

#[test]
fn without_dp_the_report_has_no_privacy_section() {
    let t = setup();
    let out = t.root.join("out");
    let stdout = ok(&report(&t, &out, &[]));
    assert!(!stdout.contains("differential privacy"), "{stdout}");
    let r = json(out.join("report.json"));
    assert!(r.get("privacy").is_none());
    assert!(r["answers"].get("noise_sd").is_none());
    let help = ok(&cocoa(&["report", "--help"]));
    assert!(help.contains("--dp-epsilon") && help.contains("--dp-delta"));
}

/// Under DP the window does not depend on the answers (the last day one was received would be
/// published exactly): it ends when the survey closes, or, while it is open, today.
#[test]
fn under_dp_the_window_ends_when_the_survey_closes_not_with_the_last_answer() {
    let t = setup();
    let closed = t.root.join("closed");
    ok(&report(&t, &closed, &["--dp-epsilon", "1"]));
    let window = &json(closed.join("report.json"))["window"];
    assert_eq!(window["last"], "2022-05-07");

    let open = t.root.join("open");
    let out = open.to_str().unwrap();
    ok(&cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out,
        "--dp-epsilon",
        "1",
    ]));
    let window = &json(open.join("report.json"))["window"];
    let today = chrono::Utc::now().date_naive().to_string();
    let last = window["last"].as_str().unwrap();
    // Today, unless the day changed while the report ran.
    assert!(last == today || last < today.as_str(), "{last} vs {today}");
    assert!(last > "2022-05-07", "{last}");

    // Without DP, the window ends on the last day an answer was received.
    let plain = t.root.join("plain");
    ok(&report(&t, &plain, &[]));
    assert_eq!(
        json(plain.join("report.json"))["window"]["last"],
        "2022-05-07"
    );
}
