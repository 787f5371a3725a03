//! Risk scoring (Exposure Notification v2 with COCOA's configuration): a matched key's sightings
//! become exposure windows, windows become daily summaries, and COCOA's rule decides which days
//! are high risk. Pure functions of their inputs: no I/O, no clock (`gaen.md` section 6,
//! `cocoa-wire.md` sections 3 and 4).
//!
//! Choices where the spec leaves room, each tested in `tests/risk.rs`:
//! - Sightings are split into windows first, then into scan instances within each window; a scan
//!   instance never straddles two windows.
//! - "At most 25.5 s apart" is measured between consecutive sightings (a chain), not from the
//!   instance's first sighting. Times are whole seconds, so 25 s joins and 26 s splits.
//! - `typical_attenuation` rounds halves up (46.5 -> 47).
//! - A previous scan time later than the sighting (a clock jump) counts as unknown (120 s).
//! - A window's calibration confidence is that of its first sighting with v1.1 metadata, else 0.
//! - `days_since_exposure_threshold` is not applied here: it needs today's date, and the caller
//!   already limits what it shows and notifies to the last 15 days.
//! - The notification rule follows COCOA's `ExposureRiskCalculationService` (the fixed, AND
//!   version): the weighted-duration average is the day's weighted duration divided by its
//!   seconds since last scan (an average weight, 0 if none), max/min attenuation are 0 for a
//!   day without scan instances, and a rule whose criteria are all NOP never fires. Unlike COCOA
//!   (which treats an unknown operator as NOP), an unknown operator never holds.

use crate::types::{DailySummary, ExposureWindow, KeyMatch, MatchedSighting, ScanInstance};
use cocoa_api::configuration::{
    infectiousness, Criterion, ExposureConfiguration, RiskCalculationConfiguration,
};
use gaen::ReportType;
use std::collections::BTreeMap;

/// Longest span of one exposure window: a sighting this long or longer after the window's first
/// starts a new window.
pub const WINDOW_SECONDS: i64 = 30 * 60;

/// Sightings at most this far apart (seconds) belong to one scan instance.
pub const SCAN_INSTANCE_GAP_SECONDS: f64 = 25.5;

/// `seconds_since_last_scan` when the time of the previous scan is unknown.
pub const UNKNOWN_SECONDS_SINCE_LAST_SCAN: u32 = 120;

/// `seconds_since_last_scan` counts at most this many whole minutes.
const MAX_MINUTES_SINCE_LAST_SCAN: i64 = 5;

const SECONDS_PER_DAY: i64 = 86_400;

/// Attenuation buckets, in the order of `attenuation_bucket_weights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    Immediate = 0,
    Near = 1,
    Medium = 2,
    Other = 3,
}

/// The bucket of a typical attenuation against thresholds `[t0, t1, t2]`: IMMEDIATE if <= t0,
/// NEAR if <= t1, MEDIUM if <= t2, else OTHER.
pub fn bucket(attenuation_db: u8, thresholds: &[i32; 3]) -> Bucket {
    let a = i32::from(attenuation_db);
    let [t0, t1, t2] = *thresholds;
    if a <= t0 {
        Bucket::Immediate
    } else if a <= t1 {
        Bucket::Near
    } else if a <= t2 {
        Bucket::Medium
    } else {
        Bucket::Other
    }
}

/// The UTC day (days since the epoch) of a unix time.
pub fn utc_day(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(SECONDS_PER_DAY)
}

/// The key's infectiousness: its days since onset through the configured table, or the
/// configured "missing" value when the key has none or the table has no entry for it.
pub fn infectiousness_of(m: &KeyMatch, config: &ExposureConfiguration) -> i32 {
    let mapping = &config.data_mapping;
    m.key
        .days_since_onset
        .and_then(|d| {
            mapping
                .infectiousness_for_days_since_onset_of_symptoms
                .get(&d.get().to_string())
                .copied()
        })
        .unwrap_or(mapping.infectiousness_when_days_since_onset_missing)
}

/// The key's report type, or the configured one when it is absent or UNKNOWN.
pub fn report_type_of(m: &KeyMatch, config: &ExposureConfiguration) -> i32 {
    match m.key.report_type {
        None | Some(ReportType::Unknown) => config.data_mapping.report_type_when_missing,
        Some(t) => t.as_i32(),
    }
}

/// The exposure windows of one matched key, in time order. Empty when the key's infectiousness
/// is NONE or its report type REVOKED; windows scoring below `minimum_window_score` are left out.
pub fn exposure_windows(m: &KeyMatch, config: &ExposureConfiguration) -> Vec<ExposureWindow> {
    let infectiousness = infectiousness_of(m, config);
    let report_type = report_type_of(m, config);
    if infectiousness == infectiousness::NONE || report_type == ReportType::Revoked.as_i32() {
        return Vec::new();
    }
    let d = &config.daily_summaries;
    let weight = |weights: &BTreeMap<String, f64>, key: i32| {
        weights.get(&key.to_string()).copied().unwrap_or(0.0)
    };
    let factor = weight(&d.report_type_weights, report_type)
        * weight(&d.infectiousness_weights, infectiousness);

    let mut sightings = m.sightings.clone();
    sightings.sort_by_key(|s| s.at);

    split_windows(&sightings)
        .into_iter()
        .filter_map(|window| {
            let scan_instances: Vec<ScanInstance> = split_scan_instances(window)
                .iter()
                .map(|i| scan_instance(i))
                .collect();
            let weighted_duration: f64 = scan_instances
                .iter()
                .map(|s| {
                    let b = bucket(s.typical_attenuation_db, &d.attenuation_bucket_threshold_db);
                    f64::from(s.seconds_since_last_scan) * d.attenuation_bucket_weights[b as usize]
                })
                .sum();
            let score = weighted_duration * factor;
            (score >= d.minimum_window_score).then(|| ExposureWindow {
                date: utc_day(window[0].at),
                report_type,
                infectiousness,
                calibration_confidence: window
                    .iter()
                    .find_map(|s| s.calibration_confidence)
                    .unwrap_or(0),
                scan_instances,
                weighted_duration,
                score,
            })
        })
        .collect()
}

/// Time-ordered sightings cut where one is [`WINDOW_SECONDS`] or more after its window's first.
fn split_windows(sightings: &[MatchedSighting]) -> Vec<&[MatchedSighting]> {
    let mut windows = Vec::new();
    let mut start = 0;
    for (i, s) in sightings.iter().enumerate() {
        if s.at - sightings[start].at >= WINDOW_SECONDS {
            windows.push(&sightings[start..i]);
            start = i;
        }
    }
    if start < sightings.len() {
        windows.push(&sightings[start..]);
    }
    windows
}

/// Time-ordered sightings cut where two consecutive ones are more than
/// [`SCAN_INSTANCE_GAP_SECONDS`] apart.
fn split_scan_instances(sightings: &[MatchedSighting]) -> Vec<&[MatchedSighting]> {
    let mut instances = Vec::new();
    let mut start = 0;
    for i in 1..sightings.len() {
        if (sightings[i].at - sightings[i - 1].at) as f64 > SCAN_INSTANCE_GAP_SECONDS {
            instances.push(&sightings[start..i]);
            start = i;
        }
    }
    if start < sightings.len() {
        instances.push(&sightings[start..]);
    }
    instances
}

/// One scan instance from its (non-empty) sightings.
fn scan_instance(sightings: &[MatchedSighting]) -> ScanInstance {
    let sum: u32 = sightings.iter().map(|s| u32::from(s.attenuation_db)).sum();
    let mean = f64::from(sum) / sightings.len() as f64;
    ScanInstance {
        min_attenuation_db: sightings
            .iter()
            .map(|s| s.attenuation_db)
            .min()
            .unwrap_or(0),
        // The mean of u8 values rounds to a u8.
        typical_attenuation_db: mean.round() as u8,
        seconds_since_last_scan: seconds_since_last_scan(
            sightings[0].at,
            sightings[0].previous_scan_at,
        ),
    }
}

/// 60 * min(5, whole minutes since the previous scan), or 120 when that scan's time is unknown
/// (or later than `at`, which only a clock jump produces).
pub fn seconds_since_last_scan(at: i64, previous_scan_at: Option<i64>) -> u32 {
    match previous_scan_at {
        Some(previous) if previous <= at => {
            let minutes = ((at - previous) / 60).min(MAX_MINUTES_SINCE_LAST_SCAN);
            // At most 5 minutes, so the product fits.
            (minutes * 60) as u32
        }
        _ => UNKNOWN_SECONDS_SINCE_LAST_SCAN,
    }
}

/// One summary per UTC day that has windows, sorted by date.
pub fn daily_summaries(windows: &[ExposureWindow]) -> Vec<DailySummary> {
    let mut days: BTreeMap<i64, DailySummary> = BTreeMap::new();
    for w in windows {
        let day = days.entry(w.date).or_insert_with(|| DailySummary {
            date: w.date,
            ..DailySummary::default()
        });
        day.score_sum += w.score;
        day.maximum_score = day.maximum_score.max(w.score);
        day.weighted_duration_sum += w.weighted_duration;
    }
    days.into_values().collect()
}

/// Stored summaries updated with new ones as COCOA does: per date, the larger of each field.
/// Sorted by date; a date in only one of the inputs is kept as it is.
pub fn merge_daily_summaries(stored: &[DailySummary], new: &[DailySummary]) -> Vec<DailySummary> {
    let mut days: BTreeMap<i64, DailySummary> = BTreeMap::new();
    for s in stored.iter().chain(new) {
        days.entry(s.date)
            .and_modify(|d| {
                d.score_sum = d.score_sum.max(s.score_sum);
                d.maximum_score = d.maximum_score.max(s.maximum_score);
                d.weighted_duration_sum = d.weighted_duration_sum.max(s.weighted_duration_sum);
            })
            .or_insert(*s);
    }
    days.into_values().collect()
}

/// COCOA's notification rule: whether `day` is HIGH RISK given the windows of that day (windows
/// of other dates are ignored). Every criterion must hold; a rule that is all NOP never fires,
/// and an unknown operator never holds.
pub fn is_high_risk(
    day: &DailySummary,
    windows_of_day: &[ExposureWindow],
    rule: &RiskCalculationConfiguration,
) -> bool {
    let criteria = [
        &rule.score_sum,
        &rule.weighted_duration_average,
        &rule.seconds_since_last_scan_sum,
        &rule.typical_attenuation_max,
        &rule.typical_attenuation_min,
    ];
    if criteria.iter().all(|c| c.op == "NOP") {
        return false;
    }
    let instances: Vec<&ScanInstance> = windows_of_day
        .iter()
        .filter(|w| w.date == day.date)
        .flat_map(|w| &w.scan_instances)
        .collect();
    let seconds: f64 = instances
        .iter()
        .map(|s| f64::from(s.seconds_since_last_scan))
        .sum();
    let weighted_duration_average = if seconds > 0.0 {
        day.weighted_duration_sum / seconds
    } else {
        0.0
    };
    let typical = instances.iter().map(|s| s.typical_attenuation_db);
    let max = typical.clone().max().map_or(0.0, f64::from);
    let min = typical.min().map_or(0.0, f64::from);
    let holds = |c: &Criterion, x: f64| c.holds(x) == Some(true);
    holds(&rule.score_sum, day.score_sum)
        && holds(&rule.weighted_duration_average, weighted_duration_average)
        && holds(&rule.seconds_since_last_scan_sum, seconds)
        && holds(&rule.typical_attenuation_max, max)
        && holds(&rule.typical_attenuation_min, min)
}

/// The threshold of COCOA's survey flag: the rule's score_sum value (1350).
pub fn survey_threshold(rule: &RiskCalculationConfiguration) -> f64 {
    rule.score_sum.value
}

/// COCOA's survey flag for a day: its maximum window score reaches `threshold`. Unlike the
/// notification rule it looks at the best single window and has no duration condition.
pub fn exposure_detected(day: &DailySummary, threshold: f64) -> bool {
    day.maximum_score >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: i64) -> MatchedSighting {
        MatchedSighting {
            at,
            rssi: -60,
            tx_power_dbm: -10,
            attenuation_db: 50,
            previous_scan_at: None,
            calibration_confidence: None,
        }
    }

    fn lens(parts: Vec<&[MatchedSighting]>) -> Vec<usize> {
        parts.iter().map(|p| p.len()).collect()
    }

    #[test]
    fn windows_are_measured_from_their_first_sighting() {
        let s: Vec<_> = [0, 1000, 1799, 1800, 3500, 3599, 3600].map(at).into();
        assert_eq!(lens(split_windows(&s)), [3, 3, 1]);
        assert!(split_windows(&[]).is_empty());
    }

    #[test]
    fn scan_instances_chain_consecutive_sightings() {
        let s: Vec<_> = [0, 20, 40, 65, 91].map(at).into();
        assert_eq!(lens(split_scan_instances(&s)), [4, 1]);
    }

    #[test]
    fn seconds_since_last_scan_counts_whole_minutes_up_to_five() {
        assert_eq!(seconds_since_last_scan(1000, None), 120);
        assert_eq!(seconds_since_last_scan(1000, Some(1000 - 59)), 0);
        assert_eq!(seconds_since_last_scan(1000, Some(1000 - 179)), 120);
        assert_eq!(seconds_since_last_scan(1000, Some(1000 - 300)), 300);
        assert_eq!(seconds_since_last_scan(1000, Some(1000 - 3600)), 300);
        assert_eq!(seconds_since_last_scan(1000, Some(1001)), 120);
    }

    #[test]
    fn days_are_utc_and_floor_before_the_epoch() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(86_399), 0);
        assert_eq!(utc_day(86_400), 1);
        assert_eq!(utc_day(-1), -1);
    }
}
