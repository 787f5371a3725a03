//! The shared half of matching for many phones on one machine ([`crate::lab`]): the keys of
//! the downloaded files with their RPIs derived once, in one table every phone's sightings are
//! probed against: a filter over every RPI (a few bits each, so that it stays in cache), then,
//! for the rare RPI that passes it, a sorted table naming the keys it is an RPI of.
//!
//! A hit only names a key the phone may have heard; the phone then evaluates that key exactly,
//! against its own sightings of that key's RPIs (all of them), with the engine's exact
//! evaluation (`super::evaluate`), so nothing is decided here: the probe has no false
//! negatives, and the exact rules (tolerance, replay cut, AEM) are applied by the same code as
//! in a phone's own check.

use super::index::{Filter, SightingIndex};
use super::rules;
use crate::types::KeyMatch;
use gaen::{DiagnosisKey, Rpi, Rpik, Tek};
use rayon::prelude::*;

/// Keys derived per parallel task.
const TASK_KEYS: usize = 256;
/// Keys whose RPIKs are derived together (a multiple of gaen's HKDF lanes).
const DERIVE_GROUP: usize = 16;
/// Filter bits per RPI, at least: a quarter of a phone's own filter, so that the filter of a
/// city's new keys stays in the last-level cache, and still few false positives (each costs a
/// look-up in the sorted table). 16 bits was slower, 64 no faster (BENCHMARKS.md).
const FILTER_BITS_PER_RPI: usize = 32;

/// Keys with their RPIs, for probing. Keys are named by their position in the slice the table
/// was made from.
pub(crate) struct KeyTable<'k> {
    keys: &'k [&'k DiagnosisKey],
    /// Per key: where its RPIs start in `rpis`; one more entry at the end. A key that is never
    /// matched (REVOKED, RECURSIVE) has none.
    starts: Vec<usize>,
    /// Every key's RPIs, one per interval from its first, in key order.
    rpis: Vec<Rpi>,
    filter: Filter,
    /// The first eight bytes of every RPI, ascending, and the key each is an RPI of.
    prefixes: Vec<u64>,
    owners: Vec<u32>,
    /// Where the prefixes whose top bits are `b` start in `prefixes` (`b = prefix >> shift`);
    /// one more entry at the end. A look-up reads one short run.
    directory: Vec<u32>,
    shift: u32,
}

impl std::fmt::Debug for KeyTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("keys", &self.keys.len())
            .field("rpis", &self.rpis.len())
            .finish()
    }
}

fn prefix(rpi: &Rpi) -> u64 {
    u64::from_be_bytes(rpi.as_bytes()[..8].try_into().expect("8 of 16 bytes"))
}

impl<'k> KeyTable<'k> {
    /// Derives the RPIs of `keys` and indexes them, on the current rayon pool. At most
    /// `u32::MAX` keys.
    pub(crate) fn new(keys: &'k [&'k DiagnosisKey]) -> Self {
        assert!(u32::try_from(keys.len()).is_ok(), "at most u32::MAX keys");
        let parts: Vec<(Vec<usize>, Vec<Rpi>)> = keys.par_chunks(TASK_KEYS).map(derive).collect();
        let mut starts = Vec::with_capacity(keys.len() + 1);
        starts.push(0);
        let mut rpis = Vec::with_capacity(parts.iter().map(|p| p.1.len()).sum());
        for (lens, part) in parts {
            let mut end = rpis.len();
            for len in lens {
                end += len;
                starts.push(end);
            }
            rpis.extend(part);
        }
        let mut sorted: Vec<(u64, u32)> = Vec::with_capacity(rpis.len());
        for k in 0..keys.len() {
            sorted.extend(
                rpis[starts[k]..starts[k + 1]]
                    .iter()
                    .map(|rpi| (prefix(rpi), k as u32)),
            );
        }
        sorted.par_sort_unstable();
        let (prefixes, owners): (Vec<u64>, Vec<u32>) = sorted.into_iter().unzip();
        // About eight prefixes per run.
        let bits = (prefixes.len() / 8)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, 24);
        let shift = 64 - bits;
        let mut directory = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for b in 0..=(1u64 << bits) {
            while at < prefixes.len() && prefixes[at] >> shift < b {
                at += 1;
            }
            directory.push(u32::try_from(at).expect("at most u32::MAX RPIs in one key table"));
        }
        let filter = Filter::with_bits(rpis.iter().copied(), FILTER_BITS_PER_RPI);
        Self {
            keys,
            starts,
            rpis,
            filter,
            prefixes,
            owners,
            directory,
            shift,
        }
    }

    /// Probes the RPIs of some sightings: the keys they may be RPIs of are appended to `keys`
    /// (a key once per sighting of one of its RPIs; rarely one that was not heard), and the
    /// RPIs that named a key to `heard`. Every key for which the exact rules could admit one of
    /// the sightings is among them, and every sighting of its RPIs is among `heard`.
    pub(crate) fn probe(&self, rpis: &[Rpi], keys: &mut Vec<u32>, heard: &mut Vec<Rpi>) {
        for rpi in rpis {
            if self.filter.may_contain(rpi) {
                self.found(rpi, keys, heard);
            }
        }
    }

    #[cold]
    fn found(&self, rpi: &Rpi, keys: &mut Vec<u32>, heard: &mut Vec<Rpi>) {
        let p = prefix(rpi);
        let b = (p >> self.shift) as usize;
        let (start, end) = (self.directory[b] as usize, self.directory[b + 1] as usize);
        let run = &self.prefixes[start..end];
        let from = run.partition_point(|&q| q < p);
        let to = from + run[from..].partition_point(|&q| q == p);
        if from < to {
            keys.extend_from_slice(&self.owners[start + from..start + to]);
            heard.push(*rpi);
        }
    }

    /// The engine's exact evaluation of key `k` against one phone's sightings, with the RPIs
    /// derived here (all the key's intervals).
    pub(crate) fn evaluate(&self, index: &SightingIndex, k: u32) -> Option<KeyMatch> {
        let k = k as usize;
        let (start, end) = (self.starts[k], self.starts[k + 1]);
        if start == end {
            return None;
        }
        let key = self.keys[k];
        super::evaluate(
            index,
            key,
            *rules::key_intervals(key).start(),
            &self.rpis[start..end],
        )
    }
}

/// The RPI counts and RPIs of some keys, in their order (none for a key never matched).
fn derive(keys: &[&DiagnosisKey]) -> (Vec<usize>, Vec<Rpi>) {
    let lens: Vec<usize> = keys
        .iter()
        .map(|k| {
            if rules::is_matchable(k) {
                k.rolling_period.get() as usize
            } else {
                0
            }
        })
        .collect();
    let mut rpis = vec![Rpi::default(); lens.iter().sum()];
    let mut matchable: Vec<(&DiagnosisKey, usize)> = Vec::with_capacity(keys.len());
    let mut at = 0;
    for (key, &len) in keys.iter().zip(&lens) {
        if len > 0 {
            matchable.push((key, at));
        }
        at += len;
    }
    let mut teks = [Tek::from_bytes([0; 16]); DERIVE_GROUP];
    let mut rpiks = [Rpik::from_bytes([0; 16]); DERIVE_GROUP];
    for group in matchable.chunks(DERIVE_GROUP) {
        for (tek, (key, _)) in teks.iter_mut().zip(group) {
            *tek = key.key;
        }
        let n = group.len();
        Tek::rpiks_into(&teks[..n], &mut rpiks[..n]);
        for (rpik, &(key, start)) in rpiks.iter().zip(group) {
            let len = key.rolling_period.get() as usize;
            rpik.rpis_into(key.rolling_start, &mut rpis[start..start + len]);
        }
    }
    (lens, rpis)
}
