//! `cocoa serve`: the key server in one process (embedded SQLite by default, PostgreSQL with
//! `--database-url`), and `cocoa admin ...`: the health centre's command-line client.

use crate::failure::{Failure, OrFail, INVALID, USAGE_OR_IO};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use cocoa_api::{ErrorBody, IssueNumbersRequest, IssueNumbersResponse};
use cocoa_server::{App, ServerConfig, SystemClock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (every setting; flags and COCOA_* variables override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the embedded database and generated secrets live [default: ./cocoa-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// PostgreSQL URL (postgres://...); without it, SQLite in the data folder.
    #[arg(
        long,
        value_name = "URL",
        env = "COCOA_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Where published files go: s3://bucket/prefix (endpoint and credentials from the AWS_*
    /// variables); without it, the folder <data-dir>/blobs.
    #[arg(long, value_name = "URL", env = "COCOA_BLOB_URL")]
    blob_url: Option<String>,
    /// The URL prefix phones download c19r/... from, written into list.json
    /// [default: http://<listen>/c19r].
    #[arg(long, value_name = "URL", env = "COCOA_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// A PEM signing key for export files (repeat to rotate with overlap: every file carries one
    /// signature per key). Without it, a key generated once and kept in the database.
    #[arg(long = "signing-key", value_name = "FILE")]
    signing_keys: Vec<PathBuf>,
}

/// `cocoa export` and `cocoa cleanup`: one run, with the same configuration as `serve`.
#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Builds the configuration: defaults < file < environment < flags.
pub fn load_config(args: &ServeArgs) -> Result<ServerConfig, Failure> {
    let mut config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).usage_or_io(format!("reading {}", path.display()))?;
            ServerConfig::from_toml(&text).usage_or_io(path.display())?
        }
        None => ServerConfig::default(),
    };
    config
        .apply_env(|k| std::env::var(k).ok())
        .usage_or_io("environment")?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(url) = &args.database_url {
        config.database_url = Some(url.clone());
    }
    if let Some(url) = &args.blob_url {
        config.blob_url = Some(url.clone());
    }
    if let Some(url) = &args.public_base_url {
        config.public_base_url = Some(url.clone());
    }
    if !args.signing_keys.is_empty() {
        config.export.signing_keys = args
            .signing_keys
            .iter()
            .map(|file| cocoa_server::config::SigningKeyConfig {
                file: file.clone(),
                id: None,
                version: None,
            })
            .collect();
    }
    config.validate().usage_or_io("invalid configuration")?;
    Ok(config)
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COCOA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        // Capped whatever COCOA_LOG says (tests/survey_privacy.rs): axum logs every accepted
        // connection's address at TRACE, and sqlx every statement at DEBUG, whose timestamps
        // would say when survey answers were stored.
        .add_directive("axum::serve=debug".parse().expect("a valid directive"))
        .add_directive("sqlx::query=info".parse().expect("a valid directive"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn serve(args: ServeArgs) -> Result<(), Failure> {
    let config = load_config(&args)?;
    init_logging();
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let served = runtime.block_on(async move {
        let listen = config.listen;
        let backend = if config.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        let data_dir = config.data_dir.clone();
        let app = App::open(config, Arc::new(SystemClock))
            .await
            .usage_or_io("starting the server")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .usage_or_io(format!("listening on {listen}"))?;
        let local = listener.local_addr().usage_or_io("listening")?;
        tracing::info!(
            address = %local,
            backend,
            data_dir = %data_dir.display(),
            "serving: portal at http://{local}/portal, API described at http://{local}/openapi.json"
        );
        app.serve(listener, shutdown_signal())
            .await
            .usage_or_io("serving")?;
        tracing::info!("stopped");
        Ok(())
    });
    // `serve` returned within `http.shutdown_grace_seconds`; blocking work still running (a
    // file write) gets a moment more, not an unbounded wait.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// `cocoa export`: one export run now.
pub fn export(args: JobArgs) -> Result<(), Failure> {
    run_job(args, |app| async move {
        let report = app.export().await.usage_or_io("export")?;
        Ok(serde_json::to_value(report).expect("plain values serialise"))
    })
}

/// `cocoa cleanup`: one retention run now.
pub fn cleanup(args: JobArgs) -> Result<(), Failure> {
    run_job(args, |app| async move {
        let report = app.exporter().cleanup().await.usage_or_io("cleanup")?;
        Ok(serde_json::to_value(report).expect("plain values serialise"))
    })
}

fn run_job<F, Fut>(args: JobArgs, job: F) -> Result<(), Failure>
where
    F: FnOnce(App) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, Failure>>,
{
    let config = load_config(&args.serve)?;
    init_logging();
    let runtime = tokio::runtime::Runtime::new().usage_or_io("starting the runtime")?;
    let report = runtime.block_on(async move {
        let app = App::open(config, Arc::new(SystemClock))
            .await
            .usage_or_io("opening the server's storage")?;
        job(app).await
    })?;
    if args.json {
        println!("{report}");
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(report: &serde_json::Value) {
    let Some(fields) = report.as_object() else {
        return;
    };
    for (name, value) in fields {
        match value {
            serde_json::Value::Array(items) => {
                println!("{name}: {}", items.len());
                for item in items {
                    let line: Vec<String> = item
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| {
                                    format!(
                                        "{k}={}",
                                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    println!("  {}", line.join(" "));
                }
            }
            other => println!("{name}: {other}"),
        }
    }
}

async fn shutdown_signal() {
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
    tracing::info!("shutting down: finishing requests in flight");
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Issue one-time processing numbers (prints `number<TAB>expires-at` per line).
    IssueNumbers(IssueNumbersArgs),
}

#[derive(Debug, Args)]
pub struct IssueNumbersArgs {
    /// How many numbers (1..=100).
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Minutes until they expire (1..=1440) [default: the server's, 24 hours].
    #[arg(long, value_name = "MINUTES")]
    lifetime_minutes: Option<u32>,
    /// The date symptoms began (YYYY-MM-DD), if known.
    #[arg(long, value_name = "DATE")]
    symptom_onset_date: Option<String>,
    /// The date of the positive test (YYYY-MM-DD), for people without symptoms.
    #[arg(long, value_name = "DATE")]
    test_date: Option<String>,
    /// The server's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The admin token [default: $COCOA_ADMIN_TOKEN, else the file <data-dir>/admin-token].
    #[arg(
        long,
        value_name = "TOKEN",
        env = "COCOA_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Where to find the generated admin token when none is given.
    #[arg(long, value_name = "DIR", default_value = "cocoa-data")]
    data_dir: PathBuf,
    /// Print the server's JSON answer instead of lines.
    #[arg(long)]
    json: bool,
}

pub fn admin(command: AdminCommand) -> Result<(), Failure> {
    match command {
        AdminCommand::IssueNumbers(args) => issue_numbers(args),
    }
}

fn issue_numbers(args: IssueNumbersArgs) -> Result<(), Failure> {
    let token = match &args.admin_token {
        Some(t) => t.clone(),
        None => {
            let path = args.data_dir.join(cocoa_server::server::ADMIN_TOKEN_FILE);
            std::fs::read_to_string(&path)
                .usage_or_io(format!(
                    "no --admin-token or COCOA_ADMIN_TOKEN given, and reading {} failed",
                    path.display()
                ))?
                .trim()
                .to_owned()
        }
    };
    let body = IssueNumbersRequest {
        count: Some(args.count),
        lifetime_minutes: args.lifetime_minutes,
        symptom_onset_date: args.symptom_onset_date,
        test_date: args.test_date,
    };
    let url = format!(
        "{}/api/v1/processing-numbers",
        args.server.trim_end_matches('/')
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .usage_or_io("starting the runtime")?;
    let (status, text) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .usage_or_io(format!("POST {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .usage_or_io(format!("reading the answer of {url}"))?;
        Ok::<_, Failure>((status, text))
    })?;
    if !status.is_success() {
        let reason = serde_json::from_str::<ErrorBody>(&text)
            .map(|e| format!("{} ({})", e.message, e.error))
            .unwrap_or(text);
        return Err(Failure::new(
            if status.is_client_error() {
                INVALID
            } else {
                USAGE_OR_IO
            },
            anyhow!("the server answered {status}: {reason}"),
        ));
    }
    if args.json {
        println!("{text}");
        return Ok(());
    }
    let answer: IssueNumbersResponse =
        serde_json::from_str(&text).usage_or_io("the server's answer is not the expected JSON")?;
    for n in answer.processing_numbers {
        println!("{}\t{}", n.processing_number, n.expires_at);
    }
    Ok(())
}
