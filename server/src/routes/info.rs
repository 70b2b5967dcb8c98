//! The small endpoints: `GET /health` (200 once the model is loaded, 503 while it loads or the
//! server drains), `GET /version`, `GET /v1/models`, `GET /metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dyno_protocol::models::{ModelCard, ModelList, VersionResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /health`: empty 200 when ready (as vLLM), an error body with 503 otherwise.
pub async fn health(State(state): State<Arc<AppState>>) -> Result<StatusCode, ApiError> {
    state.ready().map(|_| StatusCode::OK)
}

/// `GET /version`.
pub async fn version() -> Json<VersionResponse> {
    Json(VersionResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// `GET /v1/models`: the one served model.
pub async fn models(State(state): State<Arc<AppState>>) -> Result<Json<ModelList>, ApiError> {
    let ready = state.ready()?;
    Ok(Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: state.config.served_model_name.clone(),
            object: "model".into(),
            created: ready.created,
            owned_by: "dyno".into(),
            root: Some(state.config.model_root.clone()),
            max_model_len: Some(ready.engine.max_model_len() as u64),
        }],
    }))
}

/// `GET /metrics`: Prometheus text (see [`crate::metrics`]); served while loading too.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.engine().map(|e| e.stats());
    let mut response = state.metrics.render(stats.as_ref()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
