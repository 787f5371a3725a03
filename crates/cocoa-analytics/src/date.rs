//! Days as numbers: days since 1970-01-01 (UTC), the survey's unit. Civil dates by the
//! proleptic Gregorian calendar (H. Hinnant's algorithms); no clock, no time zone.

/// The day number of a civil date (days since 1970-01-01). `month` 1..=12, `day` 1..=31; not
/// checked (see [`parse_day`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD`.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A month as one number: `year * 12 + (month - 1)`.
pub fn month_key(days: i64) -> i64 {
    let (y, m, _) = civil_from_days(days);
    y * 12 + i64::from(m) - 1
}

/// `YYYY-MM` of a [`month_key`].
pub fn format_month(key: i64) -> String {
    format!("{:04}-{:02}", key.div_euclid(12), key.rem_euclid(12) + 1)
}

/// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(days: i64) -> u8 {
    (days + 3).rem_euclid(7) as u8
}

/// English and Japanese names of the weekdays, Monday first.
pub const WEEKDAYS: [(&str, &str); 7] = [
    ("Monday", "月"),
    ("Tuesday", "火"),
    ("Wednesday", "水"),
    ("Thursday", "木"),
    ("Friday", "金"),
    ("Saturday", "土"),
    ("Sunday", "日"),
];

/// A date written `YYYY-MM-DD` or `YYYY/M/D` (the Ministry's open data: `2022/8/1`), with or
/// without leading zeros, as a day number; `None` if it is not a real date (years 1..=9999).
pub fn parse_day(text: &str) -> Option<i64> {
    let text = text.trim();
    let sep = if text.contains('/') { '/' } else { '-' };
    let mut parts = text.split(sep);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |s: &str, max_len: usize| -> Option<u32> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, m, d) = (number(y, 4)?, number(m, 2)?, number(d, 2)?);
    if y == 0 || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    (civil_from_days(days) == (i64::from(y), m, d)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days_and_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        // 2022-04-07, the survey's first day, and 2022-11-20 (cocoa-server's tests).
        assert_eq!(days_from_civil(2022, 4, 7), 19_089);
        assert_eq!(days_from_civil(2022, 11, 20), 19_316);
        assert_eq!(parse_day("2022/8/1"), Some(days_from_civil(2022, 8, 1)));
        assert_eq!(parse_day("2022-08-01"), parse_day("2022/8/1"));
        assert_eq!(parse_day("2022-02-29"), None);
        assert_eq!(parse_day("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        for bad in [
            "",
            "2022",
            "2022-1",
            "2022-13-01",
            "2022-01-00",
            "x-1-1",
            "2022-1-1-1",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        for d in -800_000..800_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(format_day(19_089), "2022-04-07");
        assert_eq!(format_month(month_key(19_089)), "2022-04");
        assert_eq!(weekday(0), 3);
        assert_eq!(WEEKDAYS[usize::from(weekday(19_089))].0, "Thursday");
    }
}
