//! The two configuration files phones download from `c19r/exposure_configuration/`:
//! `configuration.json` (how exposure windows are scored) and
//! `risk_calculation_configuration.json` (COCOA's notification rule). Field names follow
//! COCOA's files; `Default` gives COCOA's published values (`gaen.md` section 6).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Infectiousness values of the Exposure Notification API.
pub mod infectiousness {
    pub const NONE: i32 = 0;
    pub const STANDARD: i32 = 1;
    pub const HIGH: i32 = 2;
}

/// `configuration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposureConfiguration {
    #[serde(rename = "GoogleDailySummariesConfig")]
    pub daily_summaries: DailySummariesConfig,
    #[serde(rename = "GoogleDiagnosisKeysDataMappingConfig")]
    pub data_mapping: DiagnosisKeysDataMapping,
}

/// How windows and days are scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DailySummariesConfig {
    /// Thresholds t0 <= t1 <= t2 (dB): IMMEDIATE <= t0 < NEAR <= t1 < MEDIUM <= t2 < OTHER.
    pub attenuation_bucket_threshold_db: [i32; 3],
    /// Weights of IMMEDIATE, NEAR, MEDIUM, OTHER.
    pub attenuation_bucket_weights: [f64; 4],
    pub days_since_exposure_threshold: i32,
    /// Weight per infectiousness ("1" STANDARD, "2" HIGH).
    pub infectiousness_weights: BTreeMap<String, f64>,
    pub minimum_window_score: f64,
    /// Weight per report type ("1".."4").
    pub report_type_weights: BTreeMap<String, f64>,
}

/// How days since onset map to infectiousness, and what missing values mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiagnosisKeysDataMapping {
    /// Days since onset (-14..=14, as strings) to infectiousness (0 NONE, 1 STANDARD, 2 HIGH).
    pub infectiousness_for_days_since_onset_of_symptoms: BTreeMap<String, i32>,
    pub report_type_when_missing: i32,
    pub infectiousness_when_days_since_onset_missing: i32,
}

impl Default for ExposureConfiguration {
    fn default() -> Self {
        let mapping = (-14..=14)
            .map(|d: i32| {
                let value = if (-3..=10).contains(&d) {
                    infectiousness::HIGH
                } else {
                    infectiousness::NONE
                };
                (d.to_string(), value)
            })
            .collect();
        Self {
            daily_summaries: DailySummariesConfig {
                attenuation_bucket_threshold_db: [46, 60, 65],
                attenuation_bucket_weights: [1.0, 2.5, 1.3, 0.01],
                days_since_exposure_threshold: 0,
                infectiousness_weights: [("1".to_owned(), 1.0), ("2".to_owned(), 1.0)].into(),
                minimum_window_score: 0.0,
                report_type_weights: (1..=4).map(|t: i32| (t.to_string(), 1.0)).collect(),
            },
            data_mapping: DiagnosisKeysDataMapping {
                infectiousness_for_days_since_onset_of_symptoms: mapping,
                report_type_when_missing: 1,
                infectiousness_when_days_since_onset_missing: infectiousness::HIGH,
            },
        }
    }
}

impl ExposureConfiguration {
    /// Checks what a phone relies on: ordered thresholds, non-negative weights, a mapping for
    /// every day -14..=14 with values 0..=2.
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.daily_summaries;
        let [t0, t1, t2] = d.attenuation_bucket_threshold_db;
        if !(0 <= t0 && t0 <= t1 && t1 <= t2 && t2 <= 255) {
            return Err(
                "AttenuationBucketThresholdDb must be 3 ascending values within 0..=255".into(),
            );
        }
        let weights = d
            .attenuation_bucket_weights
            .iter()
            .chain(d.infectiousness_weights.values())
            .chain(d.report_type_weights.values());
        if weights.clone().any(|w| !w.is_finite() || *w < 0.0)
            || !d.minimum_window_score.is_finite()
        {
            return Err("weights must be finite and non-negative".into());
        }
        let m = &self.data_mapping;
        for day in -14..=14 {
            match m
                .infectiousness_for_days_since_onset_of_symptoms
                .get(&day.to_string())
            {
                Some(v) if (0..=2).contains(v) => {}
                _ => {
                    return Err(format!(
                    "InfectiousnessForDaysSinceOnsetOfSymptoms needs day {day} with a value 0..=2"
                ))
                }
            }
        }
        if !(1..=4).contains(&m.report_type_when_missing)
            || !(0..=2).contains(&m.infectiousness_when_days_since_onset_missing)
        {
            return Err("ReportTypeWhenMissing must be 1..=4 and InfectiousnessWhenDaysSinceOnsetMissing 0..=2".into());
        }
        Ok(())
    }
}

/// A comparison of COCOA's notification rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// `NOP` (always true), `=`, `>=`, `>`, `<=`, `<`.
    pub op: String,
    pub value: f64,
}

impl Criterion {
    fn nop() -> Self {
        Self {
            op: "NOP".into(),
            value: 0.0,
        }
    }

    fn at_least(value: f64) -> Self {
        Self {
            op: ">=".into(),
            value,
        }
    }

    /// Whether `x` satisfies the criterion; `None` for an unknown operator.
    pub fn holds(&self, x: f64) -> Option<bool> {
        Some(match self.op.as_str() {
            "NOP" => true,
            "=" => x == self.value,
            ">=" => x >= self.value,
            ">" => x > self.value,
            "<=" => x <= self.value,
            "<" => x < self.value,
            _ => return None,
        })
    }
}

/// `risk_calculation_configuration.json`, format version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskCalculationConfiguration {
    pub format_version: u32,
    #[serde(rename = "DailySummary_DaySummary_ScoreSum")]
    pub score_sum: Criterion,
    #[serde(rename = "DailySummary_WeightedDurationAverage")]
    pub weighted_duration_average: Criterion,
    #[serde(rename = "ExposureWindow_ScanInstance_SecondsSinceLastScanSum")]
    pub seconds_since_last_scan_sum: Criterion,
    #[serde(rename = "ExposureWindow_ScanInstance_TypicalAttenuationDb_Max")]
    pub typical_attenuation_max: Criterion,
    #[serde(rename = "ExposureWindow_ScanInstance_TypicalAttenuationDb_Min")]
    pub typical_attenuation_min: Criterion,
}

impl Default for RiskCalculationConfiguration {
    fn default() -> Self {
        Self {
            format_version: 1,
            score_sum: Criterion::at_least(1350.0),
            weighted_duration_average: Criterion::nop(),
            seconds_since_last_scan_sum: Criterion::at_least(900.0),
            typical_attenuation_max: Criterion::nop(),
            typical_attenuation_min: Criterion::nop(),
        }
    }
}

impl RiskCalculationConfiguration {
    /// Checks the format version and that every operator is known.
    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != 1 {
            return Err(format!(
                "format_version {} is not supported (1 is)",
                self.format_version
            ));
        }
        for c in [
            &self.score_sum,
            &self.weighted_duration_average,
            &self.seconds_since_last_scan_sum,
            &self.typical_attenuation_max,
            &self.typical_attenuation_min,
        ] {
            if c.holds(0.0).is_none() || !c.value.is_finite() {
                return Err(format!("unknown operator {:?} or non-finite value", c.op));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_cocoas_published_values() {
        let c = ExposureConfiguration::default();
        c.validate().unwrap();
        let m = &c
            .data_mapping
            .infectiousness_for_days_since_onset_of_symptoms;
        assert_eq!(m.len(), 29);
        assert_eq!(m["-4"], infectiousness::NONE);
        assert_eq!(m["-3"], infectiousness::HIGH);
        assert_eq!(m["10"], infectiousness::HIGH);
        assert_eq!(m["11"], infectiousness::NONE);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["GoogleDailySummariesConfig"]["AttenuationBucketThresholdDb"],
            serde_json::json!([46, 60, 65])
        );
        let r = RiskCalculationConfiguration::default();
        r.validate().unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["DailySummary_DaySummary_ScoreSum"],
            serde_json::json!({"op": ">=", "value": 1350.0})
        );
        assert_eq!(json["format_version"], 1);
    }

    #[test]
    fn cocoas_risk_file_parses() {
        let text = r#"{ "format_version": 1,
            "DailySummary_DaySummary_ScoreSum": { "op": ">=", "value": 1350.0 },
            "DailySummary_WeightedDurationAverage": { "op": "NOP", "value": 0.0 },
            "ExposureWindow_ScanInstance_SecondsSinceLastScanSum": { "op": ">=", "value": 900.0 },
            "ExposureWindow_ScanInstance_TypicalAttenuationDb_Max": { "op": "NOP", "value": 0.0 },
            "ExposureWindow_ScanInstance_TypicalAttenuationDb_Min": { "op": "NOP", "value": 0.0 } }"#;
        let r: RiskCalculationConfiguration = serde_json::from_str(text).unwrap();
        assert_eq!(r, RiskCalculationConfiguration::default());
        let mut bad = r.clone();
        bad.score_sum.op = "~".into();
        assert!(bad.validate().is_err());
        assert_eq!(Criterion::at_least(2.0).holds(2.0), Some(true));
        assert_eq!(
            Criterion {
                op: "<".into(),
                value: 2.0
            }
            .holds(2.0),
            Some(false)
        );
    }

    #[test]
    fn invalid_exposure_configurations_are_refused() {
        let mut c = ExposureConfiguration::default();
        c.daily_summaries.attenuation_bucket_threshold_db = [60, 46, 65];
        assert!(c.validate().is_err());
        let mut c = ExposureConfiguration::default();
        c.data_mapping
            .infectiousness_for_days_since_onset_of_symptoms
            .remove("0");
        assert!(c.validate().is_err());
        let mut c = ExposureConfiguration::default();
        c.daily_summaries.attenuation_bucket_weights[0] = -1.0;
        assert!(c.validate().is_err());
    }
}
