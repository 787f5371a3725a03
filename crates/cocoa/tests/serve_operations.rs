//! What the README promises an operator of the real `cocoa serve`: `/metrics` behind the admin
//! token, and `/healthz` saying "degraded" once no export has completed for two intervals.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn metrics_need_the_token_and_healthz_says_degraded_when_exports_stop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("cocoa.toml");
    std::fs::write(&config, "[export]\ninterval_minutes = 1\n").unwrap();
    // Published files go to an S3 endpoint where nothing listens: every export fails.
    let (server, base) = common::start_command(
        Command::new(env!("CARGO_BIN_EXE_cocoa"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(["--blob-url", "s3://nowhere/cocoa"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("NO_COLOR", "1"),
    );
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let token = token.trim();

    let (status, body) = get(&format!("{base}/healthz"), None);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"ok","storage":"ok"}"#)
    );
    assert_eq!(get(&format!("{base}/metrics"), None).0, 401);
    let (status, metrics) = get(&format!("{base}/metrics"), Some(token));
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"cocoa_http_requests_total{route="/healthz",status="2xx"} 1"#),
        "{metrics}"
    );

    // Two intervals (plus the first one's small offset) without a completed export.
    let deadline = Instant::now() + Duration::from_secs(200);
    let body = loop {
        let (status, body) = get(&format!("{base}/healthz"), None);
        assert_eq!(
            status, 200,
            "a stale export does not take the server out of rotation"
        );
        if body.contains("degraded") {
            break body;
        }
        assert!(Instant::now() < deadline, "never degraded: {body}");
        std::thread::sleep(Duration::from_secs(1));
    };
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["export"], "stale");
    assert!(health["lastExportAgeSeconds"].as_i64().unwrap() > 120);
    let (_, metrics) = get(&format!("{base}/metrics"), Some(token));
    assert!(
        metrics.contains(r#"cocoa_export_runs_total{result="failed"}"#),
        "{metrics}"
    );
    // The failures were logged, and retried.
    assert!(server.wait_for("scheduled export failed").is_some());
}
