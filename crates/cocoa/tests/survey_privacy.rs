//! The survey's privacy promise, checked on disk: a real `cocoa serve` (logging at `trace`, its
//! log teed into a file in its data folder) takes surveys from a client with a distinctive
//! address (127.0.0.77), `User-Agent`, platform, package name, attestation token and
//! idempotency key; then every file under the data folder (database, `-wal`, `-shm`, log) and,
//! on PostgreSQL, every row of every table rendered as text is searched for each of them, as
//! text and as hex. None may be found. The answers themselves must have been stored, so the
//! search is not vacuous. And no log line after start-up mentions the survey at all: its
//! timestamp would be the exact time of an answer.

use cocoa_server::testing::TestDatabase;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CLIENT_ADDRESS: &str = "127.0.0.77";
const USER_AGENT: &str = "SurveyPrivacyProbe/7.7 (zeta-handset-4417)";
const PLATFORM: &str = "platform-zeta-8812";
const PACKAGE: &str = "jp.example.zeta.package5531";
const ATTESTATION: &str = "attestation-zeta-token-2209-QWERTY";
const IDEMPOTENCY_KEY: &str = "idem-zeta-5f1d9c";

/// What must never be written anywhere.
fn needles() -> [&'static str; 6] {
    [
        CLIENT_ADDRESS,
        USER_AGENT,
        PLATFORM,
        PACKAGE,
        ATTESTATION,
        IDEMPOTENCY_KEY,
    ]
}

/// `cocoa serve` with its stderr copied line by line into `<data_dir>/server.log`.
struct Server {
    /// `None` once stopped.
    child: Option<Child>,
    base: String,
    log_copier: Option<std::thread::JoinHandle<()>>,
    data_dir: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, database_url: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cocoa"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("COCOA_LOG", "trace")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut file = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let (tx, rx) = mpsc::channel();
        let log_copier = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                writeln!(file, "{line}").unwrap();
                let _ = tx.send(line);
            }
            file.sync_all().unwrap();
        });
        let mut server = Self {
            child: Some(child),
            base: String::new(),
            log_copier: Some(log_copier),
            data_dir: data_dir.to_owned(),
        };
        let mut seen = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no 'serving' line; log so far: {seen:#?}"));
            if let Some(at) = line.find("portal at http://") {
                let rest = &line[at + "portal at ".len()..];
                server.base = rest.split("/portal").next().unwrap().to_owned();
                return server;
            }
            seen.push(line);
        }
    }

    /// SIGTERM, then waits for the exit and for the whole log to be in its file.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        self.log_copier.take().unwrap().join().unwrap();
        let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap();
        assert!(log.contains("stopped"), "{log}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn survey(key: &str, q1: u8, consent: bool) -> Value {
    json!({
        "idempotencyKey": key,
        "platform": PLATFORM,
        "appPackageName": PACKAGE,
        "deviceVerificationPayload": ATTESTATION,
        "eventLogs": [{
            "hasConsent": consent,
            "epoch": 1_669_012_345,
            "type": "survey",
            "subtype": "survey",
            "content": {
                "q1": q1, "q2": 2, "start_date": 1_600_041_600,
                "exposure_data": {"daily_summaries": [
                    {"DateMillisSinceEpoch": 1_649_289_600_000_i64, "ExposureDetected": 1}
                ]}
            }
        }]
    })
}

/// Sends surveys as a phone would, from 127.0.0.77 with a distinctive `User-Agent`: two
/// answers, a retry, one without consent, and one refused. Returns how many answers should be
/// stored.
fn submit_surveys(base: &str) -> u64 {
    let http = reqwest::blocking::Client::builder()
        .local_address(CLIENT_ADDRESS.parse::<IpAddr>().unwrap())
        .user_agent(USER_AGENT)
        .build()
        .unwrap();
    let url = format!("{base}/api/v1/event_log");
    let second_key = format!("{IDEMPOTENCY_KEY}-2");
    for (body, status) in [
        (survey(IDEMPOTENCY_KEY, 4, true), 201),
        (survey(IDEMPOTENCY_KEY, 4, true), 201),
        (survey(&second_key, 7, true), 201),
        (survey("no-consent", 7, false), 201),
        (survey(IDEMPOTENCY_KEY, 10, true), 400),
    ] {
        let answer = http
            .put(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{body}");
    }
    2
}

/// `needle` as it would appear in a file: its bytes, or in hex (how bytea and blobs print).
fn forms(needle: &str) -> Vec<Vec<u8>> {
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    vec![
        needle.as_bytes().to_vec(),
        hex.clone().into_bytes(),
        hex.to_ascii_uppercase().into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, with its path.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// Asserts that no file under `dir` holds any needle; returns the names of the files searched.
fn assert_no_file_holds_a_needle(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for (path, bytes) in files(dir) {
        for needle in needles() {
            for form in forms(needle) {
                assert!(
                    !contains(&bytes, &form),
                    "{} holds {:?}",
                    path.display(),
                    String::from_utf8_lossy(&form)
                );
            }
        }
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names
}

#[test]
fn sqlite_files_and_logs_hold_nothing_that_identifies_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let expected = submit_surveys(&server.base);
    // While the server runs: the answers sit in the write-ahead log.
    let running = assert_no_file_holds_a_needle(dir.path());
    assert!(running.iter().any(|n| n == "cocoa.db-wal"), "{running:?}");
    server.stop();
    let stopped = assert_no_file_holds_a_needle(dir.path());
    for name in ["cocoa.db", "server.log"] {
        assert!(stopped.iter().any(|n| n == name), "{stopped:?}");
    }
    // The answers were stored: the search above looked at real data.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cocoa.db").display());
    let stored = runtime.block_on(async {
        let store = cocoa_server::store::SqliteStore::connect(&url)
            .await
            .unwrap();
        use cocoa_server::store::SurveyStore;
        store.all_survey_responses().await.unwrap()
    });
    assert_eq!(stored.len() as u64, expected);
    assert_log_is_silent_about_surveys(dir.path());
}

/// No log line marks a survey's arrival or storage: its timestamp would be the exact time.
fn assert_log_is_silent_about_surveys(dir: &Path) {
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    let after_start = log
        .split_once("portal at http://")
        .map(|(_, rest)| rest)
        .unwrap();
    for word in ["event_log", "survey"] {
        assert!(
            !after_start.to_ascii_lowercase().contains(word),
            "the log mentions {word} after start-up: {after_start}"
        );
    }
    assert!(after_start.contains("stopped"), "{after_start}");
}

#[test]
fn postgres_rows_and_logs_hold_nothing_that_identifies_the_sender() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(&db.url));
    let expected = submit_surveys(&server.base);
    server.stop();
    assert_no_file_holds_a_needle(dir.path());
    assert_log_is_silent_about_surveys(dir.path());
    let (rows, stored) = runtime.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&mut c)
                .await
                .unwrap();
        let mut rows = Vec::new();
        for (table,) in &tables {
            let text: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&mut c)
                    .await
                    .unwrap();
            rows.extend(text.into_iter().map(|(row,)| (table.clone(), row)));
        }
        let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM survey_responses")
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        (rows, stored)
    });
    assert!(rows.iter().any(|(t, _)| t == "survey_responses"));
    for (table, row) in &rows {
        for needle in needles() {
            for form in forms(needle) {
                assert!(
                    !contains(row.as_bytes(), &form),
                    "{table} holds {needle:?}: {row}"
                );
            }
        }
    }
    assert_eq!(stored as u64, expected);
}
