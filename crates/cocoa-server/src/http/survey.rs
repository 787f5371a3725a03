//! `PUT /api/v1/event_log`: the end-of-use survey, COCOA-compatible (201 on success). The rules
//! are in `crate::survey`; this is the edge: the survey window, the per-client limit, the body
//! (a `Content-Length` is required, up to 10 MiB), and the group-commit writer.
//!
//! Checks, in order: the window (410 `survey_closed`), the client's submissions this window
//! (429 `rate_limited`), `Content-Length` (411 `length_required`, 413 `payload_too_large`), the
//! body's framing (400 `malformed_body`) and media type (415 `unsupported_media_type`), the
//! JSON shape, a member named twice and the idempotency key (400 `bad_request`), each consented
//! entry (400 `invalid_survey`). Entries without consent are dropped. Entries of any type other than
//! "survey" are refused rather than dropped: this server takes only surveys, and a client that
//! sends something else should hear so instead of believing it stored.
//!
//! Nothing about the request is logged or kept beyond the answers: not the address (the limit
//! keys clients by an HMAC, in memory), the headers, the platform, package or attestation
//! fields, nor the time.

use super::{parse_json, read_json_body, ApiError, AppState};
use crate::survey::{accept, SurveyRules};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cocoa_api::{codes, EventLogRequest};
use std::sync::Arc;

/// The largest event log accepted (COCOA's limit).
pub const MAX_EVENT_LOG_BYTES: usize = 10 * 1024 * 1024;

pub async fn event_log(State(state): State<Arc<AppState>>, request: Request) -> Response {
    match submit(&state, request).await {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn submit(state: &AppState, request: Request) -> Result<(), ApiError> {
    let now = state.clock.now();
    let survey = &state.config.survey;
    if !survey.is_open(now) {
        return Err(ApiError::new(
            StatusCode::GONE,
            codes::SURVEY_CLOSED,
            "the survey is not taking answers",
        ));
    }
    let address = super::client_address(&request);
    let client = state.survey_limiter.tag(address);
    state
        .survey_limiter
        .admit(client, now.timestamp())
        .map_err(|wait| ApiError {
            retry_after: Some(wait.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                "too many submissions from this network; please try again later",
            )
        })?;
    let body = read_sized_body(request).await?;
    let request = parse_event_log(&body)?;
    let rules = SurveyRules {
        first_day: survey.first_day,
    };
    let responses = accept(&request, now, &rules)
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.code, r.message))?;
    state
        .survey_writer
        .store(responses)
        .await
        .map_err(ApiError::storage)
}

/// The event log: a JSON object (no member twice, at any depth) whose entries are objects
/// (serde alone would also read a struct from an array).
fn parse_event_log(body: &[u8]) -> Result<EventLogRequest, ApiError> {
    let bad = |m: String| ApiError::bad_request(format!("the event log: {m}"));
    let value = parse_json(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Some(fields) = value.as_object() else {
        return Err(bad("expected a JSON object".into()));
    };
    if let Some(serde_json::Value::Array(entries)) = fields.get("eventLogs") {
        if let Some(i) = entries.iter().position(|e| !e.is_object()) {
            return Err(bad(format!("eventLogs[{i}] is not a JSON object")));
        }
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// The body, which must declare its length (COCOA's server required it) and be at most
/// `MAX_EVENT_LOG_BYTES`; then read as every JSON body is ([`read_json_body`]: 413, 400
/// `malformed_body` for a body shorter than declared, 415 without `application/json`).
async fn read_sized_body(request: Request) -> Result<axum::body::Bytes, ApiError> {
    let declared = request.headers().get(header::CONTENT_LENGTH);
    let Some(declared) = declared else {
        return Err(ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            codes::LENGTH_REQUIRED,
            "send the body with a Content-Length header",
        ));
    };
    if declared
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_none()
    {
        return Err(ApiError::bad_request("Content-Length is not a number"));
    }
    read_json_body(request, MAX_EVENT_LOG_BYTES, "event logs").await
}
