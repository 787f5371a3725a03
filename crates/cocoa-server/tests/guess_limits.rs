//! Regression tests for the defects found by probing the server (docs/THREATS.md): the limit on
//! wrong processing numbers under concurrency, across replicas, and for honest clients; decoys
//! that could be told from real traffic; wrong admin tokens never limited.

mod common;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use cocoa_server::store::{PostgresStore, Store};
use cocoa_server::{Clock, ManualClock};
use common::{interval_of_day, issue_number, Backend, Server, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
}

/// A well-formed registration with keys for 3..=9 August (onset 5 August).
fn registration(number: &str, seed: u8) -> Value {
    let keys: Vec<Value> = (3..=9u32)
        .map(|d| {
            json!({
                "keyData": base64::engine::general_purpose::STANDARD
                    .encode([seed.wrapping_mul(31).wrapping_add(d as u8); 16]),
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
        "appPackageName": "jp.go.mhlw.covid19radar",
        "verificationPayload": number,
        "idempotency_key": format!("00000000-0000-4000-8000-{seed:012}"),
        "padding": "QUFB".repeat(300)
    })
}

/// A client whose connections come from `address` (any 127.x address is this machine).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Sends `count` wrong guesses at once, spread over `servers`; returns how many were evaluated
/// (406) and checks that every other one was refused unevaluated (429 with `Retry-After`).
async fn flood(http: &reqwest::Client, servers: &[&Server], count: usize) -> usize {
    let requests = (0..count).map(|i| {
        let url = servers[i % servers.len()].url("/api/v2/diagnosis");
        let body = registration(&format!("{:08}", 10_000_000 + i), i as u8);
        let http = http.clone();
        async move {
            let r = http.put(url).json(&body).send().await.unwrap();
            let retry_after = r.headers().contains_key("retry-after");
            (r.status(), retry_after)
        }
    });
    let answers = futures::future::join_all(requests).await;
    let mut evaluated = 0;
    for (status, retry_after) in answers {
        match status {
            StatusCode::NOT_ACCEPTABLE => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => assert!(retry_after),
            other => panic!("a wrong guess got {other}"),
        }
    }
    evaluated
}

async fn start(backend: &Backend, tweak: impl FnOnce(&mut cocoa_server::ServerConfig)) -> Server {
    let clock = Arc::new(ManualClock::new(start_time()));
    Server::start(backend.store.clone(), clock as Arc<dyn Clock>, tweak).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_guesses_regression_at_most_the_client_limit_is_evaluated() {
    for backend in Backend::all().await {
        let server = start(&backend, |_| {}).await;
        let attacker = client_from("127.0.0.1");
        // The defaults: 10 failures per client and 1,000 in all per hour.
        let evaluated = flood(&attacker, &[&server], 200).await;
        assert_eq!(evaluated, 10, "{}", backend.name);
        // The flood did not lock out an honest phone on another address.
        let honest = client_from("127.0.0.2");
        let number = issue_number(&honest, &server).await;
        let r = honest
            .put(server.url("/api/v2/diagnosis"))
            .json(&registration(&number, 7))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", backend.name);
        assert_eq!(backend.store.all_keys().await.unwrap().len(), 7);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_guesses_regression_a_right_number_gives_its_slot_back() {
    for backend in Backend::all().await {
        let server = start(&backend, |c| c.rate_limit.client_failures_per_window = 2).await;
        let http = client_from("127.0.0.1");
        // Twenty phones behind one address register at once, each with its own good number:
        // all succeed, none counts as a failure, and the address keeps its two failures.
        let mut numbers = Vec::new();
        for _ in 0..20 {
            numbers.push(issue_number(&http, &server).await);
        }
        let mut pending: Vec<usize> = (0..numbers.len()).collect();
        for round in 0..20 {
            // At most two are evaluated at a time (the limit); the others are told to retry
            // in a second, and do, as phones do.
            let answers = futures::future::join_all(pending.iter().map(|&i| {
                let http = http.clone();
                let url = server.url("/api/v2/diagnosis");
                let body = registration(&numbers[i], i as u8);
                async move { (i, http.put(url).json(&body).send().await.unwrap()) }
            }))
            .await;
            for (i, r) in answers {
                match r.status() {
                    StatusCode::NO_CONTENT => pending.retain(|&p| p != i),
                    StatusCode::TOO_MANY_REQUESTS => assert_eq!(r.headers()["retry-after"], "1"),
                    other => panic!("round {round}: {other}"),
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        let registered = numbers.len() - pending.len();
        assert_eq!(registered, 20, "{}", backend.name);
        assert_eq!(flood(&http, &[&server], 5).await, 2, "{}", backend.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_guesses_regression_two_replicas_stay_within_the_global_limit() {
    // Replicas share a database: PostgreSQL (required under CI).
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let second: Arc<dyn Store> = Arc::new(PostgresStore::connect(&backend.url).await.unwrap());
    let tweak = |c: &mut cocoa_server::ServerConfig| {
        c.rate_limit.client_failures_per_window = 1_000;
        c.rate_limit.global_failures_per_window = 30;
    };
    let a = start(&backend, tweak).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let b = Server::start(second, clock as Arc<dyn Clock>, tweak).await;
    let http = client_from("127.0.0.1");
    let evaluated = flood(&http, &[&a, &b], 300).await;
    assert_eq!(evaluated, 30);
    // The budget is spent for everyone, on both replicas, until the window ends.
    assert_eq!(flood(&client_from("127.0.0.3"), &[&a, &b], 10).await, 0);

    // With the default limits, a flood from one address over two replicas is held to 10 per
    // replica, and an honest phone elsewhere still registers through either.
    let backend = Backend::postgres().await.unwrap();
    let second: Arc<dyn Store> = Arc::new(PostgresStore::connect(&backend.url).await.unwrap());
    let a = start(&backend, |_| {}).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let b = Server::start(second, clock as Arc<dyn Clock>, |_| {}).await;
    assert!(flood(&http, &[&a, &b], 200).await <= 20);
    let honest = client_from("127.0.0.2");
    for server in [&a, &b] {
        let number = issue_number(&honest, server).await;
        let r = honest
            .put(server.url("/api/v2/diagnosis"))
            .json(&registration(&number, 3))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
}

/// Status, header names and body of an answer.
async fn answer(r: reqwest::Response) -> (StatusCode, Vec<String>, String, Vec<u8>) {
    let status = r.status();
    let mut names: Vec<String> = r
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k != "date")
        .collect();
    names.sort();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        names,
        content_type,
        r.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn decoys_regression_answers_look_like_real_successes_and_echo_nothing() {
    let backend = Backend::sqlite().await;
    let server = start(&backend, |_| {}).await;
    let http = reqwest::Client::new();
    let url = server.url("/api/v3/diagnosis");

    let mut real_sizes = Vec::new();
    let mut real_shape = None;
    for seed in 0..12u8 {
        let number = issue_number(&http, &server).await;
        let r = http
            .put(&url)
            .json(&registration(&number, seed))
            .send()
            .await
            .unwrap();
        let (status, names, content_type, body) = answer(r).await;
        assert_eq!(status, StatusCode::OK);
        real_sizes.push(body.len());
        real_shape = Some((status, names, content_type));
    }

    // Decoys: a well-formed one, one whose keys are invalid, and one with no body at all.
    let invalid_keys = {
        let mut body = registration("00000000", 99);
        body["keys"][0]["keyData"] = json!("bm90LWEta2V5");
        body
    };
    let bodies = [registration("00000000", 50), invalid_keys, Value::Null];
    let mut decoy_sizes = Vec::new();
    for _ in 0..4 {
        for body in &bodies {
            let mut request = http.put(&url).header("X-Chaff", "1");
            request = match body {
                Value::Null => request.header("content-type", "application/json").body(""),
                body => request.json(body),
            };
            let (status, names, content_type, answer_body) =
                answer(request.send().await.unwrap()).await;
            assert_eq!(
                Some((status, names, content_type)),
                real_shape.clone(),
                "a decoy's status and headers"
            );
            let text = String::from_utf8(answer_body.clone()).unwrap();
            if let Some(keys) = body["keys"].as_array() {
                for key in keys {
                    let data = key["keyData"].as_str().unwrap();
                    assert!(!text.contains(data), "a decoy echoed {data}");
                }
                assert!(!text.contains(body["idempotency_key"].as_str().unwrap()));
            }
            decoy_sizes.push(answer_body.len());
        }
    }
    // Sizes: every successful answer, real or decoy, fills whole 4 KiB blocks; here one each.
    real_sizes.sort();
    real_sizes.dedup();
    decoy_sizes.sort();
    decoy_sizes.dedup();
    assert_eq!(real_sizes, vec![4096]);
    assert_eq!(decoy_sizes, real_sizes);
    assert!(backend.store.all_keys().await.unwrap().len() == 12 * 7);

    // v2: 204 with the same headers for both.
    let number = issue_number(&http, &server).await;
    let v2 = server.url("/api/v2/diagnosis");
    let real = answer(
        http.put(&v2)
            .json(&registration(&number, 77))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let decoy = answer(
        http.put(&v2)
            .header("X-Chaff", "1")
            .json(&registration("00000000", 78))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(real.0, StatusCode::NO_CONTENT);
    assert_eq!(real, decoy);
}

#[tokio::test]
async fn decoys_regression_count_against_the_same_limits() {
    for backend in Backend::all().await {
        let server = start(&backend, |c| c.rate_limit.client_failures_per_window = 3).await;
        let http = reqwest::Client::new();
        assert_eq!(flood(&http, &[&server], 3).await, 3);
        let send = |chaff: bool| {
            let mut request = http
                .put(server.url("/api/v3/diagnosis"))
                .json(&registration("12345678", 1));
            if chaff {
                request = request.header("X-Chaff", "1");
            }
            async move { answer(request.send().await.unwrap()).await }
        };
        let real = send(false).await;
        let decoy = send(true).await;
        assert_eq!(real.0, StatusCode::TOO_MANY_REQUESTS, "{}", backend.name);
        assert_eq!(
            real, decoy,
            "{}: a limited decoy looks like a limited real attempt",
            backend.name
        );
        // Decoys themselves are not failures: a fresh client may send any number of them.
        let other = client_from("127.0.0.4");
        for _ in 0..10 {
            let r = other
                .put(server.url("/api/v2/diagnosis"))
                .header("X-Chaff", "1")
                .json(&registration("00000000", 2))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_token_guesses_regression_are_rate_limited_per_client() {
    let backend = Backend::sqlite().await;
    let server = start(&backend, |_| {}).await;
    let attacker = client_from("127.0.0.1");
    let url = server.url("/api/v1/processing-numbers");
    let guesses = (0..60).map(|i| {
        let request = attacker
            .post(&url)
            .bearer_auth(format!("guess-{i:0>22}"))
            .json(&json!({}));
        async move { request.send().await.unwrap() }
    });
    let answers = futures::future::join_all(guesses).await;
    let mut unauthorized = 0;
    for r in answers {
        match r.status() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(r.headers().contains_key("retry-after"));
                assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
            }
            other => panic!("a wrong token got {other}"),
        }
    }
    assert_eq!(unauthorized, 10, "at most 10 wrong tokens are compared");
    // While limited, even the right token is not compared: a guess must not learn it was right.
    let r = attacker
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // A health centre on another address is not affected.
    assert!(!issue_number(&client_from("127.0.0.2"), &server)
        .await
        .is_empty());
    assert_eq!(backend.store.count_numbers().await.unwrap(), 1);
}

#[tokio::test]
async fn parallel_wrong_guesses_regression_malformed_requests_count_nothing_short_numbers_count() {
    let backend = Backend::sqlite().await;
    let server = start(&backend, |c| c.rate_limit.client_failures_per_window = 3).await;
    let http = reqwest::Client::new();
    let url = server.url("/api/v2/diagnosis");
    // Twenty requests that evaluate no number: not JSON, and an unserved region.
    for i in 0..20 {
        let r = if i % 2 == 0 {
            http.put(&url)
                .header("content-type", "application/json")
                .body("{not json")
        } else {
            let mut body = registration("12345678", i);
            body["regions"] = json!(["999"]);
            http.put(&url).json(&body)
        };
        assert_eq!(r.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    }
    // A number that is not 8 digits counts as a wrong one.
    for _ in 0..2 {
        let r = http
            .put(&url)
            .json(&registration("1234", 1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    }
    assert_eq!(flood(&http, &[&server], 5).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_guesses_regression_the_shared_budget_never_grants_past_its_limit() {
    for backend in Backend::all().await {
        // On PostgreSQL, two replicas' stores on one database ask at once.
        let mut stores: Vec<Arc<dyn Store>> = vec![backend.store.clone()];
        if backend.name == "postgres" {
            stores.push(Arc::new(
                PostgresStore::connect(&backend.url).await.unwrap(),
            ));
        }
        let grants = (0..60).map(|i| {
            let store = stores[i % stores.len()].clone();
            async move { store.grant_failure_slots(7200, 3, 100).await.unwrap() }
        });
        let granted = futures::future::join_all(grants)
            .await
            .into_iter()
            .filter(|g| *g)
            .count();
        // 60 asks of 3 against a limit of 100: 33 are granted (99 slots), all or nothing.
        assert_eq!(granted, 33, "{}", backend.name);
        let store = &stores[0];
        assert!(!store.grant_failure_slots(7200, 2, 100).await.unwrap());
        assert!(store.grant_failure_slots(7200, 1, 100).await.unwrap());
        assert!(!store.grant_failure_slots(7200, 1, 100).await.unwrap());
        // Another window has its own budget; old windows are purged.
        assert!(store.grant_failure_slots(10_800, 100, 100).await.unwrap());
        assert_eq!(store.purge_failure_budget(10_800).await.unwrap(), 1);
        assert!(store.grant_failure_slots(7200, 1, 100).await.unwrap());
    }
}
