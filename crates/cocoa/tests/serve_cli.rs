//! `cocoa serve` and `cocoa admin issue-numbers` as a person runs them: no configuration, a
//! generated admin token in a private file (never in the log), a registration over HTTP, and a
//! clean stop on SIGTERM.

mod common;

use common::start;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn serve_with_no_configuration_then_issue_and_register() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, base) = start(&data);

    let token_file = data.join("admin-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(data.join("cocoa.db").exists());

    let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args([
            "admin",
            "issue-numbers",
            "--count",
            "2",
            "--server",
            &base,
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("COCOA_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    let number = lines[0].split('\t').next().unwrap().to_owned();
    assert_eq!(number.len(), 8);

    // A wrong token is refused with the server's reason and exit code 1.
    let out = Command::new(env!("CARGO_BIN_EXE_cocoa"))
        .args([
            "admin",
            "issue-numbers",
            "--server",
            &base,
            "--admin-token",
            "wrong-token-0123456789",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"));

    // Register with the number, as the app would.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let today = now / 86_400 * 144;
    let date = chrono::DateTime::from_timestamp(now as i64, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let body = serde_json::json!({
        "hasSymptom": true,
        "onsetOfSymptomOrTestDate": format!("{date}T00:00:00.000Z"),
        "keys": [{"keyData": "AQIDBAUGBwgJCgsMDQ4PEA==", "rollingStartNumber": today - 144, "rollingPeriod": 144, "reportType": 1}],
        "regions": ["440"],
        "verificationPayload": number,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .put(format!("{base}/api/v2/diagnosis"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 204);

    // SIGTERM: a graceful stop, exit code 0; the log never held the token or the number.
    #[cfg(unix)]
    {
        let pid = server.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");
        // The reader thread ends when the pipe closes: read until then.
        let mut lines = Vec::new();
        while let Ok(line) = server.log.recv_timeout(Duration::from_secs(10)) {
            lines.push(line);
        }
        let log = lines.join("\n");
        assert!(log.contains("stopped"), "{log}");
        assert!(
            !log.contains(token.trim()),
            "the admin token must never be logged"
        );
        assert!(
            !log.contains(&number),
            "processing numbers must never be logged"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn max_connections_is_lowered_to_fit_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 512 open files: the default cap of 10,000 connections cannot fit; a quarter is left for
    // the database, the files and the log.
    let server = common::spawn_logged(
        Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 512 && exec "$0" serve --listen 127.0.0.1:0 --data-dir "$1""#)
            .arg(env!("CARGO_BIN_EXE_cocoa"))
            .arg(&data)
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("NO_COLOR", "1"),
    );
    // The cap is set when serving starts, right after the "serving" line.
    let warning = server
        .wait_for("does not fit under the open-file limit")
        .expect("no warning about the open-file limit");
    assert!(
        warning.contains("open_file_limit=512") && warning.contains("cap=384"),
        "{warning}"
    );
}

#[test]
fn an_internal_error_answers_500_with_an_id_that_is_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, base) = start(&data);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = runtime.block_on(async {
        use sqlx::Connection;
        // A constraint the registration violates, as a bug would.
        let url = format!("sqlite://{}", data.join("cocoa.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER injected BEFORE INSERT ON diagnosis_keys \
             BEGIN SELECT RAISE(ABORT, 'injected constraint'); END",
        )
        .execute(&mut db)
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let issued: serde_json::Value = http
            .post(format!("{base}/api/v1/processing-numbers"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let number = issued["processingNumbers"][0]["processingNumber"]
            .as_str()
            .unwrap()
            .to_owned();
        let now = chrono::Utc::now();
        let today = now.timestamp() / 86_400 * 144;
        let r = http
            .put(format!("{base}/api/v2/diagnosis"))
            .json(&serde_json::json!({
                "hasSymptom": true,
                "onsetOfSymptomOrTestDate": format!("{}T00:00:00.000Z", now.format("%Y-%m-%d")),
                "keys": [{"keyData": "AQIDBAUGBwgJCgsMDQ4PEA==", "rollingStartNumber": today - 144,
                          "rollingPeriod": 144, "reportType": 1}],
                "regions": ["440"],
                "verificationPayload": number,
            }))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    });
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("internal_error"))
    );
    let id = body["errorId"].as_str().unwrap();
    let line = server
        .wait_for(id)
        .unwrap_or_else(|| panic!("error id {id} is not in the log"));
    assert!(line.contains("internal error"), "{line}");
}
