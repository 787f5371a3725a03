//! The global budget of failed processing-number attempts, shared by every replica that uses the
//! same database. Replicas take *failure slots* from it in small chunks (see
//! `crate::ratelimit::SharedSlots`, which hands them out one attempt at a time); the store only
//! counts how many it has granted per window and never grants past the limit. So under any
//! concurrency, on any number of replicas, at most the configured number of wrong numbers is
//! evaluated per window, while a right number costs the database nothing (its slot is reused).
//!
//! PostgreSQL keeps one row per window (no client data). An SQLite database serves one process,
//! so that process's memory is the shared place.

use super::{PostgresStore, SqliteStore, StoreError};
use async_trait::async_trait;

/// A shared count of failure slots granted per window.
#[async_trait]
pub trait FailureBudget: Send + Sync + 'static {
    /// Grants `want` more slots in the window starting at `window_start` if that keeps the
    /// window's total at most `limit`; `false` (and nothing granted) otherwise. All or nothing.
    async fn grant_failure_slots(
        &self,
        window_start: i64,
        want: u32,
        limit: u32,
    ) -> Result<bool, StoreError>;

    /// Forgets windows that started before `before`. Returns how many.
    async fn purge_failure_budget(&self, before: i64) -> Result<u64, StoreError>;
}

/// One process's budget, for SQLite: slots granted per window.
#[derive(Debug, Default)]
pub struct MemoryBudget(std::sync::Mutex<std::collections::BTreeMap<i64, u64>>);

#[async_trait]
impl FailureBudget for SqliteStore {
    async fn grant_failure_slots(
        &self,
        window_start: i64,
        want: u32,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut windows = self.budget.0.lock().unwrap_or_else(|e| e.into_inner());
        // Past windows go with retention (`purge_failure_budget`), as on PostgreSQL.
        let granted = windows.entry(window_start).or_default();
        if *granted + u64::from(want) > u64::from(limit) {
            return Ok(false);
        }
        *granted += u64::from(want);
        Ok(true)
    }

    async fn purge_failure_budget(&self, before: i64) -> Result<u64, StoreError> {
        let mut windows = self.budget.0.lock().unwrap_or_else(|e| e.into_inner());
        let old = windows.len();
        windows.retain(|&start, _| start >= before);
        Ok((old - windows.len()) as u64)
    }
}

#[async_trait]
impl FailureBudget for PostgresStore {
    async fn grant_failure_slots(
        &self,
        window_start: i64,
        want: u32,
        limit: u32,
    ) -> Result<bool, StoreError> {
        if want > limit {
            return Ok(false);
        }
        // One statement: the row lock orders concurrent grants, and the condition is evaluated
        // on the latest row, never on a stale read.
        let granted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO failure_budget (window_start, granted) VALUES ($1, $2) \
             ON CONFLICT (window_start) DO UPDATE SET granted = failure_budget.granted + $2 \
             WHERE failure_budget.granted + $2 <= $3 \
             RETURNING granted",
        )
        .bind(window_start)
        .bind(i64::from(want))
        .bind(i64::from(limit))
        .fetch_optional(&self.write)
        .await?;
        Ok(granted.is_some())
    }

    async fn purge_failure_budget(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM failure_budget WHERE window_start < $1")
            .bind(before)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
