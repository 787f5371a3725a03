//! When each scheduled job last completed, on any replica sharing the database: so that every
//! replica's `/healthz` can tell a stale export, not only the one that happens to hold the lease.

use super::{PostgresStore, SqliteStore, StoreError};
use async_trait::async_trait;

/// The last completion of each job.
#[async_trait]
pub trait JobLog: Send + Sync + 'static {
    /// Records that job `name` completed at `at` (unix seconds).
    async fn record_job_success(&self, name: &str, at: i64) -> Result<(), StoreError>;

    /// When job `name` last completed, if ever.
    async fn last_job_success(&self, name: &str) -> Result<Option<i64>, StoreError>;
}

macro_rules! job_log {
    ($store:ty) => {
        #[async_trait]
        impl JobLog for $store {
            async fn record_job_success(&self, name: &str, at: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO job_runs (name, last_success_at) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET last_success_at = excluded.last_success_at",
                )
                .bind(name)
                .bind(at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn last_job_success(&self, name: &str) -> Result<Option<i64>, StoreError> {
                let row: Option<(i64,)> =
                    sqlx::query_as("SELECT last_success_at FROM job_runs WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.read)
                        .await?;
                Ok(row.map(|(at,)| at))
            }
        }
    };
}

job_log!(SqliteStore);
job_log!(PostgresStore);
