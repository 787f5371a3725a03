//! The report page (`html::render`) from hand-made answers: the languages asked for and no
//! other, one data point per published value in every chart, suppressed values shown as
//! suppressed (never 0), labels from inputs escaped, nothing that loads anything, the empty
//! analysis, and the same bytes every time.
//!
//! Window: 2022-08-01 ..= 2022-08-30 (offsets 0..=29). Fourteen answers: twelve cover every
//! day of the window, respondent `j` flagged on day `d` when `(7d + 5j) mod 11 < 4`, except the
//! three who commute without public transport (never flagged, so that group's "notified" is 0
//! and suppressed) and respondent 10; one consented with no day; one did not consent. The one
//! respondent with no commuting answer and daily data is notified: "all of the group
//! notified" is suppressed too. Registrations rise through
//! the window, with one day of 0 (suppressed). Threshold 1, no rounding: the counts are exact
//! but zeros (from no one) and their complements are still suppressed.

use cocoa_analytics::date::days_from_civil;
use cocoa_analytics::estimate::{analyse, Analysis, DayRange, SideInputs};
use cocoa_analytics::html::{render, Lang, ReportContext};
use cocoa_analytics::inputs::{DailySeries, Period};
use cocoa_analytics::tables::MonthRow;
use cocoa_analytics::Protection;
use cocoa_api::{AgeGroup, Commute, SurveyDayFlag, SurveyResponse};

const AUG1: i64 = 19_205;
const DAYS: i64 = 30;
const SCRIPT_LABEL: &str = "<script>alert(\"x\")</script> & co";

fn answers() -> Vec<SurveyResponse> {
    let ages = [3, 3, 5, 5, 7, 7, 2, 4, 6, 8, 9, 0];
    let commutes = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 3, 0];
    let starts = [
        Some((2021, 1, 15)),
        Some((2021, 1, 20)),
        None,
        Some((2021, 3, 2)),
        Some((2021, 3, 10)),
        None,
        Some((2021, 1, 5)),
        None,
        Some((2021, 3, 30)),
        None,
        Some((2021, 1, 1)),
        Some((2021, 3, 15)),
    ];
    let mut all: Vec<SurveyResponse> = (0..12)
        .map(|j| {
            let commute = commutes[j];
            SurveyResponse {
                id_hash: format!("answer-{j}"),
                received_day: AUG1 + DAYS - 1 - (j as i64 % 3),
                age_group: AgeGroup::new(ages[j]),
                commute: Commute::new(commute),
                start_day: starts[j].map(|(y, m, d)| days_from_civil(y, m, d)),
                days: Some(
                    (0..DAYS)
                        .map(|d| SurveyDayFlag {
                            day: AUG1 + d,
                            exposure_detected: commute != 2
                                && j != 10
                                && (7 * d + 5 * j as i64) % 11 < 4,
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    all.push(SurveyResponse {
        id_hash: "consented-no-day".into(),
        received_day: AUG1 + DAYS - 1,
        age_group: AgeGroup::new(5),
        commute: Commute::new(1),
        start_day: None,
        days: Some(Vec::new()),
    });
    all.push(SurveyResponse {
        id_hash: "no-consent".into(),
        received_day: AUG1 + DAYS - 2,
        age_group: None,
        commute: None,
        start_day: None,
        days: None,
    });
    all
}

fn series<T: Copy>(f: impl Fn(i64) -> T) -> DailySeries<T> {
    DailySeries::from_points((0..DAYS).map(|i| (AUG1 + i, f(i))).collect()).unwrap()
}

struct Inputs {
    registrations: DailySeries<u64>,
    cases: DailySeries<u64>,
    activity: DailySeries<f64>,
    periods: Vec<Period>,
}

fn inputs() -> Inputs {
    Inputs {
        registrations: series(|i| {
            if i == 12 {
                0
            } else {
                40 + 3 * i as u64 + (i as u64 % 7) * 5
            }
        }),
        cases: series(|i| 1000 + 50 * i as u64 + (i as u64 % 5) * 30),
        activity: series(|i| (i as f64 / 4.0).sin() + i as f64 / 30.0),
        periods: vec![
            Period {
                start: AUG1 + 2,
                end: AUG1 + 9,
                label: SCRIPT_LABEL.into(),
            },
            Period {
                start: AUG1 + 10,
                end: AUG1 + 16,
                label: "お盆 Obon".into(),
            },
        ],
    }
}

fn analysis() -> Analysis {
    let i = inputs();
    analyse(
        DayRange::new(AUG1, AUG1 + DAYS - 1).unwrap(),
        &answers(),
        Protection::new(1, 1).unwrap(),
        &SideInputs {
            registrations: Some(&i.registrations),
            national_cases: Some(&i.cases),
            activity: Some(&i.activity),
            periods: &i.periods,
            active_users: Some(100),
        },
    )
}

fn context() -> ReportContext {
    ReportContext {
        link_files: true,
        activity_index: true,
    }
}

/// The `<figure>` of id `id`, whole.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let open = format!("<figure class=\"chart\" id=\"{id}\">");
    let start = html.find(&open).unwrap_or_else(|| panic!("no figure {id}"));
    let end = start + html[start..].find("</figure>").expect("a closed figure");
    &html[start..end]
}

/// The `<table>` of id `id`, whole.
fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + html[start..].find("</table>").expect("a closed table");
    &html[start..end]
}

/// Text as HTML writes it.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn points(fragment: &str) -> usize {
    fragment.matches("class=\"bar\"").count() + fragment.matches("class=\"point\"").count()
}

fn has_japanese(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c as u32, 0x3040..=0x30ff | 0x4e00..=0x9fff | 0xff00..=0xffef))
}

/// Each chart's id and the number of values it should show: one per published (or
/// estimated) value of the analysis.
fn expected_points(a: &Analysis) -> Vec<(&'static str, usize)> {
    let some = |v: Option<f64>| usize::from(v.is_some());
    let r = a.registrations.as_ref().expect("registrations given");
    let c = a.national_cases.as_ref().expect("national cases given");
    let registrations = a
        .daily
        .rows
        .iter()
        .filter(|row| row.registrations.is_some_and(|p| p.get().is_some()))
        .count();
    let coop = |groups: &[cocoa_analytics::tables::GroupCooperation]| -> usize {
        groups
            .iter()
            .map(|g| {
                g.q1.or(g.q2).map_or(0, |s| some(s.value()))
                    + some(g.start_date.value())
                    + some(g.exposure_data.value())
            })
            .sum()
    };
    vec![
        (
            "fig-age",
            a.age.rows.iter().map(|r| some(r.notified.value())).sum(),
        ),
        (
            "fig-start-month",
            // The months only: "other" and "no start date" are in the table.
            a.start_month
                .rows
                .iter()
                .filter(|r| r.month.is_some_and(|m| m != MonthRow::OTHER))
                .map(|r| some(r.notified.value()))
                .sum(),
        ),
        (
            "fig-q1r-timeline",
            r.days.iter().map(|d| some(d.rate7_per_100k)).sum::<usize>() + registrations,
        ),
        (
            "fig-q1r-lags",
            r.lags.iter().map(|l| some(l.correlation)).sum(),
        ),
        (
            "fig-q1r-per",
            r.days.iter().map(|d| some(d.per_registration)).sum(),
        ),
        (
            "fig-q1c-timeline",
            c.days
                .iter()
                .map(|d| some(d.rate7_per_100k) + some(d.regressor7))
                .sum(),
        ),
        (
            "fig-q1c-lags",
            c.lags.iter().map(|l| some(l.correlation)).sum(),
        ),
        (
            "fig-q1c-per",
            c.days.iter().map(|d| some(d.per_registration)).sum(),
        ),
        (
            "fig-q2-share",
            a.commuting
                .table
                .rows
                .iter()
                .map(|r| some(r.notified.value()))
                .sum(),
        ),
        (
            "fig-q2-rate",
            a.commuting
                .table
                .rows
                .iter()
                .map(|r| some(r.flagged.value()))
                .sum(),
        ),
        (
            "fig-q3-periods",
            a.activity
                .by_period
                .iter()
                .map(|g| usize::from(g.rate_per_100k.is_some()))
                .sum(),
        ),
        (
            "fig-q3-weekdays",
            a.activity
                .by_weekday
                .iter()
                .map(|g| usize::from(g.rate_per_100k.is_some()))
                .sum(),
        ),
        (
            "fig-q4-items",
            a.cooperation
                .items
                .rows
                .iter()
                .map(|r| some(r.answered.value()))
                .sum(),
        ),
        ("fig-q4-by-age", coop(&a.cooperation.by_age)),
        ("fig-q4-by-commute", coop(&a.cooperation.by_commute)),
        (
            "fig-q4-received",
            a.cooperation
                .received
                .rows
                .iter()
                .filter(|r| r.answers.get().is_some())
                .count(),
        ),
    ]
}

#[test]
fn every_chart_is_an_svg_with_one_point_per_value() {
    let a = analysis();
    let html = render(&a, Lang::Both, &context());
    let expected = expected_points(&a);
    for (id, n) in &expected {
        let fig = figure(&html, id);
        assert!(*n > 0, "{id}: the hand-made data should give it values");
        assert_eq!(fig.matches("<svg").count(), 1, "{id} is one svg");
        assert_eq!(points(fig), *n, "{id}: data points");
        assert!(fig.contains("<figcaption>"), "{id} has a caption");
        assert!(fig.contains("<line"), "{id} has axes");
        assert!(
            fig.contains("text-anchor=\"end\""),
            "{id} has y tick labels"
        );
        // Every data point carries its value in a <title>.
        assert_eq!(
            fig.matches("<title>").count(),
            *n + fig.matches("class=\"suppressed\"").count(),
            "{id}: a title per point and per suppressed mark"
        );
    }
    // Every figure on the page is one of those.
    assert_eq!(html.matches("<figure").count(), expected.len());
    assert_eq!(html.matches("<figcaption>").count(), expected.len());
    // Known from the data: seven weekdays; answers arrive on the last three days only, the
    // other 27 days are zeros, suppressed.
    assert_eq!(points(figure(&html, "fig-q3-weekdays")), 7);
    assert_eq!(points(figure(&html, "fig-q4-received")), 3);
    assert_eq!(
        figure(&html, "fig-q4-received")
            .matches("class=\"suppressed\"")
            .count(),
        27
    );
    // Charts of more than one series have a legend; those of one do not.
    for id in [
        "fig-q4-by-age",
        "fig-q4-by-commute",
        "fig-q1r-timeline",
        "fig-q1r-lags",
    ] {
        assert!(figure(&html, id).contains("class=\"legend\""), "{id}");
    }
    for id in ["fig-age", "fig-q2-share", "fig-q4-received"] {
        assert!(!figure(&html, id).contains("class=\"legend\""), "{id}");
    }
    // The lag chosen is accented, and stated.
    let lag = a.registrations.as_ref().unwrap().lag.expect("a lag");
    assert!(figure(&html, "fig-q1r-lags").contains("#c4452d"));
    assert!(table(&html, "tab-q1r").contains(&format!(
        "<td class=\"num\">{}",
        if lag < 0 {
            format!("\u{2212}{}", -lag)
        } else {
            lag.to_string()
        }
    )));
}

#[test]
fn a_suppressed_value_is_suppressed_never_zero() {
    let a = analysis();
    // Commuting without public transport: 3 with data, none notified: 0 is suppressed.
    let row = &a.commuting.table.rows[1];
    assert_eq!(row.notified.denominator().get(), Some(3));
    assert!(row.notified.numerator().is_suppressed());
    for (lang, word) in [
        (Lang::Ja, "秘匿"),
        (Lang::En, "suppressed"),
        (Lang::Both, "秘匿"),
    ] {
        let html = render(&a, lang, &context());
        let tab = table(&html, "tab-q2");
        let rows: Vec<&str> = tab.split("<tr>").collect();
        let group2 = rows
            .iter()
            .find(|r| r.contains("公共交通機関なし") || r.contains("Without public transport"))
            .expect("the row of commuting without public transport");
        let cells: Vec<&str> = group2.split("<td").skip(1).collect();
        assert!(cells[1].contains(">3<"), "respondents: {}", cells[1]);
        // Respondents, notified, share, person-days (published: 3 × 30), flagged days, rate.
        assert!(cells[4].contains(">90<"), "person-days: {}", cells[4]);
        for cell in [cells[2], cells[3], cells[5], cells[6]] {
            assert!(
                cell.contains("class=\"sup\"") && cell.contains(word),
                "{cell}"
            );
            assert!(!cell.contains(">0<") && !cell.contains(">0.0<"), "{cell}");
        }
        // The chart: bars for groups 1 and 3, a × for group 2 and for no answer.
        let fig = figure(&html, "fig-q2-share");
        assert_eq!(points(fig), 2);
        assert_eq!(fig.matches("class=\"suppressed\"").count(), 2);
        assert!(fig.contains(&format!("<title>{word}")), "the mark says so");
    }
    // The registrations of day 12 (0) are suppressed: a mark in the timeline.
    let html = render(&a, Lang::En, &context());
    assert!(a.daily.rows[12].registrations.unwrap().is_suppressed());
    assert!(figure(&html, "fig-q1r-timeline").contains("class=\"suppressed\""));
}

#[test]
fn both_languages_with_both_and_only_one_otherwise() {
    let a = analysis();
    let both = render(&a, Lang::Both, &context());
    assert!(both.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
    for text in [
        "COCOA 利用終了アンケートの分析",
        "COCOA end-of-use survey analysis",
        "開示制御",
        "Disclosure control",
        "Method",
        "方法",
    ] {
        assert!(both.contains(text), "{text}");
    }
    // The methods, verbatim.
    for m in [
        cocoa_analytics::estimate::PROTECTION_METHOD,
        cocoa_analytics::estimate::registrations::METHOD,
        cocoa_analytics::estimate::commuting::METHOD,
        cocoa_analytics::estimate::activity::METHOD,
        cocoa_analytics::estimate::cooperation::METHOD,
    ] {
        assert!(both.contains(&escape(m.ja)), "{}", m.ja);
        assert!(both.contains(&escape(m.en)), "{}", m.en);
    }
    // Each heading and paragraph in both: Japanese first.
    let h1 = &both[both.find("<h1>").unwrap()..both.find("</h1>").unwrap()];
    let (ja, en) = (
        h1.find("COCOA 利用終了").unwrap(),
        h1.find("COCOA end-of-use").unwrap(),
    );
    assert!(ja < en);
    assert!(both.matches("<p lang=\"ja\"").count() == both.matches("<p lang=\"en\"").count());
    assert!(both.matches("<p lang=\"ja\"").count() >= 10);

    let ja = render(&a, Lang::Ja, &context());
    assert!(ja.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
    assert!(ja.contains("COCOA 利用終了アンケートの分析"));
    assert!(!ja.contains("lang=\"en\""));
    let method_en = escape(cocoa_analytics::estimate::commuting::METHOD.en);
    for text in [
        "COCOA end-of-use survey analysis",
        "Disclosure control",
        "Figure ",
        "Method",
        ">suppressed",
        "Share notified",
        &method_en,
    ] {
        assert!(!ja.contains(text), "Japanese page has {text:?}");
    }
    assert!(ja.contains(&escape(cocoa_analytics::estimate::commuting::METHOD.ja)));

    let en = render(&a, Lang::En, &context());
    assert!(en.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(en.contains("COCOA end-of-use survey analysis"));
    assert!(!en.contains("lang=\"ja\""));
    // No Japanese at all, but for the period label that came in Japanese.
    let without_label = en.replace("お盆", "");
    assert!(!has_japanese(&without_label), "English page has Japanese");
    assert!(en.contains(&escape(cocoa_analytics::estimate::commuting::METHOD.en)));
}

#[test]
fn labels_from_inputs_are_escaped_and_nothing_is_loaded() {
    let a = analysis();
    for lang in [Lang::Ja, Lang::En, Lang::Both] {
        let html = render(&a, lang, &context());
        assert!(
            !html.contains("<script"),
            "no script, and the label is escaped"
        );
        assert!(!html.contains(SCRIPT_LABEL));
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
        // In the chart (category and title) and in the table.
        assert!(figure(&html, "fig-q3-periods").contains("&lt;script&gt;"));
        assert!(table(&html, "tab-q3-periods").contains("&lt;script&gt;"));
        for bad in [
            "http://",
            "https://",
            "src=",
            "url(",
            "@import",
            "<link",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            "//cdn",
            "xlink:href",
        ] {
            assert!(!html.contains(bad), "{bad:?} in the page");
        }
        // The only links: anchors in the page and the files beside it.
        for href in html.split("href=\"").skip(1) {
            let target = &href[..href.find('"').unwrap()];
            assert!(
                target.starts_with('#')
                    || (target.starts_with("tables/") && target.ends_with(".csv"))
                    || target == "report.json",
                "link to {target:?}"
            );
        }
        assert!(html.contains("<a href=\"tables/age.csv\">"));
        assert!(html.contains("default-src 'none'"), "a CSP forbids fetches");
    }
    // Without links to the files, no link leaves the page.
    let html = render(&a, Lang::Both, &ReportContext::default());
    assert!(html.split("href=\"").skip(1).all(|h| h.starts_with('#')));
}

#[test]
fn the_same_analysis_gives_the_same_bytes() {
    let (a, b) = (analysis(), analysis());
    for lang in [Lang::Ja, Lang::En, Lang::Both] {
        assert_eq!(render(&a, lang, &context()), render(&b, lang, &context()));
    }
}

#[test]
fn an_empty_analysis_renders_messages_instead_of_charts() {
    let window = DayRange::new(AUG1, AUG1 + 9).unwrap();
    let a = analyse(window, &[], Protection::default(), &SideInputs::default());
    for lang in [Lang::Ja, Lang::En, Lang::Both] {
        let html = render(&a, lang, &ReportContext::default());
        assert!(html.ends_with("</html>\n"));
        assert!(!html.contains("<svg"), "no chart without values");
        let message = match lang {
            Lang::Ja => "表示できる値がありません",
            _ => "Nothing to show",
        };
        assert!(html.matches(message).count() >= 5, "{lang:?}");
        assert!(html.contains("class=\"nodata\""));
        assert!(!html.contains("NaN") && !html.contains(">inf") && !html.contains("\"inf"));
    }
    // A window of one day, with one answer: no panic either.
    let one = DayRange::new(AUG1, AUG1).unwrap();
    let a = analyse(
        one,
        &answers()[..1],
        Protection::new(1, 1).unwrap(),
        &SideInputs::default(),
    );
    let html = render(&a, Lang::Both, &context());
    assert!(html.contains("</html>"));
    assert!(!html.contains("NaN"));
}

/// With differential privacy, the page states the budget, the mechanism, the bound and each
/// statistic's share and noise; without it, it says nothing of it.
#[test]
fn the_privacy_budget_is_stated_only_when_used() {
    let i = inputs();
    let sides = SideInputs {
        registrations: Some(&i.registrations),
        national_cases: None,
        activity: None,
        periods: &[],
        active_users: None,
    };
    let window = DayRange::new(AUG1, AUG1 + DAYS - 1).unwrap();
    let budget = cocoa_analytics::dp::DpBudget::new(2.0, None).unwrap();
    let noised = analyse(
        window,
        &answers(),
        Protection::default().with_dp(budget),
        &sides,
    );
    let accounting = noised.privacy.as_ref().expect("an accounting");
    let html = render(&noised, Lang::Both, &context());
    assert!(html.contains("差分プライバシー") && html.contains("Differential privacy"));
    let table = table(&html, "privacy-table");
    assert_eq!(
        table.matches("<tr>").count(),
        accounting.statistics.len() + 1,
        "a header row and one row per statistic"
    );
    for statistic in &accounting.statistics {
        assert!(table.contains(statistic.name), "{}", statistic.name);
    }
    assert!(html.contains("2.0000"), "the total epsilon");

    let plain = render(&analysis(), Lang::Both, &context());
    assert!(!plain.contains("privacy-table"));
    assert!(!plain.contains("Differential privacy"));
}
