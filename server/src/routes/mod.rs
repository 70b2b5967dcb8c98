//! The router: which path goes to which handler, and the layers around them — the body limit
//! (413), the bearer-token check on `/v1/*` (401, when `--api-key` is set, as vLLM) and the
//! outcome counter of the generation endpoints. Unknown paths get an OpenAI-shaped 404.

mod chat;
mod completions;
mod info;
mod tokenize;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

pub use chat::ChatFormat;
pub use completions::CompletionFormat;

use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::metrics::Outcome;
use crate::state::AppState;

/// The server's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_body_bytes;
    let generation = Router::new()
        .route("/v1/completions", post(completions::completions))
        .route("/v1/chat/completions", post(chat::chat_completions))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            count_refusals,
        ));
    let v1 =
        generation
            .route("/v1/models", get(info::models))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&state),
                require_api_key,
            ));
    Router::new()
        .merge(v1)
        .route("/health", get(info::health))
        .route("/version", get(info::version))
        .route("/metrics", get(info::metrics))
        .route("/tokenize", post(tokenize::tokenize))
        .route("/detokenize", post(tokenize::detokenize))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(BodyLimit(limit)))
        .with_state(state)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

/// 401 unless the request carries `Authorization: Bearer <--api-key>`.
async fn require_api_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &state.config.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.map(str::trim) != Some(key.as_str()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// Counts refused generation requests by outcome (answered ones are counted when their
/// generation ends, see [`crate::generation`]).
async fn count_refusals(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_success() {
        state.metrics.outcome(match status {
            StatusCode::TOO_MANY_REQUESTS => Outcome::Rejected,
            StatusCode::SERVICE_UNAVAILABLE => Outcome::Unavailable,
            s if s.is_client_error() => Outcome::Invalid,
            _ => Outcome::Error,
        });
    }
    response
}
