//! `cocoa bench report`: the real binary with a few hundred answers, on SQLite and (with
//! `COCOA_TEST_DATABASE_URL`) PostgreSQL: the JSON contract, the report files, and reusing a
//! kept store. No timing is asserted: speed is a benchmark (BENCHMARKS.md).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn cocoa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(args)
        .env("COCOA_LOG", "warn")
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_BLOB_URL")
        .output()
        .unwrap()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // One JSON object, nothing else, on stdout.
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout was {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The contract's fields, and the report's files where it wrote them.
fn check(report: &Value, answers: u64, backend: &str, out: &Path) {
    assert_eq!(report["answers"], answers, "{report}");
    assert_eq!(report["backend"], backend, "{report}");
    let seconds = report["seconds"].as_f64().unwrap();
    assert!(seconds > 0.0, "{report}");
    assert!(
        report["rows_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    // Linux, where the tests run, has /proc: the peak is measured.
    let peak = report["peak_rss_mib"].as_f64().unwrap();
    assert!(peak > 1.0 && peak < 1024.0, "{report}");
    let window = &report["window"];
    assert_eq!(window["first"], "2022-04-07", "{report}");
    assert!(window["days"].as_u64().unwrap() > 200, "{report}");
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for expected in ["report.json", "tables/age.csv", "tables/daily.csv"] {
        assert!(files.contains(&expected), "{expected} in {files:?}");
    }
    for f in &files {
        let len = std::fs::metadata(out.join(f)).unwrap().len();
        assert!(len > 0, "{f} is empty");
    }
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(written.is_object());
}

#[test]
fn sqlite_generates_reports_and_reuses_a_kept_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let (data_arg, out_arg) = (data.to_str().unwrap(), out.to_str().unwrap());
    let first = json(&cocoa(&[
        "bench",
        "report",
        "--answers",
        "400",
        "--data-dir",
        data_arg,
        "--out",
        out_arg,
        "--json",
    ]));
    check(&first, 400, "SQLite", &out);
    assert!(first["generate_seconds"].as_f64().unwrap() > 0.0);
    let with = first["answers_with_days"].as_u64().unwrap();
    let without = first["answers_without_days"].as_u64().unwrap();
    assert_eq!(with + without, 400);
    assert!(with > 300 && without > 10, "{first}");
    let mean = first["days_per_answer_mean"].as_f64().unwrap();
    assert!((150.0..210.0).contains(&mean), "{first}");
    assert!(data.join("cocoa.db").exists(), "--data-dir is kept");

    // Again on the kept store: nothing generated, two runs of the report.
    std::fs::remove_dir_all(&out).unwrap();
    let again = json(&cocoa(&[
        "bench",
        "report",
        "--answers",
        "400",
        "--data-dir",
        data_arg,
        "--reuse",
        "--runs",
        "2",
        "--out",
        out_arg,
        "--json",
    ]));
    check(&again, 400, "SQLite", &out);
    assert!(again["generate_seconds"].is_null(), "{again}");
    assert_eq!(again["runs_seconds"].as_array().unwrap().len(), 2);
    assert_eq!(again["window"], first["window"]);

    // A store holding other answers is refused, not added to.
    for args in [
        &["--answers", "400"][..],
        &["--answers", "500", "--reuse"][..],
    ] {
        let mut all = vec!["bench", "report", "--data-dir", data_arg];
        all.extend(args);
        let refused = cocoa(&all);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(refused.stdout.is_empty());
    }
}

#[test]
fn the_default_run_in_a_temporary_folder_prints_text() {
    let output = cocoa(&["bench", "report", "--answers", "50"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("50 answers on SQLite"), "{text}");
    assert!(text.contains("peak"), "{text}");
}

#[test]
fn postgres_in_a_fresh_database() {
    // Skips without COCOA_TEST_DATABASE_URL, except under CI, where it fails.
    let Ok(url) = std::env::var("COCOA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "COCOA_TEST_DATABASE_URL must point at PostgreSQL when CI is set"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = json(&cocoa(&[
        "bench",
        "report",
        "--answers",
        "300",
        "--database-url",
        &url,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    check(&report, 300, "PostgreSQL", &out);
}
