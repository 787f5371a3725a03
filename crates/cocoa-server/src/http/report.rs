//! `GET /report/` and the files under it: the survey report `cocoa report` published to blob
//! storage (see [`crate::report`]). `/report` redirects to `/report/`, so that the page's
//! relative links (`tables/age.csv`) resolve under it.

use super::c19r::stored_response;
use super::{ApiError, AppState};
use crate::report::{INDEX, PREFIX};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cocoa_api::codes;
use std::sync::Arc;

/// What the report's page may load: nothing but its own inline styles (it has no scripts,
/// images, fonts or frames), so no request can leave it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /report`: 308 to `/report/`.
pub async fn redirect() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("/report/"))],
    )
        .into_response()
}

/// `GET /report/`: the report's page.
pub async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    file(&state, INDEX, &headers).await
}

/// `GET /report/{*path}`: a file of the report (`report.json`, `tables/age.csv`, ...).
pub async fn serve_file(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    match path {
        Ok(Path(path)) => file(&state, &path, &headers).await,
        Err(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PATH,
            "the path is not valid percent-encoded UTF-8",
        )
        .into_response(),
    }
}

async fn file(state: &AppState, name: &str, headers: &HeaderMap) -> Response {
    let path = format!("{PREFIX}{name}");
    if crate::blob::check_path(&path).is_err() {
        return missing();
    }
    let mut response = stored_response(state.blobs.as_ref(), &path, headers, missing).await;
    let is_page = response.status().is_success()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if is_page {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

fn missing() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        "no such file of the report (is one published? `cocoa report` makes it)",
    )
    .into_response()
}
