//! `Lab::check_all` against `Phone::check`: a city of a few hundred phones with random
//! sightings (meetings with people who later publish their keys, at various attenuations and
//! durations, some across midnight, replays and shifted copies, noise), phones with different
//! watermarks, a bad file among good ones, phones with other settings; every phone must end up
//! with exactly the report and the storage its own check gives it, each file downloaded once per
//! `check_all`, and a second `check_all` matching nothing new. Also: a phone whose storage
//! fails, SQLite phones, a property test on small random cities, and the memory of sightings.

mod common;

use cocoa_api::{ExposureConfiguration, ListEntry, RiskCalculationConfiguration};
use cocoa_device::storage::PACKED_SIGHTING_BYTES;
use cocoa_device::{
    CheckReport, DailySummary, Error, ExposureWindow, Lab, MemoryStorage, Phone, PhoneSettings,
    Sighting, SqliteStorage, Storage, StorageError, TekRecord,
};
use common::FakeHttp;
use gaen::{
    Aem, DaysSinceOnset, DiagnosisKey, ExportSigner, IntervalNumber, KeyExport, ReportType,
    RollingPeriod, Rpi, SignatureInfo, SignedExport, Tek,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SERVER: &str = "http://server.test";
const DAY: i64 = 20_412; // 2025-11-20
const T0: i64 = DAY * 86_400 + 9 * 3600;

fn signer(seed: u64) -> ExportSigner {
    ExportSigner::generate(
        &mut StdRng::seed_from_u64(seed),
        SignatureInfo::p256("440", "v1"),
    )
}

fn configured(region: &str, trusted: &[&ExportSigner]) -> Phone<MemoryStorage> {
    let mut p = Phone::new(MemoryStorage::default()).with_threads(1);
    p.configure(&PhoneSettings {
        server_url: SERVER.into(),
        region: region.into(),
        public_keys_pem: trusted.iter().map(|s| s.verifier().to_pem()).collect(),
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

fn file_url(region: &str, name: &str) -> String {
    format!("{SERVER}/c19r/{region}/{name}")
}

fn list_url(region: &str) -> String {
    format!("{SERVER}/c19r/{region}/list.json")
}

fn list(region: &str, entries: &[(i64, String)]) -> Vec<u8> {
    let list: Vec<ListEntry> = entries
        .iter()
        .map(|(created, name)| ListEntry {
            region: region.into(),
            url: file_url(region, name),
            created: *created,
        })
        .collect();
    serde_json::to_vec(&list).unwrap()
}

/// Another fake server answering exactly as `http` does (its own counts).
fn same_answers(http: &FakeHttp) -> FakeHttp {
    let copy = FakeHttp::default();
    *copy.answers.borrow_mut() = http.answers.borrow().clone();
    copy
}

fn diagnosis(record: &TekRecord, report_type: ReportType, days_since_onset: i32) -> DiagnosisKey {
    DiagnosisKey {
        key: record.tek,
        rolling_start: record.rolling_start,
        rolling_period: record.rolling_period,
        transmission_risk_level: None,
        report_type: Some(report_type),
        days_since_onset: Some(DaysSinceOnset::new(days_since_onset).unwrap()),
    }
}

fn random_key(rng: &mut StdRng) -> DiagnosisKey {
    let day = DAY - rng.gen_range(1..=13);
    DiagnosisKey {
        key: Tek::from_bytes(rng.gen()),
        rolling_start: IntervalNumber::new((day * 144) as u32),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk_level: None,
        report_type: Some(ReportType::ConfirmedTest),
        days_since_onset: Some(DaysSinceOnset::new(rng.gen_range(-2..=8)).unwrap()),
    }
}

/// The shape of a random city.
#[derive(Debug, Clone)]
struct Params {
    seed: u64,
    phones: usize,
    /// People whose keys are published.
    sources: usize,
    files: usize,
    /// Random sightings per phone (never of a published key).
    noise: usize,
    /// Random keys added to each file.
    filler: usize,
    /// This file (if any) is signed by a stranger.
    bad_file: Option<usize>,
}

/// A city: its phones (ordinary ones, each trusting the server's signer) and its server.
struct City {
    phones: Vec<Phone<MemoryStorage>>,
    http: FakeHttp,
    trusted: ExportSigner,
    stranger: ExportSigner,
    /// Names of the listed files of region 440, in list order.
    files: Vec<String>,
}

fn city(p: &Params) -> City {
    let mut rng = StdRng::seed_from_u64(p.seed);
    let trusted = signer(1);
    let stranger = signer(2);
    let mut sources: Vec<Phone<MemoryStorage>> = (0..p.sources)
        .map(|_| configured("440", &[&trusted]))
        .collect();
    let mut phones: Vec<Phone<MemoryStorage>> = (0..p.phones)
        .map(|_| configured("440", &[&trusted]))
        .collect();
    for phone in &mut phones {
        for _ in 0..rng.gen_range(0..=3) {
            let source = &mut sources[rng.gen_range(0..p.sources)];
            let day = DAY - rng.gen_range(1..=10);
            let at = if rng.gen_bool(0.4) {
                day * 86_400 + 23 * 3600 + rng.gen_range(20..=55) * 60 // across midnight
            } else {
                day * 86_400 + rng.gen_range(6 * 3600..22 * 3600)
            };
            let minutes = rng.gen_range(5..=45);
            let attenuation = rng.gen_range(35..=85);
            phone
                .meet(source, at, minutes, attenuation, &mut rng)
                .unwrap();
        }
        if rng.gen_bool(0.3) {
            // A phone whose clock ran up to two hours behind (or a little ahead).
            let skew = rng.gen_range(-8..=2) * 900 + rng.gen_range(-60..=60);
            let heard = phone.storage().sightings().unwrap();
            phone
                .storage_mut()
                .delete_sightings_before(i64::MAX)
                .unwrap();
            let skewed: Vec<Sighting> = heard
                .iter()
                .map(|s| Sighting {
                    at: s.at + skew,
                    previous_scan_at: s.previous_scan_at.map(|t| t + skew),
                    ..*s
                })
                .collect();
            phone.storage_mut().add_sightings(&skewed).unwrap();
        }
        let heard = phone.storage().sightings().unwrap();
        let mut extra: Vec<Sighting> = Vec::new();
        if !heard.is_empty() && rng.gen_bool(0.4) {
            // Copies of real sightings shifted by up to four hours: some within the clock
            // tolerance (across midnight too), some replays, some out of it.
            for _ in 0..rng.gen_range(1..=4) {
                let s = heard[rng.gen_range(0..heard.len())];
                // Mostly earlier (the copy is then the RPI's first sighting, not a replay).
                let shift = if rng.gen_bool(0.7) {
                    -rng.gen_range(1..=9) * 900
                } else {
                    rng.gen_range(-8..=8) * 1800
                } + rng.gen_range(-60..=60);
                extra.push(Sighting {
                    at: s.at + shift,
                    previous_scan_at: s.previous_scan_at.map(|t| t + shift),
                    ..s
                });
            }
        }
        for _ in 0..p.noise {
            let at = T0 - rng.gen_range(0..13 * 86_400);
            extra.push(Sighting {
                at,
                rssi: rng.gen_range(-100..=-30),
                rpi: Rpi::from_bytes(rng.gen()),
                aem: Aem::from_bytes(rng.gen()),
                previous_scan_at: rng.gen_bool(0.8).then(|| at - rng.gen_range(60..=400)),
            });
        }
        phone.storage_mut().add_sightings(&extra).unwrap();
    }

    // What the sources publish, spread over the files (a few keys in two files).
    let mut file_keys: Vec<Vec<DiagnosisKey>> = vec![Vec::new(); p.files];
    for (i, source) in sources.iter().enumerate() {
        let report_type = match i % 7 {
            5 => ReportType::ConfirmedClinicalDiagnosis,
            6 if i > 6 => ReportType::Revoked,
            _ => ReportType::ConfirmedTest,
        };
        for record in source.storage().teks().unwrap() {
            let key = diagnosis(&record, report_type, rng.gen_range(-3..=10));
            let file = rng.gen_range(0..p.files);
            if rng.gen_bool(0.1) {
                file_keys[rng.gen_range(0..p.files)].push(key.clone());
            }
            file_keys[file].push(key);
        }
    }
    let http = FakeHttp::default();
    serve_configuration(&http);
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for (i, mut keys) in file_keys.into_iter().enumerate() {
        keys.extend((0..p.filler).map(|_| random_key(&mut rng)));
        let name = format!("{i}.zip");
        let signed_by = if p.bad_file == Some(i) {
            &stranger
        } else {
            &trusted
        };
        http.answer(&file_url("440", &name), 200, zip_of(keys, signed_by));
        entries.push((100 * (i as i64 + 1), name.clone()));
        files.push(name);
    }
    if p.files >= 2 {
        // Listed twice: matched once, at its first listing.
        entries.push((100 * (p.files as i64 + 1), files[1].clone()));
    }
    http.answer(&list_url("440"), 200, list("440", &entries));

    // Different watermarks: some phones checked before, when only the older half of the files
    // was listed (for some of them the oldest file could not be downloaded then).
    let half = p.files.div_ceil(2);
    let earlier = same_answers(&http);
    earlier.answer(&list_url("440"), 200, list("440", &entries[..half]));
    let earlier_missing = same_answers(&earlier);
    earlier_missing.answer(&file_url("440", &files[0]), 404, "");
    for (i, phone) in phones.iter_mut().enumerate() {
        match i % 4 {
            1 => drop(phone.check(T0 - 86_400, &earlier_missing).unwrap()),
            2 => drop(phone.check(T0 - 86_400, &earlier).unwrap()),
            _ => {}
        }
    }
    City {
        phones,
        http,
        trusted,
        stranger,
        files,
    }
}

/// Copies of the phones, to be checked one by one.
fn copies(phones: &[Phone<MemoryStorage>]) -> Vec<Phone<MemoryStorage>> {
    phones
        .iter()
        .map(|p| Phone::new(p.storage().clone()).with_threads(1))
        .collect()
}

fn notified(p: &Phone<MemoryStorage>) -> Option<String> {
    p.storage().setting("notified_days").unwrap()
}

/// Every phone has exactly the answer and the storage its own check gave its copy.
fn assert_same(
    lab: &[Phone<MemoryStorage>],
    lab_reports: &[Result<CheckReport, Error>],
    alone: &[Phone<MemoryStorage>],
    alone_reports: &[Result<CheckReport, Error>],
) {
    assert_eq!(lab_reports.len(), alone_reports.len());
    for (i, (a, b)) in lab_reports.iter().zip(alone_reports).enumerate() {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "phone {i}: report"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "phone {i}: error"),
            _ => panic!("phone {i}: {a:?} in the lab, {b:?} alone"),
        }
        let (x, y) = (lab[i].storage(), alone[i].storage());
        assert_eq!(
            x.daily_summaries().unwrap(),
            y.daily_summaries().unwrap(),
            "phone {i}: daily summaries"
        );
        assert_eq!(
            x.exposure_windows().unwrap(),
            y.exposure_windows().unwrap(),
            "phone {i}: exposure windows"
        );
        assert_eq!(
            notified(&lab[i]),
            notified(&alone[i]),
            "phone {i}: notified"
        );
        // Everything else too: settings (watermark, processed and failed files, configuration,
        // last check), keys and sightings.
        assert_eq!(format!("{x:?}"), format!("{y:?}"), "phone {i}: storage");
    }
}

fn checked(reports: &[Result<CheckReport, Error>]) -> Vec<&CheckReport> {
    reports.iter().filter_map(|r| r.as_ref().ok()).collect()
}

#[test]
fn check_all_gives_every_phone_what_its_own_check_gives_it() {
    let params = Params {
        seed: 12,
        phones: 240,
        sources: 30,
        files: 6,
        noise: 40,
        filler: 150,
        bad_file: Some(3),
    };
    let City {
        mut phones,
        http,
        trusted,
        stranger,
        files,
    } = city(&params);
    // Phones with other settings: another region (its own list), a phone trusting only the
    // stranger (for which the bad file is the good one), one never set up, and a region whose
    // list is not valid.
    let other_region = {
        let mut rng = StdRng::seed_from_u64(99);
        let mut source = configured("441", &[&trusted]);
        let mut p = configured("441", &[&trusted]);
        p.meet(&mut source, T0 - 86_400, 30, 45, &mut rng).unwrap();
        let record = source.key_for(T0 - 86_400, &mut rng).unwrap();
        let key = diagnosis(&record, ReportType::ConfirmedTest, 2);
        http.answer(&file_url("441", "a.zip"), 200, zip_of(vec![key], &trusted));
        http.answer(&list_url("441"), 200, list("441", &[(50, "a.zip".into())]));
        p
    };
    phones.push(other_region);
    let mut trusts_the_stranger = Phone::new(phones[7].storage().clone()).with_threads(1);
    trusts_the_stranger
        .configure(&PhoneSettings {
            server_url: SERVER.into(),
            region: "440".into(),
            public_keys_pem: vec![stranger.verifier().to_pem()],
            tx_power_dbm: -10,
        })
        .unwrap();
    phones.push(trusts_the_stranger);
    phones.push(Phone::new(MemoryStorage::default()));
    phones.push(configured("442", &[&trusted]));
    http.answer(&list_url("442"), 200, "<html>not a list</html>");
    let n = phones.len();

    let mut alone = copies(&phones);
    let lab_http = same_answers(&http);
    let alone_http = same_answers(&http);
    let lab = Lab::new().with_keys_per_batch(700);
    let lab_reports = lab.check_all(&mut phones, T0, &lab_http);
    let alone_reports: Vec<_> = alone.iter_mut().map(|p| p.check(T0, &alone_http)).collect();
    assert_same(&phones, &lab_reports, &alone, &alone_reports);

    // The city is not trivial: some phones matched keys and were notified, some matched keys
    // and were not, the bad file failed for the phones that needed it.
    let ok = checked(&lab_reports);
    assert_eq!(ok.len(), n - 2, "all but the two broken phones checked");
    let matched = ok.iter().filter(|r| r.matched_keys > 0).count();
    let notified_now = ok
        .iter()
        .filter(|r| !r.new_high_risk_days.is_empty())
        .count();
    let matched_not_notified = ok
        .iter()
        .filter(|r| r.matched_keys > 0 && r.new_high_risk_days.is_empty())
        .count();
    assert!(matched >= 20, "{matched} phones matched keys");
    assert!(notified_now >= 5, "{notified_now} phones notified");
    assert!(
        matched_not_notified >= 5,
        "{matched_not_notified} phones matched keys below the rule"
    );
    let bad = file_url("440", &files[3]);
    assert!(lab_reports[..params.phones].iter().all(|r| {
        let r = r.as_ref().unwrap();
        r.files_failed.len() == 1
            && r.files_failed[0].url == bad
            && r.files_failed[0].reason.contains("no signature verifies")
    }));
    let with_the_stranger = lab_reports[n - 3].as_ref().unwrap();
    assert_eq!(
        with_the_stranger.files_processed, 1,
        "only the stranger's file verifies for the phone trusting it"
    );
    assert_eq!(with_the_stranger.files_failed.len(), files.len() - 1);
    assert_eq!(lab_reports[n - 4].as_ref().unwrap().matched_keys, 1);
    assert!(matches!(lab_reports[n - 2], Err(Error::NotInitialised)));
    assert!(matches!(lab_reports[n - 1], Err(Error::BadList { .. })));
    // Phones with different watermarks did different work.
    let processed = |i: usize| lab_reports[i].as_ref().unwrap().files_processed;
    assert_eq!(processed(0), files.len() - 1); // never checked before
    assert_eq!(processed(1), files.len() - 3); // had 1.zip and 2.zip (not 0.zip)
                                               // Had 0.zip to 2.zip, its watermark past them; 1.zip is listed again later, so it is new.
    assert_eq!(processed(2), files.len() - 3);
    assert_eq!(lab_reports[2].as_ref().unwrap().files_failed.len(), 1);

    // Each file once, the configuration once, each list once: not once per phone.
    for name in &files {
        assert_eq!(lab_http.times_asked(&file_url("440", name)), 1, "{name}");
        assert!(
            alone_http.times_asked(&file_url("440", name)) > 100,
            "{name}"
        );
    }
    assert_eq!(lab_http.times_asked(&file_url("441", "a.zip")), 1);
    for url in [
        format!("{SERVER}/c19r/exposure_configuration/configuration.json"),
        format!("{SERVER}/c19r/exposure_configuration/risk_calculation_configuration.json"),
        list_url("440"),
        list_url("441"),
        list_url("442"),
    ] {
        assert_eq!(lab_http.times_asked(&url), 1, "{url}");
    }

    // Again: nothing new is matched; the bad file is tried again (once), the rest is not.
    let lab_again = lab.check_all(&mut phones, T0 + 60, &lab_http);
    let alone_again: Vec<_> = alone
        .iter_mut()
        .map(|p| p.check(T0 + 60, &alone_http))
        .collect();
    assert_same(&phones, &lab_again, &alone, &alone_again);
    for r in checked(&lab_again) {
        assert_eq!(r.matched_keys, 0);
        assert!(r.new_high_risk_days.is_empty());
    }
    // Every file failed for the phone trusting only the stranger: each downloaded once more.
    for name in &files {
        assert_eq!(lab_http.times_asked(&file_url("440", name)), 2, "{name}");
    }
    assert_eq!(lab_http.times_asked(&file_url("441", "a.zip")), 1);

    // The server fixes the bad file: matched now, for the phones that had not processed it.
    let fixed = same_answers(&lab_http);
    let keys = SignedExport::from_zip(&lab_http.answers.borrow()[&bad].clone().unwrap().body)
        .unwrap()
        .export
        .keys;
    fixed.answer(&bad, 200, zip_of(keys, &trusted));
    let lab_fixed = lab.check_all(&mut phones, T0 + 120, &fixed);
    let alone_fixed: Vec<_> = alone
        .iter_mut()
        .map(|p| p.check(T0 + 120, &fixed))
        .collect();
    assert_same(&phones, &lab_fixed, &alone, &alone_fixed);
    assert!(checked(&lab_fixed).iter().any(|r| r.matched_keys > 0));
}

/// A storage that can be made to fail reading sightings.
#[derive(Debug, Clone, Default)]
struct Flaky {
    inner: MemoryStorage,
    broken: bool,
}

impl Storage for Flaky {
    fn teks(&self) -> Result<Vec<TekRecord>, StorageError> {
        self.inner.teks()
    }
    fn put_tek(&mut self, tek: &TekRecord) -> Result<(), StorageError> {
        self.inner.put_tek(tek)
    }
    fn delete_teks_before(&mut self, interval: IntervalNumber) -> Result<u64, StorageError> {
        self.inner.delete_teks_before(interval)
    }
    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StorageError> {
        self.inner.add_sightings(sightings)
    }
    fn sightings(&self) -> Result<Vec<Sighting>, StorageError> {
        if self.broken {
            return Err(StorageError::Backend("the disk is gone".into()));
        }
        self.inner.sightings()
    }
    fn delete_sightings_before(&mut self, at: i64) -> Result<u64, StorageError> {
        self.inner.delete_sightings_before(at)
    }
    fn setting(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.inner.setting(name)
    }
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StorageError> {
        self.inner.set_setting(name, value)
    }
    fn daily_summaries(&self) -> Result<Vec<DailySummary>, StorageError> {
        self.inner.daily_summaries()
    }
    fn exposure_windows(&self) -> Result<Vec<ExposureWindow>, StorageError> {
        self.inner.exposure_windows()
    }
    fn commit_check(
        &mut self,
        summaries: &[DailySummary],
        windows: &[ExposureWindow],
        settings: &[(String, String)],
    ) -> Result<(), StorageError> {
        self.inner.commit_check(summaries, windows, settings)
    }
    fn wipe(&mut self) -> Result<(), StorageError> {
        self.inner.wipe()
    }
}

#[test]
fn a_phone_whose_storage_fails_gets_its_own_error_and_the_others_go_on() {
    let params = Params {
        seed: 5,
        phones: 30,
        sources: 6,
        files: 3,
        noise: 10,
        filler: 20,
        bad_file: None,
    };
    let City { phones, http, .. } = city(&params);
    let mut flaky: Vec<Phone<Flaky>> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Phone::new(Flaky {
                inner: p.storage().clone(),
                broken: i == 4,
            })
        })
        .collect();
    let before = format!("{:?}", flaky[4].storage());
    let mut alone = copies(&phones);
    let reports = Lab::new()
        .with_threads(2)
        .check_all(&mut flaky, T0, &same_answers(&http));
    let alone_http = same_answers(&http);
    let alone_reports: Vec<_> = alone.iter_mut().map(|p| p.check(T0, &alone_http)).collect();
    for (i, (lab, own)) in reports.iter().zip(&alone_reports).enumerate() {
        if i == 4 {
            let err = lab.as_ref().unwrap_err();
            assert!(err.to_string().contains("the disk is gone"), "{err}");
            assert_eq!(
                format!("{:?}", flaky[4].storage()),
                before,
                "nothing changed"
            );
        } else {
            assert_eq!(lab.as_ref().unwrap(), own.as_ref().unwrap(), "phone {i}");
            assert_eq!(
                format!("{:?}", flaky[i].storage().inner),
                format!("{:?}", alone[i].storage()),
                "phone {i}"
            );
        }
    }
    assert!(checked(&reports).iter().any(|r| r.matched_keys > 0));
}

/// The settings a check writes.
const CHECK_SETTINGS: [&str; 7] = [
    "last_created:440",
    "processed_files:440",
    "failed_files:440",
    "notified_days",
    "risk_configuration",
    "exposure_configuration",
    "last_check",
];

fn check_settings<S: Storage>(s: &S) -> Vec<Option<String>> {
    CHECK_SETTINGS
        .iter()
        .map(|name| s.setting(name).unwrap())
        .collect()
}

/// A SQLite phone holding what `p` holds.
fn on_sqlite(p: &Phone<MemoryStorage>, path: &std::path::Path) -> Phone<SqliteStorage> {
    let mut s = SqliteStorage::open(path).unwrap();
    let from = p.storage();
    for tek in from.teks().unwrap() {
        s.put_tek(&tek).unwrap();
    }
    s.add_sightings(&from.sightings().unwrap()).unwrap();
    for name in ["server_url", "region", "public_keys", "tx_power"] {
        s.set_setting(name, &from.setting(name).unwrap().unwrap())
            .unwrap();
    }
    let settings: Vec<(String, String)> = CHECK_SETTINGS
        .iter()
        .zip(check_settings(from))
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect();
    s.commit_check(
        &from.daily_summaries().unwrap(),
        &from.exposure_windows().unwrap(),
        &settings,
    )
    .unwrap();
    Phone::new(s).with_threads(1)
}

#[test]
fn sqlite_phones_in_a_lab_get_what_their_own_checks_give() {
    let params = Params {
        seed: 8,
        phones: 12,
        sources: 4,
        files: 3,
        noise: 10,
        filler: 10,
        bad_file: Some(0),
    };
    let City { phones, http, .. } = city(&params);
    let dir = tempfile::tempdir().unwrap();
    let copy = |set: &str| -> Vec<Phone<SqliteStorage>> {
        phones
            .iter()
            .enumerate()
            .map(|(i, p)| on_sqlite(p, &dir.path().join(format!("{set}-{i}.db"))))
            .collect()
    };
    let (mut lab, mut alone) = (copy("lab"), copy("alone"));
    let reports = Lab::new().check_all(&mut lab, T0, &same_answers(&http));
    let alone_http = same_answers(&http);
    for (i, phone) in alone.iter_mut().enumerate() {
        let own = phone.check(T0, &alone_http).unwrap();
        assert_eq!(reports[i].as_ref().unwrap(), &own, "phone {i}");
        let (x, y) = (lab[i].storage(), phone.storage());
        assert_eq!(x.daily_summaries().unwrap(), y.daily_summaries().unwrap());
        assert_eq!(x.exposure_windows().unwrap(), y.exposure_windows().unwrap());
        assert_eq!(check_settings(x), check_settings(y), "phone {i}");
        assert_eq!(x.sightings().unwrap(), y.sightings().unwrap(), "phone {i}");
    }
    assert!(checked(&reports).iter().any(|r| r.matched_keys > 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Small random cities, checked in batches of a few keys: the lab equals per-phone checks,
    /// twice in a row.
    #[test]
    fn small_cities_check_alike_in_the_lab_and_alone(
        seed in any::<u64>(),
        phones in 1usize..8,
        sources in 1usize..5,
        files in 1usize..5,
        noise in 0usize..20,
        filler in 0usize..6,
        bad in proptest::option::of(0usize..5),
        keys_per_batch in 1usize..40,
        threads in 1usize..3,
    ) {
        let params = Params {
            seed,
            phones,
            sources,
            files,
            noise,
            filler,
            bad_file: bad.filter(|&b| b < files),
        };
        let City { mut phones, http, .. } = city(&params);
        let mut alone = copies(&phones);
        let lab = Lab::new()
            .with_threads(threads)
            .with_keys_per_batch(keys_per_batch);
        let lab_http = same_answers(&http);
        let alone_http = same_answers(&http);
        let urls: Vec<String> = (0..files).map(|i| file_url("440", &format!("{i}.zip"))).collect();
        for (round, now) in [T0, T0 + 3600].into_iter().enumerate() {
            let reports = lab.check_all(&mut phones, now, &lab_http);
            let own: Vec<_> = alone.iter_mut().map(|p| p.check(now, &alone_http)).collect();
            assert_same(&phones, &reports, &alone, &own);
            if round == 1 {
                for r in checked(&reports) {
                    prop_assert_eq!(r.matched_keys, 0);
                }
            }
            for url in &urls {
                prop_assert!(lab_http.times_asked(url) <= round + 1, "{} in round {}", url, round);
            }
        }
    }
}

#[test]
fn sightings_are_compact_and_pruned_at_14_days() {
    assert_eq!(std::mem::size_of::<Sighting>(), 48);
    assert_eq!(PACKED_SIGHTING_BYTES, 27);
    let trusted = signer(1);
    let mut rng = StdRng::seed_from_u64(4);
    let mut other = configured("440", &[&trusted]);
    let mut p = configured("440", &[&trusted]);
    // 30 days of one 8-hour meeting a day, pruned every day as a running phone would be.
    let mut peak = 0;
    for day in 0..30 {
        let now = T0 + day * 86_400;
        p.meet(&mut other, now - 8 * 3600, 8 * 60, 50, &mut rng)
            .unwrap();
        p.prune(now).unwrap();
        other.prune(now).unwrap();
        let kept = p.storage().sightings().unwrap();
        assert!(kept.iter().all(|s| s.at >= now - 14 * 86_400), "day {day}");
        peak = peak.max(kept.len());
        let bytes = p.storage().sighting_bytes();
        assert!(
            bytes <= kept.len() * PACKED_SIGHTING_BYTES * 3 / 2 + 64 * PACKED_SIGHTING_BYTES,
            "day {day}: {bytes} bytes for {} sightings",
            kept.len()
        );
    }
    assert!(peak < 15 * 8 * 60 / 4, "{peak} sightings kept at most");
    assert_eq!(
        p.status().unwrap().sightings,
        p.storage().sighting_count().unwrap()
    );
    assert!(other.storage().teks().unwrap().len() <= 15);
}

#[test]
fn sightings_within_the_tolerance_across_midnight_are_matched_as_alone() {
    use cocoa_device::matching::match_straightforward;
    use gaen::Metadata;
    let trusted = signer(1);
    let day = DAY - 2;
    // A key of `day`, and one of the day after that stops after an hour.
    let keys: Vec<DiagnosisKey> = [(day, 144), (day + 1, 6)]
        .iter()
        .enumerate()
        .map(|(i, &(d, period))| DiagnosisKey {
            key: Tek::from_bytes([i as u8 + 1; 16]),
            rolling_start: IntervalNumber::new((d * 144) as u32),
            rolling_period: RollingPeriod::new(period).unwrap(),
            transmission_risk_level: None,
            report_type: Some(ReportType::ConfirmedTest),
            days_since_onset: Some(DaysSinceOnset::new(0).unwrap()),
        })
        .collect();
    let heard = |key: &DiagnosisKey, interval: i64, heard_in: i64, second: i64| {
        let (rpik, aemk) = key.key.derive();
        let rpi = rpik.rpi(IntervalNumber::new(interval as u32));
        let at = heard_in * 600 + second;
        Sighting {
            at,
            rssi: -60,
            rpi,
            aem: aemk.encrypt(&rpi, &Metadata::v1_0(-10)),
            previous_scan_at: Some(at - 300),
        }
    };
    let last = day * 144 + 143;
    let next = (day + 1) * 144;
    // Late intervals of `day` heard in the next day, early ones of the next day's key heard the
    // day before: within two hours (counted), or beyond (not). One sighting per RPI, so no
    // replay cut applies.
    let sightings = vec![
        heard(&keys[0], last, last + 12, 30),
        heard(&keys[0], last - 1, last - 1 + 13, 30),
        heard(&keys[0], last - 2, last - 2 + 7, 30),
        heard(&keys[1], next, next - 12, 30),
        heard(&keys[1], next + 1, next + 1 - 14, 30),
        heard(&keys[1], next + 2, next + 2 - 9, 30),
    ];
    let reference = match_straightforward(&keys, &sightings);
    assert_eq!(reference.len(), 2);
    assert!(reference.iter().all(|m| m.sightings.len() == 2));

    let http = FakeHttp::default();
    serve_configuration(&http);
    http.answer(&file_url("440", "k.zip"), 200, zip_of(keys, &trusted));
    http.answer(&list_url("440"), 200, list("440", &[(10, "k.zip".into())]));
    let mut phones = vec![configured("440", &[&trusted])];
    phones[0].storage_mut().add_sightings(&sightings).unwrap();
    let mut alone = copies(&phones);
    let reports = Lab::new()
        .with_threads(1)
        .check_all(&mut phones, T0, &same_answers(&http));
    let own = vec![alone[0].check(T0, &same_answers(&http))];
    assert_same(&phones, &reports, &alone, &own);
    assert_eq!(reports[0].as_ref().unwrap().matched_keys, 2);
    let windows = phones[0].storage().exposure_windows().unwrap();
    let instances: usize = windows.iter().map(|w| w.scan_instances.len()).sum();
    assert_eq!(instances, 4, "{windows:?}");
}
