//! Key-derivation benchmarks: the hand-written kernel against `gaen::reference` (BENCHMARKS.md).
//!
//! Run with `cargo bench -p gaen --bench derive`. Every batched benchmark derives from 1024
//! distinct random TEKs per iteration, so criterion's throughput line reads as keys per second.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gaen::{reference, IntervalNumber, Rpi, Tek};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::hint::black_box;

/// Distinct keys per iteration of the batched benchmarks: enough that nothing is cached
/// between keys, few enough that the batch stays in L1/L2.
const BATCH: usize = 1024;
/// RPIs per key: one day of 10-minute intervals.
const RPIS_PER_KEY: usize = 144;

fn random_teks(n: usize, seed: u64) -> Vec<Tek> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| Tek::generate(&mut rng)).collect()
}

/// A day-aligned start interval (2026-11-28 00:00 UTC), the shape matching sees.
fn start() -> IntervalNumber {
    IntervalNumber::from_utc_day(20_785).expect("day in range")
}

fn whole_key(c: &mut Criterion) {
    let teks = random_teks(BATCH, 1);
    let start = start();

    // The two paths must agree before their speeds mean anything.
    let mut buf = [Rpi::default(); RPIS_PER_KEY];
    for tek in teks.iter().take(8) {
        tek.rpik().rpis_into(start, &mut buf);
        assert_eq!(
            &buf[..],
            &reference::rpis(tek, start, RPIS_PER_KEY as u32)[..]
        );
    }

    let mut group = c.benchmark_group("whole_key");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("reference", |b| {
        b.iter(|| {
            for tek in &teks {
                black_box(reference::rpis(black_box(tek), start, RPIS_PER_KEY as u32));
            }
        })
    });

    group.bench_function("fast", |b| {
        let mut out = [Rpi::default(); RPIS_PER_KEY];
        b.iter(|| {
            for tek in &teks {
                let rpik = black_box(tek).rpik();
                rpik.rpis_into(start, &mut out);
                black_box(&out);
            }
        })
    });

    group.bench_function("batch", |b| {
        let mut rpiks = vec![teks[0].rpik(); teks.len()];
        let mut out = [Rpi::default(); RPIS_PER_KEY];
        b.iter(|| {
            Tek::rpiks_into(black_box(&teks), &mut rpiks);
            for rpik in &rpiks {
                rpik.rpis_into(start, &mut out);
                black_box(&out);
            }
        })
    });

    group.finish();
}

fn hkdf(c: &mut Criterion) {
    let teks = random_teks(BATCH, 2);
    let mut group = c.benchmark_group("hkdf");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("reference", |b| {
        b.iter(|| {
            for tek in &teks {
                black_box(reference::hkdf16(black_box(tek), b"EN-RPIK"));
            }
        })
    });

    group.bench_function("fast", |b| {
        b.iter(|| {
            for tek in &teks {
                black_box(black_box(tek).rpik());
            }
        })
    });

    group.bench_function("batch", |b| {
        let mut rpiks = vec![teks[0].rpik(); teks.len()];
        b.iter(|| {
            Tek::rpiks_into(black_box(&teks), &mut rpiks);
            black_box(&rpiks);
        })
    });

    group.finish();
}

fn matching_keys(c: &mut Criterion) {
    let teks = random_teks(BATCH, 3);
    let mut group = c.benchmark_group("matching_keys");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("reference", |b| {
        b.iter(|| {
            for tek in &teks {
                black_box(reference::hkdf16(black_box(tek), b"EN-RPIK"));
                black_box(reference::hkdf16(black_box(tek), b"EN-AEMK"));
            }
        })
    });

    group.bench_function("derive", |b| {
        b.iter(|| {
            for tek in &teks {
                black_box(black_box(tek).derive());
            }
        })
    });

    // One fresh key per iteration, outside the timed region: no batching effects at all.
    group.throughput(Throughput::Elements(1));
    group.bench_function("derive_single", |b| {
        let mut rng = StdRng::seed_from_u64(4);
        b.iter_batched(
            || {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Tek::from_bytes(bytes)
            },
            |tek| tek.derive(),
            BatchSize::SmallInput,
        )
    });

    group.finish();
}

criterion_group!(benches, whole_key, hkdf, matching_keys);
criterion_main!(benches);
