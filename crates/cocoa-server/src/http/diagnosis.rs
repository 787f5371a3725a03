//! `PUT /api/v2/diagnosis` (204 on success) and `PUT /api/v3/diagnosis` (200 with an echo and
//! per-key warnings, padded): positive registration, COCOA-compatible. Wrong processing numbers
//! are limited per client and in total, with a slot reserved before each number is evaluated.

use super::{chaff, parse_object, read_body, ApiError, AppState};
use crate::ratelimit::Slot;
use crate::registration::{accept, prepare, Accepted, Prepared, Rejection};
use crate::store::{Claim, RegisterOutcome};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cocoa_api::{codes, DiagnosisRequest, DiagnosisResponse};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V2,
    V3,
}

pub async fn v2(state: State<Arc<AppState>>, request: Request) -> Response {
    handle(state, request, Version::V2).await
}

pub async fn v3(state: State<Arc<AppState>>, request: Request) -> Response {
    handle(state, request, Version::V3).await
}

async fn handle(
    State(state): State<Arc<AppState>>,
    request: Request,
    version: Version,
) -> Response {
    let started = Instant::now();
    let chaff = request.headers().contains_key("x-chaff");
    let address = super::client_address(&request);
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(e) => {
            if !chaff {
                state.metrics.registration(e.code);
            }
            return e.into_response();
        }
    };
    if chaff {
        return answer_chaff(&state, address, version)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    let result = register(&state, &body, address, version).await;
    match &result {
        Ok(_) => {
            state.latencies.record(started.elapsed());
            state.metrics.registration("accepted");
        }
        Err(e) => state.metrics.registration(e.code),
    }
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The slots one processing-number attempt holds: this client's in this process, and one of
/// everyone's in the store (shared by replicas). Taken before the number is evaluated, so that
/// parallel guesses cannot all pass a check made before any of them was counted; settled once
/// the outcome is known. A real attempt dropped unsettled (the client went away mid-request)
/// counts as a failure: it may have been evaluated. A decoy's never does.
struct NumberAttempt {
    state: Arc<AppState>,
    local: Option<Slot>,
    now: i64,
    /// Whether dropping it unsettled counts as a failure (not for a decoy: it evaluates nothing).
    failed_if_dropped: bool,
}

impl NumberAttempt {
    async fn reserve(
        state: &Arc<AppState>,
        address: Option<IpAddr>,
        failed_if_dropped: bool,
    ) -> Result<Self, ApiError> {
        let now = state.clock.now().timestamp();
        let client = state.limiter.tag(address);
        let local = state
            .limiter
            .reserve(client, now)
            .map_err(ApiError::rate_limited)?;
        let global = state
            .global_slots
            .take(state.store.as_ref(), local.window_start())
            .await;
        match global {
            Ok(Ok(())) => Ok(Self {
                state: state.clone(),
                local: Some(local),
                now,
                failed_if_dropped,
            }),
            Ok(Err(refusal)) => {
                state.limiter.settle(local, false, now);
                Err(ApiError::rate_limited(
                    state.limiter.retry_after(refusal, now),
                ))
            }
            Err(e) => {
                state.limiter.settle(local, false, now);
                Err(ApiError::storage(e))
            }
        }
    }

    /// Ends the attempt: `failed` (a wrong, expired or used number) keeps both slots used.
    fn settle(mut self, failed: bool) {
        if let Some(local) = self.local.take() {
            self.state.limiter.settle(local, failed, self.now);
            self.state.global_slots.settle(local.window_start(), failed);
        }
    }
}

impl Drop for NumberAttempt {
    fn drop(&mut self) {
        if let Some(local) = self.local.take() {
            let failed = self.failed_if_dropped;
            self.state.limiter.settle(local, failed, self.now);
            self.state.global_slots.settle(local.window_start(), failed);
        }
    }
}

/// A decoy: passes through the same limits as a real attempt, parses nothing, stores nothing,
/// and answers like a success (made-up content padded like a real answer) after a latency drawn
/// from real registrations.
async fn answer_chaff(
    state: &Arc<AppState>,
    address: Option<IpAddr>,
    version: Version,
) -> Result<Response, ApiError> {
    let attempt = NumberAttempt::reserve(state, address, false).await?;
    let (delay, body) = {
        let mut rng = state.rng.lock().unwrap_or_else(|e| e.into_inner());
        let delay = state.latencies.sample(&mut *rng);
        let body = (version == Version::V3).then(|| {
            let now = state.clock.now();
            let today = now.timestamp().div_euclid(86_400) * 144;
            let keys = state.latencies.sample_keys(&mut *rng);
            let decoy = chaff::decoy_response(
                &mut *rng,
                &state.config.registration.regions,
                keys,
                today,
                now.date_naive(),
            );
            chaff::padded_body(decoy, &mut *rng)
        });
        (delay, body)
    };
    tokio::time::sleep(delay).await;
    attempt.settle(false);
    Ok(match body {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(body) => json_response(body),
    })
}

fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn register(
    state: &Arc<AppState>,
    body: &[u8],
    address: Option<IpAddr>,
    version: Version,
) -> Result<Response, ApiError> {
    let attempt = NumberAttempt::reserve(state, address, true).await?;
    let now = state.clock.now();
    let request: DiagnosisRequest = match parse_object(body, "the registration") {
        Ok(request) => request,
        Err(e) => {
            attempt.settle(false);
            return Err(e);
        }
    };
    let rules = &state.config.registration;
    let prepared = match prepare(&request, now, rules) {
        Ok(prepared) => prepared,
        Err(r) => {
            // A number that is not even 8 digits counts as a wrong one; other mistakes
            // evaluated no number.
            attempt.settle(r.code == codes::PROCESSING_NUMBER_INVALID);
            return Err(rejection(r));
        }
    };
    let claim = Claim {
        tag: state.number_key.tag(&prepared.number),
        now: now.timestamp(),
        request_hash: prepared.request_hash.clone(),
        idempotency_hash: prepared.idempotency_hash.clone(),
    };
    let accept_keys = |dates| accept(&prepared, dates, now, rules);
    let outcome = match state.store.register(&claim, &accept_keys).await {
        Ok(outcome) => outcome,
        Err(e) => {
            attempt.settle(false);
            return Err(ApiError::storage(e));
        }
    };
    let number_error = |code: &'static str, message: &str| {
        Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, code, message))
    };
    let failed = matches!(
        outcome,
        RegisterOutcome::Invalid | RegisterOutcome::Expired | RegisterOutcome::Used
    );
    attempt.settle(failed);
    let accepted = match outcome {
        RegisterOutcome::Registered(accepted) => {
            tracing::info!(
                keys = accepted.keys.len(),
                warnings = accepted.warnings.len(),
                "registered keys"
            );
            state
                .latencies
                .record_keys(accepted.accepted_wire_keys.len());
            state.metrics.keys_stored(accepted.keys.len() as u64);
            accepted
        }
        RegisterOutcome::Replayed(dates) => {
            tracing::info!("repeated registration answered again without storing");
            // The same answer as the first time, as far as the rules give it now.
            accept(&prepared, dates, now, rules)
                .unwrap_or_else(|_| replayed_without_keys(&prepared))
        }
        RegisterOutcome::Invalid => {
            return number_error(
                codes::PROCESSING_NUMBER_INVALID,
                "this processing number is not valid: check the digits and try again",
            )
        }
        RegisterOutcome::Expired => {
            return number_error(
                codes::PROCESSING_NUMBER_EXPIRED,
                "this processing number has expired: ask the health centre for a new one",
            )
        }
        RegisterOutcome::Used => {
            return number_error(
                codes::PROCESSING_NUMBER_USED,
                "this processing number has already been used for another registration",
            )
        }
        RegisterOutcome::Refused(r) => return Err(rejection(r)),
    };
    Ok(match version {
        Version::V2 => StatusCode::NO_CONTENT.into_response(),
        Version::V3 => {
            let response = echo(&request, accepted.accepted_wire_keys, accepted.warnings);
            let mut rng = state.rng.lock().unwrap_or_else(|e| e.into_inner());
            json_response(chaff::padded_body(response, &mut *rng))
        }
    })
}

fn replayed_without_keys(prepared: &Prepared) -> Accepted {
    Accepted {
        keys: Vec::new(),
        accepted_wire_keys: Vec::new(),
        warnings: prepared.warnings.clone(),
        symptomatic: prepared.has_symptom,
    }
}

fn rejection(r: Rejection) -> ApiError {
    let status = match r.code {
        codes::PROCESSING_NUMBER_INVALID => StatusCode::NOT_ACCEPTABLE,
        codes::INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, r.code, r.message)
}

fn echo(
    request: &DiagnosisRequest,
    keys: Vec<cocoa_api::DiagnosisRequestKey>,
    warnings: Vec<cocoa_api::KeyWarning>,
) -> DiagnosisResponse {
    DiagnosisResponse {
        has_symptom: request.has_symptom,
        onset_of_symptom_or_test_date: request.onset_of_symptom_or_test_date.clone(),
        keys,
        regions: request.regions.clone(),
        platform: request.platform.clone(),
        device_verification_payload: None,
        app_package_name: request.app_package_name.clone(),
        verification_payload: None,
        idempotency_key: request.idempotency_key.clone(),
        padding: None,
        warnings,
    }
}
