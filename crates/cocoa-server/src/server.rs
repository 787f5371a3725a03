//! Putting the server together: configuration -> store, secrets, state -> router, and
//! `serve(listener, shutdown)` so that tests and the simulator run the real server on port 0.

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::export::{ConfigurationFiles, ExportError, ExportReport, Exporter};
use crate::http::{router, AdminToken, AppState, LatencySamples, RateLimiter};
use crate::numbers::NumberKey;
use crate::store::{self, Store, StoreError};
use axum::Router;
use cocoa_api::{ExposureConfiguration, RiskCalculationConfiguration};
use gaen::{ExportSigner, SignatureInfo};
use rand::rngs::{OsRng, StdRng};
use rand::{RngCore, SeedableRng};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

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
    #[error("signing key {0}")]
    SigningKey(String),
    #[error("{path}: {reason}")]
    Configuration { path: String, reason: String },
}

/// A configured server, ready to serve.
#[derive(Debug, Clone)]
pub struct App {
    state: Arc<AppState>,
}

/// How often housekeeping (purging old processing numbers) runs.
pub const HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Name of the admin-token file in the data folder.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

impl App {
    /// Opens the store the configuration names (SQLite in the data folder by default), loads or
    /// creates the secrets, and builds the state. Randomness comes from the OS.
    pub async fn open(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", config.data_dir.join("cocoa.db").display()),
        };
        let store = store::open(&url).await?;
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
        let limiter = RateLimiter::new(
            limiter_key,
            limits.window_seconds,
            limits.client_failures_per_window,
            limits.global_failures_per_window,
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
        let config = Arc::new(config);
        let store_for_survey = store.clone();
        let exporter = Exporter {
            store: store.clone(),
            blobs: blobs.clone(),
            clock: clock.clone(),
            config: config.clone(),
            signers: Arc::new(signers),
            configuration,
            holder: lease_holder(&holder),
            abort_after_uploads: None,
            uploads: Arc::default(),
        };
        let state = AppState {
            store,
            clock,
            config,
            number_key,
            admin_token,
            limiter,
            latencies: LatencySamples::default(),
            rng: Mutex::new(rng),
            blobs,
            exporter,
            survey_limiter,
            survey_writer: crate::store::SurveyWriter::start(store_for_survey),
        };
        Ok(Self {
            state: Arc::new(state),
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

    /// One round of housekeeping: purges processing numbers used or expired longer ago than
    /// the grace period. Returns how many were purged.
    pub async fn purge_numbers(&self) -> Result<u64, StoreError> {
        let grace = i64::from(self.state.config.numbers.grace_period_hours) * 3600;
        let cutoff = self.state.clock.now().timestamp() - grace;
        let purged = self.state.store.purge_numbers(cutoff).await?;
        if purged > 0 {
            tracing::info!(purged, "purged used and expired processing numbers");
        }
        Ok(purged)
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight. Housekeeping
    /// runs every ten minutes meanwhile.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let housekeeping = {
            let app = self.clone();
            tokio::spawn(async move {
                let start = tokio::time::Instant::now() + HOUSEKEEPING_INTERVAL;
                let mut tick = tokio::time::interval_at(start, HOUSEKEEPING_INTERVAL);
                loop {
                    tick.tick().await;
                    if let Err(e) = app.purge_numbers().await {
                        tracing::warn!(error = %e, "housekeeping failed; will retry");
                    }
                }
            })
        };
        let service = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        housekeeping.abort();
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
