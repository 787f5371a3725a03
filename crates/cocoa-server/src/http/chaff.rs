//! Decoy traffic: requests with `X-Chaff` are answered like real ones and store nothing, so an
//! observer of the encrypted traffic cannot tell a phone that registers from one that pretends
//! to. Three things must match: the latency (drawn from recent real registrations), the status
//! and headers (a decoy passes through the same limits, so it gets the same 429), and the size.
//!
//! Size: every successful v3 answer, real or decoy, is padded to a whole number of
//! [`PADDED_SIZE`] blocks through its `padding` member, and a decoy's content is made up here (its
//! keys are fresh random bytes), never echoed from what it was sent.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cocoa_api::{DiagnosisRequestKey, DiagnosisResponse};
use rand::Rng;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

const SAMPLES: usize = 256;

/// Successful v3 answers are padded to a multiple of this many bytes. A registration of up to
/// 30 keys with no warnings fits in one block.
pub const PADDED_SIZE: usize = 4096;

/// Recent latencies and key counts of real registrations.
#[derive(Debug, Default)]
pub struct LatencySamples {
    latencies: Mutex<VecDeque<Duration>>,
    key_counts: Mutex<VecDeque<u8>>,
}

fn push<T>(samples: &Mutex<VecDeque<T>>, value: T) {
    let mut samples = samples.lock().unwrap_or_else(|e| e.into_inner());
    if samples.len() == SAMPLES {
        samples.pop_front();
    }
    samples.push_back(value);
}

impl LatencySamples {
    pub fn record(&self, latency: Duration) {
        push(&self.latencies, latency);
    }

    /// Records how many keys a real registration had accepted.
    pub fn record_keys(&self, keys: usize) {
        push(&self.key_counts, keys.min(usize::from(u8::MAX)) as u8);
    }

    /// A latency to imitate: a random recent one, or a plausible default before any arrived.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let samples = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        if samples.is_empty() {
            return Duration::from_millis(rng.gen_range(2..20));
        }
        samples[rng.gen_range(0..samples.len())]
    }

    /// A key count to imitate: a random recent one, or COCOA's usual 1..=15 before any arrived.
    pub fn sample_keys(&self, rng: &mut impl Rng) -> usize {
        let samples = self.key_counts.lock().unwrap_or_else(|e| e.into_inner());
        if samples.is_empty() {
            return rng.gen_range(1..=15);
        }
        usize::from(samples[rng.gen_range(0..samples.len())]).max(1)
    }
}

/// A made-up v3 answer: `keys` fresh random keys on consecutive days ending `today_interval`
/// (the interval number of today's start), a recent onset date, one of `regions`.
pub fn decoy_response(
    rng: &mut impl Rng,
    regions: &[String],
    keys: usize,
    today_interval: i64,
    today: chrono::NaiveDate,
) -> DiagnosisResponse {
    let keys = keys.max(1);
    let onset = today - chrono::Days::new(rng.gen_range(0..7));
    let mut uuid = [0u8; 16];
    rng.fill(&mut uuid);
    let uuid = hex_uuid(&uuid);
    DiagnosisResponse {
        has_symptom: rng.gen_bool(0.5),
        onset_of_symptom_or_test_date: format!("{}T00:00:00.000+09:00", onset.format("%Y-%m-%d")),
        keys: (0..keys)
            .map(|i| {
                let mut key = [0u8; 16];
                rng.fill(&mut key);
                DiagnosisRequestKey {
                    key_data: STANDARD.encode(key),
                    rolling_start_number: today_interval - 144 * (keys - 1 - i) as i64,
                    rolling_period: 144,
                    report_type: Some(1),
                }
            })
            .collect(),
        regions: regions.iter().take(1).cloned().collect(),
        platform: Some(if rng.gen_bool(0.5) { "android" } else { "ios" }.into()),
        device_verification_payload: None,
        app_package_name: None,
        verification_payload: None,
        idempotency_key: Some(uuid),
        padding: None,
        warnings: Vec::new(),
    }
}

fn hex_uuid(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The JSON body of a successful v3 answer, padded with random base64 characters in `padding`
/// to a whole number of [`PADDED_SIZE`] blocks.
pub fn padded_body(mut response: DiagnosisResponse, rng: &mut impl Rng) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    response.padding = Some(String::new());
    let bare = serde_json::to_vec(&response)
        .expect("a response serialises")
        .len();
    let target = bare.div_ceil(PADDED_SIZE) * PADDED_SIZE;
    let padding: String = (0..target - bare)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..64)]))
        .collect();
    response.padding = Some(padding);
    let body = serde_json::to_vec(&response).expect("a response serialises");
    debug_assert_eq!(body.len(), target);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn padded_bodies_fill_whole_blocks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        for keys in [1, 5, 14, 30] {
            let decoy = decoy_response(&mut rng, &["440".into()], keys, 2_950_000, today);
            assert_eq!(decoy.keys.len(), keys);
            let body = padded_body(decoy, &mut rng);
            assert_eq!(body.len(), PADDED_SIZE, "{keys} keys");
            let back: DiagnosisResponse = serde_json::from_slice(&body).unwrap();
            assert_eq!(back.keys.len(), keys);
        }
    }
}
