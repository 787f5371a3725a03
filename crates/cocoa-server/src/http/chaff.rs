//! Decoy traffic: requests with `X-Chaff` are answered like real ones (same status, a latency
//! drawn from recent real requests, similar size) and store nothing, so an observer of the
//! encrypted traffic cannot tell a phone that registers from one that pretends to.

use rand::Rng;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

const SAMPLES: usize = 256;

/// Recent latencies of real registrations.
#[derive(Debug, Default)]
pub struct LatencySamples(Mutex<VecDeque<Duration>>);

impl LatencySamples {
    pub fn record(&self, latency: Duration) {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(latency);
    }

    /// A latency to imitate: a random recent one, or a plausible default before any arrived.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if samples.is_empty() {
            return Duration::from_millis(rng.gen_range(2..20));
        }
        samples[rng.gen_range(0..samples.len())]
    }
}
