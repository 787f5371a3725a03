//! The one module of the workspace with `unsafe` code: AES-128 of a key's `PaddedData` blocks
//! with VAES (four blocks per AVX-512 instruction), for CPUs that have it.
//!
//! Why: AES-NI handles one block per instruction, and 144 blocks x 10 rounds kept the AES units
//! busy for ~250 ns per key, the largest part of matching. The `aes` crate (0.8) has no VAES
//! back end. How it stays sound: [`rpis_into`] checks at run time that the CPU has AES-NI,
//! AVX-512F and VAES before it calls the `#[target_feature]` functions (the only `unsafe`
//! calls), and otherwise returns `false` so the caller uses the portable path. The rest of the
//! unsafe code is unaligned vector stores into local arrays whose bounds are checked by the
//! code around them. `kdf::tests` and `tests/properties.rs` hold the results equal to the
//! reference implementation.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::keys::Rpi;
    use std::arch::x86_64::*;

    /// Blocks per group: 12 vectors of 4 blocks keep 12 independent AES chains in flight and,
    /// with the 11 round keys, fit the 32 vector registers.
    const GROUP_VECTORS: usize = 12;
    const GROUP_BLOCKS: usize = GROUP_VECTORS * 4;

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("vaes")
    }

    pub(super) fn rpis_into(rpik: &[u8; 16], start: u32, out: &mut [Rpi]) -> bool {
        if !available() {
            return false;
        }
        // SAFETY: the CPU has every feature `encrypt_padded` enables (checked just above).
        unsafe { encrypt_padded(rpik, start, out) };
        true
    }

    /// The AES-128 round keys of `key` (FIPS-197 key expansion with AESKEYGENASSIST).
    #[target_feature(enable = "aes,sse2")]
    fn expand_key(key: &[u8; 16]) -> [__m128i; 11] {
        let lo = i64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let hi = i64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        let mut rk = [_mm_set_epi64x(hi, lo); 11];
        macro_rules! round {
            ($i:literal, $rcon:literal) => {{
                let prev = rk[$i - 1];
                let assist = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(prev));
                let mut k = prev;
                k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
                k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
                k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
                rk[$i] = _mm_xor_si128(k, assist);
            }};
        }
        round!(1, 0x01);
        round!(2, 0x02);
        round!(3, 0x04);
        round!(4, 0x08);
        round!(5, 0x10);
        round!(6, 0x20);
        round!(7, 0x40);
        round!(8, 0x80);
        round!(9, 0x1b);
        round!(10, 0x36);
        rk
    }

    /// `out[i] = AES-128(rpik, PaddedData(start + i))`, 48 blocks at a time.
    #[target_feature(enable = "aes,sse2,avx512f,vaes")]
    fn encrypt_padded(rpik: &[u8; 16], start: u32, out: &mut [Rpi]) {
        let rk128 = expand_key(rpik);
        let rk: [__m512i; 11] = std::array::from_fn(|i| _mm512_broadcast_i32x4(rk128[i]));
        // PaddedData: "EN-RPI" (bytes 0..6), zeros, the interval in the last 32-bit word.
        // Four consecutive intervals per vector: lane l holds start + l.
        let mut counters = _mm512_set_epi32(
            start.wrapping_add(3) as i32,
            0,
            0x4950,
            0x522d_4e45,
            start.wrapping_add(2) as i32,
            0,
            0x4950,
            0x522d_4e45,
            start.wrapping_add(1) as i32,
            0,
            0x4950,
            0x522d_4e45,
            start as i32,
            0,
            0x4950,
            0x522d_4e45,
        );
        let step = _mm512_set_epi32(4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0);
        let mut blocks = [[0u8; 16]; GROUP_BLOCKS];
        for chunk in out.chunks_mut(GROUP_BLOCKS) {
            let mut state = [_mm512_setzero_si512(); GROUP_VECTORS];
            for s in state.iter_mut() {
                *s = _mm512_xor_si512(counters, rk[0]);
                counters = _mm512_add_epi32(counters, step);
            }
            for key in &rk[1..10] {
                for s in state.iter_mut() {
                    *s = _mm512_aesenc_epi128(*s, *key);
                }
            }
            for (i, s) in state.iter().enumerate() {
                let last = _mm512_aesenclast_epi128(*s, rk[10]);
                // SAFETY: `blocks` is 48 x 16 bytes; vector i fills bytes 64i..64i+64, with
                // i < 12, so every write is inside it (unaligned stores need no alignment).
                unsafe { _mm512_storeu_si512(blocks.as_mut_ptr().add(4 * i).cast(), last) };
            }
            for (dst, src) in chunk.iter_mut().zip(&blocks) {
                *dst = Rpi::from_bytes(*src);
            }
            // A short last chunk computed a few blocks past the end; they are dropped here.
        }
    }
}

/// AES-128 of `PaddedData(start + i)` into `out[i]` with VAES, if this CPU has it: returns
/// `false` (and leaves `out` alone) when it does not.
pub(crate) fn rpis_into(rpik: &[u8; 16], start: u32, out: &mut [crate::keys::Rpi]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::rpis_into(rpik, start, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rpik, start, out);
        false
    }
}

/// Whether [`rpis_into`] runs on this CPU.
#[cfg(test)]
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
