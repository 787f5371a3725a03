//! What the phone keeps, behind one trait: an SQLite implementation for a real device (one file)
//! and an in-memory one for the simulator. A check's results are committed in one step, so a
//! failed check changes nothing; the end-of-use wipe is one step too. The SQLite schema carries a
//! version (`PRAGMA user_version`): opening an older database migrates it, and a database written
//! by a newer version of the app is refused rather than misread.

use crate::types::{DailySummary, ExposureWindow, Sighting};
use gaen::{Aem, IntervalNumber, RollingPeriod, Rpi, Tek};
use std::collections::BTreeMap;
use std::path::Path;

/// A key this phone generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TekRecord {
    pub tek: Tek,
    pub rolling_start: IntervalNumber,
    pub rolling_period: RollingPeriod,
}

/// The storage failed or holds something unreadable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the phone's database was written by a newer version of the app (schema version {found}; \
         this version reads up to {supported}): use that version or a newer one (the database was \
         left as it is)"
    )]
    TooNew { found: u32, supported: u32 },
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// Everything a phone stores.
pub trait Storage {
    fn teks(&self) -> Result<Vec<TekRecord>, StorageError>;
    fn put_tek(&mut self, tek: &TekRecord) -> Result<(), StorageError>;
    /// Deletes keys that started before `interval`.
    fn delete_teks_before(&mut self, interval: IntervalNumber) -> Result<u64, StorageError>;

    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StorageError>;
    fn sightings(&self) -> Result<Vec<Sighting>, StorageError>;
    /// Calls `f` with every sighting, a slice at a time, in the order of [`Self::sightings`]
    /// (a storage that can hands them over without holding them all at once).
    fn visit_sightings(&self, f: &mut dyn FnMut(&[Sighting])) -> Result<(), StorageError> {
        f(&self.sightings()?);
        Ok(())
    }
    /// Calls `f` with the RPI of every sighting, a slice at a time, in the order of
    /// [`Self::sightings`]: all that probing many phones' sightings at once needs
    /// ([`crate::lab`]; [`MemoryStorage`] hands over its own array, without decoding).
    fn visit_rpis(&self, f: &mut dyn FnMut(&[Rpi])) -> Result<(), StorageError> {
        let mut rpis = Vec::new();
        self.visit_sightings(&mut |sightings| {
            rpis.clear();
            rpis.extend(sightings.iter().map(|s| s.rpi));
            f(&rpis);
        })
    }
    /// How many sightings are kept.
    fn sighting_count(&self) -> Result<usize, StorageError> {
        Ok(self.sightings()?.len())
    }
    /// Deletes sightings made before `at` (unix seconds).
    fn delete_sightings_before(&mut self, at: i64) -> Result<u64, StorageError>;

    fn setting(&self, name: &str) -> Result<Option<String>, StorageError>;
    /// Whether the setting `name` is `value`: what [`Self::setting`] would answer, compared
    /// (a storage that can compares without a copy).
    fn setting_is(&self, name: &str, value: &str) -> Result<bool, StorageError> {
        Ok(self.setting(name)?.as_deref() == Some(value))
    }
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StorageError>;

    /// Stored daily summaries, by date.
    fn daily_summaries(&self) -> Result<Vec<DailySummary>, StorageError>;
    /// Stored exposure windows, oldest first.
    fn exposure_windows(&self) -> Result<Vec<ExposureWindow>, StorageError>;

    /// Stores a check's results in one step: summaries replace those of the same dates, windows
    /// are added, settings are set.
    fn commit_check(
        &mut self,
        summaries: &[DailySummary],
        windows: &[ExposureWindow],
        settings: &[(String, String)],
    ) -> Result<(), StorageError>;

    /// Deletes everything, in one step: on failure nothing is deleted.
    fn wipe(&mut self) -> Result<(), StorageError>;
}

/// A phone's storage in memory: for simulations and tests. Sightings are kept packed, 27 bytes
/// each with no allocation of their own ([`PACKED_SIGHTING_BYTES`],
/// [`MemoryStorage::sighting_bytes`]), and the memory of pruned ones is given back.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    teks: Vec<TekRecord>,
    sightings: SightingLog,
    settings: BTreeMap<String, String>,
    summaries: BTreeMap<i64, DailySummary>,
    windows: Vec<ExposureWindow>,
}

impl Storage for MemoryStorage {
    fn teks(&self) -> Result<Vec<TekRecord>, StorageError> {
        Ok(self.teks.clone())
    }

    fn put_tek(&mut self, tek: &TekRecord) -> Result<(), StorageError> {
        self.teks.retain(|t| t.rolling_start != tek.rolling_start);
        self.teks.push(*tek);
        self.teks.sort_by_key(|t| t.rolling_start);
        Ok(())
    }

    fn delete_teks_before(&mut self, interval: IntervalNumber) -> Result<u64, StorageError> {
        let before = self.teks.len();
        self.teks.retain(|t| t.rolling_start >= interval);
        Ok((before - self.teks.len()) as u64)
    }

    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StorageError> {
        self.sightings.extend(sightings);
        Ok(())
    }

    fn sightings(&self) -> Result<Vec<Sighting>, StorageError> {
        let mut all = Vec::with_capacity(self.sightings.len());
        self.sightings
            .visit(&mut |chunk| all.extend_from_slice(chunk));
        Ok(all)
    }

    fn visit_sightings(&self, f: &mut dyn FnMut(&[Sighting])) -> Result<(), StorageError> {
        self.sightings.visit(f);
        Ok(())
    }

    fn visit_rpis(&self, f: &mut dyn FnMut(&[Rpi])) -> Result<(), StorageError> {
        f(&self.sightings.rpis);
        Ok(())
    }

    fn sighting_count(&self) -> Result<usize, StorageError> {
        Ok(self.sightings.len())
    }

    fn delete_sightings_before(&mut self, at: i64) -> Result<u64, StorageError> {
        Ok(self.sightings.delete_before(at) as u64)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StorageError> {
        Ok(self.settings.get(name).cloned())
    }

    fn setting_is(&self, name: &str, value: &str) -> Result<bool, StorageError> {
        Ok(self.settings.get(name).map(String::as_str) == Some(value))
    }

    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StorageError> {
        self.settings.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn daily_summaries(&self) -> Result<Vec<DailySummary>, StorageError> {
        Ok(self.summaries.values().copied().collect())
    }

    fn exposure_windows(&self) -> Result<Vec<ExposureWindow>, StorageError> {
        Ok(self.windows.clone())
    }

    fn commit_check(
        &mut self,
        summaries: &[DailySummary],
        windows: &[ExposureWindow],
        settings: &[(String, String)],
    ) -> Result<(), StorageError> {
        for s in summaries {
            self.summaries.insert(s.date, *s);
        }
        self.windows.extend_from_slice(windows);
        for (k, v) in settings {
            self.settings.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn wipe(&mut self) -> Result<(), StorageError> {
        *self = Self::default();
        Ok(())
    }
}

impl MemoryStorage {
    /// The bytes the sightings take (their buffer's capacity included): about
    /// [`PACKED_SIGHTING_BYTES`] per sighting.
    pub fn sighting_bytes(&self) -> usize {
        self.sightings.bytes()
    }
}

/// Bytes of one sighting in a [`MemoryStorage`] (a [`Sighting`] value takes 48): its RPI, and
/// the rest packed.
pub const PACKED_SIGHTING_BYTES: usize =
    std::mem::size_of::<Rpi>() + std::mem::size_of::<PackedRest>();

/// A sighting but its RPI, in 11 bytes: the AEM and the RSSI as they are, the time as 32-bit
/// unix seconds and the previous scan as the seconds before it (16 bits). The rare sighting
/// whose times do not fit (before 1970 or after 2106, a previous scan more than 18 hours before
/// it or after it) is marked, and its times are kept in [`SightingLog::wide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedRest {
    aem: [u8; 4],
    /// Unix seconds, little-endian `u32`.
    at: [u8; 4],
    /// Seconds from the previous scan to `at`, little-endian `u16`, or one of the markers.
    since_previous: [u8; 2],
    rssi: i8,
}

/// `since_previous` when the previous scan is unknown.
const NO_PREVIOUS: u16 = u16::MAX;
/// `since_previous` when the times are in [`SightingLog::wide`].
const WIDE_TIMES: u16 = u16::MAX - 1;

/// The times of a sighting that do not fit in a [`PackedRest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WideTimes {
    at: i64,
    previous_scan_at: Option<i64>,
}

/// Sightings in insertion order: their RPIs in one array (what matching many phones at once
/// reads, without decoding: [`Storage::visit_rpis`]), the rest packed in another.
#[derive(Debug, Clone, Default)]
struct SightingLog {
    rpis: Vec<Rpi>,
    rest: Vec<PackedRest>,
    /// The times of the sightings marked [`WIDE_TIMES`], in their order.
    wide: Vec<WideTimes>,
}

/// Sightings decoded per call of a visitor.
const VISIT_CHUNK: usize = 256;

impl PackedRest {
    fn pack(s: &Sighting) -> (Self, Option<WideTimes>) {
        let at = u32::try_from(s.at).ok();
        let since_previous = match s.previous_scan_at {
            None => Some(NO_PREVIOUS),
            Some(previous) => {
                s.at.checked_sub(previous)
                    .and_then(|d| u16::try_from(d).ok())
                    .filter(|&d| d < WIDE_TIMES)
            }
        };
        let (at, since_previous, wide) = match (at, since_previous) {
            (Some(at), Some(since)) => (at, since, None),
            _ => (
                0,
                WIDE_TIMES,
                Some(WideTimes {
                    at: s.at,
                    previous_scan_at: s.previous_scan_at,
                }),
            ),
        };
        let packed = Self {
            aem: s.aem.to_bytes(),
            at: at.to_le_bytes(),
            since_previous: since_previous.to_le_bytes(),
            rssi: s.rssi,
        };
        (packed, wide)
    }

    fn is_wide(&self) -> bool {
        u16::from_le_bytes(self.since_previous) == WIDE_TIMES
    }

    /// The sighting of `rpi`, with the wide times if it is marked (the next of
    /// [`SightingLog::wide`]).
    fn unpack(&self, rpi: Rpi, wide: impl FnOnce() -> WideTimes) -> Sighting {
        let (at, previous_scan_at) = match u16::from_le_bytes(self.since_previous) {
            WIDE_TIMES => {
                let w = wide();
                (w.at, w.previous_scan_at)
            }
            since => {
                let at = i64::from(u32::from_le_bytes(self.at));
                (at, (since != NO_PREVIOUS).then(|| at - i64::from(since)))
            }
        };
        Sighting {
            at,
            rssi: self.rssi,
            rpi,
            aem: Aem::from_bytes(self.aem),
            previous_scan_at,
        }
    }
}

/// Reserves room for `more` elements, growing by a quarter rather than doubling (a phone's
/// sightings are most of its memory).
fn grow<T>(v: &mut Vec<T>, more: usize) {
    if v.len() + more > v.capacity() {
        v.reserve_exact(more.max(v.capacity() / 4).max(16));
    }
}

/// Gives back memory a shrunken vector no longer needs.
fn trim<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() + v.len() / 2 + 16 {
        v.shrink_to(v.len() + v.len() / 4);
    }
}

impl SightingLog {
    fn len(&self) -> usize {
        self.rpis.len()
    }

    fn bytes(&self) -> usize {
        self.rpis.capacity() * std::mem::size_of::<Rpi>()
            + self.rest.capacity() * std::mem::size_of::<PackedRest>()
            + self.wide.capacity() * std::mem::size_of::<WideTimes>()
    }

    fn extend(&mut self, sightings: &[Sighting]) {
        grow(&mut self.rpis, sightings.len());
        grow(&mut self.rest, sightings.len());
        for s in sightings {
            let (rest, wide) = PackedRest::pack(s);
            self.rpis.push(s.rpi);
            self.rest.push(rest);
            self.wide.extend(wide);
        }
    }

    fn visit(&self, f: &mut dyn FnMut(&[Sighting])) {
        let mut wide = self.wide.iter();
        let mut buffer = Vec::with_capacity(VISIT_CHUNK.min(self.len()));
        for (rpis, rest) in self
            .rpis
            .chunks(VISIT_CHUNK)
            .zip(self.rest.chunks(VISIT_CHUNK))
        {
            buffer.clear();
            buffer.extend(rpis.iter().zip(rest).map(|(&rpi, p)| {
                p.unpack(rpi, || {
                    *wide.next().expect("a wide entry per marked sighting")
                })
            }));
            f(&buffer);
        }
    }

    /// Deletes the sightings made before `at`; returns how many. Memory no longer needed is
    /// given back.
    fn delete_before(&mut self, at: i64) -> usize {
        // Sightings are recorded nearly in time order, so the old ones are all near the front:
        // one pass reads the times to find the last old one; only the sightings up to it are
        // filtered (in place), and the rest moves down once. (A filter over the whole log took
        // a simulated city a third of its recording time.)
        let mut end = 0;
        let mut head_wide = 0;
        let mut wide = 0;
        for (i, p) in self.rest.iter().enumerate() {
            let time = if p.is_wide() {
                wide += 1;
                self.wide[wide - 1].at
            } else {
                i64::from(u32::from_le_bytes(p.at))
            };
            if time < at {
                end = i + 1;
                head_wide = wide;
            }
        }
        if end == 0 {
            return 0;
        }
        let mut kept_wide = Vec::new();
        let mut wide = 0;
        let mut w = 0;
        for r in 0..end {
            let p = self.rest[r];
            let keep = if p.is_wide() {
                wide += 1;
                let times = self.wide[wide - 1];
                if times.at >= at {
                    kept_wide.push(times);
                }
                times.at >= at
            } else {
                i64::from(u32::from_le_bytes(p.at)) >= at
            };
            if keep {
                self.rpis[w] = self.rpis[r];
                self.rest[w] = p;
                w += 1;
            }
        }
        self.rpis.drain(w..end);
        self.rest.drain(w..end);
        self.wide.splice(..head_wide, kept_wide);
        trim(&mut self.rpis);
        trim(&mut self.rest);
        trim(&mut self.wide);
        end - w
    }
}

/// A phone's storage in one SQLite file.
#[derive(Debug)]
pub struct SqliteStorage {
    db: rusqlite::Connection,
}

/// Migration 1: the schema as it was before versions (`IF NOT EXISTS`, so that a database from
/// then, at version 0 with its tables, is simply stamped).
const MIGRATION_1: &str = "
CREATE TABLE IF NOT EXISTS teks (rolling_start INTEGER PRIMARY KEY, rolling_period INTEGER NOT NULL, tek BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sightings (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, rssi INTEGER NOT NULL,
    rpi BLOB NOT NULL, aem BLOB NOT NULL, previous_scan_at INTEGER);
CREATE INDEX IF NOT EXISTS sightings_at ON sightings (at);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS daily_summaries (date INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exposure_windows (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
";

/// The schema's migrations, in order: migration `n` (1-based) takes a database from version `n - 1`
/// to `n`. Append only; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[MIGRATION_1];

/// The schema version this code writes (and the newest it reads).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn schema_version(db: &rusqlite::Connection) -> Result<u32, StorageError> {
    Ok(db.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings `db` to version `migrations.len()`, all pending migrations in one transaction (taken
/// before the version is read, so two processes opening one file do not both migrate it).
fn migrate(db: &mut rusqlite::Connection, migrations: &[&str]) -> Result<(), StorageError> {
    let supported = u32::try_from(migrations.len()).expect("a handful of migrations");
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = schema_version(&tx)?;
    if found > supported {
        return Err(StorageError::TooNew { found, supported });
    }
    if found == supported {
        return Ok(());
    }
    for sql in &migrations[found as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {supported}"))?;
    tx.commit()?;
    Ok(())
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`. It holds this phone's keys: a new
    /// database is created readable by its owner only (SQLite gives its WAL and shared-memory
    /// files the database file's mode).
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut create = std::fs::OpenOptions::new();
        create.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            create.mode(0o600);
        }
        match create.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StorageError::Backend(format!("{}: {e}", path.display()))),
        }
        let mut db = rusqlite::Connection::open(path)?;
        // Refuse a newer database before changing anything in it (even its journal mode).
        let found = schema_version(&db)?;
        if found > SCHEMA_VERSION {
            return Err(StorageError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        migrate(&mut db, MIGRATIONS)?;
        Ok(Self { db })
    }

    /// Closes the database (so that the file can be deleted).
    pub fn close(self) -> Result<(), StorageError> {
        self.db.close().map_err(|(_, e)| e.into())
    }
}

fn blob<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], StorageError> {
    bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("{what} has the wrong length")))
}

impl Storage for SqliteStorage {
    fn teks(&self) -> Result<Vec<TekRecord>, StorageError> {
        let mut q = self.db.prepare(
            "SELECT rolling_start, rolling_period, tek FROM teks ORDER BY rolling_start",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (start, period, tek) = row?;
            Ok(TekRecord {
                tek: Tek::from_bytes(blob(tek, "a key")?),
                rolling_start: IntervalNumber::from_i64(start)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                rolling_period: RollingPeriod::new(period)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
            })
        })
        .collect()
    }

    fn put_tek(&mut self, tek: &TekRecord) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT OR REPLACE INTO teks (rolling_start, rolling_period, tek) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                i64::from(tek.rolling_start.get()),
                i64::from(tek.rolling_period.get()),
                tek.tek.as_bytes().to_vec()
            ],
        )?;
        Ok(())
    }

    fn delete_teks_before(&mut self, interval: IntervalNumber) -> Result<u64, StorageError> {
        Ok(self.db.execute(
            "DELETE FROM teks WHERE rolling_start < ?1",
            [i64::from(interval.get())],
        )? as u64)
    }

    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StorageError> {
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO sightings (at, rssi, rpi, aem, previous_scan_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for s in sightings {
                insert.execute(rusqlite::params![
                    s.at,
                    i64::from(s.rssi),
                    s.rpi.as_bytes().to_vec(),
                    s.aem.as_bytes().to_vec(),
                    s.previous_scan_at
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn sightings(&self) -> Result<Vec<Sighting>, StorageError> {
        let mut q = self.db.prepare(
            "SELECT at, rssi, rpi, aem, previous_scan_at FROM sightings ORDER BY at, id",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (at, rssi, rpi, aem, previous_scan_at) = row?;
            Ok(Sighting {
                at,
                rssi: i8::try_from(rssi)
                    .map_err(|_| StorageError::Corrupt("an RSSI out of range".into()))?,
                rpi: Rpi::from_bytes(blob(rpi, "an RPI")?),
                aem: Aem::from_bytes(blob(aem, "an AEM")?),
                previous_scan_at,
            })
        })
        .collect()
    }

    fn sighting_count(&self) -> Result<usize, StorageError> {
        let count: i64 = self
            .db
            .query_row("SELECT count(*) FROM sightings", [], |r| r.get(0))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn delete_sightings_before(&mut self, at: i64) -> Result<u64, StorageError> {
        Ok(self
            .db
            .execute("DELETE FROM sightings WHERE at < ?1", [at])? as u64)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StorageError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .db
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)",
            [name, value],
        )?;
        Ok(())
    }

    fn daily_summaries(&self) -> Result<Vec<DailySummary>, StorageError> {
        let mut q = self
            .db
            .prepare("SELECT json FROM daily_summaries ORDER BY date")?;
        let rows = q.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|json| {
            serde_json::from_str(&json?).map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .collect()
    }

    fn exposure_windows(&self) -> Result<Vec<ExposureWindow>, StorageError> {
        let mut q = self
            .db
            .prepare("SELECT json FROM exposure_windows ORDER BY id")?;
        let rows = q.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|json| {
            serde_json::from_str(&json?).map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .collect()
    }

    fn commit_check(
        &mut self,
        summaries: &[DailySummary],
        windows: &[ExposureWindow],
        settings: &[(String, String)],
    ) -> Result<(), StorageError> {
        let tx = self.db.transaction()?;
        for s in summaries {
            let json = serde_json::to_string(s).expect("plain values serialise");
            tx.execute(
                "INSERT OR REPLACE INTO daily_summaries (date, json) VALUES (?1, ?2)",
                rusqlite::params![s.date, json],
            )?;
        }
        for w in windows {
            let json = serde_json::to_string(w).expect("plain values serialise");
            tx.execute("INSERT INTO exposure_windows (json) VALUES (?1)", [json])?;
        }
        for (k, v) in settings {
            tx.execute(
                "INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)",
                [k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn wipe(&mut self) -> Result<(), StorageError> {
        let tx = self.db.transaction()?;
        tx.execute_batch(
            "DELETE FROM teks; DELETE FROM sightings; DELETE FROM settings; DELETE FROM daily_summaries; DELETE FROM exposure_windows;",
        )?;
        tx.commit()?;
        // Not in the transaction (SQLite cannot): rewrites the file so that the deleted rows do
        // not linger in free pages. The schema (and its version) stays.
        self.db.execute_batch("VACUUM;")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_sightings_keep_every_value_and_their_order() {
        let sighting = |at: i64, previous_scan_at: Option<i64>, i: u8| Sighting {
            at,
            rssi: -(i as i8),
            rpi: Rpi::from_bytes([i; 16]),
            aem: Aem::from_bytes([i, 1, 2, 3]),
            previous_scan_at,
        };
        let all = vec![
            sighting(1_760_000_000, Some(1_760_000_000 - 300), 1),
            sighting(1_760_000_000, None, 2),
            sighting(1_760_000_000, Some(1_760_000_000 - 65_533), 3),
            sighting(1_760_000_000, Some(1_760_000_000 - 65_534), 4), // too far back: wide
            sighting(1_760_000_000, Some(1_760_000_001), 5),          // after it: wide
            sighting(-5, Some(-300), 6),                              // before 1970: wide
            sighting(i64::from(u32::MAX) + 1, None, 7),               // after 2106: wide
            sighting(0, Some(0), 8),
            sighting(i64::MIN, Some(i64::MAX), 9),
            sighting(u32::MAX.into(), Some(0), 10), // 136 years back: wide
        ];
        let mut log = SightingLog::default();
        log.extend(&all[..4]);
        log.extend(&all[4..]);
        let mut back = Vec::new();
        log.visit(&mut |chunk| back.extend_from_slice(chunk));
        assert_eq!(back, all);
        assert_eq!(log.wide.len(), 6);
        assert_eq!(log.delete_before(0), 2);
        let mut kept = Vec::new();
        log.visit(&mut |chunk| kept.extend_from_slice(chunk));
        let expected: Vec<Sighting> = all.iter().filter(|s| s.at >= 0).copied().collect();
        assert_eq!(kept, expected);
        assert_eq!(log.wide.len(), 4);
        assert_eq!(PACKED_SIGHTING_BYTES, 27);
    }

    #[test]
    fn pruned_sightings_give_their_memory_back() {
        let mut log = SightingLog::default();
        let many: Vec<Sighting> = (0..10_000)
            .map(|i| Sighting {
                at: 1_000_000 + i,
                rssi: -70,
                rpi: Rpi::from_bytes([(i % 251) as u8; 16]),
                aem: Aem::from_bytes([0; 4]),
                previous_scan_at: Some(1_000_000 + i - 240),
            })
            .collect();
        for chunk in many.chunks(7) {
            log.extend(chunk);
        }
        assert!(log.bytes() <= 10_000 * PACKED_SIGHTING_BYTES * 5 / 4 + 1024);
        assert_eq!(log.delete_before(1_000_000 + 9_000), 9_000);
        assert!(log.bytes() <= 1_000 * PACKED_SIGHTING_BYTES * 3 / 2 + 1024);
    }

    proptest::proptest! {
        /// Pruning keeps exactly the sightings at or after the cut, in their order, whether the
        /// old ones are a prefix (the fast path) or scattered (the general one), wide or not.
        #[test]
        fn pruning_keeps_exactly_the_later_sightings(
            times in proptest::collection::vec((0i64..40, proptest::bool::ANY), 0..60),
            sorted in proptest::bool::ANY,
            cut in 0i64..45,
        ) {
            let mut times = times;
            if sorted {
                times.sort();
            }
            let all: Vec<Sighting> = times
                .iter()
                .enumerate()
                .map(|(i, &(t, wide))| Sighting {
                    at: 1_000_000 + t,
                    rssi: -60,
                    rpi: Rpi::from_bytes([i as u8; 16]),
                    aem: Aem::from_bytes([0; 4]),
                    // A previous scan too far back for the packed form: the sighting is wide.
                    previous_scan_at: Some(1_000_000 + t - if wide { 70_000 } else { 240 }),
                })
                .collect();
            let mut log = SightingLog::default();
            log.extend(&all);
            let expected: Vec<Sighting> =
                all.iter().filter(|s| s.at >= 1_000_000 + cut).copied().collect();
            proptest::prop_assert_eq!(
                log.delete_before(1_000_000 + cut),
                all.len() - expected.len()
            );
            let mut kept = Vec::new();
            log.visit(&mut |chunk| kept.extend_from_slice(chunk));
            proptest::prop_assert_eq!(kept, expected);
            proptest::prop_assert_eq!(
                log.wide.len(),
                log.rest.iter().filter(|p| p.is_wide()).count()
            );
        }
    }

    #[test]
    fn migrations_run_in_order_once_and_stamp_the_version() {
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        migrate(&mut db, &[MIGRATION_1]).unwrap();
        assert_eq!(schema_version(&db).unwrap(), 1);
        db.execute("INSERT INTO settings (name, value) VALUES ('a', '1')", [])
            .unwrap();
        let second = "ALTER TABLE settings ADD COLUMN note TEXT NOT NULL DEFAULT 'migrated'";
        migrate(&mut db, &[MIGRATION_1, second]).unwrap();
        migrate(&mut db, &[MIGRATION_1, second]).unwrap(); // nothing left to do: not run twice
        assert_eq!(schema_version(&db).unwrap(), 2);
        let note: String = db
            .query_row("SELECT note FROM settings WHERE name = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(note, "migrated");
        assert!(matches!(
            migrate(&mut db, &[MIGRATION_1]),
            Err(StorageError::TooNew {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn a_failed_migration_changes_nothing() {
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        assert!(migrate(&mut db, &[MIGRATION_1, "CREATE TABLE broken ("]).is_err());
        assert_eq!(schema_version(&db).unwrap(), 0);
        let tables: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
