//! What the operator can see inside: counters, gauges and histograms, served by `GET /metrics` in
//! Prometheus's text format, on the `metrics` facade and its Prometheus exporter.
//!
//! Each [`App`](crate::App) owns its recorder: nothing is installed globally, so several servers
//! in one process (tests, the simulator) keep their figures apart. No label carries client data:
//! routes are route templates (`/c19r/{*path}`, never the path asked for), statuses are classes,
//! outcomes are the server's own stable codes.

use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const METADATA: Metadata<'static> = Metadata::new("cocoa_server", Level::INFO, None);

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Export run duration buckets, in seconds.
const EXPORT_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Every metric the server keeps.
pub mod names {
    pub const REQUESTS: &str = "cocoa_http_requests_total";
    pub const REQUEST_SECONDS: &str = "cocoa_http_request_duration_seconds";
    pub const REGISTRATIONS: &str = "cocoa_registrations_total";
    pub const KEYS_STORED: &str = "cocoa_keys_stored_total";
    pub const EXPORT_RUNS: &str = "cocoa_export_runs_total";
    pub const EXPORT_FILES: &str = "cocoa_export_files_total";
    pub const EXPORT_KEYS: &str = "cocoa_export_keys_total";
    pub const EXPORT_SECONDS: &str = "cocoa_export_duration_seconds";
    pub const EXPORT_LAST_SUCCESS: &str = "cocoa_export_last_success_timestamp_seconds";
    pub const EXPORT_LAST_SUCCESS_AGE: &str = "cocoa_export_last_success_age_seconds";
    pub const RETENTION_DELETED: &str = "cocoa_retention_deleted_total";
    pub const SURVEY_ANSWERS: &str = "cocoa_survey_answers_total";
    pub const STORAGE_ERRORS: &str = "cocoa_storage_errors_total";
}

/// One server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.to_string()))
            .collect::<Vec<_>>(),
    )
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(names::REQUEST_SECONDS.into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(names::EXPORT_SECONDS.into()),
                    EXPORT_BUCKETS,
                )
            })
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        use metrics::Unit;
        let d = |name: &'static str, unit: Option<Unit>, text: &'static str| {
            self.recorder
                .describe_counter(name.into(), unit, text.into());
        };
        d(
            names::REQUESTS,
            None,
            "HTTP requests answered, by route template and status class.",
        );
        d(names::REGISTRATIONS, None, "Positive registrations, by outcome: accepted, or the error code (decoys are not counted).");
        d(
            names::KEYS_STORED,
            None,
            "Diagnosis keys stored by registrations (one per key and region).",
        );
        d(
            names::EXPORT_RUNS,
            None,
            "Export runs, by result: ok, skipped (another replica held the lease) or failed.",
        );
        d(names::EXPORT_FILES, None, "Export files published.");
        d(
            names::EXPORT_KEYS,
            None,
            "Real keys published in export files.",
        );
        d(
            names::RETENTION_DELETED,
            None,
            "Rows and files deleted by retention, by kind.",
        );
        d(
            names::SURVEY_ANSWERS,
            None,
            "Survey answers received, by result: stored, or duplicate (a retry, stored once).",
        );
        d(
            names::STORAGE_ERRORS,
            None,
            "Storage failures answered, by kind: unavailable (503) or internal (500).",
        );
        self.recorder.describe_histogram(
            names::REQUEST_SECONDS.into(),
            Some(Unit::Seconds),
            "Time from a request's head to its answer, by route template.".into(),
        );
        self.recorder.describe_histogram(
            names::EXPORT_SECONDS.into(),
            Some(Unit::Seconds),
            "Duration of export runs that did the work.".into(),
        );
        self.recorder.describe_gauge(
            names::EXPORT_LAST_SUCCESS.into(),
            Some(Unit::Seconds),
            "When this process last completed an export run (unix seconds).".into(),
        );
        self.recorder.describe_gauge(
            names::EXPORT_LAST_SUCCESS_AGE.into(),
            Some(Unit::Seconds),
            "Seconds since the last export run any replica completed, at the time of the scrape."
                .into(),
        );
    }

    fn count(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
            .increment(n);
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// One answered request: `route` is the route template, never the path asked for.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.count(names::REQUESTS, &[("route", route), ("status", class)], 1);
        self.recorder
            .register_histogram(&key(names::REQUEST_SECONDS, &[("route", route)]), &METADATA)
            .record(seconds);
    }

    /// A registration's outcome: `accepted`, or the stable error code it was answered with.
    pub fn registration(&self, outcome: &str) {
        self.count(names::REGISTRATIONS, &[("outcome", outcome)], 1);
    }

    pub fn keys_stored(&self, keys: u64) {
        self.count(names::KEYS_STORED, &[], keys);
    }

    /// An export run: `result` is `ok`, `skipped` or `failed`.
    pub fn export_run(&self, result: &str, files: u64, keys: u64, seconds: Option<f64>) {
        self.count(names::EXPORT_RUNS, &[("result", result)], 1);
        self.count(names::EXPORT_FILES, &[], files);
        self.count(names::EXPORT_KEYS, &[], keys);
        if let Some(seconds) = seconds {
            self.recorder
                .register_histogram(&key(names::EXPORT_SECONDS, &[]), &METADATA)
                .record(seconds);
        }
    }

    /// When this process last completed an export (unix seconds).
    pub fn export_succeeded_at(&self, unix_seconds: i64) {
        self.recorder
            .register_gauge(&key(names::EXPORT_LAST_SUCCESS, &[]), &METADATA)
            .set(unix_seconds as f64);
    }

    /// The age of the last export any replica completed, as of now (set before each scrape).
    pub fn export_age(&self, seconds: Option<i64>) {
        let gauge = self
            .recorder
            .register_gauge(&key(names::EXPORT_LAST_SUCCESS_AGE, &[]), &METADATA);
        // No export yet: NaN, which Prometheus shows as no value rather than a fake age.
        gauge.set(seconds.map_or(f64::NAN, |s| s as f64));
    }

    /// Deletions by retention: `kind` is `keys`, `files`, `numbers`, `survey_answers` or
    /// `registration_stats`.
    pub fn retention_deleted(&self, kind: &str, n: u64) {
        self.count(names::RETENTION_DELETED, &[("kind", kind)], n);
    }

    /// Survey answers: how many were new, how many were retries already stored.
    pub fn survey_answers(&self, stored: u64, duplicate: u64) {
        self.count(names::SURVEY_ANSWERS, &[("result", "stored")], stored);
        self.count(names::SURVEY_ANSWERS, &[("result", "duplicate")], duplicate);
    }

    /// A storage failure answered: `kind` is `unavailable` or `internal`.
    pub fn storage_error(&self, kind: &str) {
        self.count(names::STORAGE_ERRORS, &[("kind", kind)], 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_as_prometheus_text_with_their_labels() {
        let m = Metrics::new();
        m.request("/api/v2/diagnosis", 204, 0.004);
        m.request("/api/v2/diagnosis", 406, 0.002);
        m.registration("accepted");
        m.keys_stored(11);
        m.survey_answers(3, 1);
        let text = m.render();
        assert!(text
            .contains("cocoa_http_requests_total{route=\"/api/v2/diagnosis\",status=\"2xx\"} 1"));
        assert!(text.contains("cocoa_registrations_total{outcome=\"accepted\"} 1"));
        assert!(text.contains("cocoa_keys_stored_total 11"));
        assert!(text.contains("cocoa_survey_answers_total{result=\"duplicate\"} 1"));
        assert!(text.contains(
            "cocoa_http_request_duration_seconds_bucket{route=\"/api/v2/diagnosis\",le=\"0.005\"} 2"
        ));
        assert!(text.contains("# HELP cocoa_registrations_total"));
        // Two recorders, two sets of figures.
        assert!(!Metrics::new()
            .render()
            .contains("cocoa_keys_stored_total 11"));
    }
}
