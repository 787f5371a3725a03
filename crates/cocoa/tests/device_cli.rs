//! The README's story with `cocoa device` commands against a real `cocoa serve` process: three
//! phone folders meet, one registers, the server exports, the close contact is notified once.
//! `--state`, `--now` and `--json` are accepted before or after the subcommand. A file damaged on
//! the server is reported by `check` (text and `--json`) and matched once it is repaired.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn cocoa(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(args)
        .env_remove("COCOA_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = cocoa(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn state(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn the_readme_story_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (_server, base) = common::start(&data);
    let listen = base.trim_start_matches("http://").to_owned();
    let (alice, bob, carol) = (
        state(dir.path(), "alice"),
        state(dir.path(), "bob"),
        state(dir.path(), "carol"),
    );
    for p in [&alice, &bob, &carol] {
        ok(&["device", "--state", p, "init", "--server", &base]);
    }
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let at = |time: &str| format!("{yesterday}T{time}Z");
    // Global options after the subcommand, too.
    let met = json(&[
        "device",
        "meet",
        "--state",
        &bob,
        "--other",
        &alice,
        "--from",
        &at("09:00:00"),
        "--minutes",
        "20",
        "--attenuation",
        "50",
        "--json",
    ]);
    assert!(met["sightings"].as_u64().unwrap() >= 4);
    ok(&[
        "device",
        "--state",
        &carol,
        "meet",
        "--other",
        &alice,
        "--from",
        &at("10:00:00"),
        "--minutes",
        "5",
        "--attenuation",
        "70",
    ]);

    let issued = ok(&[
        "admin",
        "issue-numbers",
        "--server",
        &base,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let number = issued.split('\t').next().unwrap().to_owned();
    let registered = json(&[
        "device",
        "--json",
        "--state",
        &alice,
        "register",
        "--processing-number",
        &number,
        "--symptom",
        "yes",
        "--date",
        &yesterday,
    ]);
    assert!(registered["registered_keys"].as_u64().unwrap() >= 1);
    let (code, _, err) = cocoa(&[
        "device",
        "--state",
        &alice,
        "register",
        "--processing-number",
        "1234",
        "--symptom",
        "yes",
        "--date",
        &yesterday,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("8 digits"), "{err}");

    ok(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ]);

    let b = json(&["device", "--state", &bob, "check", "--json"]);
    assert_eq!(b["matched_keys"], 1, "{b}");
    assert_eq!(b["new_high_risk_days"], serde_json::json!([yesterday]));
    assert!(
        b["files_processed"].as_u64().unwrap() >= 1
            && b["keys_processed"].as_u64().unwrap() >= 1000
    );
    let c = json(&["device", "--state", &carol, "check", "--json"]);
    assert_eq!(c["new_high_risk_days"], serde_json::json!([]));
    let again = json(&["device", "--state", &bob, "check", "--json"]);
    assert_eq!(again["new_high_risk_days"], serde_json::json!([]));

    let history = json(&["device", "--state", &bob, "history", "--json"]);
    assert_eq!(history["days"][0]["date"], yesterday.as_str());
    assert_eq!(history["days"][0]["high_risk"], true);
    assert!(ok(&["device", "--state", &bob, "history"]).contains("HIGH RISK"));
    // Sixteen days on, the normal view is empty; --all and save-info still have the day.
    let later = (chrono::Utc::now() + chrono::Duration::days(16)).to_rfc3339();
    assert_eq!(
        json(&["device", "--state", &bob, "--now", &later, "history", "--json"])["days"],
        serde_json::json!([])
    );
    assert_eq!(
        json(&["device", "--state", &bob, "--now", &later, "history", "--all", "--json"])["days"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = dir.path().join("exposure_data.json");
    ok(&[
        "device",
        "--state",
        &bob,
        "save-info",
        "--out",
        out.to_str().unwrap(),
    ]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(saved["daily_summaries"].as_array().unwrap().len(), 1);

    // A phone that was never set up says so.
    let (code, _, err) = cocoa(&["device", "--state", &state(dir.path(), "nobody"), "check"]);
    assert_eq!(code, 1);
    assert!(err.contains("init"), "{err}");
    // Advertising gives a payload any phone can observe.
    let payload = ok(&["device", "--state", &alice, "advertise"]);
    assert_eq!(payload.trim().len(), 62);
    ok(&[
        "device",
        "--state",
        &carol,
        "observe",
        "--payload",
        payload.trim(),
        "--rssi",
        "-70",
        "--at",
        &chrono::Utc::now().to_rfc3339(),
    ]);
    let status = json(&["device", "--state", &carol, "status", "--json"]);
    assert_eq!(status["sightings"], 3);

    // The survey: a dry run prints the exact request and changes nothing.
    let dry = json(&[
        "device",
        "--state",
        &bob,
        "survey",
        "--age",
        "5",
        "--commute",
        "none",
        "--send-exposure-data",
        "--dry-run",
    ]);
    let content = &dry["eventLogs"][0]["content"];
    assert_eq!(content["q1"], 5);
    assert_eq!(content["q2"], Value::Null);
    assert_eq!(content["start_date"], Value::Null, "not consented");
    assert_eq!(
        content["exposure_data"]["daily_summaries"][0]["ExposureDetected"],
        1
    );
    assert!(dry.get("platform").is_none_or(Value::is_null));
    assert_eq!(
        json(&["device", "--state", &bob, "status", "--json"])["sightings"],
        5
    );
    let (code, _, err) = cocoa(&[
        "device",
        "--state",
        &bob,
        "survey",
        "--age",
        "10",
        "--commute",
        "1",
    ]);
    assert_eq!(code, 2, "{err}");
    // Sent: nothing but the marker is left, and every other command refuses politely.
    ok(&[
        "device",
        "--state",
        &bob,
        "survey",
        "--age",
        "5",
        "--commute",
        "none",
        "--send-exposure-data",
        "--send-start-date",
    ]);
    ok(&["device", "--state", &carol, "end-of-use"]);
    for folder in [&bob, &carol] {
        let left: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["use-ended"], "{folder}");
        let (code, _, err) = cocoa(&["device", "--state", folder, "status"]);
        assert_eq!(code, 1);
        assert!(err.contains("ended"), "{err}");
    }
}

/// Every file under `dir` whose name ends with `.zip`.
fn zips_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(zips_under(&path));
        } else if path.extension().is_some_and(|e| e == "zip") {
            found.push(path);
        }
    }
    found
}

#[test]
fn check_json_reports_a_failed_file_and_the_next_check_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (_server, base) = common::start(&data);
    let listen = base.trim_start_matches("http://").to_owned();
    let (alice, bob) = (state(dir.path(), "alice"), state(dir.path(), "bob"));
    for p in [&alice, &bob] {
        ok(&["device", "--state", p, "init", "--server", &base]);
    }
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    ok(&[
        "device",
        "--state",
        &bob,
        "meet",
        "--other",
        &alice,
        "--from",
        &format!("{yesterday}T09:00:00Z"),
        "--minutes",
        "20",
        "--attenuation",
        "50",
    ]);
    let issued = ok(&[
        "admin",
        "issue-numbers",
        "--server",
        &base,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let number = issued.split('\t').next().unwrap().to_owned();
    ok(&[
        "device",
        "--state",
        &alice,
        "register",
        "--processing-number",
        &number,
        "--symptom",
        "yes",
        "--date",
        &yesterday,
    ]);
    ok(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ]);

    // Every published file is damaged on the server's disk.
    let zips = zips_under(&data);
    assert!(!zips.is_empty());
    let originals: Vec<Vec<u8>> = zips.iter().map(|z| std::fs::read(z).unwrap()).collect();
    for (zip, bytes) in zips.iter().zip(&originals) {
        std::fs::write(zip, &bytes[..bytes.len() / 2]).unwrap();
    }
    let failed = json(&["device", "--state", &bob, "check", "--json"]);
    let files = failed["files_failed"].as_array().unwrap();
    assert_eq!(files.len(), zips.len(), "{failed}");
    for f in files {
        assert!(f["url"].as_str().unwrap().ends_with(".zip"), "{f}");
        assert!(f["created"].as_i64().unwrap() > 0, "{f}");
        assert!(!f["reason"].as_str().unwrap().is_empty(), "{f}");
    }
    assert_eq!(failed["files_processed"], 0, "{failed}");
    assert_eq!(failed["new_high_risk_days"], serde_json::json!([]));
    let status = json(&["device", "--state", &bob, "status", "--json"]);
    assert_eq!(
        status["files_to_retry"].as_array().unwrap().len(),
        zips.len()
    );
    assert_eq!(status["last_created"], 0, "{status}");
    let text = ok(&["device", "--state", &bob, "check"]);
    assert!(
        text.contains("FAILED: ") && text.contains("tried again at the next check"),
        "{text}"
    );

    // Repaired: the next check matches them, once.
    for (zip, bytes) in zips.iter().zip(&originals) {
        std::fs::write(zip, bytes).unwrap();
    }
    let retried = json(&["device", "--state", &bob, "check", "--json"]);
    assert_eq!(retried["files_failed"], serde_json::json!([]), "{retried}");
    assert_eq!(
        retried["files_processed"].as_u64().unwrap() as usize,
        zips.len()
    );
    assert_eq!(retried["matched_keys"], 1, "{retried}");
    assert_eq!(
        retried["new_high_risk_days"],
        serde_json::json!([yesterday])
    );
    let again = json(&["device", "--state", &bob, "check", "--json"]);
    assert_eq!(again["files_processed"], 0, "{again}");
    assert!(ok(&["device", "--state", &bob, "status"]).contains("files to retry: none"));
}
