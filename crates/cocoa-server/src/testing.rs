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
fn with_database(url: &str, name: &str) -> String {
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
