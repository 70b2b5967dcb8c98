//! OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.

use serde::{Deserialize, Serialize};

/// The `error` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// `invalid_request_error`, `not_found_error`, `authentication_error`,
    /// `rate_limit_error`, `server_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending request field, when one is to blame.
    #[serde(default)]
    pub param: Option<String>,
    /// A machine-readable code (OpenAI uses strings; vLLM sends the HTTP status).
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

/// The whole error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

impl ErrorResponse {
    /// An error body of `kind` with `message`, blaming `param` when given, with `code`.
    pub fn new(kind: &str, message: impl Into<String>, param: Option<&str>, code: u16) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.to_owned(),
                param: param.map(str::to_owned),
                code: Some(serde_json::Value::from(code)),
            },
        }
    }
}
