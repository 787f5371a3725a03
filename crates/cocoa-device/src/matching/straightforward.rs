//! The reference matcher: the rules written out as literally as possible, with no filter, no
//! index and no batching. Slow (every RPI of every key against every sighting); the property
//! tests hold the engine to it.

use crate::types::{KeyMatch, MatchedSighting, Sighting};
use gaen::{DiagnosisKey, IntervalNumber, Rpi};
use std::collections::HashMap;

/// Matches `keys` against `sightings` by the rules of gaen.md §5, one comparison at a time.
/// Returns the keys with at least one surviving sighting, in input order.
pub fn match_straightforward(keys: &[DiagnosisKey], sightings: &[Sighting]) -> Vec<KeyMatch> {
    // The first sighting of each RPI, which the replay cut is measured from.
    let mut first_seen: HashMap<Rpi, i64> = HashMap::new();
    for s in sightings {
        first_seen
            .entry(s.rpi)
            .and_modify(|first| *first = (*first).min(s.at))
            .or_insert(s.at);
    }
    let mut matches = Vec::new();
    for key in keys {
        if matches!(
            key.report_type,
            Some(gaen::ReportType::Revoked | gaen::ReportType::Recursive)
        ) {
            continue;
        }
        let (rpik, aemk) = key.key.derive();
        let mut found = Vec::new();
        for i in 0..key.rolling_period.get() {
            let interval = i64::from(key.rolling_start.get()) + i64::from(i);
            let rpi = rpik.rpi(IntervalNumber::new(key.rolling_start.get().wrapping_add(i)));
            for s in sightings.iter().filter(|s| s.rpi == rpi) {
                let heard_in = s.at.div_euclid(600);
                if heard_in < interval - 12 || heard_in > interval + 12 {
                    continue;
                }
                if s.at.saturating_sub(first_seen[&rpi]) > 1200 {
                    continue;
                }
                let metadata = aemk.decrypt(&s.rpi, &s.aem);
                let tx = metadata.tx_power_dbm();
                if !(-50..=20).contains(&tx) {
                    continue;
                }
                found.push(MatchedSighting {
                    at: s.at,
                    rssi: s.rssi,
                    tx_power_dbm: tx,
                    attenuation_db: (i32::from(tx) - i32::from(s.rssi)).max(0) as u8,
                    previous_scan_at: s.previous_scan_at,
                    calibration_confidence: metadata.calibration_confidence(),
                });
            }
        }
        if !found.is_empty() {
            found.sort_by_key(|s| {
                (
                    s.at,
                    s.rssi,
                    s.tx_power_dbm,
                    s.attenuation_db,
                    s.previous_scan_at,
                    s.calibration_confidence,
                )
            });
            matches.push(KeyMatch {
                key: key.clone(),
                sightings: found,
            });
        }
    }
    matches
}
