//! Key material and identifiers: `Tek`, `Rpik`, `Aemk`, `Rpi`, `Aem`, `Metadata`, plus the report
//! type and days since onset that travel with a diagnosis key. Derivations follow the v1.2
//! cryptography specification exactly (see the reference vectors in `testdata/`).

use crate::kdf;
use crate::time::{IntervalNumber, RollingPeriod};
use crate::Error;
use rand_core::CryptoRngCore;
use std::fmt;

macro_rules! byte_newtype {
    ($(#[$doc:meta])* $name:ident, $len:literal, $what:literal, secret = $secret:tt) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The raw bytes, by value.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// Lower-case hex of the bytes.
            pub fn to_hex(&self) -> String {
                use fmt::Write;
                self.0.iter().fold(String::with_capacity($len * 2), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                })
            }

            /// Parses exactly `2 * len` hex digits (either case).
            pub fn from_hex(text: &str) -> Result<Self, Error> {
                let text = text.as_bytes();
                if text.len() != $len * 2 {
                    return Err(Error::Length { what: concat!($what, " hex"), expected: $len * 2, actual: text.len() });
                }
                let mut out = [0u8; $len];
                for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
                    let hi = hex_digit(pair[0]).ok_or(Error::Crypto(format!("{} hex has a non-hex character", $what)))?;
                    let lo = hex_digit(pair[1]).ok_or(Error::Crypto(format!("{} hex has a non-hex character", $what)))?;
                    *byte = hi << 4 | lo;
                }
                Ok(Self(out))
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = Error;
            fn try_from(bytes: &[u8]) -> Result<Self, Error> {
                <[u8; $len]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| Error::Length { what: $what, expected: $len, actual: bytes.len() })
            }
        }

        byte_newtype!(@debug $name, secret = $secret);
    };
    (@debug $name:ident, secret = true) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
    (@debug $name:ident, secret = false) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

byte_newtype!(
    /// Temporary Exposure Key: 16 random bytes, valid for one rolling period (a day). Secret
    /// until published as a diagnosis key.
    Tek, 16, "TEK", secret = true
);
byte_newtype!(
    /// Rolling Proximity Identifier Key, derived from a TEK.
    Rpik, 16, "RPIK", secret = true
);
byte_newtype!(
    /// Associated Encrypted Metadata Key, derived from a TEK.
    Aemk, 16, "AEMK", secret = true
);
byte_newtype!(
    /// Rolling Proximity Identifier: what a phone broadcasts during one interval.
    Rpi, 16, "RPI", secret = false
);
byte_newtype!(
    /// Associated Encrypted Metadata: the metadata encrypted under the AEMK, keyed by the RPI.
    Aem, 4, "AEM", secret = false
);
byte_newtype!(
    /// The 4 metadata bytes: version, transmit power (signed dBm), two reserved zero bytes.
    Metadata, 4, "metadata", secret = false
);

const RPIK_INFO: &[u8] = b"EN-RPIK";
const AEMK_INFO: &[u8] = b"EN-AEMK";

impl Tek {
    /// A fresh key from a cryptographically secure RNG.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// RPIK = HKDF-SHA256(TEK, no salt, "EN-RPIK", 16).
    pub fn rpik(&self) -> Rpik {
        Rpik(kdf::hkdf16(&self.0, RPIK_INFO))
    }

    /// AEMK = HKDF-SHA256(TEK, no salt, "EN-AEMK", 16).
    pub fn aemk(&self) -> Aemk {
        Aemk(kdf::hkdf16(&self.0, AEMK_INFO))
    }

    /// The RPIKs of many TEKs, `out[i] = teks[i].rpik()`: the batch path for matching, which
    /// derives several keys side by side so that their SHA-256 chains overlap (about twice the
    /// throughput of calling [`Tek::rpik`] in a loop on a CPU with SHA-NI).
    ///
    /// # Panics
    /// If `out` is not as long as `teks`.
    pub fn rpiks_into(teks: &[Tek], out: &mut [Rpik]) {
        assert_eq!(teks.len(), out.len(), "one RPIK per TEK");
        let mut tek_chunks = teks.chunks_exact(kdf::LANES);
        let mut out_chunks = out.chunks_exact_mut(kdf::LANES);
        for (teks, out) in (&mut tek_chunks).zip(&mut out_chunks) {
            let ikms = std::array::from_fn(|lane| teks[lane].0);
            for (rpik, bytes) in out.iter_mut().zip(kdf::hkdf16_lanes(&ikms, RPIK_INFO)) {
                *rpik = Rpik(bytes);
            }
        }
        for (tek, rpik) in tek_chunks
            .remainder()
            .iter()
            .zip(out_chunks.into_remainder())
        {
            *rpik = tek.rpik();
        }
    }

    /// Both derived keys at once, sharing the HKDF extract step.
    pub fn derive(&self) -> (Rpik, Aemk) {
        let (rpik, aemk) = kdf::hkdf16_pair(&self.0, RPIK_INFO, AEMK_INFO);
        (Rpik(rpik), Aemk(aemk))
    }
}

impl Rpik {
    /// The RPI broadcast during `interval`: AES-128(RPIK, PaddedData(interval)).
    pub fn rpi(&self, interval: IntervalNumber) -> Rpi {
        Rpi(kdf::aes_block(
            &self.0,
            &kdf::rpi_padded_data(interval.get()),
        ))
    }

    /// The RPIs of `out.len()` consecutive intervals from `start`: the fast path for a whole key.
    pub fn rpis_into(&self, start: IntervalNumber, out: &mut [Rpi]) {
        kdf::rpis_into(&self.0, start.get(), out);
    }

    /// The RPIs of every interval of a key valid from `start` for `period`.
    pub fn rpis(&self, start: IntervalNumber, period: RollingPeriod) -> Vec<Rpi> {
        let mut out = vec![Rpi::default(); period.get() as usize];
        self.rpis_into(start, &mut out);
        out
    }
}

// The struct comes from `byte_newtype!`, which derives nothing optional: say it here.
#[allow(clippy::derivable_impls)]
impl Default for Rpi {
    fn default() -> Self {
        Self([0; 16])
    }
}

impl Aemk {
    /// The keystream block for `rpi`: AES-128(AEMK, RPI). AES-CTR with the RPI as IV uses its
    /// first 4 bytes for the 4 metadata bytes.
    fn keystream(&self, rpi: &Rpi) -> [u8; 4] {
        let block = kdf::aes_block(&self.0, &rpi.0);
        [block[0], block[1], block[2], block[3]]
    }

    /// AEM = AES-128-CTR(AEMK, IV = RPI) over the metadata.
    pub fn encrypt(&self, rpi: &Rpi, metadata: &Metadata) -> Aem {
        let ks = self.keystream(rpi);
        Aem(std::array::from_fn(|i| metadata.0[i] ^ ks[i]))
    }

    /// The metadata inside `aem`. Not authenticated: sanitise what comes out (see
    /// [`Metadata::tx_power_dbm`]).
    pub fn decrypt(&self, rpi: &Rpi, aem: &Aem) -> Metadata {
        let ks = self.keystream(rpi);
        Metadata(std::array::from_fn(|i| aem.0[i] ^ ks[i]))
    }
}

/// The transmit powers matching accepts after decrypting an AEM, in dBm.
pub const PLAUSIBLE_TX_POWER_DBM: std::ops::RangeInclusive<i8> = -50..=20;

impl Metadata {
    /// Version 1.0 metadata (`0x40`) with a transmit power.
    pub const fn v1_0(tx_power_dbm: i8) -> Self {
        Self([0x40, tx_power_dbm as u8, 0, 0])
    }

    /// Version 1.1 metadata (`0x50 | confidence << 2`) with a calibration confidence 0..=3.
    pub const fn v1_1(tx_power_dbm: i8, calibration_confidence: u8) -> Self {
        Self([
            0x50 | (calibration_confidence & 3) << 2,
            tx_power_dbm as u8,
            0,
            0,
        ])
    }

    /// The version byte.
    pub const fn version_byte(&self) -> u8 {
        self.0[0]
    }

    /// The calibration confidence of v1.1 metadata, `None` for other versions.
    pub const fn calibration_confidence(&self) -> Option<u8> {
        if self.0[0] & 0xF0 == 0x50 {
            Some((self.0[0] >> 2) & 3)
        } else {
            None
        }
    }

    /// The transmit power in dBm, as written (possibly garbage if the AEM was not genuine).
    pub const fn tx_power_dbm(&self) -> i8 {
        self.0[1] as i8
    }

    /// The transmit power if it is within what matching accepts ([`PLAUSIBLE_TX_POWER_DBM`]).
    pub fn plausible_tx_power_dbm(&self) -> Option<i8> {
        let p = self.tx_power_dbm();
        PLAUSIBLE_TX_POWER_DBM.contains(&p).then_some(p)
    }
}

/// How a diagnosis was made (the export file's `ReportType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum ReportType {
    Unknown = 0,
    ConfirmedTest = 1,
    ConfirmedClinicalDiagnosis = 2,
    SelfReport = 3,
    Recursive = 4,
    Revoked = 5,
}

impl ReportType {
    /// The protobuf enum value.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// Whether matching considers keys of this type (REVOKED and RECURSIVE are skipped).
    pub const fn is_matchable(self) -> bool {
        !matches!(self, Self::Revoked | Self::Recursive)
    }
}

impl TryFrom<i32> for ReportType {
    type Error = Error;
    fn try_from(v: i32) -> Result<Self, Error> {
        Ok(match v {
            0 => Self::Unknown,
            1 => Self::ConfirmedTest,
            2 => Self::ConfirmedClinicalDiagnosis,
            3 => Self::SelfReport,
            4 => Self::Recursive,
            5 => Self::Revoked,
            other => return Err(Error::ReportType(other)),
        })
    }
}

/// Days between the onset of symptoms (or the test) and a key's day: -14..=14, the range phones
/// accept in export files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DaysSinceOnset(i8);

impl DaysSinceOnset {
    /// The furthest a key may be from the onset, in days, either way.
    pub const LIMIT: i32 = 14;

    /// Days since onset, if within -14..=14.
    pub fn new(days: i32) -> Result<Self, Error> {
        if (-Self::LIMIT..=Self::LIMIT).contains(&days) {
            Ok(Self(days as i8))
        } else {
            Err(Error::DaysSinceOnset(days))
        }
    }

    /// The number of days.
    pub const fn get(self) -> i32 {
        self.0 as i32
    }
}

/// The deprecated per-key transmission risk level, 0..=8, still carried by some files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransmissionRiskLevel(u8);

impl TransmissionRiskLevel {
    /// A level, if within 0..=8.
    pub fn new(level: i32) -> Result<Self, Error> {
        match u8::try_from(level) {
            Ok(l) if l <= 8 => Ok(Self(l)),
            _ => Err(Error::TransmissionRiskLevel(level)),
        }
    }

    /// The level.
    pub const fn get(self) -> i32 {
        self.0 as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let tek = Tek::from_bytes([7; 16]);
        assert_eq!(format!("{tek:?}"), "Tek(<redacted>)");
        assert_eq!(format!("{:?}", tek.rpik()), "Rpik(<redacted>)");
        assert_eq!(
            format!("{:?}", Rpi::from_bytes([0xab; 16])),
            format!("Rpi({})", "ab".repeat(16))
        );
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(
            Aem::from_hex("0A0b0c0d").unwrap().to_bytes(),
            [10, 11, 12, 13]
        );
        assert!(matches!(Aem::from_hex("0a0b0c"), Err(Error::Length { .. })));
        assert!(Aem::from_hex("0a0b0c0g").is_err());
        assert!(Tek::try_from(&[0u8; 15][..]).is_err());
    }

    #[test]
    fn metadata_fields() {
        let m = Metadata::v1_0(8);
        assert_eq!(m.to_hex(), "40080000");
        assert_eq!(m.calibration_confidence(), None);
        let m = Metadata::v1_1(-30, 3);
        assert_eq!(m.version_byte(), 0x5c);
        assert_eq!(m.calibration_confidence(), Some(3));
        assert_eq!(m.tx_power_dbm(), -30);
        assert_eq!(m.plausible_tx_power_dbm(), Some(-30));
        assert_eq!(Metadata::v1_0(-51).plausible_tx_power_dbm(), None);
        assert_eq!(Metadata::v1_0(21).plausible_tx_power_dbm(), None);
        assert_eq!(Metadata::v1_0(20).plausible_tx_power_dbm(), Some(20));
    }

    #[test]
    fn report_type_and_days_since_onset() {
        for v in 0..=5 {
            assert_eq!(ReportType::try_from(v).unwrap().as_i32(), v);
        }
        assert_eq!(ReportType::try_from(6), Err(Error::ReportType(6)));
        assert!(!ReportType::Revoked.is_matchable());
        assert!(!ReportType::Recursive.is_matchable());
        assert!(ReportType::ConfirmedTest.is_matchable());
        assert_eq!(DaysSinceOnset::new(-14).unwrap().get(), -14);
        assert_eq!(DaysSinceOnset::new(14).unwrap().get(), 14);
        assert!(DaysSinceOnset::new(15).is_err());
        assert!(DaysSinceOnset::new(-15).is_err());
    }
}
