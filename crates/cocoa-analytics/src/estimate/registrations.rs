//! Question 1: did notifications rise as new positive registrations rose?

use super::{DayRange, Method};
use crate::protect::Published;
use crate::stats::{pearson, poisson_regression, Estimate};

/// The lags searched, in days.
pub const LAGS: std::ops::RangeInclusive<i64> = -14..=14;
/// Fewest days for a correlation at one lag.
pub const MIN_DAYS: usize = 10;

/// What notifications are set against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regressor {
    /// New positive registrations per day (the server's aggregate, protected like any count).
    Registrations,
    /// National new cases per day (the Ministry's open data).
    NationalCases,
}

/// One day's rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayRates {
    pub day: i64,
    /// flagged / covering respondents × 100,000, that day.
    pub rate_per_100k: Option<f64>,
    /// The same over the 7 days centred on the day (sums of flagged over sums of covering).
    pub rate7_per_100k: Option<f64>,
    /// The regressor's mean over the 7 days centred on `day − lag`.
    pub regressor7: Option<f64>,
    /// `rate7_per_100k / regressor7`: notified per 100,000 respondents per registration (or
    /// per case).
    pub per_registration: Option<f64>,
}

/// The correlation at one lag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagCorrelation {
    pub lag: i64,
    pub correlation: Option<f64>,
    pub days: usize,
}

/// Question 1's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationsAnalysis {
    pub regressor: Regressor,
    /// Every day of the window.
    pub days: Vec<DayRates>,
    /// The correlation at each lag of [`LAGS`].
    pub lags: Vec<LagCorrelation>,
    /// The lag of highest correlation (ties: the one nearest 0); `None` if no lag had
    /// [`MIN_DAYS`] days. Lag `k` compares flags on day `d` with the regressor around `d − k`:
    /// `k < 0` means the regressor follows the flags (exposure comes before the registration).
    pub lag: Option<i64>,
    /// The lags the data do not reject (the hull of them): those whose Poisson fit's deviance
    /// is within 3.84 φ of the best lag's, all fitted on the days every lag can use; φ is the
    /// best fit's effective dispersion of the slope (its reported variance, quasi-Poisson or
    /// Newey-West, over the Poisson one).
    pub lag_interval: Option<(i64, i64)>,
    /// The slope of log rate on log regressor at `lag`, with its 95% interval.
    pub elasticity: Option<Estimate>,
    /// The fit's Pearson dispersion (≥ 1); 1 without a fit.
    pub dispersion: f64,
    /// Days in the fit.
    pub days_used: usize,
}

pub const METHOD: Method = Method {
    en: "For each day, the respondents whose daily data covers it (the day lies between their \
         first and last reported day) and those flagged that day, both published counts; the rate \
         is flagged per 100,000 covering respondents, also over the 7 days centred on the day. \
         Registrations are averaged over 7 centred days. For each lag k from -14 to +14 days, \
         Pearson's correlation between the log 7-day rate on day d and the log 7-day \
         registrations on day d-k; the lag of highest correlation is kept (k < 0: registrations \
         follow exposures). The elasticity is the slope of a Poisson regression of each day's \
         flagged count on log registrations at that lag, with the log of covering respondents as \
         offset; its 95% interval uses the larger of the quasi-Poisson and the Newey-West (7-day) \
         standard errors, and does not account for the choice of lag. The lag's interval holds the lags whose fit's \
         deviance exceeds the best one's by at most 3.84 times the slope's dispersion (its \
         reported variance over its Poisson variance): a quasi-likelihood ratio test at 5%, on \
         the days every lag can use. Notifications per \
         registration: the 7-day rate divided by the 7-day registrations at the lag. Days with a \
         suppressed count are left out.",
    ja: "日ごとに、日次データがその日を含む回答者（報告された最初の日から最後の日までの間にある）と、\
         その日に通知相当とされた回答者を数える（いずれも公表件数）。率は対象回答者10万人あたりの\
         通知数で、その日を中心とする7日間でも求める。陽性登録数も中心7日平均とする。ラグkを\
         -14日から+14日まで動かし、d日の7日率の対数とd-k日の7日登録数の対数のピアソン相関を求め、\
         最も相関の高いラグを採る（k<0は登録が接触より後）。弾力性は、そのラグで各日の通知数を\
         登録数の対数にポアソン回帰（対象回答者数の対数をオフセット）した傾きで、95%区間は\
         準ポアソンとNewey-West（7日）の標準誤差の大きい方を用いる（ラグ選択の不確かさは含まない）。\
         ラグの区間は、各ラグの当てはめの逸脱度が最良のものから傾きの分散比（採用した分散／ポアソン分散）の3.84倍以内にあるラグ\
         （準尤度比検定、5%。すべてのラグで使える日のみ）とする。\
         登録1件あたりの通知は7日率をそのラグの7日登録数で割ったもの。秘匿された件数のある日は除く。",
};

/// The mean of `f` over the 7 days centred on `day`, if all are known.
pub(crate) fn mean7(f: &dyn Fn(i64) -> Option<f64>, day: i64) -> Option<f64> {
    let mut s = 0.0;
    for d in day - 3..=day + 3 {
        s += f(d)?;
    }
    Some(s / 7.0)
}

/// The 7-day centred rate per 100,000 of each day of the window.
pub(crate) fn rates7(covered: &[Option<f64>], flagged: &[Option<f64>]) -> Vec<Option<f64>> {
    let len = covered.len();
    (0..len)
        .map(|i| {
            if i < 3 || i + 3 >= len {
                return None;
            }
            let (mut sf, mut sn) = (0.0, 0.0);
            for j in i - 3..=i + 3 {
                sf += flagged[j]?;
                sn += covered[j]?;
            }
            (sn > 0.0).then(|| sf / sn * 1e5)
        })
        .collect()
}

impl RegistrationsAnalysis {
    pub fn method() -> Method {
        METHOD
    }

    /// See [`RegistrationsAnalysis::lag_interval`].
    fn lag_interval(
        window: DayRange,
        n: &[Option<f64>],
        f: &[Option<f64>],
        series: &dyn Fn(i64) -> Option<f64>,
    ) -> Option<(i64, i64)> {
        let day_of = |i: usize| window.first() + i as i64;
        let usable: Vec<usize> = (0..n.len())
            .filter(|&i| {
                n[i].is_some_and(|v| v > 0.0)
                    && f[i].is_some()
                    && LAGS
                        .clone()
                        .all(|k| mean7(series, day_of(i) - k).is_some_and(|g| g > 0.0))
            })
            .collect();
        if usable.len() < MIN_DAYS {
            return None;
        }
        let y: Vec<f64> = usable.iter().map(|&i| f[i].unwrap_or(0.0)).collect();
        let offset: Vec<f64> = usable.iter().map(|&i| n[i].unwrap_or(1.0).ln()).collect();
        let days: Vec<i64> = usable.iter().map(|&i| day_of(i)).collect();
        let fits: Vec<(i64, crate::stats::PoissonFit)> = LAGS
            .filter_map(|k| {
                let rows: Vec<Vec<f64>> = usable
                    .iter()
                    .map(|&i| vec![1.0, mean7(series, day_of(i) - k).unwrap_or(1.0).ln()])
                    .collect();
                Some((k, poisson_regression(&y, &offset, &rows, &days)?))
            })
            .collect();
        let best = fits
            .iter()
            .min_by(|a, b| a.1.deviance.total_cmp(&b.1.deviance))?;
        let (best_deviance, phi) = (best.1.deviance, best.1.effective_dispersion[1]);
        let accepted: Vec<i64> = fits
            .iter()
            .filter(|(_, fit)| fit.deviance - best_deviance <= 3.84 * phi)
            .map(|(k, _)| *k)
            .collect();
        Some((*accepted.first()?, *accepted.last()?))
    }

    /// From the daily table's published columns (`covered[i]`, `flagged[i]` for day
    /// `window.first() + i`) and the regressor by day.
    pub fn estimate(
        regressor: Regressor,
        window: DayRange,
        covered: &[Published],
        flagged: &[Published],
        series: &dyn Fn(i64) -> Option<f64>,
    ) -> Self {
        let n: Vec<Option<f64>> = covered.iter().map(|p| p.as_f64()).collect();
        let f: Vec<Option<f64>> = flagged.iter().map(|p| p.as_f64()).collect();
        let rate7 = rates7(&n, &f);
        let day_of = |i: usize| window.first() + i as i64;

        let mut order: Vec<i64> = LAGS.collect();
        order.sort_by_key(|k| (k.abs(), *k));
        let mut lags: Vec<LagCorrelation> = LAGS
            .map(|lag| {
                let (mut xs, mut ys) = (Vec::new(), Vec::new());
                for (i, r) in rate7.iter().enumerate() {
                    let Some(r) = r.filter(|r| *r > 0.0) else {
                        continue;
                    };
                    if let Some(g) = mean7(series, day_of(i) - lag).filter(|g| *g > 0.0) {
                        xs.push(r.ln());
                        ys.push(g.ln());
                    }
                }
                LagCorrelation {
                    lag,
                    correlation: (xs.len() >= MIN_DAYS).then(|| pearson(&xs, &ys)).flatten(),
                    days: xs.len(),
                }
            })
            .collect();
        let mut lag = None;
        let mut best = f64::NEG_INFINITY;
        for k in order {
            let c = lags[(k - LAGS.start()) as usize].correlation;
            if let Some(c) = c.filter(|c| *c > best) {
                best = c;
                lag = Some(k);
            }
        }
        lags.sort_by_key(|l| l.lag);

        let (mut elasticity, mut dispersion, mut days_used) = (None, 1.0, 0);
        if let Some(k) = lag {
            let (mut y, mut offset, mut rows, mut days) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in 0..n.len() {
                let (Some(ni), Some(fi)) = (n[i], f[i]) else {
                    continue;
                };
                let Some(g) = mean7(series, day_of(i) - k).filter(|g| *g > 0.0) else {
                    continue;
                };
                if ni > 0.0 {
                    y.push(fi);
                    offset.push(ni.ln());
                    rows.push(vec![1.0, g.ln()]);
                    days.push(day_of(i));
                }
            }
            if let Some(fit) = poisson_regression(&y, &offset, &rows, &days) {
                elasticity = fit.estimate(1);
                dispersion = fit.dispersion;
                days_used = fit.n;
            }
        }

        let lag_interval = Self::lag_interval(window, &n, &f, series);

        let days = (0..n.len())
            .map(|i| {
                let day = day_of(i);
                let regressor7 = lag.and_then(|k| mean7(series, day - k));
                DayRates {
                    day,
                    rate_per_100k: match (n[i], f[i]) {
                        (Some(ni), Some(fi)) if ni > 0.0 => Some(fi / ni * 1e5),
                        _ => None,
                    },
                    rate7_per_100k: rate7[i],
                    regressor7,
                    per_registration: match (rate7[i], regressor7) {
                        (Some(r), Some(g)) if g > 0.0 => Some(r / g),
                        _ => None,
                    },
                }
            })
            .collect();
        Self {
            regressor,
            days,
            lags,
            lag,
            lag_interval,
            elasticity,
            dispersion,
            days_used,
        }
    }
}
