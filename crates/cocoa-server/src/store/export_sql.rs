//! The export and retention statements, once for SQLite and once for PostgreSQL (one macro, as
//! in `sql.rs`).

use super::sql::{key_from_row, KeyRow, PostgresStore, SqliteStore};
use super::{
    ExportFileRow, ExportStore, NewExportFile, PaddingFn, PendingGroup, StoreError, StoredKey,
};
use crate::registration::NewKey;
use async_trait::async_trait;

type FileRow = (i64, String, i64, i64, i64, i64, Vec<u8>, i64, Option<i64>);

fn file_from_row(row: FileRow) -> ExportFileRow {
    let (
        id,
        region,
        key_day,
        start_timestamp,
        end_timestamp,
        shuffle_seed,
        padding,
        real_keys,
        created_ms,
    ) = row;
    ExportFileRow {
        id,
        region,
        key_day,
        start_timestamp,
        end_timestamp,
        shuffle_seed,
        padding,
        real_keys,
        created_ms,
    }
}

const FILE_COLUMNS: &str =
    "id, region, key_day, start_timestamp, end_timestamp, shuffle_seed, padding, real_keys, created_ms";
const KEY_COLUMNS: &str =
    "id, region, key_data, rolling_start, rolling_period, report_type, days_since_onset, release_at";

macro_rules! export_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl ExportStore for $store {
            async fn try_lease(&self, name: &str, holder: &str, now: i64, ttl: i64) -> Result<bool, StoreError> {
                let taken: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder \
                     RETURNING holder",
                )
                .bind(name)
                .bind(holder)
                .bind(now + ttl)
                .bind(now)
                .fetch_optional(&self.write)
                .await?;
                Ok(taken.is_some())
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn pending_groups(&self, now: i64) -> Result<Vec<PendingGroup>, StoreError> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT region, rolling_start / 144, COUNT(*) FROM diagnosis_keys \
                     WHERE export_file_id IS NULL AND release_at <= $1 \
                     GROUP BY region, rolling_start / 144 ORDER BY 1, 2",
                )
                .bind(now)
                .fetch_all(&self.write)
                .await?;
                Ok(rows.into_iter().map(|(region, key_day, keys)| PendingGroup { region, key_day, keys }).collect())
            }

            async fn plan_file(
                &self,
                file: &NewExportFile,
                now: i64,
                max_keys: i64,
                pad: PaddingFn<'_>,
            ) -> Result<Option<(ExportFileRow, Vec<StoredKey>)>, StoreError> {
                let mut tx = self.write.begin().await?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO export_files (region, key_day, start_timestamp, end_timestamp, shuffle_seed, padding, real_keys) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id",
                )
                .bind(&file.region)
                .bind(file.key_day)
                .bind(file.start_timestamp)
                .bind(file.end_timestamp)
                .bind(file.shuffle_seed)
                .bind(Vec::<u8>::new())
                .fetch_one(&mut *tx)
                .await?;
                // The outer `export_file_id IS NULL` makes a key taken meanwhile by a concurrent
                // planner drop out here (PostgreSQL re-checks it on the locked row).
                let rows: Vec<KeyRow> = sqlx::query_as(&format!(
                    "UPDATE diagnosis_keys SET export_file_id = $1 \
                     WHERE export_file_id IS NULL AND id IN ( \
                       SELECT id FROM diagnosis_keys WHERE export_file_id IS NULL AND region = $2 \
                       AND release_at <= $3 AND rolling_start >= $4 AND rolling_start < $5 \
                       ORDER BY id LIMIT $6) \
                     RETURNING {KEY_COLUMNS}"
                ))
                .bind(id)
                .bind(&file.region)
                .bind(now)
                .bind(file.key_day * 144)
                .bind(file.key_day * 144 + 144)
                .bind(max_keys)
                .fetch_all(&mut *tx)
                .await?;
                if rows.is_empty() {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let mut keys = rows.into_iter().map(key_from_row).collect::<Result<Vec<_>, _>>()?;
                keys.sort_by_key(|k| k.id);
                let padding = pad(&keys);
                sqlx::query("UPDATE export_files SET padding = $1, real_keys = $2 WHERE id = $3")
                    .bind(&padding)
                    .bind(keys.len() as i64)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                let row = ExportFileRow {
                    id,
                    region: file.region.clone(),
                    key_day: file.key_day,
                    start_timestamp: file.start_timestamp,
                    end_timestamp: file.end_timestamp,
                    shuffle_seed: file.shuffle_seed,
                    padding,
                    real_keys: keys.len() as i64,
                    created_ms: None,
                };
                Ok(Some((row, keys)))
            }

            async fn file_keys(&self, file_id: i64) -> Result<Vec<StoredKey>, StoreError> {
                let rows: Vec<KeyRow> = sqlx::query_as(&format!(
                    "SELECT {KEY_COLUMNS} FROM diagnosis_keys WHERE export_file_id = $1 ORDER BY id"
                ))
                .bind(file_id)
                .fetch_all(&self.write)
                .await?;
                rows.into_iter().map(key_from_row).collect()
            }

            async fn files(&self, region: Option<&str>) -> Result<Vec<ExportFileRow>, StoreError> {
                let rows: Vec<FileRow> = match region {
                    Some(r) => {
                        sqlx::query_as(&format!("SELECT {FILE_COLUMNS} FROM export_files WHERE region = $1 ORDER BY id"))
                            .bind(r)
                            .fetch_all(&self.write)
                            .await?
                    }
                    None => {
                        sqlx::query_as(&format!("SELECT {FILE_COLUMNS} FROM export_files ORDER BY id"))
                            .fetch_all(&self.write)
                            .await?
                    }
                };
                Ok(rows.into_iter().map(file_from_row).collect())
            }

            async fn mark_published(&self, file_id: i64, created_ms: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE export_files SET created_ms = $1 WHERE id = $2")
                    .bind(created_ms)
                    .bind(file_id)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn delete_files_ended_before(&self, cutoff: i64) -> Result<Vec<ExportFileRow>, StoreError> {
                let rows: Vec<FileRow> = sqlx::query_as(&format!(
                    "DELETE FROM export_files WHERE end_timestamp < $1 RETURNING {FILE_COLUMNS}"
                ))
                .bind(cutoff)
                .fetch_all(&self.write)
                .await?;
                let mut files: Vec<_> = rows.into_iter().map(file_from_row).collect();
                files.sort_by_key(|f| f.id);
                Ok(files)
            }

            async fn delete_keys_ended_before(&self, cutoff_interval: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM diagnosis_keys WHERE rolling_start + rolling_period < $1")
                    .bind(cutoff_interval)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn import_keys(&self, keys: &[NewKey]) -> Result<(), StoreError> {
                let mut tx = self.write.begin().await?;
                // 7 values a row: 4,000 rows stay under SQLite's limit of 32,766 variables.
                for chunk in keys.chunks(4000) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO diagnosis_keys (region, key_data, rolling_start, rolling_period, \
                         report_type, days_since_onset, release_at) ",
                    );
                    insert.push_values(chunk, |mut row, k| {
                        row.push_bind(k.region.clone())
                            .push_bind(k.key.as_bytes().to_vec())
                            .push_bind(i64::from(k.rolling_start.get()))
                            .push_bind(i64::from(k.rolling_period.get()))
                            .push_bind(i64::from(k.report_type.as_i32()))
                            .push_bind(i64::from(k.days_since_onset.get()))
                            .push_bind(k.release_at);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

export_store!(SqliteStore, sqlx::Sqlite);
export_store!(PostgresStore, sqlx::Postgres);
