//! The pure rules of a positive registration: what a request must look like, which keys are
//! published with which days since onset, and when each key may be released. No I/O: the
//! handlers and the store call these with the clock's reading.

use crate::config::RegistrationConfig;
use crate::numbers::ProcessingNumber;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use cocoa_api::{codes, DiagnosisRequest, DiagnosisRequestKey, KeyWarning};
use gaen::{DaysSinceOnset, IntervalNumber, ReportType, RollingPeriod, Tek};
use sha2::{Digest, Sha256};

pub use crate::dates::{parse_date_time, parse_full_date};

/// Days a key stays useful: keys older than this are not accepted.
pub const KEY_RETENTION_DAYS: u32 = 14;
/// Hold-back after the end of a key that was still valid when uploaded.
pub const STILL_VALID_HOLD_BACK_SECONDS: i64 = 2 * 3600;
/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A request that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
    }
}

/// A key that passed the request-level checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateKey {
    /// Position in the request.
    pub index: usize,
    pub key: Tek,
    pub rolling_start: IntervalNumber,
    pub rolling_period: RollingPeriod,
    pub report_type: ReportType,
    /// The original JSON, echoed by v3 when accepted.
    pub wire: DiagnosisRequestKey,
}

/// A well-formed registration, ready to claim its number.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub number: ProcessingNumber,
    pub has_symptom: bool,
    /// Days since the epoch of the onset or test date the phone sent.
    pub onset_day: i64,
    pub regions: Vec<String>,
    pub keys: Vec<CandidateKey>,
    /// Keys dropped already (too old), reported as warnings.
    pub warnings: Vec<KeyWarning>,
    /// SHA-256 of the keys (sorted): "the same keys" for retries without an idempotency key.
    pub request_hash: Vec<u8>,
    /// SHA-256 of the idempotency key, if one was sent.
    pub idempotency_hash: Option<Vec<u8>>,
}

/// The dates a health centre attached to a processing number, if any (days since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumberDates {
    pub symptom_onset_day: Option<i64>,
    pub test_day: Option<i64>,
}

/// A key to store: published as is once `release_at` (unix seconds) has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub region: String,
    pub key: Tek,
    pub rolling_start: IntervalNumber,
    pub rolling_period: RollingPeriod,
    pub report_type: ReportType,
    pub days_since_onset: DaysSinceOnset,
    pub release_at: i64,
}

/// What a registration stores, and what it tells the phone.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub keys: Vec<NewKey>,
    pub accepted_wire_keys: Vec<DiagnosisRequestKey>,
    pub warnings: Vec<KeyWarning>,
    /// Whether the symptomatic infectious window applied: the health centre gave an onset date,
    /// or, without a date from the health centre, the phone said the person has symptoms.
    /// Counted in the registration statistics.
    pub symptomatic: bool,
}

/// Parses the onset or test date: an RFC 3339 `date-time` (`2022-08-01T00:00:00.000+09:00`), as
/// COCOA sends it ([`parse_date_time`]); nothing else, not even a bare date. The calendar date is
/// taken in the offset the phone wrote it in: a person in Japan who picks 1 August means
/// 1 August, not 31 July in UTC.
pub fn parse_onset_date(text: &str) -> Option<NaiveDate> {
    parse_date_time(text).map(|t| t.date_naive())
}

/// Days since the unix epoch of a date.
pub fn epoch_day(date: NaiveDate) -> i64 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")).num_days()
}

/// Request-level checks (shape, number format, regions, keys). Keys too old are dropped with a
/// warning; anything else wrong rejects the whole request.
pub fn prepare(
    request: &DiagnosisRequest,
    now: DateTime<Utc>,
    rules: &RegistrationConfig,
) -> Result<Prepared, Rejection> {
    let number = ProcessingNumber::parse(&request.verification_payload).ok_or_else(|| {
        reject(
            codes::PROCESSING_NUMBER_INVALID,
            "the processing number must be exactly 8 digits",
        )
    })?;
    if request.regions.is_empty() {
        return Err(reject(
            codes::UNSUPPORTED_REGION,
            "regions must name at least one region",
        ));
    }
    for region in &request.regions {
        if !rules.regions.contains(region) {
            return Err(reject(
                codes::UNSUPPORTED_REGION,
                format!(
                    "region {region:?} is not served here (served: {})",
                    rules.regions.join(", ")
                ),
            ));
        }
    }
    let mut regions = request.regions.clone();
    regions.sort();
    regions.dedup();
    if request.keys.is_empty() || request.keys.len() > rules.max_keys {
        return Err(reject(
            codes::INVALID_KEYS,
            format!(
                "a registration carries 1..={} keys, got {}",
                rules.max_keys,
                request.keys.len()
            ),
        ));
    }
    if let Some(k) = &request.idempotency_key {
        // Characters, as the document's `maxLength` counts them (and as the survey does).
        if !(1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&k.chars().count()) {
            return Err(reject(
                codes::BAD_REQUEST,
                format!("idempotency_key must be 1..={MAX_IDEMPOTENCY_KEY_LEN} characters"),
            ));
        }
    }
    let onset = parse_onset_date(&request.onset_of_symptom_or_test_date).ok_or_else(|| {
        reject(
            codes::INVALID_ONSET_DATE,
            "onsetOfSymptomOrTestDate must be an RFC 3339 date-time",
        )
    })?;
    let today = now.date_naive();
    let age = (today - onset).num_days();
    // One day of slack forwards: the phone's date may be ahead of UTC (Japan is UTC+9).
    if age < -1 || age > rules.max_onset_age_days {
        return Err(reject(
            codes::INVALID_ONSET_DATE,
            format!(
                "onsetOfSymptomOrTestDate {onset} is not plausible: it must be within the last {} days",
                rules.max_onset_age_days
            ),
        ));
    }

    let now_interval = IntervalNumber::from_unix_seconds(now.timestamp().max(0) as u64)
        .map_err(|e| reject(codes::INTERNAL, e.to_string()))?;
    let oldest = now_interval
        .day_start()
        .get()
        .saturating_sub(KEY_RETENTION_DAYS * 144);
    let mut keys = Vec::with_capacity(request.keys.len());
    let mut warnings = Vec::new();
    for (index, wire) in request.keys.iter().enumerate() {
        let bad = |why: String| reject(codes::INVALID_KEYS, format!("keys[{index}]: {why}"));
        let bytes = STANDARD
            .decode(&wire.key_data)
            .map_err(|_| bad("keyData is not base64".into()))?;
        let key = Tek::try_from(bytes.as_slice()).map_err(|e| bad(e.to_string()))?;
        let rolling_start =
            IntervalNumber::from_i64(wire.rolling_start_number).map_err(|e| bad(e.to_string()))?;
        let rolling_period =
            RollingPeriod::new(wire.rolling_period).map_err(|e| bad(e.to_string()))?;
        let report_type = match wire.report_type.unwrap_or(1) {
            0 | 1 => ReportType::ConfirmedTest,
            2 => ReportType::ConfirmedClinicalDiagnosis,
            3 => ReportType::SelfReport,
            other => {
                return Err(bad(format!(
                    "reportType {other} cannot be uploaded by a phone"
                )))
            }
        };
        if rolling_start > now_interval {
            return Err(bad("rollingStartNumber is in the future".into()));
        }
        if rolling_start.get() < oldest {
            warnings.push(KeyWarning {
                index,
                code: "key_too_old".into(),
                message: format!(
                    "keys[{index}] is older than {KEY_RETENTION_DAYS} days and was dropped"
                ),
            });
            continue;
        }
        keys.push(CandidateKey {
            index,
            key,
            rolling_start,
            rolling_period,
            report_type,
            wire: wire.clone(),
        });
    }
    check_overlaps(&keys)?;

    let mut sorted: Vec<_> = keys
        .iter()
        .map(|k| (k.key.to_bytes(), k.rolling_start, k.rolling_period))
        .collect();
    sorted.sort();
    let mut hash = Sha256::new();
    for (key, start, period) in &sorted {
        hash.update(key);
        hash.update(start.get().to_be_bytes());
        hash.update(period.get().to_be_bytes());
    }
    Ok(Prepared {
        number,
        has_symptom: request.has_symptom,
        onset_day: epoch_day(onset),
        regions,
        keys,
        warnings,
        request_hash: hash.finalize().to_vec(),
        idempotency_hash: request
            .idempotency_key
            .as_ref()
            .map(|k| Sha256::digest(k.as_bytes()).to_vec()),
    })
}

/// At most 3 keys per start interval, and no two keys with different starts may overlap.
fn check_overlaps(keys: &[CandidateKey]) -> Result<(), Rejection> {
    let mut spans: Vec<(u64, u64)> = keys
        .iter()
        .map(|k| {
            (
                u64::from(k.rolling_start.get()),
                u64::from(k.rolling_start.get()) + u64::from(k.rolling_period.get()),
            )
        })
        .collect();
    spans.sort();
    let mut same_start = 1;
    for pair in spans.windows(2) {
        let ((s0, e0), (s1, _)) = (pair[0], pair[1]);
        if s1 == s0 {
            same_start += 1;
            if same_start > 3 {
                return Err(reject(
                    codes::INVALID_KEYS,
                    format!("more than 3 keys start at interval {s0}"),
                ));
            }
        } else {
            same_start = 1;
            if s1 < e0 {
                return Err(reject(
                    codes::INVALID_KEYS,
                    format!("keys starting at intervals {s0} and {s1} overlap"),
                ));
            }
        }
    }
    // A key with the same start as an earlier, longer key can still overlap a later key.
    let mut max_end = 0u64;
    let mut last_start = None;
    for (s, e) in spans {
        if last_start != Some(s) && s < max_end {
            return Err(reject(
                codes::INVALID_KEYS,
                format!("the key starting at interval {s} overlaps another key"),
            ));
        }
        last_start = Some(s);
        max_end = max_end.max(e);
    }
    Ok(())
}

/// Applies the infectious window and computes each key's days since onset and release time.
/// The health centre's dates, when the number carries them, take precedence over the phone's.
pub fn accept(
    prepared: &Prepared,
    dates: NumberDates,
    uploaded_at: DateTime<Utc>,
    rules: &RegistrationConfig,
) -> Result<Accepted, Rejection> {
    let (onset_day, symptomatic) = match (dates.symptom_onset_day, dates.test_day) {
        (Some(day), _) => (day, true),
        (None, Some(day)) => (day, false),
        (None, None) => (prepared.onset_day, prepared.has_symptom),
    };
    let window = if symptomatic {
        rules.symptomatic_window
    } else {
        rules.asymptomatic_window
    };
    let hour_start = uploaded_at.timestamp() - uploaded_at.timestamp().rem_euclid(3600);
    let mut warnings = prepared.warnings.clone();
    let mut keys = Vec::new();
    let mut accepted_wire_keys = Vec::new();
    for k in &prepared.keys {
        let dsos = i64::from(k.rolling_start.utc_day()) - onset_day;
        let Some(days_since_onset) = i32::try_from(dsos)
            .ok()
            .and_then(|d| DaysSinceOnset::new(d).ok())
        else {
            warnings.push(KeyWarning {
                index: k.index,
                code: "days_since_onset_out_of_range".into(),
                message: format!(
                    "keys[{}] is {dsos} days from the onset, beyond 14, and was dropped",
                    k.index
                ),
            });
            continue;
        };
        if !(window[0]..=window[1]).contains(&days_since_onset.get()) {
            warnings.push(KeyWarning {
                index: k.index,
                code: "outside_infectious_window".into(),
                message: format!(
                    "keys[{}] is {dsos} days from the onset, outside the infectious window {}..={}, and was dropped",
                    k.index, window[0], window[1]
                ),
            });
            continue;
        }
        let end = (i64::from(k.rolling_start.get()) + i64::from(k.rolling_period.get())) * 600;
        // A key still valid at upload must not be seen until it has expired, plus a margin;
        // other keys are released at the top of the upload hour, hiding arrival order.
        let release_at = if end > uploaded_at.timestamp() {
            end + STILL_VALID_HOLD_BACK_SECONDS
        } else {
            hour_start
        };
        for region in &prepared.regions {
            keys.push(NewKey {
                region: region.clone(),
                key: k.key,
                rolling_start: k.rolling_start,
                rolling_period: k.rolling_period,
                report_type: k.report_type,
                days_since_onset,
                release_at,
            });
        }
        accepted_wire_keys.push(k.wire.clone());
    }
    warnings.sort_by_key(|w| w.index);
    if keys.is_empty() {
        return Err(reject(
            codes::NO_KEYS_IN_WINDOW,
            "none of the keys falls within the infectious window of the onset or test date",
        ));
    }
    Ok(Accepted {
        keys,
        accepted_wire_keys,
        warnings,
        symptomatic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
    }

    fn day_interval(day: NaiveDate) -> i64 {
        epoch_day(day) * 144
    }

    fn key(i: u8, day: NaiveDate) -> DiagnosisRequestKey {
        DiagnosisRequestKey {
            key_data: STANDARD.encode([i; 16]),
            rolling_start_number: day_interval(day),
            rolling_period: 144,
            report_type: Some(1),
        }
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 8, d).unwrap()
    }

    fn request(keys: Vec<DiagnosisRequestKey>) -> DiagnosisRequest {
        DiagnosisRequest {
            has_symptom: true,
            onset_of_symptom_or_test_date: "2022-08-05T00:00:00.000+09:00".into(),
            keys,
            regions: vec!["440".into()],
            platform: Some("android".into()),
            device_verification_payload: None,
            app_package_name: None,
            verification_payload: "12345678".into(),
            idempotency_key: None,
            padding: None,
        }
    }

    fn rules() -> RegistrationConfig {
        RegistrationConfig::default()
    }

    #[test]
    fn onset_dates_keep_their_calendar_day() {
        assert_eq!(
            parse_onset_date("2022-08-01T00:00:00.000+09:00"),
            Some(date(1))
        );
        assert_eq!(parse_onset_date("2022-08-01T23:00:00Z"), Some(date(1)));
        assert_eq!(parse_onset_date("2022-08-01t23:00:00.5z"), Some(date(1)));
        assert_eq!(parse_onset_date("2022-08-01T00:30:00-01:00"), Some(date(1)));
        for refused in [
            "2022-08-01",
            "yesterday",
            "+2022-08-01T00:00:00Z",
            "+02022-08-01T00:00:00Z",
            "-2022-08-01T00:00:00Z",
            "22022-08-01T00:00:00Z",
            "2022-8-01T00:00:00Z",
            "2022-08-01 00:00:00Z",
            "2022-08-01T00:00Z",
            "2022-08-01T00:00:00",
            "2022-08-01T00:00:00.Z",
            "2022-08-01T00:00:00+0900",
            "2022-08-01T00:00:00+09",
            "2022-08-01T00:00:00+9:00",
            "2022-08-01T24:00:00Z",
            "2022-08-01T00:60:00Z",
            "2022-02-30T00:00:00Z",
            "2022-08-01T00:00:00Z ",
            " 2022-08-01T00:00:00Z",
            "２０２２-08-01T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_onset_date(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn full_dates_are_exactly_yyyy_mm_dd() {
        assert_eq!(parse_full_date("2022-08-01"), Some(date(1)));
        assert_eq!(
            parse_full_date("0001-01-01"),
            NaiveDate::from_ymd_opt(1, 1, 1)
        );
        for refused in [
            "+2026-11-30",
            "-2026-11-30",
            "+02026-11-30",
            "02026-11-30",
            "2026-1-30",
            "2026-11-3",
            "2026/11/30",
            "2026-11-31",
            "2026-13-01",
            "2026-11-30T00:00:00Z",
            " 2026-11-30",
            "2026-11-30\n",
            "２０２６-11-30",
            "",
        ] {
            assert_eq!(parse_full_date(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn window_days_since_onset_and_release_times() {
        // Keys from 1 Aug to 10 Aug; onset 5 Aug (symptomatic window -3..=10).
        let keys: Vec<_> = (1..=10).map(|d| key(d as u8, date(d))).collect();
        let p = prepare(&request(keys), now(), &rules()).unwrap();
        let a = accept(&p, NumberDates::default(), now(), &rules()).unwrap();
        let dsos: Vec<i32> = a.keys.iter().map(|k| k.days_since_onset.get()).collect();
        assert_eq!(dsos, (-3..=5).collect::<Vec<_>>());
        assert_eq!(a.warnings.len(), 1);
        assert_eq!(a.warnings[0].index, 0);
        assert_eq!(a.warnings[0].code, "outside_infectious_window");
        // Past keys are released at the top of the upload hour; today's key after its end + 2 h.
        let hour = Utc
            .with_ymd_and_hms(2022, 8, 10, 5, 0, 0)
            .unwrap()
            .timestamp();
        assert!(a.keys[..8].iter().all(|k| k.release_at == hour));
        let end_of_today = Utc
            .with_ymd_and_hms(2022, 8, 11, 0, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(a.keys[8].release_at, end_of_today + 2 * 3600);
    }

    #[test]
    fn asymptomatic_window_and_health_centre_dates() {
        let keys: Vec<_> = (1..=10).map(|d| key(d as u8, date(d))).collect();
        let mut r = request(keys);
        r.has_symptom = false;
        let p = prepare(&r, now(), &rules()).unwrap();
        let a = accept(&p, NumberDates::default(), now(), &rules()).unwrap();
        // 2..=10 Aug: -3..=+5 of a 5 Aug test, inside -3..=7; 1 Aug (-4) is dropped.
        assert_eq!(a.keys.len(), 9);
        assert_eq!(a.warnings.len(), 1);
        // The health centre said symptoms began on 9 August: its date wins, symptomatic window.
        let dates = NumberDates {
            symptom_onset_day: Some(epoch_day(date(9))),
            test_day: None,
        };
        let a = accept(&p, dates, now(), &rules()).unwrap();
        assert_eq!(a.keys.first().unwrap().days_since_onset.get(), -3);
        assert_eq!(a.keys.len(), 5); // 6..=10 Aug
    }

    #[test]
    fn no_key_in_window_is_a_rejection() {
        let p = prepare(&request(vec![key(1, date(1))]), now(), &rules()).unwrap();
        let dates = NumberDates {
            symptom_onset_day: None,
            test_day: Some(epoch_day(date(9))),
        };
        assert_eq!(
            accept(&p, dates, now(), &rules()).unwrap_err().code,
            codes::NO_KEYS_IN_WINDOW
        );
    }

    #[test]
    fn request_level_rejections() {
        let ok = vec![key(1, date(5))];
        let cases: Vec<(DiagnosisRequest, &str)> = vec![
            (
                {
                    let mut r = request(ok.clone());
                    r.verification_payload = "1234567".into();
                    r
                },
                codes::PROCESSING_NUMBER_INVALID,
            ),
            (
                {
                    let mut r = request(ok.clone());
                    r.regions = vec!["999".into()];
                    r
                },
                codes::UNSUPPORTED_REGION,
            ),
            (
                {
                    let mut r = request(ok.clone());
                    r.regions = vec![];
                    r
                },
                codes::UNSUPPORTED_REGION,
            ),
            (request(vec![]), codes::INVALID_KEYS),
            (
                request((0..31).map(|i| key(i, date(5))).collect()),
                codes::INVALID_KEYS,
            ),
            (
                request(vec![DiagnosisRequestKey {
                    key_data: "AAAA".into(),
                    ..key(1, date(5))
                }]),
                codes::INVALID_KEYS,
            ),
            (
                request(vec![DiagnosisRequestKey {
                    key_data: "!!".into(),
                    ..key(1, date(5))
                }]),
                codes::INVALID_KEYS,
            ),
            (
                request(vec![DiagnosisRequestKey {
                    rolling_period: 145,
                    ..key(1, date(5))
                }]),
                codes::INVALID_KEYS,
            ),
            (
                request(vec![DiagnosisRequestKey {
                    rolling_period: 0,
                    ..key(1, date(5))
                }]),
                codes::INVALID_KEYS,
            ),
            (request(vec![key(1, date(11))]), codes::INVALID_KEYS),
            (
                request(vec![DiagnosisRequestKey {
                    report_type: Some(5),
                    ..key(1, date(5))
                }]),
                codes::INVALID_KEYS,
            ),
            (
                {
                    let mut r = request(ok.clone());
                    r.onset_of_symptom_or_test_date = "2022-06-01T00:00:00Z".into();
                    r
                },
                codes::INVALID_ONSET_DATE,
            ),
            (
                {
                    let mut r = request(ok.clone());
                    r.onset_of_symptom_or_test_date = "2022-08-13T00:00:00Z".into();
                    r
                },
                codes::INVALID_ONSET_DATE,
            ),
            (
                {
                    let mut r = request(ok.clone());
                    r.onset_of_symptom_or_test_date = "soon".into();
                    r
                },
                codes::INVALID_ONSET_DATE,
            ),
            (
                {
                    let mut r = request(ok.clone());
                    r.idempotency_key = Some("x".repeat(129));
                    r
                },
                codes::BAD_REQUEST,
            ),
        ];
        for (r, code) in cases {
            assert_eq!(
                prepare(&r, now(), &rules()).unwrap_err().code,
                code,
                "{r:?}"
            );
        }
    }

    #[test]
    fn overlaps_and_same_start_limits() {
        let d = date(5);
        let half = |i: u8, start: i64, period: i64| DiagnosisRequestKey {
            rolling_start_number: day_interval(d) + start,
            rolling_period: period,
            ..key(i, d)
        };
        // Consecutive partial keys are fine; three keys sharing a start are fine; four are not.
        assert!(prepare(
            &request(vec![half(1, 0, 72), half(2, 72, 72)]),
            now(),
            &rules()
        )
        .is_ok());
        assert!(prepare(
            &request(vec![half(1, 0, 144), half(2, 0, 144), half(3, 0, 144)]),
            now(),
            &rules()
        )
        .is_ok());
        let four = request((1..=4).map(|i| half(i, 0, 144)).collect());
        assert_eq!(
            prepare(&four, now(), &rules()).unwrap_err().code,
            codes::INVALID_KEYS
        );
        // Overlap with a different start.
        let overlap = request(vec![half(1, 0, 100), half(2, 72, 72)]);
        assert_eq!(
            prepare(&overlap, now(), &rules()).unwrap_err().code,
            codes::INVALID_KEYS
        );
        // A long key sharing a start with a short one still overlaps the next key.
        let hidden = request(vec![half(1, 0, 10), half(2, 0, 144), half(3, 72, 72)]);
        assert_eq!(
            prepare(&hidden, now(), &rules()).unwrap_err().code,
            codes::INVALID_KEYS
        );
    }

    #[test]
    fn old_keys_are_dropped_with_a_warning_and_hashes_ignore_order() {
        let old = key(1, NaiveDate::from_ymd_opt(2022, 7, 20).unwrap());
        let p = prepare(
            &request(vec![old.clone(), key(2, date(5))]),
            now(),
            &rules(),
        )
        .unwrap();
        assert_eq!(p.keys.len(), 1);
        assert_eq!(p.warnings[0].code, "key_too_old");
        let a = prepare(
            &request(vec![key(1, date(4)), key(2, date(5))]),
            now(),
            &rules(),
        )
        .unwrap();
        let b = prepare(
            &request(vec![key(2, date(5)), key(1, date(4))]),
            now(),
            &rules(),
        )
        .unwrap();
        assert_eq!(a.request_hash, b.request_hash);
        let c = prepare(
            &request(vec![key(3, date(5)), key(1, date(4))]),
            now(),
            &rules(),
        )
        .unwrap();
        assert_ne!(a.request_hash, c.request_hash);
    }
}
