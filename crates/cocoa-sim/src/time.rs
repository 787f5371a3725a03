//! Simulated time: calendar dates (`Date`, written `YYYY-MM-DD`), the simulation's day index
//! (`Day`, 0 = the scenario's start date) and the conversion of a day and a minute of the local
//! (JST) day to unix seconds for the driver.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Japan Standard Time is UTC+9 all year (no daylight saving).
pub const JST_OFFSET_SECONDS: i64 = 9 * 3600;

/// Minutes in a day; every contact starts and ends inside its local day.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A calendar date in Japan (no time, no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    /// The date, if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).map(Self)
    }

    /// Whole days from `earlier` to `self` (negative when `self` is earlier).
    pub fn days_since(self, earlier: Date) -> i64 {
        self.0.signed_duration_since(earlier.0).num_days()
    }

    /// The date `days` later (or earlier, when negative); `None` past chrono's range.
    pub fn add_days(self, days: i64) -> Option<Date> {
        self.0
            .checked_add_signed(chrono::TimeDelta::try_days(days)?)
            .map(Self)
    }

    /// Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        matches!(self.0.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Days since 1970-01-01 of this calendar date (the number, not a UTC instant).
    pub fn epoch_day(self) -> i64 {
        self.days_since(Date(NaiveDate::default()))
    }

    /// Unix seconds of `minute` (0..1440) of this date in JST.
    pub fn unix_seconds_jst(self, minute: u16) -> i64 {
        self.epoch_day() * 86_400 + i64::from(minute) * 60 - JST_OFFSET_SECONDS
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for Date {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Self)
            .map_err(|e| format!("`{s}` is not a date YYYY-MM-DD: {e}"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts a string `"2022-04-07"` or a bare TOML date `2022-04-07`.
impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl<'de> Visitor<'de> for DateVisitor {
            type Value = Date;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date YYYY-MM-DD")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Date, E> {
                v.parse().map_err(E::custom)
            }
            // A bare TOML date arrives as toml's private datetime map.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Date, A::Error> {
                let datetime =
                    toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
                match (datetime.date, datetime.time, datetime.offset) {
                    (Some(_), None, None) => datetime
                        .to_string()
                        .parse()
                        .map_err(<A::Error as de::Error>::custom),
                    _ => Err(de::Error::custom(format!(
                        "`{datetime}` is not a plain date YYYY-MM-DD"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}

/// A simulated day: 0 is the scenario's start date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Day(pub u32);

impl Day {
    /// The index, for tables indexed by day.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The day `n` days later (saturating).
    pub fn plus(self, n: u32) -> Day {
        Day(self.0.saturating_add(n))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "day {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_print_and_convert_to_jst_unix_seconds() {
        let d: Date = "2022-04-07".parse().unwrap();
        assert_eq!(d.to_string(), "2022-04-07");
        assert!("2022-02-30".parse::<Date>().is_err());
        // 2022-04-07 00:00 JST = 2022-04-06 15:00 UTC.
        assert_eq!(d.unix_seconds_jst(0), 1_649_257_200);
        assert_eq!(d.epoch_day(), 19_089);
        assert_eq!(d.add_days(1).unwrap().to_string(), "2022-04-08");
        assert!(!d.is_weekend());
        assert!(Date::from_ymd(2022, 4, 9).unwrap().is_weekend());
    }

    #[test]
    fn dates_deserialise_from_strings_and_bare_toml_dates() {
        #[derive(Deserialize)]
        struct T {
            a: Date,
            b: Date,
        }
        let t: T = toml::from_str("a = \"2022-04-07\"\nb = 2022-09-26\n").unwrap();
        assert_eq!(t.a.to_string(), "2022-04-07");
        assert_eq!(t.b.to_string(), "2022-09-26");
        let e = toml::from_str::<T>("a = 2022-04-07T10:00:00\nb = 2022-09-26\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("plain date"), "{e}");
    }
}
