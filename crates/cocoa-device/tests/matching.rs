//! The matching rules (gaen.md §5 and §2), each checked on the engine and on the reference
//! matcher, and a property test that the two always agree, on any number of threads.

use cocoa_device::matching::{match_keys, match_straightforward, Engine, SightingIndex};
use cocoa_device::{KeyMatch, Sighting};
use gaen::{
    Aem, DiagnosisKey, ExportSigner, IntervalNumber, KeyExport, Metadata, ReportType,
    RollingPeriod, Rpi, SignatureInfo, SignedExport, Tek,
};
use proptest::prelude::*;

/// 2026-11-28 00:00 UTC as an interval number.
const DAY: u32 = 20_785 * 144;

fn key(seed: u8, start: u32, period: u32, report_type: Option<ReportType>) -> DiagnosisKey {
    DiagnosisKey {
        key: Tek::from_bytes([seed; 16]),
        rolling_start: IntervalNumber::new(start),
        rolling_period: RollingPeriod::new(i64::from(period)).unwrap(),
        transmission_risk_level: None,
        report_type,
        days_since_onset: None,
    }
}

fn full_day(seed: u8) -> DiagnosisKey {
    key(seed, DAY, 144, Some(ReportType::ConfirmedTest))
}

/// A sighting of `key`'s RPI of interval `interval`, heard at `at` with `metadata`.
fn heard(key: &DiagnosisKey, interval: u32, at: i64, rssi: i8, metadata: Metadata) -> Sighting {
    let (rpik, aemk) = key.key.derive();
    let rpi = rpik.rpi(IntervalNumber::new(interval));
    Sighting {
        at,
        rssi,
        rpi,
        aem: aemk.encrypt(&rpi, &metadata),
        previous_scan_at: Some(at - 240),
    }
}

fn start_of(interval: u32) -> i64 {
    i64::from(interval) * 600
}

/// Matches with the reference and with the engine on 1, 2 and 3 threads; all must agree.
fn matched(keys: &[DiagnosisKey], sightings: &[Sighting]) -> Vec<KeyMatch> {
    let reference = match_straightforward(keys, sightings);
    for threads in 1..=3 {
        assert_eq!(
            match_keys(keys, sightings, threads),
            reference,
            "engine on {threads} thread(s)"
        );
    }
    reference
}

fn times(m: &KeyMatch) -> Vec<i64> {
    m.sightings.iter().map(|s| s.at).collect()
}

#[test]
fn tolerance_is_twelve_intervals_either_way() {
    let k = full_day(1);
    let j = DAY + 60;
    for offset in -14i64..=14 {
        let heard_in = i64::from(j) + offset;
        for at in [heard_in * 600, heard_in * 600 + 599] {
            let s = heard(&k, j, at, -60, Metadata::v1_0(8));
            let found = matched(std::slice::from_ref(&k), &[s]);
            if offset.abs() <= 12 {
                assert_eq!(found.len(), 1, "offset {offset}, at {at}");
                assert_eq!(times(&found[0]), vec![at]);
            } else {
                assert!(found.is_empty(), "offset {offset}, at {at}");
            }
        }
    }
}

#[test]
fn tolerance_reaches_past_the_key_period_at_both_ends() {
    // The first and last intervals of the key, heard 12 intervals out; 13 is too far.
    let k = full_day(2);
    let cases = [
        (DAY, i64::from(DAY) - 12, true),
        (DAY, i64::from(DAY) - 13, false),
        (DAY + 143, i64::from(DAY) + 143 + 12, true),
        (DAY + 143, i64::from(DAY) + 143 + 13, false),
    ];
    for (interval, heard_in, expected) in cases {
        let s = heard(&k, interval, heard_in * 600 + 300, -60, Metadata::v1_0(8));
        assert_eq!(matched(std::slice::from_ref(&k), &[s]).len() == 1, expected);
    }
}

#[test]
fn replays_after_twenty_minutes_are_dropped() {
    let k = full_day(3);
    let j = DAY + 10;
    let t0 = start_of(j) + 5;
    let s = |at| heard(&k, j, at, -60, Metadata::v1_0(8));
    // Given out of order: the cut counts from the earliest sighting.
    let sightings = [s(t0 + 1201), s(t0 + 1200), s(t0 + 600), s(t0)];
    let found = matched(std::slice::from_ref(&k), &sightings);
    assert_eq!(times(&found[0]), vec![t0, t0 + 600, t0 + 1200]);
}

#[test]
fn the_replay_cut_counts_from_the_first_sighting_even_outside_the_tolerance() {
    let k = full_day(4);
    let j = DAY + 40;
    // First heard 13 intervals early (not a match itself); 20 minutes later it is still
    // outside the tolerance, and everything after that is a replay.
    let t0 = start_of(j - 13);
    let sightings = [
        heard(&k, j, t0, -60, Metadata::v1_0(8)),
        heard(&k, j, t0 + 1201, -60, Metadata::v1_0(8)),
        heard(&k, j, start_of(j), -60, Metadata::v1_0(8)),
    ];
    assert!(matched(std::slice::from_ref(&k), &sightings).is_empty());
}

#[test]
fn transmit_power_must_be_within_minus_50_and_20_dbm() {
    let k = full_day(5);
    let cases = [
        (-51, false),
        (-50, true),
        (0, true),
        (20, true),
        (21, false),
        (127, false),
    ];
    for (i, (tx, accepted)) in cases.into_iter().enumerate() {
        let j = DAY + 20 * i as u32;
        let s = heard(&k, j, start_of(j), -60, Metadata::v1_0(tx));
        let found = matched(std::slice::from_ref(&k), &[s]);
        assert_eq!(found.len() == 1, accepted, "tx power {tx}");
        if accepted {
            assert_eq!(found[0].sightings[0].tx_power_dbm, tx);
        }
    }
}

#[test]
fn a_garbage_aem_is_rejected_by_its_transmit_power() {
    let k = full_day(6);
    let j = DAY + 7;
    let mut s = heard(&k, j, start_of(j), -60, Metadata::v1_0(8));
    let aemk = k.key.aemk();
    // An AEM that decrypts to 100 dBm.
    s.aem = aemk.encrypt(&s.rpi, &Metadata::v1_0(100));
    assert!(matched(std::slice::from_ref(&k), &[s]).is_empty());
    s.aem = Aem::from_bytes([0; 4]);
    let tx = aemk.decrypt(&s.rpi, &s.aem).tx_power_dbm();
    assert_eq!(
        matched(std::slice::from_ref(&k), &[s]).len(),
        usize::from((-50..=20).contains(&tx))
    );
}

#[test]
fn attenuation_and_metadata_fields() {
    let k = full_day(7);
    let (a, b, c) = (DAY + 1, DAY + 30, DAY + 60);
    let sightings = [
        heard(&k, a, start_of(a), -60, Metadata::v1_0(20)),
        heard(&k, b, start_of(b), -40, Metadata::v1_1(-50, 2)),
        heard(&k, c, start_of(c), -128, Metadata::v1_0(20)),
    ];
    let found = matched(std::slice::from_ref(&k), &sightings);
    let s = &found[0].sightings;
    assert_eq!(
        (s[0].attenuation_db, s[0].calibration_confidence),
        (80, None)
    );
    assert_eq!(
        (s[1].attenuation_db, s[1].calibration_confidence),
        (0, Some(2))
    );
    assert_eq!(s[2].attenuation_db, 148);
    assert_eq!(s[0].previous_scan_at, Some(start_of(a) - 240));
}

#[test]
fn revoked_and_recursive_keys_are_not_matched() {
    let types = [
        (None, true),
        (Some(ReportType::Unknown), true),
        (Some(ReportType::ConfirmedTest), true),
        (Some(ReportType::ConfirmedClinicalDiagnosis), true),
        (Some(ReportType::SelfReport), true),
        (Some(ReportType::Recursive), false),
        (Some(ReportType::Revoked), false),
    ];
    for (report_type, expected) in types {
        let k = key(8, DAY, 144, report_type);
        let s = heard(&k, DAY + 3, start_of(DAY + 3), -60, Metadata::v1_0(8));
        assert_eq!(matched(&[k], &[s]).len() == 1, expected, "{report_type:?}");
    }
}

#[test]
fn keys_without_sightings_are_absent_and_order_is_kept() {
    let keys: Vec<DiagnosisKey> = (10..20).map(full_day).collect();
    let sightings = [
        heard(
            &keys[7],
            DAY + 100,
            start_of(DAY + 100) + 9,
            -70,
            Metadata::v1_0(8),
        ),
        heard(
            &keys[2],
            DAY + 50,
            start_of(DAY + 50),
            -70,
            Metadata::v1_0(8),
        ),
        heard(&keys[2], DAY + 5, start_of(DAY + 5), -70, Metadata::v1_0(8)),
    ];
    let found = matched(&keys, &sightings);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].key, keys[2]);
    assert_eq!(found[1].key, keys[7]);
    // Sightings in time order, whatever order they came in.
    assert_eq!(
        times(&found[0]),
        vec![start_of(DAY + 5), start_of(DAY + 50)]
    );
    assert!(matched(&keys, &[]).is_empty());
    assert!(matched(&[], &sightings).is_empty());
}

#[test]
fn only_the_intervals_of_the_rolling_period_are_matched() {
    let k = key(21, DAY + 30, 10, None);
    let outside = heard(&k, DAY + 40, start_of(DAY + 40), -60, Metadata::v1_0(8));
    let inside = heard(&k, DAY + 39, start_of(DAY + 39), -60, Metadata::v1_0(8));
    assert!(matched(std::slice::from_ref(&k), &[outside]).is_empty());
    assert_eq!(matched(&[k], &[inside, outside]).len(), 1);
}

#[test]
fn streams_of_chunks_and_export_files_match_like_one_slice() {
    let keys: Vec<DiagnosisKey> = (30..130).map(full_day).collect();
    let sightings: Vec<Sighting> = [3usize, 64, 65, 99]
        .iter()
        .map(|&i| heard(&keys[i], DAY + 1, start_of(DAY + 1), -60, Metadata::v1_0(8)))
        .collect();
    let expected = match_straightforward(&keys, &sightings);
    assert_eq!(expected.len(), 4);
    let index = SightingIndex::new(&sightings);
    assert_eq!(index.len(), 4);
    let engine = Engine::new(&index, 2);
    assert_eq!(engine.match_chunks(keys.chunks(7)), expected);
    let signer = ExportSigner::generate(&mut rand::rngs::OsRng, SignatureInfo::p256("440", "v1"));
    let files = keys.chunks(40).map(|chunk| {
        let export = KeyExport {
            region: "440".into(),
            batch_num: 1,
            batch_size: 1,
            keys: chunk.to_vec(),
            ..KeyExport::default()
        };
        let zip = SignedExport::sign(export, std::slice::from_ref(&signer))
            .unwrap()
            .to_zip();
        SignedExport::from_zip(&zip).unwrap()
    });
    assert_eq!(engine.match_export_files(files), expected);
}

/// A sighting planted on purpose: of a key's RPI (maybe just outside its period), heard near
/// the tolerance edges, possibly repeated around the replay cut, with edge transmit powers.
#[derive(Debug, Clone)]
struct Plant {
    key: prop::sample::Index,
    interval_offset: i64,
    heard_offset: i64,
    second: i64,
    repeats: Vec<i64>,
    tx_power: i8,
    rssi: i8,
    genuine_aem: bool,
    confidence: Option<u8>,
}

fn plant() -> impl Strategy<Value = Plant> {
    (
        any::<prop::sample::Index>(),
        -2i64..146,
        -14i64..=14,
        prop_oneof![Just(0i64), Just(599), 0i64..600],
        prop::collection::vec(prop_oneof![Just(1200i64), Just(1201), 0i64..1500], 0..3),
        prop_oneof![Just(-51i8), Just(-50), Just(20), Just(21), any::<i8>()],
        any::<i8>(),
        prop::bool::weighted(0.9),
        prop::option::of(0u8..=3),
    )
        .prop_map(
            |(
                key,
                interval_offset,
                heard_offset,
                second,
                repeats,
                tx_power,
                rssi,
                genuine_aem,
                confidence,
            )| Plant {
                key,
                interval_offset,
                heard_offset,
                second,
                repeats,
                tx_power,
                rssi,
                genuine_aem,
                confidence,
            },
        )
}

fn any_key() -> impl Strategy<Value = DiagnosisKey> {
    (
        any::<[u8; 16]>(),
        0u32..400,
        prop_oneof![Just(144u32), 1u32..=144],
        prop::option::of(0i32..=5),
    )
        .prop_map(|(bytes, start, period, report_type)| DiagnosisKey {
            key: Tek::from_bytes(bytes),
            rolling_start: IntervalNumber::new(DAY + start),
            rolling_period: RollingPeriod::new(i64::from(period)).unwrap(),
            transmission_risk_level: None,
            report_type: report_type.map(|t| ReportType::try_from(t).unwrap()),
            days_since_onset: None,
        })
}

fn world() -> impl Strategy<Value = (Vec<DiagnosisKey>, Vec<Sighting>)> {
    (
        prop::collection::vec(any_key(), 1..8),
        prop::collection::vec(plant(), 0..24),
        prop::collection::vec(
            (any::<[u8; 16]>(), any::<[u8; 4]>(), 0i64..500 * 600),
            0..16,
        ),
        0usize..200,
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut keys, plants, noise, filler, rotate)| {
            let mut sightings = Vec::new();
            for p in &plants {
                let k = p.key.get(&keys);
                let (rpik, aemk) = k.key.derive();
                let interval = i64::from(k.rolling_start.get()) + p.interval_offset;
                let rpi = rpik.rpi(IntervalNumber::new(interval as u32));
                let metadata = match p.confidence {
                    Some(c) => Metadata::v1_1(p.tx_power, c),
                    None => Metadata::v1_0(p.tx_power),
                };
                let aem = if p.genuine_aem {
                    aemk.encrypt(&rpi, &metadata)
                } else {
                    Aem::from_bytes(metadata.to_bytes())
                };
                let mut at = (interval + p.heard_offset) * 600 + p.second;
                for gap in std::iter::once(0).chain(p.repeats.iter().copied()) {
                    at += gap;
                    sightings.push(Sighting {
                        at,
                        rssi: p.rssi,
                        rpi,
                        aem,
                        previous_scan_at: None,
                    });
                }
            }
            for (rpi, aem, at) in noise {
                sightings.push(Sighting {
                    at: i64::from(DAY) * 600 + at,
                    rssi: -70,
                    rpi: Rpi::from_bytes(rpi),
                    aem: Aem::from_bytes(aem),
                    previous_scan_at: Some(0),
                });
            }
            // Filler keys (no sightings) around the planted ones, so parallel tasks and
            // derivation batches cut through the matches.
            let templates = keys.clone();
            keys.extend((0..filler).map(|i| {
                let mut k = templates[i % templates.len()].clone();
                k.key = Tek::from_bytes([
                    (i % 251) as u8 + 1,
                    (i / 251) as u8,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    7,
                    0,
                ]);
                k
            }));
            let by = rotate.index(keys.len());
            keys.rotate_left(by);
            (keys, sightings)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_engine_agrees_with_the_reference((keys, sightings) in world()) {
        let reference = match_straightforward(&keys, &sightings);
        let index = SightingIndex::new(&sightings);
        for threads in [1, 2, 3] {
            let engine = Engine::new(&index, threads);
            prop_assert_eq!(&engine.match_keys(&keys), &reference);
            prop_assert_eq!(&engine.match_chunks(keys.chunks(17)), &reference);
        }
    }
}
