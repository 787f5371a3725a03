//! The few distributions the model draws from (uniform, Bernoulli, normal, log-normal, gamma,
//! Poisson, weighted choice), written here on top of `rand::Rng` so that their algorithms, and so
//! the simulation's output for a seed, cannot change under a dependency upgrade.

use rand::Rng;

/// A uniform value in [0, 1).
#[inline]
pub(crate) fn unit(rng: &mut impl Rng) -> f64 {
    // 53 random bits, as rand's `Standard` for f64; spelled out so it is fixed here.
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p` (p <= 0 never, p >= 1 always, without drawing).
#[inline]
pub(crate) fn chance(rng: &mut impl Rng, p: f64) -> bool {
    if p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        unit(rng) < p
    }
}

/// A uniform index in 0..n (n > 0), by Lemire's multiply-shift (bias below 2^-32 for the
/// populations simulated here).
#[inline]
pub(crate) fn index(rng: &mut impl Rng, n: usize) -> usize {
    debug_assert!(n > 0);
    ((u64::from(rng.next_u32()) * n as u64) >> 32) as usize
}

/// `x` rounded to an integer at random so that the expectation is `x` (x >= 0): keeps the mean
/// of a count with less noise than a Poisson draw.
#[inline]
pub(crate) fn stochastic_round(rng: &mut impl Rng, x: f64) -> u32 {
    let floor = x.floor();
    floor as u32 + u32::from(chance(rng, x - floor))
}

/// A standard normal value (Box-Muller, one of the pair).
#[inline]
pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - unit(rng); // (0, 1]
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The standard normal quantile of `p` in (0, 1) (Acklam's rational approximation, relative
/// error below 1.2e-9): used to tabulate distributions once instead of sampling them per draw.
pub(crate) fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A gamma value with the given shape (>= 1) and scale (Marsaglia and Tsang, 2000).
pub(crate) fn gamma(rng: &mut impl Rng, shape: f64, scale: f64) -> f64 {
    debug_assert!(shape >= 1.0);
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - unit(rng);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

/// A Poisson count with mean `lambda` (>= 0): Knuth's product of uniforms, over chunks of mean
/// at most 16 (a sum of Poisson counts is Poisson), so exact for any mean at O(lambda) draws.
pub(crate) fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    let mut remaining = lambda.max(0.0);
    let mut count = 0;
    while remaining > 0.0 {
        let chunk = remaining.min(16.0);
        remaining -= chunk;
        let limit = (-chunk).exp();
        let mut product = unit(rng);
        while product > limit {
            count += 1;
            product *= unit(rng);
        }
    }
    count
}

/// An index drawn with probability proportional to `weights` (non-negative, not all zero) from
/// their running sums.
pub(crate) fn weighted_index(rng: &mut impl Rng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = unit(rng) * total;
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len() - 1)
}

/// Running sums of `weights`, for [`weighted_index`].
pub(crate) fn cumulative(weights: &[f64]) -> Vec<f64> {
    weights
        .iter()
        .scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

/// Shuffles `items` in place (Fisher-Yates).
pub(crate) fn shuffle<T>(rng: &mut impl Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, index(rng, i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mean(xs: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = xs.fold((0.0, 0.0), |(s, n), x| (s + x, n + 1.0));
        sum / n
    }

    #[test]
    fn samplers_have_their_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 100_000;
        let m = mean((0..n).map(|_| f64::from(poisson(&mut rng, 2.5))));
        assert!((m - 2.5).abs() < 0.03, "poisson {m}");
        let m = mean((0..n).map(|_| f64::from(poisson(&mut rng, 40.0))));
        assert!((m - 40.0).abs() < 0.2, "poisson {m}");
        let m = mean((0..n).map(|_| gamma(&mut rng, 6.5, 0.4)));
        assert!((m - 2.6).abs() < 0.02, "gamma {m}");
        let m = mean((0..n).map(|_| standard_normal(&mut rng)));
        assert!(m.abs() < 0.02, "normal {m}");
        let m = mean((0..n).map(|_| f64::from(stochastic_round(&mut rng, 1.3))));
        assert!((m - 1.3).abs() < 0.01, "round {m}");
        let cum = cumulative(&[1.0, 0.0, 3.0]);
        let picks: Vec<usize> = (0..n).map(|_| weighted_index(&mut rng, &cum)).collect();
        assert!(!picks.contains(&1));
        let share = picks.iter().filter(|&&i| i == 2).count() as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "weighted {share}");
    }

    #[test]
    fn inverse_normal_matches_known_quantiles() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_964),
            (0.01, -2.326_348),
            (0.8413, 0.999_815),
        ] {
            assert!((inverse_normal(p) - z).abs() < 1e-5, "{p}");
        }
    }
}
