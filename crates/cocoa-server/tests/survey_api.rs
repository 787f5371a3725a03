//! `PUT /api/v1/event_log` through the real server on port 0, on SQLite and on PostgreSQL: every
//! rule of a survey at both edges, malformed requests, 411 without `Content-Length` (raw TCP),
//! 413 past 10 MiB, 410 outside the survey window (injected clock), a retry stored once,
//! entries without consent dropped, retention on its date, the per-client limit, and a storage
//! failure.

mod common;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cocoa_server::survey::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};
use cocoa_server::{Clock, ManualClock, ServerConfig};
use common::{Backend, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DAY_MS: i64 = 86_400_000;

/// 2022-11-20 05:30 UTC: during COCOA's survey.
fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 11, 20, 5, 30, 0).unwrap()
}

fn midnight_ms(y: i32, m: u32, d: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .unwrap()
        .timestamp_millis()
}

fn epoch_day(y: i32, m: u32, d: u32) -> i64 {
    midnight_ms(y, m, d) / DAY_MS
}

struct Fixture {
    server: Server,
    clock: Arc<ManualClock>,
    backend: Backend,
    http: reqwest::Client,
}

impl Fixture {
    /// A server whose per-client limit is out of the way.
    async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    async fn with(backend: Backend, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let clock = Arc::new(ManualClock::new(start_time()));
        let server = Server::start(
            backend.store.clone(),
            clock.clone() as Arc<dyn Clock>,
            |c| {
                c.survey.client_submissions_per_window = 10_000;
                tweak(c);
            },
        )
        .await;
        Self {
            server,
            clock,
            backend,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        self.server.url("/api/v1/event_log")
    }

    async fn put_bytes(&self, body: Vec<u8>) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        send(&self.http, &self.url(), body).await
    }

    async fn put(&self, body: &Value) -> (StatusCode, Value) {
        let (status, body, _) = self.put_bytes(body.to_string().into_bytes()).await;
        (status, body)
    }

    /// The error code of a refused request, or "201" for a success (with an empty body).
    async fn outcome(&self, body: &Value) -> String {
        match self.put(body).await {
            (StatusCode::CREATED, Value::Null) => "201".into(),
            (status, body) => {
                assert!(
                    status.is_client_error() || status.is_server_error(),
                    "{status}"
                );
                body["error"].as_str().unwrap().to_owned()
            }
        }
    }

    async fn stored(&self) -> Vec<SurveyResponse> {
        self.backend.store.all_survey_responses().await.unwrap()
    }

    async fn count(&self) -> u64 {
        self.backend.store.count_survey_responses().await.unwrap()
    }

    /// Sends raw bytes over a new connection; returns the status code and the body of the
    /// answer (read up to its `Content-Length`).
    async fn raw(&self, request: &[u8]) -> (u16, Value) {
        let address = self.server.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut got = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            got.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                    return (status, serde_json::from_str(body).unwrap_or(Value::Null));
                }
            }
            assert!(n > 0, "the connection closed mid-answer: {text:?}");
        }
    }
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let r = http
        .put(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body, headers)
}

/// A survey as COCOA's final update sends it, with every field answered.
fn content() -> Value {
    json!({
        "q1": 5,
        "q2": 3,
        "start_date": 1_600_000_000,
        "exposure_data": {"daily_summaries": [
            {"DateMillisSinceEpoch": midnight_ms(2022, 4, 7), "ExposureDetected": 0},
            {"DateMillisSinceEpoch": midnight_ms(2022, 8, 1), "ExposureDetected": 1}
        ]}
    })
}

fn entry(content: Value) -> Value {
    json!({"hasConsent": true, "epoch": 1_668_900_000, "type": "survey", "subtype": "survey", "content": content})
}

fn event_log(key: &str, entries: Vec<Value>) -> Value {
    json!({
        "idempotencyKey": key,
        "platform": "android",
        "appPackageName": "jp.go.mhlw.covid19radar",
        "deviceVerificationPayload": "attestation-token",
        "eventLogs": entries
    })
}

fn with(mut content: Value, pointer: &str, value: Value) -> Value {
    *content.pointer_mut(pointer).unwrap() = value;
    content
}

/// `content` with one more field in the object at `pointer`.
fn adding(mut content: Value, pointer: &str, name: &str, value: Value) -> Value {
    content
        .pointer_mut(pointer)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(name.into(), value);
    content
}

fn days(list: &[(i64, i64)]) -> Value {
    let items: Vec<Value> = list
        .iter()
        .map(|(ms, flag)| json!({"DateMillisSinceEpoch": ms, "ExposureDetected": flag}))
        .collect();
    json!({"daily_summaries": items})
}

#[tokio::test]
async fn a_survey_is_stored_as_answers_and_days_only() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let (status, body) = f.put(&event_log("k-1", vec![entry(content())])).await;
        assert_eq!((status, body), (StatusCode::CREATED, Value::Null));
        let stored = f.stored().await;
        assert_eq!(stored.len(), 1);
        let s = &stored[0];
        assert_eq!(s.id_hash.len(), 64);
        assert!(s.id_hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            s,
            &SurveyResponse {
                id_hash: s.id_hash.clone(),
                received_day: epoch_day(2022, 11, 20),
                age_group: AgeGroup::new(5),
                commute: Commute::new(3),
                start_day: Some(1_600_000_000 / 86_400),
                days: Some(vec![
                    SurveyDayFlag {
                        day: epoch_day(2022, 4, 7),
                        exposure_detected: false
                    },
                    SurveyDayFlag {
                        day: epoch_day(2022, 8, 1),
                        exposure_detected: true
                    },
                ]),
            }
        );
        // Nothing answered, nothing consented: stored as such.
        let empty = json!({"q1": null, "q2": null, "start_date": null, "exposure_data": null});
        assert_eq!(
            f.outcome(&event_log("k-2", vec![entry(empty)])).await,
            "201"
        );
        let consented_without_days = with(content(), "/exposure_data", days(&[]));
        assert_eq!(
            f.outcome(&event_log("k-3", vec![entry(consented_without_days)]))
                .await,
            "201"
        );
        let stored = f.stored().await;
        assert!(stored.iter().any(|s| s.age_group.is_none()
            && s.commute.is_none()
            && s.start_day.is_none()
            && s.days.is_none()));
        assert!(stored.iter().any(|s| s.days == Some(vec![])));
    }
}

#[tokio::test]
async fn every_content_rule_is_checked_at_both_edges() {
    let now_s = start_time().timestamp();
    let service_start = Utc
        .with_ymd_and_hms(2020, 6, 19, 0, 0, 0)
        .unwrap()
        .timestamp();
    let today = midnight_ms(2022, 11, 20);
    let first = midnight_ms(2022, 4, 7);
    let ok = "201";
    let invalid = "invalid_survey";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("q1 0", with(content(), "/q1", json!(0)), invalid),
        ("q1 1", with(content(), "/q1", json!(1)), ok),
        ("q1 9", with(content(), "/q1", json!(9)), ok),
        ("q1 10", with(content(), "/q1", json!(10)), invalid),
        ("q1 null", with(content(), "/q1", Value::Null), ok),
        ("q1 -1", with(content(), "/q1", json!(-1)), invalid),
        ("q1 256", with(content(), "/q1", json!(256)), invalid),
        ("q1 1.5", with(content(), "/q1", json!(1.5)), invalid),
        ("q1 text", with(content(), "/q1", json!("5")), invalid),
        ("q2 0", with(content(), "/q2", json!(0)), invalid),
        ("q2 1", with(content(), "/q2", json!(1)), ok),
        ("q2 3", with(content(), "/q2", json!(3)), ok),
        ("q2 4", with(content(), "/q2", json!(4)), invalid),
        ("q2 null", with(content(), "/q2", Value::Null), ok),
        (
            "start before the service",
            with(content(), "/start_date", json!(service_start - 1)),
            invalid,
        ),
        (
            "start on the service's first second",
            with(content(), "/start_date", json!(service_start)),
            ok,
        ),
        (
            "start now",
            with(content(), "/start_date", json!(now_s)),
            ok,
        ),
        (
            "start in the future",
            with(content(), "/start_date", json!(now_s + 1)),
            invalid,
        ),
        (
            "start null",
            with(content(), "/start_date", Value::Null),
            ok,
        ),
        (
            "start as text",
            with(content(), "/start_date", json!("2022-01-01")),
            invalid,
        ),
        (
            "day before the first day",
            with(content(), "/exposure_data", days(&[(first - DAY_MS, 0)])),
            invalid,
        ),
        (
            "the first day",
            with(content(), "/exposure_data", days(&[(first, 0)])),
            ok,
        ),
        (
            "today",
            with(content(), "/exposure_data", days(&[(today, 1)])),
            ok,
        ),
        (
            "tomorrow",
            with(content(), "/exposure_data", days(&[(today + DAY_MS, 0)])),
            invalid,
        ),
        (
            "not a midnight (+1 ms)",
            with(content(), "/exposure_data", days(&[(first + 1, 0)])),
            invalid,
        ),
        (
            "not a midnight (-1 ms)",
            with(content(), "/exposure_data", days(&[(today - 1, 0)])),
            invalid,
        ),
        (
            "a negative date",
            with(content(), "/exposure_data", days(&[(-DAY_MS, 0)])),
            invalid,
        ),
        (
            "a day twice",
            with(content(), "/exposure_data", days(&[(first, 0), (first, 0)])),
            invalid,
        ),
        (
            "a day twice, flags differing, apart",
            with(
                content(),
                "/exposure_data",
                days(&[(first, 0), (today, 0), (first, 1)]),
            ),
            invalid,
        ),
        (
            "flag 2",
            with(content(), "/exposure_data", days(&[(first, 2)])),
            invalid,
        ),
        (
            "flag -1",
            with(content(), "/exposure_data", days(&[(first, -1)])),
            invalid,
        ),
        ("no days", with(content(), "/exposure_data", days(&[])), ok),
        (
            "daily data null",
            with(content(), "/exposure_data", Value::Null),
            ok,
        ),
        (
            "an unknown field in the content",
            adding(content(), "", "q3", json!(1)),
            invalid,
        ),
        (
            "an unknown field in the daily data",
            adding(content(), "/exposure_data", "extra", json!(1)),
            invalid,
        ),
        (
            "an unknown field in a day",
            adding(
                content(),
                "/exposure_data/daily_summaries/0",
                "Score",
                json!(900),
            ),
            invalid,
        ),
        (
            "a day without its flag",
            with(
                content(),
                "/exposure_data/daily_summaries",
                json!([{"DateMillisSinceEpoch": first}]),
            ),
            invalid,
        ),
        ("content as an array", json!([5, 3, null, null]), invalid),
        (
            "daily data as an array",
            with(content(), "/exposure_data", json!([[]])),
            invalid,
        ),
        (
            "a day as an array",
            with(
                content(),
                "/exposure_data/daily_summaries",
                json!([[first, 0]]),
            ),
            invalid,
        ),
        (
            "daily summaries missing",
            with(content(), "/exposure_data", json!({})),
            invalid,
        ),
        ("content null", Value::Null, invalid),
    ];
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let mut expected_rows = 0;
        for (i, (name, content, expected)) in cases.iter().enumerate() {
            let body = event_log(&format!("case-{i}"), vec![entry(content.clone())]);
            assert_eq!(
                &f.outcome(&body).await,
                expected,
                "{}: {name}",
                f.backend.name
            );
            if *expected == ok {
                expected_rows += 1;
            }
            assert_eq!(f.count().await, expected_rows, "{name}: nothing stored");
        }
        // One bad entry refuses the whole request.
        let mixed = event_log(
            "mixed",
            vec![entry(content()), entry(with(content(), "/q1", json!(10)))],
        );
        let (status, body) = f.put(&mixed).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_survey");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("eventLogs[1]"),
            "{body}"
        );
        assert_eq!(f.count().await, expected_rows);
        // Only surveys are taken (with consent; see the test of consent).
        for (kind, subtype) in [
            ("ExposureNotification", "survey"),
            ("survey", "ExposureNotified"),
        ] {
            let mut e = entry(content());
            e["type"] = json!(kind);
            e["subtype"] = json!(subtype);
            assert_eq!(
                f.outcome(&event_log("other-type", vec![e])).await,
                invalid,
                "{kind}/{subtype}"
            );
        }
        assert_eq!(f.count().await, expected_rows);
    }
}

#[tokio::test]
async fn the_first_day_is_configurable() {
    for backend in Backend::all().await {
        let f = Fixture::with(backend, |c| {
            c.survey.first_day = NaiveDate::from_ymd_opt(2022, 5, 1).unwrap();
        })
        .await;
        for (i, (day, expected)) in [
            (midnight_ms(2022, 4, 30), "invalid_survey"),
            (midnight_ms(2022, 5, 1), "201"),
        ]
        .into_iter()
        .enumerate()
        {
            let c = with(content(), "/exposure_data", days(&[(day, 0)]));
            let body = event_log(&format!("k{i}"), vec![entry(c)]);
            assert_eq!(f.outcome(&body).await, expected, "{day}");
        }
    }
}

#[tokio::test]
async fn malformed_requests_are_bad_request() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let good = event_log("k", vec![entry(content())]);
        let mut missing_logs = good.clone();
        missing_logs.as_object_mut().unwrap().remove("eventLogs");
        let mut missing_key = good.clone();
        missing_key
            .as_object_mut()
            .unwrap()
            .remove("idempotencyKey");
        let mut bad_consent = good.clone();
        bad_consent["eventLogs"][0]["hasConsent"] = json!("yes");
        let mut no_content = good.clone();
        no_content["eventLogs"][0]
            .as_object_mut()
            .unwrap()
            .remove("content");
        let mut entry_as_array = good.clone();
        entry_as_array["eventLogs"] = json!([[true, 1, "survey", "survey", content()]]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "an entry as an array",
                entry_as_array.to_string().into_bytes(),
            ),
            (
                "eventLogs not a list",
                json!({"idempotencyKey": "k", "eventLogs": {}})
                    .to_string()
                    .into_bytes(),
            ),
            ("not JSON", b"survey!".to_vec()),
            ("an array", b"[]".to_vec()),
            ("trailing bytes", format!("{good} x").into_bytes()),
            ("no eventLogs", missing_logs.to_string().into_bytes()),
            ("no idempotencyKey", missing_key.to_string().into_bytes()),
            (
                "hasConsent not a boolean",
                bad_consent.to_string().into_bytes(),
            ),
            (
                "an entry without content",
                no_content.to_string().into_bytes(),
            ),
            (
                "an empty idempotencyKey",
                event_log("", vec![entry(content())])
                    .to_string()
                    .into_bytes(),
            ),
            (
                "an idempotencyKey of 129 characters",
                event_log(&"k".repeat(129), vec![entry(content())])
                    .to_string()
                    .into_bytes(),
            ),
        ];
        for (name, body) in cases {
            let (status, answer, _) = f.put_bytes(body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
            assert_eq!(answer["error"], "bad_request", "{name}: {answer}");
        }
        assert_eq!(f.count().await, 0);
        // The edges that pass: 128 characters, one character, no entries at all.
        for body in [
            event_log(&"k".repeat(128), vec![entry(content())]),
            event_log("k", vec![entry(content())]),
            event_log("empty", vec![]),
        ] {
            assert_eq!(f.outcome(&body).await, "201");
        }
        assert_eq!(f.count().await, 2);
    }
}

#[tokio::test]
async fn a_body_without_content_length_is_411() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let body = event_log("chunked", vec![entry(content())]).to_string();
        let chunked = format!(
            "PUT /api/v1/event_log HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let (status, answer) = f.raw(chunked.as_bytes()).await;
        assert_eq!(status, 411, "{}", f.backend.name);
        assert_eq!(answer["error"], "length_required");
        let bodiless = "PUT /api/v1/event_log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let (status, answer) = f.raw(bodiless.as_bytes()).await;
        assert_eq!((status, &answer["error"]), (411, &json!("length_required")));
        // A declared empty body is read, and is no event log.
        let empty = "PUT /api/v1/event_log HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (status, answer) = f.raw(empty.as_bytes()).await;
        assert_eq!((status, &answer["error"]), (400, &json!("bad_request")));
        // The same body with its length is taken.
        let sized = format!(
            "PUT /api/v1/event_log HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(f.raw(sized.as_bytes()).await.0, 201);
        assert_eq!(f.count().await, 1);
    }
}

#[tokio::test]
async fn bodies_up_to_10_mib_are_read_and_larger_ones_are_413() {
    const LIMIT: usize = 10 * 1024 * 1024;
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        // Exactly 10 MiB: a survey padded with whitespace, far over the other endpoints' 64 KiB.
        let mut body = event_log("big", vec![entry(content())])
            .to_string()
            .into_bytes();
        body.resize(LIMIT, b' ');
        let (status, _, _) = f.put_bytes(body).await;
        assert_eq!(status, StatusCode::CREATED, "{}", f.backend.name);
        assert_eq!(f.count().await, 1);
        // One byte more, declared: refused before the body is read.
        let over = format!(
            "PUT /api/v1/event_log HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            LIMIT + 1
        );
        let (status, answer) = f.raw(over.as_bytes()).await;
        assert_eq!(
            (status, &answer["error"]),
            (413, &json!("payload_too_large"))
        );
        assert_eq!(f.count().await, 1);
    }
}

#[tokio::test]
async fn answers_are_taken_only_inside_the_survey_window() {
    let opens = DateTime::parse_from_rfc3339("2022-11-17T00:00:00+09:00").unwrap();
    let closes = DateTime::parse_from_rfc3339("2022-12-31T23:59:59+09:00").unwrap();
    for backend in Backend::all().await {
        let f = Fixture::with(backend, |c| {
            c.survey.opens_at = Some(opens);
            c.survey.closes_at = Some(closes);
        })
        .await;
        let opens = opens.with_timezone(&Utc);
        let closes = closes.with_timezone(&Utc);
        for (i, (at, expected)) in [
            (opens - Duration::seconds(1), "survey_closed"),
            (opens, "201"),
            (closes, "201"),
            (closes + Duration::seconds(1), "survey_closed"),
            (closes + Duration::days(400), "survey_closed"),
        ]
        .into_iter()
        .enumerate()
        {
            f.clock.set(at);
            // Daily data up to the moment of sending.
            let c = with(
                content(),
                "/exposure_data",
                days(&[(midnight_ms(2022, 11, 1), 1)]),
            );
            let (status, body) = f.put(&event_log(&format!("k{i}"), vec![entry(c)])).await;
            if expected == "201" {
                assert_eq!(status, StatusCode::CREATED, "{at}");
            } else {
                assert_eq!(status, StatusCode::GONE, "{at}");
                assert_eq!(body["error"], expected);
            }
        }
        assert_eq!(f.count().await, 2, "{}", f.backend.name);
        // Closed means closed whatever the request: even one without a length.
        let (status, _) = f
            .raw(b"PUT /api/v1/event_log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        assert_eq!(status, 410);
    }
}

#[tokio::test]
async fn a_retry_is_stored_once() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let request = event_log("retried", vec![entry(content())]);
        assert_eq!(f.outcome(&request).await, "201");
        assert_eq!(f.outcome(&request).await, "201");
        assert_eq!(f.count().await, 1, "{}", f.backend.name);
        // The same entry in another order of keys is the same entry.
        let reordered = json!({
            "eventLogs": [{"content": content(), "subtype": "survey", "type": "survey", "epoch": 1_668_900_000, "hasConsent": true}],
            "idempotencyKey": "retried"
        });
        assert_eq!(f.outcome(&reordered).await, "201");
        assert_eq!(f.count().await, 1);
        // A new key, or other content, is another answer; two entries are two answers.
        assert_eq!(
            f.outcome(&event_log("other key", vec![entry(content())]))
                .await,
            "201"
        );
        let other = with(content(), "/q1", json!(6));
        assert_eq!(
            f.outcome(&event_log("retried", vec![entry(other)])).await,
            "201"
        );
        let two = vec![entry(content()), entry(with(content(), "/q2", json!(1)))];
        assert_eq!(f.outcome(&event_log("two", two)).await, "201");
        assert_eq!(f.count().await, 5);
        // Concurrent retries of one request: stored once.
        let request = event_log("raced", vec![entry(content())]);
        let tries: Vec<_> = (0..8).map(|_| f.put(&request)).collect();
        for (status, _) in futures::future::join_all(tries).await {
            assert_eq!(status, StatusCode::CREATED);
        }
        assert_eq!(f.count().await, 6);
    }
}

#[tokio::test]
async fn entries_without_consent_are_dropped() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        // Not even read: another type and content that breaks every rule.
        let unconsented = |content: Value| json!({"hasConsent": false, "epoch": 1, "type": "ExposureNotification", "subtype": "x", "content": content});
        let request = event_log(
            "no consent",
            vec![
                unconsented(with(content(), "/q1", json!(99))),
                unconsented(json!("anything")),
            ],
        );
        assert_eq!(f.outcome(&request).await, "201");
        assert_eq!(f.count().await, 0, "{}", f.backend.name);
        let mixed = event_log(
            "mixed",
            vec![
                unconsented(json!(null)),
                entry(content()),
                unconsented(json!({})),
            ],
        );
        assert_eq!(f.outcome(&mixed).await, "201");
        let stored = f.stored().await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].age_group, AgeGroup::new(5));
    }
}

#[tokio::test]
async fn retention_deletes_every_answer_on_the_deletion_date() {
    for (delete_on, deletion) in [
        (None, NaiveDate::from_ymd_opt(2025, 2, 17).unwrap()),
        (
            Some(NaiveDate::from_ymd_opt(2023, 3, 1).unwrap()),
            NaiveDate::from_ymd_opt(2023, 3, 1).unwrap(),
        ),
    ] {
        for backend in Backend::all().await {
            let f = Fixture::with(backend, |c| {
                c.survey.final_report_date = NaiveDate::from_ymd_opt(2023, 2, 17);
                c.survey.delete_on = delete_on;
            })
            .await;
            for i in 0..3 {
                let body = event_log(&format!("k{i}"), vec![entry(content())]);
                assert_eq!(f.outcome(&body).await, "201");
            }
            let midnight = Utc.from_utc_datetime(&deletion.and_hms_opt(0, 0, 0).unwrap());
            f.clock.set(midnight - Duration::seconds(1));
            let report = f.server.app.exporter().cleanup().await.unwrap();
            assert_eq!(report.survey_responses, 0, "{}", f.backend.name);
            assert_eq!(f.count().await, 3);
            f.clock.set(midnight);
            let report = f.server.app.exporter().cleanup().await.unwrap();
            assert_eq!(report.survey_responses, 3, "{} {deletion}", f.backend.name);
            assert_eq!(f.count().await, 0);
            // Later runs find nothing left.
            f.clock.set(midnight + Duration::days(30));
            let report = f.server.app.exporter().cleanup().await.unwrap();
            assert_eq!(report.survey_responses, 0);
        }
    }
}

#[tokio::test]
async fn submissions_are_limited_per_client_and_window() {
    for backend in Backend::all().await {
        let f = Fixture::with(backend, |c| {
            c.survey.client_submissions_per_window = 3;
            c.survey.window_seconds = 3600;
        })
        .await;
        // Every submission counts, whatever its outcome.
        assert_eq!(
            f.outcome(&event_log("a", vec![entry(content())])).await,
            "201"
        );
        assert_eq!(f.outcome(&json!({"x": 1})).await, "bad_request");
        assert_eq!(
            f.outcome(&event_log("a", vec![entry(content())])).await,
            "201"
        );
        let (status, body, headers) = f
            .put_bytes(
                event_log("b", vec![entry(content())])
                    .to_string()
                    .into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{}", f.backend.name);
        assert_eq!(body["error"], "rate_limited");
        // 05:30 into an hour-long window that started at 05:00.
        assert_eq!(headers["retry-after"], "1800");
        assert_eq!(f.count().await, 1);
        // Another address is another client.
        let other = reqwest::Client::builder()
            .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
            .build()
            .unwrap();
        let (status, _, _) = send(
            &other,
            &f.url(),
            event_log("b", vec![entry(content())])
                .to_string()
                .into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        // The next window starts afresh.
        f.clock.advance(Duration::minutes(30));
        assert_eq!(
            f.outcome(&event_log("c", vec![entry(content())])).await,
            "201"
        );
        assert_eq!(f.count().await, 3);
    }
}

#[tokio::test]
async fn a_refused_insert_is_500_with_an_error_id_and_stores_nothing() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        // A trigger refuses the answer: to the server, a violated constraint.
        f.backend.break_survey_inserts_of_age_group_9().await;
        let poisoned = with(content(), "/q1", json!(9));
        let (status, body) = f.put(&event_log("k", vec![entry(poisoned)])).await;
        assert_eq!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            f.backend.name
        );
        assert_eq!(body["error"], "internal_error");
        assert_eq!(body["errorId"].as_str().unwrap().len(), 16);
        assert!(
            !body["message"].as_str().unwrap().contains("injected"),
            "{body}"
        );
        assert_eq!(f.count().await, 0);
        assert_eq!(
            f.outcome(&event_log("k", vec![entry(content())])).await,
            "201"
        );
        assert_eq!(f.count().await, 1);
    }
}
