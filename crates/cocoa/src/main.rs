//! The `cocoa` binary: one command for every part of the system. Thin: parses arguments, calls the
//! library crates, prints results, and maps failures to exit codes.
//!
//! Exit codes: 0 success; 1 the input was read but is invalid (a malformed file, a signature
//! that does not verify); 2 usage or I/O errors (clap's own usage errors are 2 as well).

mod bench;
mod bench_export;
mod bench_match;
mod bench_survey;
mod device;
mod failure;
mod key_json;
mod keys;
mod report;
mod serve;
mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// COCOA: an open exposure-notification system (protocol tools, key server, phone, survey).
#[derive(Debug, Parser)]
#[command(name = "cocoa", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exposure Notification keys: derive identifiers, build Bluetooth payloads, sign, inspect
    /// and verify export files.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Run the key server: processing numbers, positive registration, the health-centre portal.
    Serve(serve::ServeArgs),
    /// Run one export now: sign and publish the keys released since the last run.
    Export(serve::JobArgs),
    /// Run retention now: delete keys, files and processing numbers past their periods.
    Cleanup(serve::JobArgs),
    /// The survey's analysis as files: tables/*.csv and report.json.
    Report(report::ReportArgs),
    /// A phone in a folder: advertise, observe, meet, check, history, register, save-info.
    Device(device::DeviceArgs),
    /// Health-centre tools that talk to a running server.
    #[command(subcommand)]
    Admin(serve::AdminCommand),
    /// A simulated city through the real server and phones: the report, the truth, and a
    /// validation table of the one against the other.
    Sim(sim::SimArgs),
    /// The demo city (32,000 people, about 9,500 phones, 120 days) through the real server and phones;
    /// --serve keeps the server up to show the report and the portal.
    Demo(sim::DemoArgs),
    /// Load benchmarks against the real server (in-process or running elsewhere).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(command) => keys::run(command),
        Command::Serve(args) => serve::serve(args),
        Command::Export(args) => serve::export(args),
        Command::Cleanup(args) => serve::cleanup(args),
        Command::Report(args) => report::run(args),
        Command::Admin(command) => serve::admin(command),
        Command::Device(args) => device::run(args),
        Command::Sim(args) => sim::sim(args),
        Command::Demo(args) => sim::demo(args),
        Command::Bench(command) => bench::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
