//! Risk scoring against COCOA's default configuration: the worked examples of `gaen.md`
//! section 6, the edges of every rule (windows, scan instances, buckets, infectiousness, report
//! types), daily summaries, COCOA's merge, the notification rule and the survey flag.

use cocoa_api::configuration::{
    infectiousness, Criterion, ExposureConfiguration, RiskCalculationConfiguration,
};
use cocoa_device::risk::{self, Bucket};
use cocoa_device::{DailySummary, ExposureWindow, KeyMatch, MatchedSighting};
use gaen::{DaysSinceOnset, DiagnosisKey, IntervalNumber, ReportType, RollingPeriod, Tek};

/// 2021-06-01 12:00:00 UTC.
const NOON: i64 = 1_622_548_800;
/// Its UTC day.
const DAY: i64 = NOON / 86_400;
/// What the phone's radio reports as the sender's transmit power.
const TX_POWER: i8 = -10;
/// Minutes between scans on a typical Android phone.
const SCAN_EVERY: i64 = 300;

fn key(report_type: Option<ReportType>, days_since_onset: Option<i32>) -> DiagnosisKey {
    DiagnosisKey {
        key: Tek::from_bytes([7; 16]),
        rolling_start: IntervalNumber::new((DAY * 144) as u32),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk_level: None,
        report_type,
        days_since_onset: days_since_onset.map(|d| DaysSinceOnset::new(d).unwrap()),
    }
}

fn confirmed() -> DiagnosisKey {
    key(Some(ReportType::ConfirmedTest), Some(0))
}

fn sighting(at: i64, attenuation_db: u8, previous_scan_at: Option<i64>) -> MatchedSighting {
    MatchedSighting {
        at,
        rssi: TX_POWER - attenuation_db as i8,
        tx_power_dbm: TX_POWER,
        attenuation_db,
        previous_scan_at,
        calibration_confidence: None,
    }
}

/// `count` scans every 5 minutes from `start`, each hearing two advertisements 2 s apart at
/// `attenuation_db`, each after a scan 5 minutes earlier.
fn scans(start: i64, count: i64, attenuation_db: u8) -> Vec<MatchedSighting> {
    (0..count)
        .flat_map(|i| {
            let at = start + i * SCAN_EVERY;
            let previous = Some(at - SCAN_EVERY);
            [
                sighting(at, attenuation_db, previous),
                sighting(at + 2, attenuation_db, previous),
            ]
        })
        .collect()
}

fn matched(key: DiagnosisKey, sightings: Vec<MatchedSighting>) -> KeyMatch {
    KeyMatch { key, sightings }
}

fn windows(sightings: Vec<MatchedSighting>) -> Vec<ExposureWindow> {
    risk::exposure_windows(
        &matched(confirmed(), sightings),
        &ExposureConfiguration::default(),
    )
}

/// The day's summary, whether COCOA notifies, and its survey flag.
fn verdict(windows: &[ExposureWindow]) -> (DailySummary, bool, bool) {
    let rule = RiskCalculationConfiguration::default();
    let days = risk::daily_summaries(windows);
    assert_eq!(days.len(), 1, "one day expected");
    let day = days[0];
    (
        day,
        risk::is_high_risk(&day, windows, &rule),
        risk::exposure_detected(&day, risk::survey_threshold(&rule)),
    )
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn fifteen_minutes_near_scores_2250_and_notifies() {
    let w = windows(scans(NOON, 3, 55));
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].scan_instances.len(), 3);
    assert!(w[0]
        .scan_instances
        .iter()
        .all(|s| s.seconds_since_last_scan == 300));
    assert_eq!(w[0].date, DAY);
    assert_eq!(w[0].infectiousness, infectiousness::HIGH);
    assert_eq!(w[0].report_type, ReportType::ConfirmedTest.as_i32());
    assert_close(w[0].weighted_duration, 2250.0);
    assert_close(w[0].score, 2250.0);
    let (day, high, detected) = verdict(&w);
    assert_eq!(day.date, DAY);
    assert_close(day.score_sum, 2250.0);
    assert!(high);
    assert!(detected);
}

#[test]
fn fifteen_minutes_medium_scores_1170_and_does_not_notify() {
    let w = windows(scans(NOON, 3, 63));
    assert_eq!(w.len(), 1);
    assert_close(w[0].score, 1170.0);
    let (_, high, detected) = verdict(&w);
    assert!(!high);
    assert!(!detected);
}

#[test]
fn a_high_score_in_under_900_seconds_fails_the_duration_criterion() {
    // Two near scans: 600 s * 2.5 = 1500 >= 1350, but 600 s < 900 s.
    let w = windows(scans(NOON, 2, 55));
    assert_close(w[0].score, 1500.0);
    let (_, high, detected) = verdict(&w);
    assert!(!high);
    // The survey flag has no duration condition (different on purpose).
    assert!(detected);
}

#[test]
fn the_survey_flag_uses_maximum_score_not_score_sum() {
    // Two positive people, each 15 minutes at a medium distance: 1170 each.
    let config = ExposureConfiguration::default();
    let mut w = risk::exposure_windows(&matched(confirmed(), scans(NOON, 3, 63)), &config);
    w.extend(risk::exposure_windows(
        &matched(confirmed(), scans(NOON + 3600, 3, 63)),
        &config,
    ));
    assert_eq!(w.len(), 2);
    let (day, high, detected) = verdict(&w);
    assert_close(day.score_sum, 2340.0);
    assert_close(day.maximum_score, 1170.0);
    assert!(high, "score_sum 2340 over 1800 s notifies");
    assert!(!detected, "no single window reaches 1350");
}

#[test]
fn windows_split_when_a_sighting_is_1800_s_after_the_first() {
    let w = windows(vec![
        sighting(NOON, 55, None),
        sighting(NOON + 1799, 55, None),
    ]);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].scan_instances.len(), 2);

    let w = windows(vec![
        sighting(NOON, 55, None),
        sighting(NOON + 1800, 55, None),
    ]);
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].scan_instances.len(), 1);
    assert_eq!(w[1].scan_instances.len(), 1);

    // Measured from the window's first sighting, not the previous one.
    let w = windows(
        [0, 1000, 1900, 2800, 3699, 3700]
            .map(|t| sighting(NOON + t, 55, None))
            .into(),
    );
    let per_window: Vec<usize> = w.iter().map(|w| w.scan_instances.len()).collect();
    assert_eq!(per_window, [2, 3, 1]);
}

#[test]
fn a_window_is_dated_by_its_first_sighting() {
    let before_midnight = (DAY + 1) * 86_400 - 600;
    let w = windows(scans(before_midnight, 3, 55));
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].date, DAY);
    let days = risk::daily_summaries(&w);
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].date, DAY);
}

#[test]
fn sightings_up_to_25_5_s_apart_form_one_scan_instance() {
    let w = windows(vec![
        sighting(NOON, 50, None),
        sighting(NOON + 25, 51, None),
    ]);
    let s = &w[0].scan_instances;
    assert_eq!(s.len(), 1);
    // round(50.5) = 51; the minimum is 50.
    assert_eq!(s[0].typical_attenuation_db, 51);
    assert_eq!(s[0].min_attenuation_db, 50);

    let w = windows(vec![
        sighting(NOON, 50, None),
        sighting(NOON + 26, 51, None),
    ]);
    assert_eq!(w[0].scan_instances.len(), 2);

    // Consecutive sightings chain: 0, 20, 40, 60 s is one instance.
    let w = windows([0, 20, 40, 60].map(|t| sighting(NOON + t, 50, None)).into());
    assert_eq!(w[0].scan_instances.len(), 1);
}

#[test]
fn seconds_since_last_scan_uses_the_first_sighting_and_defaults_to_120() {
    let w = windows(vec![sighting(NOON, 55, None)]);
    assert_eq!(w[0].scan_instances[0].seconds_since_last_scan, 120);
    assert_close(w[0].score, 300.0);

    // The instance's first sighting decides: 3 min 59 s -> 3 whole minutes.
    let w = windows(vec![
        sighting(NOON, 55, Some(NOON - 239)),
        sighting(NOON + 2, 55, None),
    ]);
    assert_eq!(w[0].scan_instances[0].seconds_since_last_scan, 180);

    // At most 5 minutes.
    let w = windows(vec![sighting(NOON, 55, Some(NOON - 3600))]);
    assert_eq!(w[0].scan_instances[0].seconds_since_last_scan, 300);
}

#[test]
fn infectiousness_none_is_dropped_and_missing_onset_is_high() {
    let config = ExposureConfiguration::default();
    let w = |dsos| risk::exposure_windows(&matched(key(None, dsos), scans(NOON, 3, 55)), &config);
    assert!(w(Some(-4)).is_empty());
    assert!(w(Some(11)).is_empty());
    assert!(w(Some(-14)).is_empty());
    assert!(w(Some(14)).is_empty());
    for dsos in [Some(-3), Some(0), Some(10), None] {
        let w = w(dsos);
        assert_eq!(w.len(), 1, "{dsos:?}");
        assert_eq!(w[0].infectiousness, infectiousness::HIGH);
    }
}

#[test]
fn a_day_missing_from_the_mapping_uses_the_missing_value() {
    let mut config = ExposureConfiguration::default();
    config
        .data_mapping
        .infectiousness_for_days_since_onset_of_symptoms
        .remove("0");
    config
        .data_mapping
        .infectiousness_when_days_since_onset_missing = infectiousness::STANDARD;
    config
        .daily_summaries
        .infectiousness_weights
        .insert("1".into(), 0.5);
    let w = risk::exposure_windows(&matched(confirmed(), scans(NOON, 3, 55)), &config);
    assert_eq!(w[0].infectiousness, infectiousness::STANDARD);
    assert_close(w[0].weighted_duration, 2250.0);
    assert_close(w[0].score, 1125.0);
}

#[test]
fn revoked_keys_are_dropped_and_a_missing_report_type_is_confirmed_test() {
    let config = ExposureConfiguration::default();
    let w = |t| risk::exposure_windows(&matched(key(t, Some(0)), scans(NOON, 3, 55)), &config);
    assert!(w(Some(ReportType::Revoked)).is_empty());
    for t in [None, Some(ReportType::Unknown)] {
        assert_eq!(w(t)[0].report_type, ReportType::ConfirmedTest.as_i32());
    }
    assert_eq!(
        w(Some(ReportType::SelfReport))[0].report_type,
        ReportType::SelfReport.as_i32()
    );
}

#[test]
fn report_type_weights_scale_the_score() {
    let mut config = ExposureConfiguration::default();
    config
        .daily_summaries
        .report_type_weights
        .insert("3".into(), 0.4);
    config.daily_summaries.report_type_weights.remove("2");
    let w =
        |t| risk::exposure_windows(&matched(key(Some(t), Some(0)), scans(NOON, 3, 55)), &config);
    assert_close(w(ReportType::SelfReport)[0].score, 900.0);
    // A report type without a weight scores 0 (and the minimum score 0 keeps it).
    let clinical = w(ReportType::ConfirmedClinicalDiagnosis);
    assert_close(clinical[0].score, 0.0);
    assert_close(clinical[0].weighted_duration, 2250.0);
}

#[test]
fn bucket_edges_follow_cocoas_thresholds() {
    let t = ExposureConfiguration::default()
        .daily_summaries
        .attenuation_bucket_threshold_db;
    let expected = [
        (0, Bucket::Immediate),
        (46, Bucket::Immediate),
        (47, Bucket::Near),
        (60, Bucket::Near),
        (61, Bucket::Medium),
        (65, Bucket::Medium),
        (66, Bucket::Other),
        (255, Bucket::Other),
    ];
    for (db, bucket) in expected {
        assert_eq!(risk::bucket(db, &t), bucket, "{db} dB");
    }
    // The same edges through scoring: one 5-minute scan at each attenuation.
    for (db, weighted) in [
        (46, 300.0),
        (47, 750.0),
        (60, 750.0),
        (61, 390.0),
        (65, 390.0),
        (66, 3.0),
    ] {
        let w = windows(vec![sighting(NOON, db, Some(NOON - 300))]);
        assert_close(w[0].weighted_duration, weighted);
    }
}

#[test]
fn windows_below_the_minimum_score_are_dropped() {
    let mut config = ExposureConfiguration::default();
    config.daily_summaries.minimum_window_score = 1500.0;
    let w = |n| risk::exposure_windows(&matched(confirmed(), scans(NOON, n, 55)), &config);
    assert_eq!(w(2).len(), 1, "1500 is not below the minimum");
    config.daily_summaries.minimum_window_score = 1500.5;
    let w = risk::exposure_windows(&matched(confirmed(), scans(NOON, 2, 55)), &config);
    assert!(w.is_empty());
}

#[test]
fn calibration_confidence_comes_from_v1_1_metadata() {
    assert_eq!(windows(scans(NOON, 1, 55))[0].calibration_confidence, 0);
    let mut s = scans(NOON, 2, 55);
    s[1].calibration_confidence = Some(2);
    s[3].calibration_confidence = Some(3);
    assert_eq!(windows(s)[0].calibration_confidence, 2);
}

#[test]
fn sightings_out_of_order_are_sorted_first() {
    let mut s = scans(NOON, 3, 55);
    s.reverse();
    assert_eq!(windows(s), windows(scans(NOON, 3, 55)));
}

#[test]
fn daily_summaries_add_up_each_day_in_date_order() {
    let window = |date, score, weighted_duration| ExposureWindow {
        date,
        report_type: 1,
        infectiousness: 2,
        calibration_confidence: 0,
        scan_instances: Vec::new(),
        weighted_duration,
        score,
    };
    let days = risk::daily_summaries(&[
        window(DAY + 1, 100.0, 40.0),
        window(DAY, 300.0, 300.0),
        window(DAY + 1, 250.0, 100.0),
    ]);
    assert_eq!(
        days,
        [
            DailySummary {
                date: DAY,
                score_sum: 300.0,
                maximum_score: 300.0,
                weighted_duration_sum: 300.0
            },
            DailySummary {
                date: DAY + 1,
                score_sum: 350.0,
                maximum_score: 250.0,
                weighted_duration_sum: 140.0
            },
        ]
    );
    assert!(risk::daily_summaries(&[]).is_empty());
}

#[test]
fn merging_takes_the_larger_of_each_field_per_date() {
    let day = |date, score_sum, maximum_score, weighted_duration_sum| DailySummary {
        date,
        score_sum,
        maximum_score,
        weighted_duration_sum,
    };
    let stored = [day(DAY - 1, 5.0, 5.0, 5.0), day(DAY, 100.0, 50.0, 40.0)];
    let new = [day(DAY + 1, 7.0, 7.0, 7.0), day(DAY, 80.0, 60.0, 30.0)];
    assert_eq!(
        risk::merge_daily_summaries(&stored, &new),
        [
            day(DAY - 1, 5.0, 5.0, 5.0),
            day(DAY, 100.0, 60.0, 40.0),
            day(DAY + 1, 7.0, 7.0, 7.0),
        ]
    );
    assert_eq!(risk::merge_daily_summaries(&[], &new[..1]), new[..1]);
}

fn criterion(op: &str, value: f64) -> Criterion {
    Criterion {
        op: op.into(),
        value,
    }
}

fn nop_rule() -> RiskCalculationConfiguration {
    RiskCalculationConfiguration {
        score_sum: criterion("NOP", 0.0),
        seconds_since_last_scan_sum: criterion("NOP", 0.0),
        ..RiskCalculationConfiguration::default()
    }
}

#[test]
fn the_other_criteria_follow_cocoa() {
    let near = windows(scans(NOON, 3, 55));
    let medium = windows(scans(NOON, 3, 63));
    let day = |w: &[ExposureWindow]| risk::daily_summaries(w)[0];

    // Weighted-duration average as COCOA computes it: weighted duration per second (2.5 / 1.3).
    let mut rule = nop_rule();
    rule.weighted_duration_average = criterion(">=", 2.0);
    assert!(risk::is_high_risk(&day(&near), &near, &rule));
    assert!(!risk::is_high_risk(&day(&medium), &medium, &rule));

    // Typical attenuation max and min over the day's scan instances.
    let mut both = near.clone();
    both.extend(windows(scans(NOON + 3600, 3, 63)));
    let mut rule = nop_rule();
    rule.typical_attenuation_max = criterion("=", 63.0);
    rule.typical_attenuation_min = criterion("=", 55.0);
    assert!(risk::is_high_risk(&day(&both), &both, &rule));
    rule.typical_attenuation_max = criterion("<", 63.0);
    assert!(!risk::is_high_risk(&day(&both), &both, &rule));
}

#[test]
fn a_rule_that_is_all_nop_never_fires() {
    let near = windows(scans(NOON, 3, 55));
    let day = risk::daily_summaries(&near)[0];
    assert!(!risk::is_high_risk(&day, &near, &nop_rule()));
}

#[test]
fn an_unknown_operator_never_holds() {
    let near = windows(scans(NOON, 3, 55));
    let day = risk::daily_summaries(&near)[0];
    let mut rule = RiskCalculationConfiguration::default();
    assert!(risk::is_high_risk(&day, &near, &rule));
    rule.typical_attenuation_max = criterion("~", 0.0);
    assert!(!risk::is_high_risk(&day, &near, &rule));
}

#[test]
fn windows_of_other_days_do_not_count() {
    let short = windows(scans(NOON, 2, 55));
    let day = risk::daily_summaries(&short)[0];
    let mut all = short.clone();
    all.extend(windows(scans(NOON + 86_400, 3, 55)));
    // The next day's 900 s must not lift this day over the duration criterion.
    assert!(!risk::is_high_risk(
        &day,
        &all,
        &RiskCalculationConfiguration::default()
    ));
    assert!(!risk::is_high_risk(
        &day,
        &[],
        &RiskCalculationConfiguration::default()
    ));
}
