//! dyno-server: `dyno serve`, the OpenAI-compatible HTTP server (axum on hyper) over dyno's
//! engine. It owns the HTTP side only: the wire types are `dyno-protocol`'s, the work is the
//! engine's ([`dyno_engine::EngineHandle`]); each request is parsed once into a validated type,
//! streamed back token by token, and counted in Prometheus metrics.
//!
//! # Endpoints
//!
//! | path | what |
//! |---|---|
//! | `POST /v1/completions` | prompt (string, list, token ids, list of token-id lists) → text; SSE with `stream` |
//! | `POST /v1/chat/completions` | messages → chat template ([`chat_template`]) → assistant text; SSE with `stream` |
//! | `GET /v1/models` | the served model (`--served-model-name`) |
//! | `GET /health` | 200 once the model is loaded, 503 while loading or draining |
//! | `GET /version` | the server version |
//! | `POST /tokenize`, `POST /detokenize` | vLLM's shapes |
//! | `GET /metrics` | Prometheus text; names in [`metrics`] |
//!
//! Streams follow OpenAI's framing exactly: every event is `data: <json>\n\n`, chunks carry
//! `"usage": null` until, with `stream_options.include_usage`, a separate final chunk with empty
//! `choices` carries `usage`; then `data: [DONE]`. No comment lines, no keep-alive pings. Each
//! token is written as soon as the engine emits it. A client that disconnects drops its
//! [`Generation`](generation::Generation), which aborts the engine request and frees its KV
//! blocks. Errors are OpenAI-shaped ([`ApiError`]): 400 naming the parameter, 401 without the
//! `--api-key`, 404 for an unknown model, 413 over the body limit, 429 with `Retry-After` when
//! more than `--max-waiting-requests` sequences wait (admission control), 503 while loading.
//!
//! # Key types
//!
//! - [`ServerConfig`]: address, served name, API key, limits, drain timeout, [`ChatTemplate`].
//! - [`BoundServer`]: `bind(config)` → `local_addr()` → `serve(loader, shutdown)`; the loader
//!   builds the [`EngineCore`](dyno_engine::EngineCore) on a blocking thread while `/health`
//!   says 503.
//! - [`ApiError`]: every refusal and its HTTP mapping; [`validate::ValidRequest`]: a request the
//!   engine will run; [`metrics::Metrics`]: lock-free counters and histograms.
//!
//! # Usage
//!
//! ```no_run
//! use dyno_engine::{EngineConfig, EngineCore, LoadOptions, load_model};
//! use dyno_server::{BoundServer, ChatTemplate, ServerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ServerConfig::new("tiny", ChatTemplate::resolve(None, &[])?);
//! config.port = 0;
//! let server = BoundServer::bind(config).await?;
//! println!("dyno serve: listening on http://{}", server.local_addr()?);
//! server
//!     .serve(
//!         || {
//!             let loaded = load_model("tiny", &LoadOptions::default())?;
//!             let core = EngineCore::new(
//!                 Box::new(loaded.model),
//!                 loaded.tokenizer.into(),
//!                 &EngineConfig::default(),
//!             )?;
//!             Ok(core)
//!         },
//!         dyno_server::shutdown::signal(),
//!     )
//!     .await?;
//! # Ok(())
//! # }
//! ```

pub mod chat_template;
pub mod config;
pub mod error;
pub mod extract;
pub mod generation;
mod logprobs;
pub mod metrics;
pub mod response;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod validate;

pub use chat_template::{ChatTemplate, TemplateError};
pub use config::ServerConfig;
pub use error::ApiError;
pub use server::{BoundServer, LoadError, ServeOutcome, ServerError};
