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

#[test]
fn serve_runs_retention_by_itself_at_start_up() {
    use cocoa_server::registration::NewKey;
    use cocoa_server::store::{ExportStore, SqliteStore, Store, SurveyStore};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = format!("sqlite://{}", data.join("cocoa.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let count = |store: &SqliteStore| {
        runtime.block_on(async {
            (
                store.all_keys().await.unwrap().len(),
                store.count_survey_responses().await.unwrap(),
            )
        })
    };
    // Keys that expired 20 days ago, a key of yesterday, and a survey answer.
    let store = runtime.block_on(async {
        cocoa_server::private_files::prepare_sqlite(&url).unwrap();
        let store = SqliteStore::connect(&url).await.unwrap();
        let key = |days_ago: i64, byte: u8| NewKey {
            region: "440".into(),
            key: gaen::Tek::from_bytes([byte; 16]),
            rolling_start: gaen::IntervalNumber::from_i64((now / 86_400 - days_ago) * 144).unwrap(),
            rolling_period: gaen::RollingPeriod::new(144).unwrap(),
            report_type: gaen::ReportType::ConfirmedTest,
            days_since_onset: gaen::DaysSinceOnset::new(0).unwrap(),
            release_at: now - 3600,
        };
        store
            .import_keys(&[key(35, 1), key(34, 2), key(1, 3)])
            .await
            .unwrap();
        let answer = cocoa_server::survey::SurveyResponse {
            id_hash: "ab".repeat(32),
            received_day: now / 86_400 - 1,
            age_group: None,
            commute: None,
            start_day: None,
            days: None,
        };
        store.insert_survey_responses(&[answer]).await.unwrap();
        store
    });
    assert_eq!(count(&store), (3, 1));
    // The deletion date of the survey's answers has come.
    let config = dir.path().join("cocoa.toml");
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    std::fs::write(
        &config,
        format!(
            "[survey]\ndelete_on = \"{}\"\n",
            yesterday.format("%Y-%m-%d")
        ),
    )
    .unwrap();
    let (_server, _base) = common::start_command(
        Command::new(env!("CARGO_BIN_EXE_cocoa"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("NO_COLOR", "1"),
    );
    // No `cocoa cleanup`: the old keys and the answer go by themselves; yesterday's key stays.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&store) != (1, 0) {
        assert!(
            Instant::now() < deadline,
            "retention did not run: {:?}",
            count(&store)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
