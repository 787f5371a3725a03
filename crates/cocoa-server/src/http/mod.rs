//! The HTTP API: routes, shared state, and the small endpoints (health, OpenAPI, portal).
//! Registration and number issuance have their own modules.

mod c19r;
mod chaff;
mod diagnosis;
mod error;
mod export;
mod numbers;
mod ratelimit;
mod survey;

pub use chaff::LatencySamples;
pub use error::ApiError;
pub use ratelimit::RateLimiter;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::numbers::NumberKey;
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cocoa_api::codes;
use rand::rngs::StdRng;
use std::fmt;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

/// The largest request body accepted (the reference key server's limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The health centres' bearer token.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// Constant-time comparison with an `Authorization` header value.
    pub fn authorizes(&self, header: Option<&str>) -> bool {
        // The scheme name is case-insensitive (RFC 9110 section 11.1).
        let Some(presented) = header
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
        else {
            return false;
        };
        bool::from(presented.trim().as_bytes().ct_eq(self.0.as_bytes()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ServerConfig>,
    pub number_key: NumberKey,
    pub admin_token: AdminToken,
    pub limiter: RateLimiter,
    pub latencies: LatencySamples,
    /// A CSPRNG (ChaCha), seeded from the OS in production and from a seed in simulations.
    pub rng: Mutex<StdRng>,
    /// Where published files live.
    pub blobs: Arc<dyn crate::blob::BlobStore>,
    /// The export and retention jobs.
    pub exporter: crate::export::Exporter,
    /// The survey's own limit on submissions per client, and its group-commit writer.
    pub survey_limiter: RateLimiter,
    pub survey_writer: crate::store::SurveyWriter,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    // Added after the layers (see below), so it carries its own 405: the router's
    // `method_not_allowed_fallback` covers only the routes added before it.
    let event_log = put(survey::event_log).fallback(method_not_allowed);
    Router::new()
        .route("/api/v1/processing-numbers", post(numbers::issue))
        .route("/api/v2/diagnosis", put(diagnosis::v2))
        .route("/api/v3/diagnosis", put(diagnosis::v3))
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/portal", get(portal))
        .route("/api/v1/admin/export", post(export::run_export))
        .route("/api/v1/export-signing-keys", get(export::signing_keys))
        .route("/c19r/{*path}", get(c19r::serve_blob))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are read with our own limit so that the 413 answer has our JSON shape.
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // After the trace layer: a request log line would give the exact time of a survey answer.
        .route("/api/v1/event_log", event_log)
        .with_state(state)
}

/// Admits a health centre's request (`Authorization: Bearer <admin token>`), or answers 401.
pub(crate) fn require_admin(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if state.admin_token.authorizes(authorization) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Reads a request body of at most `MAX_BODY_BYTES`.
pub(crate) async fn read_body(request: Request) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

/// Parses a JSON object into `T`. serde would also accept a JSON array for a struct (its
/// "sequence form"); the API does not.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("{what}: invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "{what}: expected a JSON object"
        )));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.store.health().await {
        Ok(()) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn portal() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        include_str!("portal.html"),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

#[cfg(test)]
mod tests {
    use super::AdminToken;

    #[test]
    fn admin_token_needs_the_bearer_scheme_in_any_case() {
        let token = AdminToken::new("secret-token-0123456789".into());
        assert!(token.authorizes(Some("Bearer secret-token-0123456789")));
        assert!(token.authorizes(Some("bearer secret-token-0123456789")));
        assert!(!token.authorizes(Some("Basic secret-token-0123456789")));
        assert!(!token.authorizes(Some("Bearer secret-token-012345678")));
        assert!(!token.authorizes(Some("secret-token-0123456789")));
        assert!(!token.authorizes(None));
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
    }
}
