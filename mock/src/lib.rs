//! dyno-mock: a ground-truth OpenAI-compatible server for checking benchmark clients.
//!
//! It streams tokens on an exact, known schedule, so whatever a client measures can be compared
//! with what really happened: for a request received (headers and body read) at `t0`, token
//! chunk `i` is written at `t0 + ttft + i · itl` (absolute deadlines, so lateness never
//! accumulates), the last one with `finish_reason: "length"`, then (when the request sets
//! `stream_options.include_usage`) a separate usage chunk with empty `choices`, then
//! `data: [DONE]`. A non-streaming answer is written at the last chunk's deadline. The server
//! records how late each write actually was (`GET /mock/stats`), so a benchmark can tell server
//! lateness from client error.
//!
//! Light enough not to be the bottleneck at 1000 concurrent streams: every event of a request is
//! prepared before its stream starts (one buffer, one [`bytes::Bytes`] slice per event), the
//! stream only waits and hands hyper one frame per event; HTTP/1.1 keep-alive, `TCP_NODELAY`.
//! Deadlines are waited for by a pacing thread with nanosecond timeouts ([`TimerKind::Precise`])
//! or by tokio's 1 ms timer wheel ([`TimerKind::Tokio`]).
//!
//! # Key types
//! - [`MockConfig`]: timing (`ttft`, `itl`, `output_len`, `tokens_per_chunk`, `jitter`) and the
//!   quirks real servers have ([`UsageMode`], `sse_comments`, `done`, [`Fault`]).
//! - [`MockServer`]: `bind` → `local_addr` / `stats` / `shutdown_handle` → `serve`, or `spawn`
//!   → [`RunningMock`].
//! - [`StatsSnapshot`]: lateness of first chunks and of later chunks (count, late, mean, p99,
//!   max).
//!
//! # Endpoints
//! `POST /v1/completions`, `POST /v1/chat/completions` (first chunk carries `delta.role`),
//! `GET /v1/models`, `GET /health`, `GET /version`, `POST /tokenize`, `POST /detokenize` (a
//! word tokenizer, see [`tokenizer`]), `GET /mock/stats`, `POST /mock/stats/reset`. A request's
//! `max_tokens` (`max_completion_tokens` for chat) lowers the output length, never raises it;
//! below 1 it is a 400. One choice per request, whatever `n` says.
//!
//! # Usage
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use dyno_mock::{MockConfig, MockServer};
//!
//! let config = MockConfig { ttft: Duration::from_millis(5), ..MockConfig::new() }.loopback_any_port();
//! let running = MockServer::bind(config).await.unwrap().spawn();
//! assert_ne!(running.addr().port(), 0);
//! let stats = running.stop().await;
//! assert_eq!(stats.requests, 0);
//! # });
//! ```

mod body;
mod config;
mod error;
mod pacer;
mod routes;
pub mod schedule;
mod server;
mod stats;
pub mod tokenizer;

pub use config::{Fault, MockConfig, TimerKind, UsageMode};
pub use error::MockError;
pub use server::{MockServer, RunningMock, ShutdownHandle, termination_signal};
pub use stats::{LATE_THRESHOLD, Lateness, LatenessSummary, ServerStats, StatsSnapshot};
