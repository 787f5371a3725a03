//! Protocol time: 10-minute interval numbers (`ENIntervalNumber`), UTC-day alignment and rolling
//! periods. Time enters as unix seconds; this module never reads a clock.

use crate::Error;
use std::fmt;

/// Seconds in one interval.
pub const INTERVAL_SECONDS: u64 = 600;
/// Intervals in one UTC day, and the longest rolling period.
pub const INTERVALS_PER_DAY: u32 = 144;

/// `ENIntervalNumber`: the number of 10-minute intervals since the unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IntervalNumber(u32);

impl IntervalNumber {
    /// The interval with this number.
    pub const fn new(n: u32) -> Self {
        Self(n)
    }

    /// The raw number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The interval containing the unix time `seconds` (`floor(seconds / 600)`).
    pub fn from_unix_seconds(seconds: u64) -> Result<Self, Error> {
        let n = seconds / INTERVAL_SECONDS;
        u32::try_from(n)
            .map(Self)
            .map_err(|_| Error::IntervalNumber(n.try_into().unwrap_or(i64::MAX)))
    }

    /// The interval from a signed number, as carried by protobuf `int32` and JSON fields.
    pub fn from_i64(n: i64) -> Result<Self, Error> {
        u32::try_from(n)
            .map(Self)
            .map_err(|_| Error::IntervalNumber(n))
    }

    /// The unix time at which this interval starts.
    pub const fn to_unix_seconds(self) -> u64 {
        self.0 as u64 * INTERVAL_SECONDS
    }

    /// The first interval of this interval's UTC day (where a new TEK starts).
    pub const fn day_start(self) -> Self {
        Self(self.0 - self.0 % INTERVALS_PER_DAY)
    }

    /// Whether this interval starts a UTC day.
    pub const fn is_day_aligned(self) -> bool {
        self.0.is_multiple_of(INTERVALS_PER_DAY)
    }

    /// Days since the unix epoch of this interval's UTC day.
    pub const fn utc_day(self) -> u32 {
        self.0 / INTERVALS_PER_DAY
    }

    /// The first interval of a UTC day given as days since the epoch.
    pub fn from_utc_day(day: u32) -> Result<Self, Error> {
        day.checked_mul(INTERVALS_PER_DAY)
            .map(Self)
            .ok_or(Error::IntervalNumber(
                i64::from(day) * i64::from(INTERVALS_PER_DAY),
            ))
    }

    /// This interval plus `n`, or `None` past the end of the protocol's range.
    pub const fn checked_add(self, n: u32) -> Option<Self> {
        match self.0.checked_add(n) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// This interval minus `n`, or `None` before the epoch.
    pub const fn checked_sub(self, n: u32) -> Option<Self> {
        match self.0.checked_sub(n) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

impl fmt::Debug for IntervalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntervalNumber({})", self.0)
    }
}

impl fmt::Display for IntervalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<IntervalNumber> for u32 {
    fn from(n: IntervalNumber) -> u32 {
        n.0
    }
}

/// How many intervals a key is valid for: 1..=144 (a full day is 144).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollingPeriod(u8);

impl RollingPeriod {
    /// A whole day, the default when a file omits the field.
    pub const FULL_DAY: Self = Self(INTERVALS_PER_DAY as u8);

    /// A rolling period, if `n` is within 1..=144.
    pub fn new(n: i64) -> Result<Self, Error> {
        if (1..=i64::from(INTERVALS_PER_DAY)).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(Error::RollingPeriod(n))
        }
    }

    /// The number of intervals.
    pub const fn get(self) -> u32 {
        self.0 as u32
    }
}

impl Default for RollingPeriod {
    fn default() -> Self {
        Self::FULL_DAY
    }
}

impl fmt::Debug for RollingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RollingPeriod({})", self.0)
    }
}

impl fmt::Display for RollingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_from_unix_seconds_floors() {
        assert_eq!(IntervalNumber::from_unix_seconds(0).unwrap().get(), 0);
        assert_eq!(IntervalNumber::from_unix_seconds(599).unwrap().get(), 0);
        assert_eq!(IntervalNumber::from_unix_seconds(600).unwrap().get(), 1);
        // The reference vectors' TEK was generated at 1585785600, interval 2642976.
        let n = IntervalNumber::from_unix_seconds(1_585_785_600).unwrap();
        assert_eq!(n.get(), 2_642_976);
        assert!(n.is_day_aligned());
        assert_eq!(n.to_unix_seconds(), 1_585_785_600);
    }

    #[test]
    fn interval_range_ends() {
        let last = u64::from(u32::MAX) * INTERVAL_SECONDS;
        assert_eq!(
            IntervalNumber::from_unix_seconds(last + 599).unwrap().get(),
            u32::MAX
        );
        assert!(matches!(
            IntervalNumber::from_unix_seconds(last + 600),
            Err(Error::IntervalNumber(_))
        ));
        assert!(IntervalNumber::from_i64(-1).is_err());
        assert!(IntervalNumber::new(u32::MAX).checked_add(1).is_none());
        assert!(IntervalNumber::new(0).checked_sub(1).is_none());
        assert!(IntervalNumber::from_utc_day(u32::MAX).is_err());
    }

    #[test]
    fn day_alignment_edges() {
        // Last interval of a day, the first of the next, and the day boundary itself.
        let day = 2_642_976 / 144;
        let first = IntervalNumber::from_utc_day(day).unwrap();
        let last = IntervalNumber::new(first.get() + 143);
        let next = IntervalNumber::new(first.get() + 144);
        assert_eq!(last.day_start(), first);
        assert_eq!(last.utc_day(), day);
        assert!(!last.is_day_aligned());
        assert_eq!(next.day_start(), next);
        assert_eq!(next.utc_day(), day + 1);
        // Unix time one second before midnight belongs to the previous day.
        let midnight = u64::from(day + 1) * 86_400;
        assert_eq!(
            IntervalNumber::from_unix_seconds(midnight - 1).unwrap(),
            last
        );
        assert_eq!(IntervalNumber::from_unix_seconds(midnight).unwrap(), next);
        assert_eq!(IntervalNumber::new(0).day_start(), IntervalNumber::new(0));
        assert_eq!(IntervalNumber::new(u32::MAX).day_start().get() % 144, 0);
    }

    #[test]
    fn rolling_period_bounds() {
        assert!(RollingPeriod::new(0).is_err());
        assert_eq!(RollingPeriod::new(1).unwrap().get(), 1);
        assert_eq!(RollingPeriod::new(144).unwrap(), RollingPeriod::FULL_DAY);
        assert_eq!(RollingPeriod::new(145), Err(Error::RollingPeriod(145)));
        assert!(RollingPeriod::new(-1).is_err());
        assert_eq!(RollingPeriod::default().get(), 144);
    }
}
