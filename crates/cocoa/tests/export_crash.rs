//! Crashes during export: a process that dies in the middle (aborted after a given number of
//! uploads, or killed with SIGKILL while it works) leaves nothing half-published, and the next
//! `cocoa export` completes the work: every key is listed exactly once, in files that verify.

use cocoa_server::registration::{Accepted, NewKey};
use cocoa_server::store::{Claim, NewNumber, SqliteStore, Store};
use gaen::{
    DaysSinceOnset, ExportSigner, IntervalNumber, ReportType, RollingPeriod, SignatureInfo,
    SignedExport, Tek,
};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Stores `per_day` keys for each of the last 14 days, released an hour ago.
fn seed(data: &Path, per_day: usize) -> Vec<[u8; 16]> {
    std::fs::create_dir_all(data).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}", data.join("cocoa.db").display());
        // As `serve` would: the database file is private before SQLite creates it.
        cocoa_server::private_files::prepare_sqlite(&url).unwrap();
        let store = SqliteStore::connect(&url).await.unwrap();
        let today = now() / 86_400 * 144;
        let mut all = Vec::new();
        let mut n = 0u32;
        for day in 1..=14i64 {
            let keys: Vec<[u8; 16]> = (0..per_day)
                .map(|i| {
                    let mut k = [0u8; 16];
                    k[..8].copy_from_slice(&(day as u64).to_le_bytes());
                    k[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                    k
                })
                .collect();
            for chunk in keys.chunks(30) {
                n += 1;
                let tag = n.to_le_bytes().repeat(8);
                store
                    .insert_numbers(&[NewNumber {
                        tag: tag.clone(),
                        created_at: now(),
                        expires_at: now() + 3600,
                        dates: Default::default(),
                    }])
                    .await
                    .unwrap();
                let new: Vec<NewKey> = chunk
                    .iter()
                    .map(|k| NewKey {
                        region: "440".into(),
                        key: Tek::from_bytes(*k),
                        rolling_start: IntervalNumber::new((today - day * 144) as u32),
                        rolling_period: RollingPeriod::FULL_DAY,
                        report_type: ReportType::ConfirmedTest,
                        days_since_onset: DaysSinceOnset::new(0).unwrap(),
                        release_at: now() - 3600,
                    })
                    .collect();
                let claim = Claim {
                    tag,
                    now: now(),
                    request_hash: vec![1; 32],
                    idempotency_hash: None,
                };
                let accept = move |_| {
                    Ok(Accepted {
                        keys: new.clone(),
                        accepted_wire_keys: vec![],
                        warnings: vec![],
                        symptomatic: false,
                    })
                };
                store.register(&claim, &accept).await.unwrap();
            }
            all.extend(keys);
        }
        all
    })
}

fn export(data: &Path) -> Command {
    // A one-second lease, so that the lease of a dead process runs out quickly.
    let config = data.with_extension("toml");
    std::fs::write(&config, "[export]\nlease_seconds = 1\n").unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_cocoa"));
    c.args(["export", "--json", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_BLOB_URL");
    c
}

/// Runs `cocoa export` until it is not skipped (the dead run's lease has to run out first).
fn export_after_crash(data: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = export(data).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if report["skipped"] != true {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the dead run's lease never ran out"
        );
    }
}

/// The generated signing key, read from the database as every replica would.
fn verifier(data: &Path) -> gaen::ExportVerifier {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::connect(&format!("sqlite://{}", data.join("cocoa.db").display()))
            .await
            .unwrap();
        let pem = store.secret("export_signing_key", b"unused").await.unwrap();
        ExportSigner::from_pem(std::str::from_utf8(&pem).unwrap(), SignatureInfo::default())
            .unwrap()
            .verifier()
    })
}

/// Everything list.json lists, verified; the number of times each key appears.
fn published(data: &Path) -> HashMap<[u8; 16], usize> {
    let blobs = data.join("blobs/c19r/440");
    let list: Vec<cocoa_api::ListEntry> =
        serde_json::from_slice(&std::fs::read(blobs.join("list.json")).unwrap()).unwrap();
    let verifier = verifier(data);
    let mut seen = HashMap::new();
    for entry in &list {
        let name = entry.url.rsplit('/').next().unwrap();
        let file = SignedExport::from_zip(&std::fs::read(blobs.join(name)).unwrap()).unwrap();
        file.verify(&[verifier]).unwrap();
        for k in file.export.keys {
            *seen.entry(k.key.to_bytes()).or_default() += 1;
        }
    }
    seen
}

fn listed_files(data: &Path) -> Option<usize> {
    let bytes = std::fs::read(data.join("blobs/c19r/440/list.json")).ok()?;
    Some(
        serde_json::from_slice::<Vec<cocoa_api::ListEntry>>(&bytes)
            .unwrap()
            .len(),
    )
}

#[test]
fn an_export_aborted_after_three_uploads_is_completed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = seed(&data, 50);

    let out = export(&data)
        .env("COCOA_FAULT_ABORT_AFTER_UPLOADS", "3")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the fault must have stopped the process"
    );
    // Three zips were written (a fourth may have landed alongside the third, two files being
    // built at once), none is listed: nothing is half-published.
    let zips = std::fs::read_dir(data.join("blobs/c19r/440"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "zip")
        });
    assert!((3..=4).contains(&zips.count()));
    assert_eq!(listed_files(&data).unwrap_or(0), 0);

    let report = export_after_crash(&data);
    // Two files are planned at a time: the abort may also have left a fourth planned (recorded,
    // not yet written). Every planned file is completed.
    let recovered = report["recovered_files"].as_u64().unwrap();
    assert!((3..=4).contains(&recovered), "{report}");
    assert_eq!(listed_files(&data), Some(14));
    let seen = published(&data);
    for k in &keys {
        assert_eq!(seen.get(k), Some(&1), "every key exactly once");
    }
    // A third run has nothing to do.
    let out = export(&data).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files"], serde_json::json!([]));
}

#[test]
#[cfg(unix)]
fn an_export_killed_with_sigkill_is_completed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = seed(&data, 3000);
    let mut child = export(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the first file is written: it is then in the middle of its work.
    let folder = data.join("blobs/c19r/440");
    let deadline = Instant::now() + Duration::from_secs(120);
    let killed_mid_run = loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break false;
        }
        let first_zip = std::fs::read_dir(&folder)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "zip"))
            })
            .unwrap_or(false);
        if first_zip {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            break true;
        }
        assert!(
            Instant::now() < deadline,
            "no file written within two minutes"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    if killed_mid_run {
        assert!(
            listed_files(&data).unwrap_or(0) < 14,
            "a killed run must not have listed everything"
        );
    }
    export_after_crash(&data);
    assert_eq!(listed_files(&data), Some(14));
    let seen = published(&data);
    for k in &keys {
        assert_eq!(seen.get(k), Some(&1), "every key exactly once");
    }
    eprintln!("killed mid-run: {killed_mid_run}");
}
