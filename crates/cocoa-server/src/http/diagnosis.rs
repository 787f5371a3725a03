//! `PUT /api/v2/diagnosis` (204 on success) and `PUT /api/v3/diagnosis` (200 with an echo and
//! per-key warnings): positive registration, COCOA-compatible.

use super::{parse_object, read_body, ApiError, AppState};
use crate::registration::{accept, prepare, Accepted, Prepared, Rejection};
use crate::store::{Claim, RegisterOutcome};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cocoa_api::{codes, DiagnosisRequest, DiagnosisResponse};
use std::net::SocketAddr;
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
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    if chaff {
        return answer_chaff(&state, &body, version).await;
    }
    let result = register(&state, &body, address, version).await;
    if result.is_ok() {
        state.latencies.record(started.elapsed());
    }
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A decoy: parse nothing that matters, store nothing, answer like a success after a latency
/// drawn from real registrations.
async fn answer_chaff(state: &AppState, body: &[u8], version: Version) -> Response {
    let delay = {
        let mut rng = state.rng.lock().unwrap_or_else(|e| e.into_inner());
        state.latencies.sample(&mut *rng)
    };
    tokio::time::sleep(delay).await;
    match version {
        Version::V2 => StatusCode::NO_CONTENT.into_response(),
        Version::V3 => match serde_json::from_slice::<DiagnosisRequest>(body) {
            Ok(request) => {
                let keys = request.keys.clone();
                Json(echo(&request, keys, Vec::new())).into_response()
            }
            Err(_) => StatusCode::OK.into_response(),
        },
    }
}

async fn register(
    state: &AppState,
    body: &[u8],
    address: Option<std::net::IpAddr>,
    version: Version,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let client = state.limiter.tag(address);
    state
        .limiter
        .check(client, now.timestamp())
        .map_err(ApiError::rate_limited)?;
    let request: DiagnosisRequest = parse_object(body, "the registration")?;
    let rules = &state.config.registration;
    let prepared = prepare(&request, now, rules).map_err(|r| {
        if r.code == codes::PROCESSING_NUMBER_INVALID {
            state.limiter.failed(client, now.timestamp());
        }
        rejection(r)
    })?;
    let claim = Claim {
        tag: state.number_key.tag(&prepared.number),
        now: now.timestamp(),
        request_hash: prepared.request_hash.clone(),
        idempotency_hash: prepared.idempotency_hash.clone(),
    };
    let accept_keys = |dates| accept(&prepared, dates, now, rules);
    let outcome = state
        .store
        .register(&claim, &accept_keys)
        .await
        .map_err(ApiError::unavailable)?;
    let number_error = |code: &'static str, message: &str| {
        state.limiter.failed(client, now.timestamp());
        ApiError::new(StatusCode::NOT_ACCEPTABLE, code, message)
    };
    let accepted = match outcome {
        RegisterOutcome::Registered(accepted) => {
            tracing::info!(
                keys = accepted.keys.len(),
                warnings = accepted.warnings.len(),
                "registered keys"
            );
            accepted
        }
        RegisterOutcome::Replayed(dates) => {
            tracing::info!("repeated registration answered again without storing");
            // The same answer as the first time, as far as the rules give it now.
            accept(&prepared, dates, now, rules)
                .unwrap_or_else(|_| replayed_without_keys(&prepared))
        }
        RegisterOutcome::Invalid => {
            return Err(number_error(
                codes::PROCESSING_NUMBER_INVALID,
                "this processing number is not valid: check the digits and try again",
            ))
        }
        RegisterOutcome::Expired => {
            return Err(number_error(
                codes::PROCESSING_NUMBER_EXPIRED,
                "this processing number has expired: ask the health centre for a new one",
            ))
        }
        RegisterOutcome::Used => {
            return Err(number_error(
                codes::PROCESSING_NUMBER_USED,
                "this processing number has already been used for another registration",
            ))
        }
        RegisterOutcome::Refused(r) => return Err(rejection(r)),
    };
    Ok(match version {
        Version::V2 => StatusCode::NO_CONTENT.into_response(),
        Version::V3 => Json(echo(
            &request,
            accepted.accepted_wire_keys,
            accepted.warnings,
        ))
        .into_response(),
    })
}

fn replayed_without_keys(prepared: &Prepared) -> Accepted {
    Accepted {
        keys: Vec::new(),
        accepted_wire_keys: Vec::new(),
        warnings: prepared.warnings.clone(),
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
