//! The phone without a network: key schedule, sightings, checks against a fake server (a bad list
//! or configuration changes nothing; a file signed by a stranger, truncated or not downloaded is
//! reported, never matched, and retried, while the others are matched exactly once), corrupt
//! settings are errors, registration errors mapped to precise errors, retries reusing the
//! idempotency key, one storage suite for both storages, and the SQLite schema's versions.

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
fn a_bad_list_or_configuration_fails_the_check_and_changes_nothing() {
    let trusted = signer(1);
    let http = FakeHttp::default();
    serve_configuration(&http);
    let mut p = phone(MemoryStorage::default(), &trusted);
    let before = state(&p);
    // A list that is not JSON.
    http.answer(
        &format!("{SERVER}/c19r/440/list.json"),
        200,
        "<html>oops</html>",
    );
    let err = p.check(T0, &http).unwrap_err();
    assert!(matches!(err, Error::BadList { .. }), "{err}");
    assert!(err.to_string().contains("list.json"));
    assert_eq!(state(&p), before);
    assert_eq!(p.storage().setting("last_check").unwrap(), None);
    // A list that cannot be fetched.
    http.fail(&format!("{SERVER}/c19r/440/list.json"));
    assert!(matches!(p.check(T0, &http), Err(Error::Network(_))));
    assert_eq!(state(&p), before);
    // A missing configuration.
    let empty = FakeHttp::default();
    assert!(matches!(
        p.check(T0, &empty),
        Err(Error::ServerStatus { status: 404, .. })
    ));
    assert_eq!(state(&p), before);
    assert_eq!(p.storage().setting("last_check").unwrap(), None);
}

/// Phone `b` met `a` for 20 minutes at 50 dB on each of the three days before `T0`'s day (each
/// meeting alone is high-risk); `a`'s keys of those days, as the server would publish them.
fn met_on_three_days(trusted: &ExportSigner) -> (Phone<MemoryStorage>, Vec<DiagnosisKey>) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut a = phone(MemoryStorage::default(), trusted);
    let mut b = phone(MemoryStorage::default(), trusted);
    let keys = (1..=3)
        .map(|day| {
            let at = T0 - day * 86_400;
            b.meet(&mut a, at, 20, 50, &mut rng).unwrap();
            let key = a.key_for(at, &mut rng).unwrap();
            DiagnosisKey {
                key: key.tek,
                rolling_start: key.rolling_start,
                rolling_period: key.rolling_period,
                transmission_risk_level: None,
                report_type: Some(ReportType::ConfirmedTest),
                days_since_onset: Some(DaysSinceOnset::new(0).unwrap()),
            }
        })
        .collect();
    (b, keys)
}

fn file_url(name: &str) -> String {
    format!("{SERVER}/c19r/440/{name}")
}

/// The results a check stores, comparable across phones (windows in a canonical order).
fn results<S: Storage>(p: &Phone<S>) -> (String, String, Vec<String>) {
    let s = p.storage();
    let mut windows: Vec<String> = s
        .exposure_windows()
        .unwrap()
        .iter()
        .map(|w| format!("{w:?}"))
        .collect();
    windows.sort();
    (
        format!("{:?}", s.daily_summaries().unwrap()),
        format!("{:?}", p.status().unwrap().notified_days),
        windows,
    )
}

#[test]
fn one_corrupt_file_among_good_ones_notifies_from_the_good_ones_and_retries_the_bad_one() {
    let trusted = signer(1);
    let stranger = signer(2);
    let truncated = |zip: Vec<u8>| zip[..zip.len() / 2].to_vec();
    for (corruption, bad_zip, expected_reason) in [
        (
            "signed by a stranger",
            Box::new(|keys: Vec<DiagnosisKey>| zip_of(keys, &stranger))
                as Box<dyn Fn(Vec<DiagnosisKey>) -> Vec<u8>>,
            "no signature verifies",
        ),
        (
            "truncated",
            Box::new(|keys: Vec<DiagnosisKey>| truncated(zip_of(keys, &trusted))),
            "",
        ),
    ] {
        let (mut b, keys) = met_on_three_days(&trusted);
        // The same phone checking once against a server whose files are all good.
        let mut control = Phone::new(b.storage().clone());
        let http = FakeHttp::default();
        serve_configuration(&http);
        http.answer(
            &format!("{SERVER}/c19r/440/list.json"),
            200,
            list(&[(100, "1.zip"), (200, "2.zip"), (300, "3.zip")]),
        );
        for (i, name) in ["1.zip", "2.zip", "3.zip"].iter().enumerate() {
            http.answer(
                &file_url(name),
                200,
                zip_of(vec![keys[i].clone()], &trusted),
            );
        }
        let all_good = control.check(T0, &http).unwrap();
        assert_eq!((all_good.files_processed, all_good.matched_keys), (3, 3));
        assert_eq!(all_good.new_high_risk_days.len(), 3);

        // 2.zip (the day before yesterday's key) is corrupt.
        http.answer(&file_url("2.zip"), 200, bad_zip(vec![keys[1].clone()]));
        let first = b.check(T0, &http).unwrap();
        assert_eq!(
            (first.files_processed, first.matched_keys),
            (2, 2),
            "{corruption}"
        );
        assert_eq!(
            first.new_high_risk_days,
            ["2025-11-17", "2025-11-19"],
            "{corruption}: notified from the good files"
        );
        assert_eq!(first.files_failed.len(), 1, "{corruption}");
        let failed = &first.files_failed[0];
        assert_eq!(
            (failed.url.as_str(), failed.created),
            (file_url("2.zip").as_str(), 200)
        );
        assert!(
            failed.reason.contains(expected_reason) && !failed.reason.is_empty(),
            "{corruption}: {}",
            failed.reason
        );
        let status = b.status().unwrap();
        assert_eq!(status.files_to_retry, first.files_failed);
        assert_eq!(status.last_created, 100, "not past the bad file");
        let after_first = results(&b);

        // Still corrupt: retried, and the good files are neither downloaded nor matched again.
        let second = b.check(T0 + 60, &http).unwrap();
        assert_eq!((second.files_processed, second.matched_keys), (0, 0));
        assert!(second.new_high_risk_days.is_empty());
        assert_eq!(second.files_failed.len(), 1);
        assert_eq!(
            results(&b),
            after_first,
            "{corruption}: nothing counted twice"
        );
        assert_eq!(http.times_asked(&file_url("2.zip")), 3); // control, first, second
        assert_eq!(http.times_asked(&file_url("1.zip")), 2);
        assert_eq!(http.times_asked(&file_url("3.zip")), 2);

        // Fixed on the server: matched now, once.
        http.answer(
            &file_url("2.zip"),
            200,
            zip_of(vec![keys[1].clone()], &trusted),
        );
        let third = b.check(T0 + 120, &http).unwrap();
        assert_eq!((third.files_processed, third.matched_keys), (1, 1));
        assert_eq!(third.new_high_risk_days, ["2025-11-18"]);
        assert!(third.files_failed.is_empty());
        let status = b.status().unwrap();
        assert!(status.files_to_retry.is_empty());
        assert_eq!(status.last_created, 300);
        let fourth = b.check(T0 + 180, &http).unwrap();
        assert_eq!(fourth.files_processed, 0);
        assert_eq!(
            results(&b),
            results(&control),
            "{corruption}: the same results as one check of good files"
        );
    }
}

#[test]
fn a_failed_download_is_retried_at_the_next_check() {
    let trusted = signer(1);
    let (mut b, keys) = met_on_three_days(&trusted);
    let http = FakeHttp::default();
    serve_configuration(&http);
    http.answer(
        &format!("{SERVER}/c19r/440/list.json"),
        200,
        list(&[(100, "1.zip"), (200, "2.zip"), (300, "3.zip")]),
    );
    http.answer(
        &file_url("1.zip"),
        200,
        zip_of(vec![keys[0].clone()], &trusted),
    );
    http.fail(&file_url("2.zip"));
    http.answer(&file_url("3.zip"), 503, "busy");
    let first = b.check(T0, &http).unwrap();
    assert_eq!((first.files_processed, first.matched_keys), (1, 1));
    assert_eq!(first.new_high_risk_days, ["2025-11-19"]);
    let reasons: Vec<(&str, &str)> = first
        .files_failed
        .iter()
        .map(|f| (f.url.rsplit('/').next().unwrap(), f.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("2.zip", "network: connection refused"),
            ("3.zip", "HTTP 503")
        ]
    );
    assert_eq!(b.status().unwrap().last_created, 100);
    // The network is back for 2.zip only; then for 3.zip too.
    http.answer(
        &file_url("2.zip"),
        200,
        zip_of(vec![keys[1].clone()], &trusted),
    );
    let second = b.check(T0 + 60, &http).unwrap();
    assert_eq!((second.files_processed, second.matched_keys), (1, 1));
    assert_eq!(second.new_high_risk_days, ["2025-11-18"]);
    assert_eq!(second.files_failed.len(), 1);
    assert_eq!(b.status().unwrap().last_created, 200);
    http.answer(
        &file_url("3.zip"),
        200,
        zip_of(vec![keys[2].clone()], &trusted),
    );
    let third = b.check(T0 + 120, &http).unwrap();
    assert_eq!((third.files_processed, third.matched_keys), (1, 1));
    assert_eq!(third.new_high_risk_days, ["2025-11-17"]);
    assert!(third.files_failed.is_empty());
    assert_eq!(b.status().unwrap().last_created, 300);
    assert_eq!(http.times_asked(&file_url("1.zip")), 1);
    assert_eq!(b.storage().daily_summaries().unwrap().len(), 3);
}

#[test]
fn the_watermark_never_passes_an_unprocessed_file() {
    let trusted = signer(1);
    let http = FakeHttp::default();
    serve_configuration(&http);
    let mut p = phone(MemoryStorage::default(), &trusted);
    let key = |i: u8| DiagnosisKey {
        key: gaen::Tek::from_bytes([i; 16]),
        rolling_start: gaen::IntervalNumber::new((DAY * 144) as u32),
        rolling_period: gaen::RollingPeriod::FULL_DAY,
        transmission_risk_level: None,
        report_type: None,
        days_since_onset: None,
    };
    for (i, name) in ["a.zip", "b.zip", "c.zip", "d.zip", "e.zip"]
        .iter()
        .enumerate()
    {
        http.answer(&file_url(name), 200, zip_of(vec![key(i as u8)], &trusted));
    }
    let list_url = format!("{SERVER}/c19r/440/list.json");
    let processed = |p: &Phone<MemoryStorage>| {
        let json = p.storage().setting("processed_files:440").unwrap().unwrap();
        let map: std::collections::BTreeMap<String, i64> = serde_json::from_str(&json).unwrap();
        map.into_keys()
            .map(|u| u.rsplit('/').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // b.zip is missing; c.zip was created in the same second as b.zip.
    http.answer(&file_url("b.zip"), 404, "");
    let four = [(10, "a.zip"), (20, "b.zip"), (20, "c.zip"), (30, "d.zip")];
    http.answer(&list_url, 200, list(&four));
    let first = p.check(T0, &http).unwrap();
    assert_eq!(first.files_processed, 3);
    assert_eq!(first.files_failed[0].reason, "HTTP 404");
    assert_eq!(p.status().unwrap().last_created, 10);
    assert_eq!(processed(&p), ["c.zip", "d.zip"]);
    // A new file: only it and b.zip are tried.
    let five = [four.as_slice(), &[(40, "e.zip")]].concat();
    http.answer(&list_url, 200, list(&five));
    let second = p.check(T0 + 60, &http).unwrap();
    assert_eq!((second.files_processed, second.files_failed.len()), (1, 1));
    assert_eq!(p.status().unwrap().last_created, 10);
    assert_eq!(processed(&p), ["c.zip", "d.zip", "e.zip"]);
    for name in ["a.zip", "c.zip", "d.zip", "e.zip"] {
        assert_eq!(http.times_asked(&file_url(name)), 1, "{name}");
    }
    assert_eq!(http.times_asked(&file_url("b.zip")), 2);
    // The server withdraws b.zip: nothing unprocessed is left, so the watermark moves to the top
    // and nothing is downloaded again.
    let without_b: Vec<(i64, &str)> = five.iter().filter(|e| e.1 != "b.zip").copied().collect();
    http.answer(&list_url, 200, list(&without_b));
    let third = p.check(T0 + 120, &http).unwrap();
    assert_eq!((third.files_processed, third.files_failed.len()), (0, 0));
    assert_eq!(p.status().unwrap().last_created, 40);
    assert!(processed(&p).is_empty());
    assert!(p.status().unwrap().files_to_retry.is_empty());
    assert_eq!(
        http.asked
            .borrow()
            .iter()
            .filter(|u| u.ends_with(".zip"))
            .count(),
        6
    );
}

#[test]
fn a_corrupt_setting_is_an_error() {
    let trusted = signer(1);
    let http = FakeHttp::default();
    serve_configuration(&http);
    http.answer(&format!("{SERVER}/c19r/440/list.json"), 200, list(&[]));
    type Operation = fn(&mut Phone<MemoryStorage>, &FakeHttp) -> Result<(), Error>;
    let cases: [(&str, &str, Operation); 9] = [
        ("tx_power", "loud", |p, _| {
            p.advertisement(T0, &mut StdRng::seed_from_u64(1)).map(drop)
        }),
        ("public_keys", "[not json", |p, _| p.settings().map(drop)),
        ("last_created:440", "yesterday", |p, h| {
            p.check(T0, h).map(drop)
        }),
        ("processed_files:440", "{", |p, h| p.check(T0, h).map(drop)),
        ("notified_days", "[1,", |p, _| p.status().map(drop)),
        ("last_check", "soon", |p, _| p.status().map(drop)),
        ("pending_registration", "12345678", |p, _| {
            p.status().map(drop)
        }),
        ("risk_configuration", "{]", |p, _| {
            p.history(T0, false).map(drop)
        }),
        ("exposure_configuration", "{]", |p, _| {
            p.save_info().map(drop)
        }),
    ];
    for (name, value, operation) in cases {
        let mut p = phone(MemoryStorage::default(), &trusted);
        operation(&mut p, &http).unwrap_or_else(|e| panic!("{name} before: {e}"));
        p.storage_mut().set_setting(name, value).unwrap();
        let before = format!("{:?}", p.storage());
        let err = operation(&mut p, &http).expect_err(name);
        assert!(
            matches!(err, Error::Storage(cocoa_device::StorageError::Corrupt(_))),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{name}: {err}");
        assert!(
            !err.to_string().contains(value),
            "{name}: the value is not echoed"
        );
        assert_eq!(
            format!("{:?}", p.storage()),
            before,
            "{name}: nothing changed"
        );
    }
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

/// The schema as phones created it before it had versions (`user_version` 0).
const SCHEMA_BEFORE_VERSIONS: &str = "
CREATE TABLE teks (rolling_start INTEGER PRIMARY KEY, rolling_period INTEGER NOT NULL, tek BLOB NOT NULL);
CREATE TABLE sightings (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, rssi INTEGER NOT NULL,
    rpi BLOB NOT NULL, aem BLOB NOT NULL, previous_scan_at INTEGER);
CREATE INDEX sightings_at ON sightings (at);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE daily_summaries (date INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE exposure_windows (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
INSERT INTO settings (name, value) VALUES ('server_url', 'http://old');
";

fn user_version(path: &std::path::Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn schema_version_is_migrated_and_newer_is_refused() {
    use cocoa_device::storage::SCHEMA_VERSION;
    let dir = tempfile::tempdir().unwrap();
    // A new database is created at the current version.
    let fresh = dir.path().join("fresh.db");
    SqliteStorage::open(&fresh).unwrap().close().unwrap();
    assert_eq!(user_version(&fresh), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 1);
    // A database from before versions is migrated, its data kept.
    let old = dir.path().join("old.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(SCHEMA_BEFORE_VERSIONS)
        .unwrap();
    assert_eq!(user_version(&old), 0);
    let mut s = SqliteStorage::open(&old).unwrap();
    assert_eq!(
        s.setting("server_url").unwrap().as_deref(),
        Some("http://old")
    );
    s.set_setting("region", "440").unwrap();
    s.close().unwrap();
    assert_eq!(user_version(&old), SCHEMA_VERSION);
    // Opening again changes nothing.
    SqliteStorage::open(&old).unwrap().close().unwrap();
    assert_eq!(user_version(&old), SCHEMA_VERSION);
    // A database from a newer version is refused, and left as it is.
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {newer}"))
        .unwrap();
    let err = SqliteStorage::open(&old).unwrap_err();
    assert!(
        matches!(err, cocoa_device::StorageError::TooNew { found, supported }
            if found == newer && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(
        err.to_string().contains("newer version of the app"),
        "{err}"
    );
    assert_eq!(user_version(&old), newer);
    let kept: String = rusqlite::Connection::open(&old)
        .unwrap()
        .query_row(
            "SELECT value FROM settings WHERE name = 'server_url'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, "http://old");
}

#[test]
fn a_file_listed_twice_is_matched_once_even_while_another_fails() {
    let trusted = signer(1);
    let (mut b, keys) = met_on_three_days(&trusted);
    let http = FakeHttp::default();
    serve_configuration(&http);
    // 1.zip is listed again later; 2.zip cannot be downloaded, so the watermark stays below
    // 1.zip's second listing.
    http.answer(
        &format!("{SERVER}/c19r/440/list.json"),
        200,
        list(&[(100, "1.zip"), (200, "2.zip"), (300, "1.zip")]),
    );
    http.answer(
        &file_url("1.zip"),
        200,
        zip_of(vec![keys[0].clone()], &trusted),
    );
    http.answer(&file_url("2.zip"), 503, "");
    let first = b.check(T0, &http).unwrap();
    assert_eq!((first.files_processed, first.matched_keys), (1, 1));
    assert_eq!(b.status().unwrap().last_created, 100);
    let second = b.check(T0 + 60, &http).unwrap();
    assert_eq!((second.files_processed, second.matched_keys), (0, 0));
    assert_eq!(http.times_asked(&file_url("1.zip")), 1);
    http.answer(
        &file_url("2.zip"),
        200,
        zip_of(vec![keys[1].clone()], &trusted),
    );
    let third = b.check(T0 + 120, &http).unwrap();
    assert_eq!((third.files_processed, third.matched_keys), (1, 1));
    assert_eq!(b.status().unwrap().last_created, 300);
    assert_eq!(b.check(T0 + 180, &http).unwrap().files_processed, 0);
    assert_eq!(http.times_asked(&file_url("1.zip")), 1);
}
