//! `GET /c19r/{*path}` (and HEAD): the published files (export zips, `list.json`, `index.txt`)
//! served from the blob store, with ETags, conditional requests and cache headers.
//!
//! Wiring (in the router): `.route("/c19r/{*path}", get(c19r::serve_blob))`; axum answers HEAD
//! through the GET handler without the body.

use super::{ApiError, AppState};
use crate::blob::{self, BlobError, BlobStore};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cocoa_api::codes;
use std::sync::Arc;

/// The route's handler: the file at `path` in the state's blob store.
pub async fn serve_blob(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    wildcard_response(state.blobs.as_ref(), path, &headers).await
}

/// The answer for the route's wildcard as axum extracted it: a path that does not decode
/// (percent-encoding of bytes that are not UTF-8, such as `/c19r/%FF`) is 400 `invalid_path` in
/// the API's JSON shape, not axum's plain-text rejection.
async fn wildcard_response(
    blobs: &dyn BlobStore,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
) -> Response {
    match path {
        Ok(Path(path)) => blob_response(blobs, &path, headers).await,
        Err(rejection) => {
            tracing::debug!(%rejection, "undecodable download path");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_PATH,
                "the path is not valid percent-encoded UTF-8",
            )
            .into_response()
        }
    }
}

/// The answer for `GET /c19r/{path}`: `path` is what follows `/c19r/` in the URL (the route's
/// wildcard, e.g. `440/list.json`), and the file is the blob `c19r/{path}` (e.g.
/// `c19r/440/list.json`), where publication writes it.
///
/// A missing file and a path no file can have are both 404 `not_found`; a storage failure is
/// 503 `storage_unavailable`.
pub async fn blob_response(blobs: &dyn BlobStore, path: &str, headers: &HeaderMap) -> Response {
    match store_path(path) {
        Some(path) => stored_response(blobs, &path, headers, not_found).await,
        None => not_found(),
    }
}

/// The answer for the blob at `path` (a store path, checked again by the store): the file with
/// its ETag, `Content-Type` and `Cache-Control`, 304 for a matching `If-None-Match`, `missing()`
/// when there is no such file, 503 `storage_unavailable` when storage fails.
pub(crate) async fn stored_response(
    blobs: &dyn BlobStore,
    path: &str,
    headers: &HeaderMap,
    missing: fn() -> Response,
) -> Response {
    match blobs.get(path).await {
        Ok(Some(found)) => {
            let etag = HeaderValue::from_str(&found.etag).ok();
            let cache = HeaderValue::from_static(blob::cache_control(path));
            if let Some(etag) = &etag {
                if none_match(headers, &found.etag) {
                    return (
                        StatusCode::NOT_MODIFIED,
                        [(header::ETAG, etag.clone()), (header::CACHE_CONTROL, cache)],
                    )
                        .into_response();
                }
            }
            let mut response = (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(blob::content_type(path)),
                    ),
                    (header::CACHE_CONTROL, cache),
                ],
                found.data,
            )
                .into_response();
            if let Some(etag) = etag {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
        }
        Ok(None) | Err(BlobError::InvalidPath(_)) => missing(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}

/// The blob path for the route's wildcard: the store keeps files under `c19r/`, as phones
/// download them. `None` for a path that no file can have (the store checks it again).
fn store_path(wildcard: &str) -> Option<String> {
    let path = format!("c19r/{wildcard}");
    blob::check_path(&path).ok().map(|()| path)
}

/// Whether `If-None-Match` names `etag` (or is `*`): weak comparison, as RFC 9110 section
/// 13.1.2 requires for this header.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such file").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use bytes::Bytes;
    use tower::ServiceExt;

    /// A store whose storage is down.
    #[derive(Debug)]
    struct Down;

    #[async_trait::async_trait]
    impl BlobStore for Down {
        async fn put(&self, _: &str, _: Bytes) -> Result<(), BlobError> {
            Err(BlobError::Unavailable("down".into()))
        }
        async fn get(&self, _: &str) -> Result<Option<blob::Blob>, BlobError> {
            Err(BlobError::Unavailable("down".into()))
        }
        async fn delete(&self, _: &str) -> Result<(), BlobError> {
            Err(BlobError::Unavailable("down".into()))
        }
        async fn list(&self, _: &str) -> Result<Vec<String>, BlobError> {
            Err(BlobError::Unavailable("down".into()))
        }
        fn describe(&self) -> String {
            "down".into()
        }
    }

    async fn published() -> Arc<dyn BlobStore> {
        let blobs = blob::in_memory();
        for (path, data) in [
            ("c19r/440/list.json", "[]"),
            ("c19r/440/1.zip", "PK zip"),
            ("c19r/440/index.txt", "c19r/440/1.zip\n"),
            ("c19r/440/other.bin", "bin"),
            ("elsewhere/secret.txt", "not under c19r"),
        ] {
            blobs
                .put(path, Bytes::from_static(data.as_bytes()))
                .await
                .unwrap();
        }
        blobs
    }

    /// The route as the lead wires it, over a given store.
    fn router(blobs: Arc<dyn BlobStore>) -> Router {
        Router::new().route(
            "/c19r/{*path}",
            get(
                move |path: Result<Path<String>, PathRejection>, headers: HeaderMap| async move {
                    wildcard_response(blobs.as_ref(), path, &headers).await
                },
            ),
        )
    }

    async fn call(
        blobs: &Arc<dyn BlobStore>,
        method: &str,
        uri: &str,
        if_none_match: Option<&str>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let response = router(blobs.clone())
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, body)
    }

    fn text(headers: &HeaderMap, name: header::HeaderName) -> &str {
        headers.get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn files_come_with_type_etag_and_caching() {
        let blobs = published().await;
        for (uri, body, kind, cache) in [
            (
                "/c19r/440/list.json",
                "[]",
                "application/json",
                "public, max-age=60",
            ),
            (
                "/c19r/440/1.zip",
                "PK zip",
                "application/zip",
                "public, max-age=86400, immutable",
            ),
            (
                "/c19r/440/index.txt",
                "c19r/440/1.zip\n",
                "text/plain; charset=utf-8",
                "public, max-age=60",
            ),
            (
                "/c19r/440/other.bin",
                "bin",
                "application/octet-stream",
                "public, max-age=60",
            ),
        ] {
            let (status, headers, got) = call(&blobs, "GET", uri, None).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(got, body, "{uri}");
            assert_eq!(text(&headers, header::CONTENT_TYPE), kind, "{uri}");
            assert_eq!(text(&headers, header::CACHE_CONTROL), cache, "{uri}");
            assert_eq!(
                text(&headers, header::ETAG),
                blob::etag(body.as_bytes()),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn head_has_the_headers_and_no_body() {
        let blobs = published().await;
        let (status, headers, body) = call(&blobs, "HEAD", "/c19r/440/list.json", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty());
        assert_eq!(text(&headers, header::ETAG), blob::etag(b"[]"));
        assert_eq!(text(&headers, header::CONTENT_TYPE), "application/json");
    }

    #[tokio::test]
    async fn if_none_match_gives_304() {
        let blobs = published().await;
        let etag = blob::etag(b"[]");
        let weak = format!("W/{etag}");
        let listed = format!("\"0123\", {etag}");
        for tag in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
            let (status, headers, body) =
                call(&blobs, "GET", "/c19r/440/list.json", Some(tag)).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{tag}");
            assert!(body.is_empty(), "{tag}");
            assert_eq!(text(&headers, header::ETAG), etag, "{tag}");
            assert_eq!(
                text(&headers, header::CACHE_CONTROL),
                "public, max-age=60",
                "{tag}"
            );
        }
        for tag in ["\"0123\"", "\"\"", "garbage"] {
            let (status, _, body) = call(&blobs, "GET", "/c19r/440/list.json", Some(tag)).await;
            assert_eq!(status, StatusCode::OK, "{tag}");
            assert_eq!(body, "[]", "{tag}");
        }
    }

    #[tokio::test]
    async fn missing_and_impossible_paths_are_404_in_the_api_shape() {
        let blobs = published().await;
        for uri in [
            "/c19r/440/none.zip",
            "/c19r/440",
            "/c19r/../elsewhere/secret.txt",
            "/c19r/%2E%2E/elsewhere/secret.txt",
            "/c19r/..%2Felsewhere%2Fsecret.txt",
            "/c19r/440//list.json",
            "/c19r/440/list.json/",
            "/c19r/440%5Clist.json",
            "/c19r/a%20b",
        ] {
            let (status, headers, body) = call(&blobs, "GET", uri, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(
                text(&headers, header::CONTENT_TYPE),
                "application/json",
                "{uri}"
            );
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"], codes::NOT_FOUND, "{uri}");
        }
        // Directly, as the route calls it.
        for path in ["../elsewhere/secret.txt", "", "/etc/passwd", "a\\b"] {
            let response = blob_response(blobs.as_ref(), path, &HeaderMap::new()).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path:?}");
        }
    }

    #[tokio::test]
    async fn undecodable_paths_are_400_in_the_api_shape() {
        let blobs = published().await;
        for uri in ["/c19r/%FF", "/c19r/440/%C3%28.zip", "/c19r/%E3%81"] {
            let (status, headers, body) = call(&blobs, "GET", uri, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(
                text(&headers, header::CONTENT_TYPE),
                "application/json",
                "{uri}"
            );
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"], codes::INVALID_PATH, "{uri}");
        }
        // Percent-encoded UTF-8 decodes, and names no file.
        let (status, _, _) = call(&blobs, "GET", "/c19r/%E3%81%82", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn storage_failure_is_503() {
        let blobs: Arc<dyn BlobStore> = Arc::new(Down);
        let (status, _, body) = call(&blobs, "GET", "/c19r/440/list.json", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], codes::STORAGE_UNAVAILABLE);
        assert!(!json["message"].as_str().unwrap().contains("down"));
    }
}
