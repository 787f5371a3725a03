//! The export and retention jobs. A run, under a lease in the database so that one replica
//! works at a time:
//! 1. re-uploads any file planned by an interrupted run (same bytes: see `build`);
//! 2. plans new files per region and key day (one transaction each moves the keys into the
//!    file and records its padding and shuffle seed), signs and uploads them;
//! 3. marks them published with a `created` time after every earlier one of the region;
//! 4. rewrites `list.json` and `index.txt` of every region from the database.
//!
//! A crash at any point leaves files invisible until step 4 of a later run lists them: nothing
//! is ever half-published, and nothing is published twice.

pub mod build;

use crate::blob::{BlobError, BlobStore};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::store::{ExportFileRow, NewExportFile, Store, StoreError, StoredKey};
use bytes::Bytes;
use cocoa_api::{ExposureConfiguration, RiskCalculationConfiguration};
use futures::{StreamExt, TryStreamExt};
use gaen::ExportSigner;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Files planned and built at once by a run.
const PARALLEL_FILES: usize = 2;

/// The lease both jobs take.
pub const LEASE: &str = "export";

/// Why a run failed. Whatever it had committed stays consistent; the next run completes it.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("signing: {0}")]
    Signing(#[from] gaen::Error),
    #[error("the export lease was lost to another replica")]
    LeaseLost,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Another replica held the lease: this run did nothing.
    pub skipped: bool,
    pub files: Vec<PublishedFile>,
    pub real_keys: u64,
    pub padding_keys: u64,
    /// Files of an interrupted run that this run completed.
    pub recovered_files: u64,
}

/// One file a run published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedFile {
    pub path: String,
    pub region: String,
    pub real_keys: u64,
    pub padding_keys: u64,
}

/// What a retention run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    pub skipped: bool,
    pub keys: u64,
    pub files: u64,
    pub orphan_blobs: u64,
    pub numbers: u64,
    /// Survey answers deleted because their deletion date has come.
    pub survey_responses: u64,
    /// Days (and regions) of registration counts deleted on the survey's deletion date.
    pub registration_stats: u64,
}

/// The configuration files phones download, as published bytes.
#[derive(Debug, Clone)]
pub struct ConfigurationFiles {
    pub exposure: Bytes,
    pub risk_calculation: Bytes,
}

impl ConfigurationFiles {
    pub fn new(exposure: &ExposureConfiguration, risk: &RiskCalculationConfiguration) -> Self {
        Self {
            exposure: Bytes::from(
                serde_json::to_vec_pretty(exposure).expect("plain values serialise"),
            ),
            risk_calculation: Bytes::from(
                serde_json::to_vec_pretty(risk).expect("plain values serialise"),
            ),
        }
    }
}

/// Runs exports and retention against a store and a blob store.
#[derive(Clone)]
pub struct Exporter {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ServerConfig>,
    pub signers: Arc<Vec<ExportSigner>>,
    pub configuration: ConfigurationFiles,
    /// Names this process in the lease table.
    pub holder: String,
    /// Crash tests only: abort the process right after this many uploads, as `kill -9` would
    /// at that moment (from `COCOA_FAULT_ABORT_AFTER_UPLOADS`, read by `App::open`).
    pub abort_after_uploads: Option<u64>,
    pub uploads: Arc<std::sync::atomic::AtomicU64>,
    /// Held by a run or a retention of this process, so that two of them (the schedule and
    /// the admin API) wait for each other instead of one finding the lease taken.
    pub running: Arc<tokio::sync::Mutex<()>>,
    /// Runs, files, keys, durations and deletions are counted here.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The names of the jobs in the job log (`JobLog`).
pub const EXPORT_JOB: &str = "export";
pub const RETENTION_JOB: &str = "retention";

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    fn lease_seconds(&self) -> i64 {
        i64::from(self.config.export.lease_seconds)
    }

    /// The URL prefix written into `list.json`.
    pub fn public_base_url(&self) -> String {
        self.config
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/c19r", self.config.listen))
    }

    /// One export run (see the module documentation).
    pub async fn run(&self, rng: &mut StdRng) -> Result<ExportReport, ExportError> {
        let started = std::time::Instant::now();
        let result = self.run_once(rng).await;
        match &result {
            Ok(report) if report.skipped => self.metrics.export_run("skipped", 0, 0, None),
            Ok(report) => {
                self.metrics.export_run(
                    "ok",
                    report.files.len() as u64 + report.recovered_files,
                    report.real_keys,
                    Some(started.elapsed().as_secs_f64()),
                );
                let now = self.clock.now().timestamp();
                self.metrics.export_succeeded_at(now);
                // For every replica's /healthz; the run itself is done and stays done.
                if let Err(e) = self.store.record_job_success(EXPORT_JOB, now).await {
                    tracing::warn!(error = %e, "could not record the export's completion");
                }
            }
            Err(_) => self.metrics.export_run("failed", 0, 0, None),
        }
        result
    }

    async fn run_once(&self, rng: &mut StdRng) -> Result<ExportReport, ExportError> {
        let _running = self.running.lock().await;
        let now = self.clock.now().timestamp();
        if !self
            .store
            .try_lease(LEASE, &self.holder, now, self.lease_seconds())
            .await?
        {
            tracing::debug!("export skipped: another replica holds the lease");
            return Ok(ExportReport {
                skipped: true,
                ..Default::default()
            });
        }
        let result = self.run_leased(rng).await;
        if let Err(e) = self.store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "could not release the export lease; it expires by itself");
        }
        let report = result?;
        if !report.files.is_empty() {
            tracing::info!(
                files = report.files.len(),
                real_keys = report.real_keys,
                padding_keys = report.padding_keys,
                recovered = report.recovered_files,
                "export published"
            );
        }
        Ok(report)
    }

    async fn renew(&self) -> Result<(), ExportError> {
        let now = self.clock.now().timestamp();
        if self
            .store
            .try_lease(LEASE, &self.holder, now, self.lease_seconds())
            .await?
        {
            Ok(())
        } else {
            Err(ExportError::LeaseLost)
        }
    }

    async fn run_leased(&self, rng: &mut StdRng) -> Result<ExportReport, ExportError> {
        let mut report = ExportReport::default();
        self.publish_configuration().await?;
        let files = self.store.files(None).await?;

        // 1. Files an interrupted run planned but did not list: upload them again.
        let mut unlisted: Vec<ExportFileRow> = files
            .iter()
            .filter(|f| f.created_ms.is_none())
            .cloned()
            .collect();
        for row in &unlisted {
            let keys = self.store.file_keys(row.id).await?;
            let count = keys.len();
            self.upload(row, keys).await?;
            report.recovered_files += 1;
            self.count(&mut report, row, count);
        }

        // 2. New files for the keys released since.
        let now = self.clock.now().timestamp();
        let mut last_end: BTreeMap<String, i64> = BTreeMap::new();
        for f in &files {
            let end = last_end.entry(f.region.clone()).or_insert(f.end_timestamp);
            *end = (*end).max(f.end_timestamp);
        }
        // Every file is described (window, seeds) up front, one per `max_keys_per_file` keys of
        // each region and day, so that the files can then be planned two at a time: planning is
        // database work, building a file is ours, and the two overlap on two cores.
        let e = &self.config.export;
        let real_max = e.max_keys_per_file as i64;
        let mut jobs = Vec::new();
        for group in self.store.pending_groups(now).await? {
            let files = ((group.keys + real_max - 1) / real_max).max(1);
            for _ in 0..files {
                let previous_end = last_end.get(&group.region).copied();
                // Every file of a region gets a later end than the one before: Android tells
                // files apart by (start, end, batch number).
                let end = previous_end.map_or(now, |p| now.max(p + 1));
                let start = previous_end.unwrap_or(end - 86_400).min(end - 1);
                last_end.insert(group.region.clone(), end);
                let new = NewExportFile {
                    region: group.region.clone(),
                    key_day: group.key_day,
                    start_timestamp: start,
                    end_timestamp: end,
                    shuffle_seed: rng.gen::<i64>(),
                };
                let jitter = rng.gen_range(0..e.padding_jitter.max(1));
                let padding_seed: u64 = rng.gen();
                jobs.push((new, jitter, padding_seed));
            }
        }
        // Files of one region and day are planned one after the other (they compete for the
        // same keys); different days run side by side.
        let mut chains: BTreeMap<(String, i64), Vec<_>> = BTreeMap::new();
        for job in jobs {
            chains
                .entry((job.0.region.clone(), job.0.key_day))
                .or_default()
                .push(job);
        }
        let min_keys = e.min_keys_per_file;
        let planned: Vec<Vec<(ExportFileRow, usize)>> = futures::stream::iter(chains.into_values())
            .map(|chain| async move {
                let mut done = Vec::new();
                for (new, jitter, padding_seed) in chain {
                    self.renew().await?;
                    let pad = move |real: &[StoredKey]| {
                        build::make_padding(
                            real,
                            build::padding_count(real.len(), min_keys, jitter),
                            padding_seed,
                        )
                    };
                    let started = std::time::Instant::now();
                    let Some((row, keys)) = self.store.plan_file(&new, now, real_max, &pad).await?
                    else {
                        break;
                    };
                    let planned = started.elapsed();
                    let count = keys.len();
                    self.upload(&row, keys).await?;
                    tracing::debug!(
                        file = row.id,
                        keys = count,
                        plan_ms = planned.as_millis() as u64,
                        upload_ms = (started.elapsed() - planned).as_millis() as u64,
                        "file written"
                    );
                    done.push((row, count));
                }
                Ok::<_, ExportError>(done)
            })
            .buffer_unordered(PARALLEL_FILES)
            .try_collect()
            .await?;
        for (row, keys) in planned.into_iter().flatten() {
            self.count(&mut report, &row, keys);
            unlisted.push(row);
        }

        // 3. Mark them published, each `created` later than any before it in its region.
        let mut last_created: BTreeMap<String, i64> = BTreeMap::new();
        for f in &files {
            if let Some(c) = f.created_ms {
                let last = last_created.entry(f.region.clone()).or_insert(c);
                *last = (*last).max(c);
            }
        }
        let now_ms = self.clock.now().timestamp_millis();
        unlisted.sort_by_key(|f| f.id);
        for row in &unlisted {
            let created = last_created
                .get(&row.region)
                .map_or(now_ms, |l| now_ms.max(l + 1));
            self.store.mark_published(row.id, created).await?;
            last_created.insert(row.region.clone(), created);
        }

        // 4. The lists, always rewritten from the database.
        self.write_lists(&[]).await?;
        Ok(report)
    }

    fn count(&self, report: &mut ExportReport, row: &ExportFileRow, real: usize) {
        let padding = (row.padding.len() / 17) as u64;
        report.real_keys += real as u64;
        report.padding_keys += padding;
        report.files.push(PublishedFile {
            path: build::zip_path(&row.region, row.id),
            region: row.region.clone(),
            real_keys: real as u64,
            padding_keys: padding,
        });
    }

    /// Builds and signs a file's zip on the blocking pool: shuffling, encoding and signing up to
    /// a quarter of a million keys must not hold an async worker (and every request queued on
    /// it) for the hundreds of milliseconds it takes.
    async fn build_zip(
        &self,
        row: &ExportFileRow,
        keys: Vec<StoredKey>,
    ) -> Result<Vec<u8>, ExportError> {
        let (row, signers) = (row.clone(), self.signers.clone());
        match tokio::task::spawn_blocking(move || build::build_zip(&row, &keys, &signers)).await {
            Ok(zip) => Ok(zip?),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    async fn upload(&self, row: &ExportFileRow, keys: Vec<StoredKey>) -> Result<(), ExportError> {
        let zip = self.build_zip(row, keys).await?;
        self.blobs
            .put(&build::zip_path(&row.region, row.id), Bytes::from(zip))
            .await?;
        let done = self
            .uploads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if self.abort_after_uploads.is_some_and(|limit| done >= limit) {
            tracing::error!(uploads = done, "fault injection: aborting the process");
            std::process::abort();
        }
        Ok(())
    }

    /// The exact bytes of a file, rebuilt from the database.
    pub async fn regenerate(&self, file_id: i64) -> Result<Option<Vec<u8>>, ExportError> {
        let Some(row) = self
            .store
            .files(None)
            .await?
            .into_iter()
            .find(|f| f.id == file_id)
        else {
            return Ok(None);
        };
        let keys = self.store.file_keys(file_id).await?;
        Ok(Some(self.build_zip(&row, keys).await?))
    }

    async fn publish_configuration(&self) -> Result<(), ExportError> {
        for (path, data) in [
            (
                "c19r/exposure_configuration/configuration.json",
                &self.configuration.exposure,
            ),
            (
                "c19r/exposure_configuration/risk_calculation_configuration.json",
                &self.configuration.risk_calculation,
            ),
        ] {
            let current = self.blobs.get(path).await?;
            if current.as_ref().map(|b| &b.data) != Some(data) {
                self.blobs.put(path, data.clone()).await?;
            }
        }
        Ok(())
    }

    /// Rewrites `list.json` and `index.txt` of every region that has files, is served, or is
    /// named in `also` (a region whose last file was just deleted).
    async fn write_lists(&self, also: &[String]) -> Result<(), ExportError> {
        let files = self.store.files(None).await?;
        let mut regions: BTreeSet<String> = files.iter().map(|f| f.region.clone()).collect();
        regions.extend(self.config.registration.regions.iter().cloned());
        regions.extend(also.iter().cloned());
        let base = self.public_base_url();
        for region in regions {
            let list = build::list_json(&region, &files, &base);
            let index = build::index_txt(&region, &files);
            for (name, data) in [("list.json", list), ("index.txt", index)] {
                let path = format!("c19r/{region}/{name}");
                let data = Bytes::from(data);
                if self.blobs.get(&path).await?.map(|b| b.data) != Some(data.clone()) {
                    self.blobs.put(&path, data).await?;
                }
            }
        }
        Ok(())
    }

    /// Retention: deletes keys and files past their periods (unlisting files before their zips
    /// go), zips no record knows (left by a crash), old processing numbers, and, from the
    /// survey's deletion date on (00:00 UTC), every survey answer.
    pub async fn cleanup(&self) -> Result<CleanupReport, ExportError> {
        let result = self.cleanup_once().await;
        if let Ok(report) = &result {
            if !report.skipped {
                let m = &self.metrics;
                m.retention_deleted("keys", report.keys);
                m.retention_deleted("files", report.files);
                m.retention_deleted("numbers", report.numbers);
                m.retention_deleted("survey_answers", report.survey_responses);
                m.retention_deleted("registration_stats", report.registration_stats);
                let now = self.clock.now().timestamp();
                if let Err(e) = self.store.record_job_success(RETENTION_JOB, now).await {
                    tracing::warn!(error = %e, "could not record the retention's completion");
                }
            }
        }
        result
    }

    async fn cleanup_once(&self) -> Result<CleanupReport, ExportError> {
        let _running = self.running.lock().await;
        let now = self.clock.now().timestamp();
        if !self
            .store
            .try_lease(LEASE, &self.holder, now, self.lease_seconds())
            .await?
        {
            return Ok(CleanupReport {
                skipped: true,
                ..Default::default()
            });
        }
        let result = self.cleanup_leased(now).await;
        if let Err(e) = self.store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "could not release the export lease; it expires by itself");
        }
        let report = result?;
        if report.keys
            + report.files
            + report.orphan_blobs
            + report.numbers
            + report.survey_responses
            + report.registration_stats
            > 0
        {
            tracing::info!(
                keys = report.keys,
                files = report.files,
                orphans = report.orphan_blobs,
                numbers = report.numbers,
                survey_responses = report.survey_responses,
                registration_stats = report.registration_stats,
                "retention deleted"
            );
        }
        Ok(report)
    }

    async fn cleanup_leased(&self, now: i64) -> Result<CleanupReport, ExportError> {
        let r = &self.config.retention;
        let mut report = CleanupReport::default();
        let key_cutoff = (now - i64::from(r.key_days) * 86_400) / 600;
        report.keys = self.store.delete_keys_ended_before(key_cutoff).await?;
        let deleted = self
            .store
            .delete_files_ended_before(now - i64::from(r.file_days) * 86_400)
            .await?;
        report.files = deleted.len() as u64;
        let regions: Vec<String> = deleted.iter().map(|f| f.region.clone()).collect();
        // Unlist first, then delete: a phone never sees a listed file that is gone.
        self.write_lists(&regions).await?;
        for f in &deleted {
            self.blobs.delete(&build::zip_path(&f.region, f.id)).await?;
        }
        // Zips without a record: a crash between deleting records and blobs left them.
        let known: BTreeSet<String> = self
            .store
            .files(None)
            .await?
            .iter()
            .map(|f| build::zip_path(&f.region, f.id))
            .collect();
        for path in self.blobs.list("c19r/").await? {
            if path.ends_with(".zip") && !known.contains(&path) {
                self.blobs.delete(&path).await?;
                report.orphan_blobs += 1;
            }
        }
        let grace = i64::from(self.config.numbers.grace_period_hours) * 3600;
        report.numbers = self.store.purge_numbers(now - grace).await?;
        if let Some(deletion) = self.config.survey.deletion_date() {
            if now.div_euclid(86_400) >= crate::registration::epoch_day(deletion) {
                report.survey_responses = self.store.delete_survey_responses().await?;
                // The registration counts serve the survey's analysis: they go with it.
                report.registration_stats = self.store.delete_registration_stats().await?;
            }
        }
        Ok(report)
    }
}
