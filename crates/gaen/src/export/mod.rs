//! Diagnosis-key export files: `export.bin` (a 16-byte header and a `TemporaryExposureKeyExport`
//! protobuf), `export.sig` (a `TEKSignatureList`), the zip that holds exactly those two, and
//! ECDSA P-256 signatures over the whole of `export.bin`.
//!
//! Parsing is strict: a wrong header, undecodable protobuf, a key that phones would reject, a zip
//! with other members or an oversized member is an [`Error`], never a panic.

mod container;
mod proto;
mod signing;

pub use container::{read_container, write_container, MAX_EXPORT_BIN_BYTES, MAX_EXPORT_SIG_BYTES};
pub use signing::{ExportSigner, ExportVerifier, SignedExport, Verified};

use crate::keys::{DaysSinceOnset, ReportType, Tek, TransmissionRiskLevel};
use crate::time::{IntervalNumber, RollingPeriod};
use crate::Error;
use prost::Message;

/// The first 16 bytes of every `export.bin`.
pub const EXPORT_HEADER: &[u8; 16] = b"EK Export v1    ";
/// The only signature algorithm: ECDSA P-256 with SHA-256.
pub const SIGNATURE_ALGORITHM: &str = "1.2.840.10045.4.3.2";

/// Who signed a file and how: lets a phone pick the public key to verify with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SignatureInfo {
    pub verification_key_version: String,
    pub verification_key_id: String,
    pub signature_algorithm: String,
}

impl SignatureInfo {
    /// The info for an ECDSA P-256 key with this id (conventionally the MCC, `440` for Japan) and
    /// version.
    pub fn p256(key_id: impl Into<String>, key_version: impl Into<String>) -> Self {
        Self {
            verification_key_version: key_version.into(),
            verification_key_id: key_id.into(),
            signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
        }
    }

    fn to_proto(&self) -> proto::SignatureInfo {
        proto::SignatureInfo {
            verification_key_version: Some(self.verification_key_version.clone()),
            verification_key_id: Some(self.verification_key_id.clone()),
            signature_algorithm: Some(self.signature_algorithm.clone()),
        }
    }

    fn from_proto(p: proto::SignatureInfo) -> Self {
        Self {
            verification_key_version: p.verification_key_version.unwrap_or_default(),
            verification_key_id: p.verification_key_id.unwrap_or_default(),
            signature_algorithm: p.signature_algorithm.unwrap_or_default(),
        }
    }
}

/// One published key with what travels with it. Optional fields are `None` when the file omits
/// them; an omitted rolling period reads as 144.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DiagnosisKey {
    pub key: Tek,
    pub rolling_start: IntervalNumber,
    pub rolling_period: RollingPeriod,
    pub transmission_risk_level: Option<TransmissionRiskLevel>,
    pub report_type: Option<ReportType>,
    pub days_since_onset: Option<DaysSinceOnset>,
}

impl DiagnosisKey {
    /// The first interval after this key's validity.
    pub fn end(&self) -> u64 {
        u64::from(self.rolling_start.get()) + u64::from(self.rolling_period.get())
    }

    fn to_proto(&self) -> proto::TemporaryExposureKey {
        proto::TemporaryExposureKey {
            key_data: Some(self.key.as_bytes().to_vec()),
            transmission_risk_level: self.transmission_risk_level.map(TransmissionRiskLevel::get),
            // Interval numbers beyond i32::MAX are in the year 42,800: the cast cannot wrap in
            // practice, and `from_proto` rejects negative values, so nothing silently changes.
            rolling_start_interval_number: Some(self.rolling_start.get() as i32),
            rolling_period: Some(self.rolling_period.get() as i32),
            report_type: self.report_type.map(ReportType::as_i32),
            days_since_onset_of_symptoms: self.days_since_onset.map(DaysSinceOnset::get),
        }
    }

    fn from_proto(p: proto::TemporaryExposureKey) -> Result<Self, Error> {
        let key_data = p.key_data.ok_or(Error::MissingField("key_data"))?;
        let start = p
            .rolling_start_interval_number
            .ok_or(Error::MissingField("rolling_start_interval_number"))?;
        Ok(Self {
            key: Tek::try_from(key_data.as_slice())?,
            rolling_start: IntervalNumber::from_i64(i64::from(start))?,
            rolling_period: match p.rolling_period {
                Some(n) => RollingPeriod::new(i64::from(n))?,
                None => RollingPeriod::FULL_DAY,
            },
            transmission_risk_level: p
                .transmission_risk_level
                .map(TransmissionRiskLevel::new)
                .transpose()?,
            report_type: p.report_type.map(ReportType::try_from).transpose()?,
            days_since_onset: p
                .days_since_onset_of_symptoms
                .map(DaysSinceOnset::new)
                .transpose()?,
        })
    }
}

/// The contents of `export.bin`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyExport {
    pub start_timestamp: u64,
    pub end_timestamp: u64,
    pub region: String,
    pub batch_num: i32,
    pub batch_size: i32,
    pub signature_infos: Vec<SignatureInfo>,
    pub keys: Vec<DiagnosisKey>,
    pub revised_keys: Vec<DiagnosisKey>,
}

impl KeyExport {
    /// `export.bin`: the header followed by the protobuf.
    pub fn to_export_bin(&self) -> Vec<u8> {
        let message = proto::TemporaryExposureKeyExport {
            start_timestamp: Some(self.start_timestamp),
            end_timestamp: Some(self.end_timestamp),
            region: Some(self.region.clone()),
            batch_num: Some(self.batch_num),
            batch_size: Some(self.batch_size),
            signature_infos: self
                .signature_infos
                .iter()
                .map(SignatureInfo::to_proto)
                .collect(),
            keys: self.keys.iter().map(DiagnosisKey::to_proto).collect(),
            revised_keys: self
                .revised_keys
                .iter()
                .map(DiagnosisKey::to_proto)
                .collect(),
        };
        let mut out = Vec::with_capacity(EXPORT_HEADER.len() + message.encoded_len());
        out.extend_from_slice(EXPORT_HEADER);
        message.encode(&mut out).expect("a Vec grows as needed");
        out
    }

    /// Parses `export.bin`, rejecting a wrong header, bad protobuf and keys phones would reject.
    pub fn from_export_bin(bytes: &[u8]) -> Result<Self, Error> {
        let body = bytes
            .strip_prefix(EXPORT_HEADER)
            .ok_or(Error::ExportHeader)?;
        let message =
            proto::TemporaryExposureKeyExport::decode(body).map_err(|e| Error::Protobuf {
                message: "export.bin",
                reason: e.to_string(),
            })?;
        let keys = |list: &'static str, keys: Vec<proto::TemporaryExposureKey>| {
            keys.into_iter()
                .enumerate()
                .map(|(index, k)| {
                    DiagnosisKey::from_proto(k).map_err(|reason| Error::ExportKey {
                        list,
                        index,
                        reason: Box::new(reason),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            start_timestamp: message.start_timestamp.unwrap_or_default(),
            end_timestamp: message.end_timestamp.unwrap_or_default(),
            region: message.region.unwrap_or_default(),
            batch_num: message.batch_num.unwrap_or_default(),
            batch_size: message.batch_size.unwrap_or_default(),
            signature_infos: message
                .signature_infos
                .into_iter()
                .map(SignatureInfo::from_proto)
                .collect(),
            keys: keys("keys", message.keys)?,
            revised_keys: keys("revised_keys", message.revised_keys)?,
        })
    }
}

/// One entry of `export.sig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSignature {
    pub signature_info: SignatureInfo,
    pub batch_num: i32,
    pub batch_size: i32,
    /// DER-encoded ECDSA signature over the whole of `export.bin`.
    pub signature: Vec<u8>,
}

/// Encodes `export.sig`.
pub fn encode_signature_list(signatures: &[ExportSignature]) -> Vec<u8> {
    proto::TekSignatureList {
        signatures: signatures
            .iter()
            .map(|s| proto::TekSignature {
                signature_info: Some(s.signature_info.to_proto()),
                batch_num: Some(s.batch_num),
                batch_size: Some(s.batch_size),
                signature: Some(s.signature.clone()),
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Decodes `export.sig`; every entry must carry a signature.
pub fn decode_signature_list(bytes: &[u8]) -> Result<Vec<ExportSignature>, Error> {
    let list = proto::TekSignatureList::decode(bytes).map_err(|e| Error::Protobuf {
        message: "export.sig",
        reason: e.to_string(),
    })?;
    list.signatures
        .into_iter()
        .map(|s| {
            Ok(ExportSignature {
                signature_info: SignatureInfo::from_proto(s.signature_info.unwrap_or_default()),
                batch_num: s.batch_num.unwrap_or_default(),
                batch_size: s.batch_size.unwrap_or_default(),
                signature: s
                    .signature
                    .ok_or(Error::MissingField("export.sig signature"))?,
            })
        })
        .collect()
}
