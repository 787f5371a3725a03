//! The schedule inside the real `cocoa serve`: with `[export] interval_minutes = 1` it publishes
//! `list.json` and files that `cocoa keys verify` accepts, without being asked (no admin API
//! call); and two replicas on one PostgreSQL, sharing one blob folder, publish every key once.
//! Each test waits for one interval (a minute) of real time; they run side by side.

mod common;

use cocoa_api::{ListEntry, SigningKeyInfo};
use cocoa_server::registration::NewKey;
use cocoa_server::store::Store;
use cocoa_server::testing::TestDatabase;
use common::{start_command, Running};
use gaen::{DaysSinceOnset, IntervalNumber, ReportType, RollingPeriod, SignedExport, Tek};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "schedule-test-admin-token-0123";

/// Longer than one interval (60 s) plus its offset (at most 6 s) plus start-up on a busy machine.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(180);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Keys for the last `days` days, released an hour ago, in `store`; returns their bytes.
async fn seed(store: &dyn Store, tag: u8, days: i64) -> Vec<[u8; 16]> {
    let today = now() / 86_400 * 144;
    let keys: Vec<NewKey> = (1..=days)
        .map(|day| {
            let mut k = [tag; 16];
            k[..8].copy_from_slice(&(day as u64).to_le_bytes());
            NewKey {
                region: "440".into(),
                key: Tek::from_bytes(k),
                rolling_start: IntervalNumber::new((today - day * 144) as u32),
                rolling_period: RollingPeriod::FULL_DAY,
                report_type: ReportType::ConfirmedTest,
                days_since_onset: DaysSinceOnset::new(0).unwrap(),
                release_at: now() - 3600,
            }
        })
        .collect();
    store.import_keys(&keys).await.unwrap();
    keys.iter().map(|k| k.key.to_bytes()).collect()
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cocoa.toml");
    std::fs::write(&path, "[export]\ninterval_minutes = 1\n").unwrap();
    path
}

fn serve(config: &Path, data: &Path, database_url: Option<&str>) -> (Running, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cocoa"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_BLOB_URL")
        .env("COCOA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("COCOA_LOG", "info,cocoa_server=debug")
        .env("NO_COLOR", "1");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    start_command(&mut command)
}

fn get(url: &str) -> reqwest::blocking::Response {
    let r = reqwest::blocking::get(url).unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r
}

fn list(base: &str) -> Vec<ListEntry> {
    get(&format!("{base}/c19r/440/list.json")).json().unwrap()
}

/// Waits until `running` has logged a line containing `needle` (or panics at `deadline`).
fn wait_for_log(running: &Running, needle: &str, deadline: Instant, seen: &mut Vec<String>) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match running.log.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {needle:?} in time; log: {seen:#?}"),
        }
    }
}

/// Downloads every listed file from `base`, checks it with `cocoa keys verify` and the published
/// public key, and counts each real key (the padding is random) across all of them.
fn listed_keys(base: &str, dir: &Path, registered: &[[u8; 16]]) -> HashMap<[u8; 16], usize> {
    let keys: Vec<SigningKeyInfo> = get(&format!("{base}/api/v1/export-signing-keys"))
        .json()
        .unwrap();
    assert_eq!(keys.len(), 1);
    let pem = dir.join("export.pub.pem");
    std::fs::write(&pem, &keys[0].public_key_pem).unwrap();
    let mut counts = HashMap::new();
    for entry in list(base) {
        // list.json names the configured public prefix; fetch the same path from this replica.
        let path = &entry.url[entry.url.find("/c19r/").unwrap()..];
        let bytes = get(&format!("{base}{path}")).bytes().unwrap();
        let file = dir.join(path.trim_start_matches('/').replace('/', "_"));
        std::fs::write(&file, &bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
            .args(["keys", "verify"])
            .arg(&file)
            .arg("--public-key")
            .arg(&pem)
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "valid",
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let export = SignedExport::from_zip(&bytes).unwrap().export;
        for k in &export.keys {
            let k = k.key.to_bytes();
            if registered.contains(&k) {
                *counts.entry(k).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[test]
fn serve_publishes_verifiable_files_every_interval_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cocoa_server::private_files::private_dir(&data).unwrap();
    let url = format!("sqlite://{}", data.join("cocoa.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registered = runtime.block_on(async {
        cocoa_server::private_files::prepare_sqlite(&url).unwrap();
        let store = cocoa_server::store::SqliteStore::connect(&url)
            .await
            .unwrap();
        seed(&store, 1, 10).await
    });
    let config = write_config(dir.path());
    let started = Instant::now();
    let (server, base) = serve(&config, &data, None);

    // Retention ran at start-up (an empty list.json); the export waits for its interval.
    let mut seen = Vec::new();
    wait_for_log(
        &server,
        "scheduled retention ran",
        Instant::now() + Duration::from_secs(30),
        &mut seen,
    );
    assert_eq!(list(&base), vec![]);
    wait_for_log(
        &server,
        "scheduled export ran",
        Instant::now() + PUBLISH_DEADLINE,
        &mut seen,
    );
    assert!(
        started.elapsed() >= Duration::from_secs(59),
        "exported after {:?}, before one interval",
        started.elapsed()
    );
    assert!(!list(&base).is_empty());
    let counts = listed_keys(&base, dir.path(), &registered);
    for key in &registered {
        assert_eq!(counts.get(key), Some(&1), "{key:?} listed exactly once");
    }
}

#[test]
fn two_replicas_on_one_postgres_publish_each_key_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Skips without COCOA_TEST_DATABASE_URL, except under CI=true, where it fails.
    let Some(db) = runtime.block_on(TestDatabase::create()) else {
        return;
    };
    let registered = runtime.block_on(async {
        let store = cocoa_server::store::PostgresStore::connect(&db.url)
            .await
            .unwrap();
        let mut keys = seed(&store, 2, 12).await;
        keys.extend(seed(&store, 3, 12).await);
        keys
    });
    let dir = tempfile::tempdir().unwrap();
    // One data folder, so one blob folder (<data>/blobs) both replicas publish to and serve.
    let data = dir.path().join("data");
    let config = write_config(dir.path());
    let (a, base_a) = serve(&config, &data, Some(&db.url));
    let (b, base_b) = serve(&config, &data, Some(&db.url));

    // Each replica completes an export of its own (one finds the keys taken, or the lease).
    let deadline = Instant::now() + PUBLISH_DEADLINE;
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    wait_for_log(&a, "scheduled export ran", deadline, &mut seen_a);
    wait_for_log(&b, "scheduled export ran", deadline, &mut seen_b);
    let published = seen_a
        .iter()
        .chain(&seen_b)
        .filter(|l| l.contains("export published"))
        .count();
    assert!(published >= 1, "{seen_a:#?} {seen_b:#?}");

    assert_eq!(list(&base_a), list(&base_b), "one list for both");
    for base in [&base_a, &base_b] {
        let counts = listed_keys(base, dir.path(), &registered);
        for key in &registered {
            assert_eq!(counts.get(key), Some(&1), "{key:?} listed exactly once");
        }
    }
}
