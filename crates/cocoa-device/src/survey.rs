//! The end-of-use survey on the phone: the answer (both questions required, "no answer" counts,
//! both data consents off by default), the exact content COCOA's event log carries, submission
//! with one idempotency key per answer kept across retries, and the end of use: after the server
//! confirms, everything the phone holds is deleted.
//!
//! The 15-day rule: the history screen shows 15 days, but the survey's daily data holds every
//! stored day since the survey's first day, older ones included, and only with consent.

use crate::error::Error;
use crate::phone::Phone;
use crate::risk;
use crate::storage::Storage;
use cocoa_api::{EventLogEntry, EventLogRequest, SurveyContent, SurveyDay, SurveyExposureData};
use rand::{CryptoRng, RngCore};

/// The survey's first day (COCOA: 2022-04-07), as days since the epoch.
pub const DEFAULT_FIRST_DAY: i64 = 19_089;

const SURVEY_ATTEMPT: &str = "survey_pending_request";
const STARTED_ON: &str = "started_on";

/// What the user chose. `None` for a question is an explicit "no answer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SurveyAnswer {
    /// Age group 1..=9.
    pub age_group: Option<u8>,
    /// Commuting 1..=3.
    pub commute: Option<u8>,
    /// Send the day use started (off unless the user turns it on).
    pub send_start_date: bool,
    /// Send the daily exposure data (off unless the user turns it on).
    pub send_exposure_data: bool,
}

impl SurveyAnswer {
    fn validate(&self) -> Result<(), Error> {
        if self.age_group.is_some_and(|a| !(1..=9).contains(&a)) {
            return Err(Error::Invalid(
                "the age group must be 1..=9 or no answer".into(),
            ));
        }
        if self.commute.is_some_and(|c| !(1..=3).contains(&c)) {
            return Err(Error::Invalid(
                "the commuting answer must be 1..=3 or no answer".into(),
            ));
        }
        Ok(())
    }
}

impl<S: Storage> Phone<S> {
    /// Records the day use started, once (at the first consent to use the app).
    pub fn record_start_of_use(&mut self, now: i64) -> Result<(), Error> {
        if self.storage().setting(STARTED_ON)?.is_none() {
            self.storage_mut()
                .set_setting(STARTED_ON, &now.div_euclid(86_400).to_string())?;
        }
        Ok(())
    }

    /// The survey content for `answer`, built from what is stored now.
    pub fn survey_content(
        &self,
        answer: &SurveyAnswer,
        first_day: i64,
    ) -> Result<SurveyContent, Error> {
        answer.validate()?;
        let start_date = if answer.send_start_date {
            self.parsed_setting::<i64>(STARTED_ON)?
                .map(|day| day * 86_400)
        } else {
            None
        };
        let exposure_data = if answer.send_exposure_data {
            let threshold = risk::survey_threshold(&self.stored_rule()?);
            let mut days: Vec<SurveyDay> = self
                .storage()
                .daily_summaries()?
                .iter()
                .filter(|d| d.date >= first_day)
                .map(|d| SurveyDay {
                    date_millis: d.date * 86_400_000,
                    exposure_detected: u8::from(risk::exposure_detected(d, threshold)),
                })
                .collect();
            days.sort_by_key(|d| d.date_millis);
            Some(SurveyExposureData {
                daily_summaries: days,
            })
        } else {
            None
        };
        Ok(SurveyContent {
            q1: answer.age_group,
            q2: answer.commute,
            start_date,
            exposure_data,
        })
    }

    /// The exact request a submission sends. A retry of the same answer sends the very same
    /// request (key, day and content), even on a later day, so the server stores it once; a
    /// changed answer is a new answer with a new idempotency key. With `keep` false (a dry run)
    /// nothing is stored.
    fn survey_request(
        &mut self,
        now: i64,
        answer: &SurveyAnswer,
        first_day: i64,
        rng: &mut (impl RngCore + CryptoRng),
        keep: bool,
    ) -> Result<EventLogRequest, Error> {
        let content = serde_json::to_value(self.survey_content(answer, first_day)?)
            .expect("plain values serialise");
        let pending: Option<EventLogRequest> = self.json_setting(SURVEY_ATTEMPT)?;
        if let Some(request) = pending {
            if request.event_logs.first().map(|e| &e.content) == Some(&content) {
                return Ok(request);
            }
        }
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let request = EventLogRequest {
            idempotency_key: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            // Nothing that identifies the device: no platform, package or attestation.
            platform: None,
            app_package_name: None,
            device_verification_payload: None,
            event_logs: vec![EventLogEntry {
                has_consent: true,
                // The day only: the exact time of answering is nobody's business.
                epoch: now - now.rem_euclid(86_400),
                kind: cocoa_api::survey::SURVEY_TYPE.into(),
                subtype: cocoa_api::survey::SURVEY_TYPE.into(),
                content,
            }],
        };
        if keep {
            let json = serde_json::to_string(&request).expect("plain values serialise");
            self.storage_mut().set_setting(SURVEY_ATTEMPT, &json)?;
        }
        Ok(request)
    }

    /// What a submission would send, without sending it or changing anything.
    pub fn survey_dry_run(
        &mut self,
        now: i64,
        answer: &SurveyAnswer,
        first_day: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<EventLogRequest, Error> {
        self.survey_request(now, answer, first_day, rng, false)
    }

    /// Sends the answer. On success the phone's end-of-use process runs: everything is deleted.
    /// On failure nothing is deleted, and a retry sends the same idempotency key.
    pub fn submit_survey(
        &mut self,
        now: i64,
        http: &dyn crate::Http,
        answer: &SurveyAnswer,
        first_day: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), Error> {
        let settings = self.settings()?;
        let request = self.survey_request(now, answer, first_day, rng, true)?;
        let body = serde_json::to_vec(&request).expect("plain values serialise");
        let response =
            http.put_json(&format!("{}/api/v1/event_log", settings.server_url), &body)?;
        let error: Option<cocoa_api::ErrorBody> = serde_json::from_slice(&response.body).ok();
        match response.status {
            200 | 201 => self.end_of_use(),
            429 => Err(Error::RateLimited {
                retry_after_seconds: response.retry_after.unwrap_or(60),
            }),
            400..=499 => Err(Error::Refused {
                code: error.as_ref().map(|e| e.error.clone()).unwrap_or_default(),
                message: error
                    .map(|e| e.message)
                    .unwrap_or_else(|| format!("HTTP {}", response.status)),
            }),
            status => Err(Error::ServerUnavailable { status }),
        }
    }

    /// Ends use without sending anything (skipping the survey), or after a sent survey: stops
    /// everything and deletes keys, sightings, summaries, windows, history, settings, consents,
    /// in one step (if it fails, nothing is deleted and it can simply be run again).
    pub fn end_of_use(&mut self) -> Result<(), Error> {
        self.storage_mut().wipe()?;
        Ok(())
    }
}
