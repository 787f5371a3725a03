//! `cocoa serve` stops on SIGTERM within `http.shutdown_grace_seconds` (plus slack) even while
//! clients hold half-sent requests: one with half a head, one whose body never ends.

#![cfg(unix)]

mod common;

use common::Running;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts `cocoa serve --config <file>` on a free port; returns it and its address.
fn start(data_dir: &std::path::Path, config: &str) -> (Running, String) {
    let file = data_dir.with_extension("toml");
    std::fs::write(&file, config).unwrap();
    let (running, base) = common::start_command(
        Command::new(env!("CARGO_BIN_EXE_cocoa"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&file)
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("NO_COLOR", "1"),
    );
    (running, base.trim_start_matches("http://").to_owned())
}

#[test]
fn serve_exits_on_sigterm_within_the_grace_period_with_half_sent_requests() {
    let grace = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    // Nothing but the shutdown bound would end these connections for a minute.
    let (mut server, address) = start(
        &dir.path().join("data"),
        &format!(
            "[http]\nshutdown_grace_seconds = {}\nheader_read_timeout_seconds = 60\n\
             request_body_timeout_seconds = 60\nidle_timeout_seconds = 60\n",
            grace.as_secs()
        ),
    );

    let mut half_head = TcpStream::connect(&address).unwrap();
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    // A registration in flight: the server asked for its body, which stops after a few bytes.
    let mut half_body = TcpStream::connect(&address).unwrap();
    half_body
        .write_all(
            b"PUT /api/v2/diagnosis HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 1000\r\nexpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let mut continued = [0u8; 25];
    half_body.read_exact(&mut continued).unwrap();
    assert!(
        continued
            .to_ascii_lowercase()
            .starts_with(b"http/1.1 100 continue"),
        "{}",
        String::from_utf8_lossy(&continued)
    );
    half_body.write_all(b"{\"keys\":").unwrap();

    let pid = server.child.id().to_string();
    let signalled = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let bound = grace + Duration::from_secs(3);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < bound,
            "cocoa serve still running {bound:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let mut lines = Vec::new();
    while let Ok(line) = server.log.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    let log = lines.join("\n");
    assert!(log.contains("grace period over"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // Both connections are closed (not reset into a hang).
    for stream in [&mut half_head, &mut half_body] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the connection is still open: {other:?}"),
        }
    }
}
