//! Question 3: did notifications change as society's activity changed?

use super::registrations::{mean7, rates7, RegistrationsAnalysis};
use super::{DayRange, Method};
use crate::date::{format_day, weekday, WEEKDAYS};
use crate::inputs::{DailySeries, Period};
use crate::protect::{Published, Z95};
use crate::stats::{correlation, poisson_regression, Estimate};

/// Rates over a set of days (a named period, a weekday).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRates {
    /// The period's label, or the weekday (`Monday`...).
    pub label: String,
    /// Days of the window in the group.
    pub days: usize,
    /// Of them, days whose counts are published.
    pub days_used: usize,
    /// Flagged per 100,000 covering respondents per day, with its 95% interval.
    pub rate_per_100k: Option<Estimate>,
    /// `rate_per_100k` divided by the mean 7-day registrations at the lag (days with
    /// registrations known only).
    pub per_registration: Option<Estimate>,
}

/// Question 3's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityAnalysis {
    /// The lag used (question 1's; 0 without registrations).
    pub lag: i64,
    /// Correlation of log notifications per registration (7-day) with the index (7-day mean),
    /// with a Fisher 95% interval. Needs registrations and the index.
    pub correlation: Option<Estimate>,
    /// The change in log rate per unit of the index, controlling for log registrations.
    pub activity_effect: Option<Estimate>,
    /// The elasticity on registrations in the same model.
    pub elasticity_adjusted: Option<Estimate>,
    pub days_used: usize,
    pub by_period: Vec<GroupRates>,
    /// Monday first.
    pub by_weekday: Vec<GroupRates>,
}

pub const METHOD: Method = Method {
    en: "Notifications per registration on each day are the 7-day rate per 100,000 covering \
         respondents divided by the 7-day registrations at question 1's lag. With an activity \
         index: Pearson's correlation of their logarithm with the index's 7-day centred mean \
         (Fisher interval, days treated as independent), and a Poisson regression of each day's \
         flagged count on log registrations at the lag and the day's index, with the log of \
         covering respondents as offset (quasi-Poisson or Newey-West standard errors, the \
         larger): its index coefficient is the change in log rate per unit of the index at \
         constant registrations. By named period and by weekday: flagged over covering \
         respondent-days per 100,000, with a log-normal interval widened by question 1's \
         dispersion, and divided by the mean 7-day registrations of those days. Days with a \
         suppressed count are left out.",
    ja: "各日の登録1件あたりの通知は、対象回答者10万人あたりの7日率を設問1のラグでの7日登録数で割った\
         もの。活動指数がある場合は、その対数と指数の中心7日平均とのピアソン相関（Fisherの区間。日を\
         独立とみなす）と、各日の通知数をラグでの登録数の対数とその日の指数にポアソン回帰（対象回答者数\
         の対数をオフセット。準ポアソンとNewey-Westの標準誤差の大きい方）した結果を示し、指数の係数は\
         登録数を一定としたときの指数1単位あたりの対数率の変化である。期間別・曜日別には、対象回答者日\
         あたりの通知数（10万あたり、設問1の分散比で広げた対数正規区間）と、それをその日々の7日登録数の\
         平均で割った値を示す。秘匿された件数のある日は除く。",
};

impl ActivityAnalysis {
    pub fn method() -> Method {
        METHOD
    }

    pub(crate) fn estimate(
        window: DayRange,
        covered: &[Published],
        flagged: &[Published],
        registrations: Option<&dyn Fn(i64) -> Option<f64>>,
        q1: Option<&RegistrationsAnalysis>,
        activity: Option<&DailySeries<f64>>,
        periods: &[Period],
    ) -> Self {
        let n: Vec<Option<f64>> = covered.iter().map(|p| p.as_f64()).collect();
        let f: Vec<Option<f64>> = flagged.iter().map(|p| p.as_f64()).collect();
        let lag = q1.and_then(|q| q.lag).unwrap_or(0);
        let dispersion = q1.map_or(1.0, |q| q.dispersion);
        let day_of = |i: usize| window.first() + i as i64;
        let reg7 = |day: i64| -> Option<f64> {
            registrations
                .and_then(|r| mean7(r, day - lag))
                .filter(|g| *g > 0.0)
        };

        let (mut correlation_estimate, mut activity_effect, mut elasticity_adjusted) =
            (None, None, None);
        let mut days_used = 0;
        if let (Some(index), Some(_)) = (activity, registrations) {
            let index_at = |d: i64| index.get(d);
            let rate7 = rates7(&n, &f);
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for (i, r) in rate7.iter().enumerate() {
                let (Some(r), Some(g), Some(a)) = (
                    r.filter(|r| *r > 0.0),
                    reg7(day_of(i)),
                    mean7(&index_at, day_of(i)),
                ) else {
                    continue;
                };
                xs.push((r / g).ln());
                ys.push(a);
            }
            correlation_estimate = correlation(&xs, &ys);

            let (mut y, mut offset, mut rows, mut days) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in 0..n.len() {
                let d = day_of(i);
                let (Some(ni), Some(fi), Some(g), Some(a)) = (n[i], f[i], reg7(d), index.get(d))
                else {
                    continue;
                };
                if ni > 0.0 {
                    y.push(fi);
                    offset.push(ni.ln());
                    rows.push(vec![1.0, g.ln(), a]);
                    days.push(d);
                }
            }
            if let Some(fit) = poisson_regression(&y, &offset, &rows, &days) {
                elasticity_adjusted = fit.estimate(1);
                activity_effect = fit.estimate(2);
                days_used = fit.n;
            }
        }

        let group = |label: String, member: &dyn Fn(i64) -> bool| -> GroupRates {
            let (mut days, mut used) = (0, 0);
            let (mut sf, mut sn) = (0.0, 0.0);
            let (mut rf, mut rn, mut rg, mut rdays) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..n.len() {
                let d = day_of(i);
                if !member(d) {
                    continue;
                }
                days += 1;
                let (Some(ni), Some(fi)) = (n[i], f[i]) else {
                    continue;
                };
                used += 1;
                sf += fi;
                sn += ni;
                if let Some(g) = reg7(d) {
                    rf += fi;
                    rn += ni;
                    rg += g;
                    rdays += 1.0;
                }
            }
            let interval = |events: f64, per_day: f64| -> Option<Estimate> {
                if events <= 0.0 || !per_day.is_finite() {
                    return None;
                }
                let factor = (Z95 * (dispersion / events).sqrt()).exp();
                Some(Estimate {
                    value: per_day,
                    low: per_day / factor,
                    high: per_day * factor,
                })
            };
            GroupRates {
                label,
                days,
                days_used: used,
                rate_per_100k: (sn > 0.0).then(|| interval(sf, sf / sn * 1e5)).flatten(),
                per_registration: (rn > 0.0 && rg > 0.0)
                    .then(|| interval(rf, rf / rn * 1e5 / (rg / rdays)))
                    .flatten(),
            }
        };

        let by_period = periods
            .iter()
            .map(|p| {
                let label = if p.label.is_empty() {
                    format!("{}..{}", format_day(p.start), format_day(p.end))
                } else {
                    p.label.clone()
                };
                group(label, &|d| (p.start..=p.end).contains(&d))
            })
            .collect();
        let by_weekday = (0..7u8)
            .map(|w| group(WEEKDAYS[usize::from(w)].0.to_string(), &|d| weekday(d) == w))
            .collect();
        Self {
            lag,
            correlation: correlation_estimate,
            activity_effect,
            elasticity_adjusted,
            days_used,
            by_period,
            by_weekday,
        }
    }
}
