//! Optional side inputs, parsed from text (the caller reads the files). Each is CSV with a
//! header line; fields may be quoted (`"a,b"`, `""` for a quote); blank lines are skipped; a
//! UTF-8 byte order mark is allowed. Dates are `YYYY-MM-DD` or `YYYY/M/D`. A row that cannot
//! be read is an [`InputError`] naming its line (1-based, counting the header).
//!
//! | input | header | values |
//! | --- | --- | --- |
//! | national new cases ([`parse_national_cases`]) | `Date,ALL,<prefecture>...` (the Ministry of Health, Labour and Welfare's open data, `newly_confirmed_cases_daily.csv`) | `ALL`, a whole number; the other columns are read past |
//! | daily counts, e.g. registrations ([`parse_daily_counts`]) | `date,<name>` | a whole number |
//! | social-activity index ([`parse_activity`]) | `date,value` | a finite number |
//! | named periods ([`parse_periods`]) | `start,end,label` | `start <= end`, both days included; a non-empty label |
//! | active users ([`parse_active_users`]) | none, or `active_users` | one whole number above 0 |
//!
//! A date may appear only once in a series; the days need not be contiguous or in order.

use crate::date::parse_day;

/// A side input that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct InputError {
    /// 1-based; 0 for the input as a whole (empty, say).
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> InputError {
    InputError {
        line,
        message: message.into(),
    }
}

/// Values by day (days since 1970-01-01), sorted, each day once.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySeries<T> {
    points: Vec<(i64, T)>,
}

impl<T> Default for DailySeries<T> {
    fn default() -> Self {
        Self { points: Vec::new() }
    }
}

impl<T: Copy> DailySeries<T> {
    /// From `(day, value)` pairs in any order; `Err(day)` names a day given twice.
    pub fn from_points(mut points: Vec<(i64, T)>) -> Result<Self, i64> {
        points.sort_by_key(|p| p.0);
        if let Some(w) = points.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(w[0].0);
        }
        Ok(Self { points })
    }

    pub fn get(&self, day: i64) -> Option<T> {
        self.points
            .binary_search_by_key(&day, |p| p.0)
            .ok()
            .map(|i| self.points[i].1)
    }

    /// Ascending by day.
    pub fn points(&self) -> &[(i64, T)] {
        &self.points
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// A named span of days, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
    pub label: String,
}

/// The fields of one CSV line.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => out.push(field),
                Some(c) => return Err(format!("{c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field.trim().to_string());
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field".into()),
                    Some(c) => field.push(c),
                }
            }
            out.push(field.trim().to_string());
        }
    }
}

/// Data rows: (line number, fields).
type Rows = Vec<(usize, Vec<String>)>;

/// The header and the data rows, blank lines skipped.
fn rows(text: &str) -> Result<(Vec<String>, Rows), InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or_else(|| error(0, "empty: no header"))?;
    let header = fields(header).map_err(|m| error(header_line, m))?;
    let data = lines
        .map(|(n, l)| {
            let f = fields(l).map_err(|m| error(n, m))?;
            if f.len() != header.len() {
                return Err(error(
                    n,
                    format!("{} fields, the header has {}", f.len(), header.len()),
                ));
            }
            Ok((n, f))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((header, data))
}

fn expect_header(header: &[String], expected: &[&str]) -> Result<(), InputError> {
    let matches = header.len() == expected.len()
        && header
            .iter()
            .zip(expected)
            .all(|(h, e)| e.is_empty() || h.eq_ignore_ascii_case(e));
    if matches {
        Ok(())
    } else {
        Err(error(
            1,
            format!(
                "header {:?}: expected {:?}",
                header.join(","),
                expected
                    .iter()
                    .map(|e| if e.is_empty() { "<name>" } else { e })
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ))
    }
}

fn day(line: usize, text: &str) -> Result<i64, InputError> {
    parse_day(text).ok_or_else(|| {
        error(
            line,
            format!("{text:?} is not a date (YYYY-MM-DD or YYYY/M/D)"),
        )
    })
}

fn whole(line: usize, what: &str, text: &str) -> Result<u64, InputError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(
            line,
            format!("{what} {text:?} is not a whole number"),
        ));
    }
    text.parse()
        .map_err(|_| error(line, format!("{what} {text:?} is too large")))
}

fn series<T: Copy>(data: Vec<(usize, i64, T)>) -> Result<DailySeries<T>, InputError> {
    let mut seen = std::collections::HashMap::with_capacity(data.len());
    for (line, d, _) in &data {
        if let Some(first) = seen.insert(*d, *line) {
            return Err(error(
                *line,
                format!(
                    "the date {} is already on line {first}",
                    crate::date::format_day(*d)
                ),
            ));
        }
    }
    let points = data.into_iter().map(|(_, d, v)| (d, v)).collect();
    Ok(DailySeries::from_points(points).unwrap_or_default())
}

/// National new cases per day: the Ministry's `Date,ALL,<prefectures...>`, the `ALL` column.
pub fn parse_national_cases(text: &str) -> Result<DailySeries<u64>, InputError> {
    let (header, data) = rows(text)?;
    if !header
        .first()
        .is_some_and(|h| h.eq_ignore_ascii_case("date"))
    {
        return Err(error(1, "the first column must be \"Date\""));
    }
    let all = header
        .iter()
        .position(|h| h == "ALL")
        .ok_or_else(|| error(1, "no \"ALL\" column"))?;
    let data = data
        .into_iter()
        .map(|(n, f)| Ok((n, day(n, &f[0])?, whole(n, "ALL", &f[all])?)))
        .collect::<Result<Vec<_>, InputError>>()?;
    series(data)
}

/// A count per day under the header `date,<name>` (registrations per day, say).
pub fn parse_daily_counts(text: &str) -> Result<DailySeries<u64>, InputError> {
    let (header, data) = rows(text)?;
    expect_header(&header, &["date", ""])?;
    let name = header[1].clone();
    let data = data
        .into_iter()
        .map(|(n, f)| Ok((n, day(n, &f[0])?, whole(n, &name, &f[1])?)))
        .collect::<Result<Vec<_>, InputError>>()?;
    series(data)
}

/// The social-activity index: `date,value`.
pub fn parse_activity(text: &str) -> Result<DailySeries<f64>, InputError> {
    let (header, data) = rows(text)?;
    expect_header(&header, &["date", "value"])?;
    let data = data
        .into_iter()
        .map(|(n, f)| {
            let v: f64 = f[1]
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| error(n, format!("value {:?} is not a finite number", f[1])))?;
            Ok((n, day(n, &f[0])?, v))
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    series(data)
}

/// Named periods: `start,end,label`.
pub fn parse_periods(text: &str) -> Result<Vec<Period>, InputError> {
    let (header, data) = rows(text)?;
    expect_header(&header, &["start", "end", "label"])?;
    data.into_iter()
        .map(|(n, f)| {
            let (start, end) = (day(n, &f[0])?, day(n, &f[1])?);
            if end < start {
                return Err(error(n, format!("end {} is before start {}", f[1], f[0])));
            }
            if f[2].is_empty() {
                return Err(error(n, "the label is empty"));
            }
            Ok(Period {
                start,
                end,
                label: f[2].clone(),
            })
        })
        .collect()
}

/// Active users: one whole number above 0, alone or under the header `active_users` (the same
/// text as a `--active-users N` value).
pub fn parse_active_users(text: &str) -> Result<u64, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let mut first = lines.next().ok_or_else(|| error(0, "empty: no number"))?;
    if first.1.eq_ignore_ascii_case("active_users") {
        first = lines
            .next()
            .ok_or_else(|| error(first.0, "no number after the header"))?;
    }
    if let Some((n, _)) = lines.next() {
        return Err(error(n, "one number only"));
    }
    let value = whole(first.0, "active users", first.1)?;
    if value == 0 {
        return Err(error(first.0, "active users must be above 0"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::days_from_civil;

    #[test]
    fn the_ministrys_file_gives_all() {
        let text = "\u{feff}Date,ALL,Hokkaido,Aomori\r\n2022/8/1,196000,5000,1200\r\n2022/8/2,\"200,1\",1,1\r\n";
        let err = parse_national_cases(text).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            err.to_string().starts_with("line 3: ALL \"200,1\""),
            "{err}"
        );
        let text = "Date,ALL,Hokkaido\n2022/8/1,196000,5000\n\n2022/8/2,200000,1\n";
        let s = parse_national_cases(text).unwrap();
        assert_eq!(s.get(days_from_civil(2022, 8, 2)), Some(200_000));
        assert_eq!(s.points().len(), 2);
        assert_eq!(parse_national_cases("Date,Hokkaido\n").unwrap_err().line, 1);
        let dup = "Date,ALL\n2022/8/1,1\n2022-08-01,2\n";
        assert_eq!(
            parse_national_cases(dup).unwrap_err().to_string(),
            "line 3: the date 2022-08-01 is already on line 2"
        );
        assert_eq!(
            parse_national_cases("Date,ALL\n2022/8/1,1,2\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(
            parse_national_cases("Date,ALL\n2022/2/30,1\n")
                .unwrap_err()
                .line,
            2
        );
    }

    #[test]
    fn activity_periods_counts_and_active_users() {
        let a = parse_activity("date,value\n2022-08-01,-12.5\n2022-08-02,3\n").unwrap();
        assert_eq!(a.get(days_from_civil(2022, 8, 1)), Some(-12.5));
        assert_eq!(
            parse_activity("date,value\n2022-08-01,NaN\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(parse_activity("day,value\n").unwrap_err().line, 1);
        let p =
            parse_periods("start,end,label\n2022-07-01,2022-08-31,\"7th wave, summer\"\n").unwrap();
        assert_eq!(p[0].label, "7th wave, summer");
        assert_eq!(p[0].end - p[0].start, 61);
        let bad = "start,end,label\n2022-07-01,2022-08-31,a\n2022-09-01,2022-08-31,b\n";
        assert_eq!(parse_periods(bad).unwrap_err().line, 3);
        let r = parse_daily_counts("date,registrations\n2022-08-01,120\n").unwrap();
        assert_eq!(r.points(), [(days_from_civil(2022, 8, 1), 120)]);
        assert_eq!(
            parse_daily_counts("date,n\n2022-08-01,-1\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(parse_active_users("12345\n"), Ok(12_345));
        assert_eq!(parse_active_users("active_users\n 7 \n"), Ok(7));
        assert_eq!(parse_active_users("1\n2\n").unwrap_err().line, 2);
        assert_eq!(parse_active_users("0").unwrap_err().line, 1);
        assert_eq!(parse_active_users("").unwrap_err().line, 0);
        assert_eq!(parse_active_users("1e6").unwrap_err().line, 1);
    }
}
