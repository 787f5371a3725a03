//! The HTTP API through the real server on port 0, on SQLite and on PostgreSQL: number issuance,
//! registration, every error code, retries, chaff, expiry with an injected clock, the
//! transaction under a storage failure, a race for one number, and rate limits.

mod common;

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use cocoa_server::{Clock, ManualClock};
use common::{interval_of_day, Backend, Server, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use std::sync::Arc;

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
}

struct Fixture {
    server: Server,
    clock: Arc<ManualClock>,
    backend: Backend,
    http: reqwest::Client,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    async fn with(backend: Backend, tweak: impl FnOnce(&mut cocoa_server::ServerConfig)) -> Self {
        let clock = Arc::new(ManualClock::new(start_time()));
        let server = Server::start(
            backend.store.clone(),
            clock.clone() as Arc<dyn Clock>,
            tweak,
        )
        .await;
        Self {
            server,
            clock,
            backend,
            http: reqwest::Client::new(),
        }
    }

    async fn issue(&self, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.server.url("/api/v1/processing-numbers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn number(&self) -> String {
        let (status, body) = self.issue(json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["processingNumbers"][0]["processingNumber"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn put(
        &self,
        version: &str,
        body: &Value,
        chaff: bool,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .put(self.server.url(&format!("/api/{version}/diagnosis")))
            .json(body);
        if chaff {
            request = request.header("X-Chaff", "1");
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        )
    }

    async fn stored_keys(&self) -> usize {
        self.backend.store.all_keys().await.unwrap().len()
    }
}

/// A registration with keys for 1..=10 August (onset 5 August, symptomatic).
fn registration(number: &str, seed: u8) -> Value {
    let keys: Vec<Value> = (1..=10u32)
        .map(|d| {
            json!({
                "keyData": base64::engine::general_purpose::STANDARD.encode([seed.wrapping_add(d as u8); 16]),
                "rollingStartNumber": interval_of_day(d),
                "rollingPeriod": 144,
                "reportType": 1
            })
        })
        .collect();
    json!({
        "hasSymptom": true,
        "onsetOfSymptomOrTestDate": "2022-08-05T00:00:00.000+09:00",
        "keys": keys,
        "regions": ["440"],
        "platform": "android",
        "deviceVerificationPayload": "attestation",
        "appPackageName": "jp.go.mhlw.covid19radar",
        "verificationPayload": number,
        "idempotency_key": format!("attempt-{seed}"),
        "padding": "x".repeat(1500)
    })
}

#[tokio::test]
async fn issuing_numbers_needs_the_token_and_valid_values() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let url = f.server.url("/api/v1/processing-numbers");
        let r = f.http.post(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
        let r = f
            .http
            .post(&url)
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // No body at all: one number, 24 hours.
        let r = f
            .http
            .post(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        let numbers = body["processingNumbers"].as_array().unwrap();
        assert_eq!(numbers.len(), 1);
        let n = numbers[0]["processingNumber"].as_str().unwrap();
        assert!(n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(numbers[0]["expiresAt"], "2022-08-11T05:30:00Z");

        let (status, body) = f
            .issue(json!({"count": 100, "lifetimeMinutes": 60, "testDate": "2022-08-09"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let numbers = body["processingNumbers"].as_array().unwrap();
        assert_eq!(numbers.len(), 100);
        let distinct: std::collections::HashSet<_> = numbers
            .iter()
            .map(|n| n["processingNumber"].clone())
            .collect();
        assert_eq!(distinct.len(), 100);
        assert_eq!(numbers[0]["expiresAt"], "2022-08-10T06:30:00Z");

        for bad in [
            json!({"count": 0}),
            json!({"count": 101}),
            json!({"lifetimeMinutes": 0}),
            json!({"lifetimeMinutes": 1441}),
            json!({"testDate": "10/08/2022"}),
            json!({"symptomOnsetDate": "2021-01-01"}),
            json!({"colour": "red"}),
            json!([1, 2]),
        ] {
            let (status, body) = f.issue(bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["error"], "bad_request", "{bad}");
            assert!(!body["message"].as_str().unwrap().is_empty());
        }
    }
}

#[tokio::test]
async fn registration_v2_and_v3_with_warnings_and_release_times() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let n = f.number().await;
        let (status, _, _) = f.put("v2", &registration(&n, 0), false).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}", f.backend.name);
        // Symptomatic, onset 5 Aug: 2..=10 Aug are published, 1 Aug (-4 days) is not.
        assert_eq!(f.stored_keys().await, 9);

        let n = f.number().await;
        let (status, body, headers) = f.put("v3", &registration(&n, 100), false).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["verificationPayload"], Value::Null);
        assert_eq!(body["deviceVerificationPayload"], Value::Null);
        // The request's padding is not echoed: the answer carries padding of its own, which
        // makes it as long as a decoy's (see guess_limits.rs).
        let padding = body["padding"].as_str().unwrap();
        assert!(
            padding.chars().any(|c| c != 'x'),
            "the request's padding was echoed"
        );
        let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
        assert_eq!(length % 4096, 0, "{length}");
        assert_eq!(body["idempotency_key"], "attempt-100");
        assert_eq!(body["keys"].as_array().unwrap().len(), 9);
        assert_eq!(
            body["warnings"],
            json!([{"index": 0, "code": "outside_infectious_window",
            "message": "keys[0] is -4 days from the onset, outside the infectious window -3..=10, and was dropped"}])
        );

        let keys = f.backend.store.all_keys().await.unwrap();
        let hour = Utc
            .with_ymd_and_hms(2022, 8, 10, 5, 0, 0)
            .unwrap()
            .timestamp();
        let held = Utc
            .with_ymd_and_hms(2022, 8, 11, 2, 0, 0)
            .unwrap()
            .timestamp();
        for k in &keys {
            let today = k.key.rolling_start.get() as i64 == interval_of_day(10);
            assert_eq!(k.key.release_at, if today { held } else { hour });
        }
    }
}

#[tokio::test]
async fn number_errors_are_distinct_and_406() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let mut body = registration("1234567", 0);
        let (status, err, _) = f.put("v2", &body, false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (
                StatusCode::NOT_ACCEPTABLE,
                Some("processing_number_invalid")
            )
        );
        body["verificationPayload"] = json!("99999999");
        let (status, err, _) = f.put("v2", &body, false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (
                StatusCode::NOT_ACCEPTABLE,
                Some("processing_number_invalid")
            )
        );

        // Expired: issued with a one-hour lifetime, used an hour later.
        let (_, issued) = f.issue(json!({"lifetimeMinutes": 60})).await;
        let expiring = issued["processingNumbers"][0]["processingNumber"]
            .as_str()
            .unwrap()
            .to_owned();
        f.clock.advance(Duration::minutes(60));
        let (status, err, _) = f.put("v2", &registration(&expiring, 0), false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (
                StatusCode::NOT_ACCEPTABLE,
                Some("processing_number_expired")
            )
        );
        assert!(err["message"].as_str().unwrap().contains("expired"));

        // Used by someone else's registration.
        let n = f.number().await;
        assert_eq!(
            f.put("v2", &registration(&n, 0), false).await.0,
            StatusCode::NO_CONTENT
        );
        let (status, err, _) = f.put("v2", &registration(&n, 50), false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::NOT_ACCEPTABLE, Some("processing_number_used"))
        );
    }
}

#[tokio::test]
async fn malformed_requests_are_400_and_large_ones_413() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let n = f.number().await;
        let good = registration(&n, 0);
        let mut cases: Vec<(Value, &str)> = vec![
            (json!({"hello": "world"}), "bad_request"),
            (json!([]), "bad_request"),
        ];
        let mut v = good.clone();
        v["regions"] = json!(["999"]);
        cases.push((v, "unsupported_region"));
        let mut v = good.clone();
        v["keys"] = json!([]);
        cases.push((v, "invalid_keys"));
        let mut v = good.clone();
        v["keys"][0]["keyData"] = json!("AAAA");
        cases.push((v, "invalid_keys"));
        let mut v = good.clone();
        v["keys"][0]["rollingPeriod"] = json!(145);
        cases.push((v, "invalid_keys"));
        let mut v = good.clone();
        v["onsetOfSymptomOrTestDate"] = json!("2021-01-01T00:00:00Z");
        cases.push((v, "invalid_onset_date"));
        let mut v = good.clone();
        v["onsetOfSymptomOrTestDate"] = json!("2022-07-25T00:00:00Z");
        v["keys"] = json!([good["keys"][9].clone()]);
        cases.push((v, "no_keys_in_infectious_window"));
        for (body, code) in cases {
            let (status, err, _) = f.put("v2", &body, false).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{code}: {err}");
            assert_eq!(err["error"], code);
        }
        let r = f
            .http
            .put(f.server.url("/api/v2/diagnosis"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let mut huge = good.clone();
        huge["padding"] = json!("x".repeat(70 * 1024));
        let (status, err, _) = f.put("v2", &huge, false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
        );
        // None of this used the number.
        assert_eq!(f.put("v2", &good, false).await.0, StatusCode::NO_CONTENT);
        assert_eq!(f.stored_keys().await, 9);

        let r = f.http.get(f.server.url("/nope")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
        let r = f
            .http
            .get(f.server.url("/api/v2/diagnosis"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let r = f.http.get(f.server.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn retries_after_success_answer_success_without_storing_twice() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let n = f.number().await;
        let body = registration(&n, 0);
        assert_eq!(f.put("v2", &body, false).await.0, StatusCode::NO_CONTENT);
        // Lost answer: the phone retries with the same idempotency key...
        assert_eq!(f.put("v2", &body, false).await.0, StatusCode::NO_CONTENT);
        // ...or a fresh attempt with the same number and keys.
        let mut again = body.clone();
        again["idempotency_key"] = json!("another-attempt");
        let (status, echo, _) = f.put("v3", &again, false).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echo["keys"].as_array().unwrap().len(), 9);
        // The same idempotency key with other keys is another registration: refused, not
        // falsely acknowledged.
        let mut changed = registration(&n, 77);
        changed["idempotency_key"] = body["idempotency_key"].clone();
        let (status, err, _) = f.put("v2", &changed, false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::NOT_ACCEPTABLE, Some("processing_number_used"))
        );
        assert_eq!(f.stored_keys().await, 9);
    }
}

#[tokio::test]
async fn chaff_is_answered_like_real_traffic_and_stores_nothing() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let n = f.number().await;
        let body = registration(&n, 0);
        let (status, _, _) = f.put("v2", &body, true).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, echo, _) = f.put("v3", &body, true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echo["verificationPayload"], Value::Null);
        // Chaff with a bogus number looks like success too.
        let (status, _, _) = f.put("v2", &registration("00000000", 1), true).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(f.stored_keys().await, 0);
        // The number was not touched: the real registration still works.
        assert_eq!(f.put("v2", &body, false).await.0, StatusCode::NO_CONTENT);
        assert_eq!(f.stored_keys().await, 9);
    }
}

#[tokio::test]
async fn a_refused_insert_is_500_with_an_error_id_and_leaves_the_number_usable() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let n = f.number().await;
        let body = registration(&n, 0);
        // A trigger refuses every key insert: to the server, a violated constraint (a bug).
        f.backend.break_key_inserts().await;
        let (status, err, headers) = f.put("v2", &body, false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("internal_error")),
            "{}",
            f.backend.name
        );
        let id = err["errorId"].as_str().unwrap();
        assert_eq!(id.len(), 16);
        assert!(err["message"].as_str().unwrap().contains(id));
        assert!(
            !headers.contains_key("retry-after"),
            "a bug is not worth retrying"
        );
        assert!(
            !err["message"].as_str().unwrap().contains("injected"),
            "internals must not leak"
        );
        f.backend.repair_key_inserts().await;
        assert_eq!(f.put("v2", &body, false).await.0, StatusCode::NO_CONTENT);
        assert_eq!(f.stored_keys().await, 9);
    }
}

#[tokio::test]
async fn a_full_disk_is_503_with_retry_after_and_leaves_the_number_usable() {
    // PostgreSQL says so with SQLSTATE 53100 (disk_full), raised here by a trigger.
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let f = Fixture::new(backend).await;
    let n = f.number().await;
    let body = registration(&n, 0);
    f.backend
        .execute(&[
            "CREATE FUNCTION injected_failure() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected: no space left' USING ERRCODE = 'disk_full'; END $$ \
             LANGUAGE plpgsql",
            "CREATE TRIGGER injected_failure BEFORE INSERT ON diagnosis_keys \
             FOR EACH ROW EXECUTE FUNCTION injected_failure()",
        ])
        .await;
    let (status, err, headers) = f.put("v2", &body, false).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("storage_unavailable"))
    );
    assert_eq!(headers["retry-after"], "5");
    assert!(!err["message"].as_str().unwrap().contains("injected"));
    f.backend.repair_key_inserts().await;
    assert_eq!(f.put("v2", &body, false).await.0, StatusCode::NO_CONTENT);
    assert_eq!(f.stored_keys().await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_postgres_connections_give_503_with_retry_after_and_the_server_recovers() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let f = Fixture::with(backend, |c| {
        c.rate_limit.client_failures_per_window = 100_000;
    })
    .await;
    // Numbers for every registration, issued before the load.
    let mut numbers = Vec::new();
    while numbers.len() < 600 {
        let (status, body) = f.issue(json!({"count": 100})).await;
        assert_eq!(status, StatusCode::CREATED);
        for n in body["processingNumbers"].as_array().unwrap() {
            numbers.push(n["processingNumber"].as_str().unwrap().to_owned());
        }
    }
    let numbers = Arc::new(std::sync::Mutex::new(numbers));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Eight phones register as fast as they can...
    let phones: Vec<_> = (0..8u8)
        .map(|p| {
            let (http, url) = (f.http.clone(), f.server.url("/api/v2/diagnosis"));
            let (numbers, stop) = (numbers.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Some(n) = numbers.lock().unwrap().pop() else {
                        break;
                    };
                    let r = http
                        .put(&url)
                        .json(&registration(&n, p))
                        .send()
                        .await
                        .unwrap();
                    let retry_after = r.headers().get("retry-after").cloned();
                    let status = r.status();
                    let code = r.json::<Value>().await.ok().map(|b| b["error"].clone());
                    statuses.push((status, retry_after, code));
                }
                statuses
            })
        })
        .collect();
    // ...while every server connection is killed, again and again, until some failed.
    let mut admin = sqlx::PgConnection::connect(&f.backend.url).await.unwrap();
    let started = std::time::Instant::now();
    let mut killed = 0i64;
    while started.elapsed() < std::time::Duration::from_secs(3) {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        killed += n;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ok = 0;
    let mut unavailable = 0;
    for phone in phones {
        for (status, retry_after, code) in phone.await.unwrap() {
            match status {
                StatusCode::NO_CONTENT => ok += 1,
                StatusCode::SERVICE_UNAVAILABLE => {
                    unavailable += 1;
                    assert!(retry_after.is_some(), "503 without Retry-After");
                    assert_eq!(code, Some(json!("storage_unavailable")));
                }
                other => panic!("a registration got {other} ({code:?})"),
            }
        }
    }
    assert!(killed > 0);
    assert!(
        unavailable > 0,
        "no request met a killed connection ({ok} ok)"
    );
    // No restart: the next registration goes through.
    let n = f.number().await;
    assert_eq!(
        f.put("v2", &registration(&n, 99), false).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_phones_racing_for_one_number_one_wins() {
    for backend in Backend::all().await {
        // 15 losers from one address would trip the per-client limit of failed attempts; this
        // test is about the race, so the limit is raised.
        let f = Fixture::with(backend, |c| c.rate_limit.client_failures_per_window = 100).await;
        let n = f.number().await;
        let requests = (0..16u8).map(|i| {
            let http = f.http.clone();
            let url = f.server.url("/api/v2/diagnosis");
            let body = registration(&n, i * 11);
            async move { http.put(url).json(&body).send().await.unwrap().status() }
        });
        let statuses = futures::future::join_all(requests).await;
        let won = statuses
            .iter()
            .filter(|s| **s == StatusCode::NO_CONTENT)
            .count();
        let lost = statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_ACCEPTABLE)
            .count();
        assert_eq!((won, lost), (1, 15), "{}: {statuses:?}", f.backend.name);
        assert_eq!(f.stored_keys().await, 9);
    }
}

#[tokio::test]
async fn failed_attempts_are_rate_limited_per_client() {
    for backend in Backend::all().await {
        let f = Fixture::with(backend, |c| {
            c.rate_limit.client_failures_per_window = 3;
            c.rate_limit.window_seconds = 600;
        })
        .await;
        let good = f.number().await;
        for i in 0..3 {
            let (status, _, _) = f
                .put("v2", &registration(&format!("1111111{i}"), 0), false)
                .await;
            assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
        }
        let (status, err, headers) = f.put("v2", &registration("22222222", 0), false).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
        );
        // 05:30 is the start of a 10-minute window: wait the whole window.
        assert_eq!(headers["retry-after"], "600");
        // While limited, even a good number waits: a guess must not learn it was right.
        assert_eq!(
            f.put("v2", &registration(&good, 0), false).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        f.clock.advance(Duration::minutes(10));
        assert_eq!(
            f.put("v2", &registration(&good, 0), false).await.0,
            StatusCode::NO_CONTENT
        );
    }
}

#[tokio::test]
async fn housekeeping_purges_numbers_after_the_grace_period() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend).await;
        let used = f.number().await;
        assert_eq!(
            f.put("v2", &registration(&used, 0), false).await.0,
            StatusCode::NO_CONTENT
        );
        let _live = f.number().await;
        // Default: 24 h lifetime, 48 h grace. After 48 h the used one goes; the live one expired
        // at 24 h and goes at 72 h.
        f.clock.advance(Duration::hours(48) + Duration::seconds(1));
        assert_eq!(f.server.app.purge_numbers().await.unwrap(), 1);
        f.clock.advance(Duration::hours(24));
        assert_eq!(f.server.app.purge_numbers().await.unwrap(), 1);
        assert_eq!(f.backend.store.count_numbers().await.unwrap(), 0);
        assert_eq!(
            f.stored_keys().await,
            9,
            "purging numbers never touches keys"
        );
    }
}

#[tokio::test]
async fn numbers_that_cannot_be_drawn_get_their_own_code() {
    // Every insert meets a "stored" number (a trigger says so, as a nearly full number space
    // would): after eight draws the server gives up with its own code, not a storage error.
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let f = Fixture::new(backend).await;
    f.backend
        .execute(&[
            "CREATE FUNCTION injected_collision() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'taken' USING ERRCODE = 'unique_violation'; END $$ \
             LANGUAGE plpgsql",
            "CREATE TRIGGER injected_collision BEFORE INSERT ON processing_numbers \
             FOR EACH ROW EXECUTE FUNCTION injected_collision()",
        ])
        .await;
    let (status, body) = f.issue(json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "processing_numbers_exhausted");
    assert_eq!(f.backend.store.count_numbers().await.unwrap(), 0);
}

#[tokio::test]
async fn the_health_centre_api_honours_max_onset_age_days() {
    let backend = Backend::sqlite().await;
    let f = Fixture::with(backend, |c| c.registration.max_onset_age_days = 5).await;
    // Today is 10 August 2022: 5 days back is allowed, 6 is not.
    let (status, _) = f.issue(json!({"symptomOnsetDate": "2022-08-05"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = f.issue(json!({"testDate": "2022-08-04"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("last 5 days"),
        "{body}"
    );
    // The default (28) is the phone's rule too.
    let f = Fixture::new(Backend::sqlite().await).await;
    assert_eq!(
        f.issue(json!({"testDate": "2022-07-13"})).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        f.issue(json!({"testDate": "2022-07-12"})).await.0,
        StatusCode::BAD_REQUEST
    );
}
