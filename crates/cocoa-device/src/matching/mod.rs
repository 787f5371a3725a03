//! The matching engine: which downloaded diagnosis keys did this phone hear, and when. A fast
//! pre-filter over every key finds the few with any sighting; exact evaluation of those applies
//! the rules of gaen.md §5 ([`rules`]).
//!
//! # How a key is checked
//! 1. REVOKED and RECURSIVE keys are skipped. So are the intervals of a key that no sighting
//!    lies within two hours of ([`SightingIndex::relevant_intervals`]): a key of a day the phone
//!    heard nothing costs nothing at all.
//! 2. The RPIK is derived by HKDF, several keys side by side ([`gaen::Tek::rpiks_into`]), then
//!    the RPIs of the relevant intervals by AES ([`gaen::Rpik::rpis_into`], on VAES where the
//!    CPU has it): gaen's kernel.
//! 3. Every RPI is probed in a blocked Bloom filter of the heard RPIs (one 64-bit load each,
//!    about 1 MiB for 100,000 sightings, so it stays in the core's L2 cache). Nearly every key
//!    stops here.
//! 4. A key with a filter hit is evaluated exactly: binary search for the RPI's sightings, the
//!    tolerance and replay rules, and the AEM decrypted with the AEMK (derived only now).
//!
//! Keys arrive in chunks (a file's keys, or slices of them); within a chunk the work is split
//! over a rayon pool, and results keep the input order. Nothing but the chunk at hand is held.
//!
//! [`match_straightforward`] is the reference the engine is tested against (`tests/matching.rs`).
//! For many phones on one machine, `shared` turns step 3 around: the new keys' RPIs, derived
//! once, go into one filter that every phone's sightings are probed against; a phone then runs
//! step 4 (`evaluate`, the same code) on the keys it hit ([`crate::lab`]).
//! Figures: BENCHMARKS.md, "Matching (cocoa bench match)".

mod index;
pub mod rules;
pub(crate) mod shared;
mod straightforward;

pub use index::SightingIndex;
pub use straightforward::match_straightforward;

use crate::types::{KeyMatch, Sighting};
use gaen::{DiagnosisKey, IntervalNumber, Rpi, Rpik, SignedExport, Tek};
use rayon::prelude::*;

/// Keys whose RPIKs are derived together (a multiple of gaen's HKDF lanes).
const DERIVE_GROUP: usize = 16;
/// Bounds on the keys of one parallel task: big enough to amortise scheduling, small enough to
/// balance the load.
const TASK_KEYS: std::ops::RangeInclusive<usize> = 64..=4096;

/// Matches key chunks against one [`SightingIndex`] on a fixed number of threads.
#[derive(Debug)]
pub struct Engine<'i> {
    index: &'i SightingIndex,
    /// `None`: everything runs on the calling thread.
    pool: Option<rayon::ThreadPool>,
    threads: usize,
}

impl<'i> Engine<'i> {
    /// An engine over `index` using `threads` threads (0: one per available core). If the
    /// threads cannot be started, it runs on the calling thread alone ([`Self::threads`] says
    /// how many it uses).
    pub fn new(index: &'i SightingIndex, threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = (threads > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("matching-{i}"))
                    .build()
                    .ok()
            })
            .flatten();
        let threads = if pool.is_some() { threads } else { 1 };
        Self {
            index,
            pool,
            threads,
        }
    }

    /// The number of threads matching runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The index this engine matches against.
    pub fn index(&self) -> &'i SightingIndex {
        self.index
    }

    /// The keys of `keys` with at least one surviving sighting, in input order.
    pub fn match_keys(&self, keys: &[DiagnosisKey]) -> Vec<KeyMatch> {
        let index = self.index;
        match &self.pool {
            None => {
                let mut out = Vec::new();
                match_slice(index, keys, &mut out);
                out
            }
            Some(pool) => {
                let task =
                    (keys.len() / (self.threads * 16)).clamp(*TASK_KEYS.start(), *TASK_KEYS.end());
                pool.install(|| {
                    keys.par_chunks(task)
                        .flat_map_iter(|chunk| {
                            let mut out = Vec::new();
                            match_slice(index, chunk, &mut out);
                            out
                        })
                        .collect()
                })
            }
        }
    }

    /// Matches a stream of key chunks, one chunk in memory at a time; results in input order.
    pub fn match_chunks<C: AsRef<[DiagnosisKey]>>(
        &self,
        chunks: impl IntoIterator<Item = C>,
    ) -> Vec<KeyMatch> {
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(self.match_keys(chunk.as_ref()));
        }
        out
    }

    /// Matches the keys of export files, one file at a time (each is dropped once matched):
    /// what an exposure check does with the files it downloads, parses and verifies. Only
    /// `keys` are matched; `revised_keys` are not.
    pub fn match_export_files(
        &self,
        files: impl IntoIterator<Item = SignedExport>,
    ) -> Vec<KeyMatch> {
        self.match_chunks(files.into_iter().map(|file| file.export.keys))
    }
}

/// Indexes `sightings` and matches `keys` against them on `threads` threads (0: all cores).
pub fn match_keys(keys: &[DiagnosisKey], sightings: &[Sighting], threads: usize) -> Vec<KeyMatch> {
    let index = SightingIndex::new(sightings);
    Engine::new(&index, threads).match_keys(keys)
}

/// The engine's inner loop over one slice of keys, on one thread.
fn match_slice(index: &SightingIndex, keys: &[DiagnosisKey], out: &mut Vec<KeyMatch>) {
    let mut batch = Batch::new();
    for (i, key) in keys.iter().enumerate() {
        if !rules::is_matchable(key) {
            continue;
        }
        let intervals = rules::key_intervals(key);
        let Some((lo, hi)) = index.relevant_intervals(*intervals.start(), *intervals.end()) else {
            continue;
        };
        batch.push(i, key.key, lo, (hi - lo + 1) as usize);
        if batch.len == DERIVE_GROUP {
            batch.flush(index, keys, out);
        }
    }
    batch.flush(index, keys, out);
}

/// Keys waiting for their RPIKs to be derived together, with scratch space for their RPIs.
struct Batch {
    len: usize,
    teks: [Tek; DERIVE_GROUP],
    /// Per key: its position in the slice, the first relevant interval, how many there are.
    work: [(usize, i64, usize); DERIVE_GROUP],
    rpiks: [Rpik; DERIVE_GROUP],
    rpis: [Rpi; 144],
}

impl Batch {
    fn new() -> Self {
        Self {
            len: 0,
            teks: [Tek::from_bytes([0; 16]); DERIVE_GROUP],
            work: [(0, 0, 0); DERIVE_GROUP],
            rpiks: [Rpik::from_bytes([0; 16]); DERIVE_GROUP],
            rpis: [Rpi::default(); 144],
        }
    }

    fn push(&mut self, position: usize, tek: Tek, first: i64, count: usize) {
        self.teks[self.len] = tek;
        self.work[self.len] = (position, first, count);
        self.len += 1;
    }

    fn flush(&mut self, index: &SightingIndex, keys: &[DiagnosisKey], out: &mut Vec<KeyMatch>) {
        let n = std::mem::take(&mut self.len);
        Tek::rpiks_into(&self.teks[..n], &mut self.rpiks[..n]);
        for (rpik, &(position, first, count)) in self.rpiks[..n].iter().zip(&self.work[..n]) {
            let rpis = &mut self.rpis[..count];
            // `first` lies within the key's u32 intervals; truncation is the protocol's wrap.
            rpik.rpis_into(IntervalNumber::new(first as u32), rpis);
            if index.may_contain_any(rpis) {
                out.extend(evaluate(index, &keys[position], first, rpis));
            }
        }
    }
}

/// Exact evaluation of a key with a filter hit: `rpis[i]` is the RPI of interval `first + i`.
/// The intervals given must include every interval of the key that some sighting of `index`
/// lies within the clock tolerance of ([`SightingIndex::relevant_intervals`]); any others add
/// nothing (no sighting passes the tolerance rule for them), so all of the key's intervals
/// give the same answer as the relevant ones. [`crate::lab`] relies on that: it derives a key's
/// RPIs once, for all its intervals, and evaluates them against each phone that heard one.
#[cold]
pub(crate) fn evaluate(
    index: &SightingIndex,
    key: &DiagnosisKey,
    first: i64,
    rpis: &[Rpi],
) -> Option<KeyMatch> {
    let mut aemk = None;
    let mut found = Vec::new();
    for (offset, rpi) in rpis.iter().enumerate() {
        if !index.may_contain(rpi) {
            continue;
        }
        let group = index.sightings_of(rpi);
        if group.is_empty() {
            continue;
        }
        let aemk = aemk.get_or_insert_with(|| key.key.aemk());
        rules::admit_group(aemk, first + offset as i64, group, &mut found);
    }
    rules::key_match(key, found)
}
