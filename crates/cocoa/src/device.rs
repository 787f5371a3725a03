//! `cocoa device --state DIR ...`: a phone in a folder, for people, tests and demos. The state is
//! one SQLite file (`DIR/phone.db`); `--now` replaces the clock for every command.

use crate::failure::{Failure, OrFail, INVALID, USAGE_OR_IO};
use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use cocoa_device::http::ReqwestHttp;
use cocoa_device::{Error as DeviceError, Phone, PhoneSettings, SqliteStorage};
use rand::rngs::{OsRng, StdRng};
use rand::SeedableRng;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The folder holding this phone's state.
    #[arg(long, global = true, value_name = "DIR", default_value = "cocoa-phone")]
    state: PathBuf,
    /// The time to act at (RFC 3339), instead of the clock.
    #[arg(long, global = true, value_name = "TIME", value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Set the phone up: the server, and the keys export files must verify with (fetched from
    /// the server when none is given).
    Init {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, default_value = "440")]
        region: String,
        /// A public key (SPKI PEM) to trust; repeatable.
        #[arg(long = "public-key", value_name = "FILE")]
        public_keys: Vec<PathBuf>,
        /// This phone's transmit power, written into its metadata.
        #[arg(long, value_name = "DBM", allow_negative_numbers = true, default_value_t = cocoa_device::phone::DEFAULT_TX_POWER_DBM)]
        tx_power: i8,
    },
    /// Print the advertisement this phone broadcasts now (62 hex digits).
    Advertise,
    /// Record an advertisement heard.
    Observe {
        #[arg(long, value_name = "HEX")]
        payload: String,
        #[arg(long, value_name = "DBM", allow_negative_numbers = true)]
        rssi: i8,
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        at: DateTime<Utc>,
        /// When the scan before this one ran.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        previous_scan: Option<DateTime<Utc>>,
    },
    /// Record what this phone would have heard of another phone (a scan every 4-5 minutes).
    Meet {
        #[arg(long, value_name = "DIR")]
        other: PathBuf,
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        from: DateTime<Utc>,
        #[arg(long, value_name = "N")]
        minutes: u32,
        #[arg(long, value_name = "DB")]
        attenuation: u8,
    },
    /// Download new key files, match, score, and notify. A file that cannot be downloaded or
    /// does not verify is reported (`files_failed` in JSON) and tried again at the next check.
    Check,
    /// Show the phone's state.
    Status,
    /// Show the daily summaries of the last 15 days (or everything kept, with --all).
    History {
        #[arg(long)]
        all: bool,
    },
    /// Register as positive with a processing number.
    Register {
        #[arg(long, value_name = "N")]
        processing_number: String,
        /// Whether there were symptoms (the date is then the onset, otherwise the test date).
        #[arg(long, value_parser = ["yes", "no"])]
        symptom: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: NaiveDate,
    },
    /// Export everything kept as COCOA's exposure_data.json.
    SaveInfo {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Answer the end-of-use survey, send it, and end use (everything on the phone is deleted).
    Survey {
        /// Age group 1..=9 (1 = 14 or under, ..., 9 = 70 or over), or "none" for no answer.
        #[arg(long, value_name = "N|none", value_parser = parse_answer::<9>)]
        age: Answer,
        /// Commuting 1..=3 (1 no, 2 without public transport, 3 with), or "none".
        #[arg(long, value_name = "N|none", value_parser = parse_answer::<3>)]
        commute: Answer,
        /// Also send the day use started (off by default).
        #[arg(long)]
        send_start_date: bool,
        /// Also send the daily exposure data, older than 15 days included (off by default).
        #[arg(long)]
        send_exposure_data: bool,
        /// Print the exact JSON that would be sent, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The survey's first day.
        #[arg(long, value_name = "YYYY-MM-DD", default_value = "2022-04-07")]
        first_day: NaiveDate,
    },
    /// End use without answering the survey: everything on the phone is deleted.
    EndOfUse,
}

/// A survey answer: a code, or `None` for an explicit "no answer".
#[derive(Debug, Clone, Copy)]
struct Answer(Option<u8>);

/// "none", or a number within 1..=MAX.
fn parse_answer<const MAX: u8>(text: &str) -> Result<Answer, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Answer(None));
    }
    match text.parse::<u8>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(Answer(Some(n))),
        _ => Err(format!("expected 1..={MAX} or none")),
    }
}

/// The one file left in a phone's folder once use has ended.
pub const USE_ENDED_MARKER: &str = "use-ended";

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}), e.g. 2026-11-28T09:00:00Z"))
}

fn open(state: &Path) -> Result<Phone<SqliteStorage>, Failure> {
    if state.join(USE_ENDED_MARKER).exists() {
        return Err(Failure::new(INVALID, DeviceError::UseEnded));
    }
    // The folder holds this phone's keys and sightings: its owner's only.
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        folder.mode(0o700);
    }
    folder
        .create(state)
        .usage_or_io(format!("creating {}", state.display()))?;
    let storage = SqliteStorage::open(&state.join("phone.db"))
        .usage_or_io(format!("opening {}", state.display()))?;
    Ok(Phone::new(storage))
}

/// Device errors: refusals and invalid input exit 1; network, storage and server trouble exit 2.
fn fail(e: DeviceError) -> Failure {
    let code = match e {
        DeviceError::Storage(_)
        | DeviceError::Network(_)
        | DeviceError::ServerStatus { .. }
        | DeviceError::ServerUnavailable { .. } => USAGE_OR_IO,
        _ => INVALID,
    };
    Failure::new(code, e)
}

fn print<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string(value).expect("plain values serialise")
        );
    } else {
        print!("{}", human(value));
    }
}

pub fn run(args: DeviceArgs) -> Result<(), Failure> {
    let now = args.now.unwrap_or_else(Utc::now).timestamp();
    let mut rng = StdRng::from_rng(OsRng).expect("the OS RNG works");
    let http = ReqwestHttp::new();
    let mut phone = open(&args.state)?;
    match args.command {
        DeviceCommand::Init {
            server,
            region,
            public_keys,
            tx_power,
        } => {
            let server = server.trim_end_matches('/').to_owned();
            let public_keys_pem = if public_keys.is_empty() {
                fetch_signing_keys(&http, &server)?
            } else {
                public_keys
                    .iter()
                    .map(|p| {
                        std::fs::read_to_string(p).usage_or_io(format!("reading {}", p.display()))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            let settings = PhoneSettings {
                server_url: server,
                region,
                public_keys_pem,
                tx_power_dbm: tx_power,
            };
            phone.configure(&settings).map_err(fail)?;
            phone.record_start_of_use(now).map_err(fail)?;
            phone.key_for(now, &mut rng).map_err(fail)?;
            let summary = serde_json::json!({"server": settings.server_url, "region": settings.region, "trusted_keys": settings.public_keys_pem.len()});
            print(args.json, &summary, |s| {
                format!(
                    "this phone uses {} (region {}), trusting {} signing key(s)\n",
                    s["server"].as_str().unwrap_or(""),
                    s["region"].as_str().unwrap_or(""),
                    s["trusted_keys"]
                )
            });
        }
        DeviceCommand::Advertise => {
            phone.prune(now).map_err(fail)?;
            let payload = phone.advertisement(now, &mut rng).map_err(fail)?;
            let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
            print(args.json, &serde_json::json!({"payload": hex}), |_| {
                format!("{hex}\n")
            });
        }
        DeviceCommand::Observe {
            payload,
            rssi,
            at,
            previous_scan,
        } => {
            let bytes = crate::keys::decode_hex(payload.trim()).invalid("the payload")?;
            phone
                .observe(
                    &bytes,
                    rssi,
                    at.timestamp(),
                    previous_scan.map(|t| t.timestamp()),
                )
                .map_err(fail)?;
            print(args.json, &serde_json::json!({"recorded": 1}), |_| {
                "recorded 1 sighting\n".into()
            });
        }
        DeviceCommand::Meet {
            other,
            from,
            minutes,
            attenuation,
        } => {
            if !other.join("phone.db").exists() {
                return Err(Failure::new(
                    USAGE_OR_IO,
                    anyhow!("{} holds no phone (run init there first)", other.display()),
                ));
            }
            let mut other_phone = open(&other)?;
            let n = phone
                .meet(
                    &mut other_phone,
                    from.timestamp(),
                    minutes,
                    attenuation,
                    &mut rng,
                )
                .map_err(fail)?;
            print(args.json, &serde_json::json!({"sightings": n}), |_| {
                format!("recorded {n} sightings of {}\n", other.display())
            });
        }
        DeviceCommand::Check => {
            phone.prune(now).map_err(fail)?;
            let report = phone.check(now, &http).map_err(fail)?;
            print(args.json, &report, |r| {
                let mut s = format!(
                    "{} new file(s), {} keys checked, {} matched\n",
                    r.files_processed, r.keys_processed, r.matched_keys
                );
                for f in &r.files_failed {
                    s += &format!(
                        "FAILED: {} ({}); it will be tried again at the next check\n",
                        f.url, f.reason
                    );
                }
                for day in &r.new_high_risk_days {
                    s += &format!("NOTIFICATION: you may have been in contact with a person who tested positive on {day}\n");
                }
                s
            });
        }
        DeviceCommand::Status => {
            let status = phone.status().map_err(fail)?;
            print(args.json, &status, |s| {
                format!(
                    "server: {} (region {})\nkeys: {}\nsightings: {}\nlast check: {}\nnotified days: {}\nregistration pending: {}\nfiles to retry: {}\n",
                    s.server_url,
                    s.region,
                    s.keys,
                    s.sightings,
                    s.last_check.as_deref().unwrap_or("never"),
                    if s.notified_days.is_empty() { "none".into() } else { s.notified_days.join(", ") },
                    s.registration_pending,
                    if s.files_to_retry.is_empty() {
                        "none".into()
                    } else {
                        s.files_to_retry.iter().map(|f| f.url.as_str()).collect::<Vec<_>>().join(", ")
                    }
                )
            });
        }
        DeviceCommand::History { all } => {
            let days = phone.history(now, all).map_err(fail)?;
            print(args.json, &serde_json::json!({"days": days}), |_| {
                if days.is_empty() {
                    return "no contact with a person who tested positive was found\n".into();
                }
                days.iter()
                    .map(|d| {
                        format!(
                            "{}  score {:.0} (max {:.0}), weighted {:.0} s{}\n",
                            d.date,
                            d.score_sum,
                            d.maximum_score,
                            d.weighted_duration_sum,
                            if d.high_risk { "  HIGH RISK" } else { "" }
                        )
                    })
                    .collect()
            });
        }
        DeviceCommand::Register {
            processing_number,
            symptom,
            date,
        } => {
            let count = phone
                .register(
                    now,
                    &http,
                    processing_number.trim(),
                    symptom == "yes",
                    date,
                    &mut rng,
                )
                .map_err(fail)?;
            print(
                args.json,
                &serde_json::json!({"registered_keys": count}),
                |_| format!("registered {count} keys; thank you\n"),
            );
        }
        DeviceCommand::SaveInfo { out } => {
            let data = phone.save_info().map_err(fail)?;
            std::fs::write(
                &out,
                serde_json::to_vec_pretty(&data).expect("plain values serialise"),
            )
            .usage_or_io(format!("writing {}", out.display()))?;
            print(args.json, &serde_json::json!({"written": out}), |_| {
                format!("wrote {}\n", out.display())
            });
        }
        DeviceCommand::Survey {
            age,
            commute,
            send_start_date,
            send_exposure_data,
            dry_run,
            first_day,
        } => {
            let answer = cocoa_device::SurveyAnswer {
                age_group: age.0,
                commute: commute.0,
                send_start_date,
                send_exposure_data,
            };
            let first_day = cocoa_device::date_day(first_day);
            if dry_run {
                let request = phone
                    .survey_dry_run(now, &answer, first_day, &mut rng)
                    .map_err(fail)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&request).expect("plain values serialise")
                );
                return Ok(());
            }
            phone
                .submit_survey(now, &http, &answer, first_day, &mut rng)
                .map_err(fail)?;
            finish_use(phone, &args.state)?;
            print(
                args.json,
                &serde_json::json!({"sent": true, "use_ended": true}),
                |_| {
                    "thank you: your answer was sent, and everything this app kept on the phone has been deleted\n".into()
                },
            );
        }
        DeviceCommand::EndOfUse => {
            phone.end_of_use().map_err(fail)?;
            finish_use(phone, &args.state)?;
            print(
                args.json,
                &serde_json::json!({"sent": false, "use_ended": true}),
                |_| {
                    "use has ended: everything this app kept on the phone has been deleted\n".into()
                },
            );
        }
    }
    Ok(())
}

/// Deletes the phone's files and leaves only the marker that use has ended.
fn finish_use(phone: Phone<SqliteStorage>, state: &Path) -> Result<(), Failure> {
    phone.into_storage().close().map_err(|e| fail(e.into()))?;
    for entry in std::fs::read_dir(state).usage_or_io(format!("reading {}", state.display()))? {
        let path = entry.usage_or_io("reading the state folder")?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .usage_or_io(format!("deleting {}", path.display()))?;
    }
    std::fs::write(
        state.join(USE_ENDED_MARKER),
        "use of this app has ended on this phone\n",
    )
    .usage_or_io("writing the end-of-use marker")
}

fn fetch_signing_keys(http: &ReqwestHttp, server: &str) -> Result<Vec<String>, Failure> {
    use cocoa_device::Http;
    let url = format!("{server}/api/v1/export-signing-keys");
    let response = http.get(&url).usage_or_io(format!("GET {url}"))?;
    if response.status != 200 {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("GET {url} answered HTTP {}", response.status),
        ));
    }
    let keys: Vec<cocoa_api::SigningKeyInfo> = serde_json::from_slice(&response.body)
        .usage_or_io(format!("{url} did not answer a key list"))?;
    if keys.is_empty() {
        return Err(Failure::new(
            USAGE_OR_IO,
            anyhow!("{url} lists no signing keys"),
        ));
    }
    Ok(keys.into_iter().map(|k| k.public_key_pem).collect())
}
