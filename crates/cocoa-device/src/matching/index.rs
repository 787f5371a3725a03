//! `SightingIndex`: the phone's sightings arranged for matching: a small cache-resident filter
//! on the RPIs, the sightings grouped by RPI for exact look-ups, and which intervals have any
//! sighting at all (so that keys from days the phone heard nothing are skipped underived).

use super::rules::{sighting_interval, TOLERANCE_INTERVALS};
use crate::types::Sighting;
use gaen::Rpi;

/// Filter bits per distinct RPI, at least (the filter is a power of two: 64 to 128 bits).
const FILTER_BITS_PER_RPI: usize = 64;
/// The largest span of sighting intervals (about 455 days) for which the interval coverage is
/// kept as a table; beyond it only its ends are used. Phones keep 14 days of sightings.
const MAX_COVERAGE_SPAN: i64 = 1 << 16;

/// The sightings of one phone, indexed for matching. Built once per check; read by every
/// matching thread at once.
#[derive(Debug, Clone)]
pub struct SightingIndex {
    /// Every sighting, ordered by (RPI, time): the sightings of one RPI are contiguous.
    sightings: Vec<Sighting>,
    /// The distinct RPIs as big-endian integers, ascending (binary search on a hit).
    rpis: Vec<u128>,
    /// Where the sightings of `rpis[i]` start in `sightings`; one more entry at the end.
    starts: Vec<usize>,
    filter: Filter,
    coverage: Option<Coverage>,
}

impl SightingIndex {
    /// Indexes `sightings` (any order; duplicates are kept).
    pub fn new(sightings: &[Sighting]) -> Self {
        let mut sorted = sightings.to_vec();
        // Stable: sightings of one RPI at the same second keep their input order.
        sorted.sort_by_key(|s| (rpi_key(&s.rpi), s.at));
        let mut rpis = Vec::new();
        let mut starts = Vec::new();
        for (i, s) in sorted.iter().enumerate() {
            let key = rpi_key(&s.rpi);
            if rpis.last() != Some(&key) {
                rpis.push(key);
                starts.push(i);
            }
        }
        starts.push(sorted.len());
        let filter = Filter::new(rpis.iter().map(|&key| Rpi::from_bytes(key.to_be_bytes())));
        let coverage = Coverage::new(sorted.iter().map(|s| sighting_interval(s.at)));
        Self {
            sightings: sorted,
            rpis,
            starts,
            filter,
            coverage,
        }
    }

    /// How many sightings the index holds.
    pub fn len(&self) -> usize {
        self.sightings.len()
    }

    /// Whether the index holds no sighting.
    pub fn is_empty(&self) -> bool {
        self.sightings.is_empty()
    }

    /// How many distinct RPIs were heard.
    pub fn distinct_rpis(&self) -> usize {
        self.rpis.len()
    }

    /// The size of the filter, in bytes (what must stay in cache for matching to be fast).
    pub fn filter_bytes(&self) -> usize {
        self.filter.words.len() * 8
    }

    /// Every sighting of `rpi`, in time order (empty if it was never heard).
    pub fn sightings_of(&self, rpi: &Rpi) -> &[Sighting] {
        match self.rpis.binary_search(&rpi_key(rpi)) {
            Ok(i) => &self.sightings[self.starts[i]..self.starts[i + 1]],
            Err(_) => &[],
        }
    }

    /// Whether `rpi` may have been heard: never false for an RPI that was (no false
    /// negatives); true for an RPI that was not with a probability well under 0.1 %.
    #[inline]
    pub fn may_contain(&self, rpi: &Rpi) -> bool {
        self.filter.may_contain(rpi)
    }

    /// Whether any of `rpis` may have been heard (see [`Self::may_contain`]); nearly always no.
    #[inline]
    pub fn may_contain_any(&self, rpis: &[Rpi]) -> bool {
        self.filter.may_contain_any(rpis)
    }

    /// The part `lo ..= hi` of the intervals `first ..= last` that some sighting lies within
    /// the clock tolerance of, or `None` if no interval of the range has one. The RPIs of the
    /// other intervals cannot match, so they need not be derived.
    pub fn relevant_intervals(&self, first: i64, last: i64) -> Option<(i64, i64)> {
        let coverage = self.coverage.as_ref()?;
        coverage.relevant(first, last)
    }
}

/// An RPI as an integer whose order is the order of its bytes.
fn rpi_key(rpi: &Rpi) -> u128 {
    u128::from_be_bytes(rpi.to_bytes())
}

/// A blocked Bloom filter: three bits per RPI, all in one 64-bit word, so a probe is one load.
/// RPIs are AES outputs, uniformly random, so their own bits serve as the hash: the low bits of
/// the first eight bytes pick the word, the top 12 bits pick one of 4,096 fixed three-bit
/// masks. The mask table (32 KiB, cache-resident) replaces three variable shifts per probe:
/// a probe is about ten instructions, which is what bounds matching once AES runs on VAES.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    words: Vec<u64>,
    /// `words.len() - 1` (a power of two minus one).
    index_mask: usize,
    masks: &'static [u64; MASKS],
}

/// Entries of the mask table (indexed by the top 12 bits of an RPI's first eight bytes).
const MASKS: usize = 1 << 12;

impl Filter {
    /// A filter holding `rpis`.
    pub(super) fn new(rpis: impl ExactSizeIterator<Item = Rpi>) -> Self {
        Self::with_bits(rpis, FILTER_BITS_PER_RPI)
    }

    /// A filter holding `rpis`, with at least `bits_per_rpi` bits each (fewer: a smaller
    /// filter, and more false positives).
    pub(super) fn with_bits(rpis: impl ExactSizeIterator<Item = Rpi>, bits_per_rpi: usize) -> Self {
        let words_len = (rpis.len() * bits_per_rpi / 64).next_power_of_two().max(64);
        let mut filter = Self {
            words: vec![0; words_len],
            index_mask: words_len - 1,
            masks: MASK_TABLE.get_or_init(mask_table),
        };
        for rpi in rpis {
            let (word, mask) = filter.locate(&rpi);
            filter.words[word] |= mask;
        }
        filter
    }

    #[inline(always)]
    fn locate(&self, rpi: &Rpi) -> (usize, u64) {
        let h = u64::from_le_bytes(rpi.as_bytes()[..8].try_into().expect("8 of 16 bytes"));
        (
            (h as usize) & self.index_mask,
            self.masks[(h >> 52) as usize],
        )
    }

    #[inline(always)]
    pub(super) fn may_contain(&self, rpi: &Rpi) -> bool {
        let (word, mask) = self.locate(rpi);
        self.words[word] & mask == mask
    }

    /// Early exit on the (rare) hit: a predictable branch is cheaper than accumulating.
    #[inline(always)]
    fn may_contain_any(&self, rpis: &[Rpi]) -> bool {
        rpis.iter().any(|rpi| self.may_contain(rpi))
    }
}

/// The mask table, made once per process and shared by every filter.
static MASK_TABLE: std::sync::OnceLock<Box<[u64; MASKS]>> = std::sync::OnceLock::new();

/// 4,096 masks of three distinct bits each, from a fixed generator (splitmix64): any fixed
/// table works, since the same one builds and probes a filter.
fn mask_table() -> Box<[u64; MASKS]> {
    let mut state = 0x636f_636f_615f_6d61_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut masks = Box::new([0u64; MASKS]);
    for mask in masks.iter_mut() {
        while mask.count_ones() < 3 {
            *mask |= 1 << (next() & 63);
        }
    }
    masks
}

/// Which intervals have a sighting: for every interval from the first to the last sighting,
/// the nearest interval with a sighting at or after it, and at or before it.
#[derive(Debug, Clone)]
struct Coverage {
    /// The first and last interval with a sighting.
    min: i64,
    max: i64,
    /// `next[i]`/`prev[i]`: offsets from `min` of the nearest intervals with a sighting at or
    /// after / at or before `min + i`. Empty if the span is too long to tabulate.
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl Coverage {
    fn new(intervals: impl Iterator<Item = i64>) -> Option<Self> {
        let mut intervals: Vec<i64> = intervals.collect();
        intervals.sort_unstable();
        intervals.dedup();
        let (&min, &max) = (intervals.first()?, intervals.last()?);
        let span = max.checked_sub(min).filter(|&s| s <= MAX_COVERAGE_SPAN);
        let (mut next, mut prev) = (Vec::new(), Vec::new());
        if let Some(span) = span {
            let len = span as usize + 1;
            let mut covered = vec![false; len];
            for &i in &intervals {
                covered[(i - min) as usize] = true;
            }
            prev = vec![0; len];
            let mut last = 0;
            for (i, &c) in covered.iter().enumerate() {
                if c {
                    last = i as u32;
                }
                prev[i] = last;
            }
            next = vec![0; len];
            let mut following = span as u32;
            for (i, &c) in covered.iter().enumerate().rev() {
                if c {
                    following = i as u32;
                }
                next[i] = following;
            }
        }
        Some(Self {
            min,
            max,
            next,
            prev,
        })
    }

    fn relevant(&self, first: i64, last: i64) -> Option<(i64, i64)> {
        let t = TOLERANCE_INTERVALS;
        let mut lo = first.max(self.min.saturating_sub(t));
        let mut hi = last.min(self.max.saturating_add(t));
        if lo > hi || self.next.is_empty() {
            return (lo <= hi).then_some((lo, hi));
        }
        // Now min - t <= lo <= hi <= max + t, so both look-ups fall inside the table.
        let span = self.next.len() as i64 - 1;
        let after = self.min + i64::from(self.next[(lo - t - self.min).clamp(0, span) as usize]);
        let before = self.min + i64::from(self.prev[(hi + t - self.min).clamp(0, span) as usize]);
        lo = lo.max(after - t);
        hi = hi.min(before + t);
        (lo <= hi).then_some((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(intervals: &[i64]) -> Coverage {
        Coverage::new(intervals.iter().copied()).unwrap()
    }

    /// Brute force: the intervals of `first..=last` within the tolerance of a covered one.
    fn brute(intervals: &[i64], first: i64, last: i64) -> Option<(i64, i64)> {
        let near = |j: i64| {
            intervals
                .iter()
                .any(|&i| (i - j).abs() <= TOLERANCE_INTERVALS)
        };
        let lo = (first..=last).find(|&j| near(j))?;
        let hi = (first..=last).rev().find(|&j| near(j))?;
        Some((lo, hi))
    }

    #[test]
    fn relevant_intervals_match_brute_force() {
        let sets: [&[i64]; 4] = [&[100], &[100, 101, 300], &[0, 50, 51, 52, 400], &[-30, 7]];
        for set in sets {
            let c = coverage(set);
            for first in -80..450 {
                for len in [1, 2, 13, 25, 30, 144] {
                    let last = first + len - 1;
                    assert_eq!(
                        c.relevant(first, last),
                        brute(set, first, last),
                        "{set:?} {first}..={last}"
                    );
                }
            }
        }
    }

    #[test]
    fn long_spans_fall_back_to_the_ends() {
        let c = coverage(&[0, MAX_COVERAGE_SPAN + 1]);
        assert!(c.next.is_empty());
        assert_eq!(c.relevant(1000, 1143), Some((1000, 1143)));
        assert_eq!(c.relevant(-200, -13), None);
        assert_eq!(c.relevant(-200, -1), Some((-12, -1)));
    }

    #[test]
    fn the_filter_has_no_false_negatives() {
        let rpis: Vec<Rpi> = (0..5000u32)
            .map(|i| gaen::Rpik::from_bytes([9; 16]).rpi(gaen::IntervalNumber::new(i)))
            .collect();
        let filter = Filter::new(rpis.iter().copied());
        assert!(rpis.iter().all(|r| filter.may_contain(r)));
        let others = (5000..105_000u32)
            .filter(|&i| {
                filter
                    .may_contain(&gaen::Rpik::from_bytes([9; 16]).rpi(gaen::IntervalNumber::new(i)))
            })
            .count();
        assert!(others < 100, "{others} false positives in 100,000");
    }
}
