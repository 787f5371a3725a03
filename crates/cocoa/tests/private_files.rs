//! Regression tests for "the SQLite database is world-readable, and it holds the export signing
//! key and the number HMAC key": `cocoa serve` makes its data folder 0700 and every database,
//! WAL and secret file 0600, and refuses to start on one that others may read.
#![cfg(unix)]

mod common;

use common::start;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file under `dir`, but the published files (public by design).
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "blobs") {
            continue;
        }
        if path.is_dir() {
            files_under(&path, out);
        }
        out.push(path);
    }
}

/// Starts and stops `cocoa serve` once on `data` (so that it creates everything).
fn serve_once(data: &Path) {
    let (mut server, base) = start(data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 200);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// Runs `cocoa serve` expecting it to refuse to start; returns its error output.
fn refused(data: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_ADMIN_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve started on an exposed file");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn world_readable_database_and_secrets_regression_fresh_data_folder_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    serve_once(&data);
    assert_eq!(mode(&data), 0o700, "the data folder");
    for name in ["cocoa.db", "cocoa.db-wal", "cocoa.db-shm", "admin-token"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let mut all = Vec::new();
    files_under(&data, &mut all);
    assert!(all.len() >= 4, "{all:?}");
    for path in all {
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} is open to other users",
            path.display()
        );
    }
}

#[test]
fn world_readable_database_and_secrets_regression_exposed_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    serve_once(&data);

    for name in ["cocoa.db", "cocoa.db-wal", "admin-token"] {
        let path = data.join(name);
        let before = std::fs::read(&path).unwrap();
        chmod(&path, 0o644);
        let err = refused(&data, &[]);
        assert!(
            err.contains(&path.display().to_string()) && err.contains("chmod 600"),
            "{name}: {err}"
        );
        // Nothing was changed: not the mode (the operator decides), not the contents.
        assert_eq!(mode(&path), 0o644);
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name}");
        chmod(&path, 0o600);
    }

    // A folder others may change (and so replace the database or the token) is refused.
    chmod(&data, 0o775);
    let err = refused(&data, &[]);
    assert!(err.contains("chmod 700"), "{err}");
    chmod(&data, 0o700);

    // A signing key file that others may read is refused too.
    let key = dir.path().join("signing.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["keys", "new-signing-key", "--private-out"])
        .arg(&key)
        .arg("--public-out")
        .arg(dir.path().join("signing.pub.pem"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(mode(&key), 0o600);
    chmod(&key, 0o640);
    let err = refused(&data, &["--signing-key", key.to_str().unwrap()]);
    assert!(
        err.contains("signing.pem") && err.contains("chmod 600"),
        "{err}"
    );

    // Once fixed, it starts again.
    chmod(&key, 0o600);
    serve_once(&data);

    // A folder others may list but not change starts, with a warning.
    chmod(&data, 0o755);
    let server = common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_cocoa"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("NO_COLOR", "1"),
    );
    // The warning comes before the "serving" line.
    let warned = server
        .wait_for("other users can list the data folder")
        .is_some();
    assert!(warned, "no warning about the listable folder");
}

#[test]
fn world_readable_database_and_secrets_regression_phone_state_is_private_too() {
    // The phone's folder holds its temporary exposure keys and sightings.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("phone");
    let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args(["device", "--state"])
        .arg(&state)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "not set up yet");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("phone.db")), 0o600);
}
