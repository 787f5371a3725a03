//! The JSON form of a diagnosis key used by `cocoa keys inspect --json` and `cocoa keys sign
//! --keys`: field names as in the export protobuf, key data as standard base64 with padding.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gaen::{
    DaysSinceOnset, DiagnosisKey, IntervalNumber, ReportType, RollingPeriod, Tek,
    TransmissionRiskLevel,
};
use serde::{Deserialize, Serialize};

/// One key. On output, optional fields appear only when the file has them (`rolling_period`
/// always, with its default of 144 when the file omits it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    pub key_data: String,
    pub rolling_start_interval_number: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmission_risk_level: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<ReportTypeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_since_onset_of_symptoms: Option<i32>,
}

/// A report type: written as its number, read as a number or as the protobuf enum name
/// (`"CONFIRMED_TEST"`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReportTypeJson {
    Number(i32),
    Name(String),
}

const REPORT_TYPE_NAMES: [&str; 6] = [
    "UNKNOWN",
    "CONFIRMED_TEST",
    "CONFIRMED_CLINICAL_DIAGNOSIS",
    "SELF_REPORT",
    "RECURSIVE",
    "REVOKED",
];

impl ReportTypeJson {
    fn parse(&self) -> anyhow::Result<ReportType> {
        let number = match self {
            Self::Number(n) => *n,
            Self::Name(name) => REPORT_TYPE_NAMES
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "report_type {name:?} is not one of {}",
                        REPORT_TYPE_NAMES.join(", ")
                    )
                })? as i32,
        };
        Ok(ReportType::try_from(number)?)
    }
}

impl KeyJson {
    pub fn from_key(key: &DiagnosisKey) -> Self {
        Self {
            key_data: STANDARD.encode(key.key.as_bytes()),
            rolling_start_interval_number: i64::from(key.rolling_start.get()),
            rolling_period: Some(i64::from(key.rolling_period.get())),
            transmission_risk_level: key.transmission_risk_level.map(TransmissionRiskLevel::get),
            report_type: key.report_type.map(|r| ReportTypeJson::Number(r.as_i32())),
            days_since_onset_of_symptoms: key.days_since_onset.map(DaysSinceOnset::get),
        }
    }

    pub fn to_key(&self) -> anyhow::Result<DiagnosisKey> {
        let bytes = STANDARD
            .decode(&self.key_data)
            .map_err(|e| anyhow::anyhow!("key_data is not standard base64: {e}"))?;
        Ok(DiagnosisKey {
            key: Tek::try_from(bytes.as_slice())?,
            rolling_start: IntervalNumber::from_i64(self.rolling_start_interval_number)?,
            rolling_period: match self.rolling_period {
                Some(p) => RollingPeriod::new(p)?,
                None => RollingPeriod::FULL_DAY,
            },
            transmission_risk_level: self
                .transmission_risk_level
                .map(TransmissionRiskLevel::new)
                .transpose()?,
            report_type: self
                .report_type
                .as_ref()
                .map(ReportTypeJson::parse)
                .transpose()?,
            days_since_onset: self
                .days_since_onset_of_symptoms
                .map(DaysSinceOnset::new)
                .transpose()?,
        })
    }
}
