//! The story the whole system exists for, end to end through real HTTP against a real server on
//! port 0 (both sides on injected clocks): phones A, B and C; B meets A for 20 minutes at 50 dB,
//! C meets A for 5 minutes at 70 dB; A gets a processing number from the health-centre API and
//! registers; the server exports; B is notified for the meeting day, C is not; a second check
//! notifies nothing new; 15 days later the history no longer shows it but save-info still has it.

use chrono::{Duration, TimeZone, Utc};
use cocoa_device::http::ReqwestHttp;
use cocoa_device::{Http, MemoryStorage, Phone, PhoneSettings, Storage};
use cocoa_server::{App, Clock, ManualClock, ServerConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;

const TOKEN: &str = "device-e2e-admin-token-0123";

/// The real server on its own runtime thread; stops when dropped.
struct Server {
    base: String,
    clock: Arc<ManualClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(start: chrono::DateTime<Utc>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let data_dir = dir.path().to_owned();
        let server_clock = clock.clone() as Arc<dyn Clock>;
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                let mut config = ServerConfig {
                    data_dir,
                    admin_token: Some(TOKEN.into()),
                    public_base_url: Some(format!("{base}/c19r")),
                    ..Default::default()
                };
                config.export.interval_minutes = 0;
                config.retention.interval_minutes = 0;
                let app = App::open(config, server_clock).await.unwrap();
                ready_tx.send(base).unwrap();
                app.serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let base = ready_rx.recv().unwrap();
        Self {
            base,
            clock,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn phone(server: &Server, http: &ReqwestHttp) -> Phone<MemoryStorage> {
    let keys: Vec<cocoa_api::SigningKeyInfo> = serde_json::from_slice(
        &http
            .get(&format!("{}/api/v1/export-signing-keys", server.base))
            .unwrap()
            .body,
    )
    .unwrap();
    let mut phone = Phone::new(MemoryStorage::default());
    phone
        .configure(&PhoneSettings {
            server_url: server.base.clone(),
            region: "440".into(),
            public_keys_pem: keys.into_iter().map(|k| k.public_key_pem).collect(),
            tx_power_dbm: -10,
        })
        .unwrap();
    phone
        .record_start_of_use(
            Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
                .unwrap()
                .timestamp(),
        )
        .unwrap();
    phone
}

#[test]
fn a_meeting_with_a_registered_person_notifies_once_and_only_the_close_contact() {
    let meeting = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let meeting_day = "2026-11-20";
    let server = Server::start(meeting);
    let http = ReqwestHttp::new();
    let mut rng = StdRng::seed_from_u64(2026);
    let (mut a, mut b, mut c) = (
        phone(&server, &http),
        phone(&server, &http),
        phone(&server, &http),
    );

    // The meetings.
    assert!(
        b.meet(&mut a, meeting.timestamp(), 20, 50, &mut rng)
            .unwrap()
            >= 4
    );
    assert!(
        c.meet(&mut a, meeting.timestamp() + 3600, 5, 70, &mut rng)
            .unwrap()
            >= 1
    );

    // Two days later A tests positive: the health centre issues a number, A registers.
    let later = meeting + Duration::days(2) + Duration::hours(1);
    server.clock.set(later);
    let issued: cocoa_api::IssueNumbersResponse = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/processing-numbers", server.base))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let number = &issued.processing_numbers[0].processing_number;
    let sent = a
        .register(
            later.timestamp(),
            &http,
            number,
            true,
            meeting.date_naive(),
            &mut rng,
        )
        .unwrap();
    assert!(sent >= 2, "the meeting day's key and today's key");
    // A retry of the same registration answers success and stores nothing twice.
    a.register(
        later.timestamp(),
        &http,
        number,
        true,
        meeting.date_naive(),
        &mut rng,
    )
    .unwrap();

    // The server exports.
    let report: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/admin/export", server.base))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(report["real_keys"].as_u64().unwrap() >= 1, "{report}");

    // B is notified for the meeting day; C is not.
    let check_at = later.timestamp() + 600;
    let b_report = b.check(check_at, &http).unwrap();
    assert!(b_report.files_processed >= 1);
    assert!(
        b_report.files_failed.is_empty(),
        "{:?}",
        b_report.files_failed
    );
    assert!(b_report.keys_processed >= 1000, "padded files");
    assert_eq!(b_report.matched_keys, 1);
    assert_eq!(b_report.new_high_risk_days, vec![meeting_day.to_owned()]);
    let c_report = c.check(check_at, &http).unwrap();
    assert_eq!(c_report.matched_keys, 1, "C did see A's key...");
    assert!(
        c_report.new_high_risk_days.is_empty(),
        "...but too briefly and too far to notify"
    );

    // A second check raises nothing new.
    let again = b.check(check_at + 3600, &http).unwrap();
    assert_eq!(again.files_processed, 0);
    assert!(again.new_high_risk_days.is_empty());

    let history = b.history(check_at, false).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].date, meeting_day);
    assert!(history[0].high_risk);
    assert!(history[0].score_sum >= 1350.0);
    assert!(!c
        .history(check_at, false)
        .unwrap()
        .iter()
        .any(|d| d.high_risk));

    // 15 more days: the history view no longer shows the day; save-info still has it.
    let much_later = check_at + 15 * 86_400;
    b.prune(much_later).unwrap();
    assert!(b.history(much_later, false).unwrap().is_empty());
    assert_eq!(b.history(much_later, true).unwrap().len(), 1);
    let saved = b.save_info().unwrap();
    let days = saved["daily_summaries"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(
        days[0]["DateMillisSinceEpoch"],
        meeting
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    );
    assert!(!saved["exposure_windows"].as_array().unwrap().is_empty());

    // The end of the service: B answers the survey with both consents, C answers without them.
    server
        .clock
        .set(chrono::DateTime::from_timestamp(much_later, 0).unwrap());
    let first_day = cocoa_device::survey::DEFAULT_FIRST_DAY;
    let with_data = cocoa_device::SurveyAnswer {
        age_group: Some(5),
        commute: Some(3),
        send_start_date: true,
        send_exposure_data: true,
    };
    b.submit_survey(much_later, &http, &with_data, first_day, &mut rng)
        .unwrap();
    let without = cocoa_device::SurveyAnswer {
        age_group: None,
        commute: Some(1),
        ..Default::default()
    };
    c.submit_survey(much_later, &http, &without, first_day, &mut rng)
        .unwrap();
    for wiped in [&b, &c] {
        let s = wiped.storage();
        assert!(s.teks().unwrap().is_empty() && s.sightings().unwrap().is_empty());
        assert!(
            s.daily_summaries().unwrap().is_empty() && s.exposure_windows().unwrap().is_empty()
        );
        assert!(matches!(
            wiped.settings(),
            Err(cocoa_device::Error::NotInitialised)
        ));
    }
    // What the server kept: B's exposure day flagged, C's answer without data; nothing else.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = runtime.block_on(async {
        let url = format!("sqlite://{}", server._dir.path().join("cocoa.db").display());
        let store = cocoa_server::store::SqliteStore::connect(&url)
            .await
            .unwrap();
        cocoa_server::store::SurveyStore::all_survey_responses(&store)
            .await
            .unwrap()
    });
    assert_eq!(stored.len(), 2);
    let from_b = stored
        .iter()
        .find(|r| r.days.is_some())
        .expect("B's answer");
    let meeting_day_number = meeting.timestamp().div_euclid(86_400);
    assert_eq!(
        from_b
            .days
            .as_ref()
            .unwrap()
            .iter()
            .map(|d| (d.day, d.exposure_detected))
            .collect::<Vec<_>>(),
        vec![(meeting_day_number, true)]
    );
    assert_eq!(from_b.age_group.map(|a| a.get()), Some(5));
    assert_eq!(
        from_b.start_day,
        Some(
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .unwrap()
                .timestamp()
                / 86_400
        )
    );
    let from_c = stored
        .iter()
        .find(|r| r.days.is_none())
        .expect("C's answer");
    assert_eq!((from_c.age_group, from_c.start_day), (None, None));
}
