//! A phone: its key schedule, what it heard, its exposure checks, its history, and its positive
//! registration. Time arrives as an argument (`now`, unix seconds), randomness as an RNG, HTTP and
//! storage as trait objects: nothing here reads a clock or a global.

use crate::error::Error;
use crate::http::{Http, Response};
use crate::storage::{Storage, StorageError, TekRecord};
use crate::types::{DailySummary, ExposureWindow, KeyMatch, Sighting};
use crate::{matching, risk};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::NaiveDate;
use cocoa_api::{
    DiagnosisRequest, DiagnosisRequestKey, ErrorBody, ExposureConfiguration, ListEntry,
    RiskCalculationConfiguration,
};
use gaen::{
    Advertisement, ExportVerifier, IntervalNumber, Metadata, RollingPeriod, SignedExport, Tek,
};
use rand::{CryptoRng, Rng, RngCore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Days keys and sightings are kept.
pub const RETENTION_DAYS: i64 = 14;
/// Days the history view and the notification rule look back (today included).
pub const VISIBLE_DAYS: i64 = 15;
/// Transmit power written into this phone's metadata unless configured.
pub const DEFAULT_TX_POWER_DBM: i8 = -10;
/// COCOA's rule: keys from this many days before the onset or test date are registered.
pub const REGISTER_DAYS_BEFORE: i64 = 3;

const SERVER_URL: &str = "server_url";
const REGION: &str = "region";
const PUBLIC_KEYS: &str = "public_keys";
const TX_POWER: &str = "tx_power";
const NOTIFIED_DAYS: &str = "notified_days";
const RISK_CONFIGURATION: &str = "risk_configuration";
const EXPOSURE_CONFIGURATION: &str = "exposure_configuration";
const PENDING_REGISTRATION: &str = "pending_registration";
const LAST_CHECK: &str = "last_check";

/// The watermark: every listed file with `created` up to this has been processed.
fn last_created_setting(region: &str) -> String {
    format!("last_created:{region}")
}

/// Files above the watermark already processed (url -> created): never matched again.
fn processed_files_setting(region: &str) -> String {
    format!("processed_files:{region}")
}

/// The files the last check could not use; they are retried at the next check.
fn failed_files_setting(region: &str) -> String {
    format!("failed_files:{region}")
}

/// How a phone reaches its server and whom it trusts.
#[derive(Debug, Clone)]
pub struct PhoneSettings {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub server_url: String,
    pub region: String,
    /// Public keys (SPKI PEM) export files must verify with.
    pub public_keys_pem: Vec<String>,
    pub tx_power_dbm: i8,
}

/// What one exposure check did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckReport {
    pub files_processed: usize,
    pub keys_processed: u64,
    pub matched_keys: usize,
    /// Days that became high-risk in this check (notified now, and never again).
    pub new_high_risk_days: Vec<String>,
    /// Listed files that could not be downloaded or did not verify: nothing of them was matched,
    /// and the next check tries them again.
    pub files_failed: Vec<FailedFile>,
}

/// A listed key file a check could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedFile {
    pub url: String,
    pub created: i64,
    /// Why: the network error, the HTTP status, or why the file was rejected.
    pub reason: String,
}

/// The stored values a phone's settings are read from (see [`Phone::raw_settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSettings([Option<String>; 4]);

/// One day as the history screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayView {
    pub date: String,
    pub score_sum: f64,
    pub maximum_score: f64,
    pub weighted_duration_sum: f64,
    pub high_risk: bool,
}

/// What the status screen shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub server_url: String,
    pub region: String,
    pub keys: usize,
    pub sightings: usize,
    pub last_check: Option<String>,
    pub last_created: i64,
    pub notified_days: Vec<String>,
    pub registration_pending: bool,
    /// Files the last check could not use, to be retried at the next check.
    pub files_to_retry: Vec<FailedFile>,
}

/// A phone over some storage.
#[derive(Debug)]
pub struct Phone<S: Storage> {
    storage: S,
    /// Threads matching may use (all cores by default; 1 when many phones share a machine).
    threads: usize,
}

/// The date of a day number (days since the epoch).
pub fn day_string(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| day.to_string())
}

fn day_of(at: i64) -> i64 {
    at.div_euclid(86_400)
}

/// The stored value is left out of the message: some settings hold a processing number.
fn corrupt_setting(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(StorageError::Corrupt(format!(
        "the setting {name} cannot be read: {e}"
    )))
}

/// What is wrong with some JSON, without quoting it (serde's messages may quote values).
fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not of the expected shape",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

fn interval_at(at: i64) -> Result<IntervalNumber, Error> {
    u64::try_from(at)
        .ok()
        .and_then(|s| IntervalNumber::from_unix_seconds(s).ok())
        .ok_or_else(|| Error::Invalid(format!("time {at} is outside the protocol's range")))
}

impl<S: Storage> Phone<S> {
    pub fn new(storage: S) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { storage, threads }
    }

    /// Limits matching to `threads` threads.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    pub fn into_storage(self) -> S {
        self.storage
    }

    /// A stored setting parsed with `FromStr`: `None` if absent, an error if unreadable (a
    /// corrupt setting is never silently replaced by a default).
    pub(crate) fn parsed_setting<T>(&self, name: &str) -> Result<Option<T>, Error>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.storage
            .setting(name)?
            .map(|v| v.parse().map_err(|e| corrupt_setting(name, e)))
            .transpose()
    }

    /// A stored JSON setting: `None` if absent, an error if unreadable.
    pub(crate) fn json_setting<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        self.storage
            .setting(name)?
            .map(|v| serde_json::from_str(&v).map_err(|e| corrupt_setting(name, json_error(&e))))
            .transpose()
    }

    /// Sets the server, region and trusted keys.
    pub fn configure(&mut self, settings: &PhoneSettings) -> Result<(), Error> {
        for pem in &settings.public_keys_pem {
            ExportVerifier::from_pem(pem)
                .map_err(|e| Error::Invalid(format!("a public key: {e}")))?;
        }
        let s = &mut self.storage;
        s.set_setting(SERVER_URL, settings.server_url.trim_end_matches('/'))?;
        s.set_setting(REGION, &settings.region)?;
        s.set_setting(
            PUBLIC_KEYS,
            &serde_json::to_string(&settings.public_keys_pem).expect("strings serialise"),
        )?;
        s.set_setting(TX_POWER, &settings.tx_power_dbm.to_string())?;
        Ok(())
    }

    /// The settings, or `NotInitialised`.
    pub fn settings(&self) -> Result<PhoneSettings, Error> {
        let s = &self.storage;
        let server_url = s.setting(SERVER_URL)?.ok_or(Error::NotInitialised)?;
        let region = s.setting(REGION)?.unwrap_or_else(|| "440".into());
        let public_keys_pem = self.json_setting(PUBLIC_KEYS)?.unwrap_or_default();
        Ok(PhoneSettings {
            server_url,
            region,
            public_keys_pem,
            tx_power_dbm: self.tx_power()?,
        })
    }

    /// The stored values [`Self::settings`] is read from, as stored.
    pub(crate) fn raw_settings(&self) -> Result<RawSettings, Error> {
        let s = &self.storage;
        Ok(RawSettings([
            s.setting(SERVER_URL)?,
            s.setting(REGION)?,
            s.setting(PUBLIC_KEYS)?,
            s.setting(TX_POWER)?,
        ]))
    }

    /// Whether this phone's stored settings are `raw`, byte for byte (then [`Self::settings`]
    /// answers what it answers for the phone `raw` was read from), compared without copies.
    pub(crate) fn has_raw_settings(&self, raw: &RawSettings) -> Result<bool, Error> {
        let s = &self.storage;
        for (name, value) in [SERVER_URL, REGION, PUBLIC_KEYS, TX_POWER]
            .iter()
            .zip(&raw.0)
        {
            let same = match value {
                Some(v) => s.setting_is(name, v)?,
                None => s.setting(name)?.is_none(),
            };
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn tx_power(&self) -> Result<i8, Error> {
        Ok(self
            .parsed_setting(TX_POWER)?
            .unwrap_or(DEFAULT_TX_POWER_DBM))
    }

    /// This phone's key for the UTC day of `at`, created from `rng` if it has none yet.
    pub fn key_for(
        &mut self,
        at: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<TekRecord, Error> {
        let start = interval_at(at)?.day_start();
        if let Some(record) = self
            .storage
            .teks()?
            .into_iter()
            .find(|t| t.rolling_start == start)
        {
            return Ok(record);
        }
        let record = TekRecord {
            tek: Tek::generate(rng),
            rolling_start: start,
            rolling_period: RollingPeriod::FULL_DAY,
        };
        self.storage.put_tek(&record)?;
        Ok(record)
    }

    /// The 31-byte advertisement this phone broadcasts at `at`.
    pub fn advertisement(
        &mut self,
        at: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<[u8; 31], Error> {
        let record = self.key_for(at, rng)?;
        let (rpik, aemk) = record.tek.derive();
        let rpi = rpik.rpi(interval_at(at)?);
        let aem = aemk.encrypt(&rpi, &Metadata::v1_0(self.tx_power()?));
        Ok(Advertisement { rpi, aem }.to_bytes())
    }

    /// Records an advertisement heard at `at`.
    pub fn observe(
        &mut self,
        payload: &[u8],
        rssi: i8,
        at: i64,
        previous_scan_at: Option<i64>,
    ) -> Result<(), Error> {
        let adv = Advertisement::parse(payload)?;
        self.storage.add_sightings(&[Sighting {
            at,
            rssi,
            rpi: adv.rpi,
            aem: adv.aem,
            previous_scan_at,
        }])?;
        Ok(())
    }

    /// Records what this phone would have heard of `other` during `minutes` from `from`: one scan
    /// every 4 to 5 minutes, at `attenuation_db`. `other` creates its key for the time if needed,
    /// as the running phone would have. Returns the number of sightings.
    pub fn meet<T: Storage>(
        &mut self,
        other: &mut Phone<T>,
        from: i64,
        minutes: u32,
        attenuation_db: u8,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<usize, Error> {
        let rssi = i8::try_from(i16::from(other.tx_power()?) - i16::from(attenuation_db)).map_err(
            |_| {
                Error::Invalid(format!(
                    "an attenuation of {attenuation_db} dB is out of range"
                ))
            },
        )?;
        let end = from + i64::from(minutes) * 60;
        let mut at = from;
        let mut previous = None;
        let mut sightings = Vec::new();
        while at < end {
            let payload = other.advertisement(at, rng)?;
            let adv = Advertisement::parse(&payload)?;
            sightings.push(Sighting {
                at,
                rssi,
                rpi: adv.rpi,
                aem: adv.aem,
                previous_scan_at: previous,
            });
            previous = Some(at);
            at += rng.gen_range(240..=300);
        }
        self.storage.add_sightings(&sightings)?;
        Ok(sightings.len())
    }

    /// Deletes keys and sightings older than 14 days.
    pub fn prune(&mut self, now: i64) -> Result<(), Error> {
        let today = interval_at(now)?.day_start().get();
        let first_kept = IntervalNumber::new(today.saturating_sub(RETENTION_DAYS as u32 * 144));
        self.storage.delete_teks_before(first_kept)?;
        self.storage
            .delete_sightings_before(now - RETENTION_DAYS * 86_400)?;
        Ok(())
    }

    /// An exposure check (see the crate documentation): new files only, each verified. A file
    /// that cannot be downloaded or does not verify is reported, never matched, and retried at
    /// the next check; the others are matched. The watermark (the largest `created` below which
    /// every listed file is processed) never passes an unprocessed file, and files processed above
    /// it are remembered (a file listed more than once, until the watermark passes its last
    /// listing), so no file is ever matched twice. Results are committed in one step: a
    /// check that fails (configuration, list, storage) changes nothing.
    ///
    /// It runs in four stages, which [`crate::lab::Lab::check_all`] runs too (sharing between
    /// phones only what is the same for all of them): what the server publishes and which of its
    /// files are new for this phone (`Published::fetch`, `plan`); each file downloaded and
    /// verified; its keys matched against the sightings; risk, the notification rule and the
    /// one commit (`commit_check`).
    pub fn check(&mut self, now: i64, http: &dyn Http) -> Result<CheckReport, Error> {
        let settings = self.settings()?;
        let verifiers = verifiers(&settings)?;
        let published = Published::fetch(http, &settings)?;
        let plan = self.plan(&settings, &published.list)?;
        let sightings = self.storage.sightings()?;
        let index = matching::SightingIndex::new(&sightings);
        let engine = matching::Engine::new(&index, self.threads);
        let files = plan.run(&published.list, |_, entry| {
            let file = parse_file(download_file(http, &entry.url)?)?;
            verify_file(&file, &verifiers)?;
            Ok(FileOutcome {
                keys: file.export.keys.len() as u64,
                matches: engine.match_keys(&file.export.keys),
            })
        });
        self.commit_check(now, &published, files)
    }

    /// Stage 1 for this phone: the listed files it has not processed, each once, oldest first.
    pub(crate) fn plan(&self, settings: &PhoneSettings, list: &[ListEntry]) -> Result<Plan, Error> {
        let last_created: i64 = self
            .parsed_setting(&last_created_setting(&settings.region))?
            .unwrap_or(0);
        let processed: BTreeMap<String, i64> = self
            .json_setting(&processed_files_setting(&settings.region))?
            .unwrap_or_default();
        let mut to_do: Vec<usize> = (0..list.len())
            .filter(|&i| list[i].created > last_created && !processed.contains_key(&list[i].url))
            .collect();
        to_do.sort_by_key(|&i| list[i].created);
        // A file listed twice is tried once, at its first (oldest) listing.
        let mut seen = std::collections::HashSet::new();
        to_do.retain(|&i| seen.insert(list[i].url.as_str()));
        Ok(Plan {
            region: settings.region.clone(),
            last_created,
            processed,
            to_do,
        })
    }

    /// Stage 4: exposure windows of the new matches, daily summaries merged with the stored
    /// ones, the notification rule over the last 15 days, and everything committed in one step.
    pub(crate) fn commit_check(
        &mut self,
        now: i64,
        published: &Published,
        files: FilesDone,
    ) -> Result<CheckReport, Error> {
        let FilesDone {
            mut report,
            matches,
            region,
            watermark,
            processed,
        } = files;
        let exposure = &published.exposure;
        let new_windows: Vec<ExposureWindow> = matches
            .iter()
            .flat_map(|m| risk::exposure_windows(m, exposure))
            .collect();
        let stored = self.storage.daily_summaries()?;
        let merged = risk::merge_daily_summaries(&stored, &risk::daily_summaries(&new_windows));
        let mut all_windows = self.storage.exposure_windows()?;
        all_windows.extend(new_windows.iter().cloned());

        let today = day_of(now);
        let mut notified: Vec<i64> = self.notified_days()?;
        for day in merged
            .iter()
            .filter(|d| today - d.date < VISIBLE_DAYS && d.date <= today)
        {
            let of_day: Vec<ExposureWindow> = all_windows
                .iter()
                .filter(|w| w.date == day.date)
                .cloned()
                .collect();
            if risk::is_high_risk(day, &of_day, &published.rule) && !notified.contains(&day.date) {
                notified.push(day.date);
                report.new_high_risk_days.push(day_string(day.date));
            }
        }
        notified.sort_unstable();
        let mut settings_changes = vec![
            (last_created_setting(&region), watermark.to_string()),
            (
                processed_files_setting(&region),
                serde_json::to_string(&processed).expect("plain values serialise"),
            ),
            (
                failed_files_setting(&region),
                serde_json::to_string(&report.files_failed).expect("plain values serialise"),
            ),
            (
                NOTIFIED_DAYS.to_owned(),
                serde_json::to_string(&notified).expect("numbers serialise"),
            ),
            (LAST_CHECK.to_owned(), now.to_string()),
        ];
        // The configuration as last seen: most checks find it unchanged, and then copy nothing
        // (many phones in one process check every day).
        for (name, text) in [
            (RISK_CONFIGURATION, &published.risk_text),
            (EXPOSURE_CONFIGURATION, &published.exposure_text),
        ] {
            if !self.storage.setting_is(name, text)? {
                settings_changes.push((name.to_owned(), text.clone()));
            }
        }
        let changed: Vec<DailySummary> = merged
            .into_iter()
            .filter(|m| stored.iter().find(|s| s.date == m.date) != Some(m))
            .collect();
        self.storage
            .commit_check(&changed, &new_windows, &settings_changes)?;
        Ok(report)
    }

    fn notified_days(&self) -> Result<Vec<i64>, Error> {
        Ok(self.json_setting(NOTIFIED_DAYS)?.unwrap_or_default())
    }

    /// The risk rule of the last check (COCOA's default before any).
    pub(crate) fn stored_rule(&self) -> Result<RiskCalculationConfiguration, Error> {
        Ok(self.json_setting(RISK_CONFIGURATION)?.unwrap_or_default())
    }

    /// The daily summaries: the last 15 days, or everything kept with `all`.
    pub fn history(&self, now: i64, all: bool) -> Result<Vec<DayView>, Error> {
        let rule = self.stored_rule()?;
        let windows = self.storage.exposure_windows()?;
        let today = day_of(now);
        Ok(self
            .storage
            .daily_summaries()?
            .into_iter()
            .filter(|d| all || (today - d.date < VISIBLE_DAYS && d.date <= today))
            .map(|d| {
                let of_day: Vec<ExposureWindow> = windows
                    .iter()
                    .filter(|w| w.date == d.date)
                    .cloned()
                    .collect();
                DayView {
                    date: day_string(d.date),
                    score_sum: d.score_sum,
                    maximum_score: d.maximum_score,
                    weighted_duration_sum: d.weighted_duration_sum,
                    high_risk: risk::is_high_risk(&d, &of_day, &rule),
                }
            })
            .collect())
    }

    /// What the status screen shows.
    pub fn status(&self) -> Result<Status, Error> {
        let settings = self.settings()?;
        let s = &self.storage;
        let last_check = match self.parsed_setting::<i64>(LAST_CHECK)? {
            Some(t) => Some(
                chrono::DateTime::from_timestamp(t, 0)
                    .ok_or_else(|| corrupt_setting(LAST_CHECK, "out of range"))?
                    .to_rfc3339(),
            ),
            None => None,
        };
        Ok(Status {
            last_created: self
                .parsed_setting(&last_created_setting(&settings.region))?
                .unwrap_or(0),
            files_to_retry: self
                .json_setting(&failed_files_setting(&settings.region))?
                .unwrap_or_default(),
            server_url: settings.server_url,
            region: settings.region,
            keys: s.teks()?.len(),
            sightings: s.sighting_count()?,
            last_check,
            notified_days: self.notified_days()?.into_iter().map(day_string).collect(),
            registration_pending: self.pending_registration()?.is_some(),
        })
    }

    /// The registration attempt in progress: (processing number, idempotency key). Cleared (an
    /// empty value) once the server confirmed.
    fn pending_registration(&self) -> Result<Option<(String, String)>, Error> {
        match self.storage.setting(PENDING_REGISTRATION)?.as_deref() {
            None | Some("") => Ok(None),
            Some(_) => self.json_setting(PENDING_REGISTRATION),
        }
    }

    /// "Save information": everything kept, as COCOA's `exposure_data.json`.
    pub fn save_info(&self) -> Result<serde_json::Value, Error> {
        let windows = self.storage.exposure_windows()?;
        let configuration: serde_json::Value = match self.json_setting(EXPOSURE_CONFIGURATION)? {
            Some(json) => json,
            None => serde_json::to_value(ExposureConfiguration::default())
                .expect("plain values serialise"),
        };
        Ok(crate::exposure_data::exposure_data(
            &self.storage.daily_summaries()?,
            &windows,
            configuration,
        ))
    }

    /// Registers as positive: uploads the keys from 3 days before `date` onward (COCOA's rule)
    /// with a processing number. A retry after a lost answer reuses the same idempotency key, so
    /// it never registers twice.
    pub fn register(
        &mut self,
        now: i64,
        http: &dyn Http,
        number: &str,
        has_symptom: bool,
        date: NaiveDate,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<usize, Error> {
        if number.len() != 8 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::NumberMalformed);
        }
        let settings = self.settings()?;
        self.key_for(now, rng)?; // today's key exists, so it is sent as well
        let first_day = crate::date_day(date) - REGISTER_DAYS_BEFORE;
        let keys: Vec<DiagnosisRequestKey> = self
            .storage
            .teks()?
            .into_iter()
            .filter(|t| i64::from(t.rolling_start.utc_day()) >= first_day)
            .map(|t| DiagnosisRequestKey {
                key_data: STANDARD.encode(t.tek.as_bytes()),
                rolling_start_number: i64::from(t.rolling_start.get()),
                rolling_period: i64::from(t.rolling_period.get()),
                report_type: Some(1),
            })
            .collect();
        if keys.is_empty() {
            return Err(Error::NoKeysToRegister);
        }
        // One idempotency key per attempt at registering with this number, kept across retries.
        let idempotency_key = match self.pending_registration()? {
            Some((n, key)) if n == number => key,
            _ => {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let record = serde_json::to_string(&(number, &key)).expect("strings serialise");
                self.storage.set_setting(PENDING_REGISTRATION, &record)?;
                key
            }
        };
        let padding_len = rng.gen_range(1024..=2047);
        let mut raw = vec![0u8; padding_len];
        rng.fill_bytes(&mut raw);
        let mut padding = STANDARD.encode(&raw);
        padding.truncate(padding_len);
        let count = keys.len();
        let request = DiagnosisRequest {
            has_symptom,
            onset_of_symptom_or_test_date: format!("{}T00:00:00.000Z", date.format("%Y-%m-%d")),
            keys,
            regions: vec![settings.region.clone()],
            platform: Some("cocoa-device".into()),
            device_verification_payload: None,
            app_package_name: None,
            verification_payload: number.to_owned(),
            idempotency_key: Some(idempotency_key),
            padding: Some(padding),
        };
        let body = serde_json::to_vec(&request).expect("plain values serialise");
        let url = format!("{}/api/v2/diagnosis", settings.server_url);
        let response = http.put_json(&url, &body)?;
        let error: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
        let code = error.as_ref().map(|e| e.error.as_str()).unwrap_or("");
        match response.status {
            200 | 204 => {
                self.storage.set_setting(PENDING_REGISTRATION, "")?;
                Ok(count)
            }
            406 => Err(match code {
                "processing_number_expired" => Error::NumberExpired,
                "processing_number_used" => Error::NumberUsed,
                _ => Error::NumberInvalid,
            }),
            429 => Err(Error::RateLimited {
                retry_after_seconds: response.retry_after.unwrap_or(60),
            }),
            400..=499 => Err(Error::Refused {
                code: code.to_owned(),
                message: error
                    .map(|e| e.message)
                    .unwrap_or_else(|| format!("HTTP {}", response.status)),
            }),
            status => Err(Error::ServerUnavailable { status }),
        }
    }
}

/// The verifiers of the phone's trusted keys.
pub(crate) fn verifiers(settings: &PhoneSettings) -> Result<Vec<ExportVerifier>, Error> {
    settings
        .public_keys_pem
        .iter()
        .map(|pem| {
            ExportVerifier::from_pem(pem)
                .map_err(|e| Error::Invalid(format!("a stored public key: {e}")))
        })
        .collect()
}

fn fetch(http: &dyn Http, url: &str) -> Result<Response, Error> {
    let response = http.get(url)?;
    if response.status != 200 {
        return Err(Error::ServerStatus {
            url: url.to_owned(),
            status: response.status,
        });
    }
    Ok(response)
}

/// Stage 2: a listed file's bytes; the error says why there are none.
pub(crate) fn download_file(http: &dyn Http, url: &str) -> Result<Vec<u8>, String> {
    let response = http.get(url).map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("HTTP {}", response.status));
    }
    Ok(response.body)
}

/// Stage 2: a downloaded file read; the error says why it cannot be used.
pub(crate) fn parse_file(bytes: Vec<u8>) -> Result<SignedExport, String> {
    SignedExport::from_zip(&bytes).map_err(|e| e.to_string())
}

/// Stage 2: whether a file verifies with one of the phone's trusted keys; the error says why
/// not.
pub(crate) fn verify_file(file: &SignedExport, verifiers: &[ExportVerifier]) -> Result<(), String> {
    file.verify(verifiers).map(drop).map_err(|e| e.to_string())
}

/// What a server publishes for a check: its configuration (risk scoring and the notification
/// rule) and the list of key files of the phone's region.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// The configuration files as the phone stores them.
    pub(crate) exposure_text: String,
    pub(crate) exposure: ExposureConfiguration,
    pub(crate) risk_text: String,
    pub(crate) rule: RiskCalculationConfiguration,
    pub(crate) list: Vec<ListEntry>,
}

impl Published {
    /// Stage 1, from the server: the configuration files and the list, each validated.
    pub(crate) fn fetch(http: &dyn Http, settings: &PhoneSettings) -> Result<Self, Error> {
        let base = &settings.server_url;
        let config_url = format!("{base}/c19r/exposure_configuration/configuration.json");
        let exposure_json = fetch(http, &config_url)?.body;
        let exposure: ExposureConfiguration = serde_json::from_slice(&exposure_json)
            .map_err(|e| e.to_string())
            .and_then(|c: ExposureConfiguration| c.validate().map(|()| c))
            .map_err(|reason| Error::BadConfiguration {
                url: config_url.clone(),
                reason,
            })?;
        let risk_url =
            format!("{base}/c19r/exposure_configuration/risk_calculation_configuration.json");
        let risk_json = fetch(http, &risk_url)?.body;
        let rule: RiskCalculationConfiguration = serde_json::from_slice(&risk_json)
            .map_err(|e| e.to_string())
            .and_then(|c: RiskCalculationConfiguration| c.validate().map(|()| c))
            .map_err(|reason| Error::BadConfiguration {
                url: risk_url.clone(),
                reason,
            })?;
        let list_url = format!("{base}/c19r/{}/list.json", settings.region);
        let list: Vec<ListEntry> =
            serde_json::from_slice(&fetch(http, &list_url)?.body).map_err(|e| Error::BadList {
                url: list_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            exposure_text: String::from_utf8_lossy(&exposure_json).into_owned(),
            exposure,
            risk_text: String::from_utf8_lossy(&risk_json).into_owned(),
            rule,
            list,
        })
    }
}

/// Stage 1's answer for one phone: its watermark, the files it processed above it, and the
/// listed files new for it (each once, oldest first).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    region: String,
    last_created: i64,
    processed: BTreeMap<String, i64>,
    /// Positions in the list.
    pub(crate) to_do: Vec<usize>,
}

/// One file of a phone's plan, downloaded, verified and matched.
#[derive(Debug, Clone)]
pub(crate) struct FileOutcome {
    /// The keys in the file.
    pub(crate) keys: u64,
    /// Its keys this phone heard, in file order.
    pub(crate) matches: Vec<KeyMatch>,
}

/// A phone's files done (stages 2 and 3): what stage 4 scores and commits.
#[derive(Debug, Clone)]
pub(crate) struct FilesDone {
    report: CheckReport,
    matches: Vec<KeyMatch>,
    region: String,
    watermark: i64,
    processed: BTreeMap<String, i64>,
}

impl Plan {
    /// Stages 2 and 3: `use_file` downloads, verifies and matches each planned file (in plan
    /// order; given with its position in `list`, the list the plan was made from), or says why
    /// it cannot be used; the report, the matches and the new watermark follow from its answers.
    pub(crate) fn run(
        self,
        list: &[ListEntry],
        mut use_file: impl FnMut(usize, &ListEntry) -> Result<FileOutcome, String>,
    ) -> FilesDone {
        let Self {
            region,
            last_created,
            mut processed,
            to_do,
        } = self;
        let mut report = CheckReport::default();
        let mut matches: Vec<KeyMatch> = Vec::new();
        for &i in &to_do {
            let entry = &list[i];
            match use_file(i, entry) {
                Ok(file) => {
                    report.files_processed += 1;
                    report.keys_processed += file.keys;
                    matches.extend(file.matches);
                    processed.insert(entry.url.clone(), entry.created);
                }
                Err(reason) => report.files_failed.push(FailedFile {
                    url: entry.url.clone(),
                    created: entry.created,
                    reason,
                }),
            }
        }
        // The watermark moves to the largest listed `created` below the first unprocessed file:
        // everything listed up to it is processed (now or before). Processed files above it stay
        // remembered until it passes them.
        let first_unprocessed = report.files_failed.iter().map(|f| f.created).min();
        let watermark = list
            .iter()
            .map(|e| e.created)
            .filter(|&c| first_unprocessed.is_none_or(|first| c < first))
            .fold(last_created, i64::max);
        // A processed file listed more than once is remembered until the watermark passes its
        // last listing (else a later listing would make it new again).
        if !processed.is_empty() {
            for e in list {
                if let Some(created) = processed.get_mut(e.url.as_str()) {
                    *created = (*created).max(e.created);
                }
            }
        }
        processed.retain(|_, created| *created > watermark);
        report.matched_keys = matches.len();
        FilesDone {
            report,
            matches,
            region,
            watermark,
            processed,
        }
    }
}
