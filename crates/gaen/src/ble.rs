//! The 31-byte Bluetooth LE legacy advertisement of Exposure Notification: flags, the 16-bit
//! service UUID list with 0xFD6F, and service data carrying the RPI and AEM.

use crate::keys::{Aem, Rpi};
use crate::Error;

/// Length of the advertisement payload.
pub const ADVERTISEMENT_LEN: usize = 31;
/// The Exposure Notification service UUID.
pub const SERVICE_UUID: u16 = 0xFD6F;
/// The flags byte phones usually send (LE General Discoverable, BR/EDR not supported, ...).
pub const DEFAULT_FLAGS: u8 = 0x1A;
/// The flag bit that must be set: LE General Discoverable Mode.
const GENERAL_DISCOVERABLE: u8 = 0x02;

const AD_FLAGS: u8 = 0x01;
const AD_COMPLETE_UUID16_LIST: u8 = 0x03;
const AD_SERVICE_DATA_UUID16: u8 = 0x16;

/// What an Exposure Notification advertisement carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Advertisement {
    pub rpi: Rpi,
    pub aem: Aem,
}

impl Advertisement {
    /// The payload with the usual flags byte `0x1A`.
    pub fn to_bytes(&self) -> [u8; ADVERTISEMENT_LEN] {
        self.to_bytes_with_flags(DEFAULT_FLAGS)
    }

    /// The payload with a chosen flags byte (bit 1, general discoverable, is always set).
    pub fn to_bytes_with_flags(&self, flags: u8) -> [u8; ADVERTISEMENT_LEN] {
        let [uuid_lo, uuid_hi] = SERVICE_UUID.to_le_bytes();
        let mut out = [0u8; ADVERTISEMENT_LEN];
        out[..11].copy_from_slice(&[
            0x02,
            AD_FLAGS,
            flags | GENERAL_DISCOVERABLE,
            0x03,
            AD_COMPLETE_UUID16_LIST,
            uuid_lo,
            uuid_hi,
            0x17,
            AD_SERVICE_DATA_UUID16,
            uuid_lo,
            uuid_hi,
        ]);
        out[11..27].copy_from_slice(self.rpi.as_bytes());
        out[27..].copy_from_slice(self.aem.as_bytes());
        out
    }

    /// Parses a payload: exactly 31 bytes holding the three AD structures in order.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != ADVERTISEMENT_LEN {
            return Err(Error::Length {
                what: "advertisement",
                expected: ADVERTISEMENT_LEN,
                actual: bytes.len(),
            });
        }
        let uuid = SERVICE_UUID.to_le_bytes();
        if bytes[0] != 0x02 || bytes[1] != AD_FLAGS {
            return Err(Error::Advertisement(
                "the first AD structure is not flags (02 01 ..)",
            ));
        }
        if bytes[2] & GENERAL_DISCOVERABLE == 0 {
            return Err(Error::Advertisement(
                "the LE General Discoverable flag is not set",
            ));
        }
        if bytes[3] != 0x03 || bytes[4] != AD_COMPLETE_UUID16_LIST {
            return Err(Error::Advertisement(
                "the second AD structure is not a complete 16-bit UUID list of one UUID (03 03 ..)",
            ));
        }
        if bytes[5..7] != uuid {
            return Err(Error::Advertisement(
                "the service UUID list does not name 0xFD6F",
            ));
        }
        if bytes[7] != 0x17 || bytes[8] != AD_SERVICE_DATA_UUID16 {
            return Err(Error::Advertisement(
                "the third AD structure is not 22 bytes of 16-bit service data (17 16 ..)",
            ));
        }
        if bytes[9..11] != uuid {
            return Err(Error::Advertisement(
                "the service data is not for UUID 0xFD6F",
            ));
        }
        Ok(Self {
            rpi: Rpi::try_from(&bytes[11..27])?,
            aem: Aem::try_from(&bytes[27..31])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Advertisement {
        Advertisement {
            rpi: Rpi::from_bytes(std::array::from_fn(|i| i as u8)),
            aem: Aem::from_bytes([0xa0, 0xa1, 0xa2, 0xa3]),
        }
    }

    #[test]
    fn layout_is_exact() {
        let bytes = sample().to_bytes();
        assert_eq!(
            &bytes[..11],
            &[0x02, 0x01, 0x1a, 0x03, 0x03, 0x6f, 0xfd, 0x17, 0x16, 0x6f, 0xfd]
        );
        assert_eq!(bytes[11], 0);
        assert_eq!(bytes[26], 15);
        assert_eq!(&bytes[27..], &[0xa0, 0xa1, 0xa2, 0xa3]);
        assert_eq!(Advertisement::parse(&bytes).unwrap(), sample());
    }

    #[test]
    fn other_flag_bytes_are_accepted_when_discoverable() {
        let bytes = sample().to_bytes_with_flags(0x06);
        assert_eq!(bytes[2], 0x06);
        assert_eq!(Advertisement::parse(&bytes).unwrap(), sample());
        let mut bad = bytes;
        bad[2] = 0x04;
        assert!(matches!(
            Advertisement::parse(&bad),
            Err(Error::Advertisement(_))
        ));
    }

    #[test]
    fn rejects_wrong_length_uuid_and_structure() {
        let bytes = sample().to_bytes();
        assert!(matches!(
            Advertisement::parse(&bytes[..30]),
            Err(Error::Length { .. })
        ));
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            Advertisement::parse(&long),
            Err(Error::Length { .. })
        ));
        for (index, value) in [
            (0, 0x03),
            (1, 0x02),
            (3, 0x05),
            (4, 0x02),
            (5, 0x6e),
            (6, 0xfe),
            (7, 0x16),
            (8, 0x21),
            (9, 0x00),
            (10, 0xfc),
        ] {
            let mut bad = bytes;
            bad[index] = value;
            assert!(
                matches!(Advertisement::parse(&bad), Err(Error::Advertisement(_))),
                "byte {index} = {value:#x} must be rejected"
            );
        }
    }
}
