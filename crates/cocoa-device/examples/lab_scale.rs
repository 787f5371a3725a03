//! How `Lab::check_all` scales: a city of phones holding random sightings (and a few of
//! published keys) checks once against an in-memory server; prints one JSON object with the
//! time of `check_all` and, for comparison, of `Phone::check` on a sample of copies.
//!
//! `cargo run --release -p cocoa-device --example lab_scale -- PHONES SIGHTINGS KEYS [SAMPLE]`
//! (defaults: 10000 phones, 1500 sightings each, 14000 keys in 14 files, a sample of 100).

use cocoa_api::{ExposureConfiguration, ListEntry, RiskCalculationConfiguration};
use cocoa_device::storage::PACKED_SIGHTING_BYTES;
use cocoa_device::{
    Http, Lab, MemoryStorage, NetworkError, Phone, PhoneSettings, Response, Sighting, Storage,
};
use gaen::{
    Aem, DaysSinceOnset, DiagnosisKey, ExportSigner, IntervalNumber, KeyExport, Metadata,
    ReportType, RollingPeriod, Rpi, SignatureInfo, SignedExport, Tek,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Instant;

const SERVER: &str = "http://server.test";
const DAY: i64 = 20_412;
const NOW: i64 = DAY * 86_400 + 9 * 3600;

/// A server in a map.
struct Server(HashMap<String, Vec<u8>>);

impl Http for Server {
    fn get(&self, url: &str) -> Result<Response, NetworkError> {
        Ok(match self.0.get(url) {
            Some(body) => Response {
                status: 200,
                body: body.clone(),
                retry_after: None,
            },
            None => Response {
                status: 404,
                body: Vec::new(),
                retry_after: None,
            },
        })
    }

    fn put_json(&self, url: &str, _: &[u8]) -> Result<Response, NetworkError> {
        self.get(url)
    }
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .map(|a| a.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let phones_n = arg(1, 10_000);
    let sightings_n = arg(2, 1_500);
    let keys_n = arg(3, 14_000);
    let sample = arg(4, 100).min(phones_n);
    let mut rng = StdRng::seed_from_u64(1);
    let signer = ExportSigner::generate(&mut rng, SignatureInfo::p256("440", "v1"));
    let settings = PhoneSettings {
        server_url: SERVER.into(),
        region: "440".into(),
        public_keys_pem: vec![signer.verifier().to_pem()],
        tx_power_dbm: -10,
    };

    let keys: Vec<DiagnosisKey> = (0..keys_n)
        .map(|_| DiagnosisKey {
            key: Tek::from_bytes(rng.gen()),
            rolling_start: IntervalNumber::new(((DAY - rng.gen_range(1..=14)) * 144) as u32),
            rolling_period: RollingPeriod::FULL_DAY,
            transmission_risk_level: None,
            report_type: Some(ReportType::ConfirmedTest),
            days_since_onset: Some(DaysSinceOnset::new(rng.gen_range(0..=5)).unwrap()),
        })
        .collect();
    let mut server = HashMap::new();
    server.insert(
        format!("{SERVER}/c19r/exposure_configuration/configuration.json"),
        serde_json::to_vec(&ExposureConfiguration::default()).unwrap(),
    );
    server.insert(
        format!("{SERVER}/c19r/exposure_configuration/risk_calculation_configuration.json"),
        serde_json::to_vec(&RiskCalculationConfiguration::default()).unwrap(),
    );
    let files = 14;
    let mut list = Vec::new();
    for (i, chunk) in keys.chunks(keys_n.div_ceil(files).max(1)).enumerate() {
        let url = format!("{SERVER}/c19r/440/{i}.zip");
        let export = KeyExport {
            region: "440".into(),
            batch_num: 1,
            batch_size: 1,
            keys: chunk.to_vec(),
            ..Default::default()
        };
        let zip = SignedExport::sign(export, std::slice::from_ref(&signer))
            .unwrap()
            .to_zip();
        server.insert(url.clone(), zip);
        list.push(ListEntry {
            region: "440".into(),
            url,
            created: 100 * (i as i64 + 1),
        });
    }
    server.insert(
        format!("{SERVER}/c19r/440/list.json"),
        serde_json::to_vec(&list).unwrap(),
    );
    let server = Server(server);

    let built = Instant::now();
    let mut phones: Vec<Phone<MemoryStorage>> = (0..phones_n)
        .map(|i| {
            let mut p = Phone::new(MemoryStorage::default()).with_threads(1);
            p.configure(&settings).unwrap();
            let mut sightings: Vec<Sighting> = (0..sightings_n)
                .map(|j| {
                    let at = NOW - 14 * 86_400 + (j as i64 * 14 * 86_400) / sightings_n as i64;
                    Sighting {
                        at,
                        rssi: rng.gen_range(-90..=-40),
                        rpi: Rpi::from_bytes(rng.gen()),
                        aem: Aem::from_bytes(rng.gen()),
                        previous_scan_at: Some(at - 240),
                    }
                })
                .collect();
            if i % 20 == 0 && !keys.is_empty() {
                // One in twenty phones met someone whose key is published: 20 minutes.
                let key = &keys[rng.gen_range(0..keys.len())];
                let (rpik, aemk) = key.key.derive();
                let start = i64::from(key.rolling_start.get()) * 600 + 12 * 3600;
                for k in 0..5 {
                    let at = start + k * 240;
                    let rpi = rpik.rpi(IntervalNumber::new((at / 600) as u32));
                    sightings.push(Sighting {
                        at,
                        rssi: -60,
                        rpi,
                        aem: aemk.encrypt(&rpi, &Metadata::v1_0(-10)),
                        previous_scan_at: Some(at - 240),
                    });
                }
            }
            p.storage_mut().add_sightings(&sightings).unwrap();
            p
        })
        .collect();
    let build_seconds = built.elapsed().as_secs_f64();
    let sighting_bytes: usize = phones.iter().map(|p| p.storage().sighting_bytes()).sum();
    let mut alone: Vec<Phone<MemoryStorage>> = phones[..sample]
        .iter()
        .map(|p| Phone::new(p.storage().clone()).with_threads(0))
        .collect();

    let lab = Lab::new();
    let started = Instant::now();
    let reports = lab.check_all(&mut phones, NOW, &server);
    let lab_seconds = started.elapsed().as_secs_f64();
    let matched = reports
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.matched_keys > 0))
        .count();
    let again = Instant::now();
    lab.check_all(&mut phones, NOW + 60, &server);
    let again_seconds = again.elapsed().as_secs_f64();

    let started = Instant::now();
    for p in &mut alone {
        p.check(NOW, &server).unwrap();
    }
    let alone_seconds = started.elapsed().as_secs_f64();
    for (i, p) in alone.iter().enumerate() {
        assert_eq!(
            p.storage().daily_summaries().unwrap(),
            phones[i].storage().daily_summaries().unwrap()
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "phones": phones_n,
            "sightings_per_phone": sightings_n,
            "keys": keys_n,
            "threads": rayon::current_num_threads(),
            "build_seconds": build_seconds,
            "check_all_seconds": lab_seconds,
            "check_all_again_seconds": again_seconds,
            "phones_matched": matched,
            "per_phone_check_seconds_each": alone_seconds / sample.max(1) as f64,
            "per_phone_checks_extrapolated_seconds":
                alone_seconds / sample.max(1) as f64 * phones_n as f64,
            "sighting_bytes_per_phone": sighting_bytes / phones_n.max(1),
            "packed_sighting_bytes": PACKED_SIGHTING_BYTES,
        })
    );
}
