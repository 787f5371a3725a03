//! The survey report as one self-contained HTML page: Japanese, English, or both.
//!
//! [`render`] is pure: an [`Analysis`] (protected values only: [`Published`] counts,
//! [`Share`]s, [`Rate`]s and the estimates computed from them) in, a string out, the same
//! bytes for the same analysis. The page loads nothing: its style is inline, its charts are
//! inline SVG ([`chart`]), it has no script, and a Content-Security-Policy forbids any fetch;
//! its only links are to the CSV tables and `report.json` beside it (see
//! [`ReportContext::link_files`]). Every text that comes from outside (a period's label) is
//! escaped.
//!
//! Order: title, window and answers, the disclosure rules in a line; the headline tables
//! (notified by age group and by start-of-use month); the disclosure rules in full; then the
//! four questions, each with its method as the estimators state it ([`crate::Method`]), its
//! charts and its tables with 95% intervals. A suppressed value is written "秘匿" /
//! "suppressed" and drawn as a gap with a `×`, never as zero; a value that cannot be
//! estimated is "–". Every chart is a `<figure>` with an id (`fig-age`, `fig-q1r-timeline`...)
//! and a `<figcaption>`; with nothing to show, the figure holds a message instead.

mod chart;
mod text;

use crate::date::{format_day, format_month, WEEKDAYS};
use crate::estimate::{
    self, activity::GroupRates, registrations::Regressor, Analysis, Method, RegistrationsAnalysis,
};
use crate::protect::{Published, Rate, Share};
use crate::stats::Estimate;
use crate::tables::{GroupCooperation, Item, MonthRow};
use chart::{Bars, Datum, Kind, Panel, Series, TimeSeries, Timeline, Val};
use cocoa_api::{AgeGroup, Commute};
use std::fmt::Write as _;
use text::{count, esc, fixed, num, percent, same, tr, with_interval, Tr};

/// The language of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
    /// Every heading and paragraph in Japanese, then in English.
    Both,
}

impl Lang {
    /// The page's `lang` attribute (`ja` with both: the English parts carry their own).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja | Lang::Both => "ja",
            Lang::En => "en",
        }
    }
}

/// What the page is told besides the analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportContext {
    /// Link the files written next to the page (`tables/*.csv`, `report.json`).
    pub link_files: bool,
    /// Whether an activity index was given (question 3's correlation and effect need one).
    pub activity_index: bool,
}

/// The report page.
pub fn render(analysis: &Analysis, lang: Lang, extra: &ReportContext) -> String {
    let mut page = Page {
        lang,
        ctx: extra,
        out: String::with_capacity(256 * 1024),
        figures: 0,
        tables: 0,
    };
    page.document(analysis);
    page.out
}

const STYLE: &str = r#"
:root{--ink:#1d2733;--muted:#5f6b78;--rule:#d3d9df;--faint:#edf0f3;--accent:#2c6a9c;--soft:#f4f7fa}
*{box-sizing:border-box}
html{font-size:16px;-webkit-text-size-adjust:100%}
body{margin:0;background:#e9edf1;color:var(--ink);line-height:1.65;
font-family:"Noto Sans CJK JP","Noto Sans JP","Hiragino Kaku Gothic ProN","Hiragino Sans","Yu Gothic UI","Yu Gothic",Meiryo,system-ui,sans-serif}
main{max-width:920px;margin:0 auto;background:#fff;padding:44px 56px 64px;box-shadow:0 0 0 1px #dde2e7}
header.report{border-bottom:3px solid var(--ink);padding-bottom:1.1rem;margin-bottom:1.4rem}
.kicker{font-size:.78rem;letter-spacing:.08em;text-transform:uppercase;color:var(--accent);font-weight:700;margin:0 0 .3rem}
h1{font-size:1.95rem;line-height:1.3;margin:0 0 .5rem;font-weight:700}
h1 .tr{display:block;font-size:1.2rem;font-weight:500;color:var(--muted);margin-top:.15rem}
h2{font-size:1.38rem;line-height:1.35;margin:2.8rem 0 1rem;padding-bottom:.35rem;border-bottom:2px solid var(--accent)}
h3{font-size:1.08rem;line-height:1.4;margin:2rem 0 .6rem}
h2 .tr,h3 .tr,h4 .tr{display:block;font-size:.8em;font-weight:500;color:var(--muted)}
h4{font-size:.86rem;margin:0 0 .35rem;color:var(--accent);letter-spacing:.02em}
h4 .tr{display:inline;font-size:1em;color:var(--accent);font-weight:700}
h4 .tr::before{content:"/ "}
p{margin:.5rem 0}
p.en{color:#3c4955}
.lead{font-size:.95rem}
.sub{color:var(--muted);font-size:.92rem;margin:.2rem 0}
.sub .tr{display:block}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin:1.2rem 0 .4rem}
.card{border:1px solid var(--rule);border-top:3px solid var(--accent);border-radius:4px;padding:.6rem .8rem .7rem}
.card .k{font-size:.76rem;color:var(--muted);line-height:1.35}
.card .k .tr{display:block}
.card .v{font-size:1.45rem;font-weight:700;font-variant-numeric:tabular-nums;line-height:1.3;margin-top:.25rem}
.card .v .sup{font-size:1rem;font-weight:600}
.card .v .sup .tr{display:inline}
.card .v small{font-size:.62em;font-weight:500;color:var(--muted)}
.rules{font-size:.84rem;color:var(--muted);margin:.9rem 0 0}
.rules .tr{display:block}
.rules a{color:var(--accent)}
.rules b{color:var(--ink)}
.card .ci{font-size:.74rem;color:var(--muted);font-variant-numeric:tabular-nums}
nav.toc{font-size:.88rem;background:var(--soft);padding:.7rem 1rem;border-radius:4px;margin:1.2rem 0}
nav.toc ol{margin:0;padding:0;list-style:none;columns:2;column-gap:2rem}
nav.toc li{margin:.1rem 0}
nav.toc a{color:var(--accent);text-decoration:none}
nav.toc .tr{color:var(--muted);font-size:.9em}
.method{background:var(--soft);border-left:3px solid var(--accent);padding:.75rem 1rem .8rem;font-size:.86rem;line-height:1.7;margin:1rem 0 1.4rem}
.method p{margin:.3rem 0}
.note{font-size:.84rem;color:var(--muted)}
dl.params{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1.4rem;margin:.8rem 0 1rem;font-size:.92rem}
dl.params dt{font-weight:600}
dl.params dt .tr{display:block;font-weight:400;color:var(--muted);font-size:.88em}
dl.params dd{margin:0;font-variant-numeric:tabular-nums}
dl.params dd .tr{display:block;color:var(--muted);font-size:.88em}
figure{margin:1.5rem 0 1.9rem}
figure svg{display:block;width:100%;height:auto;overflow:visible}
figcaption{font-size:.84rem;color:var(--muted);line-height:1.55;margin-top:.5rem;padding-top:.45rem;border-top:1px solid var(--faint)}
figcaption b,caption b{color:var(--ink)}
figcaption .tr,caption .tr{display:block}
.nodata{border:1px dashed var(--rule);border-radius:4px;padding:1.6rem 1rem;text-align:center;color:var(--muted);font-size:.92rem;margin:0}
.nodata .tr{display:block}
.tablewrap{overflow-x:auto;margin:.6rem 0 1.8rem}
table.data{border-collapse:collapse;width:100%;font-size:.84rem;line-height:1.45;font-variant-numeric:tabular-nums}
table.data caption{caption-side:top;text-align:left;font-size:.84rem;color:var(--muted);padding-bottom:.45rem}
table.data thead th{border-top:2px solid var(--ink);border-bottom:1px solid var(--ink);font-weight:600;text-align:left;vertical-align:bottom;padding:.4rem .55rem}
table.data th .tr{display:block;font-weight:400;color:var(--muted);font-size:.92em}
table.data td{border-bottom:1px solid var(--faint);padding:.32rem .55rem;vertical-align:top}
table.data td:first-child{min-width:9.5em}
table.data td .tr{display:block;color:var(--muted);font-size:.92em}
table.data tbody tr:last-child td{border-bottom:1px solid var(--ink)}
table.data tr.total td{border-top:1px solid var(--ink);font-weight:600}
table.data .num{text-align:right;white-space:nowrap}
table.data td.ci{color:var(--muted)}
.sup{color:#8a6d3b;font-style:italic;font-size:.9em;white-space:nowrap}
td .sup .tr{display:inline;color:#8a6d3b;font-size:1em}
.na{color:var(--muted)}
.csv{font-size:.8rem;margin:-1.2rem 0 1.8rem}
.csv a,footer a{color:var(--accent)}
footer{margin-top:3rem;padding-top:1rem;border-top:1px solid var(--rule);font-size:.82rem;color:var(--muted)}
footer ul{margin:.3rem 0;padding-left:1.2rem;columns:2}
@media (max-width:720px){main{padding:24px 18px}.cards{grid-template-columns:repeat(2,1fr)}nav.toc ol,footer ul{columns:1}}
@media print{body{background:#fff}main{box-shadow:none;max-width:none;padding:0}h2,h3{break-after:avoid}figure,.tablewrap{break-inside:avoid}}
"#;

/// A table cell: its HTML and whether it holds a number.
#[derive(Debug, Clone)]
struct Td {
    html: String,
    class: &'static str,
}

/// The page being written.
#[derive(Debug)]
struct Page<'a> {
    lang: Lang,
    ctx: &'a ReportContext,
    out: String,
    figures: usize,
    tables: usize,
}

/// The labels of a group of respondents.
fn age_name(age: Option<AgeGroup>) -> Tr {
    match age.map(AgeGroup::get) {
        Some(1) => tr("1（14歳以下）", "1 (14 or under)"),
        Some(2) => tr("2（15〜19歳）", "2 (15–19)"),
        Some(3) => tr("3（20〜24歳）", "3 (20–24)"),
        Some(4) => tr("4（25〜29歳）", "4 (25–29)"),
        Some(5) => tr("5（30代）", "5 (30–39)"),
        Some(6) => tr("6（40代）", "6 (40–49)"),
        Some(7) => tr("7（50代）", "7 (50–59)"),
        Some(8) => tr("8（60代）", "8 (60–69)"),
        Some(9) => tr("9（70歳以上）", "9 (70 or over)"),
        Some(a) => same(a.to_string()),
        None => tr("無回答", "No answer"),
    }
}

/// The short label of an age group, for a chart.
fn age_short(age: Option<AgeGroup>) -> Tr {
    match age {
        Some(a) => same(a.get().to_string()),
        None => tr("無回答", "No answer"),
    }
}

fn commute_name(c: Option<Commute>) -> Tr {
    match c.map(Commute::get) {
        Some(1) => tr("通勤なし", "No commuting"),
        Some(2) => tr("公共交通機関なし", "Without public transport"),
        Some(3) => tr("公共交通機関あり", "By public transport"),
        _ => tr("無回答", "No answer"),
    }
}

/// The commuting label of a group of [`GroupCooperation`] (`1`..`3`, `none`).
fn commute_of_label(label: &str) -> Option<Commute> {
    label.parse().ok().and_then(Commute::new)
}

fn age_of_label(label: &str) -> Option<AgeGroup> {
    label.parse().ok().and_then(AgeGroup::new)
}

fn month_name(month: Option<i64>) -> Tr {
    match month {
        None => tr("開始日なし", "No start date"),
        Some(MonthRow::OTHER) => tr("その他", "Other"),
        Some(m) => same(format_month(m)),
    }
}

fn item_name(item: Item) -> Tr {
    match item {
        Item::Q1 => tr("年齢（q1）", "Age (q1)"),
        Item::Q2 => tr("通勤（q2）", "Commuting (q2)"),
        Item::StartDate => tr("利用開始日", "Start date"),
        Item::ExposureData => tr("日次データ", "Daily data"),
    }
}

fn suppressed_text() -> Tr {
    tr("秘匿", "suppressed")
}

/// A share as a chart value in percent.
fn share_val(s: Share, label: &str) -> Val {
    match (s.value(), s.interval()) {
        (Some(v), interval) => Val::Point(
            Datum::new(
                v * 100.0,
                format!(
                    "{label}: {}%{} ({} / {})",
                    percent(v),
                    interval.map_or(String::new(), |(lo, hi)| format!(
                        " [{}, {}]",
                        percent(lo),
                        percent(hi)
                    )),
                    s.numerator().get().map_or(String::new(), count),
                    s.denominator().get().map_or(String::new(), count)
                ),
            )
            .with_interval(interval.map(|(lo, hi)| (lo * 100.0, hi * 100.0))),
        ),
        _ => Val::Suppressed,
    }
}

fn rate_val(r: Rate, label: &str) -> Val {
    match r.value() {
        Some(v) => Val::Point(
            Datum::new(
                v,
                match r.interval() {
                    Some((lo, hi)) => format!("{label}: {}", with_interval(v, lo, hi)),
                    None => format!("{label}: {}", num(v)),
                },
            )
            .with_interval(r.interval()),
        ),
        None => Val::Suppressed,
    }
}

fn estimate_val(e: Option<Estimate>, label: &str) -> Val {
    match e {
        Some(e) => Val::Point(
            Datum::new(
                e.value,
                format!("{label}: {}", with_interval(e.value, e.low, e.high)),
            )
            .with_interval(Some((e.low, e.high))),
        ),
        None => Val::Missing,
    }
}

fn published_val(p: Published, label: &str) -> Val {
    match p.get() {
        Some(v) => Val::Point(Datum::new(v as f64, format!("{label}: {}", count(v)))),
        None => Val::Suppressed,
    }
}

fn number_val(v: Option<f64>, label: &str) -> Val {
    match v.filter(|v| v.is_finite()) {
        Some(v) => Val::Point(Datum::new(v, format!("{label}: {}", num(v)))),
        None => Val::Missing,
    }
}

impl Page<'_> {
    fn t(&self, t: &Tr) -> String {
        self.lang.inline(t)
    }

    fn line(&self, t: &Tr) -> String {
        self.lang.line(t)
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn heading(&mut self, level: u8, id: &str, t: &Tr) {
        let body = self.t(t);
        let _ = write!(self.out, "<h{level} id=\"{id}\">{body}</h{level}>");
    }

    /// A paragraph of plain text, in each language.
    fn para(&mut self, class: &str, t: &Tr) {
        self.para_html(class, &esc(&t.ja), &esc(&t.en));
    }

    /// A paragraph of HTML already escaped, in each language.
    fn para_html(&mut self, class: &str, ja: &str, en: &str) {
        let attr = |extra: &str| {
            let c = format!("{class} {extra}");
            let c = c.trim();
            if c.is_empty() {
                String::new()
            } else {
                format!(" class=\"{c}\"")
            }
        };
        match self.lang {
            Lang::Ja => {
                let _ = write!(self.out, "<p{}>{ja}</p>", attr(""));
            }
            Lang::En => {
                let _ = write!(self.out, "<p{}>{en}</p>", attr(""));
            }
            Lang::Both => {
                let _ = write!(
                    self.out,
                    "<p lang=\"ja\"{}>{ja}</p><p lang=\"en\"{}>{en}</p>",
                    attr(""),
                    attr("en")
                );
            }
        }
    }

    fn method(&mut self, m: Method) {
        let title = self.t(&tr("方法", "Method"));
        let _ = write!(self.out, "<div class=\"method\"><h4>{title}</h4>");
        self.para("", &tr(m.ja, m.en));
        self.push("</div>");
    }

    /// A caption: "図 n" / "Figure n." (or "表" / "Table") and the text.
    fn caption(&self, figure: bool, number: usize, t: &Tr) -> String {
        let (ja, en) = if figure {
            (format!("図{number}"), format!("Figure {number}."))
        } else {
            (format!("表{number}"), format!("Table {number}."))
        };
        match self.lang {
            Lang::Ja => format!("<b>{ja}</b>　{}", esc(&t.ja)),
            Lang::En => format!("<b>{en}</b> {}", esc(&t.en)),
            Lang::Both => format!(
                "<span lang=\"ja\"><b>{ja}</b>　{}</span><span lang=\"en\" class=\"tr\"><b>{en}</b> {}</span>",
                esc(&t.ja),
                esc(&t.en)
            ),
        }
    }

    /// A figure: the chart, or a message when it has nothing to show. A chart with a
    /// suppressed value says what its `×` means, if the caption does not.
    fn figure(&mut self, id: &str, svg: Option<String>, caption: &Tr) {
        self.figures += 1;
        let mut caption = caption.clone();
        if svg
            .as_deref()
            .is_some_and(|s| s.contains("class=\"suppressed\""))
            && !caption.en.contains('×')
        {
            caption.ja.push_str("×は秘匿。");
            caption.en.push_str(" ×: suppressed.");
        }
        let caption = self.caption(true, self.figures, &caption);
        let _ = write!(self.out, "<figure class=\"chart\" id=\"{id}\">");
        match svg {
            Some(svg) => self.push(&svg),
            None => {
                let msg = self.t(&tr(
                    "表示できる値がありません（回答がない、またはすべて秘匿・推定不能）。",
                    "Nothing to show (no answers, or every value suppressed or not estimable).",
                ));
                let _ = write!(self.out, "<p class=\"nodata\">{msg}</p>");
            }
        }
        let _ = write!(self.out, "<figcaption>{caption}</figcaption></figure>");
    }

    /// A table: header cells (text, numeric) and rows (whether it is the total row, cells).
    fn table(&mut self, id: &str, caption: &Tr, head: &[(Tr, bool)], rows: &[(bool, Vec<Td>)]) {
        self.tables += 1;
        let caption = self.caption(false, self.tables, caption);
        let _ = write!(
            self.out,
            "<div class=\"tablewrap\"><table class=\"data\" id=\"{id}\"><caption>{caption}</caption><thead><tr>"
        );
        for (h, numeric) in head {
            let body = self.t(h);
            let _ = write!(
                self.out,
                "<th{}>{body}</th>",
                if *numeric { " class=\"num\"" } else { "" }
            );
        }
        self.push("</tr></thead><tbody>");
        for (total, cells) in rows {
            self.push(if *total {
                "<tr class=\"total\">"
            } else {
                "<tr>"
            });
            for c in cells {
                if c.class.is_empty() {
                    let _ = write!(self.out, "<td>{}</td>", c.html);
                } else {
                    let _ = write!(self.out, "<td class=\"{}\">{}</td>", c.class, c.html);
                }
            }
            self.push("</tr>");
        }
        self.push("</tbody></table></div>");
    }

    /// A link to the CSV a table comes from (when the files are linked).
    fn csv_link(&mut self, file: &str) {
        if !self.ctx.link_files {
            return;
        }
        let label = self.t(&tr("CSV形式の表", "The table as CSV"));
        let _ = write!(
            self.out,
            "<p class=\"csv\">{label}: <a href=\"tables/{file}\">tables/{file}</a></p>"
        );
    }

    fn label(&self, t: &Tr) -> Td {
        Td {
            html: self.t(t),
            class: "",
        }
    }

    fn sup(&self) -> Td {
        Td {
            html: format!("<span class=\"sup\">{}</span>", self.t(&suppressed_text())),
            class: "num",
        }
    }

    fn na() -> Td {
        Td {
            html: "<span class=\"na\">–</span>".to_owned(),
            class: "num",
        }
    }

    fn numeric(html: String) -> Td {
        Td { html, class: "num" }
    }

    fn count_td(&self, p: Published) -> Td {
        match p.get() {
            Some(v) => Self::numeric(count(v)),
            None => self.sup(),
        }
    }

    /// A share's percentage and its interval: two cells.
    fn share_tds(&self, s: Share) -> [Td; 2] {
        match (s.value(), s.interval()) {
            (Some(v), Some((lo, hi))) => [
                Self::numeric(percent(v)),
                Td {
                    html: format!("[{}, {}]", percent(lo), percent(hi)),
                    class: "num ci",
                },
            ],
            _ => [self.sup(), self.sup()],
        }
    }

    /// A share in one cell: `85.0 [80.1, 89.0]`.
    fn share_td(&self, s: Share) -> Td {
        match (s.value(), s.interval()) {
            (Some(v), Some((lo, hi))) => Self::numeric(format!(
                "{} <span class=\"na\">[{}, {}]</span>",
                percent(v),
                percent(lo),
                percent(hi)
            )),
            _ => self.sup(),
        }
    }

    /// A rate in one cell: `9.37 [8.19, 10.74]`.
    fn rate_td(&self, r: Rate) -> Td {
        match (r.value(), r.interval()) {
            (Some(v), Some((lo, hi))) => {
                let d = text::decimals_for(v).max(1);
                Self::numeric(format!(
                    "{} <span class=\"na\">[{}, {}]</span>",
                    fixed(v, d),
                    fixed(lo, d),
                    fixed(hi, d)
                ))
            }
            _ => self.sup(),
        }
    }

    fn estimate_td(e: Option<Estimate>) -> Td {
        match e {
            Some(e) => Self::numeric(with_interval(e.value, e.low, e.high)),
            None => Self::na(),
        }
    }

    fn document(&mut self, a: &Analysis) {
        let title = tr(
            "COCOA 利用終了アンケートの分析",
            "COCOA end-of-use survey analysis",
        );
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
            self.lang.code(),
            esc(&self.line(&title))
        );
        self.header(a, &title);
        self.contents();
        self.headline(a);
        self.protection(a);
        self.registrations(a);
        self.commuting(a);
        self.activity(a);
        self.cooperation(a);
        self.footer();
        self.push("</main>\n</body>\n</html>\n");
    }

    fn header(&mut self, a: &Analysis, title: &Tr) {
        self.push("<header class=\"report\">");
        let kicker = self.line(&tr("公表集計", "Published analysis"));
        let _ = write!(self.out, "<p class=\"kicker\">{}</p>", esc(&kicker));
        let t = self.t(title);
        let _ = write!(self.out, "<h1>{t}</h1>");
        let (first, last, days) = (
            format_day(a.window.first()),
            format_day(a.window.last()),
            a.window.len(),
        );
        let window = self.t(&tr(
            format!("集計期間 {first} 〜 {last}（{days}日間、UTC）"),
            format!("Window {first} to {last} ({days} days, UTC)"),
        ));
        let _ = write!(self.out, "<p class=\"sub\">{window}</p>");
        self.push("<div class=\"cards\">");
        let with_data = a.strata.with_data.total();
        let notified = a.age.total;
        let sup = format!("<span class=\"sup\">{}</span>", self.t(&suppressed_text()));
        let cards = [
            (
                tr("回答数", "Answers"),
                a.answers.get().map_or(sup.clone(), count),
                String::new(),
            ),
            (
                tr("日次データのある回答者", "Respondents with daily data"),
                with_data.get().map_or(sup.clone(), count),
                String::new(),
            ),
            (
                tr("通知が1回以上あった割合", "Notified at least once"),
                notified
                    .value()
                    .map_or(sup.clone(), |v| format!("{}<small>%</small>", percent(v))),
                notified.interval().map_or(String::new(), |(lo, hi)| {
                    format!("95% [{}, {}]", percent(lo), percent(hi))
                }),
            ),
            (
                tr("集計日数", "Days in the window"),
                count(days as u64),
                String::new(),
            ),
        ];
        for (k, v, ci) in cards {
            let k = self.t(&k);
            let _ = write!(
                self.out,
                "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{v}</div>{}</div>",
                if ci.is_empty() {
                    String::new()
                } else {
                    format!("<div class=\"ci\">{ci}</div>")
                }
            );
        }
        self.push("</div>");
        let p = a.protection;
        let raise = p.spread().saturating_sub(1);
        let (raise_ja, raise_en) = if raise > 0 {
            (format!("（+0〜{raise}）"), format!(" (+0 to {raise})"))
        } else {
            (String::new(), String::new())
        };
        let rules = self.lang.inline_html(
            &format!(
                "<b>開示制御</b>　最小セル {}人{raise_ja}・丸め単位 {}・相補秘匿あり（<a href=\"#protection\">詳細</a>）",
                p.min_cell(),
                p.round_to()
            ),
            &format!(
                "<b>Disclosure control</b>: minimum cell {}{raise_en}, rounding base {}, complementary suppression (<a href=\"#protection\">details</a>)",
                p.min_cell(),
                p.round_to()
            ),
        );
        let _ = write!(self.out, "<p class=\"rules\">{rules}</p>");
        if a.answers.get().is_none() {
            self.para(
                "lead",
                &tr(
                    "公表できる回答がありません（回答がないか、しきい値に満たない）。以下の図表は空欄です。",
                    "There are no answers to publish (none, or fewer than the threshold): the charts and tables below are empty.",
                ),
            );
        }
        let mut notes = Vec::new();
        if let Some(v) = a.received_outside_window.get().filter(|v| *v > 0) {
            notes.push(tr(
                format!("期間外に受信した回答 {} 件は、受信日別の表を除くすべての表に含む。", count(v)),
                format!(
                    "{} answers received outside the window are counted in every table but the one by day of receipt.",
                    count(v)
                ),
            ));
        }
        if let Some(v) = a.days_outside_window.get().filter(|v| *v > 0) {
            notes.push(tr(
                format!("期間外の日次データ {} 日分は集計から除いた。", count(v)),
                format!(
                    "{} days of daily data outside the window were left out.",
                    count(v)
                ),
            ));
        }
        for n in notes {
            self.para("note", &n);
        }
        self.push("</header>");
    }

    fn contents(&mut self) {
        let items = [
            ("headline", tr("主要な集計", "Headline tables")),
            ("protection", tr("開示制御", "Disclosure control")),
            (
                "q1",
                tr("1. 陽性登録と通知", "1. Registrations and notifications"),
            ),
            ("q2", tr("2. 通勤と通知", "2. Commuting and notifications")),
            (
                "q3",
                tr(
                    "3. 社会の活動と通知",
                    "3. Social activity and notifications",
                ),
            ),
            ("q4", tr("4. 回答への協力", "4. Cooperation")),
        ];
        let _ = write!(
            self.out,
            "<nav class=\"toc\" aria-label=\"{}\"><ol>",
            esc(&self.line(&tr("目次", "Contents")))
        );
        for (id, t) in items {
            let body = self.t(&t);
            let _ = write!(self.out, "<li><a href=\"#{id}\">{body}</a></li>");
        }
        self.push("</ol></nav>");
    }

    fn protection(&mut self, a: &Analysis) {
        let p = a.protection;
        self.push("<section id=\"protection\">");
        self.heading(2, "protection-h", &tr("開示制御", "Disclosure control"));
        self.para(
            "",
            &tr(
                "個人が特定されないよう、公表するすべての件数に次の規則を適用した。割合・率・統計量はすべて、規則を適用した後の件数から計算している。",
                "So that no one can be singled out, every published count went through the rules below; every share, rate and statistic is computed from the counts after them.",
            ),
        );
        let raise = p.spread().saturating_sub(1);
        let threshold = if raise > 0 {
            tr(
                format!("{} 人（件数ごとに +0〜{raise}）", p.min_cell()),
                format!(
                    "{} respondents (raised by 0 to {raise} per count)",
                    p.min_cell()
                ),
            )
        } else {
            tr(
                format!("{} 人", p.min_cell()),
                format!("{} respondents", p.min_cell()),
            )
        };
        let rows = [
            (
                tr("最小セル（しきい値）", "Minimum cell (threshold)"),
                threshold,
            ),
            (
                tr("丸め単位", "Rounding base"),
                tr(
                    format!("{}（端数に比例する確率で切り上げ・切り捨て）", p.round_to()),
                    format!(
                        "{} (up or down, in proportion to the remainder)",
                        p.round_to()
                    ),
                ),
            ),
            (
                tr("相補秘匿", "Complementary suppression"),
                tr(
                    "適用（合計で結ばれるすべての表をまとめて）",
                    "Applied (over all tables linked by a total, at once)",
                ),
            ),
        ];
        self.push("<dl class=\"params\">");
        for (k, v) in rows {
            let (k, v) = (self.t(&k), self.t(&v));
            let _ = write!(self.out, "<dt>{k}</dt><dd>{v}</dd>");
        }
        self.push("</dl>");
        self.method(estimate::PROTECTION_METHOD);
        if let Some(accounting) = &a.privacy {
            self.privacy(accounting);
        }
        let sup = suppressed_text();
        self.para_html(
            "note",
            &format!(
                "表の「<span class=\"sup\">{}</span>」は公表しない値（ゼロではない）で、図では空白と灰色の「×」で示す。「–」は推定できない値（日数・件数の不足）。[ ] は95%区間。",
                sup.ja
            ),
            &format!(
                "In the tables, “<span class=\"sup\">{}</span>” is a value withheld (not a zero); the charts show it as a gap with a grey “×”. “–” cannot be estimated (too few days or counts). Brackets [ ] hold 95% intervals.",
                sup.en
            ),
        );
        self.push("</section>");
    }

    /// The differential-privacy statement: the budget, the mechanism, the composition rule,
    /// the contribution bound and each statistic's share and noise.
    fn privacy(&mut self, acc: &crate::dp::Accounting) {
        use crate::dp::{Composition, Mechanism};
        self.heading(
            3,
            "privacy-h",
            &tr("差分プライバシー", "Differential privacy"),
        );
        let budget = acc.budget;
        let mechanism = match acc.mechanism {
            Mechanism::DiscreteLaplace => tr("離散ラプラス（幾何）分布", acc.mechanism.name()),
            Mechanism::DiscreteGaussian => tr("離散ガウス分布", acc.mechanism.name()),
        };
        let composition = match acc.composition {
            Composition::Basic => tr("逐次合成（ε の和）", acc.composition.rule()),
            Composition::ZeroConcentrated => {
                tr("集中差分プライバシー（ρ の和）", acc.composition.rule())
            }
        };
        let mut rows = vec![
            (
                tr("ε（全体）", "Epsilon (total)"),
                same(fixed(budget.epsilon(), 4)),
            ),
            (
                tr("δ", "Delta"),
                same(
                    budget
                        .delta()
                        .map_or_else(|| "0".to_owned(), |d| format!("{d:e}")),
                ),
            ),
        ];
        if let Some(rho) = acc.rho {
            rows.push((tr("ρ（zCDP）", "Rho (zCDP)"), same(format!("{rho:.6}"))));
        }
        rows.extend([
            (tr("ノイズ", "Noise"), mechanism),
            (tr("合成規則", "Composition rule"), composition),
            (
                tr("寄与の上限", "Contribution bound"),
                tr(
                    format!("1人あたり最大 {} 日（{}）", acc.max_days, acc.bound_rule),
                    format!(
                        "at most {} days per respondent ({})",
                        acc.max_days, acc.bound_rule
                    ),
                ),
            ),
        ]);
        self.push("<dl class=\"params\">");
        for (k, v) in rows {
            let (k, v) = (self.t(&k), self.t(&v));
            let _ = write!(self.out, "<dt>{k}</dt><dd>{v}</dd>");
        }
        self.push("</dl>");
        self.method(crate::dp::METHOD);
        let share_head = if acc.rho.is_some() {
            tr("ρ の配分", "Rho share")
        } else {
            tr("ε の配分", "Epsilon share")
        };
        let head = [
            (tr("統計量", "Statistic"), false),
            (tr("セル数", "Cells"), true),
            (tr("感度", "Sensitivity"), true),
            (share_head, true),
            (tr("尺度", "Scale"), true),
            (tr("ノイズの標準偏差", "Noise sd"), true),
        ];
        let rows: Vec<(bool, Vec<Td>)> = acc
            .statistics
            .iter()
            .map(|st| {
                let share = st
                    .epsilon
                    .or(st.rho)
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.6}"));
                (
                    false,
                    vec![
                        self.label(&same(st.name)),
                        Self::numeric(count(st.cells as u64)),
                        Self::numeric(num(st.sensitivity)),
                        Self::numeric(share),
                        Self::numeric(num(st.scale())),
                        Self::numeric(num(st.noise_sd())),
                    ],
                )
            })
            .collect();
        self.table(
            "privacy-table",
            &tr("統計量ごとの予算とノイズ", "Budget and noise per statistic"),
            &head,
            &rows,
        );
        for (name, why) in &acc.withheld {
            self.para(
                "note",
                &tr(
                    format!("非公表: {name}（{why}）"),
                    format!("Withheld: {name} ({why})"),
                ),
            );
        }
    }

    fn headline(&mut self, a: &Analysis) {
        self.push("<section id=\"headline\">");
        self.heading(2, "headline-h", &tr("主要な集計", "Headline tables"));
        self.para(
            "",
            &tr(
                "日次データの送信に同意した回答者のうち、集計期間中に接触の通知（通知相当の日）が1日以上あった人の割合。",
                "Among respondents who consented to send their daily data, the share with at least one notification (a flagged day) in the window.",
            ),
        );
        self.heading(3, "headline-age", &tr("年齢群別", "By age group"));
        let lang = self.lang;
        let bars = Bars {
            categories: a
                .age
                .rows
                .iter()
                .map(|r| lang.lines(&age_short(r.age_group)))
                .collect(),
            series: vec![Series {
                name: self.line(&tr("通知のあった割合", "Share notified")),
                values: a
                    .age
                    .rows
                    .iter()
                    .map(|r| share_val(r.notified, &self.line(&age_name(r.age_group))))
                    .collect(),
            }],
            y_title: self.line(&tr("通知のあった割合（%）", "Share notified (%)")),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: None,
            height: 270.0,
            label: self.line(&tr(
                "年齢群別の通知のあった割合",
                "Share notified by age group",
            )),
        };
        self.figure(
            "fig-age",
            bars.svg(),
            &tr(
                "年齢群別の通知が1回以上あった割合（ひげは95% Wilson区間）。年齢群 1 = 14歳以下、2 = 15〜19歳、3 = 20〜24歳、4 = 25〜29歳、5 = 30代、6 = 40代、7 = 50代、8 = 60代、9 = 70歳以上。",
                "Share notified at least once by age group (whiskers: 95% Wilson intervals). Age groups: 1 = 14 or under, 2 = 15–19, 3 = 20–24, 4 = 25–29, 5 = 30–39, 6 = 40–49, 7 = 50–59, 8 = 60–69, 9 = 70 or over.",
            ),
        );
        let mut rows: Vec<(bool, Vec<Td>)> = a
            .age
            .rows
            .iter()
            .map(|r| {
                let [v, ci] = self.share_tds(r.notified);
                (
                    false,
                    vec![
                        self.label(&age_name(r.age_group)),
                        self.count_td(r.notified.denominator()),
                        self.count_td(r.notified.numerator()),
                        v,
                        ci,
                    ],
                )
            })
            .collect();
        let [v, ci] = self.share_tds(a.age.total);
        rows.push((
            true,
            vec![
                self.label(&tr("計", "Total")),
                self.count_td(a.age.total.denominator()),
                self.count_td(a.age.total.numerator()),
                v,
                ci,
            ],
        ));
        let head = share_head(tr("年齢群", "Age group"));
        self.table(
            "tab-age",
            &tr("年齢群別の通知のあった割合", "Share notified by age group"),
            &head,
            &rows,
        );
        self.csv_link("age.csv");

        self.heading(
            3,
            "headline-month",
            &tr("利用開始月別", "By start-of-use month"),
        );
        // The months (not "other" and "no start date", which the table shows): the month's
        // number, and the year under January and the first month.
        let months: Vec<(i64, Share)> = a
            .start_month
            .rows
            .iter()
            .filter_map(|r| match r.month {
                Some(m) if m != MonthRow::OTHER => Some((m, r.notified)),
                _ => None,
            })
            .collect();
        let bars = Bars {
            categories: months
                .iter()
                .enumerate()
                .map(|(i, (m, _))| {
                    let mut lines = vec![(m.rem_euclid(12) + 1).to_string()];
                    if i == 0 || m.rem_euclid(12) == 0 {
                        lines.push(m.div_euclid(12).to_string());
                    }
                    lines
                })
                .collect(),
            series: vec![Series {
                name: self.line(&tr("通知のあった割合", "Share notified")),
                values: months
                    .iter()
                    .map(|(m, s)| share_val(*s, &format_month(*m)))
                    .collect(),
            }],
            y_title: self.line(&tr("通知のあった割合（%）", "Share notified (%)")),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: None,
            height: 270.0,
            label: self.line(&tr(
                "利用開始月別の通知のあった割合",
                "Share notified by start-of-use month",
            )),
        };
        self.figure(
            "fig-start-month",
            bars.svg(),
            &tr(
                "利用開始月別の通知が1回以上あった割合（ひげは95%区間、×は秘匿）。範囲外の開始月と開始日なしは表を参照。",
                "Share notified at least once by the month use started (whiskers: 95% intervals; ×: suppressed). Starts outside these months and answers without a start date: see the table.",
            ),
        );
        let mut rows: Vec<(bool, Vec<Td>)> = a
            .start_month
            .rows
            .iter()
            .map(|r| {
                let [v, ci] = self.share_tds(r.notified);
                (
                    false,
                    vec![
                        self.label(&month_name(r.month)),
                        self.count_td(r.notified.denominator()),
                        self.count_td(r.notified.numerator()),
                        v,
                        ci,
                    ],
                )
            })
            .collect();
        let [v, ci] = self.share_tds(a.start_month.total);
        rows.push((
            true,
            vec![
                self.label(&tr("計", "Total")),
                self.count_td(a.start_month.total.denominator()),
                self.count_td(a.start_month.total.numerator()),
                v,
                ci,
            ],
        ));
        let head = share_head(tr("利用開始月", "Start month"));
        self.table(
            "tab-start-month",
            &tr(
                "利用開始月別の通知のあった割合",
                "Share notified by start-of-use month",
            ),
            &head,
            &rows,
        );
        self.csv_link("start_month.csv");
        self.push("</section>");
    }

    fn registrations(&mut self, a: &Analysis) {
        self.push("<section id=\"q1\">");
        self.heading(
            2,
            "q1-h",
            &tr("1. 陽性登録と通知", "1. Registrations and notifications"),
        );
        self.para(
            "lead",
            &tr(
                "問い：陽性登録が増えたとき、通知も増えたか。",
                "Question: did notifications rise as new positive registrations rose?",
            ),
        );
        self.method(estimate::registrations::METHOD);
        match &a.registrations {
            Some(r) => self.q1_against(a, r, "q1r"),
            None => self.para(
                "note",
                &tr(
                    "陽性登録数が与えられていないため、この問いには答えていない。",
                    "No registration counts were given, so this question is not answered.",
                ),
            ),
        }
        if let Some(r) = &a.national_cases {
            self.heading(
                3,
                "q1-cases",
                &tr("全国の新規陽性者数に対して", "Against national new cases"),
            );
            self.q1_against(a, r, "q1c");
        }
        self.csv_link("daily.csv");
        self.push("</section>");
    }

    fn q1_against(&mut self, a: &Analysis, r: &RegistrationsAnalysis, key: &str) {
        let cases = r.regressor == Regressor::NationalCases;
        let what = if cases {
            tr("全国の新規陽性者数", "national new cases")
        } else {
            tr("陽性登録数", "registrations")
        };
        // Key figures.
        let lag_text = match r.lag {
            Some(k) => {
                let interval = r.lag_interval.map_or(String::new(), |(lo, hi)| {
                    format!(" [{}, {}]", fixed(lo as f64, 0), fixed(hi as f64, 0))
                });
                Self::numeric(format!("{}{interval}", fixed(k as f64, 0)))
            }
            None => Self::na(),
        };
        let best = r
            .lag
            .and_then(|k| r.lags.iter().find(|l| l.lag == k))
            .and_then(|l| l.correlation);
        let rows = vec![
            (
                false,
                vec![
                    self.label(&tr("ラグ（日）", "Lag (days)")),
                    lag_text,
                    self.label(&tr(
                        format!("負：通知の後に{}が増える", what.ja),
                        format!("Negative: {} follow the flags", what.en),
                    )),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr("そのラグでの相関", "Correlation at the lag")),
                    best.map_or_else(Self::na, |c| Self::numeric(fixed(c, 3))),
                    self.label(&tr(
                        "7日率と7日平均の対数",
                        "Logs of the 7-day rate and mean",
                    )),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr("弾力性", "Elasticity")),
                    Self::estimate_td(r.elasticity),
                    self.label(&tr(
                        format!("{}が1%増えたときの通知率の変化（%）", what.ja),
                        format!("% change of the flag rate per 1% more {}", what.en),
                    )),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr("分散比", "Dispersion")),
                    Self::numeric(fixed(r.dispersion, 2)),
                    self.label(&tr(
                        "ポアソン当てはめのピアソン分散比",
                        "Pearson dispersion of the Poisson fit",
                    )),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr("当てはめに使った日数", "Days in the fit")),
                    Self::numeric(count(r.days_used as u64)),
                    self.label(&same("")),
                ],
            ),
        ];
        let head = [
            (tr("推定値", "Estimate"), false),
            (tr("値 [95%区間]", "Value [95% interval]"), true),
            (tr("意味", "Meaning"), false),
        ];
        self.table(
            &format!("tab-{key}"),
            &tr(
                format!("通知と{}の関係", what.ja),
                format!("Notifications and {}", what.en),
            ),
            &head,
            &rows,
        );

        // Timeline: the 7-day rate above, the regressor below.
        let day_label = |i: usize| format_day(a.window.first() + i as i64);
        let rate_values: Vec<Val> = r
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| match d.rate7_per_100k {
                Some(v) => number_val(Some(v), &day_label(i)),
                None => {
                    let row = a.daily.rows.get(i);
                    if row.is_some_and(|row| {
                        row.flagged.is_suppressed() || row.respondents_with_data.is_suppressed()
                    }) {
                        Val::Suppressed
                    } else {
                        Val::Missing
                    }
                }
            })
            .collect();
        let rate_name = self.line(&tr(
            "通知率（10万人あたり、7日平均）",
            "Flagged per 100,000 (7-day average)",
        ));
        let (regressor_name, regressor_series) = if cases {
            let name = self.line(&tr(
                format!(
                    "全国の新規陽性者数（7日平均、ラグ{}日）",
                    r.lag.unwrap_or(0)
                ),
                format!(
                    "National new cases (7-day average, lag {} days)",
                    r.lag.unwrap_or(0)
                ),
            ));
            let values = r
                .days
                .iter()
                .enumerate()
                .map(|(i, d)| number_val(d.regressor7, &day_label(i)))
                .collect();
            (
                name.clone(),
                TimeSeries {
                    name,
                    kind: Kind::Line,
                    color: 1,
                    values,
                },
            )
        } else {
            let name = self.line(&tr(
                "陽性登録数（日別）",
                "New positive registrations per day",
            ));
            let values = a
                .daily
                .rows
                .iter()
                .map(|row| match row.registrations {
                    Some(p) => published_val(p, &format_day(row.day)),
                    None => Val::Missing,
                })
                .collect();
            (
                name.clone(),
                TimeSeries {
                    name,
                    kind: Kind::Bars,
                    color: 1,
                    values,
                },
            )
        };
        let timeline = Timeline {
            first: a.window.first(),
            days: a.window.len(),
            panels: vec![
                Panel {
                    y_title: rate_name.clone(),
                    series: vec![TimeSeries {
                        name: rate_name,
                        kind: Kind::Line,
                        color: 0,
                        values: rate_values,
                    }],
                    height: 150.0,
                },
                Panel {
                    y_title: regressor_name,
                    series: vec![regressor_series],
                    height: 110.0,
                },
            ],
            suppressed: self.line(&suppressed_text()),
            label: self.line(&tr(
                format!("通知率と{}の推移", what.ja),
                format!("Flag rate and {} over time", what.en),
            )),
        };
        self.figure(
            &format!("fig-{key}-timeline"),
            timeline.svg(),
            &tr(
                format!(
                    "上：日次データのある回答者10万人あたりの通知相当の人数（中心7日平均）。下：{}。空白は7日平均を計算できない日（期間の端、または7日内に秘匿の件数）、×はその日の件数が秘匿。",
                    if cases { "全国の新規陽性者数（中心7日平均、採用したラグだけずらす）" } else { "1日あたりの陽性登録数（公表件数）" }
                ),
                format!(
                    "Top: respondents flagged per 100,000 respondents with data covering the day (centred 7-day average). Bottom: {}. Gaps: no 7-day average (the window's edge, or a suppressed count within the 7 days); ×: that day's count is suppressed.",
                    if cases { "national new cases (centred 7-day average, shifted by the lag chosen)" } else { "new positive registrations per day (published counts)" }
                ),
            ),
        );

        // Correlation by lag.
        let lags = Bars {
            categories: r
                .lags
                .iter()
                .map(|l| vec![fixed(l.lag as f64, 0)])
                .collect(),
            series: vec![Series {
                name: self.line(&tr("相関", "Correlation")),
                values: r
                    .lags
                    .iter()
                    .map(|l| match l.correlation {
                        Some(c) => Val::Point(Datum {
                            value: c,
                            interval: None,
                            title: self.line(&tr(
                                format!(
                                    "ラグ {}日: 相関 {} （{}日）",
                                    fixed(l.lag as f64, 0),
                                    fixed(c, 3),
                                    l.days
                                ),
                                format!(
                                    "lag {} days: correlation {} ({} days)",
                                    fixed(l.lag as f64, 0),
                                    fixed(c, 3),
                                    l.days
                                ),
                            )),
                            accent: r.lag == Some(l.lag),
                        }),
                        None => Val::Missing,
                    })
                    .collect(),
            }],
            y_title: self.line(&tr("ピアソン相関", "Pearson correlation")),
            suppressed: self.line(&suppressed_text()),
            band: r.lag_interval.and_then(|(lo, hi)| {
                let start = *estimate::registrations::LAGS.start();
                Some((
                    usize::try_from(lo - start).ok()?,
                    usize::try_from(hi - start).ok()?,
                    self.line(&tr("ラグの95%区間", "95% interval of the lag")),
                ))
            }),
            accent: Some(self.line(&tr("採用したラグ", "Lag chosen"))),
            y_range: None,
            height: 250.0,
            label: self.line(&tr("ラグ別の相関", "Correlation by lag")),
        };
        self.figure(
            &format!("fig-{key}-lags"),
            lags.svg(),
            &tr(
                format!(
                    "ラグ k（日、横軸）ごとの、d日の7日率の対数とd−k日の{}（7日平均）の対数の相関。空白は日数が10日未満。",
                    what.ja
                ),
                format!(
                    "Correlation of the log 7-day rate on day d with log {} (7-day average) on day d − k, by lag k in days. Gaps: fewer than 10 days.",
                    what.en
                ),
            ),
        );

        // Notifications per registration.
        let per = Timeline {
            first: a.window.first(),
            days: a.window.len(),
            panels: vec![Panel {
                y_title: self.line(&if cases {
                    tr(
                        "新規陽性者1人あたりの通知率（10万人あたり）",
                        "Flagged per 100,000 per national case",
                    )
                } else {
                    tr(
                        "登録1件あたりの通知率（10万人あたり）",
                        "Flagged per 100,000 per registration",
                    )
                }),
                series: vec![TimeSeries {
                    name: String::new(),
                    kind: Kind::Line,
                    color: 2,
                    values: r
                        .days
                        .iter()
                        .enumerate()
                        .map(|(i, d)| number_val(d.per_registration, &day_label(i)))
                        .collect(),
                }],
                height: 160.0,
            }],
            suppressed: self.line(&suppressed_text()),
            label: self.line(&tr(
                "登録1件あたりの通知の推移",
                "Notifications per registration over time",
            )),
        };
        self.figure(
            &format!("fig-{key}-per"),
            per.svg(),
            &tr(
                format!("7日率を、採用したラグでの{}の7日平均で割った値。", what.ja),
                format!(
                    "The 7-day rate divided by the 7-day average of {} at the lag chosen.",
                    what.en
                ),
            ),
        );
    }

    fn commuting(&mut self, a: &Analysis) {
        let lang = self.lang;
        let c = &a.commuting;
        self.push("<section id=\"q2\">");
        self.heading(
            2,
            "q2-h",
            &tr("2. 通勤と通知", "2. Commuting and notifications"),
        );
        self.para(
            "lead",
            &tr(
                "問い：通勤や公共交通機関の利用で、通知の頻度は変わったか。",
                "Question: did commuting, or public transport, change how often people were notified?",
            ),
        );
        self.method(estimate::commuting::METHOD);
        let categories: Vec<Vec<String>> = c
            .table
            .rows
            .iter()
            .map(|r| lang.lines(&commute_name(r.commute)))
            .collect();
        let share = Bars {
            categories: categories.clone(),
            series: vec![Series {
                name: self.line(&tr("通知のあった割合", "Share notified")),
                values: c
                    .table
                    .rows
                    .iter()
                    .map(|r| share_val(r.notified, &self.line(&commute_name(r.commute))))
                    .collect(),
            }],
            y_title: self.line(&tr("通知のあった割合（%）", "Share notified (%)")),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: None,
            height: 240.0,
            label: self.line(&tr(
                "通勤区分別の通知のあった割合",
                "Share notified by commuting",
            )),
        };
        self.figure(
            "fig-q2-share",
            share.svg(),
            &tr(
                "通勤区分別の通知が1回以上あった割合（ひげは95% Wilson区間）。",
                "Share notified at least once by commuting group (whiskers: 95% Wilson intervals).",
            ),
        );
        let rate = Bars {
            categories,
            series: vec![Series {
                name: self.line(&tr("通知相当日数", "Flagged days")),
                values: c
                    .table
                    .rows
                    .iter()
                    .map(|r| rate_val(r.flagged, &self.line(&commute_name(r.commute))))
                    .collect(),
            }],
            y_title: self.line(&tr(
                "観察1,000人日あたりの通知相当日数",
                "Flagged days per 1,000 person-days",
            )),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: None,
            height: 240.0,
            label: self.line(&tr(
                "通勤区分別の通知相当日数の率",
                "Flagged-day rate by commuting",
            )),
        };
        self.figure(
            "fig-q2-rate",
            rate.svg(),
            &tr(
                "通勤区分別の観察1,000人日あたりの通知相当日数（ひげは95%区間、回答者間の集積で広げたもの）。",
                "Flagged days per 1,000 observed person-days by commuting group (whiskers: 95% intervals, widened for clustering across respondents).",
            ),
        );
        let row = |page: &Self, r: &crate::tables::CommuteRow, name: Tr| -> Vec<Td> {
            vec![
                page.label(&name),
                page.count_td(r.notified.denominator()),
                page.count_td(r.notified.numerator()),
                page.share_td(r.notified),
                page.count_td(r.flagged.denominator()),
                page.count_td(r.flagged.numerator()),
                page.rate_td(r.flagged),
            ]
        };
        let mut rows: Vec<(bool, Vec<Td>)> = c
            .table
            .rows
            .iter()
            .map(|r| (false, row(self, r, commute_name(r.commute))))
            .collect();
        rows.push((true, row(self, &c.table.total, tr("計", "Total"))));
        let head = [
            (tr("通勤区分", "Commuting"), false),
            (tr("回答者", "Respondents"), true),
            (tr("通知あり", "Notified"), true),
            (tr("割合 % [95%区間]", "Share % [95% interval]"), true),
            (tr("観察人日", "Person-days"), true),
            (tr("通知相当日", "Flagged days"), true),
            (
                tr("1,000人日あたり [95%区間]", "Per 1,000 [95% interval]"),
                true,
            ),
        ];
        self.table(
            "tab-q2",
            &tr("通勤区分別の通知", "Notifications by commuting group"),
            &head,
            &rows,
        );
        self.csv_link("commute.csv");
        let rows: Vec<(bool, Vec<Td>)> = c
            .comparisons
            .iter()
            .map(|k| {
                (
                    false,
                    vec![
                        self.label(&commute_name(k.commute)),
                        Self::estimate_td(k.rate_ratio),
                        Self::estimate_td(k.rate_ratio_age_adjusted),
                        Self::numeric(k.rate_strata_used.to_string()),
                        Self::estimate_td(k.share_ratio),
                        Self::estimate_td(k.share_ratio_age_adjusted),
                        Self::numeric(k.share_strata_used.to_string()),
                    ],
                )
            })
            .collect();
        let head = [
            (tr("区分（対 通勤なし）", "Group (vs. no commuting)"), false),
            (tr("率比", "Rate ratio"), true),
            (tr("年齢調整率比", "Age-adjusted"), true),
            (tr("年齢群数", "Age groups"), true),
            (tr("割合の比", "Share ratio"), true),
            (tr("年齢調整", "Age-adjusted"), true),
            (tr("年齢群数", "Age groups"), true),
        ];
        self.table(
            "tab-q2-ratios",
            &tr(
                "通勤なしに対する率比と割合の比 [95%区間]。年齢調整はMantel-Haenszel（件数がすべて公表される年齢群のみ）。",
                "Rate and share ratios against non-commuters [95% intervals]; age-adjusted by Mantel-Haenszel over the age groups whose counts are all published.",
            ),
            &head,
            &rows,
        );
        self.push("</section>");
    }

    fn group_rates_chart(&mut self, id: &str, groups: &[GroupRates], names: &[Tr], caption: &Tr) {
        let lang = self.lang;
        let bars = Bars {
            categories: names.iter().map(|n| lang.lines(n)).collect(),
            series: vec![Series {
                name: self.line(&tr("通知率", "Flag rate")),
                values: groups
                    .iter()
                    .zip(names)
                    .map(|(g, n)| estimate_val(g.rate_per_100k, &self.line(n)))
                    .collect(),
            }],
            y_title: self.line(&tr(
                "対象回答者日10万あたりの通知相当",
                "Flagged per 100,000 respondent-days",
            )),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: None,
            height: 240.0,
            label: self.line(caption),
        };
        self.figure(id, bars.svg(), caption);
    }

    fn group_rates_table(
        &mut self,
        id: &str,
        groups: &[GroupRates],
        names: &[Tr],
        first: Tr,
        caption: &Tr,
    ) {
        let rows: Vec<(bool, Vec<Td>)> = groups
            .iter()
            .zip(names)
            .map(|(g, n)| {
                (
                    false,
                    vec![
                        self.label(n),
                        Self::numeric(count(g.days as u64)),
                        Self::numeric(count(g.days_used as u64)),
                        Self::estimate_td(g.rate_per_100k),
                        Self::estimate_td(g.per_registration),
                    ],
                )
            })
            .collect();
        let head = [
            (first, false),
            (tr("日数", "Days"), true),
            (tr("使用日数", "Days used"), true),
            (
                tr("10万人日あたり [95%区間]", "Per 100,000 [95% interval]"),
                true,
            ),
            (
                tr("登録1件あたり [95%区間]", "Per registration [95% interval]"),
                true,
            ),
        ];
        self.table(id, caption, &head, &rows);
    }

    fn activity(&mut self, a: &Analysis) {
        let q = &a.activity;
        self.push("<section id=\"q3\">");
        self.heading(
            2,
            "q3-h",
            &tr(
                "3. 社会の活動と通知",
                "3. Social activity and notifications",
            ),
        );
        self.para(
            "lead",
            &tr(
                "問い：社会の活動が変わったとき、通知は変わったか。",
                "Question: did notifications change as society's activity changed?",
            ),
        );
        self.method(estimate::activity::METHOD);
        if !self.ctx.activity_index {
            self.para(
                "note",
                &tr(
                    "活動指数が与えられていないため、相関と活動の効果は推定していない。",
                    "No activity index was given, so the correlation and the effect of activity are not estimated.",
                ),
            );
        }
        let rows = vec![
            (
                false,
                vec![
                    self.label(&tr("使用したラグ（日）", "Lag used (days)")),
                    Self::numeric(fixed(q.lag as f64, 0)),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr(
                        "登録1件あたりの通知と活動指数の相関",
                        "Correlation of notifications per registration with the index",
                    )),
                    Self::estimate_td(q.correlation),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr(
                        "活動指数1単位あたりの対数率の変化",
                        "Change in log rate per unit of the index",
                    )),
                    Self::estimate_td(q.activity_effect),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr(
                        "同じモデルでの登録の弾力性",
                        "Elasticity on registrations, same model",
                    )),
                    Self::estimate_td(q.elasticity_adjusted),
                ],
            ),
            (
                false,
                vec![
                    self.label(&tr("当てはめに使った日数", "Days in the fit")),
                    Self::numeric(count(q.days_used as u64)),
                ],
            ),
        ];
        let head = [
            (tr("推定値", "Estimate"), false),
            (tr("値 [95%区間]", "Value [95% interval]"), true),
        ];
        self.table(
            "tab-q3",
            &tr("活動と通知の関係", "Activity and notifications"),
            &head,
            &rows,
        );

        if !q.by_period.is_empty() {
            self.heading(3, "q3-periods", &tr("期間別", "By named period"));
            let names: Vec<Tr> = q.by_period.iter().map(|g| same(g.label.clone())).collect();
            let caption = tr(
                "期間別の対象回答者日10万あたりの通知相当（ひげは95%区間）。",
                "Flagged per 100,000 respondent-days in each named period (whiskers: 95% intervals).",
            );
            self.group_rates_chart("fig-q3-periods", &q.by_period, &names, &caption);
            self.group_rates_table(
                "tab-q3-periods",
                &q.by_period,
                &names,
                tr("期間", "Period"),
                &tr("期間別の通知率", "Flag rates by named period"),
            );
        }
        self.heading(3, "q3-weekdays", &tr("曜日別", "By weekday"));
        let names: Vec<Tr> = WEEKDAYS.iter().map(|(en, ja)| tr(*ja, &en[..3])).collect();
        let caption = tr(
            "曜日別の対象回答者日10万あたりの通知相当（ひげは95%区間）。",
            "Flagged per 100,000 respondent-days by weekday (whiskers: 95% intervals).",
        );
        self.group_rates_chart("fig-q3-weekdays", &q.by_weekday, &names, &caption);
        let names: Vec<Tr> = WEEKDAYS
            .iter()
            .map(|(en, ja)| tr(format!("{ja}曜日"), *en))
            .collect();
        self.group_rates_table(
            "tab-q3-weekdays",
            &q.by_weekday,
            &names,
            tr("曜日", "Weekday"),
            &tr("曜日別の通知率", "Flag rates by weekday"),
        );
        self.push("</section>");
    }

    fn cooperation_chart(
        &mut self,
        id: &str,
        groups: &[GroupCooperation],
        by_age: bool,
        caption: &Tr,
    ) {
        let lang = self.lang;
        let names: Vec<Tr> = groups
            .iter()
            .map(|g| {
                if by_age {
                    age_short(age_of_label(&g.group))
                } else {
                    commute_name(commute_of_label(&g.group))
                }
            })
            .collect();
        let pick: fn(&GroupCooperation) -> Option<Share> = if by_age { |g| g.q2 } else { |g| g.q1 };
        let first = (if by_age { Item::Q2 } else { Item::Q1 }, pick);
        let series = [
            (
                item_name(first.0),
                groups.iter().map(first.1).collect::<Vec<_>>(),
            ),
            (
                item_name(Item::StartDate),
                groups.iter().map(|g| Some(g.start_date)).collect(),
            ),
            (
                item_name(Item::ExposureData),
                groups.iter().map(|g| Some(g.exposure_data)).collect(),
            ),
        ];
        let bars = Bars {
            categories: names.iter().map(|n| lang.lines(n)).collect(),
            series: series
                .iter()
                .map(|(name, shares)| Series {
                    name: self.line(name),
                    values: shares
                        .iter()
                        .zip(&names)
                        .map(|(s, n)| match s {
                            Some(s) => {
                                share_val(*s, &format!("{} — {}", self.line(n), self.line(name)))
                            }
                            None => Val::Missing,
                        })
                        .collect(),
                })
                .collect(),
            y_title: self.line(&tr("回答・同意した割合（%）", "Share answering (%)")),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: Some((0.0, 100.0)),
            height: 260.0,
            label: self.line(caption),
        };
        self.figure(id, bars.svg(), caption);
    }

    fn cooperation_table(
        &mut self,
        id: &str,
        groups: &[GroupCooperation],
        by_age: bool,
        caption: &Tr,
    ) {
        let rows: Vec<(bool, Vec<Td>)> = groups
            .iter()
            .map(|g| {
                let name = if by_age {
                    age_name(age_of_label(&g.group))
                } else {
                    commute_name(commute_of_label(&g.group))
                };
                let item = if by_age { g.q2 } else { g.q1 };
                (
                    false,
                    vec![
                        self.label(&name),
                        self.count_td(g.respondents),
                        item.map_or_else(Self::na, |s| self.share_td(s)),
                        self.share_td(g.start_date),
                        self.share_td(g.exposure_data),
                    ],
                )
            })
            .collect();
        let head = [
            (
                if by_age {
                    tr("年齢群", "Age group")
                } else {
                    tr("通勤区分", "Commuting")
                },
                false,
            ),
            (tr("回答者", "Respondents"), true),
            (
                if by_age {
                    tr("通勤（q2）%", "Commuting (q2) %")
                } else {
                    tr("年齢（q1）%", "Age (q1) %")
                },
                true,
            ),
            (tr("利用開始日 %", "Start date %"), true),
            (tr("日次データ %", "Daily data %"), true),
        ];
        self.table(id, caption, &head, &rows);
    }

    fn cooperation(&mut self, a: &Analysis) {
        let lang = self.lang;
        let c = &a.cooperation;
        self.push("<section id=\"q4\">");
        self.heading(2, "q4-h", &tr("4. 回答への協力", "4. Cooperation"));
        self.para(
            "lead",
            &tr(
                "問い：利用者のどれだけが協力したか。",
                "Question: what share of users cooperated?",
            ),
        );
        self.method(estimate::cooperation::METHOD);
        if let Some(share) = c.of_active_users.filter(|v| v.is_finite()) {
            let html = self.t(&tr(
                format!("利用者数に対する回答数の割合：{}%", percent(share)),
                format!("Answers as a share of active users: {}%", percent(share)),
            ));
            let _ = write!(self.out, "<p class=\"lead\"><b>{html}</b></p>");
        }
        let names: Vec<Tr> = c.items.rows.iter().map(|r| item_name(r.item)).collect();
        let items = Bars {
            categories: names.iter().map(|n| lang.lines(n)).collect(),
            series: vec![Series {
                name: self.line(&tr("回答・同意した割合", "Share answering")),
                values: c
                    .items
                    .rows
                    .iter()
                    .zip(&names)
                    .map(|(r, n)| share_val(r.answered, &self.line(n)))
                    .collect(),
            }],
            y_title: self.line(&tr("回答・同意した割合（%）", "Share answering (%)")),
            suppressed: self.line(&suppressed_text()),
            band: None,
            accent: None,
            y_range: Some((0.0, 100.0)),
            height: 240.0,
            label: self.line(&tr("項目別の回答・同意の割合", "Share answering each item")),
        };
        self.figure(
            "fig-q4-items",
            items.svg(),
            &tr(
                "全回答のうち各項目に回答（開始日・日次データは送信に同意）した割合（ひげは95% Wilson区間）。",
                "Share of all answers answering each item (for the start date and the daily data: consenting to send it); whiskers: 95% Wilson intervals.",
            ),
        );
        let rows: Vec<(bool, Vec<Td>)> = c
            .items
            .rows
            .iter()
            .zip(&names)
            .map(|(r, n)| {
                let [v, ci] = self.share_tds(r.answered);
                (
                    false,
                    vec![
                        self.label(n),
                        self.count_td(r.answered.numerator()),
                        self.count_td(r.answered.denominator()),
                        v,
                        ci,
                    ],
                )
            })
            .collect();
        let head = [
            (tr("項目", "Item"), false),
            (tr("回答・同意", "Answered"), true),
            (tr("全回答", "All answers"), true),
            (tr("割合（%）", "Share (%)"), true),
            (tr("95%区間", "95% interval"), true),
        ];
        self.table(
            "tab-q4-items",
            &tr("項目別の回答・同意", "Answers to each item"),
            &head,
            &rows,
        );
        self.csv_link("cooperation.csv");

        self.heading(3, "q4-age", &tr("年齢群別", "By age group"));
        let caption = tr(
            "年齢群別の各項目の回答・同意の割合（ひげは95%区間）。",
            "Share answering each item by age group (whiskers: 95% intervals).",
        );
        self.cooperation_chart("fig-q4-by-age", &c.by_age, true, &caption);
        self.cooperation_table(
            "tab-q4-by-age",
            &c.by_age,
            true,
            &tr(
                "年齢群別の回答・同意の割合 [95%区間]",
                "Share answering by age group [95% intervals]",
            ),
        );
        self.csv_link("cooperation_by_age.csv");

        self.heading(3, "q4-commute", &tr("通勤区分別", "By commuting group"));
        let caption = tr(
            "通勤区分別の各項目の回答・同意の割合（ひげは95%区間）。",
            "Share answering each item by commuting group (whiskers: 95% intervals).",
        );
        self.cooperation_chart("fig-q4-by-commute", &c.by_commute, false, &caption);
        self.cooperation_table(
            "tab-q4-by-commute",
            &c.by_commute,
            false,
            &tr(
                "通勤区分別の回答・同意の割合 [95%区間]",
                "Share answering by commuting group [95% intervals]",
            ),
        );
        self.csv_link("cooperation_by_commute.csv");

        self.heading(
            3,
            "q4-received",
            &tr("受信日別の回答数", "Answers received per day"),
        );
        let received = Timeline {
            first: a.window.first(),
            days: a.window.len(),
            panels: vec![Panel {
                y_title: self.line(&tr("受信した回答数", "Answers received")),
                series: vec![TimeSeries {
                    name: String::new(),
                    kind: Kind::Bars,
                    color: 0,
                    values: c
                        .received
                        .rows
                        .iter()
                        .map(|r| published_val(r.answers, &format_day(r.day)))
                        .collect(),
                }],
                height: 150.0,
            }],
            suppressed: self.line(&suppressed_text()),
            label: self.line(&tr("受信日別の回答数", "Answers received per day")),
        };
        let total = c
            .received
            .total
            .get()
            .map_or_else(|| self.line(&suppressed_text()), count);
        self.figure(
            "fig-q4-received",
            received.svg(),
            &tr(
                format!("受信日（UTC）ごとの回答数（×は秘匿）。期間内の合計 {total}。"),
                format!(
                    "Answers received per day (UTC; ×: suppressed). Total in the window: {total}."
                ),
            ),
        );
        self.csv_link("received.csv");
        self.push("</section>");
    }

    fn footer(&mut self) {
        self.push("<footer>");
        self.para(
            "",
            &tr(
                "このページはネットワークから何も読み込まない（スクリプトなし）。数値はすべて同じフォルダの report.json と同じもの。",
                "This page loads nothing from the network and runs no script. Every number is the one in report.json beside it.",
            ),
        );
        if self.ctx.link_files {
            let files = [
                "tables/age.csv",
                "tables/start_month.csv",
                "tables/daily.csv",
                "tables/commute.csv",
                "tables/cooperation.csv",
                "tables/cooperation_by_age.csv",
                "tables/cooperation_by_commute.csv",
                "tables/received.csv",
                "report.json",
            ];
            self.push("<ul>");
            for f in files {
                let _ = write!(self.out, "<li><a href=\"{f}\">{f}</a></li>");
            }
            self.push("</ul>");
        }
        self.push("</footer>");
    }
}

/// The header of a table of shares: the group, respondents, notified, %, interval.
fn share_head(first: Tr) -> [(Tr, bool); 5] {
    [
        (first, false),
        (
            tr("回答者（日次データあり）", "Respondents with data"),
            true,
        ),
        (tr("通知あり", "Notified"), true),
        (tr("割合（%）", "Share (%)"), true),
        (tr("95%区間", "95% interval"), true),
    ]
}
