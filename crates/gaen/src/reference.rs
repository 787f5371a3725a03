//! The straightforward derivations, built directly on the `hkdf` and `aes` crates: the
//! baseline the fast kernel is measured against and cross-checked with. Not for hot paths.

use crate::keys::{Rpi, Tek};
use crate::time::IntervalNumber;
use aes::cipher::{BlockEncrypt, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;

/// HKDF-SHA256(TEK, no salt, info, 16) through the `hkdf` crate.
pub fn hkdf16(tek: &Tek, info: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    Hkdf::<Sha256>::new(None, tek.as_bytes())
        .expand(info, &mut out)
        .expect("16 bytes is a valid HKDF-SHA256 output length");
    out
}

/// The RPIs of `count` intervals from `start`, one library call per block.
pub fn rpis(tek: &Tek, start: IntervalNumber, count: u32) -> Vec<Rpi> {
    let rpik = hkdf16(tek, b"EN-RPIK");
    let cipher = aes::Aes128::new(&rpik.into());
    (0..count)
        .map(|i| {
            let mut block = aes::Block::default();
            block[..6].copy_from_slice(b"EN-RPI");
            block[12..].copy_from_slice(&start.get().wrapping_add(i).to_le_bytes());
            cipher.encrypt_block(&mut block);
            Rpi::from_bytes(block.into())
        })
        .collect()
}
