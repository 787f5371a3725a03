//! Every error answer: a status, a stable code and a human sentence, as `{"error", "message"}`
//! (plus `errorId` for 500s). Internals (SQL errors, paths) are logged, never sent. Storage
//! failures tell the truth: unreachable is 503 and retryable, a bug is 500 with an id.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cocoa_api::{codes, ErrorBody};

/// The `Retry-After` of 503 `storage_unavailable` answers, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Adds `WWW-Authenticate: Bearer` (for 401 answers).
    pub bearer_challenge: bool,
    /// With 500 `internal_error`: the id the failure was logged under.
    pub error_id: Option<String>,
    /// Storage failed (`unavailable` or `internal`): counted in the metrics.
    pub storage_failure: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            bearer_challenge: false,
            error_id: None,
            storage_failure: None,
        }
    }

    /// 500 `internal_error`: a bug or a violated constraint, not worth retrying. Logged with a
    /// random id that the answer carries, so an operator can find it.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        let id = format!("{:016x}", rand::random::<u64>());
        tracing::error!(error_id = %id, %error, "internal error");
        Self {
            error_id: Some(id.clone()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL,
                format!("the server failed to handle this request (error id {id}); retrying will not help: please report it"),
            )
        }
    }

    /// The answer for a storage failure: 503 with `Retry-After` when storage could not be
    /// reached (retry later), 500 with an error id for a bug or a violated constraint.
    pub fn storage(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::Unavailable(_) => Self::unavailable(error),
            StoreError::DuplicateNumber | StoreError::Corrupt(_) | StoreError::Internal(_) => {
                Self {
                    storage_failure: Some("internal"),
                    ..Self::internal(error)
                }
            }
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// 503 `storage_unavailable` (the database or blob storage failed or timed out), with
    /// `Retry-After`.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "storage unavailable");
        Self {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            storage_failure: Some("unavailable"),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::STORAGE_UNAVAILABLE,
                "the server cannot reach its storage right now; please try again later",
            )
        }
    }

    pub fn unauthorized() -> Self {
        Self {
            bearer_challenge: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHORIZED,
                "send the admin token as \"Authorization: Bearer <token>\"",
            )
        }
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                "too many failed attempts; please wait before trying again",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            error_id: self.error_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.bearer_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(kind) = self.storage_failure {
            response
                .extensions_mut()
                .insert(super::StorageFailure(kind));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
