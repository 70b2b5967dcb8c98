//! [`ServerConfig`]: how the server listens and what it serves, validated by the CLI before the
//! server starts.

use std::time::Duration;

use crate::chat_template::ChatTemplate;

/// `--max-request-body-bytes` default: 32 MiB.
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: usize = 32 << 20;
/// `--drain-timeout-sec` default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's settings.
#[derive(Debug)]
pub struct ServerConfig {
    /// Interface to bind (`--host`, default 127.0.0.1).
    pub host: String,
    /// Port to bind (`--port`; 0 = any free port).
    pub port: u16,
    /// The name clients put in `model` and `GET /v1/models` lists.
    pub served_model_name: String,
    /// Where the weights came from (`root` in `/v1/models`).
    pub model_root: String,
    /// Bearer token required on `/v1/*` (`--api-key`).
    pub api_key: Option<String>,
    /// Refuse new requests with 429 while more sequences than this wait (`None` = never).
    pub max_waiting_requests: Option<usize>,
    /// Larger bodies get 413.
    pub max_request_body_bytes: usize,
    /// How long in-flight requests may run after SIGTERM before they are cut.
    pub drain_timeout: Duration,
    /// How chat messages become a prompt.
    pub chat_template: ChatTemplate,
}

impl ServerConfig {
    /// Defaults (127.0.0.1:8000, no key, no admission limit, 32 MiB bodies, 30 s drain) for a
    /// model served as `served_model_name` with `chat_template`.
    pub fn new(served_model_name: impl Into<String>, chat_template: ChatTemplate) -> Self {
        let served_model_name = served_model_name.into();
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            model_root: served_model_name.clone(),
            served_model_name,
            api_key: None,
            max_waiting_requests: None,
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            chat_template,
        }
    }
}
