//! Helpers for tests here and in other crates: a fresh PostgreSQL database per test, found
//! through `COCOA_TEST_DATABASE_URL`. Without it a test skips, except under `CI=true`, where a
//! missing PostgreSQL is a failure.

use sqlx::Connection;

/// The variable naming a PostgreSQL server tests may create databases on.
pub const TEST_DATABASE_URL_VAR: &str = "COCOA_TEST_DATABASE_URL";

/// A throw-away database; dropped (with its connections) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A new empty database, or `None` when PostgreSQL is not configured outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when `COCOA_TEST_DATABASE_URL` is unset or the server cannot be reached.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL_VAR) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{TEST_DATABASE_URL_VAR} must point at PostgreSQL when CI is set"
            );
            eprintln!(
                "{TEST_DATABASE_URL_VAR} is not set: skipping the PostgreSQL part of this test"
            );
            return None;
        };
        let name = format!("cocoa_test_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {TEST_DATABASE_URL_VAR}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            url,
            admin_url,
            name,
        })
    }
}

/// The same server URL naming another database.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a private one on a plain thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_are_rewritten() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}

/// The variable naming an S3-compatible test server (moto in CI).
pub const TEST_S3_ENDPOINT_VAR: &str = "COCOA_TEST_S3_ENDPOINT";

/// A fresh bucket on the S3 test server, and the settings that reach it.
#[derive(Debug, Clone)]
pub struct TestBucket {
    pub endpoint: String,
    pub bucket: String,
}

impl TestBucket {
    /// A new bucket with a random name, or `None` when no S3 server is configured outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when `COCOA_TEST_S3_ENDPOINT` is unset or the bucket cannot be created.
    pub async fn create() -> Option<Self> {
        let endpoint = match std::env::var(TEST_S3_ENDPOINT_VAR) {
            Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{TEST_S3_ENDPOINT_VAR} must be set under CI (.ci/run starts moto)"
                );
                eprintln!("{TEST_S3_ENDPOINT_VAR} is not set: skipping the S3 part of this test");
                return None;
            }
        };
        let bucket = format!("cocoa-test-{:016x}", rand::random::<u64>());
        create_bucket(&endpoint, &bucket).await;
        Some(Self { endpoint, bucket })
    }

    /// S3 settings with the dummy credentials moto accepts.
    pub fn s3_config(&self) -> crate::config::S3Config {
        crate::config::S3Config {
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            region: Some("us-east-1".into()),
            allow_http: Some(true),
        }
    }

    /// Points a server configuration at this bucket, under `prefix` (e.g. `/deployment`).
    pub fn configure(&self, config: &mut crate::config::ServerConfig, prefix: &str) {
        config.blob_url = Some(format!("s3://{}{prefix}", self.bucket));
        config.s3 = self.s3_config();
    }
}

/// Creates a bucket with an unsigned request (moto accepts it).
async fn create_bucket(endpoint: &str, bucket: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A bare HTTP/1.1 PUT: the library's own S3 client has no "create bucket".
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the S3 test server at {endpoint}: {e}"));
    let request = format!("PUT /{bucket} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the bucket request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .expect("read the bucket answer");
    let status = answer.split_whitespace().nth(1).unwrap_or("");
    assert!(
        status.starts_with('2'),
        "creating bucket {bucket}: {}",
        answer.lines().next().unwrap_or("")
    );
}
