//! Storage behind one narrow trait, with two real implementations on sqlx: SQLite (the embedded
//! default, one file in the data folder) and PostgreSQL (for several replicas). Both run the same
//! conformance suite (`tests/store_conformance.rs`).
//!
//! Times are unix seconds and days are days since the epoch, stored as 64-bit integers in both
//! databases, so the two schemas differ only in type names.

mod budget;
mod export_sql;
mod jobs;
mod sql;
mod survey_commit;
mod survey_sql;

pub use budget::{FailureBudget, MemoryBudget};
pub use cocoa_api::stats::RegistrationDay;
pub use jobs::JobLog;
pub use sql::{PostgresStore, SqliteStore};
pub use survey_commit::SurveyWriter;

use crate::registration::{Accepted, NewKey, NumberDates, Rejection};
use crate::survey::SurveyResponse;
use async_trait::async_trait;
use futures::stream::BoxStream;
use std::sync::Arc;

/// A processing number to store (only its HMAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNumber {
    pub tag: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub dates: NumberDates,
}

/// What claiming a number for a registration needs.
#[derive(Debug, Clone)]
pub struct Claim {
    pub tag: Vec<u8>,
    pub now: i64,
    pub request_hash: Vec<u8>,
    pub idempotency_hash: Option<Vec<u8>>,
}

/// How a registration attempt ended.
#[derive(Debug, Clone)]
pub enum RegisterOutcome {
    /// The number was claimed and the keys stored, in one transaction.
    Registered(Accepted),
    /// The same registration (the same keys) was already stored: a retry after a lost answer.
    Replayed(NumberDates),
    /// No such live number.
    Invalid,
    /// The number existed but expired before use.
    Expired,
    /// The number was used by a different registration.
    Used,
    /// The number is fine but the keys were refused; nothing was claimed or stored.
    Refused(Rejection),
}

/// A stored key, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: i64,
    pub key: NewKey,
}

/// The storage failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("a processing number with the same HMAC already exists")]
    DuplicateNumber,
    /// The database could not be reached or did not answer in time (connection refused or
    /// lost, pool timeout, statement or lock timeout, disk full, a serialisation conflict): the
    /// request may be retried later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database refused a statement (a violated constraint, a bug): retrying gives the same.
    #[error("storage refused the operation: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if unreachable(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

/// Whether an error says the database could not be reached or could not do the work now, as
/// opposed to refusing it.
fn unreachable(e: &sqlx::Error) -> bool {
    use sqlx::Error;
    match e {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(d) => {
            let code = d.code();
            let code = code.as_deref().unwrap_or_default();
            match d.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // SQLite's primary result codes (the low byte of the extended code): BUSY,
                // LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL.
                Some(_) => {
                    let primary = code.parse::<i32>().unwrap_or(0) & 0xff;
                    matches!(primary, 5 | 6 | 7 | 10 | 13 | 14 | 15)
                }
                // PostgreSQL's SQLSTATE classes: 08 connection exception, 53 insufficient
                // resources, 57 operator intervention (shutdown, statement timeout), 58 system
                // error; and 40001 serialisation failure, 40P01 deadlock, 55P03 lock timeout.
                None => {
                    ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c))
                        || matches!(code, "40001" | "40P01" | "55P03")
                }
            }
        }
        _ => false,
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => match Self::from(e) {
                Self::Unavailable(m) => Self::Unavailable(format!("migrations: {m}")),
                other => Self::Internal(format!("migrations: {other}")),
            },
            other => Self::Internal(format!("migrations: {other}")),
        }
    }
}

/// Decides which keys a claimed registration stores, given the dates on its number. Runs inside
/// the claiming transaction; an `Err` rolls it back.
pub type AcceptFn<'a> = &'a (dyn Fn(NumberDates) -> Result<Accepted, Rejection> + Send + Sync);

/// An export file as recorded: enough to regenerate its bytes exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFileRow {
    pub id: i64,
    pub region: String,
    /// Days since the epoch of the keys' UTC day.
    pub key_day: i64,
    pub start_timestamp: i64,
    pub end_timestamp: i64,
    pub shuffle_seed: i64,
    /// The fake keys, as produced by the exporter.
    pub padding: Vec<u8>,
    pub real_keys: i64,
    /// When it was listed in `list.json` (milliseconds); `None` while not yet published.
    pub created_ms: Option<i64>,
}

/// A file about to be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExportFile {
    pub region: String,
    pub key_day: i64,
    pub start_timestamp: i64,
    pub end_timestamp: i64,
    pub shuffle_seed: i64,
}

/// Released keys not yet in any file, per region and key day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGroup {
    pub region: String,
    pub key_day: i64,
    pub keys: i64,
}

/// Computes a file's padding from its real keys (inside the planning transaction).
pub type PaddingFn<'a> = &'a (dyn Fn(&[StoredKey]) -> Vec<u8> + Send + Sync);

/// What the export and retention jobs need.
#[async_trait]
pub trait ExportStore: Send + Sync + 'static {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`; `false` if another
    /// holder's lease has not expired.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl: i64,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up (if `holder` holds it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Keys released by `now` that no file holds yet, counted per region and key day.
    async fn pending_groups(&self, now: i64) -> Result<Vec<PendingGroup>, StoreError>;

    /// In one transaction: records a file and moves into it up to `max_keys` pending keys of its
    /// region and key day released by `now` (lowest ids first), with the padding `pad` makes.
    /// `None` (and nothing recorded) when no such key is pending.
    async fn plan_file(
        &self,
        file: &NewExportFile,
        now: i64,
        max_keys: i64,
        pad: PaddingFn<'_>,
    ) -> Result<Option<(ExportFileRow, Vec<StoredKey>)>, StoreError>;

    /// The real keys of a file, by id.
    async fn file_keys(&self, file_id: i64) -> Result<Vec<StoredKey>, StoreError>;

    /// Files, oldest first; of one region, or all.
    async fn files(&self, region: Option<&str>) -> Result<Vec<ExportFileRow>, StoreError>;

    /// Records that a file is listed, with its `created` time.
    async fn mark_published(&self, file_id: i64, created_ms: i64) -> Result<(), StoreError>;

    /// Deletes the records of files whose window ended before `cutoff`; returns them.
    async fn delete_files_ended_before(
        &self,
        cutoff: i64,
    ) -> Result<Vec<ExportFileRow>, StoreError>;

    /// Deletes keys whose validity ended before the interval `cutoff_interval`.
    async fn delete_keys_ended_before(&self, cutoff_interval: i64) -> Result<u64, StoreError>;

    /// Stores keys that arrive without a registration (benchmarks, and keys imported from
    /// another server), in one transaction.
    async fn import_keys(&self, keys: &[NewKey]) -> Result<(), StoreError>;
}

/// The end-of-use survey's answers (see `crate::survey` for what one holds). Nothing here knows
/// a device, an address or a moment finer than a day.
#[async_trait]
pub trait SurveyStore: Send + Sync + 'static {
    /// Stores answers in one transaction; an answer whose `id_hash` is stored already (a retry)
    /// is skipped. Returns how many were new.
    async fn insert_survey_responses(
        &self,
        responses: &[SurveyResponse],
    ) -> Result<u64, StoreError>;

    /// How many answers are stored.
    async fn count_survey_responses(&self) -> Result<u64, StoreError>;

    /// Every stored answer, by `id_hash`, in one `Vec` (for tests; the analysis streams
    /// instead: [`survey_responses_stream`](Self::survey_responses_stream)).
    async fn all_survey_responses(&self) -> Result<Vec<SurveyResponse>, StoreError>;

    /// Every stored answer, by `id_hash`, one at a time, as of one snapshot: the stream is one
    /// `SELECT`, which sees the answers committed when it started and none committed while it
    /// runs (PostgreSQL: a statement's snapshot; SQLite in WAL mode: the statement's implicit
    /// read transaction lasts until its last row is read, as sqlx steps it on the connection's
    /// worker, a few rows ahead of the reader). Rows are read as the stream is polled, never
    /// all held at once. It holds a read connection until it ends or is dropped, and on
    /// PostgreSQL it is one statement under `statement_timeout`, so read it without pausing.
    fn survey_responses_stream(&self) -> BoxStream<'_, Result<SurveyResponse, StoreError>>;

    /// The last day an answer was received (`None` when none is stored): a look-up in the
    /// index on the day of receipt, not a pass over the answers.
    async fn last_survey_received_day(&self) -> Result<Option<i64>, StoreError>;

    /// Calls `f` with every stored answer once, in no particular order (the storage's own, so
    /// that the read is sequential), as of one snapshot, exactly as
    /// [`survey_responses_stream`](Self::survey_responses_stream) reads it: one `SELECT` whose
    /// rows are read as they come, never all held. The answer `f` sees lives in a buffer reused
    /// for the next one (no allocation per answer); `f` must not block. Returns how many
    /// answers it read. For the analysis, whose sums do not depend on the order.
    async fn for_each_survey_response(
        &self,
        f: &mut (dyn for<'a> FnMut(&'a SurveyResponse) + Send),
    ) -> Result<u64, StoreError>;

    /// Deletes every answer (retention). Returns how many.
    async fn delete_survey_responses(&self) -> Result<u64, StoreError>;
}

/// Everything the server keeps.
#[async_trait]
pub trait Store:
    ExportStore + SurveyStore + FailureBudget + JobLog + Send + Sync + 'static
{
    /// Whether the database answers.
    async fn health(&self) -> Result<(), StoreError>;

    /// The secret called `name`: the stored one, or `candidate` if none was stored yet (the first
    /// replica to start wins; every replica then uses the same value).
    async fn secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Stores new processing numbers, all or none: `DuplicateNumber` if any HMAC exists already.
    async fn insert_numbers(&self, numbers: &[NewNumber]) -> Result<(), StoreError>;

    /// Claims a number and stores the keys `accept` gives, in one transaction, which also adds
    /// the registration to the counts of its UTC day (of `claim.now`) in each region it stored
    /// keys in (see `registration_stats`). A replay, a refusal or a failure counts nothing.
    async fn register(
        &self,
        claim: &Claim,
        accept: AcceptFn<'_>,
    ) -> Result<RegisterOutcome, StoreError>;

    /// Deletes numbers used, or expired, before `cutoff`. Returns how many.
    async fn purge_numbers(&self, cutoff: i64) -> Result<u64, StoreError>;

    /// Every stored key, oldest first (for tests and small deployments; export streams instead).
    async fn all_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// How many processing numbers are stored.
    async fn count_numbers(&self) -> Result<u64, StoreError>;

    /// The registration counts per UTC day and region (by day, then region), unsuppressed: for
    /// the survey's report; `GET /api/v1/stats/registrations` publishes them with an embargo
    /// and small days withheld. `register` keeps them, in its transaction; they outlive the
    /// keys (deleted after `retention.key_days`) until `delete_registration_stats`.
    async fn registration_stats(&self) -> Result<Vec<RegistrationDay>, StoreError>;

    /// Deletes every registration count (retention, on the survey's deletion date). Returns
    /// how many days and regions.
    async fn delete_registration_stats(&self) -> Result<u64, StoreError>;
}

/// Opens the store a URL names: `postgres://` or `postgresql://` for PostgreSQL, `sqlite:` for
/// SQLite. Runs migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Unavailable(format!(
            "unsupported database URL scheme (use postgres:// or sqlite:): {}",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
