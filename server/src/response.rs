//! Turning a [`Generation`] into an HTTP response, for any [`ResponseFormat`] (completions or
//! chat): a server-sent-event stream, one `data: <json>\n\n` write per engine event as soon as
//! it arrives, then (with `stream_options.include_usage`) a separate chunk with empty
//! `choices` and `usage`, then `data: [DONE]`; or, not streaming, one JSON body with `usage`.
//! An engine failure mid-stream becomes an in-band `data: {"error": …}` event before `[DONE]`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dyno_engine::{TokenEvent, Tokenizer};
use dyno_protocol::common::Usage;
use dyno_protocol::sse;

use crate::error::ApiError;
use crate::generation::{Generation, RequestInfo};
use crate::state::{AppState, Ready};
use crate::validate::{Streaming, ValidRequest};

/// Starts `request` on the engine and answers it in the format `new_format` builds from the
/// request's info, the served model's name and, when log-probabilities were asked for, the
/// tokenizer (what both generation handlers do once their request is validated).
///
/// # Errors
/// [`ApiError`] when the engine refuses the request.
pub async fn generate<F: ResponseFormat>(
    state: &Arc<AppState>,
    ready: &Ready,
    request: ValidRequest,
    id_prefix: &str,
    arrival: Instant,
    new_format: impl FnOnce(RequestInfo, String, Option<Arc<dyn Tokenizer>>) -> F,
) -> Result<Response, ApiError> {
    let stream = request.stream;
    let wants_logprobs = request.params.logprobs.is_some();
    let (generation, info) = Generation::start(state, ready, request, id_prefix, arrival)?;
    let format = new_format(
        info,
        state.config.served_model_name.clone(),
        wants_logprobs.then(|| Arc::clone(ready.engine.tokenizer())),
    );
    Ok(respond(generation, format, stream).await)
}

/// How one endpoint shapes its chunks and its full response.
pub trait ResponseFormat: Send + 'static {
    /// The SSE event (`data: <json>\n\n`) for `event` of `choice` (`usage` set with continuous
    /// usage stats).
    fn chunk(
        &mut self,
        choice: u32,
        event: &TokenEvent,
        usage: Option<Usage>,
    ) -> serde_json::Result<Vec<u8>>;

    /// The SSE event of the final usage chunk: empty `choices`, `usage` set.
    fn usage_chunk(&self, usage: Usage) -> serde_json::Result<Vec<u8>>;

    /// Adds `event` of `choice` to the full response.
    fn accumulate(&mut self, choice: u32, event: &TokenEvent);

    /// The full (non-streaming) response body.
    fn response(self, usage: Usage) -> serde_json::Result<Vec<u8>>;
}

/// The response for `generation`: streamed when `stream` is set.
pub async fn respond<F: ResponseFormat>(
    generation: Generation,
    format: F,
    stream: Option<Streaming>,
) -> Response {
    match stream {
        Some(streaming) => sse_response(generation, format, streaming),
        None => match collect(generation, format).await {
            Ok(body) => json_response(body),
            Err(e) => e.into_response(),
        },
    }
}

async fn collect<F: ResponseFormat>(
    mut generation: Generation,
    mut format: F,
) -> Result<Vec<u8>, ApiError> {
    while let Some(item) = generation.next().await {
        let (choice, event) = item.map_err(|e| {
            // The HTTP status tells the outcome counter; the generation must not count it too.
            generation.counted_by_status();
            ApiError::from_engine(&e)
        })?;
        format.accumulate(choice, &event);
    }
    format.response(generation.usage()).map_err(|e| {
        tracing::error!(error = %e, "response serialization failed");
        ApiError::Internal
    })
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

enum Phase {
    Tokens,
    Usage,
    Done,
    End,
}

struct SseState<F> {
    generation: Generation,
    format: F,
    streaming: Streaming,
    phase: Phase,
}

impl<F: ResponseFormat> SseState<F> {
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            match self.phase {
                Phase::Tokens => match self.generation.next().await {
                    Some(Ok((choice, event))) => {
                        let usage = self
                            .streaming
                            .continuous_usage
                            .then(|| self.generation.usage());
                        match self.format.chunk(choice, &event, usage) {
                            Ok(event) => return Some(Bytes::from(event)),
                            Err(e) => return Some(self.fail(&e.to_string())),
                        }
                    }
                    Some(Err(e)) => {
                        let api = ApiError::from_engine(&e);
                        return Some(self.fail_with(&api));
                    }
                    None => {
                        self.phase = if self.streaming.include_usage {
                            Phase::Usage
                        } else {
                            Phase::Done
                        };
                    }
                },
                Phase::Usage => {
                    self.phase = Phase::Done;
                    match self.format.usage_chunk(self.generation.usage()) {
                        Ok(event) => return Some(Bytes::from(event)),
                        Err(e) => return Some(self.fail(&e.to_string())),
                    }
                }
                Phase::Done => {
                    self.phase = Phase::End;
                    return Some(Bytes::from_static(sse::done()));
                }
                Phase::End => return None,
            }
        }
    }

    fn fail(&mut self, reason: &str) -> Bytes {
        tracing::error!(error = reason, "stream chunk failed");
        self.fail_with(&ApiError::Internal)
    }

    fn fail_with(&mut self, error: &ApiError) -> Bytes {
        self.phase = Phase::Done;
        sse::event(&error.body()).map_or_else(|_| Bytes::new(), Bytes::from)
    }
}

fn sse_response<F: ResponseFormat>(
    generation: Generation,
    format: F,
    streaming: Streaming,
) -> Response {
    let state = SseState {
        generation,
        format,
        streaming,
        phase: Phase::Tokens,
    };
    let body = futures::stream::unfold(state, |mut state| async move {
        let bytes = state.next_event().await?;
        Some((Ok::<_, Infallible>(bytes), state))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
