//! The phone without a network: key schedule, sightings, checks against a fake server (bad lists,
//! files signed by strangers, truncated files change nothing), registration errors mapped to
//! precise errors, retries reusing the idempotency key, and one storage suite for both storages.

use chrono::NaiveDate;
use cocoa_api::{ExposureConfiguration, ListEntry, RiskCalculationConfiguration};
mod common;

use cocoa_device::{Error, MemoryStorage, Phone, PhoneSettings, SqliteStorage, Storage};
use common::FakeHttp;
use gaen::{
    DaysSinceOnset, DiagnosisKey, ExportSigner, KeyExport, ReportType, SignatureInfo, SignedExport,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const SERVER: &str = "http://server.test";
const DAY: i64 = 20_412; // 2025-11-20
const T0: i64 = DAY * 86_400 + 9 * 3600;

fn signer(seed: u64) -> ExportSigner {
    ExportSigner::generate(
        &mut StdRng::seed_from_u64(seed),
        SignatureInfo::p256("440", "v1"),
    )
}

fn phone<S: Storage>(storage: S, trusted: &ExportSigner) -> Phone<S> {
    let mut p = Phone::new(storage);
    p.configure(&PhoneSettings {
        server_url: SERVER.into(),
        region: "440".into(),
        public_keys_pem: vec![trusted.verifier().to_pem()],
        tx_power_dbm: -10,
    })
    .unwrap();
    p
}

fn serve_configuration(http: &FakeHttp) {
    http.answer(
        &format!("{SERVER}/c19r/exposure_configuration/configuration.json"),
        200,
        serde_json::to_vec(&ExposureConfiguration::default()).unwrap(),
    );
    http.answer(
        &format!("{SERVER}/c19r/exposure_configuration/risk_calculation_configuration.json"),
        200,
        serde_json::to_vec(&RiskCalculationConfiguration::default()).unwrap(),
    );
}

fn zip_of(keys: Vec<DiagnosisKey>, signer: &ExportSigner) -> Vec<u8> {
    let export = KeyExport {
        region: "440".into(),
        batch_num: 1,
        batch_size: 1,
        keys,
        ..Default::default()
    };
    SignedExport::sign(export, std::slice::from_ref(signer))
        .unwrap()
        .to_zip()
}

fn list(entries: &[(i64, &str)]) -> Vec<u8> {
    let list: Vec<ListEntry> = entries
        .iter()
        .map(|(created, name)| ListEntry {
            region: "440".into(),
            url: format!("{SERVER}/c19r/440/{name}"),
            created: *created,
        })
        .collect();
    serde_json::to_vec(&list).unwrap()
}

#[test]
fn one_key_per_day_and_nothing_older_than_14_days() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut p = phone(MemoryStorage::default(), &signer(1));
    let a = p.key_for(T0, &mut rng).unwrap();
    assert_eq!(
        p.key_for(T0 + 3600, &mut rng).unwrap(),
        a,
        "same day, same key"
    );
    assert_eq!(a.rolling_start.get() as i64, DAY * 144);
    let b = p.key_for(T0 + 86_400, &mut rng).unwrap();
    assert_ne!(a.tek, b.tek);
    let payload = p.advertisement(T0, &mut rng).unwrap();
    let adv = gaen::Advertisement::parse(&payload).unwrap();
    assert_eq!(
        adv.rpi,
        a.tek
            .rpik()
            .rpi(gaen::IntervalNumber::new((T0 / 600) as u32))
    );
    p.observe(&payload, -60, T0, None).unwrap();
    assert!(matches!(
        p.observe(&payload[..30], -60, T0, None),
        Err(Error::BadAdvertisement(_))
    ));
    p.prune(T0 + 14 * 86_400).unwrap();
    assert_eq!(
        p.storage().teks().unwrap().len(),
        2,
        "day 0 is 14 days back: kept"
    );
    assert_eq!(p.storage().sightings().unwrap().len(), 1);
    p.prune(T0 + 15 * 86_400).unwrap();
    assert_eq!(p.storage().teks().unwrap().len(), 1);
    assert!(p.storage().sightings().unwrap().is_empty());
}

#[test]
fn a_check_matches_verified_files_and_notifies_once() {
    let mut rng = StdRng::seed_from_u64(2);
    let trusted = signer(1);
    let http = FakeHttp::default();
    serve_configuration(&http);
    let mut a = phone(MemoryStorage::default(), &trusted);
    let mut b = phone(MemoryStorage::default(), &trusted);
    b.meet(&mut a, T0, 20, 50, &mut rng).unwrap();
    let key = a.key_for(T0, &mut rng).unwrap();
    let diagnosis = DiagnosisKey {
        key: key.tek,
        rolling_start: key.rolling_start,
        rolling_period: key.rolling_period,
        transmission_risk_level: None,
        report_type: Some(ReportType::ConfirmedTest),
        days_since_onset: Some(DaysSinceOnset::new(0).unwrap()),
    };
    http.answer(
        &format!("{SERVER}/c19r/440/1.zip"),
        200,
        zip_of(vec![diagnosis], &trusted),
    );
    http.answer(
        &format!("{SERVER}/c19r/440/list.json"),
        200,
        list(&[(1000, "1.zip")]),
    );
    let report = b.check(T0 + 86_400, &http).unwrap();
    assert_eq!(
        (
            report.files_processed,
            report.keys_processed,
            report.matched_keys
        ),
        (1, 1, 1)
    );
    assert_eq!(report.new_high_risk_days, ["2025-11-20"]);
    let again = b.check(T0 + 86_400 + 60, &http).unwrap();
    assert_eq!(again.files_processed, 0);
    assert!(again.new_high_risk_days.is_empty());
    assert_eq!(b.status().unwrap().notified_days, ["2025-11-20"]);
}

fn state<S: Storage>(p: &Phone<S>) -> (String, usize, usize) {
    let s = p.storage();
    (
        format!("{:?}", s.setting("last_created:440").unwrap()),
        s.daily_summaries().unwrap().len(),
        s.exposure_windows().unwrap().len(),
    )
}

#[test]
fn bad_lists_and_files_are_clear_errors_and_change_nothing() {
    let trusted = signer(1);
    let stranger = signer(2);
    let http = FakeHttp::default();
    serve_configuration(&http);
    let mut p = phone(MemoryStorage::default(), &trusted);
    let before = state(&p);
    let key = DiagnosisKey {
        key: gaen::Tek::from_bytes([1; 16]),
        rolling_start: gaen::IntervalNumber::new((DAY * 144) as u32),
        rolling_period: gaen::RollingPeriod::FULL_DAY,
        transmission_risk_level: None,
        report_type: None,
        days_since_onset: None,
    };
    // A list that is not JSON.
    http.answer(
        &format!("{SERVER}/c19r/440/list.json"),
        200,
        "<html>oops</html>",
    );
    let err = p.check(T0, &http).unwrap_err();
    assert!(matches!(err, Error::BadList { .. }), "{err}");
    assert!(err.to_string().contains("list.json"));
    // A good file followed by one signed by a stranger: the whole check changes nothing.
    http.answer(
        &format!("{SERVER}/c19r/440/1.zip"),
        200,
        zip_of(vec![key.clone()], &trusted),
    );
    http.answer(
        &format!("{SERVER}/c19r/440/2.zip"),
        200,
        zip_of(vec![key.clone()], &stranger),
    );
    http.answer(
        &format!("{SERVER}/c19r/440/list.json"),
        200,
        list(&[(1, "1.zip"), (2, "2.zip")]),
    );
    let err = p.check(T0, &http).unwrap_err();
    assert!(
        matches!(&err, Error::BadFile { url, .. } if url.ends_with("2.zip")),
        "{err}"
    );
    assert!(err.to_string().contains("no signature verifies"), "{err}");
    assert_eq!(state(&p), before);
    // A truncated file.
    let mut zip = zip_of(vec![key], &trusted);
    zip.truncate(zip.len() / 2);
    http.answer(&format!("{SERVER}/c19r/440/2.zip"), 200, zip);
    assert!(matches!(p.check(T0, &http), Err(Error::BadFile { .. })));
    assert_eq!(state(&p), before);
    // A network failure.
    http.fail(&format!("{SERVER}/c19r/440/2.zip"));
    assert!(matches!(p.check(T0, &http), Err(Error::Network(_))));
    assert_eq!(state(&p), before);
    // A missing configuration.
    let empty = FakeHttp::default();
    assert!(matches!(
        p.check(T0, &empty),
        Err(Error::ServerStatus { status: 404, .. })
    ));
    assert_eq!(state(&p), before);
}

#[test]
fn registration_errors_are_precise_and_retries_reuse_the_idempotency_key() {
    let mut rng = StdRng::seed_from_u64(3);
    let http = FakeHttp::default();
    let mut p = phone(MemoryStorage::default(), &signer(1));
    for d in 0..10 {
        p.key_for(T0 - d * 86_400, &mut rng).unwrap();
    }
    let url = format!("{SERVER}/api/v2/diagnosis");
    let date = NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
    assert!(matches!(
        p.register(T0, &http, "1234567", true, date, &mut rng),
        Err(Error::NumberMalformed)
    ));
    assert!(
        http.sent.borrow().is_empty(),
        "a malformed number is never sent"
    );
    for (code, expected) in [
        ("processing_number_invalid", "not valid"),
        ("processing_number_expired", "expired"),
        ("processing_number_used", "already been used"),
    ] {
        http.answer(&url, 406, format!(r#"{{"error":"{code}","message":"x"}}"#));
        let err = p
            .register(T0, &http, "12345678", true, date, &mut rng)
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{code}: {err}");
    }
    http.answer(&url, 429, r#"{"error":"rate_limited","message":"wait"}"#);
    assert!(matches!(
        p.register(T0, &http, "12345678", true, date, &mut rng),
        Err(Error::RateLimited {
            retry_after_seconds: 30
        })
    ));
    http.answer(&url, 503, "");
    assert!(matches!(
        p.register(T0, &http, "12345678", true, date, &mut rng),
        Err(Error::ServerUnavailable { status: 503 })
    ));
    http.fail(&url);
    assert!(matches!(
        p.register(T0, &http, "12345678", true, date, &mut rng),
        Err(Error::Network(_))
    ));
    assert!(p.status().unwrap().registration_pending);
    http.answer(&url, 204, "");
    let sent = p
        .register(T0, &http, "12345678", true, date, &mut rng)
        .unwrap();
    // Keys from 3 days before the 17th: the 14th to today (the 20th).
    assert_eq!(sent, 7);
    assert!(!p.status().unwrap().registration_pending);
    let bodies: Vec<serde_json::Value> = http
        .sent
        .borrow()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let keys: std::collections::HashSet<_> = bodies
        .iter()
        .map(|b| b["idempotency_key"].clone())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every retry with the same number reuses one idempotency key"
    );
    let last = bodies.last().unwrap();
    assert_eq!(last["keys"].as_array().unwrap().len(), 7);
    let padding = last["padding"].as_str().unwrap().len();
    assert!((1024..=2047).contains(&padding));
    assert_eq!(last["verificationPayload"], "12345678");
}

fn storage_suite<S: Storage>(mut s: S) {
    use gaen::{Aem, IntervalNumber, RollingPeriod, Rpi, Tek};
    let tek = |i: u8| cocoa_device::TekRecord {
        tek: Tek::from_bytes([i; 16]),
        rolling_start: IntervalNumber::new(u32::from(i) * 144),
        rolling_period: RollingPeriod::FULL_DAY,
    };
    s.put_tek(&tek(2)).unwrap();
    s.put_tek(&tek(1)).unwrap();
    assert_eq!(s.teks().unwrap(), vec![tek(1), tek(2)]);
    assert_eq!(
        s.delete_teks_before(IntervalNumber::new(144 * 2)).unwrap(),
        1
    );
    let sighting = |at: i64| cocoa_device::Sighting {
        at,
        rssi: -70,
        rpi: Rpi::from_bytes([at as u8; 16]),
        aem: Aem::from_bytes([1, 2, 3, 4]),
        previous_scan_at: Some(at - 300),
    };
    s.add_sightings(&[sighting(20), sighting(10)]).unwrap();
    assert_eq!(s.sightings().unwrap().len(), 2);
    assert_eq!(s.delete_sightings_before(15).unwrap(), 1);
    assert_eq!(s.sightings().unwrap(), vec![sighting(20)]);
    assert_eq!(s.setting("x").unwrap(), None);
    s.set_setting("x", "1").unwrap();
    let day = cocoa_device::DailySummary {
        date: 5,
        score_sum: 10.0,
        maximum_score: 8.0,
        weighted_duration_sum: 900.0,
    };
    let window = cocoa_device::ExposureWindow {
        date: 5,
        report_type: 1,
        infectiousness: 2,
        calibration_confidence: 0,
        scan_instances: vec![cocoa_device::ScanInstance {
            min_attenuation_db: 40,
            typical_attenuation_db: 50,
            seconds_since_last_scan: 300,
        }],
        weighted_duration: 750.0,
        score: 750.0,
    };
    s.commit_check(
        &[day],
        std::slice::from_ref(&window),
        &[("x".into(), "2".into())],
    )
    .unwrap();
    let newer = cocoa_device::DailySummary {
        score_sum: 20.0,
        ..day
    };
    s.commit_check(&[newer], &[], &[]).unwrap();
    assert_eq!(s.daily_summaries().unwrap(), vec![newer]);
    assert_eq!(s.exposure_windows().unwrap(), vec![window]);
    assert_eq!(s.setting("x").unwrap().as_deref(), Some("2"));
    s.wipe().unwrap();
    assert!(s.teks().unwrap().is_empty() && s.sightings().unwrap().is_empty());
    assert!(s.daily_summaries().unwrap().is_empty() && s.exposure_windows().unwrap().is_empty());
    assert_eq!(s.setting("x").unwrap(), None);
}

#[test]
fn both_storages_behave_alike() {
    storage_suite(MemoryStorage::default());
    let dir = tempfile::tempdir().unwrap();
    storage_suite(SqliteStorage::open(&dir.path().join("phone.db")).unwrap());
    // And SQLite keeps things across a restart.
    let path = dir.path().join("kept.db");
    let mut s = SqliteStorage::open(&path).unwrap();
    s.set_setting("server_url", "http://x").unwrap();
    s.close().unwrap();
    assert_eq!(
        SqliteStorage::open(&path)
            .unwrap()
            .setting("server_url")
            .unwrap()
            .as_deref(),
        Some("http://x")
    );
}
