//! Registration counts: the aggregate the server keeps per UTC day and region (kept after the
//! keys are deleted, until the survey's data is), and `GET /api/v1/stats/registrations`, its
//! published form. Shapes only: the embargo and suppression rules belong to the server.

use serde::{Deserialize, Serialize};

/// One day and region of the aggregate, unsuppressed (what the store keeps; for the report).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistrationDay {
    /// The UTC day the registrations were accepted (days since 1970-01-01).
    pub day: i64,
    pub region: String,
    /// Positive registrations accepted (a retry of one is not counted again).
    pub registrations: u64,
    /// Keys they stored in this region.
    pub keys: u64,
    /// Of the registrations, those registered as symptomatic (the symptomatic infectious window
    /// was applied).
    pub symptomatic_registrations: u64,
}

/// `GET /api/v1/stats/registrations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationStats {
    /// By date, then region. A day and region absent had no registration, or is not published
    /// yet.
    pub days: Vec<RegistrationStatsDay>,
}

/// One published day and region. The counts are all `null` when `suppressed`, and all numbers
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationStatsDay {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    pub region: String,
    /// Whether the counts are withheld: the day had fewer registrations than the publication
    /// threshold (but at least one).
    pub suppressed: bool,
    pub registrations: Option<u64>,
    pub keys: Option<u64>,
    pub symptomatic: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressed_counts_are_written_as_null() {
        let stats = RegistrationStats {
            days: vec![
                RegistrationStatsDay {
                    date: "2022-08-01".into(),
                    region: "440".into(),
                    suppressed: false,
                    registrations: Some(12),
                    keys: Some(130),
                    symptomatic: Some(9),
                },
                RegistrationStatsDay {
                    date: "2022-08-02".into(),
                    region: "440".into(),
                    suppressed: true,
                    registrations: None,
                    keys: None,
                    symptomatic: None,
                },
            ],
        };
        let text = serde_json::to_string(&stats).unwrap();
        assert_eq!(
            text,
            r#"{"days":[{"date":"2022-08-01","region":"440","suppressed":false,"registrations":12,"keys":130,"symptomatic":9},{"date":"2022-08-02","region":"440","suppressed":true,"registrations":null,"keys":null,"symptomatic":null}]}"#
        );
        assert_eq!(
            serde_json::from_str::<RegistrationStats>(&text).unwrap(),
            stats
        );
    }
}
