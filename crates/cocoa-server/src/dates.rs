//! Strict RFC 3339 dates and date-times, as the OpenAPI document's `date` and `date-time`
//! formats define them, for every date the server reads: request bodies and configuration.

use chrono::{DateTime, FixedOffset, NaiveDate};

/// An RFC 3339 `full-date` (`YYYY-MM-DD`), the OpenAPI `date` format: exactly four digits of
/// year, two of month and two of day, and a real calendar date. chrono's `%Y-%m-%d` is laxer
/// (a sign, more or fewer digits: `+2026-11-30` and `2026-1-3` pass it), so this checks the
/// shape itself.
pub fn parse_full_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if !(b.len() == 10 && full_date_shape(b)) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)
}

/// An RFC 3339 `date-time` (section 5.6), the OpenAPI `date-time` format:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, `T` and `Z` in either case. chrono's
/// RFC 3339 parser also takes a space for the `T`; the shape is checked here, the values
/// (a real date, hours 0..=23, a leap second) by chrono.
pub fn parse_date_time(text: &str) -> Option<DateTime<FixedOffset>> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let time = matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !(full_date_shape(b) && time) {
        return None;
    }
    let mut end = 19;
    if b.get(end) == Some(&b'.') {
        let fraction = end + 1;
        end = fraction;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == fraction {
            return None;
        }
    }
    let offset = match &b[end..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    if !offset {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

/// `YYYY-MM-DD` at the start of `b` (digits and dashes only).
fn full_date_shape(b: &[u8]) -> bool {
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}
