//! Wire types shared by the phone and the server: the COCOA-compatible JSON of positive
//! registration (`/api/v2/diagnosis`, `/api/v3/diagnosis`), processing-number issuance, and the
//! error body every endpoint uses. Field names follow COCOA exactly (see `cocoa-wire.md` §1).
//!
//! Also the two configuration files phones download (`configuration`), the survey's answers as
//! the server stores them and the analysis reads them (`survey_domain`), and the registration
//! counts per day (`stats`).
//!
//! Only shapes live here: validation belongs to the server, behaviour to the phone.

pub mod configuration;
pub mod stats;
pub mod survey;
pub mod survey_domain;

pub use configuration::{ExposureConfiguration, RiskCalculationConfiguration};
pub use stats::{RegistrationDay, RegistrationStats, RegistrationStatsDay};
pub use survey::{EventLogEntry, EventLogRequest, SurveyContent, SurveyDay, SurveyExposureData};
pub use survey_domain::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};

use serde::{Deserialize, Serialize};

/// `PUT /api/v2/diagnosis` and `/api/v3/diagnosis`: a positive person's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisRequest {
    pub has_symptom: bool,
    /// RFC 3339, e.g. `2022-08-01T00:00:00.000+09:00`.
    pub onset_of_symptom_or_test_date: String,
    pub keys: Vec<DiagnosisRequestKey>,
    pub regions: Vec<String>,
    #[serde(default)]
    pub platform: Option<String>,
    /// Device attestation; accepted for compatibility, never stored.
    #[serde(default)]
    pub device_verification_payload: Option<String>,
    #[serde(default)]
    pub app_package_name: Option<String>,
    /// The processing number, exactly 8 digits.
    pub verification_payload: String,
    /// One per registration attempt, kept across retries (COCOA v3's snake_case name).
    #[serde(default, rename = "idempotency_key")]
    pub idempotency_key: Option<String>,
    /// 1024-2047 random characters so that request sizes reveal nothing.
    #[serde(default)]
    pub padding: Option<String>,
}

/// One key of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisRequestKey {
    /// Standard base64 of the 16 key bytes.
    pub key_data: String,
    pub rolling_start_number: i64,
    #[serde(default = "full_day")]
    pub rolling_period: i64,
    #[serde(default)]
    pub report_type: Option<i32>,
}

fn full_day() -> i64 {
    144
}

/// The `/api/v3/diagnosis` answer: the accepted parameters echoed, payloads nulled, plus a
/// warning for every key that was dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisResponse {
    pub has_symptom: bool,
    pub onset_of_symptom_or_test_date: String,
    /// The keys that will be published.
    pub keys: Vec<DiagnosisRequestKey>,
    pub regions: Vec<String>,
    pub platform: Option<String>,
    pub device_verification_payload: Option<String>,
    pub app_package_name: Option<String>,
    pub verification_payload: Option<String>,
    #[serde(rename = "idempotency_key")]
    pub idempotency_key: Option<String>,
    pub padding: Option<String>,
    pub warnings: Vec<KeyWarning>,
}

/// Why one key of a registration was not accepted (the rest were).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyWarning {
    /// The key's position in the request.
    pub index: usize,
    /// A stable machine-readable code, e.g. `outside_infectious_window`.
    pub code: String,
    pub message: String,
}

/// `POST /api/v1/processing-numbers`: what a health centre asks for (every field optional).
/// A field is either absent or has a value: `null` is refused, as the OpenAPI document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueNumbersRequest {
    /// How many numbers, 1..=100 (default 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub count: Option<u32>,
    /// Minutes until the numbers expire, 1..=1440 (default 1440, 24 hours).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub lifetime_minutes: Option<u32>,
    /// `YYYY-MM-DD`: the date symptoms began, when the health centre knows it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub symptom_onset_date: Option<String>,
    /// `YYYY-MM-DD`: the date of the positive test, for people without symptoms.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub test_date: Option<String>,
}

/// An optional field that, when present, must hold a value: `null` is an error (serde would
/// read it as absent). Absence is handled by `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The numbers issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueNumbersResponse {
    pub processing_numbers: Vec<IssuedNumber>,
}

/// One processing number and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedNumber {
    pub processing_number: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// The body of every error answer: a stable code for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    /// With `internal_error` only: the id under which the server logged the failure, to quote
    /// to its operator.
    #[serde(rename = "errorId", default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

/// The stable error codes.
pub mod codes {
    pub const PROCESSING_NUMBER_INVALID: &str = "processing_number_invalid";
    pub const PROCESSING_NUMBER_EXPIRED: &str = "processing_number_expired";
    pub const PROCESSING_NUMBER_USED: &str = "processing_number_used";
    pub const BAD_REQUEST: &str = "bad_request";
    pub const UNSUPPORTED_REGION: &str = "unsupported_region";
    pub const INVALID_KEYS: &str = "invalid_keys";
    pub const NO_KEYS_IN_WINDOW: &str = "no_keys_in_infectious_window";
    pub const INVALID_ONSET_DATE: &str = "invalid_onset_date";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const STORAGE_UNAVAILABLE: &str = "storage_unavailable";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const INTERNAL: &str = "internal_error";
    /// No unused processing number could be drawn (the number space is nearly full).
    pub const NUMBERS_EXHAUSTED: &str = "processing_numbers_exhausted";
    pub const LENGTH_REQUIRED: &str = "length_required";
    pub const INVALID_SURVEY: &str = "invalid_survey";
    pub const SURVEY_CLOSED: &str = "survey_closed";
    /// 400: the body ended before its `Content-Length`, or its chunked framing is broken.
    pub const MALFORMED_BODY: &str = "malformed_body";
    /// 415: a request body not declared as `Content-Type: application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// 400: the request path is not valid percent-encoded UTF-8.
    pub const INVALID_PATH: &str = "invalid_path";
    /// 408: the request body did not arrive within `http.request_body_timeout_seconds`.
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// 503: every connection the server allows is busy with a request.
    pub const OVERLOADED: &str = "overloaded";
}

/// One entry of `c19r/<region>/list.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub region: String,
    /// Absolute URL of the zip.
    pub url: String,
    /// When the file was published, in MILLISECONDS since the epoch (despite the name).
    pub created: i64,
}

/// `GET /api/v1/export-signing-keys`: the public keys export files are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyInfo {
    pub verification_key_id: String,
    pub verification_key_version: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuance_fields_are_absent_or_valued_never_null() {
        let read = |text: &str| serde_json::from_str::<IssueNumbersRequest>(text);
        assert_eq!(read("{}").unwrap(), IssueNumbersRequest::default());
        let full = read(
            r#"{"count":2,"lifetimeMinutes":60,"symptomOnsetDate":"2022-08-01","testDate":"2022-08-02"}"#,
        )
        .unwrap();
        assert_eq!(full.count, Some(2));
        assert_eq!(full.lifetime_minutes, Some(60));
        for field in ["count", "lifetimeMinutes", "symptomOnsetDate", "testDate"] {
            assert!(read(&format!("{{\"{field}\":null}}")).is_err(), "{field}");
        }
        assert_eq!(
            serde_json::to_string(&IssueNumbersRequest::default()).unwrap(),
            "{}"
        );
    }
}
