//! The real key server for a simulation: `cocoa-server`'s `App` on a loopback port, with a
//! `ManualClock` the driver moves and a server RNG seeded from the scenario (so that processing
//! numbers, padding, shuffles and the signing key are the same on every run of a seed).
//!
//! The store and blobs are opened as `App::open` opens them (the data folder made private first,
//! SQLite's files checked), then `App::with_store` takes the seeded RNG instead of the OS's.

use crate::failure::{Failure, OrFail};
use chrono::DateTime;
use cocoa_server::server::DueReport;
use cocoa_server::{App, Clock, ManualClock, ServerConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The server of a simulation, serving on its own runtime until stopped or dropped.
#[derive(Debug)]
pub(crate) struct SimServer {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) app: App,
    pub(crate) clock: Arc<ManualClock>,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base_url: String,
    pub(crate) admin_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The temporary data folder (database, blobs), deleted when the server is dropped.
    _data: tempfile::TempDir,
}

/// How the simulation's server is configured.
#[derive(Debug, Clone)]
pub(crate) struct ServerOptions {
    pub(crate) listen: SocketAddr,
    /// `None`: SQLite in the temporary data folder.
    pub(crate) database_url: Option<String>,
    pub(crate) export_interval_minutes: u32,
    pub(crate) min_keys_per_file: usize,
    pub(crate) padding_jitter: usize,
    /// The survey's first day (the scenario's start).
    pub(crate) survey_first_day: chrono::NaiveDate,
    /// The day after the simulation: the survey's final report (answers kept two years after).
    pub(crate) final_report_date: chrono::NaiveDate,
    pub(crate) admin_token: String,
    pub(crate) rng_seed: u64,
    /// Unix seconds the clock starts at.
    pub(crate) start: i64,
}

/// The time of unix seconds `t`.
pub(crate) fn instant(t: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(t, 0).expect("simulated times are within chrono's range")
}

impl SimServer {
    /// Opens the store, binds the port and starts serving (with the schedule of the
    /// configuration driven by the manual clock).
    pub(crate) fn start(options: &ServerOptions) -> Result<Self, Failure> {
        let data = tempfile::Builder::new()
            .prefix("cocoa-sim-")
            .tempdir()
            .usage_or_io("creating the server's temporary folder")?;
        let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(options.listen))
            .usage_or_io(format!("listening on {}", options.listen))?;
        let local = listener.local_addr().usage_or_io("listening")?;

        let mut config = ServerConfig {
            listen: local,
            data_dir: data.path().join("server"),
            database_url: options.database_url.clone(),
            admin_token: Some(options.admin_token.clone()),
            ..ServerConfig::default()
        };
        config.export.interval_minutes = options.export_interval_minutes;
        config.export.min_keys_per_file = options.min_keys_per_file;
        config.export.padding_jitter = options.padding_jitter;
        // Retention once a simulated day (the longest interval the server allows): the driver
        // steps the clock every hour, and a run every step would cost more than the rest of
        // the schedule.
        config.retention.interval_minutes = 1440;
        config.survey.first_day = options.survey_first_day;
        config.survey.final_report_date = Some(options.final_report_date);
        // Every phone of the city submits from 127.0.0.1: one client for the limiter.
        config.survey.client_submissions_per_window = u32::MAX;
        config
            .validate()
            .usage_or_io("the simulation's server configuration")?;

        let clock = Arc::new(ManualClock::new(instant(options.start)));
        let app = runtime.block_on(open_app(
            config,
            clock.clone(),
            StdRng::seed_from_u64(options.rng_seed),
        ))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = runtime.spawn(app.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            runtime,
            app,
            clock,
            base_url: format!("http://{local}"),
            admin_token: options.admin_token.clone(),
            stop: Some(stop),
            served: Some(served),
            _data: data,
        })
    }

    /// The server's time, unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Moves the clock to `t` (never back) and runs what the schedule says is due then; returns
    /// once it has run (the server's own scheduler may have started it: this waits for it).
    pub(crate) fn advance_to(&self, t: i64) -> DueReport {
        if t > self.now() {
            self.clock.set(instant(t));
        }
        self.runtime.block_on(self.app.run_due())
    }

    /// Serves until Ctrl-C or SIGTERM, then stops.
    pub(crate) fn serve_until_signal(mut self) -> Result<(), Failure> {
        self.runtime.block_on(async {
            let ctrl_c = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            #[cfg(unix)]
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminate = std::future::pending::<()>();
            tokio::select! {
                () = ctrl_c => {},
                () = terminate => {},
            }
        });
        self.stop()
    }

    /// Stops serving (requests in flight get the grace period).
    pub(crate) fn stop(&mut self) -> Result<(), Failure> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            self.runtime
                .block_on(served)
                .usage_or_io("the server task")?
                .usage_or_io("serving")?;
        }
        Ok(())
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `App::open` with a seeded RNG.
async fn open_app(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    rng: StdRng,
) -> Result<App, Failure> {
    use cocoa_server::private_files;
    use cocoa_server::store::{self, PostgresStore, SqliteStore, Store};
    config.validate().usage_or_io("configuration")?;
    private_files::private_dir(&config.data_dir).usage_or_io("the server's data folder")?;
    let url = match &config.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", config.data_dir.join("cocoa.db").display()),
    };
    private_files::prepare_sqlite(&url).usage_or_io("the server's database")?;
    let store: Arc<dyn Store> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(
                PostgresStore::connect_with(&url, &config.storage)
                    .await
                    .usage_or_io("opening the server's database")?,
            )
        } else if url.starts_with("sqlite:") {
            Arc::new(
                SqliteStore::connect_with(&url, &config.storage)
                    .await
                    .usage_or_io("opening the server's database")?,
            )
        } else {
            store::open(&url)
                .await
                .usage_or_io("opening the server's database")?
        };
    private_files::verify_sqlite(&url).usage_or_io("the server's database")?;
    let blobs = cocoa_server::blob::open(&config).usage_or_io("the server's blob storage")?;
    let data_dir: PathBuf = config.data_dir.clone();
    App::with_store(config, store, blobs, clock, rng)
        .await
        .usage_or_io(format!("starting the server in {}", data_dir.display()))
}
