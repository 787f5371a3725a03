//! Connections that misbehave, against the real server on port 0: slow or missing request
//! heads, idle keep-alive connections, slow bodies, more sockets than the cap, a shutdown while
//! clients hold half-sent requests, and a database that is locked or does not answer.
//!
//! Each test configures short timeouts (about a second) and checks with raw sockets that the
//! server closes them within the timeout plus a few seconds of slack.

mod common;

use chrono::{TimeZone, Utc};
use cocoa_server::config::StorageConfig;
use cocoa_server::store::{PostgresStore, SqliteStore, Store};
use cocoa_server::testing::TestDatabase;
use cocoa_server::{App, Clock, ManualClock, ServerConfig};
use common::{Server, ADMIN_TOKEN};
use rand::SeedableRng;
use serde_json::{json, Value};
use sqlx::Connection;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slack on every bound: the tests share two cores with others.
const SLACK: Duration = Duration::from_secs(3);

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap(),
    ))
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (Arc::new(SqliteStore::connect(&url).await.unwrap()), dir)
}

/// The real server on SQLite with `tweak`ed configuration.
async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> (Server, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    (Server::start(store, clock(), tweak).await, dir)
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads (and discards) until the server closes the connection; how long that took. Fails if
/// it stays open longer than `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the connection open for {limit:?}"));
    started.elapsed()
}

/// Reads one answer with a `content-length` (head and body) from a raw connection.
async fn read_answer(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(data[..end].to_vec()).unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the connection closed mid-answer: {head}");
                data.extend_from_slice(&buf[..n]);
            }
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return (status, head, data[end + 4..end + 4 + length].to_vec());
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before an answer");
        data.extend_from_slice(&buf[..n]);
    }
}

/// A registration request whose head says `length` body bytes are coming and asks for
/// `100 Continue`; returns once the server's handler waits for the body.
async fn start_slow_body(address: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "PUT /api/v2/diagnosis HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\nexpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut expected = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).await.unwrap();
    expected.make_ascii_lowercase();
    got.make_ascii_lowercase();
    assert_eq!(got, expected);
    stream.write_all(b"{\"keys\":").await.unwrap();
    stream
}

#[tokio::test]
async fn slow_header_client_is_disconnected_within_the_header_timeout() {
    let (server, _dir) = start(|c| {
        c.http.header_read_timeout_seconds = 1;
        c.http.idle_timeout_seconds = 60;
    })
    .await;
    let stream = TcpStream::connect(address(&server)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 200 ms: the connection is never idle, its head never ends.
    let first_byte = Instant::now();
    let trickle = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ".iter();
        for byte in head.chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(1) + SLACK, async {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => first_byte.elapsed(),
            Ok(n) => panic!(
                "answered a head that never ended: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
    })
    .await
    .expect("a slow head is cut off at the header timeout");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
    trickle.abort();
}

#[tokio::test]
async fn idle_client_is_disconnected_within_the_idle_timeout() {
    let (server, _dir) = start(|c| {
        c.http.idle_timeout_seconds = 1;
        c.http.header_read_timeout_seconds = 30;
    })
    .await;
    // A connection that never sends a byte.
    let connected = Instant::now();
    let mut silent = TcpStream::connect(address(&server)).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(1) + SLACK).await;
    assert!(connected.elapsed() >= Duration::from_millis(900));

    // A keep-alive connection, idle after one answer.
    let mut kept = TcpStream::connect(address(&server)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, head, _) = read_answer(&mut kept).await;
    assert_eq!(status, 200, "{head}");
    assert!(!head.to_ascii_lowercase().contains("connection: close"));
    closed_within(&mut kept, Duration::from_secs(1) + SLACK).await;
}

#[tokio::test]
async fn slow_request_body_gets_408_request_timeout_as_json() {
    let (server, _dir) = start(|c| {
        c.http.request_body_timeout_seconds = 1;
        c.http.idle_timeout_seconds = 60;
    })
    .await;
    let mut stream = start_slow_body(&address(&server), 1000).await;
    let started = Instant::now();
    let (status, head, body) =
        tokio::time::timeout(Duration::from_secs(1) + SLACK, read_answer(&mut stream))
            .await
            .expect("a slow body is answered at the body timeout");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(status, 408, "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], cocoa_api::codes::REQUEST_TIMEOUT, "{body}");
    assert!(body["message"].is_string());
    assert!(head.to_ascii_lowercase().contains("connection: close"));
    closed_within(&mut stream, SLACK).await;
}

#[tokio::test]
async fn many_idle_sockets_do_not_stop_healthz() {
    let cap = 64;
    let (server, _dir) = start(|c| c.http.max_connections = cap).await;
    let mut idle = Vec::new();
    for i in 0..cap + 50 {
        let mut stream = TcpStream::connect(address(&server)).await.unwrap();
        if i % 10 == 0 {
            // Some hold half a head instead.
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let answer = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap()["status"], "ok");
    // Room was made by closing the connections idle the longest.
    closed_within(&mut idle[0], SLACK).await;
    closed_within(&mut idle[1], SLACK).await;
    // Phones still get through, one connection after another.
    let http = client();
    for _ in 0..3 {
        let r = http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503_overloaded_when_every_one_is_busy() {
    let (server, _dir) = start(|c| {
        c.http.max_connections = 2;
        c.http.request_body_timeout_seconds = 60;
    })
    .await;
    let _busy = [
        start_slow_body(&address(&server), 1000).await,
        start_slow_body(&address(&server), 1000).await,
    ];
    let mut refused = TcpStream::connect(address(&server)).await.unwrap();
    let (status, head, body) = tokio::time::timeout(SLACK, read_answer(&mut refused))
        .await
        .expect("refused at once");
    assert_eq!(status, 503, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], cocoa_api::codes::OVERLOADED, "{body}");
    closed_within(&mut refused, SLACK).await;
}

#[tokio::test]
async fn server_exits_within_the_shutdown_bound_with_a_half_sent_request() {
    let grace = Duration::from_secs(1);
    let (store, dir) = sqlite().await;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut config = ServerConfig {
        data_dir: dir.path().to_owned(),
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Default::default()
    };
    config.export.interval_minutes = 0;
    config.retention.interval_minutes = 0;
    config.http.shutdown_grace_seconds = grace.as_secs();
    // Nothing else would end these connections for a minute.
    config.http.header_read_timeout_seconds = 60;
    config.http.request_body_timeout_seconds = 60;
    config.http.idle_timeout_seconds = 60;
    let blobs = cocoa_server::blob::folder(&dir.path().join("blobs")).unwrap();
    let app = App::with_store(
        config,
        store,
        blobs,
        clock(),
        rand::rngs::StdRng::seed_from_u64(7),
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));

    // Half a head; a request in flight whose body never ends; an idle keep-alive connection.
    let mut half_head = TcpStream::connect(&address).await.unwrap();
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut half_body = start_slow_body(&address, 1000).await;
    let mut kept = TcpStream::connect(&address).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut kept).await.0, 200);

    let stopping = Instant::now();
    stop.send(()).unwrap();
    // Without a request in flight, connections close at once; the one in flight at the bound.
    closed_within(&mut half_head, SLACK).await;
    closed_within(&mut kept, SLACK).await;
    closed_within(&mut half_body, grace + SLACK).await;
    tokio::time::timeout(grace + SLACK, serving)
        .await
        .expect("serve returns within the grace period")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < grace + SLACK);
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn locked_sqlite_database_gives_503_within_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let timeouts = StorageConfig {
        busy_timeout_ms: 500,
        ..Default::default()
    };
    let store = Arc::new(SqliteStore::connect_with(&url, &timeouts).await.unwrap());
    let server = Server::start(store, clock(), |_| {}).await;
    let http = client();
    // Another process (`cocoa export`, say) holds the write lock.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    let started = Instant::now();
    let r = issue(&http, &server).await;
    assert_storage_unavailable(r, started, Duration::from_millis(500)).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(issue(&http, &server).await.status(), 201);
}

/// A client that gives up after ten seconds: a hang fails the test instead of stalling it.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn issue(http: &reqwest::Client, server: &Server) -> reqwest::Response {
    http.post(server.url("/api/v1/processing-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"count": 1}))
        .send()
        .await
        .unwrap()
}

/// 503 `storage_unavailable` with `Retry-After`, within `timeout` plus slack of `started`.
async fn assert_storage_unavailable(r: reqwest::Response, started: Instant, timeout: Duration) {
    let elapsed = started.elapsed();
    assert_eq!(r.status(), 503);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        cocoa_api::codes::STORAGE_UNAVAILABLE,
        "{body}"
    );
    assert!(elapsed < timeout + SLACK, "{elapsed:?}");
}

/// PostgreSQL with short timeouts: `None` without `COCOA_TEST_DATABASE_URL` (a failure under
/// `CI=true`, as everywhere).
async fn postgres(url_of: impl FnOnce(&str) -> String) -> Option<(Arc<dyn Store>, TestDatabase)> {
    let db = TestDatabase::create().await?;
    let store = PostgresStore::connect_with(&url_of(&db.url), &short_timeouts())
        .await
        .unwrap();
    Some((Arc::new(store), db))
}

fn short_timeouts() -> StorageConfig {
    StorageConfig {
        statement_timeout_ms: 1500,
        lock_timeout_ms: 500,
        busy_timeout_ms: 500,
        health_timeout_ms: 500,
    }
}

#[tokio::test]
async fn locked_postgres_table_gives_503_within_the_statement_timeout() {
    let Some((store, db)) = postgres(str::to_owned).await else {
        return;
    };
    let server = Server::start(store, clock(), |c| c.storage = short_timeouts()).await;
    let http = client();
    let answer: Value = issue(&http, &server).await.json().await.unwrap();
    let number = answer["processingNumbers"][0]["processingNumber"]
        .as_str()
        .unwrap()
        .to_owned();

    for table in ["processing_numbers", "diagnosis_keys"] {
        // Another session locks the table and keeps its transaction open.
        let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut other).await.unwrap();
        sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .execute(&mut other)
            .await
            .unwrap();
        let started = Instant::now();
        let r = http
            .put(server.url("/api/v2/diagnosis"))
            .json(&registration(&number))
            .send()
            .await
            .unwrap();
        assert_storage_unavailable(r, started, Duration::from_millis(1500)).await;
        if table == "processing_numbers" {
            let started = Instant::now();
            let r = issue(&http, &server).await;
            assert_storage_unavailable(r, started, Duration::from_millis(1500)).await;
        }
        // The database itself answers: healthy.
        let r = http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    }
    // Unlocked, the same number registers.
    let r = http
        .put(server.url("/api/v2/diagnosis"))
        .json(&registration(&number))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn unresponsive_postgres_makes_healthz_degraded_within_the_health_timeout() {
    let proxy = Proxy::start().await;
    let Some((store, _db)) = postgres(|url| proxy.route(url)).await else {
        return;
    };
    let server = Server::start(store, clock(), |c| c.storage = short_timeouts()).await;
    let http = client();
    let r = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The network to the database stops carrying anything.
    proxy.freeze(true);
    let started = Instant::now();
    let r = http.get(server.url("/healthz")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["storage"], "timeout", "{body}");
    assert_eq!(
        body["error"],
        cocoa_api::codes::STORAGE_UNAVAILABLE,
        "{body}"
    );
    assert!(elapsed < Duration::from_millis(500) + SLACK, "{elapsed:?}");

    // And healthy again once it does.
    proxy.freeze(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http.get(server.url("/healthz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", r.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn registration(number: &str) -> Value {
    let day = |d: u32| {
        Utc.with_ymd_and_hms(2022, 8, d, 0, 0, 0)
            .unwrap()
            .timestamp()
            / 600
    };
    json!({
        "hasSymptom": true,
        "onsetOfSymptomOrTestDate": "2022-08-05T00:00:00.000+09:00",
        "keys": [
            {"keyData": "AQIDBAUGBwgJCgsMDQ4PEA==", "rollingStartNumber": day(6), "rollingPeriod": 144, "reportType": 1},
            {"keyData": "EQIDBAUGBwgJCgsMDQ4PEA==", "rollingStartNumber": day(7), "rollingPeriod": 144, "reportType": 1}
        ],
        "regions": ["440"],
        "platform": "android",
        "deviceVerificationPayload": "attestation",
        "appPackageName": "jp.go.mhlw.covid19radar",
        "verificationPayload": number,
    })
}

/// A TCP proxy in front of PostgreSQL that can stop forwarding (an unresponsive database or
/// network), holding what it receives until it forwards again.
struct Proxy {
    address: SocketAddr,
    target: Arc<std::sync::Mutex<Option<String>>>,
    frozen: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let target = Arc::new(std::sync::Mutex::new(None::<String>));
        let (frozen, watch) = tokio::sync::watch::channel(false);
        let to = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(target) = to.lock().unwrap().clone() else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (from_client, to_client) = client.into_split();
                let (from_server, to_server) = server.into_split();
                tokio::spawn(pipe(from_client, to_server, watch.clone()));
                tokio::spawn(pipe(from_server, to_client, watch.clone()));
            }
        });
        Self {
            address,
            target,
            frozen,
            task,
        }
    }

    /// `url` with its host and port replaced by the proxy's (which forwards to them).
    fn route(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (format!("{user}@"), host),
            None => (String::new(), authority),
        };
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        *self.target.lock().unwrap() = Some(host);
        format!("{scheme}://{user}{}/{path}", self.address)
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_still_gets_the_answer() {
    let (server, _dir) = start(|_| {}).await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Like `nc -N`: nothing more will be sent.
    stream.shutdown().await.unwrap();
    let (status, _, body) = read_answer(&mut stream).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "ok"
    );
}
