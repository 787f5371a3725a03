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
#[derive(Debug, thiserror::Error)]
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
    /// Deletes sightings made before `at` (unix seconds).
    fn delete_sightings_before(&mut self, at: i64) -> Result<u64, StorageError>;

    fn setting(&self, name: &str) -> Result<Option<String>, StorageError>;
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

/// A phone's storage in memory: for simulations and tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    teks: Vec<TekRecord>,
    sightings: Vec<Sighting>,
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
        self.sightings.extend_from_slice(sightings);
        Ok(())
    }

    fn sightings(&self) -> Result<Vec<Sighting>, StorageError> {
        Ok(self.sightings.clone())
    }

    fn delete_sightings_before(&mut self, at: i64) -> Result<u64, StorageError> {
        let before = self.sightings.len();
        self.sightings.retain(|s| s.at >= at);
        Ok((before - self.sightings.len()) as u64)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StorageError> {
        Ok(self.settings.get(name).cloned())
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
