//! `cocoa report`: the real binary on a seeded SQLite data folder.

mod common;

use common::answers::{cocoa, ok, setup};
use std::path::{Path, PathBuf};

/// The CSV's header and its rows keyed by the first field.
fn csv(path: PathBuf) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_owned();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == key)
        .unwrap_or_else(|| panic!("no row {key}"))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

#[test]
fn exact_tables_and_report_with_the_protection_turned_down() {
    let t = setup();
    // --out is created if missing, nested.
    let out = t.root.join("new").join("out");
    let cases = t.root.join("cases.csv");
    let mut text = String::from("Date,ALL,Hokkaido\n");
    for d in 1..=30 {
        text += &format!("2022/4/{d},{},1\n", 100 + d);
    }
    std::fs::write(&cases, text).unwrap();
    let activity = t.root.join("activity.csv");
    std::fs::write(&activity, "date,value\n2022-04-10,1.5\n2022-04-11,2\n").unwrap();
    let periods = t.root.join("periods.csv");
    std::fs::write(
        &periods,
        "start,end,label\n2022-04-08,2022-04-17,Golden week\n",
    )
    .unwrap();
    let stdout = ok(&cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
        "--min-cell",
        "1",
        "--round-to",
        "1",
        "--cases",
        cases.to_str().unwrap(),
        "--activity",
        activity.to_str().unwrap(),
        "--periods",
        periods.to_str().unwrap(),
        "--active-users",
        "1000",
    ]));
    assert!(stdout.starts_with("read 353 answers"), "{stdout}");
    assert!(stdout.contains("wrote 10 files"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(out.join("index.html").exists());

    let (header, rows) = csv(out.join("tables/age.csv"));
    assert_eq!(header, "age_group,respondents,notified,share");
    assert_eq!(row(&rows, "3"), s(&["3", "200", "40", "0.2000"]));
    assert_eq!(row(&rows, "5"), s(&["5", "100", "30", "0.3000"]));
    assert_eq!(row(&rows, "7")[1], "3");

    let (header, rows) = csv(out.join("tables/commute.csv"));
    assert_eq!(
        header,
        "commute,respondents,notified,share,person_days,flagged_days,rate_per_1000"
    );
    assert_eq!(
        row(&rows, "1"),
        s(&["1", "200", "40", "0.2000", "2000", "40", "20.000"])
    );
    assert_eq!(
        row(&rows, "3"),
        s(&["3", "100", "30", "0.3000", "1000", "30", "30.000"])
    );

    let (header, rows) = csv(out.join("tables/daily.csv"));
    assert_eq!(header, "date,respondents_with_data,flagged,registrations");
    assert_eq!(rows.len(), 31, "2022-04-07 to 2022-05-07");
    assert_eq!(rows[0][0], "2022-04-07");
    assert_eq!(rows[30][0], "2022-05-07");
    assert_eq!(
        &row(&rows, "2022-04-13")[..3],
        s(&["2022-04-13", "303", "70"])
    );
    assert_eq!(
        &row(&rows, "2022-04-12")[..3],
        s(&["2022-04-12", "303", ""])
    );

    let (header, rows) = csv(out.join("tables/cooperation.csv"));
    assert_eq!(header, "item,answered,respondents");
    assert_eq!(
        rows,
        vec![
            s(&["q1", "303", "353"]),
            s(&["q2", "303", "353"]),
            s(&["start_date", "200", "353"]),
            s(&["exposure_data", "303", "353"]),
        ]
    );
    for other in [
        "start_month",
        "cooperation_by_age",
        "cooperation_by_commute",
        "received",
    ] {
        assert!(out.join(format!("tables/{other}.csv")).is_file(), "{other}");
    }
    let (_, rows) = csv(out.join("tables/received.csv"));
    assert_eq!(row(&rows, "2022-05-07"), s(&["2022-05-07", "353"]));

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["protection"]["min_cell"], 1);
    assert_eq!(report["protection"]["round_to"], 1);
    assert!(report["protection"]["method"]["ja"].as_str().unwrap().len() > 10);
    assert_eq!(report["answers"]["value"], 353);
    assert_eq!(report["answers"]["suppressed"], false);
    let age3 = &report["age"]["rows"][2];
    assert_eq!(age3["age_group"], "3");
    assert_eq!(age3["notified"]["numerator"]["value"], 40);
    let interval = age3["notified"]["interval"].as_array().unwrap();
    assert!(interval[0].as_f64().unwrap() < 0.2 && interval[1].as_f64().unwrap() > 0.2);
    for q in ["registrations", "commuting", "activity", "cooperation"] {
        let m = &report["questions"][q]["method"];
        assert!(m["en"].is_string() && m["ja"].is_string(), "{q}");
    }
    // --cases: question 1 is also answered against national cases.
    assert_eq!(
        report["questions"]["registrations"]["against_national_cases"]["regressor"],
        "NationalCases"
    );
    // --activity is read for question 3.
    assert_eq!(report["side_inputs"]["activity"], true);
    // --periods: question 3's rates per period.
    assert_eq!(
        report["questions"]["activity"]["by_period"][0]["label"],
        "Golden week"
    );
    // --active-users: answers as a share of them.
    assert_eq!(report["questions"]["cooperation"]["of_active_users"], 0.353);
}

#[test]
fn defaults_suppress_small_groups_and_round_to_five() {
    let t = setup();
    let out = t.root.join("out");
    let stdout = ok(&cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["answers_read"], 353);
    assert!(summary["files"]
        .as_array()
        .unwrap()
        .contains(&"report.json".into()));

    let (_, rows) = csv(out.join("tables/age.csv"));
    // Age group 7 has 3 respondents: suppressed.
    assert_eq!(row(&rows, "7")[1], "");
    // Every published count, in every table, is a multiple of 5.
    let counts: [(&str, &[usize]); 8] = [
        ("age", &[1, 2]),
        ("start_month", &[1, 2]),
        ("commute", &[1, 2, 4, 5]),
        ("daily", &[1, 2, 3]),
        ("cooperation", &[1, 2]),
        ("cooperation_by_age", &[1, 2, 3, 4, 5]),
        ("cooperation_by_commute", &[1, 2, 3, 4, 5]),
        ("received", &[1]),
    ];
    let mut published = 0;
    for (table, columns) in counts {
        let (_, rows) = csv(out.join(format!("tables/{table}.csv")));
        for r in &rows {
            for &c in columns {
                if !r[c].is_empty() {
                    let v: u64 = r[c].parse().unwrap();
                    assert_eq!(v % 5, 0, "{table}: {r:?}");
                    published += 1;
                }
            }
        }
    }
    assert!(published > 20, "{published}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["protection"]["min_cell"], 10);
    assert_eq!(report["protection"]["round_to"], 5);
    let age7 = &report["age"]["rows"][6]["notified"]["denominator"];
    assert_eq!(age7["suppressed"], true);
    assert_eq!(age7["value"], serde_json::Value::Null);
    assert_eq!(age7["min_cell"], 10);
}

#[test]
fn a_bad_side_input_names_its_file_and_line_and_writes_nothing() {
    let t = setup();
    let out = t.root.join("out");
    let periods = t.root.join("periods.csv");
    std::fs::write(
        &periods,
        "start,end,label\n2022-04-08,2022-04-10,a\n2022-04-31,2022-05-01,b\n",
    )
    .unwrap();
    let output = cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
        "--periods",
        periods.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("periods.csv") && stderr.contains("line 3"),
        "{stderr}"
    );
    assert!(!out.exists());

    let activity = t.root.join("activity.csv");
    std::fs::write(&activity, "date,value\n2022-04-08,x\n").unwrap();
    let output = cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
        "--activity",
        activity.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("activity.csv") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(!out.exists());

    let output = cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
        "--active-users",
        "0",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn help_names_every_flag() {
    let stdout = ok(&cocoa(&["report", "--help"]));
    for flag in [
        "--out",
        "--cases",
        "--activity",
        "--periods",
        "--active-users",
        "--min-cell",
        "--round-to",
        "--json",
        "--data-dir",
        "--config",
        "--database-url",
    ] {
        assert!(stdout.contains(flag), "{flag}");
    }
    assert!(stdout.contains("[default: 10]") && stdout.contains("[default: 5]"));
}

/// `cocoa serve` serves the report `cocoa report` published, at `/report/`, with its tables
/// under it; before there is one, 404.
#[test]
fn serve_serves_the_published_report_at_report() {
    let t = setup();
    let (server, base) = common::start(Path::new(&t.data));
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{base}{path}")).send().unwrap();
    let before = get("/report/");
    assert_eq!(before.status(), 404);
    assert_eq!(
        before.json::<serde_json::Value>().unwrap()["error"],
        "not_found"
    );

    let out = t.root.join("out");
    ok(&cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
    ]));

    let redirect = get("/report");
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/report/");
    let page = get("/report/");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    assert_eq!(
        page.bytes().unwrap(),
        std::fs::read(out.join("index.html")).unwrap()
    );
    for file in ["report.json", "tables/age.csv", "tables/commute.csv"] {
        let answer = get(&format!("/report/{file}"));
        assert_eq!(answer.status(), 200, "{file}");
        assert_eq!(
            answer.bytes().unwrap(),
            std::fs::read(out.join(file)).unwrap(),
            "{file}"
        );
    }
    assert_eq!(get("/report/tables/nope.csv").status(), 404);
    assert_eq!(get("/report/..%2Fcocoa.db").status(), 404);
    drop(server);
}

/// The thresholds and rounding are keyed by a secret the server keeps: the same answers give
/// the same report every time (and the secret is made once, not per run).
#[test]
fn the_same_answers_give_the_same_report() {
    let t = setup();
    let (a, b) = (t.root.join("a"), t.root.join("b"));
    for out in [&a, &b] {
        ok(&cocoa(&[
            "report",
            "--data-dir",
            &t.data,
            "--out",
            out.to_str().unwrap(),
        ]));
    }
    for file in [
        "index.html",
        "report.json",
        "tables/age.csv",
        "tables/daily.csv",
    ] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
}

/// On a terminal, a progress bar on stderr follows the reading of the answers (run under
/// `script`, which gives the command a terminal); without one, there is none (only the log).
#[test]
fn a_progress_bar_on_a_terminal_only() {
    let t = setup();
    let out = t.root.join("out");
    let command = format!(
        // A terminal of a usual size (a new one has 0 columns, where nothing fits).
        "stty cols 120 rows 40; {} report --data-dir {} --out {}",
        env!("CARGO_BIN_EXE_cocoa"),
        t.data,
        out.display()
    );
    let (status, shown) = common::on_terminal(&command, &t.root, &[("COCOA_LOG", "warn")]);
    assert!(status.success(), "{status:?}: {shown}");
    assert!(shown.contains("answers ("), "no progress bar: {shown:?}");
    assert!(shown.contains("reading"), "no progress bar: {shown:?}");

    let piped = cocoa(&[
        "report",
        "--data-dir",
        &t.data,
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&piped);
    let quiet = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !quiet.contains("answers ("),
        "a progress bar off a terminal: {quiet}"
    );
}
