//! The global budget of failed processing-number attempts, shared by every replica that uses the
//! same database: a slot is reserved before a number is evaluated and settled afterwards (see
//! `crate::ratelimit` for why), so that under any concurrency, on any number of replicas,
//! at most the configured number of wrong numbers is evaluated per window.
//!
//! PostgreSQL keeps it in one row per window (no client data). An SQLite database serves one
//! process (its single writer connection is the process's), so that process's memory is the
//! shared place, and no registration pays a second synchronous commit for it.

use super::{PostgresStore, SqliteStore, StoreError};
use crate::ratelimit::{Budget, Refusal};
use async_trait::async_trait;

/// A shared count of failures and attempts in flight per window.
#[async_trait]
pub trait FailureBudget: Send + Sync + 'static {
    /// Takes a slot in the window starting at `window_start` if fewer than `limit` are used or
    /// held; `Ok(Err(why))` if none is left.
    async fn reserve_failure(
        &self,
        window_start: i64,
        limit: u32,
    ) -> Result<Result<(), Refusal>, StoreError>;

    /// Ends an attempt that held a slot of that window: `failed` keeps it used.
    async fn settle_failure(&self, window_start: i64, failed: bool) -> Result<(), StoreError>;

    /// Forgets windows that started before `before`.
    async fn purge_failure_budget(&self, before: i64) -> Result<u64, StoreError>;
}

/// One process's budget, for SQLite.
#[derive(Debug, Default)]
pub struct MemoryBudget(std::sync::Mutex<std::collections::BTreeMap<i64, Budget>>);

impl MemoryBudget {
    fn reserve(&self, window_start: i64, limit: u32) -> Result<(), Refusal> {
        let mut windows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Only the current window matters; older ones are dropped as soon as a new one starts.
        windows.retain(|&start, _| start >= window_start);
        windows.entry(window_start).or_default().take(limit)
    }

    fn settle(&self, window_start: i64, failed: bool) {
        let mut windows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(budget) = windows.get_mut(&window_start) {
            budget.settle(failed);
        }
    }
}

#[async_trait]
impl FailureBudget for SqliteStore {
    async fn reserve_failure(
        &self,
        window_start: i64,
        limit: u32,
    ) -> Result<Result<(), Refusal>, StoreError> {
        Ok(self.budget.reserve(window_start, limit))
    }

    async fn settle_failure(&self, window_start: i64, failed: bool) -> Result<(), StoreError> {
        self.budget.settle(window_start, failed);
        Ok(())
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
    async fn reserve_failure(
        &self,
        window_start: i64,
        limit: u32,
    ) -> Result<Result<(), Refusal>, StoreError> {
        if limit == 0 {
            return Ok(Err(Refusal::Exhausted));
        }
        // One statement, so the row lock makes concurrent reservations take turns: the
        // condition is evaluated on the latest row, never on a stale read.
        let taken: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO failure_budget (window_start, failures, in_flight) VALUES ($1, 0, 1) \
             ON CONFLICT (window_start) DO UPDATE SET in_flight = failure_budget.in_flight + 1 \
             WHERE failure_budget.failures + failure_budget.in_flight < $2 \
             RETURNING failures",
        )
        .bind(window_start)
        .bind(i64::from(limit))
        .fetch_optional(&self.write)
        .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let (failures,): (i64,) =
            sqlx::query_as("SELECT failures FROM failure_budget WHERE window_start = $1")
                .bind(window_start)
                .fetch_one(&self.write)
                .await?;
        Ok(Err(if failures >= i64::from(limit) {
            Refusal::Exhausted
        } else {
            Refusal::Busy
        }))
    }

    async fn settle_failure(&self, window_start: i64, failed: bool) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE failure_budget SET in_flight = GREATEST(in_flight - 1, 0), \
             failures = failures + $2 WHERE window_start = $1",
        )
        .bind(window_start)
        .bind(i64::from(failed))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn purge_failure_budget(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM failure_budget WHERE window_start < $1")
            .bind(before)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
