//! `GET /metrics`: scraped through the real server, its counters move as requests are made, and
//! no label carries client data.

mod common;

use base64::Engine;
use chrono::{TimeZone, Utc};
use cocoa_server::{Clock, ManualClock};
use common::{Backend, Server, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// The value of the sample `series` (name and labels exactly as rendered), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(http: &reqwest::Client, server: &Server) -> String {
    let r = http
        .get(server.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

fn registration(number: &str) -> Value {
    let day = |d: u32| {
        Utc.with_ymd_and_hms(2022, 8, d, 0, 0, 0)
            .unwrap()
            .timestamp()
            / 600
    };
    let keys: Vec<Value> = (3..=9u32)
        .map(|d| {
            json!({
                "keyData": base64::engine::general_purpose::STANDARD.encode([d as u8; 16]),
                "rollingStartNumber": day(d), "rollingPeriod": 144, "reportType": 1
            })
        })
        .collect();
    json!({
        "hasSymptom": true,
        "onsetOfSymptomOrTestDate": "2022-08-05T00:00:00.000+09:00",
        "keys": keys,
        "regions": ["440"],
        "verificationPayload": number,
    })
}

fn event_log(key: &str) -> Value {
    json!({
        "idempotencyKey": key,
        "eventLogs": [{"hasConsent": true, "epoch": 1_660_000_000, "type": "survey", "subtype": "survey",
            "content": {"q1": 5, "q2": 3, "start_date": null, "exposure_data": null}}]
    })
}

#[tokio::test]
async fn metrics_are_scraped_and_their_counters_move() {
    let backend = Backend::sqlite().await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap(),
    ));
    let server = Server::start(backend.store.clone(), clock as Arc<dyn Clock>, |_| {}).await;
    let http = reqwest::Client::new();

    // The operator's: without the admin token, 401.
    let r = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let before = scrape(&http, &server).await;
    let number = common::issue_number(&http, &server).await;
    let put = |body: Value, path: &'static str| {
        let request = http.put(server.url(path)).json(&body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        put(registration(&number), "/api/v2/diagnosis").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(registration("87654321"), "/api/v2/diagnosis").await,
        StatusCode::NOT_ACCEPTABLE
    );
    // A decoy is not a registration.
    let decoy = http
        .put(server.url("/api/v2/diagnosis"))
        .header("X-Chaff", "1")
        .json(&registration("00000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(decoy.status(), StatusCode::NO_CONTENT);
    // The same survey answer twice: stored once, the retry counted as a duplicate.
    for _ in 0..2 {
        assert_eq!(
            put(event_log("same-key"), "/api/v1/event_log").await,
            StatusCode::CREATED
        );
    }
    let file = http
        .get(server.url("/c19r/440/list.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::NOT_FOUND);
    // A storage failure that is a refusal: counted as internal.
    backend.break_key_inserts().await;
    let second = common::issue_number(&http, &server).await;
    assert_eq!(
        put(registration(&second), "/api/v2/diagnosis").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let after = scrape(&http, &server).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved(r#"cocoa_registrations_total{outcome="accepted"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"cocoa_registrations_total{outcome="processing_number_invalid"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"cocoa_registrations_total{outcome="internal_error"}"#),
        1.0
    );
    // 7 keys sent, 7 in the window (onset 5 August: -2..=+4), one region.
    assert_eq!(moved("cocoa_keys_stored_total"), 7.0);
    assert_eq!(
        moved(r#"cocoa_http_requests_total{route="/api/v2/diagnosis",status="2xx"}"#),
        2.0,
        "the registration and the decoy"
    );
    assert_eq!(
        moved(r#"cocoa_http_requests_total{route="/api/v2/diagnosis",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"cocoa_http_requests_total{route="/c19r/{*path}",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"cocoa_http_request_duration_seconds_count{route="/api/v2/diagnosis"}"#),
        4.0
    );
    assert_eq!(moved(r#"cocoa_survey_answers_total{result="stored"}"#), 1.0);
    assert_eq!(
        moved(r#"cocoa_survey_answers_total{result="duplicate"}"#),
        1.0
    );
    assert_eq!(moved(r#"cocoa_storage_errors_total{kind="internal"}"#), 1.0);

    // No label carries client data: no address, number, key, path asked for or idempotency key.
    for secret in [
        "127.0.0.1",
        number.as_str(),
        second.as_str(),
        "87654321",
        "list.json",
        "same-key",
        "AwMDAwMD",
    ] {
        assert!(!after.contains(secret), "/metrics shows {secret}");
    }
}
