//! Typed server configuration: defaults, then a TOML file, then environment variables, then
//! command-line flags (applied by the binary). Validated once at start-up.

use chrono::{DateTime, FixedOffset, Months, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `cocoa serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where the embedded database, generated secrets and local files live.
    pub data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL; unset means SQLite in the data folder.
    pub database_url: Option<String>,
    /// The health centres' bearer token; unset means read or generate `<data_dir>/admin-token`.
    pub admin_token: Option<String>,
    /// Hex of 32 bytes: the HMAC key for processing numbers; unset means generated once and kept
    /// in the database.
    pub number_hmac_key: Option<String>,
    /// Where published files go: unset means the folder `<data_dir>/blobs`; `s3://bucket/prefix`
    /// means any S3-compatible store (endpoint and credentials from `[s3]` or the standard
    /// `AWS_*` variables).
    pub blob_url: Option<String>,
    /// The URL prefix phones download `c19r/...` from, written into `list.json`; unset means the
    /// server's own `http://<listen>/c19r`.
    pub public_base_url: Option<String>,
    pub s3: S3Config,
    pub registration: RegistrationConfig,
    pub numbers: NumbersConfig,
    pub rate_limit: RateLimitConfig,
    pub export: ExportConfig,
    pub retention: RetentionConfig,
    pub survey: SurveyConfig,
    pub http: HttpConfig,
    pub storage: StorageConfig,
}

/// How the HTTP server treats connections: timeouts, a cap, and the bound on shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's head (request line and headers) must arrive within this many seconds of its
    /// first byte, or the connection is closed.
    pub header_read_timeout_seconds: u64,
    /// A request's body must arrive within this many seconds of its head, or the answer is
    /// 408 `request_timeout` and the connection is closed.
    pub request_body_timeout_seconds: u64,
    /// A connection with no request in flight and no byte moving for this many seconds is
    /// closed: an idle keep-alive connection, one that never sent a byte, or one whose client
    /// stopped reading its answer.
    pub idle_timeout_seconds: u64,
    /// At most this many connections at once (also kept below the open-file limit). At the cap
    /// a new connection replaces the one idle the longest; when none is idle it gets a 503.
    pub max_connections: usize,
    /// On SIGTERM or Ctrl-C: requests in flight get this many seconds to finish, then every
    /// connection still open is closed. Connections with no request in flight close at once.
    pub shutdown_grace_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_seconds: 10,
            request_body_timeout_seconds: 20,
            idle_timeout_seconds: 60,
            max_connections: 10_000,
            shutdown_grace_seconds: 10,
        }
    }
}

/// How long the server waits for its database before answering 503 `storage_unavailable`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// PostgreSQL `statement_timeout` of every connection (0 turns it off). It bounds the export
    /// job's statements too: keep it above the time one export file's statements take.
    pub statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout` of every connection (0 turns it off).
    pub lock_timeout_ms: u64,
    /// SQLite: how long a statement waits for a lock another process (`cocoa export`) holds.
    pub busy_timeout_ms: u64,
    /// `/healthz` answers 503 `degraded` when the database does not answer within this long.
    pub health_timeout_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            statement_timeout_ms: 15_000,
            lock_timeout_ms: 2_000,
            busy_timeout_ms: 5_000,
            health_timeout_ms: 1_000,
        }
    }
}

/// The export job: signed files of released keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    /// Minutes between scheduled runs inside `cocoa serve` (COCOA ran five times a day); 0 turns
    /// the schedule off (runs then come from `cocoa export` or the admin API).
    pub interval_minutes: u32,
    /// At most this many keys (real and padding) per file.
    pub max_keys_per_file: usize,
    /// Every non-empty file is padded with fake keys to at least this many, plus a random
    /// 0..`padding_jitter`.
    pub min_keys_per_file: usize,
    pub padding_jitter: usize,
    /// The verification key id written into files (conventionally the MCC).
    pub key_id: String,
    /// The version of the generated signing key.
    pub key_version: String,
    /// Configured signing keys (PEM files); when empty, one is generated on first start and kept
    /// in the database so that every replica signs with it.
    pub signing_keys: Vec<SigningKeyConfig>,
    /// How long a run's lease lasts without renewal (renewed before every file). A replica that
    /// dies holding it delays the next run by at most this long.
    pub lease_seconds: u32,
    /// A JSON file replacing COCOA's `configuration.json`.
    pub exposure_configuration_file: Option<PathBuf>,
    /// A JSON file replacing COCOA's `risk_calculation_configuration.json`.
    pub risk_calculation_configuration_file: Option<PathBuf>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            interval_minutes: 288,
            max_keys_per_file: 250_000,
            min_keys_per_file: 1000,
            padding_jitter: 100,
            key_id: "440".into(),
            key_version: "v1".into(),
            signing_keys: Vec::new(),
            lease_seconds: 120,
            exposure_configuration_file: None,
            risk_calculation_configuration_file: None,
        }
    }
}

/// One configured signing key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// PKCS#8 or SEC1 PEM.
    pub file: PathBuf,
    /// Defaults to `export.key_id`.
    #[serde(default)]
    pub id: Option<String>,
    /// Defaults to `v1`, `v2`, ... by position.
    #[serde(default)]
    pub version: Option<String>,
}

/// How long things are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keys are deleted this many days after their validity ends (10..=14).
    pub key_days: u32,
    /// Export files are deleted (and unlisted) this many days after their window ends.
    pub file_days: u32,
    /// Minutes between retention runs inside `serve` (the first at start-up); 0 = only when
    /// asked (`cocoa cleanup`).
    pub interval_minutes: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            key_days: 14,
            file_days: 14,
            interval_minutes: 10,
        }
    }
}

/// The end-of-use survey (`PUT /api/v1/event_log`): when it takes answers, what it accepts,
/// how long answers are kept, and how often one client may submit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurveyConfig {
    /// RFC 3339: answers are refused (410) before this moment; unset means open from the start.
    #[serde(deserialize_with = "rfc3339")]
    pub opens_at: Option<DateTime<FixedOffset>>,
    /// RFC 3339: answers are refused (410) after this moment (inclusive: an answer at exactly
    /// this time is taken); unset means never closing. COCOA's survey ran until
    /// `2022-12-31T23:59:59+09:00`.
    #[serde(deserialize_with = "rfc3339")]
    pub closes_at: Option<DateTime<FixedOffset>>,
    /// The first day the daily data may hold (`YYYY-MM-DD`, UTC; COCOA's: 2022-04-07).
    #[serde(deserialize_with = "date")]
    pub first_day: NaiveDate,
    /// When the final review report was published (`YYYY-MM-DD`); answers are kept two years
    /// after it (COCOA's: 2023-02-17). Unset (the default) means no deletion is scheduled yet:
    /// a deployment sets it once the report date is known. (Defaulting to COCOA's date would
    /// put the deletion date in the past and delete every new answer within minutes.)
    #[serde(deserialize_with = "optional_date")]
    pub final_report_date: Option<NaiveDate>,
    /// Overrides the deletion date (`YYYY-MM-DD`): from 00:00 UTC of this day, the cleanup job
    /// deletes every stored answer.
    #[serde(deserialize_with = "optional_date")]
    pub delete_on: Option<NaiveDate>,
    /// Submissions one client (one IPv4 address or IPv6 /64) may make per window, whatever
    /// their outcome. Many phones can share one address (carrier-grade NAT): raise it for
    /// a national roll-out.
    pub client_submissions_per_window: u32,
    /// Length of one rate-limit window for submissions.
    pub window_seconds: u64,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        Self {
            opens_at: None,
            closes_at: None,
            first_day: NaiveDate::from_ymd_opt(2022, 4, 7).expect("a date"),
            final_report_date: None,
            delete_on: None,
            client_submissions_per_window: 20,
            window_seconds: 3600,
        }
    }
}

impl SurveyConfig {
    /// The day from which every stored answer is deleted: `delete_on`, or two years after the
    /// final report; `None` while neither is configured.
    pub fn deletion_date(&self) -> Option<NaiveDate> {
        self.delete_on.or_else(|| {
            self.final_report_date.map(|d| {
                d.checked_add_months(Months::new(24))
                    .unwrap_or(NaiveDate::MAX)
            })
        })
    }

    /// Whether answers are taken at `now` (both ends inclusive).
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.opens_at.is_none_or(|t| now >= t) && self.closes_at.is_none_or(|t| now <= t)
    }
}

fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    let text = String::deserialize(d)?;
    crate::dates::parse_date_time(&text)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not an RFC 3339 date-time (e.g. 2023-02-17T00:00:00+09:00)"
            ))
        })
}

fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let text = String::deserialize(d)?;
    crate::dates::parse_full_date(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a date YYYY-MM-DD")))
}

fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    date(d).map(Some)
}

/// S3 settings from the configuration file; each one left unset falls back to the standard
/// variable (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ALLOW_HTTP`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: Option<String>,
    pub allow_http: Option<bool>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("cocoa-data"),
            database_url: None,
            admin_token: None,
            number_hmac_key: None,
            blob_url: None,
            public_base_url: None,
            s3: S3Config::default(),
            registration: RegistrationConfig::default(),
            numbers: NumbersConfig::default(),
            rate_limit: RateLimitConfig::default(),
            export: ExportConfig::default(),
            retention: RetentionConfig::default(),
            survey: SurveyConfig::default(),
            http: HttpConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

/// What a registration must look like.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Regions this server accepts and publishes (Japan's MCC by default).
    pub regions: Vec<String>,
    /// At most this many keys per registration.
    pub max_keys: usize,
    /// Days relative to symptom onset whose keys are published, inclusive.
    pub symptomatic_window: [i32; 2],
    /// Days relative to the test date whose keys are published when there are no symptoms.
    pub asymptomatic_window: [i32; 2],
    /// The onset or test date may be at most this many days in the past.
    pub max_onset_age_days: i64,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            regions: vec!["440".into()],
            max_keys: 30,
            symptomatic_window: [-3, 10],
            asymptomatic_window: [-3, 7],
            max_onset_age_days: 28,
        }
    }
}

/// Processing numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumbersConfig {
    /// Lifetime when the health centre does not say (24 hours: one hour failed people in 2022).
    pub default_lifetime_minutes: u32,
    /// How long used and expired numbers are kept (so a late retry still gets a precise answer)
    /// before they are purged.
    pub grace_period_hours: u32,
}

impl Default for NumbersConfig {
    fn default() -> Self {
        Self {
            default_lifetime_minutes: 24 * 60,
            grace_period_hours: 48,
        }
    }
}

/// Limits on failed processing-number attempts (see README, "Guessing processing numbers").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Length of one rate-limit window.
    pub window_seconds: u64,
    /// Failed attempts one client (one address) may make per window.
    pub client_failures_per_window: u32,
    /// Failed attempts all clients together may make per window.
    pub global_failures_per_window: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            window_seconds: 3600,
            client_failures_per_window: 10,
            global_failures_per_window: 1000,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl ServerConfig {
    /// Parses a TOML file's text over the defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Applies `COCOA_*` environment variables (given as a lookup, so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("COCOA_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|e| ConfigError(format!("COCOA_LISTEN={v:?}: {e}")))?;
        }
        if let Some(v) = var("COCOA_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("COCOA_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = var("COCOA_ADMIN_TOKEN") {
            self.admin_token = Some(v);
        }
        if let Some(v) = var("COCOA_NUMBER_HMAC_KEY") {
            self.number_hmac_key = Some(v);
        }
        if let Some(v) = var("COCOA_BLOB_URL") {
            self.blob_url = Some(v);
        }
        if let Some(v) = var("COCOA_PUBLIC_BASE_URL") {
            self.public_base_url = Some(v);
        }
        if let Some(v) = var("COCOA_REGIONS") {
            self.registration.regions = v.split(',').map(|r| r.trim().to_owned()).collect();
        }
        Ok(())
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.registration;
        if r.regions.is_empty() || r.regions.iter().any(|x| x.is_empty()) {
            return Err(ConfigError(
                "registration.regions needs at least one non-empty region".into(),
            ));
        }
        if !(1..=100).contains(&r.max_keys) {
            return Err(ConfigError("registration.max_keys must be 1..=100".into()));
        }
        for (name, [lo, hi]) in [
            ("symptomatic_window", r.symptomatic_window),
            ("asymptomatic_window", r.asymptomatic_window),
        ] {
            if lo > hi || lo < -14 || hi > 14 {
                return Err(ConfigError(format!(
                    "registration.{name} must be [lo, hi] with -14 <= lo <= hi <= 14"
                )));
            }
        }
        if !(1..=1440).contains(&self.numbers.default_lifetime_minutes) {
            return Err(ConfigError(
                "numbers.default_lifetime_minutes must be 1..=1440".into(),
            ));
        }
        if self.rate_limit.window_seconds == 0 {
            return Err(ConfigError(
                "rate_limit.window_seconds must be positive".into(),
            ));
        }
        if let Some(token) = &self.admin_token {
            if token.len() < 16 {
                return Err(ConfigError(
                    "the admin token must be at least 16 characters".into(),
                ));
            }
        }
        if !(10..=14).contains(&self.retention.key_days) {
            return Err(ConfigError("retention.key_days must be 10..=14: phones use 14 days of keys, and none may be kept longer".into()));
        }
        if !(1..=14).contains(&self.retention.file_days) {
            return Err(ConfigError("retention.file_days must be 1..=14".into()));
        }
        // At least daily: keys must not outlive their 14 days by more than a day.
        if self.retention.interval_minutes > 1440 {
            return Err(ConfigError(
                "retention.interval_minutes must be 0..=1440 (0 = only with cocoa cleanup)".into(),
            ));
        }
        if self.export.interval_minutes > 10_080 {
            return Err(ConfigError(
                "export.interval_minutes must be 0..=10080 (0 = only when asked)".into(),
            ));
        }
        let e = &self.export;
        if !(1000..=500_000).contains(&e.max_keys_per_file) {
            return Err(ConfigError(
                "export.max_keys_per_file must be 1000..=500000".into(),
            ));
        }
        if e.min_keys_per_file + e.padding_jitter > e.max_keys_per_file {
            return Err(ConfigError(
                "export.min_keys_per_file + padding_jitter must not exceed max_keys_per_file"
                    .into(),
            ));
        }
        if !(1..=3600).contains(&e.lease_seconds) {
            return Err(ConfigError("export.lease_seconds must be 1..=3600".into()));
        }
        if e.signing_keys.len() > 10 {
            return Err(ConfigError("at most 10 signing keys may be active".into()));
        }
        if e.key_id.is_empty() || e.key_version.is_empty() {
            return Err(ConfigError(
                "export.key_id and export.key_version must not be empty".into(),
            ));
        }
        let s = &self.survey;
        if let (Some(opens), Some(closes)) = (s.opens_at, s.closes_at) {
            if opens > closes {
                return Err(ConfigError(
                    "survey.opens_at must not be after survey.closes_at".into(),
                ));
            }
        }
        if s.first_day < crate::survey::SERVICE_START {
            return Err(ConfigError(format!(
                "survey.first_day must not be before the service started ({})",
                crate::survey::SERVICE_START
            )));
        }
        if s.client_submissions_per_window == 0 || s.window_seconds == 0 {
            return Err(ConfigError(
                "survey.client_submissions_per_window and survey.window_seconds must be positive"
                    .into(),
            ));
        }
        self.validate_connections()?;
        if let Some(key) = &self.number_hmac_key {
            if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError(
                    "number_hmac_key must be 64 hex digits (32 bytes)".into(),
                ));
            }
        }
        Ok(())
    }
}

impl ServerConfig {
    /// The `[http]` and `[storage]` limits.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        let h = &self.http;
        for (name, value) in [
            ("header_read_timeout_seconds", h.header_read_timeout_seconds),
            (
                "request_body_timeout_seconds",
                h.request_body_timeout_seconds,
            ),
            ("idle_timeout_seconds", h.idle_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(ConfigError(format!("http.{name} must be 1..=3600")));
            }
        }
        if h.shutdown_grace_seconds > 3600 {
            return Err(ConfigError(
                "http.shutdown_grace_seconds must be 0..=3600".into(),
            ));
        }
        if !(1..=1_000_000).contains(&h.max_connections) {
            return Err(ConfigError(
                "http.max_connections must be 1..=1000000".into(),
            ));
        }
        let s = &self.storage;
        for (name, value, max) in [
            ("statement_timeout_ms", s.statement_timeout_ms, 3_600_000),
            ("lock_timeout_ms", s.lock_timeout_ms, 3_600_000),
            ("busy_timeout_ms", s.busy_timeout_ms, 600_000),
        ] {
            if value > max {
                return Err(ConfigError(format!("storage.{name} must be 0..={max}")));
            }
        }
        if !(1..=60_000).contains(&s.health_timeout_ms) {
            return Err(ConfigError(
                "storage.health_timeout_ms must be 1..=60000".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_files_override_them() {
        ServerConfig::default().validate().unwrap();
        let c = ServerConfig::from_toml(
            "listen = \"0.0.0.0:9000\"\n[registration]\nregions = [\"440\", \"441\"]\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.registration.regions, ["440", "441"]);
        assert_eq!(c.registration.max_keys, 30);
        assert!(ServerConfig::from_toml("colour = 1").is_err());
        for bad in [
            "[retention]\nkey_days = 15",
            "[retention]\nkey_days = 9",
            "[export]\nmax_keys_per_file = 10",
        ] {
            assert!(
                ServerConfig::from_toml(bad).unwrap().validate().is_err(),
                "{bad}"
            );
        }
        let c = ServerConfig::from_toml(
            "[[export.signing_keys]]\nfile = \"a.pem\"\nversion = \"v7\"\n",
        )
        .unwrap();
        assert_eq!(c.export.signing_keys[0].version.as_deref(), Some("v7"));
    }

    #[test]
    fn connection_limits_and_storage_timeouts() {
        let c = ServerConfig::default();
        assert_eq!(c.http.header_read_timeout_seconds, 10);
        assert_eq!(c.http.max_connections, 10_000);
        assert_eq!(c.storage.lock_timeout_ms, 2_000);
        let c = ServerConfig::from_toml(
            "[http]\nidle_timeout_seconds = 5\nmax_connections = 64\nshutdown_grace_seconds = 0\n\
             [storage]\nstatement_timeout_ms = 0\nhealth_timeout_ms = 250\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.http.idle_timeout_seconds, 5);
        assert_eq!(c.http.max_connections, 64);
        assert_eq!(c.http.request_body_timeout_seconds, 20);
        assert_eq!(c.storage.statement_timeout_ms, 0);
        assert_eq!(c.storage.health_timeout_ms, 250);
        assert!(ServerConfig::from_toml("[http]\ncolour = 1").is_err());
        assert!(ServerConfig::from_toml("[storage]\nlock_timeout_ms = -1").is_err());
        for bad in [
            "[http]\nheader_read_timeout_seconds = 0",
            "[http]\nrequest_body_timeout_seconds = 0",
            "[http]\nidle_timeout_seconds = 3601",
            "[http]\nmax_connections = 0",
            "[http]\nshutdown_grace_seconds = 3601",
            "[storage]\nhealth_timeout_ms = 0",
            "[storage]\nbusy_timeout_ms = 600001",
        ] {
            assert!(
                ServerConfig::from_toml(bad).unwrap().validate().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn schedule_intervals_are_bounded() {
        let parse = |text: &str| ServerConfig::from_toml(text).and_then(|c| c.validate());
        assert!(parse("[retention]\ninterval_minutes = 0\n").is_ok());
        assert!(parse("[retention]\ninterval_minutes = 1440\n").is_ok());
        assert!(parse("[retention]\ninterval_minutes = 1441\n").is_err());
        assert!(parse("[export]\ninterval_minutes = 10081\n").is_err());
        assert_eq!(ServerConfig::default().retention.interval_minutes, 10);
    }

    #[test]
    fn configuration_dates_are_strict_rfc_3339() {
        let survey = |line: &str| ServerConfig::from_toml(&format!("[survey]\n{line}\n"));
        assert!(survey("first_day = \"2022-04-07\"").is_ok());
        assert!(survey("opens_at = \"2022-11-17T00:00:00+09:00\"").is_ok());
        for bad in [
            "first_day = \"+2022-04-07\"",
            "first_day = \"2022-4-7\"",
            "delete_on = \"20220-04-07\"",
            "final_report_date = \"2023-02-17T00:00:00Z\"",
            "opens_at = \"2022-11-17 00:00:00+09:00\"",
            "closes_at = \"+2022-11-17T00:00:00Z\"",
        ] {
            assert!(survey(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn survey_window_dates_and_retention() {
        let c = ServerConfig::default();
        assert!(c.survey.is_open(Utc::now()));
        assert_eq!(
            c.survey.deletion_date(),
            None,
            "nothing scheduled until configured"
        );
        let cocoa =
            ServerConfig::from_toml("[survey]\nfinal_report_date = \"2023-02-17\"\n").unwrap();
        assert_eq!(
            cocoa.survey.deletion_date(),
            NaiveDate::from_ymd_opt(2025, 2, 17)
        );
        let c = ServerConfig::from_toml(
            "[survey]\nopens_at = \"2022-11-17T00:00:00+09:00\"\n\
             closes_at = \"2022-12-31T23:59:59+09:00\"\n\
             final_report_date = \"2024-02-29\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(!c.survey.is_open(at("2022-11-16T14:59:59Z")));
        assert!(c.survey.is_open(at("2022-11-16T15:00:00Z")));
        assert!(c.survey.is_open(at("2022-12-31T14:59:59Z")));
        assert!(!c.survey.is_open(at("2022-12-31T15:00:00Z")));
        // Two years after 29 February is the end of February.
        assert_eq!(
            c.survey.deletion_date(),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        let c = ServerConfig::from_toml("[survey]\ndelete_on = \"2030-01-02\"\n").unwrap();
        assert_eq!(
            c.survey.deletion_date(),
            NaiveDate::from_ymd_opt(2030, 1, 2)
        );
        for bad in [
            "[survey]\nopens_at = \"2022-11-17\"",
            "[survey]\ndelete_on = \"17/02/2025\"",
            "[survey]\ncolour = 1",
        ] {
            assert!(ServerConfig::from_toml(bad).is_err(), "{bad}");
        }
        for bad in [
            "[survey]\nopens_at = \"2023-01-01T00:00:00Z\"\ncloses_at = \"2022-01-01T00:00:00Z\"",
            "[survey]\nfirst_day = \"2020-06-18\"",
            "[survey]\nclient_submissions_per_window = 0",
        ] {
            assert!(
                ServerConfig::from_toml(bad).unwrap().validate().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn environment_overrides_and_validation() {
        let mut c = ServerConfig::default();
        c.apply_env(|k| match k {
            "COCOA_DATABASE_URL" => Some("postgres://x".into()),
            "COCOA_REGIONS" => Some("440, 441".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.database_url.as_deref(), Some("postgres://x"));
        assert_eq!(c.registration.regions, ["440", "441"]);
        assert!(c
            .apply_env(|k| (k == "COCOA_LISTEN").then(|| "nope".into()))
            .is_err());
        c.registration.symptomatic_window = [5, 1];
        assert!(c.validate().is_err());
        let mut c = ServerConfig {
            admin_token: Some("short".into()),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        c.admin_token = None;
        c.number_hmac_key = Some("zz".into());
        assert!(c.validate().is_err());
    }
}
