//! Differential privacy, optional: the budget, its split over the released statistics, the
//! noise (from the `opendp` crate) and the accounting the report states.
//!
//! **The guarantee.** User level: two sets of answers are neighbours if one has one more
//! respondent's answer than the other (add or remove one respondent, with everything that
//! respondent contributes to every table). With a budget of ε alone the release is ε-DP
//! (pure); with ε and δ it is (ε, δ)-DP.
//!
//! **What is released.** The analysis publishes counts only through a few *statistics*, each a
//! vector of counts that one respondent changes by a bounded amount (its L1 and L2
//! sensitivities, stated per statistic by its caller: [`crate::estimate`] lists them). Each
//! statistic's cells are noised once; every published count is a sum of noised cells, and
//! everything after the noise (margins, thresholds, complementary suppression, rounding,
//! shares, rates, estimates) is post-processing, which costs no budget.
//!
//! **Mechanism.** Without δ: the discrete Laplace (geometric) mechanism, opendp's
//! `make_laplace` on integers, scale `b = Δ1 / ε_i`. With δ: the discrete Gaussian, opendp's
//! `make_gaussian` on integers, `σ = Δ2 / √(2 ρ_i)`. Both are exact samplers on the integers
//! (Canonne, Kamath & Steinke 2020), with no floating-point noise.
//!
//! **Composition.** Without δ: basic sequential composition, `ε = Σ ε_i`, each statistic getting
//! `ε_i = ε · w_i / Σ w` for fixed weights `w_i` (a hair less, so that opendp's rounded-up
//! accounting of the shares never exceeds ε). With δ: zero-concentrated DP, `ρ = Σ ρ_i`, split
//! by the same weights, where ρ is the largest budget that opendp's conversion (Canonne, Kamath
//! & Steinke 2020) turns into (ε, δ)-DP. Each share is checked against opendp's own privacy map
//! of the measurement it calibrates, and the total against opendp's composition.
//!
//! **Randomness.** opendp draws its own randomness and takes no generator: without its
//! `use-openssl` feature (left off, as it builds OpenSSL from C source) that is `rand` 0.7's
//! `thread_rng`, a ChaCha generator seeded (and reseeded) from the operating system. This is
//! the one place in this crate that does not take its randomness as an argument; so a DP
//! release is not reproducible, and the tests check the noise's distribution statistically.

use crate::estimate::Method;
use opendp::combinators::{CompositionMeasure, ConcentratedMeasure};
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::{make_gaussian, make_laplace};
use opendp::measures::{MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{L1Distance, L2Distance};

/// The opendp release the noise comes from.
pub const LIBRARY: &str = "opendp 0.16 (discrete samplers, integer inputs)";

/// Each share of the budget is this fraction of its exact part, so that the shares, as opendp
/// accounts them (rounding up), add up to no more than the budget.
const SLACK: f64 = 1.0 - 1e-9;

/// A budget that is not a valid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DpError {
    #[error("epsilon must be a finite number above 0")]
    Epsilon,
    #[error("delta must be a number above 0 and below 1")]
    Delta,
}

/// The noise could not be calibrated or drawn (opendp refused, or the system had no entropy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("differential privacy: {0}")]
pub struct NoiseError(String);

impl NoiseError {
    fn new(what: &str, e: impl std::fmt::Display) -> Self {
        Self(format!("{what}: {e}"))
    }
}

/// The privacy budget of a release: ε, and δ for approximate DP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpBudget {
    epsilon: f64,
    delta: Option<f64>,
}

/// Both numbers are finite (checked by [`DpBudget::new`]), so equality is an equivalence.
impl Eq for DpBudget {}

impl DpBudget {
    /// `epsilon` finite and above 0; `delta`, if given, strictly between 0 and 1.
    pub fn new(epsilon: f64, delta: Option<f64>) -> Result<Self, DpError> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(DpError::Epsilon);
        }
        if let Some(d) = delta {
            if !(d > 0.0 && d < 1.0) {
                return Err(DpError::Delta);
            }
        }
        Ok(Self { epsilon, delta })
    }

    pub fn epsilon(self) -> f64 {
        self.epsilon
    }

    pub fn delta(self) -> Option<f64> {
        self.delta
    }

    /// Discrete Laplace without δ, discrete Gaussian with it.
    pub fn mechanism(self) -> Mechanism {
        if self.delta.is_some() {
            Mechanism::DiscreteGaussian
        } else {
            Mechanism::DiscreteLaplace
        }
    }

    /// The composition rule the budget is split by.
    pub fn composition(self) -> Composition {
        if self.delta.is_some() {
            Composition::ZeroConcentrated
        } else {
            Composition::Basic
        }
    }
}

/// The noise distribution (on the integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// P(x) ∝ exp(−|x| / scale): pure ε-DP, calibrated to the L1 sensitivity.
    DiscreteLaplace,
    /// P(x) ∝ exp(−x² / 2 scale²): ρ-zCDP, calibrated to the L2 sensitivity.
    DiscreteGaussian,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::DiscreteLaplace => "discrete Laplace (geometric)",
            Mechanism::DiscreteGaussian => "discrete Gaussian",
        }
    }
}

/// How the shares of the budget add up to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Composition {
    /// ε = Σ ε_i.
    Basic,
    /// ρ = Σ ρ_i, and ρ-zCDP implies (ε, δ)-DP.
    ZeroConcentrated,
}

impl Composition {
    pub fn rule(self) -> &'static str {
        match self {
            Composition::Basic => {
                "basic sequential composition: epsilon = sum of the statistics' epsilon shares, \
                 each share epsilon x weight / total weight"
            }
            Composition::ZeroConcentrated => {
                "zero-concentrated DP: rho = sum of the statistics' rho shares, each share rho x \
                 weight / total weight, where rho is the largest zCDP budget that converts to \
                 (epsilon, delta)-DP by the conversion of Canonne, Kamath and Steinke (2020)"
            }
        }
    }
}

/// A statistic to noise: a vector of `cells` counts, and how much one respondent can change it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statistic {
    pub name: &'static str,
    /// What its cells count, and why its sensitivities are what they are.
    pub description: &'static str,
    pub cells: usize,
    /// The most one respondent changes the sum of the cells' absolute changes.
    pub l1_sensitivity: f64,
    /// The most one respondent changes the root of the sum of the squared changes.
    pub l2_sensitivity: f64,
    /// Its part of the budget (of the sum of all the statistics' weights).
    pub weight: u32,
}

/// Noise of one distribution and scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    mechanism: Mechanism,
    scale: f64,
}

impl Noise {
    /// `scale` finite and above 0.
    pub fn new(mechanism: Mechanism, scale: f64) -> Result<Self, NoiseError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(NoiseError(format!("noise scale {scale} is not above 0")));
        }
        Ok(Self { mechanism, scale })
    }

    pub fn mechanism(self) -> Mechanism {
        self.mechanism
    }

    /// Laplace: `b` in P(x) ∝ exp(−|x| / b); Gaussian: σ in P(x) ∝ exp(−x² / 2σ²).
    pub fn scale(self) -> f64 {
        self.scale
    }

    /// The variance of one draw, exactly (Laplace: 2p / (1 − p)² with p = exp(−1/b); Gaussian:
    /// summed over the support, σ² past σ = 64 where they agree to double precision).
    pub fn variance(self) -> f64 {
        match self.mechanism {
            Mechanism::DiscreteLaplace => {
                let q = -(-1.0 / self.scale).exp_m1();
                2.0 * (1.0 - q) / (q * q)
            }
            Mechanism::DiscreteGaussian => {
                let s = self.scale;
                if s > 64.0 {
                    return s * s;
                }
                let (mut num, mut den) = (0.0, 1.0);
                let last = (40.0 * s).ceil() as i64 + 2;
                for x in 1..=last {
                    let x = x as f64;
                    let w = 2.0 * (-x * x / (2.0 * s * s)).exp();
                    num += x * x * w;
                    den += w;
                }
                num / den
            }
        }
    }

    /// The standard deviation of one draw.
    pub fn sd(self) -> f64 {
        self.variance().sqrt()
    }

    /// `counts`, each plus an independent draw, by opendp's measurement.
    pub fn apply(self, counts: &[i64]) -> Result<Vec<i64>, NoiseError> {
        let domain = VectorDomain::new(AtomDomain::<i64>::default());
        let input = counts.to_vec();
        match self.mechanism {
            Mechanism::DiscreteLaplace => make_laplace::<_, _, MaxDivergence>(
                domain,
                L1Distance::<f64>::default(),
                self.scale,
                None,
            )
            .and_then(|m| m.invoke(&input)),
            Mechanism::DiscreteGaussian => make_gaussian::<_, _, ZeroConcentratedDivergence>(
                domain,
                L2Distance::<f64>::default(),
                self.scale,
                None,
            )
            .and_then(|m| m.invoke(&input)),
        }
        .map_err(|e| NoiseError::new("drawing the noise", e))
    }

    /// The privacy loss opendp's measurement of this noise accounts at `sensitivity`: ε for
    /// Laplace, ρ for Gaussian.
    pub fn loss(self, sensitivity: f64) -> Result<f64, NoiseError> {
        let domain = VectorDomain::new(AtomDomain::<i64>::default());
        match self.mechanism {
            Mechanism::DiscreteLaplace => make_laplace::<_, _, MaxDivergence>(
                domain,
                L1Distance::<f64>::default(),
                self.scale,
                None,
            )
            .and_then(|m| m.map(&sensitivity)),
            Mechanism::DiscreteGaussian => make_gaussian::<_, _, ZeroConcentratedDivergence>(
                domain,
                L2Distance::<f64>::default(),
                self.scale,
                None,
            )
            .and_then(|m| m.map(&sensitivity)),
        }
        .map_err(|e| NoiseError::new("accounting the noise", e))
    }
}

/// One statistic's part of the accounting.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticAccount {
    pub name: &'static str,
    pub description: &'static str,
    pub cells: usize,
    pub l1_sensitivity: f64,
    pub l2_sensitivity: f64,
    /// The sensitivity the noise is calibrated to: L1 for Laplace, L2 for Gaussian.
    pub sensitivity: f64,
    pub weight: u32,
    /// Its share of ε, as opendp accounts it (pure DP; `None` under zCDP).
    pub epsilon: Option<f64>,
    /// Its share of ρ, as opendp accounts it (zCDP; `None` under pure DP).
    pub rho: Option<f64>,
    /// The noise added to each of its cells.
    pub noise: Noise,
}

impl StatisticAccount {
    /// The noise scale (Laplace b, Gaussian σ).
    pub fn scale(&self) -> f64 {
        self.noise.scale()
    }

    /// The standard deviation of each cell's noise.
    pub fn noise_sd(&self) -> f64 {
        self.noise.sd()
    }
}

/// The accounting of a DP release: what the report states.
#[derive(Debug, Clone, PartialEq)]
pub struct Accounting {
    pub budget: DpBudget,
    pub mechanism: Mechanism,
    pub composition: Composition,
    /// The zCDP budget (with δ only).
    pub rho: Option<f64>,
    /// The ε the shares add up to by the composition rule, as opendp accounts it: at most the
    /// budget's ε, and equal to it but for the slack of 10⁻⁹ of it.
    pub epsilon_spent: f64,
    /// The contribution bound: the most days one respondent is counted on (or, in day sums,
    /// contributes).
    pub max_days: u64,
    /// How the bound is enforced.
    pub bound_rule: &'static str,
    pub statistics: Vec<StatisticAccount>,
    /// Published counts that DP does not release (published as suppressed), and why.
    pub withheld: Vec<(&'static str, &'static str)>,
    /// Set if the noise could not be drawn: then nothing is published (every count is
    /// suppressed) and the report must not be written.
    pub error: Option<String>,
}

impl Accounting {
    /// The statistic named `name`.
    pub fn statistic(&self, name: &str) -> Option<&StatisticAccount> {
        self.statistics.iter().find(|s| s.name == name)
    }
}

/// The DP layer, as the report states it.
pub const METHOD: Method = Method {
    en: "Differential privacy at the level of the respondent (adding or removing one answer): \
         every count is made from a few statistics, each a vector of counts that one respondent \
         changes by a bounded amount (the window's days bound what a respondent contributes to \
         day counts and person-days), and each statistic's counts get independent noise from a \
         discrete mechanism of the OpenDP library (discrete Laplace for epsilon-DP, discrete \
         Gaussian for (epsilon, delta)-DP), calibrated to its sensitivity and its share of the \
         budget. The shares add up to the budget (basic composition, or zero-concentrated DP \
         with delta). Everything after the noise is computed from the noised counts only: \
         negative counts are set to 0, margins are sums of noised counts, the threshold and \
         complementary suppression apply to the noised counts (so the threshold is private), \
         and rounding is to the nearest multiple. The intervals of shares, rates and the crude \
         commuting ratios add the noise's variance to the sampling variance; the age-adjusted \
         ratios and the daily regressions do not (their quasi-Poisson and Newey-West variances \
         take up some of it). The count of daily-data days outside the window is not released.",
    ja: "回答者単位（1件の回答の追加・削除）の差分プライバシー：すべての件数はいくつかの統計量（1人の回答者\
         による変化が有界な件数のベクトル。日ごとの件数と人日については集計期間の日数が1人の寄与の上限）から\
         作られ、各統計量の件数にはOpenDPライブラリの離散メカニズム（ε-DPは離散ラプラス、(ε, δ)-DPは離散\
         ガウス）による独立な雑音を、その感度と予算の配分に合わせて加える。配分の合計は予算に等しい（基本\
         合成、δがあればゼロ集中DP）。雑音の後はすべて雑音を加えた件数のみから計算する：負の件数は0とし、\
         周辺計は雑音を加えた件数の和、しきい値と補完秘匿は雑音を加えた件数に適用し（しきい値も非公開の値で\
         決まらない）、丸めは最も近い倍数とする。割合・率・通勤の粗比の区間は標本分散に雑音の分散を加えて\
         求める（年齢調整した比と日次の回帰には加えない。準ポアソンとNewey-Westの分散が一部を吸収する）。\
         集計期間外の日次データの日数は公表しない。",
};

/// Splits `budget` over `statistics` by their weights and calibrates each one's noise.
pub fn plan(
    budget: DpBudget,
    max_days: u64,
    bound_rule: &'static str,
    statistics: &[Statistic],
) -> Result<Accounting, NoiseError> {
    let total_weight: u32 = statistics.iter().map(|s| s.weight).sum();
    if total_weight == 0 {
        return Err(NoiseError("no statistic to release".into()));
    }
    let part = |s: &Statistic| f64::from(s.weight) / f64::from(total_weight) * SLACK;
    let mechanism = budget.mechanism();
    let (rho, total) = match budget.delta {
        None => (None, budget.epsilon),
        Some(delta) => {
            let rho = rho_for(budget.epsilon, delta)?;
            (Some(rho), rho)
        }
    };
    let mut accounts = Vec::with_capacity(statistics.len());
    for s in statistics {
        let target = total * part(s);
        let (sensitivity, mut scale) = match mechanism {
            Mechanism::DiscreteLaplace => (s.l1_sensitivity, s.l1_sensitivity / target),
            Mechanism::DiscreteGaussian => {
                (s.l2_sensitivity, s.l2_sensitivity / (2.0 * target).sqrt())
            }
        };
        let mut tries = 0;
        let (noise, loss) = loop {
            let noise = Noise::new(mechanism, scale)?;
            let loss = noise.loss(sensitivity)?;
            if loss <= target {
                break (noise, loss);
            }
            tries += 1;
            if tries > 64 {
                return Err(NoiseError(format!("cannot calibrate {}", s.name)));
            }
            scale = scale.next_up();
        };
        accounts.push(StatisticAccount {
            name: s.name,
            description: s.description,
            cells: s.cells,
            l1_sensitivity: s.l1_sensitivity,
            l2_sensitivity: s.l2_sensitivity,
            sensitivity,
            weight: s.weight,
            epsilon: (mechanism == Mechanism::DiscreteLaplace).then_some(loss),
            rho: (mechanism == Mechanism::DiscreteGaussian).then_some(loss),
            noise,
        });
    }
    let epsilon_spent = match budget.delta {
        None => MaxDivergence
            .compose(accounts.iter().filter_map(|a| a.epsilon).collect())
            .map_err(|e| NoiseError::new("composing", e))?,
        Some(delta) => {
            let rho = ZeroConcentratedDivergence
                .compose(accounts.iter().filter_map(|a| a.rho).collect())
                .map_err(|e| NoiseError::new("composing", e))?;
            zcdp_epsilon(rho, delta)?
        }
    };
    if epsilon_spent > budget.epsilon {
        return Err(NoiseError(format!(
            "the shares add up to {epsilon_spent}, over the budget {}",
            budget.epsilon
        )));
    }
    Ok(Accounting {
        budget,
        mechanism,
        composition: budget.composition(),
        rho,
        epsilon_spent,
        max_days,
        bound_rule,
        statistics: accounts,
        withheld: Vec::new(),
        error: None,
    })
}

/// The ε that opendp's conversion gives ρ-zCDP at `delta`.
pub fn zcdp_epsilon(rho: f64, delta: f64) -> Result<f64, NoiseError> {
    ZeroConcentratedDivergence::convert(rho)
        .and_then(|profile| profile.epsilon(delta))
        .map_err(|e| NoiseError::new("converting zCDP to (epsilon, delta)", e))
}

/// The largest ρ (to double precision, less the slack) whose conversion is (ε, δ)-DP.
fn rho_for(epsilon: f64, delta: f64) -> Result<f64, NoiseError> {
    let target = epsilon * SLACK;
    // ρ-zCDP is never better than (ρ, δ)-DP, so ρ < ε.
    let (mut lo, mut hi) = (0.0_f64, epsilon);
    for _ in 0..200 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if zcdp_epsilon(mid, delta)? <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo > 0.0 {
        Ok(lo)
    } else {
        Err(NoiseError(format!(
            "no zCDP budget gives epsilon {epsilon} at delta {delta}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_checked() {
        assert_eq!(DpBudget::new(0.0, None), Err(DpError::Epsilon));
        assert_eq!(DpBudget::new(-1.0, None), Err(DpError::Epsilon));
        assert_eq!(DpBudget::new(f64::NAN, None), Err(DpError::Epsilon));
        assert_eq!(DpBudget::new(f64::INFINITY, None), Err(DpError::Epsilon));
        assert_eq!(DpBudget::new(1.0, Some(0.0)), Err(DpError::Delta));
        assert_eq!(DpBudget::new(1.0, Some(1.0)), Err(DpError::Delta));
        assert_eq!(DpBudget::new(1.0, Some(f64::NAN)), Err(DpError::Delta));
        let b = DpBudget::new(0.5, Some(1e-6)).unwrap();
        assert_eq!((b.epsilon(), b.delta()), (0.5, Some(1e-6)));
        assert_eq!(b.mechanism(), Mechanism::DiscreteGaussian);
    }

    #[test]
    fn variances_match_their_closed_forms() {
        // Large scales: Laplace → 2b², Gaussian → σ².
        let l = Noise::new(Mechanism::DiscreteLaplace, 1000.0).unwrap();
        assert!((l.variance() / 2e6 - 1.0).abs() < 1e-3);
        let g = Noise::new(Mechanism::DiscreteGaussian, 10.0).unwrap();
        assert!((g.variance() / 100.0 - 1.0).abs() < 1e-9);
        // Laplace b = 1: 2e⁻¹ / (1 − e⁻¹)².
        let p = (-1.0_f64).exp();
        let l = Noise::new(Mechanism::DiscreteLaplace, 1.0).unwrap();
        assert!((l.variance() - 2.0 * p / ((1.0 - p) * (1.0 - p))).abs() < 1e-12);
        assert!(Noise::new(Mechanism::DiscreteLaplace, 0.0).is_err());
    }
}
