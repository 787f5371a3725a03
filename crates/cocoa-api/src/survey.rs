//! The end-of-use survey on the wire: COCOA's event log (`PUT /api/v1/event_log`,
//! `cocoa-wire.md` section 5). Shapes only; the server validates, the phone builds.

use serde::{Deserialize, Serialize};

/// The `type` and `subtype` of a survey entry.
pub const SURVEY_TYPE: &str = "survey";

/// `PUT /api/v1/event_log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLogRequest {
    /// One per answer, kept across retries.
    pub idempotency_key: String,
    /// Accepted for compatibility; never stored.
    #[serde(default)]
    pub platform: Option<String>,
    /// Accepted for compatibility; never stored.
    #[serde(default)]
    pub app_package_name: Option<String>,
    /// Accepted for compatibility; never stored.
    #[serde(default)]
    pub device_verification_payload: Option<String>,
    pub event_logs: Vec<EventLogEntry>,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLogEntry {
    /// Entries without consent are dropped by the server.
    pub has_consent: bool,
    /// When the phone made the entry (unix seconds); not stored.
    pub epoch: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub subtype: String,
    /// For a survey, a `SurveyContent`.
    pub content: serde_json::Value,
}

/// The survey's answers. Every field is sent, `null` when not answered or not consented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyContent {
    /// Age group 1..=9 (1 = 14 or under ... 9 = 70 or over), `None` = no answer.
    pub q1: Option<u8>,
    /// Commuting 1..=3 (1 none, 2 without public transport, 3 with), `None` = no answer.
    pub q2: Option<u8>,
    /// The day the app was first used (unix seconds at UTC midnight), when consented.
    pub start_date: Option<i64>,
    /// Daily exposure flags, when consented.
    pub exposure_data: Option<SurveyExposureData>,
}

/// The daily part of the survey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyExposureData {
    pub daily_summaries: Vec<SurveyDay>,
}

/// One day on which keys of a positive person were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyDay {
    /// UTC midnight of the day, in milliseconds.
    #[serde(rename = "DateMillisSinceEpoch")]
    pub date_millis: i64,
    /// 1 when the day's maximum score reached the threshold, else 0.
    #[serde(rename = "ExposureDetected")]
    pub exposure_detected: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cocoas_example_parses_and_nulls_are_written() {
        let text = r#"{ "idempotencyKey": "k", "platform": "android", "appPackageName": "jp.go.mhlw.covid19radar",
            "deviceVerificationPayload": "x",
            "eventLogs": [ { "hasConsent": true, "epoch": 1669000000, "type": "survey", "subtype": "survey",
              "content": { "q1": 5, "q2": 3, "start_date": 1600000000,
                "exposure_data": { "daily_summaries": [ { "DateMillisSinceEpoch": 1649289600000, "ExposureDetected": 0 } ] } } } ] }"#;
        let r: EventLogRequest = serde_json::from_str(text).unwrap();
        let content: SurveyContent =
            serde_json::from_value(r.event_logs[0].content.clone()).unwrap();
        assert_eq!(content.q1, Some(5));
        assert_eq!(
            content.exposure_data.unwrap().daily_summaries[0].date_millis,
            1_649_289_600_000
        );
        let empty = SurveyContent {
            q1: None,
            q2: None,
            start_date: None,
            exposure_data: None,
        };
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"q1":null,"q2":null,"start_date":null,"exposure_data":null}"#
        );
        assert!(serde_json::from_str::<SurveyContent>(
            r#"{"q1":1,"q2":1,"start_date":null,"exposure_data":null,"x":1}"#
        )
        .is_err());
    }
}
