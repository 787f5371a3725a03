//! The HTTP API: routes, shared state, and the small endpoints (health, OpenAPI, portal).
//! Registration, number issuance, the survey, exports and the registration statistics have
//! their own modules.

mod c19r;
mod chaff;
mod diagnosis;
mod error;
mod export;
mod numbers;
mod report;
mod stats;
mod survey;

pub use crate::ratelimit::RateLimiter;
pub use chaff::LatencySamples;
pub use error::ApiError;

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
use sha2::Digest;
use std::fmt;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

/// The largest request body accepted (the reference key server's limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The health centres' bearer token.
#[derive(Clone)]
pub struct AdminToken {
    token: String,
    /// SHA-256 of the token: presented tokens are compared digest to digest, so the comparison
    /// takes the same time whatever the presented token's length or content.
    digest: [u8; 32],
}

impl AdminToken {
    pub fn new(token: String) -> Self {
        let digest = sha2::Sha256::digest(token.as_bytes()).into();
        Self { token, digest }
    }

    /// Constant-time comparison with an `Authorization` header value.
    pub fn authorizes(&self, header: Option<&str>) -> bool {
        // The scheme name is case-insensitive (RFC 9110 section 11.1).
        let presented = header
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim());
        let digest: [u8; 32] = sha2::Sha256::digest(presented.as_bytes()).into();
        // An empty token never matches (a configured token is at least 16 characters).
        bool::from(digest.ct_eq(&self.digest)) && !presented.is_empty()
    }

    pub fn expose(&self) -> &str {
        &self.token
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
    /// Wrong processing numbers per client (the global limit is in the store).
    pub limiter: RateLimiter,
    /// Wrong admin tokens per client.
    pub admin_limiter: RateLimiter,
    /// This process's share of the wrong-number budget replicas share through the store.
    pub global_slots: crate::ratelimit::SharedSlots,
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
    /// What `GET /metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// When this server was built (the clock's unix seconds): before any export has completed,
    /// the export's age counts from here.
    pub started_at: i64,
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
        .route("/api/v1/stats/registrations", get(stats::registrations))
        .route("/c19r/{*path}", get(c19r::serve_blob))
        .route("/report", get(report::redirect))
        .route("/report/", get(report::index))
        .route("/report/{*path}", get(report::serve_file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are read with our own limit so that the 413 answer has our JSON shape.
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // After the trace layer: a request log line would give the exact time of a survey answer.
        .route("/api/v1/event_log", event_log)
        .route("/metrics", get(metrics).fallback(method_not_allowed))
        // Last, so that it sees every route (by its template) and every answer.
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Marks an answer given because storage failed, for the metrics (`kind`: `unavailable` or
/// `internal`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StorageFailure(pub &'static str);

/// Counts every answer by route template and status class, with its latency, and storage
/// failures. Nothing about the client is recorded.
async fn track(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics.request(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(StorageFailure(kind)) = response.extensions().get::<StorageFailure>() {
        metrics.storage_error(kind);
    }
    response
}

/// `GET /metrics`: Prometheus text, for the operator (admin token: the counts are close to real
/// time, and registrations are not for everyone to watch as they happen).
async fn metrics(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    require_admin(&state, &request)?;
    let age = export_age(&state).await.map_err(ApiError::storage)?;
    state.metrics.export_age(age.map(|(age, _)| age));
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}

/// The address of the client a request came from, as the transport gives it (never logged or
/// stored: the rate limiters key it by an HMAC).
pub(crate) fn client_address(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Admits a health centre's request (`Authorization: Bearer <admin token>`), or answers 401.
/// Wrong tokens are limited per client like wrong processing numbers (429 with `Retry-After`
/// once a client has used up its failures, whatever it presents then).
pub(crate) fn require_admin(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let now = state.clock.now().timestamp();
    let client = state.admin_limiter.tag(client_address(request));
    let slot = state
        .admin_limiter
        .reserve(client, now)
        .map_err(ApiError::rate_limited)?;
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let admitted = state.admin_token.authorizes(authorization);
    state.admin_limiter.settle(slot, !admitted, now);
    if admitted {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Reads a JSON request body of at most `MAX_BODY_BYTES` ([`read_json_body`]).
pub(crate) async fn read_body(request: Request) -> Result<Bytes, ApiError> {
    read_json_body(request, MAX_BODY_BYTES, "request bodies").await
}

/// Reads a request body of at most `limit` bytes that must be JSON, in this order:
/// - a declared `Content-Length` over the limit, or more bytes arriving: 413
///   `payload_too_large` (`what` names the bodies in the message);
/// - a body that ends before its `Content-Length`, or broken chunked framing: 400
///   `malformed_body` (it was not what the client meant to send);
/// - a non-empty body not declared as `Content-Type: application/json` (any case, with
///   parameters; a `charset`, if given, must be UTF-8): 415 `unsupported_media_type`.
///
/// An empty body needs no `Content-Type`: the endpoint decides what it means.
pub(crate) async fn read_json_body(
    request: Request,
    limit: usize,
    what: &str,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!("{what} are limited to {limit} bytes"),
        )
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Frame by frame rather than `to_bytes`, whose one error type does not say whether the
    // limit was hit or the transfer broke.
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::MALFORMED_BODY,
                "the request body ended before its Content-Length, or its chunked encoding is broken",
            )
        })?;
        if data.len() + chunk.len() > limit {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
    }
    if !data.is_empty() && !declares_json(&parts.headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON, with \"Content-Type: application/json\"",
        ));
    }
    Ok(Bytes::from(data))
}

/// Whether the request has exactly one `Content-Type`, `application/json` (case-insensitive,
/// RFC 9110 section 8.3.1) with any parameters, of which a `charset` must be `utf-8` (RFC 8259
/// section 8.1: JSON between systems is UTF-8).
fn declares_json(headers: &axum::http::HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mut parts = value.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/json")
        && parts.all(|parameter| match parameter.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            Some(_) => true,
            None => parameter.trim().is_empty(),
        })
}

/// Parses a JSON document, refusing any object that names a member twice, at any depth
/// ([`UniqueMembers`]): serde_json keeps the last one silently, so `{"count":1,"count":2}`
/// would mean 2 here and 1 to another parser.
pub(crate) fn parse_json(body: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_slice::<UniqueMembers>(body).map(|v| v.0)
}

/// Parses a JSON object into `T` (no member twice, [`parse_json`]). serde would also accept a
/// JSON array for a struct (its "sequence form"); the API does not.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    let value = parse_json(body)
        .map_err(|e| ApiError::bad_request(format!("{what}: invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "{what}: expected a JSON object"
        )));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

/// A `serde_json::Value` whose deserialization fails on an object with a repeated member name.
///
/// serde_json has no such option (its maintainer declined one, serde-rs/json#762, pointing to
/// "your own Value with a Deserialize impl"), and no small, well-kept crate does only this, so
/// here is that impl: serde_json's own `Value` visitor, with the check in `visit_map`. Depth is
/// still bounded by serde_json's recursion limit (128), which applies to any visitor.
struct UniqueMembers(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueMembers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueMembersVisitor)
            .map(UniqueMembers)
    }
}

struct UniqueMembersVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueMembersVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // serde_json never produces a non-finite number; `Null` as serde_json's own visitor does.
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|v: UniqueMembers| v.0)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(UniqueMembers(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom(format_args!(
                    "the member {name:?} appears twice in one object"
                )));
            }
            let UniqueMembers(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(serde_json::Value::Object(members))
    }
}

/// 200 `{"status": "ok"}` when the database answers within `storage.health_timeout_ms`;
/// otherwise 503 with the error body of `storage_unavailable`, `"status": "degraded"` and
/// `"storage": "timeout"` (no answer in time) or `"error"` (it failed), and `Retry-After`.
/// Seconds since the last export any replica completed (or since this server started, before
/// the first), and whether that is more than two intervals; `None` when exports are not
/// scheduled.
async fn export_age(state: &AppState) -> Result<Option<(i64, bool)>, crate::store::StoreError> {
    let interval = i64::from(state.config.export.interval_minutes) * 60;
    if interval == 0 {
        return Ok(None);
    }
    let last = state
        .store
        .last_job_success(crate::export::EXPORT_JOB)
        .await?;
    let age = state.clock.now().timestamp() - last.unwrap_or(state.started_at);
    Ok(Some((age.max(0), age > 2 * interval)))
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let limit = std::time::Duration::from_millis(state.config.storage.health_timeout_ms);
    let checks = async {
        state.store.health().await?;
        export_age(&state).await
    };
    let (storage, error) = match tokio::time::timeout(limit, checks).await {
        // Serving, but not publishing to phones: an alert for the operator, not a reason for a
        // load balancer to stop sending registrations here, so still 200.
        Ok(Ok(Some((age, true)))) => {
            return Json(serde_json::json!({
                "status": "degraded",
                "storage": "ok",
                "export": "stale",
                "lastExportAgeSeconds": age,
            }))
            .into_response()
        }
        Ok(Ok(_)) => {
            return Json(serde_json::json!({"status": "ok", "storage": "ok"})).into_response()
        }
        Ok(Err(e)) => ("error", ApiError::unavailable(format!("health check: {e}"))),
        Err(_) => (
            "timeout",
            ApiError::unavailable(format!("health check: no answer within {limit:?}")),
        ),
    };
    let body = serde_json::json!({
        "error": error.code,
        "message": error.message,
        "status": "degraded",
        "storage": storage,
    });
    let mut response = (error.status, Json(body)).into_response();
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
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
        assert!(!token.authorizes(Some("Bearer secret-token-01234567890")));
        assert!(!token.authorizes(Some("Bearer ")));
        assert!(!token.authorizes(Some("Bearer")));
        assert!(!token.authorizes(Some("secret-token-0123456789")));
        assert!(!token.authorizes(None));
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
    }
}

#[cfg(test)]
mod body_tests {
    use super::{declares_json, parse_json};
    use axum::http::{header, HeaderMap, HeaderValue};

    #[test]
    fn a_member_named_twice_is_refused_at_any_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"x":{"a":1,"b":2,"a":3}}"#,
            r#"[{"ok":1},{"a":[{"a":1,"a":2}]}]"#,
        ] {
            let e = parse_json(text.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("appears twice"), "{text}: {e}");
        }
        // Everything else reads as serde_json reads it.
        for text in [
            r#"{"a":1,"A":2,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            r#"[18446744073709551615,-9223372036854775808,1.5,1.0,1e2,null,true,"\ud83d\ude00"]"#,
            r#""just a string""#,
        ] {
            let ours = parse_json(text.as_bytes()).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
            assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
        }
        // Nesting is bounded as serde_json bounds it: an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_json(deep.as_bytes()).is_err());
        assert!(parse_json(b"{\"a\":1}x").is_err());
    }

    #[test]
    fn json_is_declared_by_exactly_one_content_type() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            }
            declares_json(&headers)
        };
        for ok in [
            "application/json",
            "APPLICATION/Json",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/json ; q=1",
            " application/json ",
        ] {
            assert!(with(&[ok]), "{ok}");
        }
        for refused in [
            "",
            "text/plain",
            "application/jsonx",
            "application/problem+json",
            "application/json; charset=latin1",
            "application/json; charset",
            "application/json, text/plain",
        ] {
            assert!(!with(&[refused]), "{refused}");
        }
        assert!(!with(&[]));
        assert!(!with(&["application/json", "application/json"]));
    }
}
