//! The statistics the estimators share: correlation, Poisson regression, Mantel-Haenszel
//! ratios. Plain numbers in, plain numbers out; the estimators feed them published counts only.

use crate::protect::Z95;

/// A point estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// `value ± 1.96 se`.
    pub fn normal(value: f64, se: f64) -> Option<Self> {
        (value.is_finite() && se.is_finite()).then_some(Self {
            value,
            low: value - Z95 * se,
            high: value + Z95 * se,
        })
    }

    /// `exp(log_value ± 1.96 se)`: a ratio whose logarithm is normal.
    pub fn log_normal(log_value: f64, se: f64) -> Option<Self> {
        Self::normal(log_value, se).map(|e| Self {
            value: e.value.exp(),
            low: e.low.exp(),
            high: e.high.exp(),
        })
    }

    /// Whether the interval holds `x`.
    pub fn covers(self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Pearson's correlation of paired values; `None` with fewer than 3 pairs or no variation.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// A correlation with its Fisher z 95% interval (`n` pairs, treated as independent).
pub fn correlation(x: &[f64], y: &[f64]) -> Option<Estimate> {
    let r = pearson(x, y)?;
    let n = x.len().min(y.len());
    if n < 4 {
        return None;
    }
    let z = r.clamp(-0.999_999_999, 0.999_999_999).atanh();
    let se = 1.0 / ((n - 3) as f64).sqrt();
    Some(Estimate {
        value: r,
        low: (z - Z95 * se).tanh(),
        high: (z + Z95 * se).tanh(),
    })
}

/// A fitted Poisson log-linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonFit {
    /// The coefficients, in the order of the covariates.
    pub coefficients: Vec<f64>,
    /// Standard errors: the larger of the quasi-Poisson one (model variance × φ) and the
    /// Newey-West one (robust to overdispersion and to correlation between days up to
    /// [`HAC_LAG`] apart).
    pub standard_errors: Vec<f64>,
    /// Pearson χ² / (n − p), at least 1.
    pub dispersion: f64,
    /// The Poisson deviance, 2 Σ [y ln(y/μ) − (y − μ)].
    pub deviance: f64,
    /// Per coefficient: its reported variance over its Poisson-model variance (≥ 1), the
    /// dispersion that scales likelihood-ratio tests about it.
    pub effective_dispersion: Vec<f64>,
    /// Observations used.
    pub n: usize,
}

impl PoissonFit {
    /// The coefficient `i` with its 95% interval.
    pub fn estimate(&self, i: usize) -> Option<Estimate> {
        Estimate::normal(self.coefficients[i], self.standard_errors[i])
    }
}

/// The Newey-West bandwidth of [`poisson_regression`], in days.
pub const HAC_LAG: i64 = 7;

/// Poisson regression `log E[y] = offset + x·β` by Newton's method (IRLS) with step halving.
/// `rows[i]` are the covariates of observation `i` (an intercept is not added: include a 1),
/// `days[i]` its day (ascending, for the Newey-West weights). `None` if there are no more
/// observations than covariates or the design is singular.
pub fn poisson_regression(
    y: &[f64],
    offset: &[f64],
    rows: &[Vec<f64>],
    days: &[i64],
) -> Option<PoissonFit> {
    let n = y.len();
    let p = rows.first()?.len();
    if n <= p || offset.len() != n || rows.len() != n || days.len() != n {
        return None;
    }
    let exposure: f64 = offset.iter().map(|o| o.exp()).sum();
    let total: f64 = y.iter().sum();
    if total <= 0.0 || exposure <= 0.0 {
        return None;
    }
    let mut beta = vec![0.0; p];
    // Start from the mean rate on the intercept (the covariate that is 1 everywhere, if any).
    if let Some(i) = (0..p).find(|&j| rows.iter().all(|r| r[j] == 1.0)) {
        beta[i] = (total / exposure).ln();
    }
    let loglik = |b: &[f64]| -> f64 {
        (0..n)
            .map(|i| {
                let eta = offset[i] + dot(&rows[i], b);
                y[i] * eta - eta.exp()
            })
            .sum()
    };
    let mut current = loglik(&beta);
    let mut hessian = vec![0.0; p * p];
    for _ in 0..200 {
        let mut grad = vec![0.0; p];
        hessian.iter_mut().for_each(|h| *h = 0.0);
        for i in 0..n {
            let mu = (offset[i] + dot(&rows[i], &beta)).exp();
            for a in 0..p {
                grad[a] += rows[i][a] * (y[i] - mu);
                for b in 0..p {
                    hessian[a * p + b] += mu * rows[i][a] * rows[i][b];
                }
            }
        }
        let step = solve(&hessian, &grad, p)?;
        let mut scale = 1.0;
        let mut next;
        loop {
            next = beta
                .iter()
                .zip(&step)
                .map(|(b, s)| b + scale * s)
                .collect::<Vec<_>>();
            let l = loglik(&next);
            if l.is_finite() && l >= current - 1e-12 * current.abs().max(1.0) {
                current = l;
                break;
            }
            scale /= 2.0;
            if scale < 1e-12 {
                return None;
            }
        }
        let moved = step.iter().map(|s| (scale * s).abs()).fold(0.0, f64::max);
        beta = next;
        if moved < 1e-10 {
            break;
        }
    }
    // Variances at the fit.
    let mut bread_inv = vec![0.0; p * p];
    let mut scores = Vec::with_capacity(n);
    let mut pearson = 0.0;
    let mut deviance = 0.0;
    for i in 0..n {
        let mu = (offset[i] + dot(&rows[i], &beta)).exp();
        deviance += 2.0
            * (if y[i] > 0.0 {
                y[i] * (y[i] / mu).ln()
            } else {
                0.0
            } - (y[i] - mu));
        for a in 0..p {
            for b in 0..p {
                bread_inv[a * p + b] += mu * rows[i][a] * rows[i][b];
            }
        }
        if mu > 0.0 {
            pearson += (y[i] - mu) * (y[i] - mu) / mu;
        }
        scores.push(rows[i].iter().map(|x| x * (y[i] - mu)).collect::<Vec<_>>());
    }
    let bread = invert(&bread_inv, p)?;
    let dispersion = (pearson / (n - p) as f64).max(1.0);
    let mut meat = vec![0.0; p * p];
    for i in 0..n {
        for j in i..n {
            let gap = days[j] - days[i];
            if gap > HAC_LAG {
                break;
            }
            let w = 1.0 - gap as f64 / (HAC_LAG + 1) as f64;
            for a in 0..p {
                for b in 0..p {
                    let v = scores[i][a] * scores[j][b];
                    if j == i {
                        meat[a * p + b] += v;
                    } else {
                        meat[a * p + b] += w * (v + scores[j][a] * scores[i][b]);
                    }
                }
            }
        }
    }
    let robust = mul(&mul(&bread, &meat, p), &bread, p);
    let correction = n as f64 / (n - p) as f64;
    let variances: Vec<f64> = (0..p)
        .map(|a| {
            let quasi = dispersion * bread[a * p + a];
            let hac = correction * robust[a * p + a];
            quasi.max(hac).max(0.0)
        })
        .collect();
    let effective_dispersion = (0..p)
        .map(|a| (variances[a] / bread[a * p + a]).max(1.0))
        .collect();
    let standard_errors = variances.iter().map(|v| v.sqrt()).collect();
    Some(PoissonFit {
        coefficients: beta,
        standard_errors,
        dispersion,
        deviance,
        effective_dispersion,
        n,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn mul(a: &[f64], b: &[f64], p: usize) -> Vec<f64> {
    let mut out = vec![0.0; p * p];
    for i in 0..p {
        for k in 0..p {
            for j in 0..p {
                out[i * p + j] += a[i * p + k] * b[k * p + j];
            }
        }
    }
    out
}

/// `a x = b` by Gaussian elimination with partial pivoting.
fn solve(a: &[f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    let scale = a.iter().fold(0.0_f64, |s, v| s.max(v.abs()));
    for col in 0..p {
        let pivot =
            (col..p).max_by(|&i, &j| m[i * p + col].abs().total_cmp(&m[j * p + col].abs()))?;
        if m[pivot * p + col].abs() <= 1e-13 * scale {
            return None;
        }
        if pivot != col {
            for k in 0..p {
                m.swap(pivot * p + k, col * p + k);
            }
            x.swap(pivot, col);
        }
        for row in col + 1..p {
            let f = m[row * p + col] / m[col * p + col];
            for k in col..p {
                m[row * p + k] -= f * m[col * p + k];
            }
            x[row] -= f * x[col];
        }
    }
    for col in (0..p).rev() {
        let mut v = x[col];
        for k in col + 1..p {
            v -= m[col * p + k] * x[k];
        }
        x[col] = v / m[col * p + col];
    }
    Some(x)
}

fn invert(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut out = vec![0.0; p * p];
    for j in 0..p {
        let mut e = vec![0.0; p];
        e[j] = 1.0;
        let col = solve(a, &e, p)?;
        for i in 0..p {
            out[i * p + j] = col[i];
        }
    }
    Some(out)
}

/// One stratum of a comparison of person-time rates: events and exposure of the compared
/// group (`1`) and of the reference group (`0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStratum {
    pub events1: f64,
    pub time1: f64,
    pub events0: f64,
    pub time0: f64,
}

/// The Mantel-Haenszel rate ratio over strata, and the variance of its logarithm (Greenland &
/// Robins 1985). `None` if either sum is 0.
pub fn mantel_haenszel_rate_ratio(strata: &[RateStratum]) -> Option<(f64, f64)> {
    let (mut num, mut den, mut var) = (0.0, 0.0, 0.0);
    for s in strata {
        let t = s.time1 + s.time0;
        if s.time1 <= 0.0 || s.time0 <= 0.0 {
            continue;
        }
        num += s.events1 * s.time0 / t;
        den += s.events0 * s.time1 / t;
        var += s.time1 * s.time0 * (s.events1 + s.events0) / (t * t);
    }
    (num > 0.0 && den > 0.0).then(|| (num / den, var / (num * den)))
}

/// One stratum of a comparison of shares: `cases1` of `n1` against `cases0` of `n0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareStratum {
    pub cases1: f64,
    pub n1: f64,
    pub cases0: f64,
    pub n0: f64,
}

/// The Mantel-Haenszel risk ratio over strata, and the variance of its logarithm (Greenland &
/// Robins 1985). `None` if either sum is 0.
pub fn mantel_haenszel_risk_ratio(strata: &[ShareStratum]) -> Option<(f64, f64)> {
    let (mut r, mut s, mut p) = (0.0, 0.0, 0.0);
    for st in strata {
        let n = st.n1 + st.n0;
        if st.n1 <= 0.0 || st.n0 <= 0.0 {
            continue;
        }
        r += st.cases1 * st.n0 / n;
        s += st.cases0 * st.n1 / n;
        p += (st.n1 * st.n0 * (st.cases1 + st.cases0) - st.cases1 * st.cases0 * n) / (n * n);
    }
    (r > 0.0 && s > 0.0).then(|| (r / s, p / (r * s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_regression_finds_a_known_slope() {
        // y = exp(1 + 0.5 x) exactly (no noise): the fit is exact.
        let xs: Vec<f64> = (0..20).map(|i| i as f64 / 4.0).collect();
        let y: Vec<f64> = xs.iter().map(|x| (1.0 + 0.5 * x).exp()).collect();
        let rows: Vec<Vec<f64>> = xs.iter().map(|&x| vec![1.0, x]).collect();
        let days: Vec<i64> = (0..20).collect();
        let fit = poisson_regression(&y, &[0.0; 20], &rows, &days).unwrap();
        assert!((fit.coefficients[0] - 1.0).abs() < 1e-8);
        assert!((fit.coefficients[1] - 0.5).abs() < 1e-8);
        assert_eq!(fit.dispersion, 1.0);
        // Singular design.
        let rows: Vec<Vec<f64>> = xs.iter().map(|_| vec![1.0, 2.0]).collect();
        assert_eq!(poisson_regression(&y, &[0.0; 20], &rows, &days), None);
    }

    #[test]
    fn mantel_haenszel_of_one_stratum_is_the_crude_ratio() {
        let (rr, var) = mantel_haenszel_rate_ratio(&[RateStratum {
            events1: 40.0,
            time1: 1000.0,
            events0: 10.0,
            time0: 500.0,
        }])
        .unwrap();
        assert!((rr - 2.0).abs() < 1e-12);
        assert!((var - (1.0 / 40.0 + 1.0 / 10.0)).abs() < 1e-12);
        let (rr, var) = mantel_haenszel_risk_ratio(&[ShareStratum {
            cases1: 20.0,
            n1: 100.0,
            cases0: 10.0,
            n0: 100.0,
        }])
        .unwrap();
        assert!((rr - 2.0).abs() < 1e-12);
        let crude = 1.0 / 20.0 - 1.0 / 100.0 + 1.0 / 10.0 - 1.0 / 100.0;
        assert!((var - crude).abs() < 1e-12);
    }

    #[test]
    fn correlation_of_a_line_is_one() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 6.0, 8.0, 10.0];
        assert!((pearson(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(pearson(&x, &[1.0; 5]), None);
        let e = correlation(&x, &[1.0, 3.0, 2.0, 5.0, 4.0]).unwrap();
        assert!(e.low < e.value && e.value < e.high);
    }
}
