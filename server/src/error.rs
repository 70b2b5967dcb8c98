//! [`ApiError`]: every way a request can fail, and the one mapping from it to an HTTP status and
//! OpenAI's error body `{"error": {"message", "type", "param", "code"}}` (`code` is the HTTP
//! status, as vLLM sends it). Internal details (engine failures) are logged, not returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dyno_engine::EngineError;
use dyno_protocol::error::ErrorResponse;

/// Seconds a client told to back off (429) should wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// A failed request. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A parameter out of range or of the wrong type (400); `param` names it.
    #[error("{message}")]
    InvalidRequest {
        /// What was wrong and what to do.
        message: String,
        /// The offending request field.
        param: Option<String>,
    },
    /// The body is not JSON (400).
    #[error("the request body is not valid JSON ({0}); send a JSON object")]
    MalformedJson(String),
    /// `model` names no served model (404).
    #[error("The model `{0}` does not exist.")]
    ModelNotFound(String),
    /// No such route (404).
    #[error("no route for {0}; see GET /v1/models and the OpenAI API paths")]
    NoRoute(String),
    /// The body is over `--max-request-body-bytes` (413).
    #[error(
        "the request body is over the {limit}-byte limit; send less, or raise --max-request-body-bytes"
    )]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Missing or wrong bearer token (401).
    #[error(
        "missing or invalid api key; send `Authorization: Bearer <key>` with the server's --api-key"
    )]
    Unauthorized,
    /// The waiting queue is full (429, with `Retry-After`).
    #[error(
        "the server is overloaded: {waiting} requests are waiting, over --max-waiting-requests {limit}; retry after {RETRY_AFTER_SECS} s"
    )]
    Overloaded {
        /// Sequences waiting when the request came.
        waiting: usize,
        /// `--max-waiting-requests`.
        limit: usize,
    },
    /// The model is still loading (503).
    #[error("the model is still loading; retry when GET /health returns 200")]
    Loading,
    /// The server is shutting down (503).
    #[error("the server is shutting down; send the request to another instance")]
    Draining,
    /// Something broke inside the server (500); the details are in the server log.
    #[error("internal server error; the server log has the details")]
    Internal,
}

impl ApiError {
    /// A 400 for `param` with `message`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::ModelNotFound(_) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Loading | Self::Draining => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type` for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } | Self::MalformedJson(_) | Self::PayloadTooLarge { .. } => {
                "invalid_request_error"
            }
            Self::ModelNotFound(_) | Self::NoRoute(_) => "not_found_error",
            Self::Unauthorized => "authentication_error",
            Self::Overloaded { .. } => "rate_limit_error",
            Self::Loading | Self::Draining => "service_unavailable_error",
            Self::Internal => "server_error",
        }
    }

    /// The field to blame, if any.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. } => param.as_deref(),
            Self::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// OpenAI's error body for this error.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse::new(
            self.kind(),
            self.to_string(),
            self.param(),
            self.status().as_u16(),
        )
    }

    /// The error for an engine refusal: the engine's own parameter checks become a 400 naming
    /// the parameter; anything else is logged and becomes a 500 (or 503 when the engine is gone).
    pub fn from_engine(e: &EngineError) -> Self {
        match e {
            EngineError::InvalidParam {
                param, value, fix, ..
            } => Self::invalid(*param, format!("{param} = {value} is invalid; {fix}")),
            EngineError::InvalidSamplingParam {
                param, value, fix, ..
            } => Self::invalid(*param, format!("{param} = {value} is invalid; {fix}")),
            EngineError::EmptyPrompt(_) => Self::invalid(
                "prompt",
                "the prompt is empty after tokenization; send at least one token",
            ),
            EngineError::PromptTooLong {
                prompt_len,
                max_model_len,
                ..
            } => Self::invalid(
                "prompt",
                format!(
                    "the prompt has {prompt_len} tokens but this model's maximum context length is {max_model_len} tokens; shorten the prompt"
                ),
            ),
            EngineError::EngineStopped { .. } => {
                tracing::error!(error = %e, "engine stopped");
                Self::Draining
            }
            other => {
                tracing::error!(error = %other, "engine failure");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyno_engine::RequestId;

    #[test]
    fn statuses_and_bodies() {
        let e = ApiError::ModelNotFound("gpt-9".into());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let body = e.body();
        assert_eq!(body.error.message, "The model `gpt-9` does not exist.");
        assert_eq!(body.error.param.as_deref(), Some("model"));
        assert_eq!(body.error.code, Some(serde_json::Value::from(404)));

        let r = ApiError::Overloaded {
            waiting: 9,
            limit: 4,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn engine_refusals_name_the_parameter() {
        let e = ApiError::from_engine(&EngineError::InvalidParam {
            request: RequestId(1),
            param: "top_p",
            value: "1.5".into(),
            fix: "use a value in (0, 1]",
        });
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.param(), Some("top_p"));
        assert!(e.to_string().contains("1.5"), "{e}");
        let internal = ApiError::from_engine(&EngineError::Forward("nan in layer 3".into()));
        assert_eq!(internal, ApiError::Internal);
        assert!(!internal.to_string().contains("layer 3"));
    }
}
