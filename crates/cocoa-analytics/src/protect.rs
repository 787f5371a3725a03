//! Disclosure control, always on: every number this crate publishes is made here, or computed
//! from values made here.
//!
//! The rules, applied to every count before it can be published:
//!
//! 1. **Threshold.** A count is published only if it comes from at least `min_cell` respondents
//!    (default 10): its *contributors*, the distinct respondents counted in it (for a count of
//!    respondents, the count itself; for a count of flagged days, the respondents with a flagged
//!    day). A count that fails is *suppressed*: published as nothing (an empty CSV field). Zero
//!    fails, as it comes from no one. Near the threshold the bar is raised, per count, by
//!    0 ..= `spread − 1` (default `spread` = `round_to`), drawn from the count's *cell key*: the
//!    sum of its respondents' record keys (from each answer's id), mixed with a secret. So the
//!    same respondents always meet the same bar (tables are reproducible, and asking again
//!    teaches nothing), but a count that is published in one release and suppressed in the
//!    next (one answer fewer) does not reveal that it was exactly `min_cell` and is now one
//!    less. (Keys and mixing are not cryptographic; the secret only has to stay unpublished.) For the sensitive attribute (notified, flagged) the
//!    complement is held to the same threshold: the respondents of a published denominator
//!    that the numerator leaves out ("not notified") are a count of their own, never shown,
//!    tied to the other two by a sum; so "all but 3 of this group were notified" is never
//!    published either.
//! 2. **Complementary suppression.** Wherever counts add up to a total (a table's rows and its
//!    total; the rows and columns of a two-way table and its margins; the tables that share a
//!    total, like the daily counts and the person-days of the commuting table), no sum may have
//!    exactly one unknown member, or that member could be computed from the others: if it has,
//!    the next smallest known member is suppressed too (the total only if no member is left),
//!    repeated until no sum has exactly one unknown. All the tables of an analysis are one
//!    [`System`], solved at once, so a count has one fate in every table that shows it.
//! 3. **Rounding.** Every published count is rounded to a multiple of `round_to` (default 5):
//!    to one of the two nearest, up with probability remainder / `round_to` (unbiased), the
//!    draw fixed by the cell key, so the same respondents always round the same way. (A count
//!    without a key, like the registrations input, goes to the nearest multiple, a remainder of
//!    exactly half up: with 5, 12 → 10 and 13 → 15.) Shares, rates and every statistic are
//!    computed from the rounded counts, never from the exact ones, so they reveal nothing the
//!    rounded counts do not. Complementary suppression alone does not stop a differencing
//!    attack (tables of N and N − 1 answers), nor does rounding to the nearest multiple (a
//!    count whose rounding changes between the two is pinned down); keyed rounding and the
//!    spread of the threshold do (see the tests), so publish with `round_to` above 1.
//!
//! 4. **Differential privacy, optional** ([`crate::dp`], [`Protection::with_dp`]): the counts
//!    are noised before these rules, and the rules see the noised counts only (so the threshold
//!    is met by a noised count: it is private too); without record keys, as they are a function
//!    of who is in a count: a fixed threshold (no spread) and rounding to the nearest multiple.
//!    A published count then carries its noise variance ([`Published::noise_variance`]), and
//!    the intervals of [`Share`] and [`Rate`] add it.
//!
//! The unsafe state is unrepresentable: [`Published`] has a private field and no public
//! constructor but [`Published::EMPTY`], so a count reaches an output only through
//! [`Protection::single`], [`Protection::column`], [`Protection::grid`] or a [`System`];
//! [`Share`] and [`Rate`] are built from `Published` counts only, and the crate's tables from
//! these three.

use crate::dp::DpBudget;
use std::fmt;

/// Default threshold: a published count comes from at least this many respondents.
pub const DEFAULT_MIN_CELL: u64 = 10;
/// Default rounding base of published counts.
pub const DEFAULT_ROUND_TO: u64 = 5;

/// The disclosure rules' parameters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    min_cell: u64,
    round_to: u64,
    spread: u64,
    secret: u64,
    dp: Option<DpBudget>,
}

/// The secret stays out of logs.
impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protection")
            .field("min_cell", &self.min_cell)
            .field("round_to", &self.round_to)
            .field("spread", &self.spread)
            .field("dp", &self.dp)
            .finish_non_exhaustive()
    }
}

/// A parameter of [`Protection`] that would turn a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtectionError {
    #[error("min_cell must be at least 1")]
    MinCell,
    #[error("round_to must be at least 1")]
    RoundTo,
    #[error("the threshold's spread must be at least 1")]
    Spread,
}

impl Default for Protection {
    fn default() -> Self {
        Self {
            min_cell: DEFAULT_MIN_CELL,
            round_to: DEFAULT_ROUND_TO,
            spread: DEFAULT_ROUND_TO,
            secret: 0,
            dp: None,
        }
    }
}

/// A raw count offered for publication: input to the rules, never output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cell {
    /// The count that would be published.
    pub value: u64,
    /// How many distinct respondents it comes from.
    pub contributors: u64,
    /// The cell key: the wrapping sum of its contributors' record keys ([`record_key`]); 0
    /// for none (the plain threshold).
    pub key: u64,
}

impl Cell {
    /// A count of respondents (each counted once): its contributors are the count itself.
    pub fn count(value: u64) -> Self {
        Self {
            value,
            contributors: value,
            key: 0,
        }
    }

    /// A count of something else (days, say) that `contributors` respondents make up.
    pub fn of(value: u64, contributors: u64) -> Self {
        Self {
            value,
            contributors,
            key: 0,
        }
    }

    /// The same with its contributors' cell key.
    pub fn keyed(self, key: u64) -> Self {
        Self { key, ..self }
    }
}

/// A count that passed the rules (rounded), or a suppressed one. Only this module makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Published {
    value: Option<u64>,
    /// The variance of the DP noise in it, as `f64` bits (0: no noise).
    noise: u64,
}

impl Published {
    /// The rounded count, `None` when suppressed.
    pub fn get(self) -> Option<u64> {
        self.value
    }

    pub fn is_suppressed(self) -> bool {
        self.value.is_none()
    }

    /// As a number for statistics, `None` when suppressed.
    pub fn as_f64(self) -> Option<f64> {
        self.value.map(|v| v as f64)
    }

    /// The variance of the differential-privacy noise in the count (0 without DP, or when
    /// suppressed).
    pub fn noise_variance(self) -> f64 {
        f64::from_bits(self.noise)
    }

    /// The same count, holding DP noise of this variance (a suppressed one holds none).
    pub(crate) fn with_noise_variance(self, variance: f64) -> Self {
        if self.value.is_some() && variance.is_finite() && variance > 0.0 {
            Self {
                noise: variance.to_bits(),
                ..self
            }
        } else {
            self
        }
    }

    /// No value: what a table shows where it has nothing to show (a day missing from a side
    /// input, say). Publishes nothing, so anyone may use it.
    pub const EMPTY: Self = Self {
        value: None,
        noise: 0,
    };
}

/// The count, or nothing (an empty CSV field) when suppressed.
impl fmt::Display for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(v) => write!(f, "{v}"),
            None => Ok(()),
        }
    }
}

impl Protection {
    /// `min_cell` and `round_to` of at least 1 (1 and 1 publish exact counts of at least one
    /// respondent: for tests that check arithmetic, not for publication).
    pub fn new(min_cell: u64, round_to: u64) -> Result<Self, ProtectionError> {
        if min_cell == 0 {
            return Err(ProtectionError::MinCell);
        }
        if round_to == 0 {
            return Err(ProtectionError::RoundTo);
        }
        Ok(Self {
            min_cell,
            round_to,
            spread: round_to,
            secret: 0,
            dp: None,
        })
    }

    /// The threshold's spread (1: a fixed threshold).
    pub fn with_spread(self, spread: u64) -> Result<Self, ProtectionError> {
        if spread == 0 {
            return Err(ProtectionError::Spread);
        }
        Ok(Self { spread, ..self })
    }

    /// The secret mixed into cell keys (keep it, unpublished, to reproduce the tables).
    pub fn with_secret(self, secret: u64) -> Self {
        Self { secret, ..self }
    }

    pub fn spread(self) -> u64 {
        self.spread
    }

    /// Differential privacy on top of the rules, with this budget ([`crate::dp`]).
    pub fn with_dp(self, budget: DpBudget) -> Self {
        Self {
            dp: Some(budget),
            ..self
        }
    }

    /// The DP budget, if differential privacy is on.
    pub fn dp(self) -> Option<DpBudget> {
        self.dp
    }

    /// The bar a cell must meet: `min_cell`, raised by 0 ..= `spread − 1` from its key (not
    /// raised for key 0).
    pub fn threshold(self, cell: Cell) -> u64 {
        if cell.key == 0 {
            return self.min_cell;
        }
        self.min_cell + mix(cell.key ^ self.secret) % self.spread
    }

    pub fn min_cell(self) -> u64 {
        self.min_cell
    }

    pub fn round_to(self) -> u64 {
        self.round_to
    }

    /// A cell's published value: [`Protection::round`] without a key; with one, down or up to
    /// a multiple of `round_to`, up with probability remainder / `round_to`, the draw fixed by
    /// the key.
    pub fn round_cell(self, cell: Cell) -> u64 {
        if cell.key == 0 {
            return self.round(cell.value);
        }
        let draw = mix(mix(cell.key ^ self.secret)) % self.round_to;
        cell.value.saturating_add(draw) / self.round_to * self.round_to
    }

    /// To the nearest multiple of `round_to`, a remainder of exactly half up.
    pub fn round(self, value: u64) -> u64 {
        let rest = value % self.round_to;
        let down = value - rest;
        if rest > 0 && rest >= self.round_to - rest {
            down.saturating_add(self.round_to)
        } else {
            down
        }
    }

    /// Whether a cell passes the threshold rule by itself.
    pub fn passes(self, cell: Cell) -> bool {
        cell.contributors >= self.threshold(cell)
    }

    fn publish(self, cell: Cell, suppressed: bool) -> Published {
        if suppressed {
            Published::EMPTY
        } else {
            Published {
                value: Some(self.round_cell(cell)),
                noise: 0,
            }
        }
    }

    /// A count that is no member of a published sum (or whose sum's other members are not
    /// published): threshold and rounding.
    pub fn single(self, cell: Cell) -> Published {
        self.publish(cell, !self.passes(cell))
    }

    /// A one-way table: `cells` add up to `total`.
    pub fn column(self, cells: &[Cell], total: Cell) -> Column {
        let mut system = System::new(self);
        let ids = system.counts(cells);
        let total = system.count(total);
        system.sum(&ids, total);
        let solution = system.solve();
        Column {
            cells: ids.iter().map(|&i| solution.get(i)).collect(),
            total: solution.get(total),
        }
    }

    /// A two-way table with its margins: `raw.cells` (row-major) add up to `row_totals` along
    /// each row, to `col_totals` down each column, and both margins to `total`.
    ///
    /// # Panics
    /// If the lengths do not match `rows` and `cols`.
    pub fn grid(self, raw: &RawGrid) -> Grid {
        let mut system = System::new(self);
        let ids = system.grid(raw, false);
        system.solve().grid(&ids)
    }
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A respondent's record key, from its answer's id: FNV-1a of the bytes, mixed. Cell keys
/// are wrapping sums of these, so they can be accumulated in one pass and subtracted.
pub fn record_key(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// Where a count sits in a [`System`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId(usize);

/// Counts tied by sums, protected at once: every count added with [`System::count`] is held
/// to the threshold and may be published; one added with [`System::derived`] is never
/// published (its value is known to anyone from other published counts, or is not
/// sensitive) but takes part in the sums, and may be chosen to hide another.
#[derive(Debug, Clone)]
pub struct System {
    protection: Protection,
    cells: Vec<(Cell, bool)>,
    sums: Vec<(Vec<usize>, usize)>,
}

impl System {
    pub fn new(protection: Protection) -> Self {
        Self {
            protection,
            cells: Vec::new(),
            sums: Vec::new(),
        }
    }

    /// A count held to the threshold (published, or a sensitive complement).
    pub fn count(&mut self, cell: Cell) -> CellId {
        self.cells.push((cell, true));
        CellId(self.cells.len() - 1)
    }

    pub fn counts(&mut self, cells: &[Cell]) -> Vec<CellId> {
        cells.iter().map(|&c| self.count(c)).collect()
    }

    /// A count that is never published and not held to the threshold.
    pub fn derived(&mut self, cell: Cell) -> CellId {
        self.cells.push((cell, false));
        CellId(self.cells.len() - 1)
    }

    /// `members` add up to `total`.
    pub fn sum(&mut self, members: &[CellId], total: CellId) {
        self.sums
            .push((members.iter().map(|m| m.0).collect(), total.0));
    }

    /// A two-way table with its margins (see [`Protection::grid`]); its inner cells
    /// [`System::derived`] if `inner_derived`.
    ///
    /// # Panics
    /// If the lengths do not match `rows` and `cols`.
    pub fn grid(&mut self, raw: &RawGrid, inner_derived: bool) -> GridIds {
        let (rows, cols) = (raw.rows, raw.cols);
        assert_eq!(raw.cells.len(), rows * cols, "grid cells");
        assert_eq!(raw.row_totals.len(), rows, "grid row totals");
        assert_eq!(raw.col_totals.len(), cols, "grid column totals");
        let cells: Vec<CellId> = raw
            .cells
            .iter()
            .map(|&c| {
                if inner_derived {
                    self.derived(c)
                } else {
                    self.count(c)
                }
            })
            .collect();
        let row_totals = self.counts(&raw.row_totals);
        let col_totals = self.counts(&raw.col_totals);
        let total = self.count(raw.total);
        for r in 0..rows {
            self.sum(&cells[r * cols..(r + 1) * cols], row_totals[r]);
        }
        for c in 0..cols {
            let column: Vec<CellId> = (0..rows).map(|r| cells[r * cols + c]).collect();
            self.sum(&column, col_totals[c]);
        }
        self.sum(&row_totals, total);
        self.sum(&col_totals, total);
        GridIds {
            rows,
            cols,
            cells,
            row_totals,
            col_totals,
            total,
        }
    }

    /// Threshold, then complementary suppression to a fixed point, then rounding.
    pub fn solve(&self) -> Solution {
        let p = self.protection;
        let mut suppressed: Vec<bool> = self
            .cells
            .iter()
            .map(|&(c, held)| held && !p.passes(c))
            .collect();
        loop {
            let mut changed = false;
            for (members, total) in &self.sums {
                let unknown = members.iter().filter(|&&i| suppressed[i]).count()
                    + usize::from(suppressed[*total]);
                if unknown != 1 {
                    continue;
                }
                // The next smallest known member of the sum, else its total.
                let next = members
                    .iter()
                    .copied()
                    .filter(|&i| !suppressed[i])
                    .min_by_key(|&i| (self.cells[i].0.value, self.cells[i].0.contributors, i))
                    .unwrap_or(*total);
                suppressed[next] = true;
                changed = true;
            }
            if !changed {
                break;
            }
        }
        Solution {
            values: self
                .cells
                .iter()
                .zip(&suppressed)
                .map(|(&(cell, held), &s)| p.publish(cell, s || !held))
                .collect(),
        }
    }
}

/// The ids of a two-way table in a [`System`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridIds {
    pub rows: usize,
    pub cols: usize,
    /// Row-major.
    pub cells: Vec<CellId>,
    pub row_totals: Vec<CellId>,
    pub col_totals: Vec<CellId>,
    pub total: CellId,
}

impl GridIds {
    pub fn cell(&self, row: usize, col: usize) -> CellId {
        self.cells[row * self.cols + col]
    }
}

/// A solved [`System`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    values: Vec<Published>,
}

impl Solution {
    /// The published count (always [`Published::EMPTY`] for a derived one).
    pub fn get(&self, id: CellId) -> Published {
        self.values[id.0]
    }

    /// Records the variance of the DP noise in a published count (the noised cells it is the
    /// sum of); nothing for a suppressed one.
    pub(crate) fn set_noise_variance(&mut self, id: CellId, variance: f64) {
        let v = &mut self.values[id.0];
        *v = v.with_noise_variance(variance);
    }

    pub fn grid(&self, ids: &GridIds) -> Grid {
        Grid {
            rows: ids.rows,
            cols: ids.cols,
            cells: ids.cells.iter().map(|&i| self.get(i)).collect(),
            row_totals: ids.row_totals.iter().map(|&i| self.get(i)).collect(),
            col_totals: ids.col_totals.iter().map(|&i| self.get(i)).collect(),
            total: self.get(ids.total),
        }
    }
}

/// A one-way table after protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    cells: Vec<Published>,
    total: Published,
}

impl Column {
    pub fn cells(&self) -> &[Published] {
        &self.cells
    }

    pub fn cell(&self, i: usize) -> Published {
        self.cells[i]
    }

    pub fn total(&self) -> Published {
        self.total
    }
}

/// A two-way table offered for publication (row-major cells and both margins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawGrid {
    pub rows: usize,
    pub cols: usize,
    pub cells: Vec<Cell>,
    pub row_totals: Vec<Cell>,
    pub col_totals: Vec<Cell>,
    pub total: Cell,
}

/// A two-way table after protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    rows: usize,
    cols: usize,
    cells: Vec<Published>,
    row_totals: Vec<Published>,
    col_totals: Vec<Published>,
    total: Published,
}

impl Grid {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn cell(&self, row: usize, col: usize) -> Published {
        self.cells[row * self.cols + col]
    }

    pub fn row_total(&self, row: usize) -> Published {
        self.row_totals[row]
    }

    pub fn col_total(&self, col: usize) -> Published {
        self.col_totals[col]
    }

    pub fn total(&self) -> Published {
        self.total
    }
}

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A share of respondents (numerator / denominator of published counts) with its Wilson
/// score 95% interval, both computed from the rounded counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    numerator: Published,
    denominator: Published,
}

impl Share {
    pub fn new(numerator: Published, denominator: Published) -> Self {
        Self {
            numerator,
            denominator,
        }
    }

    pub fn numerator(self) -> Published {
        self.numerator
    }

    pub fn denominator(self) -> Published {
        self.denominator
    }

    /// Keyed rounding can round a numerator up and its denominator down: the numerator is
    /// then taken as the denominator (a share of at most 1).
    fn parts(self) -> Option<(f64, f64)> {
        let (x, n) = (self.numerator.as_f64()?, self.denominator.as_f64()?);
        (n > 0.0).then_some((x.min(n), n))
    }

    /// `None` when either count is suppressed (or the denominator rounds to 0).
    pub fn value(self) -> Option<f64> {
        self.parts().map(|(x, n)| x / n)
    }

    /// Wilson score interval, 95%. With DP noise in the counts, each side is widened to hold
    /// it too: `p ∓ √(side² + 1.96² s²)`, with the noise variance of the share by the delta
    /// method, `s² = (V_x + p² V_n) / n²` (numerator and denominator noise taken as
    /// independent; where the numerator is part of the denominator their covariance is
    /// positive, and this overstates the noise a little).
    pub fn interval(self) -> Option<(f64, f64)> {
        let (x, n) = self.parts()?;
        let (lo, hi) = wilson(x, n);
        let (vx, vn) = (
            self.numerator.noise_variance(),
            self.denominator.noise_variance(),
        );
        if vx == 0.0 && vn == 0.0 {
            return Some((lo, hi));
        }
        let p = x / n;
        let noise = Z95 * Z95 * (vx + p * p * vn) / (n * n);
        Some((
            (p - ((p - lo) * (p - lo) + noise).sqrt()).max(0.0),
            (p + ((hi - p) * (hi - p) + noise).sqrt()).min(1.0),
        ))
    }
}

/// Wilson score 95% interval of a share `x / n` (`n > 0`).
pub fn wilson(x: f64, n: f64) -> (f64, f64) {
    let p = x / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// A rate: `per` × events / exposure (flagged days per 1,000 person-days, say), both published
/// counts, with a 95% interval by the Poisson log-normal approximation
/// (`rate × exp(±1.96 √(φ / events))`), widened by a dispersion factor φ ≥ 1 when the events
/// cluster (0 events: `0 .. per × 3.69 φ / exposure`, the exact Poisson bound). With DP noise
/// in the counts, the log rate's variance adds `V_y / y² + V_t / t²` (the noise, by the delta
/// method, taken as independent: an overstatement where the events are part of the exposure),
/// and the bound for 0 events adds `1.96 √V_y` events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    numerator: Published,
    denominator: Published,
    per: f64,
    dispersion: f64,
}

impl Rate {
    pub fn new(numerator: Published, denominator: Published, per: f64) -> Self {
        Self {
            numerator,
            denominator,
            per,
            dispersion: 1.0,
        }
    }

    /// The same with a dispersion factor (values under 1 are taken as 1: never narrower than
    /// Poisson).
    pub fn with_dispersion(self, dispersion: f64) -> Self {
        Self {
            dispersion: if dispersion.is_finite() {
                dispersion.max(1.0)
            } else {
                1.0
            },
            ..self
        }
    }

    pub fn numerator(self) -> Published {
        self.numerator
    }

    pub fn denominator(self) -> Published {
        self.denominator
    }

    pub fn per(self) -> f64 {
        self.per
    }

    pub fn dispersion(self) -> f64 {
        self.dispersion
    }

    fn parts(self) -> Option<(f64, f64)> {
        let (y, t) = (self.numerator.as_f64()?, self.denominator.as_f64()?);
        (t > 0.0).then_some((y, t))
    }

    pub fn value(self) -> Option<f64> {
        self.parts().map(|(y, t)| self.per * y / t)
    }

    pub fn interval(self) -> Option<(f64, f64)> {
        let (y, t) = self.parts()?;
        let (vy, vt) = (
            self.numerator.noise_variance(),
            self.denominator.noise_variance(),
        );
        if y == 0.0 {
            if vy == 0.0 {
                return Some((0.0, self.per * 3.689 * self.dispersion / t));
            }
            return Some((
                0.0,
                self.per * (3.689 * self.dispersion + Z95 * vy.sqrt()) / t,
            ));
        }
        let rate = self.per * y / t;
        let noise = vy / (y * y) + vt / (t * t);
        let f = (Z95 * (self.dispersion / y + noise).sqrt()).exp();
        Some((rate / f, rate * f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_the_nearest_multiple_half_up() {
        let p = Protection::default();
        let got: Vec<u64> = (0..=16).map(|v| p.round(v)).collect();
        assert_eq!(
            got,
            [0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10, 10, 10, 15, 15, 15, 15]
        );
        let ten = Protection::new(1, 10).unwrap();
        assert_eq!((ten.round(14), ten.round(15), ten.round(16)), (10, 20, 20));
        assert_eq!(Protection::new(1, 1).unwrap().round(7), 7);
        assert_eq!(Protection::new(0, 5), Err(ProtectionError::MinCell));
        assert_eq!(Protection::new(10, 0), Err(ProtectionError::RoundTo));
        assert_eq!(
            Protection::default().with_spread(0),
            Err(ProtectionError::Spread)
        );
        // The bar rises by 0..=4 with the key, never below min_cell.
        let p = Protection::default();
        let bars: std::collections::BTreeSet<u64> = (1..200)
            .map(|k| p.threshold(Cell::count(12).keyed(record_key(&k.to_string()))))
            .collect();
        assert_eq!(bars.into_iter().collect::<Vec<_>>(), [10, 11, 12, 13, 14]);
        assert_eq!(p.threshold(Cell::count(12)), 10);
        assert!(!format!("{:?}", p.with_secret(42)).contains("42"));
        // Keyed rounding: 12 goes to 10 or 15, about 3 times in 5 to 10; a multiple stays.
        let rounded: Vec<u64> = (1..1001)
            .map(|k| p.round_cell(Cell::count(12).keyed(record_key(&k.to_string()))))
            .collect();
        assert!(rounded.iter().all(|&r| r == 10 || r == 15));
        let down = rounded.iter().filter(|&&r| r == 10).count();
        assert!((540..660).contains(&down), "{down}");
        assert_eq!(p.round_cell(Cell::count(15).keyed(7)), 15);
    }

    #[test]
    fn a_lone_suppressed_cell_takes_the_next_smallest_with_it() {
        let p = Protection::new(10, 1).unwrap();
        let cells = [
            Cell::count(30),
            Cell::count(3),
            Cell::count(12),
            Cell::count(40),
        ];
        let col = p.column(&cells, Cell::count(85));
        let got: Vec<Option<u64>> = col.cells().iter().map(|c| c.get()).collect();
        assert_eq!(got, [Some(30), None, None, Some(40)]);
        assert_eq!(col.total().get(), Some(85));
        // Two already suppressed: nothing more.
        let cells = [
            Cell::count(30),
            Cell::count(3),
            Cell::count(2),
            Cell::count(40),
        ];
        let col = p.column(&cells, Cell::count(75));
        assert_eq!(col.cell(0).get(), Some(30));
        assert_eq!(col.cell(3).get(), Some(40));
        // A single cell equal to its total: the total goes too.
        let col = p.column(&[Cell::count(3)], Cell::count(3));
        assert!(col.cell(0).is_suppressed() && col.total().is_suppressed());
        // A sensitive complement under the threshold suppresses the numerator, not the
        // denominator.
        let mut s = System::new(p);
        let respondents = s.count(Cell::count(52));
        let notified = s.count(Cell::count(50));
        let not_notified = s.count(Cell::count(2));
        s.sum(&[notified, not_notified], respondents);
        let solved = s.solve();
        assert_eq!(solved.get(respondents).get(), Some(52));
        assert!(solved.get(notified).is_suppressed());
        assert!(solved.get(not_notified).is_suppressed());
        // A derived count is never published.
        let mut s = System::new(p);
        let d = s.derived(Cell::count(100));
        assert!(s.solve().get(d).is_suppressed());
        // Contributors, not the value, meet the threshold.
        assert!(p.single(Cell::of(100, 9)).is_suppressed());
    }

    #[test]
    fn grids_leave_no_row_or_column_with_one_unknown() {
        let p = Protection::new(10, 1).unwrap();
        let v = [[50, 3, 40], [20, 30, 25]];
        let cells: Vec<Cell> = v.iter().flatten().map(|&x| Cell::count(x)).collect();
        let row_totals = v.iter().map(|r| Cell::count(r.iter().sum())).collect();
        let col_totals = (0..3).map(|c| Cell::count(v[0][c] + v[1][c])).collect();
        let g = p.grid(&RawGrid {
            rows: 2,
            cols: 3,
            cells,
            row_totals,
            col_totals,
            total: Cell::count(168),
        });
        assert!(g.cell(0, 1).is_suppressed());
        for r in 0..2 {
            let unknown = (0..3).filter(|&c| g.cell(r, c).is_suppressed()).count()
                + usize::from(g.row_total(r).is_suppressed());
            assert_ne!(unknown, 1);
        }
        for c in 0..3 {
            let unknown = (0..2).filter(|&r| g.cell(r, c).is_suppressed()).count()
                + usize::from(g.col_total(c).is_suppressed());
            assert_ne!(unknown, 1);
        }
    }

    #[test]
    fn shares_and_rates_use_the_rounded_counts() {
        let p = Protection::default();
        let s = Share::new(p.single(Cell::count(12)), p.single(Cell::count(99)));
        assert_eq!(s.value(), Some(10.0 / 100.0));
        let (lo, hi) = s.interval().unwrap();
        assert!(lo < 0.1 && 0.1 < hi);
        let r = Rate::new(
            p.single(Cell::of(20, 10)),
            p.single(Cell::of(1000, 50)),
            1000.0,
        );
        assert_eq!(r.value(), Some(20.0));
        let suppressed = Share::new(p.single(Cell::count(3)), p.single(Cell::count(99)));
        assert_eq!((suppressed.value(), suppressed.interval()), (None, None));
        assert_eq!(format!("{}", p.single(Cell::count(3))), "");
    }

    #[test]
    fn dp_noise_widens_the_intervals_and_nothing_else() {
        let p = Protection::new(1, 1).unwrap();
        let (x, n) = (p.single(Cell::count(30)), p.single(Cell::count(100)));
        let plain = Share::new(x, n);
        assert_eq!(plain.interval(), Some(wilson(30.0, 100.0)));
        assert_eq!(x.noise_variance(), 0.0);
        let noisy = Share::new(x.with_noise_variance(25.0), n.with_noise_variance(100.0));
        assert_eq!(noisy.value(), plain.value());
        let ((lo, hi), (wlo, whi)) = (noisy.interval().unwrap(), wilson(30.0, 100.0));
        assert!(lo < wlo && whi < hi);
        // s² = (25 + 0.09 × 100) / 100², each side widened in quadrature.
        let s2 = (25.0 + 0.09 * 100.0) / 1e4;
        assert!((hi - 0.3 - ((whi - 0.3).powi(2) + Z95 * Z95 * s2).sqrt()).abs() < 1e-15);
        // A suppressed count holds no noise.
        assert_eq!(
            Published::EMPTY.with_noise_variance(4.0).noise_variance(),
            0.0
        );

        let (y, t) = (p.single(Cell::count(20)), p.single(Cell::count(1000)));
        let (plo, phi) = Rate::new(y, t, 1000.0).interval().unwrap();
        let (nlo, nhi) = Rate::new(y.with_noise_variance(16.0), t, 1000.0)
            .interval()
            .unwrap();
        assert!(nlo < plo && phi < nhi);
        // log scale: √(1/20 + 16/400) instead of √(1/20).
        assert!((nhi / 20.0 - (Z95 * (0.05_f64 + 0.04).sqrt()).exp()).abs() < 1e-12);
        let zero = p.single(Cell::of(0, 5));
        let (_, bound) = Rate::new(zero, t, 1000.0).interval().unwrap();
        let (_, noisy_bound) = Rate::new(zero.with_noise_variance(9.0), t, 1000.0)
            .interval()
            .unwrap();
        assert!((noisy_bound - bound - 1000.0 * Z95 * 3.0 / 1000.0).abs() < 1e-12);
    }
}
