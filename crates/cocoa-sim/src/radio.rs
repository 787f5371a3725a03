//! Bluetooth between two phones, pure: the attenuation a scan measures at a distance (a
//! log-distance path-loss model with log-normal noise, calibrated to COCOA's design model), the
//! RSSI a phone records for it, and the times a phone scans during an encounter (every 300 s less
//! a random 0-90 s, as the reference Android scanner does).

use rand::Rng;

use crate::dist;
use crate::scenario::Radio;

/// The radio model of a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadioModel {
    attenuation_at_1m_db: f64,
    path_loss_exponent: f64,
    sigma_ln_scan: f64,
    scan_interval_s: u32,
    scan_jitter_s: u32,
}

/// One scan's sighting of the other phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// When the scan ran (unix seconds).
    pub at: i64,
    /// When this phone's scan before it ran (unix seconds): phones scan all day, so it is always
    /// known, even for the first scan of an encounter.
    pub previous_scan_at: i64,
    /// Attenuation measured by the scan (the mean over its advertisements), dB.
    pub attenuation_db: u8,
}

/// Distances below this are treated as this (the model has no near field).
const MIN_DISTANCE_M: f64 = 0.05;

impl RadioModel {
    pub fn new(radio: &Radio) -> Self {
        Self {
            attenuation_at_1m_db: radio.attenuation_at_1m_db,
            path_loss_exponent: radio.path_loss_exponent,
            sigma_ln_scan: radio.sigma_ln_per_sample / f64::from(radio.samples_per_scan).sqrt(),
            scan_interval_s: radio.scan_interval_s,
            scan_jitter_s: radio.scan_jitter_s,
        }
    }

    /// The median attenuation at `distance_m`: `A(1 m) + 10 n log10(d)`, dB.
    pub fn median_attenuation_db(&self, distance_m: f64) -> f64 {
        self.attenuation_at_1m_db
            + 10.0 * self.path_loss_exponent * distance_m.max(MIN_DISTANCE_M).log10()
    }

    /// One scan's attenuation at `distance_m`: the median times a log-normal factor whose sigma
    /// is one advertisement's over the square root of the advertisements a scan averages;
    /// rounded, within 0..=255 dB.
    pub fn attenuation_db(&self, distance_m: f64, rng: &mut impl Rng) -> u8 {
        let noise = (self.sigma_ln_scan * dist::standard_normal(rng)).exp();
        (self.median_attenuation_db(distance_m) * noise)
            .round()
            .clamp(0.0, 255.0) as u8
    }

    /// The RSSI a phone records for an advertisement sent at `tx_power_dbm` and attenuated by
    /// `attenuation_db` (saturating at -128 dBm).
    pub fn rssi_dbm(tx_power_dbm: i8, attenuation_db: u8) -> i8 {
        (i16::from(tx_power_dbm) - i16::from(attenuation_db)).clamp(-128, 127) as i8
    }

    /// The time from one scan to the next: the interval less a random part of the jitter, s.
    fn gap(&self, rng: &mut impl Rng) -> i64 {
        let jitter = dist::index(rng, self.scan_jitter_s as usize + 1) as u32;
        i64::from(self.scan_interval_s - jitter)
    }

    /// The scans of one phone during an encounter of `duration_s` from `start` (unix seconds) at
    /// `distance_m`, appended to `out`: the phone's scan cycle has a random phase, so its first
    /// scan falls anywhere in the first interval, and each scan measures its own attenuation.
    /// Call it once per direction: each phone scans on its own schedule.
    pub fn scans(
        &self,
        start: i64,
        duration_s: u32,
        distance_m: f64,
        rng: &mut impl Rng,
        out: &mut Vec<Scan>,
    ) {
        let end = start + i64::from(duration_s);
        let first_gap = self.gap(rng);
        let mut at = start + dist::index(rng, first_gap as usize) as i64;
        let mut previous = at - first_gap;
        while at < end {
            out.push(Scan {
                at,
                previous_scan_at: previous,
                attenuation_db: self.attenuation_db(distance_m, rng),
            });
            previous = at;
            at += self.gap(rng);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn medians_match_the_design_model_within_two_db() {
        let radio = RadioModel::new(&Radio::default());
        // facts §7: median attenuation of e^(0.21 ln d + 3.92).
        for d in [0.5, 1.0, 1.5, 2.0, 3.0] {
            let lovett = (0.21 * f64::ln(d) + 3.92).exp();
            let ours = radio.median_attenuation_db(d);
            assert!((ours - lovett).abs() < 2.0, "{d} m: {ours} vs {lovett}");
        }
    }

    #[test]
    fn a_scan_at_one_metre_falls_mostly_in_cocoas_near_bucket() {
        let radio = RadioModel::new(&Radio::default());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 10_000;
        let values: Vec<u8> = (0..n)
            .map(|_| radio.attenuation_db(1.0, &mut rng))
            .collect();
        // facts §7: ±1σ of a mean of ~37 samples at 1 m is 46-55 dB.
        let within = values.iter().filter(|&&a| (46..=55).contains(&a)).count();
        let share = within as f64 / n as f64;
        assert!((0.6..0.8).contains(&share), "{share}");
        let near = values.iter().filter(|&&a| a > 46 && a <= 60).count();
        assert!(near as f64 / n as f64 > 0.7);
    }

    #[test]
    fn scans_come_every_210_to_300_seconds_within_the_encounter() {
        let radio = RadioModel::new(&Radio::default());
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut scans = Vec::new();
        radio.scans(1_000_000, 3600, 1.0, &mut rng, &mut scans);
        assert!((12..=18).contains(&scans.len()), "{}", scans.len());
        assert!(scans[0].at >= 1_000_000 && scans[0].at < 1_000_300);
        for s in &scans {
            assert!((210..=300).contains(&(s.at - s.previous_scan_at)));
            assert!(s.at < 1_003_600);
        }
        for w in scans.windows(2) {
            assert_eq!(w[1].previous_scan_at, w[0].at);
        }
        assert_eq!(RadioModel::rssi_dbm(-10, 50), -60);
        assert_eq!(RadioModel::rssi_dbm(-100, 200), -128);
    }
}
