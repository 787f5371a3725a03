//! Export end to end through the real server, on SQLite and PostgreSQL: register keys (past
//! days and today's), export, then act as a phone: download list.json and every new zip over
//! HTTP, verify each with the published key (and with OpenSSL), and check that every real key
//! arrives exactly once, today's key only after its hold-back, chaff and dropped keys never,
//! every file padded, regeneration byte-identical, and retention removing everything.

mod common;

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use cocoa_api::{ListEntry, SigningKeyInfo};
use cocoa_server::{Clock, ManualClock};
use common::{interval_of_day, Backend, Server, ADMIN_TOKEN};
use gaen::{ExportVerifier, SignedExport, Tek};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A phone following list.json: remembers the largest `created` it processed.
struct Phone {
    last_created: i64,
    keys: HashMap<[u8; 16], usize>,
    files: Vec<(String, Vec<u8>)>,
}

struct Fixture {
    server: Server,
    clock: Arc<ManualClock>,
    backend: Backend,
    http: reqwest::Client,
    /// The configured padding minimum and file maximum.
    min_keys: usize,
    max_keys: usize,
}

impl Fixture {
    async fn issue(&self) -> String {
        common::issue_number(&self.http, &self.server).await
    }

    /// Registers keys for 1..=10 August with bytes `[seed + day; 16]`; returns them by day.
    async fn register(&self, seed: u8, chaff: bool) -> HashMap<u32, [u8; 16]> {
        let number = if chaff {
            "00000000".to_owned()
        } else {
            self.issue().await
        };
        let mut keys = HashMap::new();
        let wire: Vec<Value> = (1..=10u32)
            .map(|d| {
                let key = [seed.wrapping_add(d as u8); 16];
                keys.insert(d, key);
                json!({"keyData": b64(&key), "rollingStartNumber": interval_of_day(d), "rollingPeriod": 144, "reportType": 1})
            })
            .collect();
        let body = json!({
            "hasSymptom": true,
            "onsetOfSymptomOrTestDate": "2022-08-05T00:00:00.000+09:00",
            "keys": wire, "regions": ["440"], "platform": "ios",
            "verificationPayload": number,
        });
        let mut request = self
            .http
            .put(self.server.url("/api/v2/diagnosis"))
            .json(&body);
        if chaff {
            request = request.header("X-Chaff", "1");
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::NO_CONTENT
        );
        keys
    }

    async fn export(&self) -> Value {
        let r = self
            .http
            .post(self.server.url("/api/v1/admin/export"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn verifier(&self) -> ExportVerifier {
        let keys: Vec<SigningKeyInfo> = self
            .http
            .get(self.server.url("/api/v1/export-signing-keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].verification_key_id, "440");
        ExportVerifier::from_pem(&keys[0].public_key_pem).unwrap()
    }

    async fn list(&self) -> Vec<ListEntry> {
        let r = self
            .http
            .get(self.server.url("/c19r/440/list.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        r.json().await.unwrap()
    }

    /// What a phone does at a check: new entries only, each verified, keys counted.
    async fn sync(&self, phone: &mut Phone, verifier: &ExportVerifier) -> usize {
        let list = self.list().await;
        let mut created: Vec<i64> = list.iter().map(|e| e.created).collect();
        let sorted = {
            let mut c = created.clone();
            c.sort();
            c
        };
        assert_eq!(created, sorted, "list.json is oldest first");
        created.dedup();
        let mut new_files = 0;
        let mut largest = phone.last_created;
        for entry in list.iter().filter(|e| e.created > phone.last_created) {
            let r = self.http.get(&entry.url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{}", entry.url);
            assert_eq!(r.headers()["content-type"], "application/zip");
            assert!(r.headers().contains_key("etag"));
            let bytes = r.bytes().await.unwrap().to_vec();
            let file = SignedExport::from_zip(&bytes).unwrap();
            file.verify(std::slice::from_ref(verifier)).unwrap();
            let n = file.export.keys.len();
            assert!(
                n >= self.min_keys && n <= self.max_keys,
                "{n} keys: padded to the minimum, within the maximum"
            );
            assert_eq!((file.export.batch_num, file.export.batch_size), (1, 1));
            assert_eq!(file.export.region, "440");
            for k in &file.export.keys {
                *phone.keys.entry(k.key.to_bytes()).or_default() += 1;
                let dsos = k
                    .days_since_onset
                    .expect("every key carries days since onset")
                    .get();
                assert!((-14..=14).contains(&dsos));
            }
            phone.files.push((entry.url.clone(), bytes));
            largest = largest.max(entry.created);
            new_files += 1;
        }
        phone.last_created = largest;
        new_files
    }
}

fn openssl_verifies(public_pem: &str, zip: &[u8]) -> bool {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is required under CI"
        );
        return true;
    }
    let dir = tempfile::tempdir().unwrap();
    let (bin, sig) = gaen::export::read_container(zip).unwrap();
    let signature = &gaen::export::decode_signature_list(&sig).unwrap()[0].signature;
    std::fs::write(dir.path().join("pub.pem"), public_pem).unwrap();
    std::fs::write(dir.path().join("export.bin"), &bin).unwrap();
    std::fs::write(dir.path().join("sig.der"), signature).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.der",
            "export.bin",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    out.status.success()
}

#[tokio::test]
async fn a_phone_gets_every_published_key_exactly_once() {
    // The embedded default (SQLite and a folder), then PostgreSQL and an S3-compatible store.
    let mut setups = vec![(Backend::sqlite().await, None)];
    if let Some(postgres) = Backend::postgres().await {
        setups.push((postgres, cocoa_server::testing::TestBucket::create().await));
    }
    for (backend, bucket) in setups {
        let clock = Arc::new(ManualClock::new(t0()));
        let server = Server::start_with(
            backend.store.clone(),
            bucket.as_ref(),
            clock.clone() as Arc<dyn Clock>,
            |_| {},
        )
        .await;
        let f = Fixture {
            server,
            clock,
            backend,
            http: reqwest::Client::new(),
            min_keys: 1000,
            max_keys: 250_000,
        };
        let verifier = f.verifier().await;

        let alice = f.register(0, false).await;
        let bob = f.register(100, false).await;
        let chaff = f.register(200, true).await;
        let mut phone = Phone {
            last_created: 0,
            keys: HashMap::new(),
            files: Vec::new(),
        };

        // First run at 05:30 on 10 August: past keys are released (upload hour 05:00); today's
        // keys are held until 11 August 02:00.
        let report = f.export().await;
        assert!(!report["skipped"].as_bool().unwrap());
        assert_eq!(report["real_keys"], 16, "{report}"); // 2 x 8 (2..=9 Aug)
        let files = f.sync(&mut phone, &verifier).await;
        assert_eq!(files, 8, "one file per key day (2..=9 August)");
        for person in [&alice, &bob] {
            for day in 2..=9 {
                assert_eq!(phone.keys.get(&person[&day]), Some(&1), "day {day}");
            }
            assert!(
                !phone.keys.contains_key(&person[&10]),
                "today's key is held back"
            );
            assert!(
                !phone.keys.contains_key(&person[&1]),
                "keys outside the window never appear"
            );
        }

        // Nothing new: nothing published, list unchanged.
        let before = f.list().await;
        let report = f.export().await;
        assert_eq!(report["files"], json!([]));
        assert_eq!(f.list().await, before);

        // Still held at 01:59 the next day, released at 02:00.
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 11, 1, 59, 0).unwrap());
        assert_eq!(f.export().await["real_keys"], 0);
        f.clock
            .set(Utc.with_ymd_and_hms(2022, 8, 11, 2, 0, 0).unwrap());
        assert_eq!(f.export().await["real_keys"], 2);
        assert_eq!(f.sync(&mut phone, &verifier).await, 1);
        for person in [&alice, &bob] {
            for day in 2..=10 {
                assert_eq!(
                    phone.keys.get(&person[&day]),
                    Some(&1),
                    "day {day} exactly once"
                );
            }
        }
        for key in chaff.values() {
            assert!(!phone.keys.contains_key(key), "chaff never appears");
        }
        // Every key the phone saw more than once would be a duplicate publication.
        assert!(phone.keys.values().all(|n| *n == 1));

        // Files carry distinct (start, end) windows, verify with OpenSSL, and regenerate exactly.
        let keys: Vec<SigningKeyInfo> = f
            .http
            .get(f.server.url("/api/v1/export-signing-keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut windows = HashSet::new();
        for (url, bytes) in &phone.files {
            let file = SignedExport::from_zip(bytes).unwrap();
            assert!(
                windows.insert((file.export.start_timestamp, file.export.end_timestamp)),
                "{url}"
            );
            assert!(file.export.start_timestamp < file.export.end_timestamp);
            assert!(openssl_verifies(&keys[0].public_key_pem, bytes), "{url}");
            let id: i64 = url
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".zip")
                .parse()
                .unwrap();
            let again = f
                .server
                .app
                .exporter()
                .regenerate(id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&again, bytes, "regenerating {url} gives the same bytes");
        }

        // The configuration files and index.txt are published too.
        let config: Value = f
            .http
            .get(
                f.server
                    .url("/c19r/exposure_configuration/configuration.json"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            config["GoogleDailySummariesConfig"]["AttenuationBucketThresholdDb"],
            json!([46, 60, 65])
        );
        let risk: Value = f
            .http
            .get(
                f.server
                    .url("/c19r/exposure_configuration/risk_calculation_configuration.json"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(risk["DailySummary_DaySummary_ScoreSum"]["value"], 1350.0);
        let index = f
            .http
            .get(f.server.url("/c19r/440/index.txt"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(index.lines().count(), 9);
        assert!(index
            .lines()
            .all(|l| l.starts_with("c19r/440/") && l.ends_with(".zip")));

        // Retention: 15 days after the last window, the files, the list entries and the keys go.
        f.clock.advance(Duration::days(15));
        let report = f.server.app.exporter().cleanup().await.unwrap();
        assert_eq!(report.files, 9);
        assert!(report.keys >= 18, "{report:?}");
        assert_eq!(f.list().await, vec![]);
        assert_eq!(
            f.http
                .get(f.server.url("/c19r/440/index.txt"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            ""
        );
        for (url, _) in &phone.files {
            assert_eq!(
                f.http.get(url).send().await.unwrap().status(),
                StatusCode::NOT_FOUND,
                "{url}"
            );
        }
        assert!(f.backend.store.all_keys().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn exports_need_the_admin_token_and_large_days_split_into_files() {
    for backend in Backend::all().await {
        let clock = Arc::new(ManualClock::new(t0()));
        let server = Server::start(
            backend.store.clone(),
            clock.clone() as Arc<dyn Clock>,
            |c| {
                c.export.max_keys_per_file = 1000;
                c.export.min_keys_per_file = 900;
            },
        )
        .await;
        let f = Fixture {
            server,
            clock,
            backend,
            http: reqwest::Client::new(),
            min_keys: 900,
            max_keys: 1000,
        };
        let r = f
            .http
            .post(f.server.url("/api/v1/admin/export"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // 1,200 keys of one day, straight into the store: two files of at most 1,000 keys.
        let keys: Vec<[u8; 16]> = (0..1200u32)
            .map(|i| {
                let mut k = [0u8; 16];
                k[..4].copy_from_slice(&i.to_le_bytes());
                k
            })
            .collect();
        let tags: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 32]).collect();
        let rows: Vec<_> = tags
            .iter()
            .map(|t| cocoa_server::store::NewNumber {
                tag: t.clone(),
                created_at: t0().timestamp(),
                expires_at: t0().timestamp() + 3600,
                dates: Default::default(),
            })
            .collect();
        f.backend.store.insert_numbers(&rows).await.unwrap();
        for (n, chunk) in keys.chunks(30).enumerate() {
            let new_keys: Vec<_> = chunk
                .iter()
                .map(|k| cocoa_server::registration::NewKey {
                    region: "440".into(),
                    key: Tek::from_bytes(*k),
                    rolling_start: gaen::IntervalNumber::new(interval_of_day(8) as u32),
                    rolling_period: gaen::RollingPeriod::FULL_DAY,
                    report_type: gaen::ReportType::ConfirmedTest,
                    days_since_onset: gaen::DaysSinceOnset::new(3).unwrap(),
                    release_at: t0().timestamp() - 1800,
                })
                .collect();
            let claim = cocoa_server::store::Claim {
                tag: tags[n].clone(),
                now: t0().timestamp(),
                request_hash: vec![n as u8; 32],
                idempotency_hash: None,
            };
            let accept = move |_| {
                Ok(cocoa_server::registration::Accepted {
                    keys: new_keys.clone(),
                    accepted_wire_keys: vec![],
                    warnings: vec![],
                    symptomatic: false,
                })
            };
            f.backend.store.register(&claim, &accept).await.unwrap();
        }
        let verifier = f.verifier().await;
        let mut phone = Phone {
            last_created: 0,
            keys: HashMap::new(),
            files: Vec::new(),
        };
        f.export().await;
        let list = f.list().await;
        assert_eq!(list.len(), 2);
        assert_eq!(f.sync(&mut phone, &verifier).await, 2);
        let sizes: Vec<usize> = phone
            .files
            .iter()
            .map(|(_, b)| SignedExport::from_zip(b).unwrap().export.keys.len())
            .collect();
        assert_eq!(sizes.iter().filter(|s| **s == 1000).count(), 1, "{sizes:?}");
        for k in &keys {
            assert_eq!(phone.keys.get(k), Some(&1));
        }
        let ends: HashSet<u64> = phone
            .files
            .iter()
            .map(|(_, b)| SignedExport::from_zip(b).unwrap().export.end_timestamp)
            .collect();
        assert_eq!(
            ends.len(),
            2,
            "split files of one window get distinct end timestamps"
        );
    }
}

#[tokio::test]
async fn rotation_signs_with_every_key_and_configuration_files_can_be_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let old = gaen::ExportSigner::generate(&mut rng, gaen::SignatureInfo::default());
    let new = gaen::ExportSigner::generate(&mut rng, gaen::SignatureInfo::default());
    // Signing keys are secrets: only files their owner alone may read are accepted.
    let write = cocoa_server::server::write_secret_file;
    write(
        &dir.path().join("old.pem"),
        old.private_key_pem().as_bytes(),
    )
    .unwrap();
    write(
        &dir.path().join("new.pem"),
        new.private_key_pem().as_bytes(),
    )
    .unwrap();
    let mut risk = cocoa_api::RiskCalculationConfiguration::default();
    risk.score_sum.value = 1170.0;
    std::fs::write(
        dir.path().join("risk.json"),
        serde_json::to_vec(&risk).unwrap(),
    )
    .unwrap();

    let backend = Backend::sqlite().await;
    let clock = Arc::new(ManualClock::new(t0()));
    let paths = dir.path().to_owned();
    let server = Server::start(
        backend.store.clone(),
        clock.clone() as Arc<dyn Clock>,
        move |c| {
            c.export.signing_keys = vec![
                cocoa_server::config::SigningKeyConfig {
                    file: paths.join("old.pem"),
                    id: None,
                    version: None,
                },
                cocoa_server::config::SigningKeyConfig {
                    file: paths.join("new.pem"),
                    id: None,
                    version: Some("v9".into()),
                },
            ];
            c.export.risk_calculation_configuration_file = Some(paths.join("risk.json"));
        },
    )
    .await;
    let f = Fixture {
        server,
        clock,
        backend,
        http: reqwest::Client::new(),
        min_keys: 1000,
        max_keys: 250_000,
    };
    let keys: Vec<SigningKeyInfo> = f
        .http
        .get(f.server.url("/api/v1/export-signing-keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions: Vec<&str> = keys
        .iter()
        .map(|k| k.verification_key_version.as_str())
        .collect();
    assert_eq!(versions, ["v1", "v9"]);
    f.register(0, false).await;
    f.export().await;
    let list = f.list().await;
    assert!(!list.is_empty());
    for entry in list {
        let bytes = f
            .http
            .get(&entry.url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let file = SignedExport::from_zip(&bytes).unwrap();
        assert_eq!(file.signatures.len(), 2);
        // Phones with only the old key, or only the new one, both accept the file.
        assert!(file.verify(&[old.verifier()]).is_ok());
        assert!(file.verify(&[new.verifier()]).is_ok());
    }
    let served: cocoa_api::RiskCalculationConfiguration = f
        .http
        .get(
            f.server
                .url("/c19r/exposure_configuration/risk_calculation_configuration.json"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, risk);
}

#[tokio::test]
async fn a_broken_configuration_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("risk.json"), r#"{"format_version": 2}"#).unwrap();
    let config = cocoa_server::ServerConfig {
        data_dir: dir.path().join("data"),
        admin_token: Some(ADMIN_TOKEN.into()),
        export: cocoa_server::config::ExportConfig {
            risk_calculation_configuration_file: Some(dir.path().join("risk.json")),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = cocoa_server::App::open(config, Arc::new(cocoa_server::SystemClock))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("risk.json"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_sharing_postgres_and_s3_never_publish_a_key_twice_or_skip_one() {
    let Some(db) = cocoa_server::testing::TestDatabase::create().await else {
        return;
    };
    let Some(bucket) = cocoa_server::testing::TestBucket::create().await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(t0()));
    // Three replicas: separate processes in production, separate connection pools here.
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let store: Arc<dyn cocoa_server::store::Store> = Arc::new(
            cocoa_server::store::PostgresStore::connect(&db.url)
                .await
                .unwrap(),
        );
        replicas.push(
            Server::start_with(
                store,
                Some(&bucket),
                clock.clone() as Arc<dyn Clock>,
                |_| {},
            )
            .await,
        );
    }
    let http = reqwest::Client::new();
    // All replicas sign with the key the first one generated and stored.
    let mut pems = HashSet::new();
    for r in &replicas {
        let keys: Vec<SigningKeyInfo> = http
            .get(r.url("/api/v1/export-signing-keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pems.insert(keys[0].public_key_pem.clone());
    }
    assert_eq!(pems.len(), 1, "replicas share one signing key");
    let verifier = ExportVerifier::from_pem(pems.iter().next().unwrap()).unwrap();

    let store: Arc<dyn cocoa_server::store::Store> = Arc::new(
        cocoa_server::store::PostgresStore::connect(&db.url)
            .await
            .unwrap(),
    );
    let backend = Backend::wrap("postgres", store, db.url.clone());
    let f = Fixture {
        server: replicas.remove(0),
        clock: clock.clone(),
        backend,
        http: http.clone(),
        min_keys: 1000,
        max_keys: 250_000,
    };
    let mut phone = Phone {
        last_created: 0,
        keys: HashMap::new(),
        files: Vec::new(),
    };
    let mut registered = Vec::new();
    for round in 0..4u8 {
        registered.push(f.register(round * 20, false).await);
        // Every replica exports at the same moment, as their schedules would.
        let runs = [
            f.server.url("/api/v1/admin/export"),
            replicas[0].url("/api/v1/admin/export"),
            replicas[1].url("/api/v1/admin/export"),
        ]
        .map(|url| {
            let http = http.clone();
            async move {
                http.post(url)
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        });
        let reports = futures::future::join_all(runs).await;
        let published: u64 = reports
            .iter()
            .map(|r| r["real_keys"].as_u64().unwrap())
            .sum();
        assert_eq!(published, 8, "round {round}: 2..=9 August: {reports:?}");
        let working = reports
            .iter()
            .filter(|r| r["skipped"] == false && r["real_keys"] != 0)
            .count();
        assert_eq!(
            working, 1,
            "one replica at a time does the work: {reports:?}"
        );
        f.sync(&mut phone, &verifier).await;
        clock.advance(Duration::hours(1));
    }
    for person in &registered {
        for day in 2..=9 {
            assert_eq!(
                phone.keys.get(&person[&day]),
                Some(&1),
                "day {day} exactly once"
            );
        }
    }
    let urls: HashSet<&String> = phone.files.iter().map(|(u, _)| u).collect();
    assert_eq!(urls.len(), phone.files.len(), "no file listed twice");
}
