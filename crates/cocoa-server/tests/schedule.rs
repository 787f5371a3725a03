//! The schedule in simulated time, on SQLite and PostgreSQL: a `ManualClock` decides when the
//! export and retention run. `App::run_due` is called after each step of the clock, as a
//! simulator would; the last test checks that `serve` follows the same clock by itself.

mod common;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cocoa_api::ListEntry;
use cocoa_server::blob::BlobStore;
use cocoa_server::registration::NewKey;
use cocoa_server::survey::{AgeGroup, Commute, SurveyResponse};
use cocoa_server::{App, Clock, ManualClock, ServerConfig};
use common::{Backend, Server, ADMIN_TOKEN};
use gaen::{DaysSinceOnset, IntervalNumber, ReportType, RollingPeriod, SignedExport, Tek};
use rand::SeedableRng;
use std::path::PathBuf;
use std::sync::Arc;

/// 2022-08-10 05:30 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
}

const INTERVAL_MINUTES: i64 = 60;

/// An app on `backend` with its blobs in a folder, not serving: only `run_due` runs jobs.
struct Sim {
    app: App,
    clock: Arc<ManualClock>,
    blobs: Arc<dyn BlobStore>,
    blob_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sim {
    async fn new(backend: &Backend, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(t0()));
        let mut config = ServerConfig {
            data_dir: dir.path().to_owned(),
            admin_token: Some(ADMIN_TOKEN.into()),
            public_base_url: Some("http://cocoa.test/c19r".into()),
            ..Default::default()
        };
        config.export.interval_minutes = INTERVAL_MINUTES as u32;
        tweak(&mut config);
        let blob_dir = dir.path().join("blobs");
        let blobs = cocoa_server::blob::folder(&blob_dir).unwrap();
        let app = App::with_store(
            config,
            backend.store.clone(),
            blobs.clone(),
            clock.clone() as Arc<dyn Clock>,
            rand::rngs::StdRng::seed_from_u64(7),
        )
        .await
        .unwrap();
        Self {
            app,
            clock,
            blobs,
            blob_dir,
            _dir: dir,
        }
    }

    async fn list(&self) -> Vec<ListEntry> {
        match self.blobs.get("c19r/440/list.json").await.unwrap() {
            Some(blob) => serde_json::from_slice(&blob.data).unwrap(),
            None => Vec::new(),
        }
    }

    /// Every listed file, verified; the real keys found in them (padding is random).
    async fn listed_keys(&self, registered: &[[u8; 16]]) -> Vec<[u8; 16]> {
        let verifier = self.app.exporter().signers[0].verifier();
        let mut found = Vec::new();
        for entry in self.list().await {
            let path = entry.url.strip_prefix("http://cocoa.test/").unwrap();
            let zip = self.blobs.get(path).await.unwrap().expect("a listed zip");
            let file = SignedExport::from_zip(&zip.data).unwrap();
            file.verify(std::slice::from_ref(&verifier)).unwrap();
            found.extend(
                file.export
                    .keys
                    .iter()
                    .map(|k| k.key.to_bytes())
                    .filter(|k| registered.contains(k)),
            );
        }
        found
    }

    fn break_blobs(&self) {
        std::fs::remove_dir_all(&self.blob_dir).unwrap();
        std::fs::write(&self.blob_dir, b"not a folder").unwrap();
    }

    fn repair_blobs(&self) {
        std::fs::remove_file(&self.blob_dir).unwrap();
        std::fs::create_dir(&self.blob_dir).unwrap();
    }
}

/// Keys for 1..=9 August, released before `t0`.
async fn store_keys(backend: &Backend, seed: u8) -> Vec<[u8; 16]> {
    let keys: Vec<NewKey> = (1..=9u32)
        .map(|day| {
            let start = Utc
                .with_ymd_and_hms(2022, 8, day, 0, 0, 0)
                .unwrap()
                .timestamp()
                / 600;
            NewKey {
                region: "440".into(),
                key: Tek::from_bytes([seed.wrapping_add(day as u8); 16]),
                rolling_start: IntervalNumber::new(start as u32),
                rolling_period: RollingPeriod::FULL_DAY,
                report_type: ReportType::ConfirmedTest,
                days_since_onset: DaysSinceOnset::new(0).unwrap(),
                release_at: t0().timestamp() - 3600,
            }
        })
        .collect();
    backend.store.import_keys(&keys).await.unwrap();
    keys.iter().map(|k| k.key.to_bytes()).collect()
}

#[tokio::test]
async fn advancing_the_clock_runs_the_export_and_retention_when_due_and_not_before() {
    for backend in Backend::all().await {
        let name = backend.name;
        let sim = Sim::new(&backend, |_| {}).await;
        let registered = store_keys(&backend, 10).await;

        // Start-up: retention runs (nothing to delete), the export does not.
        let report = sim.app.run_due().await;
        assert!(report.export.is_none(), "{name}: {report:?}");
        let retention = report.retention.expect("retention at start-up").unwrap();
        assert!(!retention.skipped);
        assert_eq!(sim.list().await, vec![], "{name}");
        // Nothing more is due at the same moment.
        assert!(sim.app.run_due().await.is_empty(), "{name}");

        // Less than the interval: still no file.
        sim.clock.advance(Duration::minutes(INTERVAL_MINUTES - 1));
        let report = sim.app.run_due().await;
        assert!(report.export.is_none(), "{name}: {report:?}");
        assert!(
            report.retention.is_some(),
            "{name}: retention every ten minutes"
        );
        assert_eq!(sim.list().await, vec![], "{name}");

        // Past the interval and its offset (at most a tenth of it): list.json lists a file
        // holding every key.
        sim.clock.advance(Duration::minutes(8));
        let report = sim.app.run_due().await;
        let export = report.export.expect("the export is due").unwrap();
        assert!(!export.skipped);
        assert_eq!(export.real_keys, 9, "{name}");
        let listed = sim.list().await;
        assert!(!listed.is_empty(), "{name}");
        let mut found = sim.listed_keys(&registered).await;
        found.sort();
        let mut expected = registered.clone();
        expected.sort();
        assert_eq!(found, expected, "{name}: every key exactly once");
        // Ran once: nothing is due again until the clock moves.
        assert!(sim.app.run_due().await.is_empty(), "{name}");

        // Keys registered later are published one interval later, not before.
        let later = store_keys(&backend, 100).await;
        sim.clock.advance(Duration::minutes(INTERVAL_MINUTES - 10));
        let report = sim.app.run_due().await;
        assert!(report.export.is_none(), "{name}: {report:?}");
        sim.clock.advance(Duration::minutes(10));
        let report = sim.app.run_due().await;
        assert_eq!(report.export.unwrap().unwrap().real_keys, 9, "{name}");
        let all: Vec<[u8; 16]> = registered.iter().chain(&later).copied().collect();
        assert_eq!(sim.listed_keys(&all).await.len(), 18, "{name}");

        // 15 days on: keys, files and list entries are gone, without `cocoa cleanup`.
        let files = sim.list().await;
        sim.clock.advance(Duration::days(15));
        let report = sim.app.run_due().await;
        let retention = report.retention.expect("retention is due").unwrap();
        assert_eq!(retention.files as usize, files.len(), "{name}");
        assert_eq!(retention.keys, 18, "{name}");
        assert_eq!(sim.list().await, vec![], "{name}");
        for entry in &files {
            let path = entry.url.strip_prefix("http://cocoa.test/").unwrap();
            assert!(
                sim.blobs.get(path).await.unwrap().is_none(),
                "{name} {path}"
            );
        }
        assert!(backend.store.all_keys().await.unwrap().is_empty(), "{name}");
        // The export was due too, and found nothing to publish.
        assert_eq!(report.export.unwrap().unwrap().real_keys, 0, "{name}");
    }
}

fn answer(i: u32) -> SurveyResponse {
    SurveyResponse {
        id_hash: format!("{i:064x}"),
        received_day: t0().timestamp() / 86_400,
        age_group: AgeGroup::new(5),
        commute: Commute::new(2),
        start_day: None,
        days: None,
    }
}

#[tokio::test]
async fn survey_answers_are_deleted_by_the_schedule_from_their_deletion_date_not_before() {
    let delete_on = NaiveDate::from_ymd_opt(2022, 8, 12).unwrap();
    let midnight = Utc.from_utc_datetime(&delete_on.and_hms_opt(0, 0, 0).unwrap());
    for backend in Backend::all().await {
        let name = backend.name;
        let sim = Sim::new(&backend, |c| c.survey.delete_on = Some(delete_on)).await;
        let stored = backend
            .store
            .insert_survey_responses(&[answer(1), answer(2), answer(3)])
            .await
            .unwrap();
        assert_eq!(stored, 3);

        let report = sim.app.run_due().await;
        assert_eq!(report.retention.unwrap().unwrap().survey_responses, 0);
        // The last moment before the deletion date: retention runs and keeps them.
        sim.clock.set(midnight - Duration::seconds(1));
        let report = sim.app.run_due().await;
        let retention = report.retention.expect("retention is due").unwrap();
        assert_eq!(retention.survey_responses, 0, "{name}");
        assert_eq!(backend.store.count_survey_responses().await.unwrap(), 3);

        // 00:00 UTC of the deletion date is also a ten-minute slot (t0 is 05:30).
        sim.clock.set(midnight);
        let report = sim.app.run_due().await;
        let retention = report.retention.expect("retention is due").unwrap();
        assert_eq!(retention.survey_responses, 3, "{name}");
        assert_eq!(backend.store.count_survey_responses().await.unwrap(), 0);

        // An answer stored later goes at the next run, ten minutes on.
        backend
            .store
            .insert_survey_responses(&[answer(4)])
            .await
            .unwrap();
        sim.clock.advance(Duration::minutes(9));
        assert!(sim.app.run_due().await.retention.is_none(), "{name}");
        assert_eq!(backend.store.count_survey_responses().await.unwrap(), 1);
        sim.clock.advance(Duration::minutes(1));
        let report = sim.app.run_due().await;
        assert_eq!(report.retention.unwrap().unwrap().survey_responses, 1);
    }
}

#[tokio::test]
async fn a_failed_run_is_retried_at_the_next_tick_without_the_clock_moving() {
    for backend in Backend::all().await {
        let name = backend.name;
        let sim = Sim::new(&backend, |_| {}).await;
        let registered = store_keys(&backend, 30).await;

        sim.break_blobs();
        for _ in 0..2 {
            let report = sim.app.run_due().await;
            assert!(
                report.retention.expect("retention stays due").is_err(),
                "{name}"
            );
        }
        sim.repair_blobs();
        let report = sim.app.run_due().await;
        assert!(report.retention.unwrap().is_ok(), "{name}");

        sim.clock.advance(Duration::minutes(INTERVAL_MINUTES + 7));
        sim.break_blobs();
        let report = sim.app.run_due().await;
        assert!(report.export.expect("the export is due").is_err(), "{name}");
        sim.repair_blobs();
        let report = sim.app.run_due().await;
        let export = report.export.expect("the export stays due").unwrap();
        assert_eq!(export.real_keys, 9, "{name}");
        assert_eq!(sim.listed_keys(&registered).await.len(), 9, "{name}");
        assert!(sim.app.run_due().await.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn an_interval_of_zero_runs_nothing_on_a_schedule() {
    let backend = Backend::sqlite().await;
    let sim = Sim::new(&backend, |c| {
        c.export.interval_minutes = 0;
        c.retention.interval_minutes = 0;
    })
    .await;
    store_keys(&backend, 50).await;
    for _ in 0..3 {
        assert!(sim.app.run_due().await.is_empty());
        sim.clock.advance(Duration::days(1));
    }
    assert_eq!(sim.list().await, vec![]);
    // Asked for, it runs.
    assert_eq!(sim.app.export().await.unwrap().real_keys, 9);
}

/// `serve` asks the same clock by itself, about once a second.
#[tokio::test]
async fn serve_follows_a_manual_clock_within_a_second() {
    for backend in Backend::all().await {
        let name = backend.name;
        let clock = Arc::new(ManualClock::new(t0()));
        let server = Server::start(
            backend.store.clone(),
            clock.clone() as Arc<dyn Clock>,
            |c| {
                c.export.interval_minutes = INTERVAL_MINUTES as u32;
                c.retention.interval_minutes = 10;
            },
        )
        .await;
        let http = reqwest::Client::new();
        let list = || async {
            let r = http
                .get(server.url("/c19r/440/list.json"))
                .send()
                .await
                .unwrap();
            if r.status() == reqwest::StatusCode::NOT_FOUND {
                return Vec::new();
            }
            r.json::<Vec<ListEntry>>().await.unwrap()
        };
        store_keys(&backend, 70).await;

        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        clock.advance(Duration::minutes(INTERVAL_MINUTES - 1));
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(list().await, vec![], "{name}: not before the interval");

        clock.advance(Duration::minutes(8));
        let waited = std::time::Instant::now();
        while list().await.is_empty() {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(5),
                "{name}: no export within 5 s of the clock passing the interval"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        clock.advance(Duration::days(15));
        let waited = std::time::Instant::now();
        while !list().await.is_empty() || !backend.store.all_keys().await.unwrap().is_empty() {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(5),
                "{name}: retention did not follow the clock"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// `GET path` through the app's router (no network), with the admin token.
async fn get(app: &App, path: &str) -> (u16, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::get(path)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = app.router().oneshot(request).await.unwrap();
    let status = answer.status().as_u16();
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of one sample of the Prometheus text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn healthz_is_degraded_when_no_export_completed_for_two_intervals_and_metrics_say_so() {
    for backend in Backend::all().await {
        let name = backend.name;
        let sim = Sim::new(&backend, |_| {}).await;
        store_keys(&backend, 40).await;
        let health = || async {
            let (status, body) = get(&sim.app, "/healthz").await;
            (
                status,
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            )
        };
        assert_eq!(
            health().await,
            (200, serde_json::json!({"status": "ok", "storage": "ok"})),
            "{name}"
        );

        // Every export fails (the blob folder is gone) for two intervals and a minute.
        sim.break_blobs();
        let stale = 2 * INTERVAL_MINUTES + 1;
        sim.clock.advance(Duration::minutes(stale));
        assert!(sim.app.run_due().await.export.unwrap().is_err(), "{name}");
        let (status, body) = health().await;
        assert_eq!(status, 200, "{name}: still serving");
        assert_eq!(body["status"], "degraded", "{name}");
        assert_eq!(body["export"], "stale", "{name}");
        assert_eq!(body["lastExportAgeSeconds"], stale * 60, "{name}");
        let (_, metrics) = get(&sim.app, "/metrics").await;
        assert_eq!(
            sample(&metrics, r#"cocoa_export_runs_total{result="failed"}"#),
            Some(1.0),
            "{name}"
        );
        assert_eq!(
            sample(&metrics, "cocoa_export_last_success_age_seconds"),
            Some((stale * 60) as f64),
            "{name}"
        );

        // Repaired: the next tick exports, and all is well again.
        sim.repair_blobs();
        let export = sim.app.run_due().await.export.unwrap().unwrap();
        assert!(export.real_keys > 0, "{name}");
        assert_eq!(health().await.1["status"], "ok", "{name}");
        let (_, metrics) = get(&sim.app, "/metrics").await;
        assert_eq!(
            sample(&metrics, r#"cocoa_export_runs_total{result="ok"}"#),
            Some(1.0),
            "{name}"
        );
        assert_eq!(
            sample(&metrics, "cocoa_export_keys_total"),
            Some(export.real_keys as f64),
            "{name}"
        );
        assert_eq!(
            sample(&metrics, "cocoa_export_files_total"),
            Some(export.files.len() as f64),
            "{name}"
        );
        assert_eq!(
            sample(&metrics, "cocoa_export_last_success_age_seconds"),
            Some(0.0),
            "{name}"
        );
        assert_eq!(
            sample(&metrics, "cocoa_export_duration_seconds_count"),
            Some(1.0),
            "{name}"
        );

        // Retention counts what it deletes: 15 days on, the keys and files go.
        sim.clock.advance(Duration::days(15));
        let retention = sim.app.run_due().await.retention.unwrap().unwrap();
        let (_, metrics) = get(&sim.app, "/metrics").await;
        assert_eq!(
            sample(&metrics, r#"cocoa_retention_deleted_total{kind="keys"}"#),
            Some(retention.keys as f64),
            "{name}"
        );
        assert!(retention.keys > 0, "{name}");
    }
}
