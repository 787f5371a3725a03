//! "Save information": everything the phone keeps about exposures, as COCOA's
//! `exposure_data.json` (`cocoa-wire.md` section 4), for the user to keep or hand to a doctor.

use crate::types::{DailySummary, ExposureWindow};
use serde_json::{json, Value};

fn millis(day: i64) -> i64 {
    day * 86_400_000
}

/// One report type's part of a day, from the windows of that type.
fn summary_of(windows: &[&ExposureWindow]) -> Value {
    json!({
        "MaximumScore": windows.iter().map(|w| w.score).fold(0.0, f64::max),
        "ScoreSum": windows.iter().map(|w| w.score).fold(0.0, |a, b| a + b),
        "WeightedDurationSum": windows.iter().map(|w| w.weighted_duration).fold(0.0, |a, b| a + b),
    })
}

/// The document.
pub fn exposure_data(
    summaries: &[DailySummary],
    windows: &[ExposureWindow],
    configuration: Value,
) -> Value {
    let daily: Vec<Value> = summaries
        .iter()
        .map(|d| {
            let of_type = |t: i32| -> Vec<&ExposureWindow> {
                windows
                    .iter()
                    .filter(|w| w.date == d.date && w.report_type == t)
                    .collect()
            };
            json!({
                "DateMillisSinceEpoch": millis(d.date),
                "DaySummary": {
                    "MaximumScore": d.maximum_score,
                    "ScoreSum": d.score_sum,
                    "WeightedDurationSum": d.weighted_duration_sum,
                },
                "ConfirmedTestSummary": summary_of(&of_type(1)),
                "ConfirmedClinicalDiagnosisSummary": summary_of(&of_type(2)),
                "SelfReportedSummary": summary_of(&of_type(3)),
                "RecursiveSummary": summary_of(&of_type(4)),
            })
        })
        .collect();
    let windows: Vec<Value> = windows
        .iter()
        .map(|w| {
            json!({
                "CalibrationConfidence": w.calibration_confidence,
                "DateMillisSinceEpoch": millis(w.date),
                "Infectiousness": w.infectiousness,
                "ReportType": w.report_type,
                "ScanInstances": w.scan_instances.iter().map(|s| json!({
                    "MinAttenuationDb": s.min_attenuation_db,
                    "SecondsSinceLastScan": s.seconds_since_last_scan,
                    "TypicalAttenuationDb": s.typical_attenuation_db,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "platform": "cocoa-device",
        "platform_version": env!("CARGO_PKG_VERSION"),
        "model": "cocoa-device",
        "app_version": env!("CARGO_PKG_VERSION"),
        "en_version": "2",
        "daily_summaries": daily,
        "exposure_windows": windows,
        "exposure_configuration": configuration,
    })
}
