//! dyno-protocol: the OpenAI-compatible wire format, shared by `dyno serve` (which produces it)
//! and `dyno bench serve` (which consumes it), so the two cannot disagree. serde types only: no
//! IO, no async, no engine.
//!
//! | module | holds |
//! |---|---|
//! | [`completions`] | `POST /v1/completions`: request, response, stream chunk |
//! | [`chat`] | `POST /v1/chat/completions`: messages, request, response, stream chunk |
//! | [`common`] | what both share: [`Usage`](common::Usage), [`StreamOptions`](common::StreamOptions), stop lists, logprobs |
//! | [`error`] | OpenAI's error body `{"error": {message, type, param, code}}` |
//! | [`models`] | `GET /v1/models`, `GET /version` |
//! | [`tokenize`] | vLLM's `POST /tokenize` and `POST /detokenize` |
//! | [`sse`] | how a stream is framed: `data: <json>\n\n` events and the `[DONE]` sentinel |
//!
//! # Leniency
//!
//! Requests accept fields they do not know (clients send vendor extras such as
//! `repetition_penalty` or sglang's `ignore_eos`); a known field of the wrong type is a
//! deserialization error that the server turns into a 400 naming the field. Optional response
//! fields are skipped when absent, except `usage` in stream chunks, which is `null` until the
//! final usage chunk as OpenAI sends it.
//!
//! # Usage
//!
//! ```
//! use dyno_protocol::completions::CompletionRequest;
//! let req: CompletionRequest =
//!     serde_json::from_str(r#"{"model": "tiny", "prompt": "Hi", "max_tokens": 4}"#).unwrap();
//! assert_eq!(req.max_tokens, Some(4));
//! ```

pub mod chat;
pub mod common;
pub mod completions;
pub mod error;
pub mod models;
pub mod sse;
pub mod tokenize;
