//! Question 2: did commuting, or public transport, change how often people were notified?

use super::{commute_of_slot, Method, Strata, AGE_SLOTS, COMMUTE_SLOTS};
use crate::protect::{Published, Rate, Share};
use crate::stats::{
    mantel_haenszel_rate_ratio, mantel_haenszel_risk_ratio, Estimate, RateStratum, ShareStratum,
};
use crate::tables::{CommuteRow, CommuteTable};
use cocoa_api::Commute;

/// A commuting group against those who do not commute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// `Some(2)`, `Some(3)` or `None` (no answer), against `Some(1)`.
    pub commute: Option<Commute>,
    /// Ratio of flagged days per person-day.
    pub rate_ratio: Option<Estimate>,
    /// The same, Mantel-Haenszel over age groups.
    pub rate_ratio_age_adjusted: Option<Estimate>,
    /// Ratio of the shares notified.
    pub share_ratio: Option<Estimate>,
    /// The same, Mantel-Haenszel over age groups.
    pub share_ratio_age_adjusted: Option<Estimate>,
    /// Age groups with every count of the comparison published (of [`AGE_SLOTS`]).
    pub rate_strata_used: usize,
    pub share_strata_used: usize,
}

/// Question 2's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CommutingAnalysis {
    /// Per group: share notified (Wilson 95%), flagged days per 1,000 person-days (Poisson).
    pub table: CommuteTable,
    /// Groups 2, 3 and no answer against group 1.
    pub comparisons: Vec<Comparison>,
}

pub const METHOD: Method = Method {
    en: "Per commuting group (1 none, 2 without public transport, 3 with, no answer), among \
         respondents with daily data: the share with at least one flagged day, with a Wilson \
         95% interval; and flagged days per 1,000 observed person-days (a respondent observes the \
         days from its first to its last reported day), with a Poisson 95% interval on the log \
         scale, widened by the group's quasi-Poisson dispersion across respondents when flags \
         cluster. Each group is compared with non-commuters: the rate ratio with a log-normal \
         interval (variance φ1/y1 + φ0/y0), and the share ratio (variance 1/a - 1/n1 + 1/c - \
         1/n0); then the same standardised for age by Mantel-Haenszel over the age groups \
         (Greenland-Robins variances; the rate ratio's widened by the larger dispersion), using \
         only age groups whose counts are all published. All from rounded published counts.",
    ja: "通勤区分（1 通勤なし、2 公共交通機関を使わない、3 使う、無回答）ごとに、日次データのある回答者の\
         うち通知相当の日が1日以上ある人の割合（Wilsonの95%区間）と、観察人日1,000あたりの通知相当日数\
         （回答者の観察期間は報告された最初の日から最後の日まで。対数尺度のポアソン95%区間で、回答者間で\
         集積する場合は群の準ポアソン分散比で広げる）を求める。各群を通勤なしと比べ、率比（対数正規区間、\
         分散 φ1/y1 + φ0/y0）と割合の比（分散 1/a - 1/n1 + 1/c - 1/n0）を示し、さらに年齢群で層別した\
         Mantel-Haenszel推定で年齢を調整する（Greenland-Robinsの分散。件数がすべて公表される年齢群のみ）。\
         いずれも丸めた公表件数から計算する。",
};

/// The variance a count's DP noise adds to its logarithm, `V / x²` (0 without DP).
fn noise_term(count: Published, x: f64) -> f64 {
    count.noise_variance() / (x * x)
}

impl CommutingAnalysis {
    pub fn method() -> Method {
        METHOD
    }

    /// From the strata, and the quasi-Poisson dispersion of flagged days across respondents
    /// per commuting group and in all.
    pub(crate) fn estimate(
        strata: &Strata,
        dispersion: &[f64; COMMUTE_SLOTS],
        total_dispersion: f64,
    ) -> Self {
        let row = |c: usize| CommuteRow {
            commute: commute_of_slot(c),
            notified: Share::new(strata.notified.col_total(c), strata.with_data.col_total(c)),
            flagged: Rate::new(
                strata.flagged_days.col_total(c),
                strata.person_days.col_total(c),
                1000.0,
            )
            .with_dispersion(dispersion[c]),
        };
        let total = CommuteRow {
            commute: None,
            notified: Share::new(strata.notified.total(), strata.with_data.total()),
            flagged: Rate::new(
                strata.flagged_days.total(),
                strata.person_days.total(),
                1000.0,
            )
            .with_dispersion(total_dispersion),
        };
        let table = CommuteTable {
            rows: (0..COMMUTE_SLOTS).map(row).collect(),
            total,
        };

        let comparisons = (1..COMMUTE_SLOTS)
            .map(|g| {
                let (r1, r0) = (table.rows[g], table.rows[0]);
                let phi = dispersion[g].max(dispersion[0]);
                let rate_ratio = (|| {
                    let (y1, t1) = (
                        r1.flagged.numerator().as_f64()?,
                        r1.flagged.denominator().as_f64()?,
                    );
                    let (y0, t0) = (
                        r0.flagged.numerator().as_f64()?,
                        r0.flagged.denominator().as_f64()?,
                    );
                    if y1 <= 0.0 || y0 <= 0.0 || t1 <= 0.0 || t0 <= 0.0 {
                        return None;
                    }
                    // DP noise (0 without it), by the delta method on the log scale.
                    let noise = noise_term(r1.flagged.numerator(), y1)
                        + noise_term(r1.flagged.denominator(), t1)
                        + noise_term(r0.flagged.numerator(), y0)
                        + noise_term(r0.flagged.denominator(), t0);
                    let se = (dispersion[g] / y1 + dispersion[0] / y0 + noise).sqrt();
                    Estimate::log_normal(((y1 / t1) / (y0 / t0)).ln(), se)
                })();
                let share_ratio = (|| {
                    let (a, n1) = (
                        r1.notified.numerator().as_f64()?,
                        r1.notified.denominator().as_f64()?,
                    );
                    let (c, n0) = (
                        r0.notified.numerator().as_f64()?,
                        r0.notified.denominator().as_f64()?,
                    );
                    if a <= 0.0 || c <= 0.0 || n1 <= 0.0 || n0 <= 0.0 {
                        return None;
                    }
                    let noise = noise_term(r1.notified.numerator(), a)
                        + noise_term(r1.notified.denominator(), n1)
                        + noise_term(r0.notified.numerator(), c)
                        + noise_term(r0.notified.denominator(), n0);
                    let var = 1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n0 + noise;
                    Estimate::log_normal(((a / n1) / (c / n0)).ln(), var.max(0.0).sqrt())
                })();
                let rate_strata: Vec<RateStratum> = (0..AGE_SLOTS)
                    .filter_map(|a| {
                        Some(RateStratum {
                            events1: strata.flagged_days.cell(a, g).as_f64()?,
                            time1: strata.person_days.cell(a, g).as_f64()?,
                            events0: strata.flagged_days.cell(a, 0).as_f64()?,
                            time0: strata.person_days.cell(a, 0).as_f64()?,
                        })
                    })
                    .filter(|s| s.time1 > 0.0 && s.time0 > 0.0)
                    .collect();
                let share_strata: Vec<ShareStratum> = (0..AGE_SLOTS)
                    .filter_map(|a| {
                        Some(ShareStratum {
                            cases1: strata.notified.cell(a, g).as_f64()?,
                            n1: strata.with_data.cell(a, g).as_f64()?,
                            cases0: strata.notified.cell(a, 0).as_f64()?,
                            n0: strata.with_data.cell(a, 0).as_f64()?,
                        })
                    })
                    .filter(|s| s.n1 > 0.0 && s.n0 > 0.0)
                    .collect();
                Comparison {
                    commute: commute_of_slot(g),
                    rate_ratio,
                    rate_ratio_age_adjusted: mantel_haenszel_rate_ratio(&rate_strata)
                        .and_then(|(rr, var)| Estimate::log_normal(rr.ln(), (phi * var).sqrt())),
                    share_ratio,
                    share_ratio_age_adjusted: mantel_haenszel_risk_ratio(&share_strata)
                        .and_then(|(rr, var)| Estimate::log_normal(rr.ln(), var.max(0.0).sqrt())),
                    rate_strata_used: rate_strata.len(),
                    share_strata_used: share_strata.len(),
                }
            })
            .collect();
        Self { table, comparisons }
    }
}
