//! The end-of-use survey's answers as stored and analysed: what the server keeps of an accepted
//! answer (`cocoa_server::survey::accept` makes them) and what the analysis reads back. Shared
//! here so that the analysis depends on these types, not on the server.
//!
//! Also the compact encoding of the daily data the server stores (`encode_days`,
//! `decode_days`): per day, ascending, 4 bytes big-endian (unsigned) of
//! `day * 2 + exposure_detected`.

use std::fmt;

/// Age group 1..=9 (1 = 14 or under, 2 = 15-19, ..., 9 = 70 or over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgeGroup(u8);

impl AgeGroup {
    pub fn new(code: u8) -> Option<Self> {
        (1..=9).contains(&code).then_some(Self(code))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Commuting at least once a week: 1 does not commute, 2 without public transport, 3 with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Commute(u8);

impl Commute {
    pub fn new(code: u8) -> Option<Self> {
        (1..=3).contains(&code).then_some(Self(code))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// One day of the daily data: keys of a positive person were seen that UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SurveyDayFlag {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Whether the day's exposure reached the notification threshold.
    pub exposure_detected: bool,
}

/// One stored answer: everything the server keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyResponse {
    /// Hex SHA-256 of the idempotency key and the typed entry, canonically encoded
    /// (`cocoa_server::survey::entry_id`): a retried request maps to the same id and is stored
    /// once.
    pub id_hash: String,
    /// The UTC day the server received it (days since the epoch).
    pub received_day: i64,
    /// `None`: "no answer".
    pub age_group: Option<AgeGroup>,
    /// `None`: "no answer".
    pub commute: Option<Commute>,
    /// The UTC day use started (days since the epoch); `None` when not consented.
    pub start_day: Option<i64>,
    /// The daily data in ascending day order; `None` when not consented, empty when consented
    /// with no day to report.
    pub days: Option<Vec<SurveyDayFlag>>,
}

/// The daily data cannot be encoded, or stored bytes are not an encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaysCodecError {
    /// A day before 1970-01-01 or after the last day 31 bits hold.
    DayOutOfRange(i64),
    /// Stored bytes whose length is not a multiple of 4.
    BadLength(usize),
}

impl fmt::Display for DaysCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DayOutOfRange(day) => write!(f, "day {day} cannot be stored"),
            Self::BadLength(len) => write!(f, "survey days of {len} bytes"),
        }
    }
}

impl std::error::Error for DaysCodecError {}

/// The daily data as stored: per day, in the given order, 4 bytes big-endian of
/// `day * 2 + exposure_detected`.
pub fn encode_days(days: &[SurveyDayFlag]) -> Result<Vec<u8>, DaysCodecError> {
    let mut out = Vec::with_capacity(days.len() * 4);
    for d in days {
        let value = u32::try_from(d.day)
            .ok()
            .and_then(|day| day.checked_mul(2))
            .ok_or(DaysCodecError::DayOutOfRange(d.day))?;
        out.extend_from_slice(&(value | u32::from(d.exposure_detected)).to_be_bytes());
    }
    Ok(out)
}

/// The daily data of stored bytes (the inverse of [`encode_days`]).
pub fn decode_days(bytes: &[u8]) -> Result<Vec<SurveyDayFlag>, DaysCodecError> {
    let days = bytes.chunks_exact(4);
    if !days.remainder().is_empty() {
        return Err(DaysCodecError::BadLength(bytes.len()));
    }
    Ok(days
        .map(|c| {
            let value = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            SurveyDayFlag {
                day: i64::from(value >> 1),
                exposure_detected: value & 1 == 1,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_lengths_are_refused() {
        let days = vec![
            SurveyDayFlag {
                day: 19_089,
                exposure_detected: false,
            },
            SurveyDayFlag {
                day: 19_090,
                exposure_detected: true,
            },
        ];
        let bytes = encode_days(&days).unwrap();
        assert_eq!(bytes, [0, 0, 0x95, 0x22, 0, 0, 0x95, 0x25]);
        assert_eq!(decode_days(&bytes).unwrap(), days);
        assert_eq!(decode_days(&[]).unwrap(), vec![]);
        assert_eq!(decode_days(&bytes[..5]), Err(DaysCodecError::BadLength(5)));
        for day in [-1, i64::from(u32::MAX / 2) + 1] {
            assert_eq!(
                encode_days(&[SurveyDayFlag {
                    day,
                    exposure_detected: false
                }]),
                Err(DaysCodecError::DayOutOfRange(day))
            );
        }
        let last = SurveyDayFlag {
            day: i64::from(u32::MAX / 2),
            exposure_detected: true,
        };
        assert_eq!(decode_days(&encode_days(&[last]).unwrap()).unwrap(), [last]);
    }

    #[test]
    fn codes_outside_their_ranges_are_refused() {
        assert_eq!(AgeGroup::new(0), None);
        assert_eq!(AgeGroup::new(10), None);
        assert_eq!(AgeGroup::new(9).map(AgeGroup::get), Some(9));
        assert_eq!(Commute::new(0), None);
        assert_eq!(Commute::new(4), None);
        assert_eq!(Commute::new(1).map(Commute::get), Some(1));
    }
}
