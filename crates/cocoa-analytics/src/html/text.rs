//! Text of the report page: escaping, bilingual strings, and numbers written the same way
//! everywhere (a true minus sign, thousands separators, intervals in brackets).

use super::Lang;

/// `s` safe in HTML text and in a quoted attribute.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A text in Japanese and in English (plain text, escaped when written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tr {
    pub ja: String,
    pub en: String,
}

/// A text in Japanese and English.
pub(crate) fn tr(ja: impl Into<String>, en: impl Into<String>) -> Tr {
    Tr {
        ja: ja.into(),
        en: en.into(),
    }
}

/// The same text in both languages (a number, a date, a label from an input).
pub(crate) fn same(text: impl Into<String>) -> Tr {
    let text = text.into();
    Tr {
        ja: text.clone(),
        en: text,
    }
}

impl Lang {
    /// One line of plain text (for a chart): `ja / en` with both.
    pub(crate) fn line(self, t: &Tr) -> String {
        match self {
            Lang::Ja => t.ja.clone(),
            Lang::En => t.en.clone(),
            Lang::Both if t.ja == t.en => t.ja.clone(),
            Lang::Both => format!("{} / {}", t.ja, t.en),
        }
    }

    /// Lines of plain text (for a chart's category label): Japanese then English with both.
    pub(crate) fn lines(self, t: &Tr) -> Vec<String> {
        match self {
            Lang::Ja => vec![t.ja.clone()],
            Lang::En => vec![t.en.clone()],
            Lang::Both if t.ja == t.en => vec![t.ja.clone()],
            Lang::Both => vec![t.ja.clone(), t.en.clone()],
        }
    }

    /// Inline HTML (escaped): with both, two spans, the English one of class `tr`.
    pub(crate) fn inline(self, t: &Tr) -> String {
        self.inline_html(&esc(&t.ja), &esc(&t.en))
    }

    /// [`Lang::inline`] of HTML already escaped.
    pub(crate) fn inline_html(self, ja: &str, en: &str) -> String {
        match self {
            Lang::Ja => ja.to_owned(),
            Lang::En => en.to_owned(),
            Lang::Both if ja == en => ja.to_owned(),
            Lang::Both => {
                format!("<span lang=\"ja\">{ja}</span> <span lang=\"en\" class=\"tr\">{en}</span>")
            }
        }
    }
}

/// A real number for people: a true minus sign, thousands separators, `decimals` after the
/// point (`-0.0` is `0.0`; not finite: `–`).
pub(crate) fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let s = format!("{:.decimals$}", v.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let negative = v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let mut out = String::with_capacity(s.len() + 4);
    if negative {
        out.push('\u{2212}');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Decimals that show about three significant digits of `v` (at most 4, none from 100 up).
pub(crate) fn decimals_for(v: f64) -> usize {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else if a >= 0.1 {
        3
    } else {
        4
    }
}

/// A statistic to about three significant digits.
pub(crate) fn num(v: f64) -> String {
    fixed(v, decimals_for(v))
}

/// A statistic with its 95% interval, all with the same decimals (about three significant
/// digits of the value or of the interval's half-width, the larger): `1.23 [0.98, 1.52]`.
pub(crate) fn with_interval(v: f64, low: f64, high: f64) -> String {
    let d = decimals_for(v.abs().max((high - low).abs() / 2.0));
    format!("{} [{}, {}]", fixed(v, d), fixed(low, d), fixed(high, d))
}

/// A whole number with thousands separators.
pub(crate) fn count(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage with one decimal (no sign).
pub(crate) fn percent(share: f64) -> String {
    fixed(share * 100.0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escaping() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(fixed(-0.0001, 2), "0.00");
        assert_eq!(fixed(-1.5, 1), "\u{2212}1.5");
        assert_eq!(fixed(f64::NAN, 1), "–");
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(num(0.8312), "0.831");
        assert_eq!(num(23.456), "23.5");
        assert_eq!(with_interval(1.2, 0.9, 1.6), "1.20 [0.90, 1.60]");
        assert_eq!(
            with_interval(0.1111, 0.0209, 0.2013),
            "0.111 [0.021, 0.201]"
        );
        assert_eq!(
            with_interval(-0.01, -0.5, 0.48),
            "\u{2212}0.010 [\u{2212}0.500, 0.480]"
        );
        assert_eq!(fixed(1262.4, 0), "1,262");
        assert_eq!(fixed(-12345.678, 2), "\u{2212}12,345.68");
        assert_eq!(percent(0.2), "20.0");
    }
}
