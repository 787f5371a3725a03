//! The exact matching rules (gaen.md §5 and §2), applied to one identifier at a time: clock
//! tolerance, the replay cut, AEM decryption and the transmit-power bounds. The engine calls
//! them only for the rare identifiers its filter lets through; the baseline of `cocoa bench
//! match` uses them too, so both apply the very same rules.

use crate::types::{KeyMatch, MatchedSighting, Sighting};
use gaen::{Aemk, DiagnosisKey};

/// Seconds per interval number.
pub const INTERVAL_SECONDS: i64 = 600;
/// Clock tolerance: a sighting counts for the RPI of interval `j` only if it was heard during
/// an interval in `j - 12 ..= j + 12` (two hours either way).
pub const TOLERANCE_INTERVALS: i64 = 12;
/// Replay cut: a sighting more than this many seconds after the FIRST sighting of the same RPI
/// (the earliest among all the phone's sightings of it) is a replay and is dropped.
pub const REPLAY_CUT_SECONDS: i64 = 1200;

/// The interval number a sighting was heard in (`floor(at / 600)`, also before 1970).
pub const fn sighting_interval(at: i64) -> i64 {
    at.div_euclid(INTERVAL_SECONDS)
}

/// Whether matching considers a key at all: REVOKED and RECURSIVE keys are skipped; a key
/// without a report type is matched (phones read a missing type as CONFIRMED_TEST).
pub fn is_matchable(key: &DiagnosisKey) -> bool {
    key.report_type.is_none_or(|t| t.is_matchable())
}

/// The intervals a key broadcast in, as plain (unwrapped) numbers: `start ..= start + period - 1`.
pub fn key_intervals(key: &DiagnosisKey) -> std::ops::RangeInclusive<i64> {
    let start = i64::from(key.rolling_start.get());
    start..=start + i64::from(key.rolling_period.get()) - 1
}

/// The sightings of one RPI that count for interval `interval` of a key, appended to `out`.
///
/// `group` must be EVERY sighting of the RPI (of interval `interval` of the key whose AEMK is
/// `aemk`), in time order: its first element is the RPI's first sighting, which the replay cut
/// is measured from.
pub fn admit_group(aemk: &Aemk, interval: i64, group: &[Sighting], out: &mut Vec<MatchedSighting>) {
    let Some(first) = group.first() else { return };
    let replay_limit = first.at.saturating_add(REPLAY_CUT_SECONDS);
    for sighting in group {
        if sighting.at > replay_limit {
            // Time order: every later sighting is a replay too.
            break;
        }
        if (sighting_interval(sighting.at) - interval).abs() > TOLERANCE_INTERVALS {
            continue;
        }
        if let Some(matched) = decrypt(aemk, sighting) {
            out.push(matched);
        }
    }
}

/// The sighting with its metadata decrypted, if the transmit power is plausible.
pub fn decrypt(aemk: &Aemk, sighting: &Sighting) -> Option<MatchedSighting> {
    let metadata = aemk.decrypt(&sighting.rpi, &sighting.aem);
    let tx_power_dbm = metadata.plausible_tx_power_dbm()?;
    let attenuation = (i16::from(tx_power_dbm) - i16::from(sighting.rssi)).clamp(0, 255);
    Some(MatchedSighting {
        at: sighting.at,
        rssi: sighting.rssi,
        tx_power_dbm,
        attenuation_db: attenuation as u8,
        previous_scan_at: sighting.previous_scan_at,
        calibration_confidence: metadata.calibration_confidence(),
    })
}

/// The match of a key, if any sighting survived: sightings in a canonical time order (ties
/// broken by every other field), so that any two matchers agree exactly.
pub fn key_match(key: &DiagnosisKey, mut sightings: Vec<MatchedSighting>) -> Option<KeyMatch> {
    if sightings.is_empty() {
        return None;
    }
    sightings.sort_unstable_by_key(|s| {
        (
            s.at,
            s.rssi,
            s.tx_power_dbm,
            s.attenuation_db,
            s.previous_scan_at,
            s.calibration_confidence,
        )
    });
    Some(KeyMatch {
        key: key.clone(),
        sightings,
    })
}
