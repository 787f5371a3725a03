//! `POST /api/v1/admin/export` (run an export now, admin token) and
//! `GET /api/v1/export-signing-keys` (the public keys, for app builders).

use super::{require_admin, ApiError, AppState};
use crate::export::ExportError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cocoa_api::{codes, SigningKeyInfo};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;

pub async fn run_export(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    require_admin(&state, &request)?;
    let mut rng = {
        let mut parent = state.rng.lock().unwrap_or_else(|e| e.into_inner());
        StdRng::from_rng(&mut *parent).expect("a seeded RNG never fails")
    };
    let report = state.exporter.run(&mut rng).await.map_err(|e| match e {
        ExportError::Signing(_) => ApiError::internal(e),
        ExportError::LeaseLost => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORAGE_UNAVAILABLE,
            "another replica took the export over; it completes the work",
        ),
        ExportError::Store(e) => ApiError::storage(e),
        other => ApiError::unavailable(other),
    })?;
    Ok(Json(report).into_response())
}

pub async fn signing_keys(State(state): State<Arc<AppState>>) -> Json<Vec<SigningKeyInfo>> {
    Json(
        state
            .exporter
            .signers
            .iter()
            .map(|s| SigningKeyInfo {
                verification_key_id: s.info().verification_key_id.clone(),
                verification_key_version: s.info().verification_key_version.clone(),
                public_key_pem: s.verifier().to_pem(),
            })
            .collect(),
    )
}
