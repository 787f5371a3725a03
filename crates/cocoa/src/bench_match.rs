//! `cocoa bench match`: the phone's matching engine against a baseline of the reference phone
//! matcher's design, in the same process, on the same keys and sightings.
//!
//! N random diagnosis keys (the last 14 days, full days, CONFIRMED_TEST) are generated in
//! chunks from a seed, so that any N fits in a little memory: each matcher regenerates the same
//! chunks, and only the time spent matching a chunk is counted. M sightings over the same 14
//! days are random identifiers, except for P planted matches: keys placed at random positions
//! of the stream whose RPIs of three consecutive intervals were "heard" at the right times with
//! a valid AEM (metadata v1.0, 8 dBm). Both matchers must find exactly the planted keys, or the
//! command fails (exit 1).
//!
//! The baseline is the design of the reference phone matcher: per key, library HKDF (`hkdf`
//! crate) and AES (`aes` crate: key schedule, then one call per block, 144 blocks), each RPI
//! looked up in a 65,536-bucket table on the first two bytes of the sorted sightings, then the
//! same exact rules as the engine. With `--threads T`, both run on T threads.

use crate::failure::{Failure, OrFail, INVALID, USAGE_OR_IO};
use anyhow::anyhow;
use clap::Args;
use cocoa_device::matching::{rules, Engine, SightingIndex};
use cocoa_device::{KeyMatch, Sighting};
use gaen::{
    Aem, Aemk, DaysSinceOnset, DiagnosisKey, IntervalNumber, Metadata, ReportType, RollingPeriod,
    Rpi, Tek,
};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Instant;

/// The last day of the 14 days of keys and sightings: 2026-11-28 (days since the epoch). Fixed,
/// so that a seed gives the same run on any date.
const LAST_DAY: u32 = 20_785;
const DAYS: u32 = 14;
/// Sightings recorded for each planted key (three consecutive intervals).
const SIGHTINGS_PER_PLANT: u64 = 3;
/// The transmit power in the planted keys' metadata.
const PLANTED_TX_POWER_DBM: i8 = 8;

#[derive(Debug, Args)]
pub struct MatchBenchArgs {
    /// Diagnosis keys to match (generated and matched in chunks, never all held at once).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    keys: u64,
    /// Sightings on the phone, planted ones included.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    sightings: u64,
    /// Threads for the engine and the baseline alike.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
    /// Keys with real sightings planted among the random ones.
    #[arg(long, default_value_t = 10)]
    planted: u64,
    /// Seed of the generated keys and sightings [default: random].
    #[arg(long)]
    seed: Option<u64>,
    /// Keys generated and matched per chunk.
    #[arg(long, default_value_t = 1 << 16, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    chunk_keys: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    keys: u64,
    sightings: u64,
    threads: u32,
    planted: u64,
    engine_found: u64,
    baseline_found: u64,
    engine_keys_per_sec: f64,
    baseline_keys_per_sec: f64,
    /// engine_keys_per_sec / baseline_keys_per_sec.
    speedup: f64,
    engine_seconds: f64,
    baseline_seconds: f64,
    /// Building the engine's `SightingIndex` (not part of the keys/s figures).
    index_seconds: f64,
    filter_bytes: usize,
    chunk_keys: u32,
    seed: u64,
    /// Peak resident memory of the whole process (VmHWM), in MiB.
    peak_rss_mib: Option<f64>,
}

pub fn run(args: MatchBenchArgs) -> Result<(), Failure> {
    let plan = Plan::new(&args)?;
    let threads = args.threads as usize;
    let sightings = plan.sightings();

    let started = Instant::now();
    let index = SightingIndex::new(&sightings);
    let index_seconds = started.elapsed().as_secs_f64();
    let engine = Engine::new(&index, threads);
    if engine.threads() != threads {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("could not start {threads} matching threads"),
        ));
    }
    let (engine_matches, engine_seconds) = plan.timed(|keys| engine.match_keys(keys));
    let filter_bytes = index.filter_bytes();
    drop(engine);
    drop(index);

    let baseline = Baseline::new(&sightings);
    drop(sightings);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .usage_or_io("starting the baseline's threads")?;
    let (baseline_matches, baseline_seconds) = plan.timed(|keys| {
        if threads == 1 {
            keys.iter().filter_map(|k| baseline.match_key(k)).collect()
        } else {
            pool.install(|| {
                keys.par_iter()
                    .with_min_len(64)
                    .filter_map(|k| baseline.match_key(k))
                    .collect()
            })
        }
    });

    let engine_keys_per_sec = args.keys as f64 / engine_seconds;
    let baseline_keys_per_sec = args.keys as f64 / baseline_seconds;
    let report = Report {
        keys: args.keys,
        sightings: args.sightings,
        threads: args.threads,
        planted: args.planted,
        engine_found: engine_matches.len() as u64,
        baseline_found: baseline_matches.len() as u64,
        engine_keys_per_sec,
        baseline_keys_per_sec,
        speedup: engine_keys_per_sec / baseline_keys_per_sec,
        engine_seconds,
        baseline_seconds,
        index_seconds,
        filter_bytes,
        chunk_keys: args.chunk_keys,
        seed: plan.seed,
        peak_rss_mib: peak_rss_mib(),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).usage_or_io("writing the report")?
        );
    } else {
        print_report(&report);
    }

    let mut wrong = Vec::new();
    for (who, matches) in [("engine", &engine_matches), ("baseline", &baseline_matches)] {
        if let Err(why) = plan.check(matches) {
            wrong.push(format!("the {who} {why}"));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(INVALID, anyhow!("{}", wrong.join("; "))))
    }
}

fn print_report(r: &Report) {
    println!(
        "cocoa bench match: {} keys, {} sightings ({} planted matches), {} thread(s), seed {}",
        r.keys, r.sightings, r.planted, r.threads, r.seed
    );
    println!(
        "engine:   {:>10.0} keys/s ({:.3} s), found {}",
        r.engine_keys_per_sec, r.engine_seconds, r.engine_found
    );
    println!(
        "baseline: {:>10.0} keys/s ({:.3} s), found {}",
        r.baseline_keys_per_sec, r.baseline_seconds, r.baseline_found
    );
    println!("speedup:  {:.2}x", r.speedup);
    println!(
        "index:    built in {:.3} s, filter {} KiB",
        r.index_seconds,
        r.filter_bytes / 1024
    );
    if let Some(peak) = r.peak_rss_mib {
        println!("memory:   peak {peak:.1} MiB resident (whole process)");
    }
}

/// What a run generates: from the seed, every chunk of keys and the sightings.
#[derive(Debug)]
struct Plan {
    seed: u64,
    keys: u64,
    chunk_keys: u64,
    random_sightings: u64,
    /// Stream position -> planted key, in position order.
    planted: Vec<(u64, DiagnosisKey)>,
}

impl Plan {
    fn new(args: &MatchBenchArgs) -> Result<Self, Failure> {
        if args.planted > args.keys {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!(
                    "--planted ({}) exceeds --keys ({})",
                    args.planted,
                    args.keys
                ),
            ));
        }
        let planted_sightings = args.planted * SIGHTINGS_PER_PLANT;
        if planted_sightings > args.sightings {
            return Err(Failure::new(
                USAGE_OR_IO,
                anyhow!("--sightings must be at least {SIGHTINGS_PER_PLANT} x --planted ({planted_sightings})"),
            ));
        }
        let seed = args.seed.unwrap_or_else(rand::random);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x706c_616e_7465_6421);
        let mut positions = BTreeSet::new();
        while (positions.len() as u64) < args.planted {
            positions.insert(rng.gen_range(0..args.keys));
        }
        let planted = positions
            .into_iter()
            .map(|position| (position, random_key(&mut rng)))
            .collect();
        Ok(Self {
            seed,
            keys: args.keys,
            chunk_keys: u64::from(args.chunk_keys),
            random_sightings: args.sightings - planted_sightings,
            planted,
        })
    }

    /// Chunk `c` of the key stream: random keys, planted ones at their positions.
    fn chunk(&self, c: u64, into: &mut Vec<DiagnosisKey>) {
        into.clear();
        let first = c * self.chunk_keys;
        let end = (first + self.chunk_keys).min(self.keys);
        let mut rng = StdRng::seed_from_u64(self.seed ^ c.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        into.extend((first..end).map(|_| random_key(&mut rng)));
        let from = self.planted.partition_point(|(p, _)| *p < first);
        for (position, key) in self.planted[from..].iter().take_while(|(p, _)| *p < end) {
            into[(position - first) as usize] = key.clone();
        }
    }

    /// Runs `matcher` over every chunk, timing only the matching.
    fn timed(
        &self,
        mut matcher: impl FnMut(&[DiagnosisKey]) -> Vec<KeyMatch>,
    ) -> (Vec<KeyMatch>, f64) {
        let mut keys = Vec::with_capacity(self.chunk_keys as usize);
        let mut matches = Vec::new();
        let mut seconds = 0.0;
        for c in 0..self.keys.div_ceil(self.chunk_keys) {
            self.chunk(c, &mut keys);
            let started = Instant::now();
            matches.extend(matcher(&keys));
            seconds += started.elapsed().as_secs_f64();
        }
        (matches, seconds)
    }

    /// The phone's sightings: random identifiers over the 14 days, plus the planted ones.
    fn sightings(&self) -> Vec<Sighting> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x7369_6768_7469_6e67);
        let first_second = i64::from(LAST_DAY + 1 - DAYS) * 86_400;
        let last_second = i64::from(LAST_DAY + 1) * 86_400;
        let mut out = Vec::with_capacity(
            (self.random_sightings + self.planted.len() as u64 * SIGHTINGS_PER_PLANT) as usize,
        );
        for _ in 0..self.random_sightings {
            let mut rpi = [0u8; 16];
            let mut aem = [0u8; 4];
            rng.fill_bytes(&mut rpi);
            rng.fill_bytes(&mut aem);
            let at = rng.gen_range(first_second..last_second);
            out.push(Sighting {
                at,
                rssi: rng.gen_range(-100..=-30),
                rpi: Rpi::from_bytes(rpi),
                aem: Aem::from_bytes(aem),
                previous_scan_at: Some(at - 240),
            });
        }
        for (_, key) in &self.planted {
            let (rpik, aemk) = key.key.derive();
            let first =
                key.rolling_start.get() + rng.gen_range(0..144 - SIGHTINGS_PER_PLANT as u32);
            for interval in (first..).take(SIGHTINGS_PER_PLANT as usize) {
                let rpi = rpik.rpi(IntervalNumber::new(interval));
                let at = i64::from(interval) * 600 + rng.gen_range(0..600);
                out.push(Sighting {
                    at,
                    rssi: -60,
                    rpi,
                    aem: aemk.encrypt(&rpi, &Metadata::v1_0(PLANTED_TX_POWER_DBM)),
                    previous_scan_at: Some(at - 240),
                });
            }
        }
        out
    }

    /// Whether `matches` are exactly the planted keys, each with all its sightings.
    fn check(&self, matches: &[KeyMatch]) -> Result<(), String> {
        let expected: BTreeSet<[u8; 16]> =
            self.planted.iter().map(|(_, k)| k.key.to_bytes()).collect();
        let found: BTreeSet<[u8; 16]> = matches.iter().map(|m| m.key.key.to_bytes()).collect();
        if found != expected || matches.len() != self.planted.len() {
            return Err(format!(
                "found {} keys, {} of them planted, not exactly the {} planted",
                matches.len(),
                found.intersection(&expected).count(),
                self.planted.len()
            ));
        }
        if let Some(m) = matches
            .iter()
            .find(|m| m.sightings.len() as u64 != SIGHTINGS_PER_PLANT)
        {
            return Err(format!(
                "kept {} sightings of a planted key, not {SIGHTINGS_PER_PLANT}",
                m.sightings.len()
            ));
        }
        Ok(())
    }
}

/// A random full-day key of the 14 days, as a server publishes them.
fn random_key(rng: &mut StdRng) -> DiagnosisKey {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let day = LAST_DAY - rng.gen_range(0..DAYS);
    DiagnosisKey {
        key: Tek::from_bytes(bytes),
        rolling_start: IntervalNumber::new(day * 144),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk_level: None,
        report_type: Some(ReportType::ConfirmedTest),
        days_since_onset: DaysSinceOnset::new(rng.gen_range(-3..=10)).ok(),
    }
}

/// The reference phone matcher's design: sightings sorted by RPI, a 65,536-bucket table on the
/// first two bytes, and per key the library HKDF and AES, block by block.
#[derive(Debug)]
struct Baseline {
    sorted: Vec<Sighting>,
    /// `buckets[b]..buckets[b + 1]`: the sightings whose RPI starts with the two bytes `b`.
    buckets: Vec<usize>,
}

impl Baseline {
    fn new(sightings: &[Sighting]) -> Self {
        let mut sorted = sightings.to_vec();
        sorted.sort_by_key(|s| (s.rpi, s.at));
        let mut buckets = vec![0; 65_537];
        for s in &sorted {
            buckets[usize::from(u16::from_be_bytes([
                s.rpi.as_bytes()[0],
                s.rpi.as_bytes()[1],
            ])) + 1] += 1;
        }
        for b in 1..buckets.len() {
            buckets[b] += buckets[b - 1];
        }
        Self { sorted, buckets }
    }

    fn match_key(&self, key: &DiagnosisKey) -> Option<KeyMatch> {
        if !rules::is_matchable(key) {
            return None;
        }
        let rpis = gaen::reference::rpis(&key.key, key.rolling_start, key.rolling_period.get());
        let mut aemk = None;
        let mut found = Vec::new();
        for (interval, rpi) in rules::key_intervals(key).zip(&rpis) {
            let b = usize::from(u16::from_be_bytes([rpi.as_bytes()[0], rpi.as_bytes()[1]]));
            let bucket = &self.sorted[self.buckets[b]..self.buckets[b + 1]];
            let Some(start) = bucket.iter().position(|s| s.rpi == *rpi) else {
                continue;
            };
            let len = bucket[start..].iter().take_while(|s| s.rpi == *rpi).count();
            let aemk = aemk.get_or_insert_with(|| {
                Aemk::from_bytes(gaen::reference::hkdf16(&key.key, b"EN-AEMK"))
            });
            rules::admit_group(aemk, interval, &bucket[start..start + len], &mut found);
        }
        rules::key_match(key, found)
    }
}

/// VmHWM of this process, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
