//! The registration counts per UTC day and region, through the real server on both backends:
//! what counts (accepted registrations, their keys, symptomatic or not) and what does not
//! (retries, refusals, decoys), that the counts outlive the keys and go on the survey's deletion
//! date, and `GET /api/v1/stats/registrations`'s embargo and small-day suppression.

mod common;

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cocoa_api::stats::RegistrationDay;
use cocoa_server::{Clock, ManualClock};
use common::{Backend, Server, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// 2022-08-10 05:30 UTC (day 19_214).
fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
}

fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

struct Fixture {
    server: Server,
    clock: Arc<ManualClock>,
    backend: Backend,
    http: reqwest::Client,
}

impl Fixture {
    async fn new(backend: Backend, tweak: impl FnOnce(&mut cocoa_server::ServerConfig)) -> Self {
        let clock = Arc::new(ManualClock::new(start_time()));
        let server = Server::start(
            backend.store.clone(),
            clock.clone() as Arc<dyn Clock>,
            |c| {
                c.registration.regions = vec!["440".into(), "441".into()];
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

    /// `count` numbers, with the health centre's `dates` (e.g. `{"testDate": ...}`).
    async fn numbers(&self, count: u32, dates: Value) -> Vec<String> {
        let mut body = dates;
        body["count"] = json!(count);
        let r = self
            .http
            .post(self.server.url("/api/v1/processing-numbers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        body["processingNumbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["processingNumber"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn number(&self) -> String {
        self.numbers(1, json!({})).await.remove(0)
    }

    async fn put(
        &self,
        version: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .put(self.server.url(&format!("/api/{version}/diagnosis")))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Registers (v2) and asserts it was accepted.
    async fn register(&self, body: &Value) {
        let (status, answer) = self.put("v2", body, &[]).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "{}: {answer}",
            self.backend.name
        );
    }

    async fn stats(&self) -> Vec<RegistrationDay> {
        self.backend.store.registration_stats().await.unwrap()
    }

    /// `GET /api/v1/stats/registrations`, without any token.
    async fn published(&self) -> Value {
        let r = self
            .http
            .get(self.server.url("/api/v1/stats/registrations"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
        r.json().await.unwrap()
    }
}

/// A registration with keys for each of the `keys` days before the clock's day, the onset
/// `onset_days_ago` days before it. With onset 2 days ago and 6 keys, the oldest key is 4 days
/// before the onset, outside both infectious windows (-3..): 5 keys are accepted.
fn registration(
    now: DateTime<Utc>,
    number: &str,
    seed: u8,
    has_symptom: bool,
    onset_days_ago: i64,
    keys: i64,
    regions: &[&str],
) -> Value {
    let today = day_of(now);
    let keys: Vec<Value> = (1..=keys)
        .map(|k| {
            json!({
                "keyData": base64::engine::general_purpose::STANDARD.encode([seed.wrapping_add(k as u8); 16]),
                "rollingStartNumber": (today - k) * 144,
                "rollingPeriod": 144,
                "reportType": 1
            })
        })
        .collect();
    let onset = DateTime::from_timestamp((today - onset_days_ago) * 86_400, 0)
        .unwrap()
        .date_naive();
    json!({
        "hasSymptom": has_symptom,
        "onsetOfSymptomOrTestDate": format!("{onset}T00:00:00.000+09:00"),
        "keys": keys,
        "regions": regions,
        "verificationPayload": number,
        "idempotency_key": format!("attempt-{seed}"),
    })
}

fn row(day: i64, region: &str, registrations: u64, keys: u64, symptomatic: u64) -> RegistrationDay {
    RegistrationDay {
        day,
        region: region.into(),
        registrations,
        keys,
        symptomatic_registrations: symptomatic,
    }
}

#[tokio::test]
async fn registrations_and_keys_are_counted_per_utc_day_and_region() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend, |_| {}).await;
        let today = day_of(start_time());
        assert_eq!(f.stats().await, vec![], "{}", f.backend.name);
        let now = f.clock.now();
        // Two symptomatic (the phone says so), one asymptomatic (the health centre's test date
        // overrides the phone), one in both regions: 5 keys each, per region.
        for seed in [0, 20] {
            let n = f.number().await;
            f.register(&registration(now, &n, seed, true, 2, 6, &["440"]))
                .await;
        }
        let test_date = (now - Duration::days(2)).date_naive().to_string();
        let n = f.numbers(1, json!({"testDate": test_date})).await.remove(0);
        f.register(&registration(now, &n, 40, true, 2, 6, &["440"]))
            .await;
        let n = f.number().await;
        f.register(&registration(now, &n, 60, false, 2, 6, &["441", "440"]))
            .await;
        assert_eq!(
            f.stats().await,
            vec![row(today, "440", 4, 20, 2), row(today, "441", 1, 5, 0)],
            "{}",
            f.backend.name
        );
        // The UTC day the registration is accepted: 23:59:59 is still today, midnight is not.
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 10, 23, 59, 59).unwrap());
        let n = f.number().await;
        f.register(&registration(f.clock.now(), &n, 80, true, 2, 3, &["441"]))
            .await;
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 11, 0, 0, 0).unwrap());
        let n = f.number().await;
        f.register(&registration(f.clock.now(), &n, 100, false, 2, 2, &["440"]))
            .await;
        assert_eq!(
            f.stats().await,
            vec![
                row(today, "440", 4, 20, 2),
                row(today, "441", 2, 8, 1),
                row(today + 1, "440", 1, 2, 0),
            ],
            "{}",
            f.backend.name
        );
    }
}

#[tokio::test]
async fn a_retried_registration_does_not_count_twice() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend, |_| {}).await;
        let n = f.number().await;
        let body = registration(f.clock.now(), &n, 0, true, 2, 6, &["440"]);
        f.register(&body).await;
        // A lost answer: the same request again, then a fresh attempt with the same keys (v3).
        f.register(&body).await;
        let mut again = body.clone();
        again["idempotency_key"] = json!("another-attempt");
        let (status, echo) = f.put("v3", &again, &[]).await;
        assert_eq!(status, StatusCode::OK, "{echo}");
        assert_eq!(echo["keys"].as_array().unwrap().len(), 5);
        assert_eq!(
            f.stats().await,
            vec![row(day_of(start_time()), "440", 1, 5, 1)],
            "{}",
            f.backend.name
        );
    }
}

#[tokio::test]
async fn a_refused_registration_does_not_count() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend, |_| {}).await;
        let now = f.clock.now();
        let expect = |(status, body): (StatusCode, Value), code: &str| {
            assert_eq!(body["error"], code, "{status} {body}");
        };
        // A number that was never issued, and one that is not 8 digits.
        expect(
            f.put(
                "v2",
                &registration(now, "12345678", 0, true, 2, 6, &["440"]),
                &[],
            )
            .await,
            "processing_number_invalid",
        );
        expect(
            f.put(
                "v2",
                &registration(now, "1234", 0, true, 2, 6, &["440"]),
                &[],
            )
            .await,
            "processing_number_invalid",
        );
        // No key in the infectious window: the one key is 10 days before the onset (today).
        let n = f.number().await;
        let mut outside = registration(now, &n, 0, true, 0, 10, &["440"]);
        let oldest = outside["keys"][9].clone();
        outside["keys"] = json!([oldest]);
        expect(
            f.put("v2", &outside, &[]).await,
            "no_keys_in_infectious_window",
        );
        // A region not served.
        expect(
            f.put("v2", &registration(now, &n, 0, true, 2, 6, &["999"]), &[])
                .await,
            "unsupported_region",
        );
        // A decoy (the phones' chaff) is answered like a registration and counts nothing.
        let (status, _) = f
            .put(
                "v2",
                &registration(now, &n, 0, true, 2, 6, &["440"]),
                &[("X-Chaff", "1")],
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // The number is used once; another registration with it is refused.
        f.register(&registration(now, &n, 0, true, 2, 6, &["440"]))
            .await;
        expect(
            f.put("v2", &registration(now, &n, 50, true, 2, 6, &["440"]), &[])
                .await,
            "processing_number_used",
        );
        // An expired number (24 hours by default).
        let late = f.number().await;
        f.clock.advance(Duration::hours(25));
        expect(
            f.put(
                "v2",
                &registration(f.clock.now(), &late, 70, true, 2, 6, &["440"]),
                &[],
            )
            .await,
            "processing_number_expired",
        );
        assert_eq!(
            f.stats().await,
            vec![row(day_of(start_time()), "440", 1, 5, 1)],
            "{}: only the one accepted registration counts",
            f.backend.name
        );
    }
}

#[tokio::test]
async fn the_counts_survive_key_retention_and_go_on_the_survey_deletion_date() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend, |c| {
            c.survey.delete_on = NaiveDate::from_ymd_opt(2022, 9, 30);
        })
        .await;
        let n = f.number().await;
        f.register(&registration(f.clock.now(), &n, 0, true, 2, 6, &["440"]))
            .await;
        let counted = vec![row(day_of(start_time()), "440", 1, 5, 1)];
        // Retention at once deletes nothing; 15 days later every key is past 14 days.
        assert_eq!(f.server.app.retention().await.unwrap().keys, 0);
        f.clock.advance(Duration::days(15));
        let report = f.server.app.retention().await.unwrap();
        assert_eq!(report.keys, 5, "{}", f.backend.name);
        assert_eq!(report.registration_stats, 0);
        assert!(f.backend.store.all_keys().await.unwrap().is_empty());
        assert_eq!(
            f.stats().await,
            counted,
            "{}: the counts outlive the keys",
            f.backend.name
        );
        // The day before the deletion date, still kept; on it, deleted.
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 9, 29, 23, 59, 59).unwrap());
        assert_eq!(
            f.server.app.retention().await.unwrap().registration_stats,
            0
        );
        assert_eq!(f.stats().await, counted);
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 9, 30, 0, 0, 0).unwrap());
        let report = f.server.app.retention().await.unwrap();
        assert_eq!(report.registration_stats, 1, "{}", f.backend.name);
        assert_eq!(f.stats().await, vec![], "{}", f.backend.name);
        assert_eq!(f.published().await, json!({"days": []}));
    }
}

#[tokio::test]
async fn the_stats_api_embargoes_the_last_48_hours_and_suppresses_small_days() {
    for backend in Backend::all().await {
        let f = Fixture::new(backend, |_| {}).await;
        // 2022-08-10: 12 registrations in 440 (8 symptomatic), 3 in 441; 2022-08-11: 10 in 440.
        let numbers = f.numbers(15, json!({})).await;
        for (i, n) in numbers.iter().enumerate() {
            let region = if i < 12 { "440" } else { "441" };
            let body = registration(f.clock.now(), n, 10 * i as u8, i < 8, 2, 6, &[region]);
            f.register(&body).await;
        }
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 11, 12, 0, 0).unwrap());
        let numbers = f.numbers(10, json!({})).await;
        for (i, n) in numbers.iter().enumerate() {
            f.register(&registration(
                f.clock.now(),
                n,
                10 * i as u8 + 5,
                false,
                2,
                3,
                &["440"],
            ))
            .await;
        }

        // Until 48 hours after the end of 10 August (2022-08-13T00:00Z), nothing.
        for at in [
            Utc.with_ymd_and_hms(2022, 8, 11, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2022, 8, 12, 23, 59, 59).unwrap(),
        ] {
            f.clock.set(at);
            assert_eq!(
                f.published().await,
                json!({"days": []}),
                "{}: {at}",
                f.backend.name
            );
        }
        let first_day = json!([
            {"date": "2022-08-10", "region": "440", "suppressed": false,
             "registrations": 12, "keys": 60, "symptomatic": 8},
            {"date": "2022-08-10", "region": "441", "suppressed": true,
             "registrations": null, "keys": null, "symptomatic": null},
        ]);
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 13, 0, 0, 0).unwrap());
        assert_eq!(
            f.published().await,
            json!({"days": first_day}),
            "{}",
            f.backend.name
        );
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 13, 23, 59, 59).unwrap());
        assert_eq!(f.published().await["days"], first_day);
        // 11 August: exactly 10 registrations, published.
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 14, 0, 0, 0).unwrap());
        let mut both = first_day.as_array().unwrap().clone();
        both.push(
            json!({"date": "2022-08-11", "region": "440", "suppressed": false,
            "registrations": 10, "keys": 30, "symptomatic": 0}),
        );
        assert_eq!(
            f.published().await,
            json!({"days": both}),
            "{}",
            f.backend.name
        );
        // The report reads the table unsuppressed.
        let today = day_of(start_time());
        assert_eq!(
            f.stats().await,
            vec![
                row(today, "440", 12, 60, 8),
                row(today, "441", 3, 15, 0),
                row(today + 1, "440", 10, 30, 0),
            ]
        );
    }
}
