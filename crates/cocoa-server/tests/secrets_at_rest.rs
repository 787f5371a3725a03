//! README "Secrets at rest" on PostgreSQL: the `secrets` table is readable by the server's own
//! role only (no other role gets a privilege on it), and with the keys configured from outside
//! nothing secret is stored in it at all.

mod common;

use cocoa_server::{Clock, ManualClock};
use common::{Backend, Server};
use sqlx::Connection;
use std::sync::Arc;

#[tokio::test]
async fn postgres_secrets_table_is_closed_to_other_roles() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let _server = Server::start(backend.store.clone(), clock as Arc<dyn Clock>, |_| {}).await;
    let mut c = sqlx::PgConnection::connect(&backend.url).await.unwrap();
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM secrets")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(stored, 2, "the number HMAC key and the signing key");
    let role = format!("cocoa_probe_{:08x}", rand::random::<u32>());
    sqlx::query(&format!("CREATE ROLE {role} LOGIN"))
        .execute(&mut c)
        .await
        .unwrap();
    let privileges: Result<(bool, bool), _> = sqlx::query_as(
        "SELECT has_table_privilege($1, 'secrets', 'SELECT'), \
         has_table_privilege('public', 'secrets', 'SELECT')",
    )
    .bind(&role)
    .fetch_one(&mut c)
    .await;
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(privileges.unwrap(), (false, false));
}

#[tokio::test]
async fn keys_configured_from_outside_are_not_stored() {
    for backend in Backend::all().await {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("signing.pem");
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
        let signer = gaen::ExportSigner::generate(&mut rng, gaen::SignatureInfo::default());
        cocoa_server::server::write_secret_file(&key, signer.private_key_pem().as_bytes()).unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let _server = Server::start(backend.store.clone(), clock as Arc<dyn Clock>, |c| {
            c.number_hmac_key = Some("ab".repeat(32));
            c.export.signing_keys = vec![cocoa_server::config::SigningKeyConfig {
                file: key.clone(),
                id: None,
                version: None,
            }];
        })
        .await;
        let rows = if backend.name == "sqlite" {
            let mut c = sqlx::SqliteConnection::connect(&backend.url).await.unwrap();
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM secrets")
                .fetch_one(&mut c)
                .await
                .unwrap()
                .0
        } else {
            let mut c = sqlx::PgConnection::connect(&backend.url).await.unwrap();
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM secrets")
                .fetch_one(&mut c)
                .await
                .unwrap()
                .0
        };
        assert_eq!(rows, 0, "{}", backend.name);
    }
}
