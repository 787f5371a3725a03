//! `POST /api/v1/processing-numbers`: a health centre issues one-time processing numbers.

use super::{parse_object, read_body, require_admin, ApiError, AppState};
use crate::numbers::ProcessingNumber;
use crate::registration::{epoch_day, parse_full_date, NumberDates};
use crate::store::{NewNumber, StoreError};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use cocoa_api::{codes, IssueNumbersRequest, IssueNumbersResponse, IssuedNumber};
use std::collections::HashSet;
use std::sync::Arc;

/// Numbers per request, at most.
pub const MAX_COUNT: u32 = 100;
/// Lifetime in minutes, at most (24 hours).
pub const MAX_LIFETIME_MINUTES: u32 = 1440;

pub async fn issue(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    require_admin(&state, &request)?;
    let body = read_body(request).await?;
    let ask: IssueNumbersRequest = if body.iter().all(u8::is_ascii_whitespace) {
        IssueNumbersRequest::default()
    } else {
        parse_object(&body, "the request")?
    };
    let now = state.clock.now();
    let count = ask.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "count must be 1..={MAX_COUNT}"
        )));
    }
    let lifetime = ask
        .lifetime_minutes
        .unwrap_or(state.config.numbers.default_lifetime_minutes);
    if !(1..=MAX_LIFETIME_MINUTES).contains(&lifetime) {
        return Err(ApiError::bad_request(format!(
            "lifetimeMinutes must be 1..={MAX_LIFETIME_MINUTES}"
        )));
    }
    let max_age_days = state.config.registration.max_onset_age_days;
    let dates = NumberDates {
        symptom_onset_day: parse_day(
            "symptomOnsetDate",
            ask.symptom_onset_date.as_deref(),
            now,
            max_age_days,
        )?,
        test_day: parse_day("testDate", ask.test_date.as_deref(), now, max_age_days)?,
    };
    let expires_at = now + chrono::Duration::minutes(i64::from(lifetime));
    // A collision with a stored number is rare (they are few among 10^8); on one, draw again.
    for _ in 0..8 {
        let numbers = draw(&state, count as usize);
        let rows: Vec<NewNumber> = numbers
            .iter()
            .map(|n| NewNumber {
                tag: state.number_key.tag(n),
                created_at: now.timestamp(),
                expires_at: expires_at.timestamp(),
                dates,
            })
            .collect();
        match state.store.insert_numbers(&rows).await {
            Ok(()) => {
                tracing::info!(
                    count,
                    lifetime_minutes = lifetime,
                    "issued processing numbers"
                );
                let expires = rfc3339(expires_at);
                let body = IssueNumbersResponse {
                    processing_numbers: numbers
                        .into_iter()
                        .map(|n| IssuedNumber {
                            processing_number: n.as_str().to_owned(),
                            expires_at: expires.clone(),
                        })
                        .collect(),
                };
                return Ok((StatusCode::CREATED, Json(body)).into_response());
            }
            Err(StoreError::DuplicateNumber) => continue,
            Err(e) => return Err(ApiError::storage(e)),
        }
    }
    // Eight draws in a row met stored numbers: the number space is nearly full (or the RNG is
    // broken). Retrying soon will not help; more numbers expiring will.
    tracing::error!(
        count,
        "could not draw unused processing numbers eight times in a row"
    );
    Err(ApiError {
        retry_after: Some(super::error::UNAVAILABLE_RETRY_AFTER_SECONDS),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::NUMBERS_EXHAUSTED,
            "no unused processing numbers could be drawn: too many are live; shorten lifetimes or wait for numbers to expire",
        )
    })
}

fn draw(state: &AppState, count: usize) -> Vec<ProcessingNumber> {
    let mut rng = state.rng.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let n = ProcessingNumber::generate(&mut *rng);
        if seen.insert(n.as_str().to_owned()) {
            out.push(n);
        }
    }
    out
}

/// A health centre's date: within `[registration] max_onset_age_days` of today.
fn parse_day(
    field: &str,
    text: Option<&str>,
    now: DateTime<Utc>,
    max_age_days: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    // RFC 3339's full-date, exactly: chrono's `%Y-%m-%d` would also take `+2026-11-30`.
    let date = parse_full_date(text)
        .ok_or_else(|| ApiError::bad_request(format!("{field} must be a date as YYYY-MM-DD")))?;
    let age = (now.date_naive() - date).num_days();
    // One day of slack forwards, as for the phone's own date (Japan is UTC+9).
    if !(-1..=max_age_days).contains(&age) {
        return Err(ApiError::bad_request(format!(
            "{field} must be within the last {max_age_days} days"
        )));
    }
    Ok(Some(epoch_day(date)))
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
