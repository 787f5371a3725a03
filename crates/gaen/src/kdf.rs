//! The hot kernel of key derivation: HKDF-SHA256 for 16-byte outputs and AES-128 over a whole
//! key's worth of padded data.
//!
//! Written by hand because the speed target demands it (see BENCHMARKS.md): the library `hkdf`
//! crate re-derives the HMAC pad states and allocates per call. Here the HMAC states of the
//! all-zero salt are computed once, the extract step (PRK) is shared by RPIK and AEMK, and each
//! output costs exactly the SHA-256 compressions the construction needs (6 for one key, 8 for
//! both). SHA-256 compression uses `sha2::compress256` (SHA-NI when present); AES uses `aes`
//! (AES-NI when present, 8 blocks in flight), or the VAES kernel of `kdf_vaes` where the CPU has
//! it (the crate's only unsafe code). [`crate::reference`] computes the
//! same values with the library crates and the tests check that they agree.

use crate::keys::Rpi;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use std::sync::OnceLock;

const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// One SHA-256 input block. Plain arrays are converted with `.into()` at the `compress256` call
/// so this file never names the deprecated generic-array 0.14 type.
type Block64 = [u8; 64];

/// The SHA-256 states after absorbing `key ^ ipad` and `key ^ opad`: an HMAC key, ready to use.
#[derive(Clone, Copy)]
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    fn new(key: &[u8; 32]) -> Self {
        let mut ipad: Block64 = [0; 64];
        let mut opad: Block64 = [0; 64];
        for i in 0..64 {
            let k = if i < 32 { key[i] } else { 0 };
            ipad[i] = k ^ 0x36;
            opad[i] = k ^ 0x5c;
        }
        let mut inner = SHA256_IV;
        let mut outer = SHA256_IV;
        compress(&mut inner, ipad);
        compress(&mut outer, opad);
        Self { inner, outer }
    }

    /// HMAC of a message of at most 55 bytes: one inner and one outer compression.
    fn mac_short(&self, message: &[u8]) -> [u8; 32] {
        debug_assert!(message.len() <= 55);
        let mut state = self.inner;
        compress(&mut state, padded_block(message, 64));
        let inner_hash = state_bytes(&state);
        let mut state = self.outer;
        compress(&mut state, padded_block(&inner_hash, 64));
        state_bytes(&state)
    }
}

/// The final SHA-256 block of a message whose first `already` bytes were absorbed before it.
fn padded_block(tail: &[u8], already: u64) -> Block64 {
    let mut block: Block64 = [0; 64];
    block[..tail.len()].copy_from_slice(tail);
    block[tail.len()] = 0x80;
    let bits = (already + tail.len() as u64) * 8;
    block[56..].copy_from_slice(&bits.to_be_bytes());
    block
}

fn compress(state: &mut [u32; 8], block: Block64) {
    sha2::compress256(state, &[block.into()]);
}

fn state_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn zero_salt() -> &'static HmacKey {
    static ZERO_SALT: OnceLock<HmacKey> = OnceLock::new();
    ZERO_SALT.get_or_init(|| HmacKey::new(&[0u8; 32]))
}

/// HKDF-Expand's first block, T(1) = HMAC(PRK, info || 0x01), cut to 16 bytes.
fn expand16(prk: &HmacKey, info: &[u8]) -> [u8; 16] {
    let mut message = [0u8; 16];
    message[..info.len()].copy_from_slice(info);
    message[info.len()] = 0x01;
    let t1 = prk.mac_short(&message[..=info.len()]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&t1[..16]);
    out
}

fn extract(ikm: &[u8; 16]) -> HmacKey {
    HmacKey::new(&zero_salt().mac_short(ikm))
}

/// HKDF-SHA256(ikm, no salt, info, 16 bytes).
pub(crate) fn hkdf16(ikm: &[u8; 16], info: &[u8]) -> [u8; 16] {
    expand16(&extract(ikm), info)
}

/// Two HKDF outputs of one key material, sharing the extract step.
pub(crate) fn hkdf16_pair(ikm: &[u8; 16], info_a: &[u8], info_b: &[u8]) -> ([u8; 16], [u8; 16]) {
    let prk = extract(ikm);
    (expand16(&prk, info_a), expand16(&prk, info_b))
}

/// How many independent derivations [`hkdf16_lanes`] runs side by side.
pub(crate) const LANES: usize = 4;

/// HKDF-SHA256(ikm, no salt, info, 16 bytes) of [`LANES`] key materials at once.
///
/// One derivation is a chain of dependent SHA-256 compressions whose latency (not throughput)
/// bounds it: SHA-NI's round instruction takes several cycles to produce the state the next one
/// needs. Here each step of the construction is issued for every lane in turn, so the CPU's
/// out-of-order window holds several independent chains at once and overlaps them. Same results
/// as [`hkdf16`] lane by lane; still no unsafe code.
pub(crate) fn hkdf16_lanes(ikms: &[[u8; 16]; LANES], info: &[u8]) -> [[u8; 16]; LANES] {
    let salt = zero_salt();
    // Extract: PRK = HMAC(zero salt, ikm).
    let mut inner = [salt.inner; LANES];
    for (state, ikm) in inner.iter_mut().zip(ikms) {
        compress(state, padded_block(ikm, 64));
    }
    let mut prk = [salt.outer; LANES];
    for (state, inner) in prk.iter_mut().zip(&inner) {
        compress(state, padded_block(&state_bytes(inner), 64));
    }
    // The HMAC key states of each PRK.
    let mut ipad = [SHA256_IV; LANES];
    let mut opad = [SHA256_IV; LANES];
    for lane in 0..LANES {
        let key = state_bytes(&prk[lane]);
        let mut ipad_block: Block64 = [0x36; 64];
        let mut opad_block: Block64 = [0x5c; 64];
        for i in 0..32 {
            ipad_block[i] ^= key[i];
            opad_block[i] ^= key[i];
        }
        compress(&mut ipad[lane], ipad_block);
        compress(&mut opad[lane], opad_block);
    }
    // Expand: T(1) = HMAC(PRK, info || 0x01).
    let mut message = [0u8; 16];
    message[..info.len()].copy_from_slice(info);
    message[info.len()] = 0x01;
    let message_block = padded_block(&message[..=info.len()], 64);
    for state in ipad.iter_mut() {
        compress(state, message_block);
    }
    for (state, inner) in opad.iter_mut().zip(&ipad) {
        compress(state, padded_block(&state_bytes(inner), 64));
    }
    std::array::from_fn(|lane| {
        let t1 = state_bytes(&opad[lane]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&t1[..16]);
        out
    })
}

/// `PaddedData(j)`: `EN-RPI`, six zero bytes, then `j` as u32 little-endian.
pub(crate) fn rpi_padded_data(interval: u32) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[..6].copy_from_slice(b"EN-RPI");
    block[12..].copy_from_slice(&interval.to_le_bytes());
    block
}

/// `PaddedData` without its interval, as a little-endian u128 (bytes 0..6 = `EN-RPI`).
const PADDED_DATA_PREFIX: u128 = u128::from_le_bytes(*b"EN-RPI\0\0\0\0\0\0\0\0\0\0");

/// AES-128 encryption of `PaddedData(start + i)` for `i in 0..out.len()`, written into `out`.
/// Intervals wrap past `u32::MAX` exactly as the u32 arithmetic of the protocol does.
///
/// Each block is built with one 128-bit store (small byte writes followed by a wide read stall
/// store forwarding on every block), and up to a whole key's 144 blocks go to the cipher in one
/// call so its 8-way pipeline stays full. `Aes128Enc` skips the unused decryption schedule.
pub(crate) fn rpis_into(rpik: &[u8; 16], start: u32, out: &mut [Rpi]) {
    if crate::kdf_vaes::rpis_into(rpik, start, out) {
        return;
    }
    rpis_into_portable(rpik, start, out);
}

/// [`rpis_into`] on AES-NI (or software) through the `aes` crate: for CPUs without VAES.
fn rpis_into_portable(rpik: &[u8; 16], start: u32, out: &mut [Rpi]) {
    let cipher = Aes128Enc::new(&(*rpik).into());
    let mut blocks = [aes::Block::default(); 144];
    let mut interval = start;
    for chunk in out.chunks_mut(144) {
        let blocks = &mut blocks[..chunk.len()];
        for block in blocks.iter_mut() {
            *block = (PADDED_DATA_PREFIX | (u128::from(interval) << 96))
                .to_le_bytes()
                .into();
            interval = interval.wrapping_add(1);
        }
        cipher.encrypt_blocks(blocks);
        for (dst, src) in chunk.iter_mut().zip(blocks.iter()) {
            *dst = Rpi::from_bytes((*src).into());
        }
    }
}

/// AES-128 of one block.
pub(crate) fn aes_block(key: &[u8; 16], input: &[u8; 16]) -> [u8; 16] {
    let cipher = Aes128Enc::new(&(*key).into());
    let mut block = (*input).into();
    cipher.encrypt_block(&mut block);
    block.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VAES kernel (where this CPU has it) against the portable path: every length up to
    /// three groups, starts that wrap past `u32::MAX`.
    #[test]
    fn vaes_equals_portable() {
        if !crate::kdf_vaes::available() {
            return;
        }
        for (n, start) in [0u32, 1, 2_992_896, u32::MAX - 70, u32::MAX]
            .into_iter()
            .enumerate()
        {
            let rpik = [n as u8 * 37 + 1; 16];
            for len in 0..=150 {
                let mut fast = vec![Rpi::default(); len];
                let mut portable = vec![Rpi::default(); len];
                assert!(crate::kdf_vaes::rpis_into(&rpik, start, &mut fast));
                rpis_into_portable(&rpik, start, &mut portable);
                assert_eq!(fast, portable, "start {start}, {len} blocks");
            }
        }
    }
}
