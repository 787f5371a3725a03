//! Putting the server together: configuration -> store, secrets, state -> router, and
//! `serve(listener, shutdown)` so that tests and the simulator run the real server on port 0.

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::export::{CleanupReport, ConfigurationFiles, ExportError, ExportReport, Exporter};
use crate::http::{router, AdminToken, AppState, LatencySamples, RateLimiter};
use crate::numbers::NumberKey;
use crate::schedule::Schedule;
use crate::store::{self, Store, StoreError};
use axum::Router;
use cocoa_api::{ExposureConfiguration, RiskCalculationConfiguration};
use gaen::{ExportSigner, SignatureInfo};
use rand::rngs::{OsRng, StdRng};
use rand::{RngCore, SeedableRng};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Blob(#[from] crate::blob::BlobError),
    #[error(transparent)]
    PrivateFile(#[from] crate::private_files::PrivateFileError),
    #[error("signing key {0}")]
    SigningKey(String),
    #[error("{path}: {reason}")]
    Configuration { path: String, reason: String },
}

/// A configured server, ready to serve.
#[derive(Debug, Clone)]
pub struct App {
    state: Arc<AppState>,
    /// What is due when; locked while due jobs run, so that they never overlap in one process.
    schedule: Arc<tokio::sync::Mutex<Schedule>>,
}

/// What [`App::run_due`] ran: `None` for a job that was not due.
#[derive(Debug, Default)]
pub struct DueReport {
    pub export: Option<Result<ExportReport, ExportError>>,
    pub retention: Option<Result<CleanupReport, ExportError>>,
}

impl DueReport {
    /// Whether nothing was due.
    pub fn is_empty(&self) -> bool {
        self.export.is_none() && self.retention.is_none()
    }
}

/// How often, in real time, the scheduler inside `serve` asks the clock what is due: the most a
/// due job waits, and how soon a `ManualClock` moved by a test is followed.
pub const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Name of the admin-token file in the data folder.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

impl App {
    /// Opens the store the configuration names (SQLite in the data folder by default), loads or
    /// creates the secrets, and builds the state. Randomness comes from the OS.
    pub async fn open(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        config.validate()?;
        crate::private_files::private_dir(&config.data_dir)?;
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", config.data_dir.join("cocoa.db").display()),
        };
        crate::private_files::prepare_sqlite(&url)?;
        let store = open_store(&url, &config.storage).await?;
        crate::private_files::verify_sqlite(&url)?;
        let blobs = crate::blob::open(&config)?;
        let abort_after_uploads = std::env::var("COCOA_FAULT_ABORT_AFTER_UPLOADS")
            .ok()
            .and_then(|v| v.parse().ok());
        let mut app = Self::with_store(
            config,
            store,
            blobs,
            clock,
            StdRng::from_rng(OsRng).expect("the OS RNG works"),
        )
        .await?;
        if let Some(state) = Arc::get_mut(&mut app.state) {
            state.exporter.abort_after_uploads = abort_after_uploads;
        }
        Ok(app)
    }

    /// Builds the server on a given store and RNG (tests and simulations seed the RNG).
    pub async fn with_store(
        config: ServerConfig,
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        mut rng: StdRng,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let number_key = match &config.number_hmac_key {
            Some(hex) => NumberKey::new(decode_hex32(hex)),
            None => {
                let mut candidate = [0u8; 32];
                rng.fill_bytes(&mut candidate);
                let stored = store.secret("number_hmac_key", &candidate).await?;
                let key: [u8; 32] = stored
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("number_hmac_key is not 32 bytes".into()))?;
                NumberKey::new(key)
            }
        };
        let admin_token = match &config.admin_token {
            Some(token) => AdminToken::new(token.clone()),
            None => load_or_create_token(&config.data_dir.join(ADMIN_TOKEN_FILE), &mut rng)?,
        };
        let mut limiter_key = [0u8; 32];
        rng.fill_bytes(&mut limiter_key);
        let limits = &config.rate_limit;
        // The global limit on wrong numbers is shared by replicas through the store
        // (`FailureBudget`); this process keeps the per-client one.
        let limiter = RateLimiter::new(
            limiter_key,
            limits.window_seconds,
            limits.client_failures_per_window,
            u32::MAX,
        );
        let global_slots = crate::ratelimit::SharedSlots::new(limits.global_failures_per_window);
        // Wrong admin tokens: the same per-client limit, on a budget of their own.
        let mut admin_key = [0u8; 32];
        rng.fill_bytes(&mut admin_key);
        let admin_limiter = RateLimiter::new(
            admin_key,
            limits.window_seconds,
            limits.client_failures_per_window,
            u32::MAX,
        );
        let mut survey_key = [0u8; 32];
        rng.fill_bytes(&mut survey_key);
        let survey_limiter = RateLimiter::new(
            survey_key,
            config.survey.window_seconds,
            config.survey.client_submissions_per_window,
            u32::MAX,
        );
        warn_if_survey_outlives_retention(&config, clock.now());
        let signers = load_signers(&config, store.as_ref(), &mut rng).await?;
        let configuration = load_configuration_files(&config)?;
        let mut holder = [0u8; 8];
        rng.fill_bytes(&mut holder);
        let schedule = Schedule::new(
            config.export.interval_minutes,
            config.retention.interval_minutes,
            clock.now(),
            &mut rng,
        );
        let config = Arc::new(config);
        let store_for_survey = store.clone();
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let started_at = clock.now().timestamp();
        let exporter = Exporter {
            metrics: metrics.clone(),
            store: store.clone(),
            blobs: blobs.clone(),
            clock: clock.clone(),
            config: config.clone(),
            signers: Arc::new(signers),
            configuration,
            holder: lease_holder(&holder),
            abort_after_uploads: None,
            uploads: Arc::default(),
            running: Arc::default(),
        };
        let state = AppState {
            store,
            clock,
            config,
            number_key,
            admin_token,
            limiter,
            admin_limiter,
            global_slots,
            latencies: LatencySamples::default(),
            rng: Mutex::new(rng),
            blobs,
            exporter,
            survey_limiter,
            started_at,
            survey_writer: crate::store::SurveyWriter::with_metrics(
                store_for_survey,
                Some(metrics.clone()),
            ),
            metrics,
        };
        Ok(Self {
            state: Arc::new(state),
            schedule: Arc::new(tokio::sync::Mutex::new(schedule)),
        })
    }

    /// The router, for serving or for calling handlers directly in tests.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The export and retention jobs.
    pub fn exporter(&self) -> &Exporter {
        &self.state.exporter
    }

    /// Runs one export now (as the schedule does).
    pub async fn export(&self) -> Result<ExportReport, ExportError> {
        let mut rng = self.child_rng();
        self.state.exporter.run(&mut rng).await
    }

    fn child_rng(&self) -> StdRng {
        let mut parent = self.state.rng.lock().unwrap_or_else(|e| e.into_inner());
        StdRng::from_rng(&mut *parent).expect("a seeded RNG never fails")
    }

    /// Purges processing numbers used or expired longer ago than the grace period (returns how
    /// many), and the failure budget of past windows. Retention ([`App::retention`]) does both
    /// too; this is the numbers part alone, without the lease.
    pub async fn purge_numbers(&self) -> Result<u64, StoreError> {
        let grace = i64::from(self.state.config.numbers.grace_period_hours) * 3600;
        let cutoff = self.state.clock.now().timestamp() - grace;
        let purged = self.state.store.purge_numbers(cutoff).await?;
        self.purge_failure_budget().await?;
        if purged > 0 {
            tracing::info!(purged, "purged used and expired processing numbers");
        }
        Ok(purged)
    }

    /// Forgets the shared failure budget of windows that have passed.
    async fn purge_failure_budget(&self) -> Result<(), StoreError> {
        let window = i64::try_from(self.state.config.rate_limit.window_seconds).unwrap_or(i64::MAX);
        let now = self.state.clock.now().timestamp();
        self.state
            .store
            .purge_failure_budget(now.saturating_sub(window.saturating_mul(2)))
            .await
            .map(drop)
    }

    /// One retention run now (as the schedule does, and `cocoa cleanup`), under the lease: keys
    /// and files past their periods, old processing numbers, survey answers from their deletion
    /// date; then the failure budget of past windows.
    pub async fn retention(&self) -> Result<CleanupReport, ExportError> {
        let report = self.state.exporter.cleanup().await?;
        self.purge_failure_budget().await?;
        Ok(report)
    }

    /// Runs whatever the schedule says is due at `clock.now()` (retention first, then the
    /// export) and returns what ran. The background task of `serve` calls it every
    /// [`SCHEDULER_TICK`]; a simulation moving a `ManualClock` calls it after each step.
    ///
    /// A job that fails (logged) or finds the lease held by another replica stays due and is
    /// tried again by the next call. Calls never overlap: a second one waits for the first.
    pub async fn run_due(&self) -> DueReport {
        let mut schedule = self.schedule.lock().await;
        let now = self.state.clock.now();
        let due = schedule.due(now);
        let mut report = DueReport::default();
        if due.retention {
            let result = self.retention().await;
            match &result {
                Ok(r) if r.skipped => {
                    tracing::debug!("scheduled retention: another replica holds the lease; retrying at the next tick");
                }
                Ok(r) => {
                    tracing::debug!(
                        keys = r.keys,
                        files = r.files,
                        numbers = r.numbers,
                        "scheduled retention ran"
                    );
                    schedule.retention_ran(now);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scheduled retention failed; retrying at the next tick");
                }
            }
            report.retention = Some(result);
        }
        if due.export {
            let result = self.export().await;
            match &result {
                Ok(r) if r.skipped => {
                    tracing::debug!("scheduled export: another replica holds the lease; retrying at the next tick");
                }
                Ok(r) => {
                    schedule.export_ran(now);
                    tracing::debug!(
                        files = r.files.len(),
                        real_keys = r.real_keys,
                        next = ?schedule.next_export(),
                        "scheduled export ran"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scheduled export failed; retrying at the next tick");
                }
            }
            report.export = Some(result);
        }
        report
    }

    /// How long the scheduler may sleep: until the next due moment by the clock, at most
    /// [`SCHEDULER_TICK`] (a `ManualClock` may jump meanwhile), and a whole tick when a job is
    /// overdue (it failed: retry at the next tick, not in a busy loop).
    async fn pause(&self) -> std::time::Duration {
        let next = self.schedule.lock().await.next_due();
        let now = self.state.clock.now();
        match next {
            Some(next) if next > now => (next - now)
                .to_std()
                .map_or(SCHEDULER_TICK, |d| d.min(SCHEDULER_TICK)),
            _ => SCHEDULER_TICK,
        }
    }

    /// The scheduler: runs what is due until `stop` says the server is stopping. A job in
    /// progress is never interrupted here; `serve` bounds the wait for it.
    async fn run_schedule(self, mut stop: tokio::sync::watch::Receiver<Option<Instant>>) {
        loop {
            if stop.borrow().is_some() {
                return;
            }
            self.run_due().await;
            if stop.borrow().is_some() {
                return;
            }
            let pause = self.pause().await;
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Serves until `shutdown` completes, then lets the requests in flight finish for at most
    /// `http.shutdown_grace_seconds` (the timeouts and the cap are described at `connections`).
    /// Meanwhile the scheduler runs the export and retention when the clock says they are due
    /// (see [`crate::schedule`]); on shutdown it starts no new job, and a job in progress may
    /// finish within the same grace period (otherwise it is dropped, and the next run
    /// completes its work).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let http = self.state.config.http.clone();
        let grace = Duration::from_secs(http.shutdown_grace_seconds);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(None::<Instant>);
        let scheduler = {
            let schedule = self.schedule.lock().await;
            if schedule.is_on() {
                tracing::info!(
                    export_every_minutes = self.state.config.export.interval_minutes,
                    first_export = ?schedule.next_export(),
                    retention_every_minutes = self.state.config.retention.interval_minutes,
                    "scheduled: retention at start-up and every interval, export every interval (0 = only when asked)"
                );
                Some(tokio::spawn(self.clone().run_schedule(stop_rx)))
            } else {
                tracing::info!("no schedule (export and retention interval_minutes = 0): exports and retention run only when asked");
                None
            }
        };
        let stopping = stop_tx.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(Some(Instant::now()));
        };
        let served = connections::serve(listener, self.router(), &http, shutdown).await;
        if let Some(mut task) = scheduler {
            // Stopped by the shutdown future, or now (serving failed): wait out the rest of the
            // grace period for a job in progress.
            stop_tx.send_if_modified(|stop| {
                let first = stop.is_none();
                stop.get_or_insert_with(Instant::now);
                first
            });
            let since = (*stop_tx.borrow()).unwrap_or_else(Instant::now);
            let deadline = tokio::time::Instant::from_std(since + grace);
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(
                    "a scheduled job did not finish within the shutdown grace period; the next run completes its work"
                );
                task.abort();
            }
        }
        served
    }
}

/// Answers taken on or after the deletion date are deleted by the next cleanup: say so once.
fn warn_if_survey_outlives_retention(config: &ServerConfig, now: chrono::DateTime<chrono::Utc>) {
    let survey = &config.survey;
    let Some(deletion) = survey.deletion_date() else {
        tracing::warn!(
            "no deletion date for survey answers is configured: set survey.final_report_date (answers are kept two years after it) or survey.delete_on"
        );
        return;
    };
    let open_after_deletion = survey
        .closes_at
        .is_none_or(|t| t.with_timezone(&chrono::Utc).date_naive() >= deletion);
    if open_after_deletion && now.date_naive() >= deletion && survey.is_open(now) {
        tracing::warn!(
            %deletion,
            "the survey takes answers after its deletion date: each cleanup deletes them (set survey.closes_at or survey.delete_on)"
        );
    }
}

/// A name for this instance in the lease table: unique even when several instances in one
/// process were seeded alike (tests, simulations), as every replica needs its own.
fn lease_holder(random: &[u8; 8]) -> String {
    static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{instance}-{random}", std::process::id())
}

/// The configured signing keys, or the one generated once and kept in the database.
async fn load_signers(
    config: &ServerConfig,
    store: &dyn Store,
    rng: &mut StdRng,
) -> Result<Vec<ExportSigner>, StartError> {
    let e = &config.export;
    if e.signing_keys.is_empty() {
        let info = SignatureInfo::p256(e.key_id.clone(), e.key_version.clone());
        let candidate = ExportSigner::generate(rng, info.clone()).private_key_pem();
        let stored = store
            .secret("export_signing_key", candidate.as_bytes())
            .await?;
        let pem = String::from_utf8(stored)
            .map_err(|_| StartError::SigningKey("in the database is not PEM text".into()))?;
        let signer = ExportSigner::from_pem(&pem, info)
            .map_err(|e| StartError::SigningKey(format!("in the database: {e}")))?;
        return Ok(vec![signer]);
    }
    e.signing_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            crate::private_files::check_private_file(&k.file)?;
            let pem = std::fs::read_to_string(&k.file).map_err(|source| StartError::Io {
                path: k.file.display().to_string(),
                source,
            })?;
            let info = SignatureInfo::p256(
                k.id.clone().unwrap_or_else(|| e.key_id.clone()),
                k.version.clone().unwrap_or_else(|| format!("v{}", i + 1)),
            );
            ExportSigner::from_pem(&pem, info)
                .map_err(|err| StartError::SigningKey(format!("{}: {err}", k.file.display())))
        })
        .collect()
}

/// COCOA's configuration files, or the files the configuration names (validated).
fn load_configuration_files(config: &ServerConfig) -> Result<ConfigurationFiles, StartError> {
    fn load<T: serde::de::DeserializeOwned>(
        path: &Path,
        validate: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, StartError> {
        let bad = |reason: String| StartError::Configuration {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let value: T = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        validate(&value).map_err(bad)?;
        Ok(value)
    }
    let e = &config.export;
    let exposure = match &e.exposure_configuration_file {
        Some(path) => load(path, ExposureConfiguration::validate)?,
        None => ExposureConfiguration::default(),
    };
    let risk = match &e.risk_calculation_configuration_file {
        Some(path) => load(path, RiskCalculationConfiguration::validate)?,
        None => RiskCalculationConfiguration::default(),
    };
    Ok(ConfigurationFiles::new(&exposure, &risk))
}

fn decode_hex32(hex: &str) -> [u8; 32] {
    // `ServerConfig::validate` has checked: 64 hex digits.
    std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
}

/// Reads the admin token from `path`, or creates it there (mode 0600). Logs the path, never the
/// token.
fn load_or_create_token(path: &Path, rng: &mut StdRng) -> Result<AdminToken, StartError> {
    let io = |source| StartError::Io {
        path: path.display().to_string(),
        source,
    };
    crate::private_files::check_private_file(path)?;
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 16 => {
            tracing::info!(path = %path.display(), "admin token read from file");
            return Ok(AdminToken::new(text.trim().to_owned()));
        }
        Ok(_) => {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the admin token file is shorter than 16 characters",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; 24];
    rng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_secret_file(path, token.as_bytes()).map_err(io)?;
    tracing::info!(path = %path.display(), "generated an admin token; health centres find it in this file");
    Ok(AdminToken::new(token))
}

/// Writes a file only its owner can read, created with that mode.
pub fn write_secret_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Opens the store `url` names with the configured timeouts.
async fn open_store(
    url: &str,
    timeouts: &crate::config::StorageConfig,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            store::PostgresStore::connect_with(url, timeouts).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(
            store::SqliteStore::connect_with(url, timeouts).await?,
        ))
    } else {
        // Says which schemes are supported.
        store::open(url).await
    }
}

mod connections;
