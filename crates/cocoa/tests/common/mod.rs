//! A real `cocoa serve` in a child process, for the binary's tests.

#![allow(dead_code)]

pub mod answers;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Running {
    pub child: Child,
    pub log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` with its standard error read line by line into `Running::log`.
pub fn spawn_logged(command: &mut Command) -> Running {
    let child = command.stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // From here on `Running` owns the child: it is killed and reaped whatever happens.
    let mut running = Running { child, log: rx };
    let stderr = running.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    running
}

impl Running {
    /// The first log line containing `needle` within 30 seconds, if any.
    pub fn wait_for(&self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(line) = self
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    }
}

/// Starts `cocoa serve` on a free port with `data_dir`; returns it and its base URL.
pub fn start(data_dir: &std::path::Path) -> (Running, String) {
    start_command(
        Command::new(env!("CARGO_BIN_EXE_cocoa"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("COCOA_DATABASE_URL")
            .env_remove("COCOA_ADMIN_TOKEN")
            .env("NO_COLOR", "1"),
    )
}

/// Runs a `cocoa serve` command; returns it once it serves, with its base URL.
pub fn start_command(command: &mut Command) -> (Running, String) {
    let running = spawn_logged(command);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let line = running
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no 'serving' line; log so far: {seen:#?}"));
        if let Some(at) = line.find("portal at http://") {
            let rest = &line[at + "portal at ".len()..];
            let base = rest.split("/portal").next().unwrap().to_owned();
            return (running, base);
        }
        seen.push(line);
    }
}

/// Runs `shell` (a `sh -c` line) on a pseudo-terminal of 120 or more columns through `script`
/// (util-linux), in `dir`, with `env` set and `COCOA_DATABASE_URL`, `COCOA_BLOB_URL` unset;
/// returns its exit status and everything the terminal showed.
pub fn on_terminal(
    shell: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let mut command = Command::new("script");
    command
        .args(["-qec", shell, "/dev/null"])
        .current_dir(dir)
        .env_remove("COCOA_DATABASE_URL")
        .env_remove("COCOA_BLOB_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("script (util-linux) runs");
    // script's standard input stays open until the command has finished: at its end, script
    // would end the session.
    let stdin = child.stdin.take();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).unwrap();
        text
    });
    let status = child.wait().unwrap();
    drop(stdin);
    let shown = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    (status, shown)
}
