//! The end-of-use survey's rules, pure: an event log (`PUT /api/v1/event_log`) and the time in,
//! the answers to store out, or why the request is refused. No I/O, no clock of its own.
//!
//! What an answer keeps is exactly what the survey promised to collect: the two answers, the
//! start of use coarsened to its UTC day, the daily flags, and the day it was received. The
//! platform, package name, attestation token, the entry's `epoch`, and anything about the
//! connection are read past and dropped here, so nothing later can store them.

use crate::registration::{Rejection, MAX_IDEMPOTENCY_KEY_LEN};
use chrono::{DateTime, NaiveDate, Utc};
use cocoa_api::survey::SURVEY_TYPE;
use cocoa_api::{codes, EventLogEntry, EventLogRequest, SurveyContent};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The answers' types live in `cocoa-api`, which the analysis shares; re-exported here.
pub use cocoa_api::survey_domain::{
    decode_days, encode_days, AgeGroup, Commute, DaysCodecError, SurveyDayFlag, SurveyResponse,
};

/// COCOA's release day (UTC): no one used the app before it.
pub const SERVICE_START: NaiveDate = match NaiveDate::from_ymd_opt(2020, 6, 19) {
    Some(d) => d,
    None => panic!("a valid date"),
};

const DAY_SECONDS: i64 = 86_400;
const DAY_MILLIS: i64 = DAY_SECONDS * 1000;

/// The configurable part of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyRules {
    /// The first day the daily data may hold.
    pub first_day: NaiveDate,
}

/// Days since 1970-01-01 of a date.
fn epoch_day(date: NaiveDate) -> i64 {
    crate::registration::epoch_day(date)
}

fn bad_request(message: String) -> Rejection {
    Rejection {
        code: codes::BAD_REQUEST,
        message,
    }
}

fn invalid(message: String) -> Rejection {
    Rejection {
        code: codes::INVALID_SURVEY,
        message,
    }
}

/// The answers of a request received at `now`: one per consented entry (entries without
/// consent are dropped unread, as COCOA's server did). Refused as a whole, nothing stored, if
/// the idempotency key is not 1..=128 characters (`bad_request`), or if any consented entry is
/// not a survey or breaks a rule of its content (`invalid_survey`).
pub fn accept(
    request: &EventLogRequest,
    now: DateTime<Utc>,
    rules: &SurveyRules,
) -> Result<Vec<SurveyResponse>, Rejection> {
    let key_len = request.idempotency_key.chars().count();
    if !(1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key_len) {
        return Err(bad_request(format!(
            "idempotencyKey must be 1..={MAX_IDEMPOTENCY_KEY_LEN} characters"
        )));
    }
    request
        .event_logs
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.has_consent)
        .map(|(i, entry)| {
            let content = survey_content(entry)
                .map_err(|reason| invalid(format!("eventLogs[{i}]: {reason}")))?;
            let mut response = answer(&content, now, rules)
                .map_err(|reason| invalid(format!("eventLogs[{i}].content: {reason}")))?;
            response.id_hash = entry_id(&request.idempotency_key, entry, &content);
            Ok(response)
        })
        .collect()
}

/// The entry's content as a survey, if it is one.
fn survey_content(entry: &EventLogEntry) -> Result<SurveyContent, String> {
    if entry.kind != SURVEY_TYPE || entry.subtype != SURVEY_TYPE {
        return Err(format!(
            "type {:?} and subtype {:?}: this server takes only surveys (type and subtype \"survey\")",
            entry.kind, entry.subtype
        ));
    }
    objects_only(&entry.content).map_err(|what| format!("{what} is not a JSON object"))?;
    SurveyContent::deserialize(&entry.content).map_err(|e| format!("content: {e}"))
}

/// serde reads a struct from a JSON array too (its "sequence form"); COCOA's content is objects
/// all the way down, and nothing else is taken.
fn objects_only(content: &serde_json::Value) -> Result<(), String> {
    let Some(fields) = content.as_object() else {
        return Err("content".into());
    };
    match fields.get("exposure_data") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(serde_json::Value::Object(data)) => match data.get("daily_summaries") {
            Some(serde_json::Value::Array(days)) => {
                match days.iter().position(|d| !d.is_object()) {
                    Some(j) => Err(format!("content.exposure_data.daily_summaries[{j}]")),
                    None => Ok(()),
                }
            }
            // Missing or of another type: serde says what is wrong.
            _ => Ok(()),
        },
        Some(_) => Err("content.exposure_data".into()),
    }
}

/// Checks one survey's content and keeps what may be kept. `id_hash` is left empty.
fn answer(
    content: &SurveyContent,
    now: DateTime<Utc>,
    rules: &SurveyRules,
) -> Result<SurveyResponse, String> {
    let age_group = content
        .q1
        .map(|q| AgeGroup::new(q).ok_or(format!("q1 {q} is not an age group (1..=9 or null)")))
        .transpose()?;
    let commute = content
        .q2
        .map(|q| Commute::new(q).ok_or(format!("q2 {q} is not a commuting answer (1..=3 or null)")))
        .transpose()?;
    let now_seconds = now.timestamp();
    let start_day = match content.start_date {
        None => None,
        Some(s) if (epoch_day(SERVICE_START) * DAY_SECONDS..=now_seconds).contains(&s) => {
            Some(s.div_euclid(DAY_SECONDS))
        }
        Some(s) => {
            return Err(format!(
                "start_date {s} is not between the start of the service ({SERVICE_START}) and now"
            ))
        }
    };
    let days = match &content.exposure_data {
        None => None,
        Some(data) => {
            let first = epoch_day(rules.first_day) * DAY_MILLIS;
            let now_millis = now.timestamp_millis();
            let mut days = data
                .daily_summaries
                .iter()
                .enumerate()
                .map(|(j, d)| {
                    let at = format!("exposure_data.daily_summaries[{j}]");
                    if d.date_millis.rem_euclid(DAY_MILLIS) != 0 {
                        return Err(format!(
                            "{at}.DateMillisSinceEpoch {} is not a UTC midnight",
                            d.date_millis
                        ));
                    }
                    if !(first..=now_millis).contains(&d.date_millis) {
                        return Err(format!(
                            "{at}.DateMillisSinceEpoch {} is not between the survey's first day ({}) and now",
                            d.date_millis, rules.first_day
                        ));
                    }
                    let exposure_detected = match d.exposure_detected {
                        0 => false,
                        1 => true,
                        other => return Err(format!("{at}.ExposureDetected {other} is not 0 or 1")),
                    };
                    Ok(SurveyDayFlag {
                        day: d.date_millis / DAY_MILLIS,
                        exposure_detected,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            days.sort_unstable();
            if let Some(pair) = days.windows(2).find(|w| w[0].day == w[1].day) {
                return Err(format!(
                    "exposure_data.daily_summaries holds the day {} more than once",
                    pair[0].day * DAY_MILLIS
                ));
            }
            Some(days)
        }
    };
    Ok(SurveyResponse {
        id_hash: String::new(),
        received_day: now_seconds.div_euclid(DAY_SECONDS),
        age_group,
        commute,
        start_day,
        days,
    })
}

/// The id an entry is stored under: the hex SHA-256 of a canonical binary encoding of the
/// idempotency key and the typed entry (every field in a fixed order, each string and list
/// length-prefixed, absent values marked), never of JSON text, whose member order depends on how
/// a map happens to be written. A retry of a request is stored once, however its JSON is
/// arranged; the same key with other content is another answer.
pub fn entry_id(idempotency_key: &str, entry: &EventLogEntry, content: &SurveyContent) -> String {
    fn bytes(hash: &mut Sha256, b: &[u8]) {
        hash.update((b.len() as u64).to_be_bytes());
        hash.update(b);
    }
    fn optional(hash: &mut Sha256, value: Option<&[u8]>) {
        match value {
            None => hash.update([0]),
            Some(v) => {
                hash.update([1]);
                hash.update(v);
            }
        }
    }
    let mut hash = Sha256::new();
    hash.update(b"cocoa survey entry v1\0");
    bytes(&mut hash, idempotency_key.as_bytes());
    hash.update([u8::from(entry.has_consent)]);
    hash.update(entry.epoch.to_be_bytes());
    bytes(&mut hash, entry.kind.as_bytes());
    bytes(&mut hash, entry.subtype.as_bytes());
    optional(&mut hash, content.q1.map(|q| [q]).as_ref().map(|q| &q[..]));
    optional(&mut hash, content.q2.map(|q| [q]).as_ref().map(|q| &q[..]));
    optional(
        &mut hash,
        content
            .start_date
            .map(i64::to_be_bytes)
            .as_ref()
            .map(|d| &d[..]),
    );
    match &content.exposure_data {
        None => hash.update([0]),
        Some(data) => {
            hash.update([1]);
            hash.update((data.daily_summaries.len() as u64).to_be_bytes());
            for day in &data.daily_summaries {
                hash.update(day.date_millis.to_be_bytes());
                hash.update([day.exposure_detected]);
            }
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn entry_ids_do_not_depend_on_the_order_of_json_members() {
        let a = r#"{"hasConsent": true, "epoch": 1669000000, "type": "survey", "subtype": "survey",
            "content": {"q1": 5, "q2": 3, "start_date": 1600000000,
              "exposure_data": {"daily_summaries": [{"DateMillisSinceEpoch": 1649289600000, "ExposureDetected": 1}]}}}"#;
        let b = r#"{"content": {"exposure_data": {"daily_summaries": [{"ExposureDetected": 1, "DateMillisSinceEpoch": 1649289600000}]},
              "start_date": 1600000000, "q2": 3, "q1": 5},
            "subtype": "survey", "type": "survey", "epoch": 1669000000, "hasConsent": true}"#;
        let id = |text: &str| {
            let entry: EventLogEntry = serde_json::from_str(text).unwrap();
            let content: SurveyContent = serde_json::from_value(entry.content.clone()).unwrap();
            entry_id("key-1", &entry, &content)
        };
        assert_eq!(id(a), id(b));
        // Pinned: a change of the encoding would store every retry after an upgrade twice.
        assert_eq!(id(a), PINNED_ID);
        // Anything else that differs gives another id.
        assert_ne!(id(&a.replace("\"q1\": 5", "\"q1\": 6")), id(a));
        assert_ne!(id(&a.replace("1669000000", "1669000001")), id(a));
        assert_ne!(
            id(&a.replace("\"ExposureDetected\": 1", "\"ExposureDetected\": 0")),
            id(a)
        );
        let entry: EventLogEntry = serde_json::from_str(a).unwrap();
        let content: SurveyContent = serde_json::from_value(entry.content.clone()).unwrap();
        assert_ne!(entry_id("key-2", &entry, &content), id(a));
        // A missing value and a present one are told apart (no ambiguity between fields).
        let none = SurveyContent {
            q1: None,
            q2: Some(3),
            ..content.clone()
        };
        let shifted = SurveyContent {
            q1: Some(3),
            q2: None,
            ..content.clone()
        };
        assert_ne!(
            entry_id("k", &entry, &none),
            entry_id("k", &entry, &shifted)
        );
    }

    /// Computed independently (Python's hashlib over the encoding `entry_id` documents).
    const PINNED_ID: &str = "864bae2693374a8b4d9634b1eb23cbfd4ce00f2a13aadc68cf60a68efe6c4ab0";

    fn rules() -> SurveyRules {
        SurveyRules {
            first_day: NaiveDate::from_ymd_opt(2022, 4, 7).unwrap(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 11, 20, 5, 30, 0).unwrap()
    }

    fn request(entries: serde_json::Value) -> EventLogRequest {
        serde_json::from_value(json!({"idempotencyKey": "k", "eventLogs": entries})).unwrap()
    }

    fn survey(content: serde_json::Value) -> serde_json::Value {
        json!({"hasConsent": true, "epoch": 1_668_900_000, "type": "survey", "subtype": "survey", "content": content})
    }

    #[test]
    fn an_answer_keeps_days_not_moments() {
        let r = request(json!([survey(json!({
            "q1": 5, "q2": 3, "start_date": 1_600_000_000,
            "exposure_data": {"daily_summaries": [
                {"DateMillisSinceEpoch": 1_649_376_000_000_i64, "ExposureDetected": 1},
                {"DateMillisSinceEpoch": 1_649_289_600_000_i64, "ExposureDetected": 0}]}}))]));
        let got = accept(&r, now(), &rules()).unwrap();
        assert_eq!(got.len(), 1);
        let a = &got[0];
        assert_eq!(a.id_hash.len(), 64);
        assert_eq!(a.received_day, 19_316);
        assert_eq!(a.age_group.map(AgeGroup::get), Some(5));
        assert_eq!(a.commute.map(Commute::get), Some(3));
        assert_eq!(a.start_day, Some(1_600_000_000 / 86_400));
        assert_eq!(
            a.days.as_deref().unwrap(),
            [
                SurveyDayFlag {
                    day: 19_089,
                    exposure_detected: false
                },
                SurveyDayFlag {
                    day: 19_090,
                    exposure_detected: true
                }
            ]
        );
    }

    #[test]
    fn the_id_depends_on_key_and_entry_but_not_on_key_order() {
        let a = request(json!([survey(
            json!({"q1": 1, "q2": 2, "start_date": null, "exposure_data": null})
        )]));
        let b = request(json!([survey(
            json!({"exposure_data": null, "start_date": null, "q2": 2, "q1": 1})
        )]));
        let c = request(json!([survey(
            json!({"q1": 1, "q2": 3, "start_date": null, "exposure_data": null})
        )]));
        let content = |r: &EventLogRequest| -> SurveyContent {
            serde_json::from_value(r.event_logs[0].content.clone()).unwrap()
        };
        let id = |r: &EventLogRequest| entry_id(&r.idempotency_key, &r.event_logs[0], &content(r));
        assert_eq!(id(&a), id(&b));
        assert_ne!(id(&a), id(&c));
        assert_ne!(id(&a), entry_id("other", &a.event_logs[0], &content(&a)));
    }

    #[test]
    fn entries_without_consent_are_dropped_unread() {
        let r = request(json!([
            {"hasConsent": false, "epoch": 0, "type": "other", "subtype": "x", "content": {"q1": 99}},
            survey(json!({"q1": null, "q2": null, "start_date": null, "exposure_data": null}))
        ]));
        assert_eq!(accept(&r, now(), &rules()).unwrap().len(), 1);
    }
}
