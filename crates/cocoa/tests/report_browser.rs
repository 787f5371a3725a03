//! `cocoa report`'s `index.html` in a real headless Chromium, driven over WebDriver by Debian's
//! chromedriver: the real binary on a seeded data folder (4,000 answers from a known model over
//! 60 days, registrations, national cases, an activity index, named periods), default
//! protection; the page opened from `file://`: every chart has data points, both languages
//! render, nothing is requested, and a screenshot is taken.
//!
//! Without chromium and chromedriver the test notes the skip and passes, except under CI (the
//! `CI` variable set), where it fails. Set `COCOA_REPORT_SCREENSHOT=path.png` to keep a
//! screenshot of the page's first screen (docs/report.png is one).

use cocoa_server::store::{SqliteStore, SurveyStore};
use cocoa_server::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one condition may take to come true.
const DEADLINE: Duration = Duration::from_secs(30);
/// 2022-04-07, the default `[survey] first_day`.
const FIRST: i64 = 19_089;
/// Days in the window: answers are received up to FIRST + DAYS - 1.
const DAYS: i64 = 60;
const ANSWERS: usize = 4000;
/// Flags on day d follow the registrations around d + 4 (a lag of −4).
const LAG: i64 = -4;
/// A period label that must come out as text.
const PERIOD_LABEL: &str = "Golden Week <GW>";

#[test]
fn the_report_page_renders_every_chart_in_both_languages_and_loads_nothing() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("report");
    seed(dir.path());
    let stdout = ok(&cocoa(&[
        "report",
        "--data-dir",
        dir.path().join("data").to_str().expect("a UTF-8 path"),
        "--out",
        out.to_str().expect("a UTF-8 path"),
        "--cases",
        dir.path().join("cases.csv").to_str().expect("a UTF-8 path"),
        "--activity",
        dir.path()
            .join("activity.csv")
            .to_str()
            .expect("a UTF-8 path"),
        "--periods",
        dir.path()
            .join("periods.csv")
            .to_str()
            .expect("a UTF-8 path"),
        "--active-users",
        "20000",
        "--json",
    ]));
    let summary: Value = serde_json::from_str(&stdout).expect("the JSON summary");
    assert_eq!(summary["answers_read"], ANSWERS);
    assert!(
        summary["files"]
            .as_array()
            .expect("a list of files")
            .contains(&Value::from("index.html")),
        "{summary}"
    );
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));

    let driver = ChromeDriver::start(&dir.path().join("driver.log"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(dir.path(), &out.join("index.html"), driver.url()));
    drop(driver);
}

/// `--lang en` and `--lang ja` write one language (no browser needed).
#[test]
fn the_lang_flag_chooses_the_page_language() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    seed(dir.path());
    let data = dir.path().join("data");
    for (lang, attr, absent) in [
        ("en", "<html lang=\"en\">", "利用終了アンケート"),
        ("ja", "<html lang=\"ja\">", "end-of-use survey analysis"),
    ] {
        let out = dir.path().join(lang);
        ok(&cocoa(&[
            "report",
            "--data-dir",
            data.to_str().expect("a UTF-8 path"),
            "--out",
            out.to_str().expect("a UTF-8 path"),
            "--lang",
            lang,
        ]));
        let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
        assert!(html.contains(attr), "--lang {lang}");
        assert!(!html.contains(absent), "--lang {lang} has {absent:?}");
    }
}

/// SplitMix64: reproducible draws without a dependency.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index drawn with the given weights.
    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }
}

/// Registrations on day offset `d` (a wave), beyond the window too.
fn registrations(d: i64) -> f64 {
    let t = d as f64;
    150.0 + 90.0 * (t / 9.0).sin() + 1.5 * t
}

fn registrations7(d: i64) -> f64 {
    (d - 3..=d + 3).map(registrations).sum::<f64>() / 7.0
}

/// The activity index on day offset `d`.
fn activity(d: i64) -> f64 {
    let t = d as f64;
    (t / 6.0).cos() + if d % 7 >= 5 { -0.4 } else { 0.2 }
}

/// Answers from a known model, the registration counts, and the side-input files.
fn seed(root: &Path) {
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("the data folder");
    let mut draws = Draws(20_220_407);
    let mean7 = (0..DAYS).map(|d| registrations7(d - LAG)).sum::<f64>() / DAYS as f64;
    let answers: Vec<SurveyResponse> = (0..ANSWERS)
        .map(|i| {
            let age = draws.pick(&[2.0, 4.0, 10.0, 13.0, 15.0, 14.0, 11.0, 6.0, 4.0, 3.0]);
            let commute =
                draws.pick(&[0.18 + 0.02 * age as f64, 0.3, 0.5 - 0.03 * age as f64, 0.08]);
            let received = FIRST + 20 + (draws.next() % 40) as i64;
            let consent = draws.unit() < 0.78;
            let start = (draws.unit() < 0.85).then(|| {
                // Mostly the first months after the release (2020-06-19).
                let month = (draws.unit().powi(2) * 20.0) as i64;
                18_432 + month * 30 + (draws.next() % 28) as i64
            });
            let factor = [1.0, 1.3, 1.9, 1.2][commute] * (1.5 - 0.08 * age as f64);
            let days = consent.then(|| {
                let from = (received - 28).max(FIRST);
                (from..=received)
                    .map(|day| {
                        let d = day - FIRST;
                        let p = 0.009
                            * factor
                            * (registrations7(d - LAG) / mean7).powf(0.8)
                            * (0.25 * activity(d)).exp();
                        SurveyDayFlag {
                            day,
                            exposure_detected: draws.unit() < p,
                        }
                    })
                    .collect()
            });
            SurveyResponse {
                id_hash: format!("{:064x}", i as u64 * 7919 + 1),
                received_day: received,
                age_group: u8::try_from(age + 1).ok().and_then(AgeGroup::new),
                commute: u8::try_from(commute + 1).ok().and_then(Commute::new),
                start_day: start,
                days,
            }
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let url = format!("sqlite://{}", data.join("cocoa.db").display());
        cocoa_server::private_files::prepare_sqlite(&url).expect("a private database");
        let store = SqliteStore::connect(&url).await.expect("the store");
        for chunk in answers.chunks(500) {
            store
                .insert_survey_responses(chunk)
                .await
                .expect("answers stored");
        }
        drop(store);
        // The registration counts the server keeps per day and region (two regions).
        let pool = sqlx::SqlitePool::connect(&url).await.expect("the database");
        for d in 0..DAYS {
            let total = registrations(d).round() as i64;
            for (region, n) in [("13", total * 3 / 5), ("27", total - total * 3 / 5)] {
                sqlx::query(
                    "INSERT INTO registration_stats \
                     (day, region, registrations, keys, symptomatic_registrations) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(FIRST + d)
                .bind(region)
                .bind(n)
                .bind(n * 5)
                .bind(n / 2)
                .execute(&pool)
                .await
                .expect("registration counts stored");
            }
        }
        pool.close().await;
    });
    let date = |d: i64| cocoa_analytics::date::format_day(FIRST + d);
    let mut cases = String::from("Date,ALL,Tokyo\n");
    for d in -20..DAYS + 20 {
        cases += &format!(
            "{},{},1\n",
            date(d).replace('-', "/"),
            (registrations(d) * 160.0).round()
        );
    }
    std::fs::write(root.join("cases.csv"), cases).expect("cases.csv");
    let mut index = String::from("date,value\n");
    for d in -10..DAYS + 10 {
        index += &format!("{},{:.3}\n", date(d), activity(d));
    }
    std::fs::write(root.join("activity.csv"), index).expect("activity.csv");
    std::fs::write(
        root.join("periods.csv"),
        format!(
            "start,end,label\n{},{},\"{PERIOD_LABEL}\"\n{},{},まん延防止等重点措置\n{},{},After\n",
            date(22),
            date(31),
            date(0),
            date(14),
            date(40),
            date(DAYS - 1)
        ),
    )
    .expect("periods.csv");
}

fn cocoa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(args)
        .env("COCOA_LOG", "warn")
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_BLOB_URL")
        .output()
        .expect("cocoa runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// Whether chromium and chromedriver are here; under CI their absence is a failure.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let note = format!(
        "{} not installed (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set, so the browser test may not skip: {note}"
    );
    eprintln!("skipping the report browser test: {note}");
    false
}

/// A chromedriver process on a port it chose itself; killed on drop.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start(log: &Path) -> Self {
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the banner for the port, then drains the pipe so chromedriver never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let mut driver = Self { child, port: 0 };
        driver.port = rx
            .recv_timeout(DEADLINE)
            .expect("chromedriver reports its port");
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chrome_capabilities(profile: &Path) -> Capabilities {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--hide-scrollbars".to_owned(),
        "--force-device-scale-factor=1".to_owned(),
        "--window-size=1100,1800".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object"),
    }
}

async fn run(dir: &Path, page: &Path, driver_url: String) {
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(chrome_capabilities(&dir.join("profile")))
        .connect(&driver_url)
        .await
        .expect("a Chromium session");
    // Assertions panic; close the browser before passing the panic on.
    let outcome = AssertUnwindSafe(scenario(&browser, page, dir))
        .catch_unwind()
        .await;
    let _ = browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn js(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("running {script}: {e}"))
}

async fn scenario(browser: &Client, page: &Path, dir: &Path) {
    browser
        .goto(&format!("file://{}", page.display()))
        .await
        .expect("the report loads");
    poll("the page to finish loading", || async {
        (js(browser, "return document.readyState").await == "complete").then_some(())
    })
    .await;

    // Every chart is an SVG with data points, laid out with a size.
    let charts = js(
        browser,
        "return Array.from(document.querySelectorAll('svg')).map(s => {
             const r = s.getBoundingClientRect();
             return {points: s.querySelectorAll('.bar, .point').length,
                     width: r.width, height: r.height,
                     figure: s.closest('figure') ? s.closest('figure').id : null,
                     caption: !!(s.closest('figure') && s.closest('figure').querySelector('figcaption'))};
         })",
    )
    .await;
    let charts = charts.as_array().expect("a list of charts");
    assert!(charts.len() >= 14, "{} charts", charts.len());
    for chart in charts {
        assert!(
            chart["points"].as_u64().unwrap_or(0) > 0,
            "no points: {chart}"
        );
        assert!(chart["width"].as_f64().unwrap_or(0.0) > 300.0, "{chart}");
        assert!(chart["height"].as_f64().unwrap_or(0.0) > 100.0, "{chart}");
        assert!(chart["figure"].is_string(), "in a figure: {chart}");
        assert_eq!(chart["caption"], true, "captioned: {chart}");
    }
    let figures = js(browser, "return document.querySelectorAll('figure').length").await;
    assert_eq!(
        figures.as_u64(),
        Some(charts.len() as u64),
        "every figure has a chart (the data set is rich enough)"
    );

    // Both languages render: Japanese and English text are on screen.
    let text = js(browser, "return document.body.innerText").await;
    let text = text.as_str().expect("the page's text");
    for needle in [
        "COCOA 利用終了アンケートの分析",
        "COCOA end-of-use survey analysis",
        "開示制御",
        "Disclosure control",
        "通勤と通知",
        "Commuting and notifications",
        PERIOD_LABEL,
        "まん延防止等重点措置",
    ] {
        assert!(text.contains(needle), "{needle:?} is not on the page");
    }
    let shown = js(
        browser,
        "return ['ja', 'en'].map(l => Array.from(document.querySelectorAll('[lang=' + l + ']'))
             .filter(e => e !== document.documentElement && e.offsetHeight > 0 && e.innerText.trim()).length)",
    )
    .await;
    let shown: Vec<u64> = shown
        .as_array()
        .expect("two counts")
        .iter()
        .map(|v| v.as_u64().unwrap_or(0))
        .collect();
    assert!(
        shown[0] >= 20 && shown[1] >= 20,
        "visible Japanese and English parts: {shown:?}"
    );

    // Nothing left the page: no resource was requested, and no script runs.
    let resources = js(
        browser,
        "return performance.getEntriesByType('resource').length",
    )
    .await;
    assert_eq!(resources.as_u64(), Some(0), "requests made by the page");
    let scripts = js(browser, "return document.scripts.length").await;
    assert_eq!(scripts.as_u64(), Some(0));

    // Nothing is wider than the window (tables and charts fit, no sideways scrolling).
    let overflow = js(
        browser,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
    )
    .await;
    assert_eq!(overflow.as_i64(), Some(0), "the page scrolls sideways");

    // The first screen: title, key figures, the headline chart and table.
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join("report.png"), &png).expect("writing the screenshot");
    if let Some(keep) = std::env::var_os("COCOA_REPORT_SCREENSHOT") {
        std::fs::write(PathBuf::from(keep), &png).expect("writing the screenshot");
    }
}

/// Asks `probe` again and again until it answers, failing after `DEADLINE`. Each probe is a
/// WebDriver round trip, which paces the loop; nothing sleeps.
async fn poll<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::task::yield_now().await;
    }
}
