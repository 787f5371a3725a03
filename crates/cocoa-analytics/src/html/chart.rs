//! The report's charts as inline SVG: bar charts by category (grouped, with 95% whiskers) and
//! timelines (stacked panels over the days of the window, lines or bars).
//!
//! Every value shown is one element with a `<title>` holding it: `<rect class="bar">` or
//! `<circle class="point">`. A suppressed value is a gap with a grey `×` at the baseline
//! (`<text class="suppressed">`), never a zero; a value that cannot be estimated is a bare
//! gap. Labels arrive as plain text and are escaped here. A chart with no value to show is
//! `None` (the page prints a message instead). Coordinates are written with one decimal, so
//! the same values always give the same bytes.

use super::text::{esc, fixed};
use std::fmt::Write as _;

/// Series colours (colour-blind safe: blue, orange, green, purple).
pub(crate) const PALETTE: [&str; 4] = ["#2c6a9c", "#dd8a2e", "#3e9a6f", "#8e5c9f"];
/// A highlighted bar (the lag chosen).
const ACCENT: &str = "#c4452d";
const INK: &str = "#1d2733";
const MUTED: &str = "#5f6b78";
const AXIS: &str = "#8a949e";
const GRID: &str = "#e4e8ec";
/// The width of every chart (the page scales it down to fit).
pub(crate) const WIDTH: f64 = 720.0;
const TICK_FONT: f64 = 11.0;
const TITLE_FONT: f64 = 12.0;

/// One value to draw.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Datum {
    pub value: f64,
    /// Its 95% interval, drawn as a whisker.
    pub interval: Option<(f64, f64)>,
    /// The text of its `<title>` (the value, written for people).
    pub title: String,
    /// Drawn in the accent colour.
    pub accent: bool,
}

impl Datum {
    pub(crate) fn new(value: f64, title: String) -> Self {
        Self {
            value,
            interval: None,
            title,
            accent: false,
        }
    }

    pub(crate) fn with_interval(self, interval: Option<(f64, f64)>) -> Self {
        Self { interval, ..self }
    }
}

/// A slot of a series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Point(Datum),
    /// Withheld by disclosure control: a gap and a `×`.
    Suppressed,
    /// Not estimable (too few days, the edge of the window): a gap.
    Missing,
}

impl Val {
    fn datum(&self) -> Option<&Datum> {
        match self {
            Val::Point(d) => Some(d),
            _ => None,
        }
    }
}

/// A named series of a bar chart, one value per category.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    pub values: Vec<Val>,
}

/// A bar chart over categories.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bars {
    /// Each category's label, one string per line.
    pub categories: Vec<Vec<String>>,
    pub series: Vec<Series>,
    /// The y axis: what and in which unit.
    pub y_title: String,
    /// The `<title>` of a suppressed value's mark.
    pub suppressed: String,
    /// Categories `from..=to` shaded, with the legend's text.
    pub band: Option<(usize, usize, String)>,
    /// The legend's text for accented bars.
    pub accent: Option<String>,
    /// The y range to show at least (the data may widen it).
    pub y_range: Option<(f64, f64)>,
    pub height: f64,
    /// What the chart shows, for screen readers.
    pub label: String,
}

/// How a timeline series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Line,
    Bars,
}

/// A series over the days of a timeline: `values[i]` is day `first + i`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeSeries {
    pub name: String,
    pub kind: Kind,
    /// Index into [`PALETTE`].
    pub color: usize,
    pub values: Vec<Val>,
}

/// One panel of a timeline, with its own y axis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Panel {
    pub y_title: String,
    pub series: Vec<TimeSeries>,
    pub height: f64,
}

/// Stacked panels over the same days.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timeline {
    pub first: i64,
    pub days: usize,
    pub panels: Vec<Panel>,
    pub suppressed: String,
    pub label: String,
}

/// A number for an SVG attribute: one decimal, ASCII (`-0.0` is `0.0`).
fn n(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.1}");
    if s == "-0.0" {
        "0.0".to_owned()
    } else {
        s
    }
}

/// About how wide `s` is at `size` (CJK full width, Latin a little over half).
pub(crate) fn text_width(s: &str, size: f64) -> f64 {
    s.chars()
        .map(|c| {
            if c as u32 >= 0x2e80 {
                1.0
            } else if c.is_ascii_uppercase() || c.is_ascii_digit() {
                0.62
            } else if c == ' ' || c == '.' || c == ',' || c == '(' || c == ')' {
                0.3
            } else {
                0.55
            }
        })
        .sum::<f64>()
        * size
}

/// Ticks covering `lo..=hi`: about `target` multiples of 1, 2, 2.5 or 5 × 10^k, and the
/// decimals their labels need.
pub(crate) fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        (lo.min(0.0), hi.max(0.0) + lo.abs().max(hi.abs()) * 0.5)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    let step = nice * mag;
    let start = (lo / step + 1e-9).floor() as i64;
    let end = (hi / step - 1e-9).ceil() as i64;
    let mut decimals = (-(step.log10().floor())).max(0.0) as usize;
    if nice == 2.5 && step < 10.0 {
        decimals += 1;
    }
    let values = (start..=end.max(start + 1))
        .map(|k| k as f64 * step)
        .collect();
    (values, decimals)
}

/// `v` from `d0..d1` to `r0..r1`.
fn scale(v: f64, (d0, d1): (f64, f64), (r0, r1): (f64, f64)) -> f64 {
    if d1 == d0 {
        return r0;
    }
    r0 + (v - d0) / (d1 - d0) * (r1 - r0)
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, size: f64, fill: &str, content: &str) {
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" font-size=\"{}\" fill=\"{fill}\">{}</text>",
        n(x),
        n(y),
        n(size),
        esc(content)
    );
}

fn line(out: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
    let _ = write!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>",
        n(x1),
        n(y1),
        n(x2),
        n(y2),
        n(width)
    );
}

fn open_svg(out: &mut String, height: f64, label: &str) {
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(label),
        w = n(WIDTH),
        h = n(height)
    );
}

/// A legend entry's swatch.
#[derive(Debug, Clone, Copy)]
enum Swatch<'a> {
    Box(&'a str),
    Line(&'a str),
    /// An interval: a line with end caps.
    Range(&'a str),
}

/// The width of a legend entry.
fn item_width(label: &str) -> f64 {
    16.0 + text_width(label, TITLE_FONT) + 14.0
}

/// One legend entry with its baseline at `y`, from `x`.
fn legend_item(out: &mut String, x: f64, y: f64, swatch: Swatch<'_>, label: &str) {
    match swatch {
        Swatch::Box(fill) => {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"11\" height=\"11\" rx=\"1.5\" fill=\"{fill}\"/>",
                n(x),
                n(y - 10.0)
            );
        }
        Swatch::Line(stroke) => {
            line(out, x, y - 4.5, x + 12.0, y - 4.5, stroke, 2.0);
            let _ = write!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{stroke}\"/>",
                n(x + 6.0),
                n(y - 4.5)
            );
        }
        Swatch::Range(stroke) => {
            line(out, x, y - 4.5, x + 12.0, y - 4.5, stroke, 2.0);
            line(out, x, y - 8.5, x, y - 0.5, stroke, 1.5);
            line(out, x + 12.0, y - 8.5, x + 12.0, y - 0.5, stroke, 1.5);
        }
    }
    text(out, x + 16.0, y, "start", TITLE_FONT, INK, label);
}

/// The title row (`y_title` left, the legend right, or below it, wrapped, when it does not
/// fit) and how tall it is.
fn header(out: &mut String, y_title: &str, items: &[(Swatch<'_>, String)]) -> f64 {
    text(out, 6.0, 15.0, "start", TITLE_FONT, MUTED, y_title);
    if items.is_empty() {
        return 24.0;
    }
    let total: f64 = items.iter().map(|(_, l)| item_width(l)).sum();
    let right = WIDTH - 8.0;
    out.push_str("<g class=\"legend\">");
    let height = if text_width(y_title, TITLE_FONT) + 24.0 + total <= right {
        let mut x = right - total + 14.0;
        for (swatch, label) in items {
            legend_item(out, x, 15.0, *swatch, label);
            x += item_width(label);
        }
        24.0
    } else {
        let (mut x, mut y) = (6.0, 35.0);
        for (swatch, label) in items {
            let w = item_width(label);
            if x + w - 14.0 > right && x > 6.0 {
                x = 6.0;
                y += 19.0;
            }
            legend_item(out, x, y, *swatch, label);
            x += w;
        }
        y + 8.0
    };
    out.push_str("</g>");
    height
}

/// The y axis: grid lines, labels, and the scale's domain.
fn y_axis(
    out: &mut String,
    lo: f64,
    hi: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
) -> (f64, f64) {
    let target = ((bottom - top) / 36.0).clamp(2.0, 6.0) as usize;
    let (values, decimals) = ticks(lo, hi, target);
    let domain = (values[0], values[values.len() - 1]);
    for &v in &values {
        let y = scale(v, domain, (bottom, top));
        let zero = v.abs() < 1e-12;
        line(
            out,
            left,
            y,
            right,
            y,
            if zero { AXIS } else { GRID },
            if zero { 1.0 } else { 0.8 },
        );
        text(
            out,
            left - 6.0,
            y + 3.8,
            "end",
            TICK_FONT,
            MUTED,
            &fixed(v, decimals),
        );
    }
    domain
}

/// The widest y tick label of a range, for the left margin.
fn y_margin(lo: f64, hi: f64, target: usize) -> f64 {
    let (values, decimals) = ticks(lo, hi, target);
    let widest = values
        .iter()
        .map(|&v| text_width(&fixed(v, decimals), TICK_FONT))
        .fold(0.0, f64::max);
    (widest + 14.0).max(36.0)
}

/// The data range of some values, with their intervals, and 0.
fn extent<'a>(values: impl Iterator<Item = &'a Datum>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0_f64, 0.0_f64);
    for d in values {
        for v in [
            Some(d.value),
            d.interval.map(|i| i.0),
            d.interval.map(|i| i.1),
        ]
        .into_iter()
        .flatten()
        .filter(|v| v.is_finite())
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo, hi)
}

fn whisker(out: &mut String, x: f64, y_low: f64, y_high: f64, cap: f64) {
    out.push_str("<g class=\"whisker\">");
    line(out, x, y_low, x, y_high, INK, 1.1);
    line(out, x - cap, y_low, x + cap, y_low, INK, 1.1);
    line(out, x - cap, y_high, x + cap, y_high, INK, 1.1);
    out.push_str("</g>");
}

fn suppressed_mark(out: &mut String, x: f64, y: f64, title: &str) {
    let _ = write!(
        out,
        "<text class=\"suppressed\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{MUTED}\"><title>{}</title>×</text>",
        n(x),
        n(y),
        esc(title)
    );
}

impl Bars {
    /// The SVG, or `None` if no value is shown.
    pub(crate) fn svg(&self) -> Option<String> {
        let points: Vec<&Datum> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().filter_map(Val::datum))
            .collect();
        if points.is_empty() || self.categories.is_empty() {
            return None;
        }
        let (mut lo, mut hi) = extent(points.iter().copied());
        if let Some((a, b)) = self.y_range {
            lo = lo.min(a);
            hi = hi.max(b);
        }
        let lines = self.categories.iter().map(Vec::len).max().unwrap_or(1);
        let height = self.height;
        let mut out = String::new();
        open_svg(&mut out, height, &self.label);
        let mut items: Vec<(Swatch<'_>, String)> = Vec::new();
        if self.series.len() > 1 {
            for (i, s) in self.series.iter().enumerate() {
                items.push((Swatch::Box(PALETTE[i % PALETTE.len()]), s.name.clone()));
            }
        }
        if let Some(accent) = &self.accent {
            if points.iter().any(|d| d.accent) {
                if self.series.len() == 1 {
                    items.push((Swatch::Box(PALETTE[0]), self.series[0].name.clone()));
                }
                items.push((Swatch::Box(ACCENT), accent.clone()));
            }
        }
        if let Some((_, _, label)) = &self.band {
            items.push((Swatch::Range(ACCENT), label.clone()));
        }
        let top = header(&mut out, &self.y_title, &items) + 8.0;
        let bracket = if self.band.is_some() { 16.0 } else { 0.0 };
        let bottom = height - (14.0 + 13.0 * lines as f64) - bracket;
        let target = ((bottom - top) / 36.0).clamp(2.0, 6.0) as usize;
        let left = y_margin(lo, hi, target) + 4.0;
        let right = WIDTH - 10.0;
        let cats = self.categories.len();
        let band = (right - left) / cats as f64;

        if let Some((from, to, _)) = &self.band {
            // Under the category labels: a line with caps from `from` to `to`.
            let (from, to) = ((*from).min(cats - 1), (*to).min(cats - 1));
            let (x0, x1) = (
                left + (from as f64 + 0.5) * band,
                left + (to.max(from) as f64 + 0.5) * band,
            );
            let y = bottom + 16.0 + 13.0 * (lines as f64 - 1.0) + 13.0;
            out.push_str("<g class=\"band\">");
            line(&mut out, x0, y, x1, y, ACCENT, 2.0);
            line(&mut out, x0, y - 4.0, x0, y + 4.0, ACCENT, 1.5);
            line(&mut out, x1, y - 4.0, x1, y + 4.0, ACCENT, 1.5);
            out.push_str("</g>");
        }
        let domain = y_axis(&mut out, lo, hi, left, right, top, bottom);
        let y = |v: f64| scale(v, domain, (bottom, top));
        let zero = y(0.0_f64.clamp(domain.0, domain.1));

        // Category labels, thinned if they would overlap.
        let widest = self
            .categories
            .iter()
            .filter_map(|c| c.first().map(|l| text_width(l, TICK_FONT)))
            .fold(0.0, f64::max);
        let every = ((widest + 6.0) / band).ceil().max(1.0) as usize;
        for (i, label) in self.categories.iter().enumerate() {
            let x = left + (i as f64 + 0.5) * band;
            line(&mut out, x, bottom, x, bottom + 4.0, AXIS, 1.0);
            if i % every != 0 {
                continue;
            }
            for (k, l) in label.iter().enumerate() {
                let (size, fill) = if k == 0 {
                    (TICK_FONT, INK)
                } else {
                    (TICK_FONT - 1.0, MUTED)
                };
                text(
                    &mut out,
                    x,
                    bottom + 16.0 + 13.0 * k as f64,
                    "middle",
                    size,
                    fill,
                    l,
                );
            }
        }

        let groups = self.series.len();
        let inner = band * if groups > 1 { 0.8 } else { 0.62 };
        let bar_w = (inner / groups as f64).min(64.0);
        for (s, series) in self.series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            for (i, v) in series.values.iter().enumerate().take(cats) {
                let cx = left
                    + (i as f64 + 0.5) * band
                    + (s as f64 - (groups as f64 - 1.0) / 2.0) * bar_w;
                match v {
                    Val::Point(d) => {
                        let yv = y(d.value);
                        let (y0, y1) = if yv <= zero { (yv, zero) } else { (zero, yv) };
                        let _ = write!(
                            out,
                            "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>",
                            n(cx - bar_w * 0.46),
                            n(y0),
                            n(bar_w * 0.92),
                            n((y1 - y0).max(0.6)),
                            if d.accent { ACCENT } else { color },
                            esc(&d.title)
                        );
                        if let Some((a, b)) = d.interval {
                            whisker(&mut out, cx, y(a), y(b), (bar_w * 0.22).clamp(2.0, 6.0));
                        }
                    }
                    Val::Suppressed => suppressed_mark(&mut out, cx, zero - 3.0, &self.suppressed),
                    Val::Missing => {}
                }
            }
        }
        line(&mut out, left, bottom, right, bottom, AXIS, 1.0);
        out.push_str("</svg>");
        Some(out)
    }
}

/// Date ticks of a timeline: `(index of the day, label)`.
fn date_ticks(first: i64, days: usize, plot_w: f64) -> Vec<(usize, String)> {
    use crate::date::{civil_from_days, format_day, format_month};
    if days <= 120 {
        let label_w = text_width("2022-04-07", TICK_FONT) + 14.0;
        let fit = (plot_w / label_w).floor().max(1.0) as usize;
        let step = [1, 2, 3, 7, 14, 28, 56]
            .into_iter()
            .find(|&s| days.div_ceil(s) <= fit)
            .unwrap_or(56);
        (0..days)
            .step_by(step)
            .map(|i| (i, format_day(first + i as i64)))
            .collect()
    } else {
        let label_w = text_width("2022-04", TICK_FONT) + 14.0;
        let fit = (plot_w / label_w).floor().max(1.0) as usize;
        let months = days / 28 + 1;
        let step = [1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200]
            .into_iter()
            .find(|&s| months.div_ceil(s) <= fit)
            .unwrap_or(1200);
        (0..days)
            .filter_map(|i| {
                let day = first + i as i64;
                let (y, m, d) = civil_from_days(day);
                let k = y * 12 + i64::from(m) - 1;
                (d == 1 && k % step as i64 == 0).then(|| (i, format_month(k)))
            })
            .collect()
    }
}

impl Timeline {
    /// The SVG, or `None` if no value is shown.
    pub(crate) fn svg(&self) -> Option<String> {
        let any = self
            .panels
            .iter()
            .flat_map(|p| &p.series)
            .flat_map(|s| &s.values)
            .any(|v| v.datum().is_some());
        if !any || self.days == 0 {
            return None;
        }
        // With more than one series, each panel's title row is its legend.
        let legend = self.panels.iter().map(|p| p.series.len()).sum::<usize>() > 1;
        let extents: Vec<(f64, f64)> = self
            .panels
            .iter()
            .map(|p| {
                extent(
                    p.series
                        .iter()
                        .flat_map(|s| s.values.iter().filter_map(Val::datum)),
                )
            })
            .collect();
        let left = self
            .panels
            .iter()
            .zip(&extents)
            .map(|(p, &(lo, hi))| {
                y_margin(lo, hi, ((p.height - 20.0) / 36.0).clamp(2.0, 6.0) as usize)
            })
            .fold(36.0, f64::max)
            + 4.0;
        let right = WIDTH - 12.0;
        let panel_title = 30.0;
        let height = self
            .panels
            .iter()
            .map(|p| panel_title + p.height + 10.0)
            .sum::<f64>()
            + 26.0;
        let mut out = String::new();
        open_svg(&mut out, height, &self.label);
        let band = (right - left) / self.days as f64;
        let x = |i: usize| left + (i as f64 + 0.5) * band;
        let ticks = date_ticks(self.first, self.days, right - left);
        let mut top = 0.0;
        for (p, panel) in self.panels.iter().enumerate() {
            if legend {
                out.push_str("<g class=\"legend\">");
                let mut lx = 6.0;
                for s in &panel.series {
                    let c = PALETTE[s.color % PALETTE.len()];
                    let swatch = match s.kind {
                        Kind::Line => Swatch::Line(c),
                        Kind::Bars => Swatch::Box(c),
                    };
                    legend_item(&mut out, lx, top + 16.0, swatch, &s.name);
                    lx += item_width(&s.name);
                }
                out.push_str("</g>");
            } else {
                text(
                    &mut out,
                    6.0,
                    top + 16.0,
                    "start",
                    TITLE_FONT,
                    MUTED,
                    &panel.y_title,
                );
            }
            let plot_top = top + panel_title;
            let bottom = plot_top + panel.height;
            for &(i, _) in &ticks {
                line(&mut out, x(i), plot_top, x(i), bottom, GRID, 0.6);
            }
            let (lo, hi) = extents[p];
            let domain = y_axis(&mut out, lo, hi, left, right, plot_top, bottom);
            let y = |v: f64| scale(v, domain, (bottom, plot_top));
            let zero = y(0.0_f64.clamp(domain.0, domain.1));
            for series in &panel.series {
                let color = PALETTE[series.color % PALETTE.len()];
                match series.kind {
                    Kind::Bars => {
                        let w = (band * 0.78).max(0.6);
                        for (i, v) in series.values.iter().enumerate().take(self.days) {
                            match v {
                                Val::Point(d) => {
                                    let yv = y(d.value);
                                    let (y0, y1) = if yv <= zero { (yv, zero) } else { (zero, yv) };
                                    let _ = write!(
                                        out,
                                        "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"><title>{}</title></rect>",
                                        n(x(i) - w / 2.0),
                                        n(y0),
                                        n(w),
                                        n((y1 - y0).max(0.6)),
                                        esc(&d.title)
                                    );
                                }
                                Val::Suppressed => {
                                    suppressed_mark(&mut out, x(i), zero - 2.0, &self.suppressed)
                                }
                                Val::Missing => {}
                            }
                        }
                    }
                    Kind::Line => {
                        let mut path = String::new();
                        let mut open = false;
                        for (i, v) in series.values.iter().enumerate().take(self.days) {
                            if let Val::Point(d) = v {
                                let _ = write!(
                                    path,
                                    "{}{} {}",
                                    if open { " L" } else { " M" },
                                    n(x(i)),
                                    n(y(d.value))
                                );
                                open = true;
                            } else {
                                open = false;
                            }
                        }
                        let _ = write!(
                            out,
                            "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" stroke-linejoin=\"round\"/>",
                            path.trim_start()
                        );
                        let r = (band * 0.32).clamp(1.2, 2.6);
                        for (i, v) in series.values.iter().enumerate().take(self.days) {
                            match v {
                                Val::Point(d) => {
                                    let _ = write!(
                                        out,
                                        "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{color}\"><title>{}</title></circle>",
                                        n(x(i)),
                                        n(y(d.value)),
                                        n(r),
                                        esc(&d.title)
                                    );
                                }
                                Val::Suppressed => {
                                    suppressed_mark(&mut out, x(i), zero - 2.0, &self.suppressed)
                                }
                                Val::Missing => {}
                            }
                        }
                    }
                }
            }
            line(&mut out, left, bottom, right, bottom, AXIS, 1.0);
            for &(i, _) in &ticks {
                line(&mut out, x(i), bottom, x(i), bottom + 4.0, AXIS, 1.0);
            }
            top = bottom + 10.0;
        }
        let bottom = top - 10.0;
        for (k, (i, label)) in ticks.iter().enumerate() {
            let anchor = if k == 0 && x(*i) - left < 30.0 {
                "start"
            } else {
                "middle"
            };
            let tx = if anchor == "start" {
                x(*i) - 4.0
            } else {
                x(*i)
            };
            text(&mut out, tx, bottom + 17.0, anchor, TICK_FONT, MUTED, label);
        }
        out.push_str("</svg>");
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 23.0, 5),
            (vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0], 0)
        );
        let (v, d) = ticks(-0.42, 0.9, 5);
        assert!(v[0] <= -0.42 && *v.last().unwrap() >= 0.9);
        assert!(d <= 2);
        assert_eq!(ticks(0.0, 1.0, 4), (vec![0.0, 0.25, 0.5, 0.75, 1.0], 2));
        assert_eq!(ticks(0.0, 0.0, 4).0.first(), Some(&0.0));
        assert!(ticks(5.0, 5.0, 4).0.len() >= 2);
    }

    #[test]
    fn a_chart_without_values_is_none_and_suppressed_is_marked() {
        let mut bars = Bars {
            categories: vec![vec!["a".into()], vec!["b".into()]],
            series: vec![Series {
                name: "s".into(),
                values: vec![Val::Suppressed, Val::Missing],
            }],
            y_title: "y".into(),
            suppressed: "suppressed".into(),
            band: None,
            accent: None,
            y_range: None,
            height: 200.0,
            label: "l".into(),
        };
        assert_eq!(bars.svg(), None);
        bars.series[0].values[1] = Val::Point(Datum::new(3.0, "<3>".into()));
        let svg = bars.svg().unwrap();
        assert_eq!(svg.matches("class=\"bar\"").count(), 1);
        assert_eq!(svg.matches("class=\"suppressed\"").count(), 1);
        assert!(svg.contains("&lt;3&gt;"));
    }
}
