//! Shared test scaffolding: stores on both backends, fault injection through real database
//! triggers, and the real server on port 0.

#![allow(dead_code)]

use cocoa_server::store::{PostgresStore, SqliteStore, Store};
use cocoa_server::testing::TestDatabase;
use cocoa_server::{App, Clock, ServerConfig};
use rand::SeedableRng;
use sqlx::Connection;
use std::net::SocketAddr;
use std::sync::Arc;

/// A store under test, with what is needed to break it on purpose.
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl Backend {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        Self {
            name: "sqlite",
            store,
            url,
            _dir: Some(dir),
            _db: None,
        }
    }

    /// `None` when PostgreSQL is not configured (outside CI only).
    pub async fn postgres() -> Option<Self> {
        let db = TestDatabase::create().await?;
        let store = Arc::new(PostgresStore::connect(&db.url).await.unwrap());
        Some(Self {
            name: "postgres",
            store,
            url: db.url.clone(),
            _dir: None,
            _db: Some(db),
        })
    }

    /// A store opened elsewhere (the database belongs to the caller).
    pub fn wrap(name: &'static str, store: Arc<dyn Store>, url: String) -> Self {
        Self {
            name,
            store,
            url,
            _dir: None,
            _db: None,
        }
    }

    /// Both backends (PostgreSQL when available).
    pub async fn all() -> Vec<Self> {
        let mut all = vec![Self::sqlite().await];
        all.extend(Self::postgres().await);
        all
    }

    /// Runs statements on a connection of its own (to break or inspect the database).
    pub async fn execute(&self, statements: &[&str]) {
        if self.name == "sqlite" {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            for s in statements {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            for s in statements {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
        }
    }

    /// Makes every insert of a diagnosis key fail inside the database, as a full disk would.
    pub async fn break_key_inserts(&self) {
        if self.name == "sqlite" {
            self.execute(&[
                "CREATE TRIGGER injected_failure BEFORE INSERT ON diagnosis_keys \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            ])
            .await;
        } else {
            self.execute(&[
                "CREATE FUNCTION injected_failure() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER injected_failure BEFORE INSERT ON diagnosis_keys \
                 FOR EACH ROW EXECUTE FUNCTION injected_failure()",
            ])
            .await;
        }
    }

    /// Makes inserting a survey answer with `q1 = 9` fail inside the database: one poisoned
    /// answer among good ones.
    pub async fn break_survey_inserts_of_age_group_9(&self) {
        if self.name == "sqlite" {
            self.execute(&[
                "CREATE TRIGGER injected_survey_failure BEFORE INSERT ON survey_responses \
                 WHEN NEW.q1 = 9 BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            ])
            .await;
        } else {
            self.execute(&[
                "CREATE FUNCTION injected_survey_failure() RETURNS trigger AS $$ \
                 BEGIN IF NEW.q1 = 9 THEN RAISE EXCEPTION 'injected failure'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER injected_survey_failure BEFORE INSERT ON survey_responses \
                 FOR EACH ROW EXECUTE FUNCTION injected_survey_failure()",
            ])
            .await;
        }
    }

    pub async fn repair_key_inserts(&self) {
        if self.name == "sqlite" {
            self.execute(&["DROP TRIGGER injected_failure"]).await;
        } else {
            self.execute(&["DROP TRIGGER injected_failure ON diagnosis_keys"])
                .await;
        }
    }
}

/// The real server on 127.0.0.1, port 0.
pub struct Server {
    pub base: String,
    pub app: App,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

impl Server {
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        Self::start_with(store, None, clock, tweak).await
    }

    /// With blobs in the bucket (S3), or in a folder of the server's own when `None`.
    pub async fn start_with(
        store: Arc<dyn Store>,
        bucket: Option<&cocoa_server::testing::TestBucket>,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = ServerConfig {
            data_dir: dir.path().to_owned(),
            admin_token: Some(ADMIN_TOKEN.into()),
            public_base_url: Some(format!("{base}/c19r")),
            ..Default::default()
        };
        // Exports run when a test says so, not on the wall clock.
        config.export.interval_minutes = 0;
        config.retention.interval_minutes = 0;
        if let Some(bucket) = bucket {
            bucket.configure(&mut config, "/deployment");
        }
        tweak(&mut config);
        let blobs = match bucket {
            Some(_) => cocoa_server::blob::open(&config).unwrap(),
            None => cocoa_server::blob::folder(&dir.path().join("blobs")).unwrap(),
        };
        let app = App::with_store(
            config,
            store,
            blobs,
            clock,
            rand::rngs::StdRng::seed_from_u64(42),
        )
        .await
        .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = app.clone();
        tokio::spawn(async move {
            serving
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            app,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The interval number of 00:00 UTC on `day` August 2022, the month most tests live in.
pub fn interval_of_day(day: u32) -> i64 {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2022, 8, day, 0, 0, 0)
        .unwrap()
        .timestamp()
        / 600
}

/// Issues one processing number through the admin API (201 expected), as a health centre would.
pub async fn issue_number(http: &reqwest::Client, server: &Server) -> String {
    let r = http
        .post(server.url("/api/v1/processing-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    r.json::<serde_json::Value>().await.unwrap()["processingNumbers"][0]["processingNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}
