//! Processing numbers: 8 digits drawn uniformly from a CSPRNG, stored only as an HMAC under a
//! server-wide key, so a database leak does not reveal live numbers (the key lives apart from the
//! rows in production deployments that configure it).

use hmac::{Hmac, Mac};
use rand::{CryptoRng, Rng};
use sha2::Sha256;
use std::fmt;

/// Exactly 8 ASCII digits.
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessingNumber(String);

impl ProcessingNumber {
    /// Accepts exactly 8 ASCII digits, nothing else (no spaces, no signs).
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit())).then(|| Self(text.to_owned()))
    }

    /// A uniformly random number in 00000000..=99999999.
    pub fn generate(rng: &mut (impl Rng + CryptoRng)) -> Self {
        Self(format!("{:08}", rng.gen_range(0..100_000_000u32)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProcessingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProcessingNumber(<redacted>)")
    }
}

/// The HMAC key numbers are stored under. Shared by every replica (kept in the database unless
/// configured).
#[derive(Clone)]
pub struct NumberKey([u8; 32]);

impl fmt::Debug for NumberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NumberKey(<redacted>)")
    }
}

impl NumberKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// HMAC-SHA256(key, number): what the database stores instead of the number.
    pub fn tag(&self, number: &ProcessingNumber) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(number.0.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parse_accepts_exactly_eight_digits() {
        assert!(ProcessingNumber::parse("01234567").is_some());
        for bad in [
            "1234567",
            "123456789",
            "1234567a",
            " 1234567",
            "１２３４５６７８",
            "",
        ] {
            assert!(ProcessingNumber::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn generated_numbers_are_eight_digits_and_spread() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let numbers: std::collections::HashSet<String> = (0..1000)
            .map(|_| ProcessingNumber::generate(&mut rng).0)
            .collect();
        assert!(numbers.len() > 990);
        assert!(numbers.iter().all(|n| ProcessingNumber::parse(n).is_some()));
        assert!(numbers.iter().any(|n| n.starts_with('0')));
    }

    #[test]
    fn tags_depend_on_key_and_number() {
        let a = ProcessingNumber::parse("12345678").unwrap();
        let b = ProcessingNumber::parse("12345679").unwrap();
        let k1 = NumberKey::new([1; 32]);
        let k2 = NumberKey::new([2; 32]);
        assert_eq!(k1.tag(&a), k1.tag(&a));
        assert_ne!(k1.tag(&a), k1.tag(&b));
        assert_ne!(k1.tag(&a), k2.tag(&a));
        assert_eq!(format!("{a:?}"), "ProcessingNumber(<redacted>)");
    }
}
