//! Values that flow between the modules of the phone: what the radio recorded (`Sighting`), what
//! matching found (`KeyMatch`), and what risk scoring made of it (`ExposureWindow`,
//! `DailySummary`). Times are unix seconds; dates are days since the unix epoch (UTC).

use gaen::{Aem, DiagnosisKey, ReportType, Rpi};
use serde::{Deserialize, Serialize};

/// One advertisement heard during a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sighting {
    /// When it was heard (unix seconds).
    pub at: i64,
    /// Received signal strength (dBm).
    pub rssi: i8,
    pub rpi: Rpi,
    pub aem: Aem,
    /// When the scan before this one ran, if known (unix seconds).
    pub previous_scan_at: Option<i64>,
}

/// A sighting that matched a diagnosis key and passed every check, with its metadata decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedSighting {
    pub at: i64,
    pub rssi: i8,
    /// From the decrypted metadata, within [-50, 20] dBm.
    pub tx_power_dbm: i8,
    /// max(tx_power - rssi, 0), in dB.
    pub attenuation_db: u8,
    pub previous_scan_at: Option<i64>,
    /// From v1.1 metadata, `None` for v1.0.
    pub calibration_confidence: Option<u8>,
}

/// A diagnosis key with the sightings of its identifiers, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    pub key: DiagnosisKey,
    pub sightings: Vec<MatchedSighting>,
}

/// Sightings no more than 25.5 s apart, summarised (one scan).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScanInstance {
    pub min_attenuation_db: u8,
    pub typical_attenuation_db: u8,
    pub seconds_since_last_scan: u32,
}

/// At most 30 minutes of sightings of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposureWindow {
    /// Days since the epoch of the first sighting (UTC).
    pub date: i64,
    pub report_type: i32,
    /// 0 NONE, 1 STANDARD, 2 HIGH.
    pub infectiousness: i32,
    pub calibration_confidence: u8,
    pub scan_instances: Vec<ScanInstance>,
    pub weighted_duration: f64,
    pub score: f64,
}

impl ExposureWindow {
    /// The report type as the protocol's enum, where it is one.
    pub fn report_type(&self) -> Option<ReportType> {
        ReportType::try_from(self.report_type).ok()
    }
}

/// Everything one UTC day's windows add up to.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DailySummary {
    /// Days since the epoch.
    pub date: i64,
    pub score_sum: f64,
    pub maximum_score: f64,
    pub weighted_duration_sum: f64,
}
