//! Limits on failed processing-number attempts (and on survey submissions), per client and
//! overall, in fixed windows.
//!
//! A client is keyed by an HMAC of its address under a key drawn at start-up and never stored:
//! the map holds no address, and nothing here is logged or persisted.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Who is asking, as far as rate limiting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientTag([u8; 16]);

#[derive(Debug, Default)]
struct Window {
    start: i64,
    global: u32,
    clients: HashMap<ClientTag, u32>,
}

/// Counts failures in the current window.
#[derive(Debug)]
pub struct RateLimiter {
    key: [u8; 32],
    window_seconds: i64,
    client_limit: u32,
    global_limit: u32,
    window: Mutex<Window>,
}

impl RateLimiter {
    pub fn new(key: [u8; 32], window_seconds: u64, client_limit: u32, global_limit: u32) -> Self {
        Self {
            key,
            window_seconds: window_seconds as i64,
            client_limit,
            global_limit,
            window: Mutex::new(Window::default()),
        }
    }

    /// The tag of an address (or of "unknown" when the transport gives none).
    pub fn tag(&self, address: Option<IpAddr>) -> ClientTag {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        match address {
            Some(IpAddr::V4(a)) => mac.update(&a.octets()),
            // One client per /64: a single IPv6 host usually has a whole /64 to rotate through.
            Some(IpAddr::V6(a)) => mac.update(&a.octets()[..8]),
            None => mac.update(b"unknown"),
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        ClientTag(tag)
    }

    fn roll(&self, window: &mut Window, now: i64) {
        let start = now - now.rem_euclid(self.window_seconds);
        if window.start != start {
            *window = Window {
                start,
                ..Window::default()
            };
        }
    }

    /// `Err(seconds to wait)` if this client, or everyone, has used up the failures of this window.
    pub fn check(&self, client: ClientTag, now: i64) -> Result<(), u64> {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        self.roll(&mut window, now);
        let over_client = window.clients.get(&client).copied().unwrap_or(0) >= self.client_limit;
        if over_client || window.global >= self.global_limit {
            return Err((window.start + self.window_seconds - now).max(1) as u64);
        }
        Ok(())
    }

    /// Checks and counts one attempt in one step, for limits on every attempt rather than on
    /// failures (survey submissions): `Err(seconds to wait)`, not counted, when over the limit.
    pub fn admit(&self, client: ClientTag, now: i64) -> Result<(), u64> {
        let mut guard = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let window = &mut *guard;
        self.roll(window, now);
        let count = window.clients.entry(client).or_default();
        if *count >= self.client_limit || window.global >= self.global_limit {
            return Err((window.start + self.window_seconds - now).max(1) as u64);
        }
        *count += 1;
        window.global = window.global.saturating_add(1);
        Ok(())
    }

    /// Counts one failed attempt.
    pub fn failed(&self, client: ClientTag, now: i64) {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        self.roll(&mut window, now);
        window.global = window.global.saturating_add(1);
        *window.clients.entry(client).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_global_limits_reset_with_the_window() {
        let limiter = RateLimiter::new([1; 32], 60, 2, 3);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let b = limiter.tag(Some("192.0.2.2".parse().unwrap()));
        assert_ne!(a, b);
        assert!(limiter.check(a, 0).is_ok());
        limiter.failed(a, 1);
        limiter.failed(a, 2);
        assert_eq!(limiter.check(a, 10), Err(50));
        assert!(limiter.check(b, 10).is_ok());
        limiter.failed(b, 11);
        // Three failures in all: the global limit now stops everyone.
        assert!(limiter.check(limiter.tag(None), 12).is_err());
        assert!(limiter.check(a, 60).is_ok());
    }

    #[test]
    fn admit_counts_every_attempt_up_to_the_limit() {
        let limiter = RateLimiter::new([2; 32], 60, 2, u32::MAX);
        let a = limiter.tag(Some("192.0.2.1".parse().unwrap()));
        let b = limiter.tag(Some("192.0.2.2".parse().unwrap()));
        assert_eq!(limiter.admit(a, 0), Ok(()));
        assert_eq!(limiter.admit(a, 1), Ok(()));
        assert_eq!(limiter.admit(a, 2), Err(58));
        assert_eq!(limiter.admit(b, 2), Ok(()));
        assert_eq!(limiter.admit(a, 60), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64_bit_prefix() {
        let limiter = RateLimiter::new([1; 32], 60, 2, 3);
        let x = limiter.tag(Some("2001:db8::1".parse().unwrap()));
        let y = limiter.tag(Some("2001:db8::2".parse().unwrap()));
        let z = limiter.tag(Some("2001:db8:0:1::1".parse().unwrap()));
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
