//! `openai` / `vllm`: `POST /v1/completions`, streamed (vLLM's `async_request_openai_completions`
//! body: `max_tokens`, `repetition_penalty: 1.0`, `stream_options.include_usage`).
//!
//! A chunk whose `choices` is non-empty is a token arrival, even when its text is empty;
//! `usage` is read wherever it comes (the separate final chunk OpenAI sends, or the last choice
//! chunk as llama-server sends it); `{"error": …}` is an in-band failure.

use std::borrow::Cow;
use std::time::Duration;

use dyno_protocol::common::{SamplingFields, StreamOptions};
use dyno_protocol::completions::{CompletionRequest, PromptInput};
use serde::Deserialize;
use serde_json::Value;

use super::backend::PayloadOptions;
use super::stream::{ErrorField, FirstOf, StreamState, UsageLite, WireEvent};
use crate::dataset::{Prompt, SampleRequest};

/// The completions body of `request`, sent as `model`.
pub(crate) fn payload(request: &SampleRequest, options: &PayloadOptions, model: &str) -> Value {
    let body = CompletionRequest {
        model: model.to_owned(),
        prompt: match &request.prompt {
            Prompt::Text(t) => PromptInput::Text(t.clone()),
            Prompt::Tokens(ids) => PromptInput::Tokens(ids.clone()),
        },
        max_tokens: Some(request.expected_output_len as i64),
        logprobs: options.logprobs,
        echo: None,
        sampling: stream_fields(options),
    };
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    merge_sampling(&mut value, options);
    value
}

/// The streaming fields both OpenAI bodies carry (`stream_options` only on a streamed request:
/// OpenAI's API refuses it otherwise).
pub(crate) fn stream_fields(options: &PayloadOptions) -> SamplingFields {
    let stream = options.response.is_stream();
    SamplingFields {
        stream: Some(stream),
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
            continuous_usage_stats: false,
        }),
        ignore_eos: options.ignore_eos.then_some(true),
        repetition_penalty: Some(1.0),
        ..SamplingFields::default()
    }
}

/// Puts the sampling flags that are set into `body` (over its defaults).
pub(crate) fn merge_sampling(body: &mut Value, options: &PayloadOptions) {
    if let Value::Object(map) = body {
        map.extend(options.sampling.to_map());
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    text: Option<Cow<'a, str>>,
}

/// A completions event (or a whole non-streamed response).
#[derive(Deserialize)]
pub(crate) struct Event<'a> {
    #[serde(borrow, default)]
    choices: FirstOf<Choice<'a>>,
    #[serde(default)]
    usage: Option<UsageLite>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    object: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    message: Option<Cow<'a, str>>,
}

impl<'a> WireEvent<'a> for Event<'a> {
    fn error(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.message());
        }
        (self.object.as_deref() == Some("error"))
            .then(|| self.message.as_deref().unwrap_or("error").to_owned())
    }

    fn apply(self, at: Duration, state: &mut StreamState) {
        if openai_chunk(state, self.usage, self.choices.len, at)
            && let Some(text) = self.choices.first.and_then(|c| c.text)
        {
            state.text.push_str(&text);
        }
    }
}

/// What both OpenAI shapes share: records the event's `usage` and, when its `choices` is
/// non-empty, a token arrival at `at` (vLLM counts every such chunk, with or without text; the
/// separate usage chunk is none). Returns whether it was one.
pub(crate) fn openai_chunk(
    state: &mut StreamState,
    usage: Option<UsageLite>,
    choices: usize,
    at: Duration,
) -> bool {
    if let Some(u) = usage {
        if u.completion_tokens.is_some() {
            state.completion_tokens = u.completion_tokens;
        }
        if u.prompt_tokens.is_some() {
            state.prompt_tokens = u.prompt_tokens;
        }
    }
    if choices == 0 {
        return false;
    }
    // Tokens this chunk carried, when it came with a cumulative `usage` (vLLM's
    // `continuous_usage_stats`). Only a count that came from the first chunk on is cumulative;
    // one that first appears on the last chunk is the total, not this chunk's share.
    let tokens = if state.chunks.is_empty() || state.last_count > 0 {
        state.cumulative(usage.and_then(|u| u.completion_tokens))
    } else {
        0
    };
    state.token_chunk(at, tokens);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn on_event(data: &[u8], at: Duration, state: &mut StreamState) {
        crate::endpoint::stream::read_event::<Event>(data, at, state);
    }

    #[test]
    fn chunks_usage_and_errors() {
        let mut s = StreamState::default();
        on_event(
            br#"{"choices":[{"index":0,"text":"He","finish_reason":null}],"usage":null}"#,
            ms(5),
            &mut s,
        );
        on_event(br#"{"choices":[{"text":""}]}"#, ms(7), &mut s);
        on_event(
            br#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}"#,
            ms(8),
            &mut s,
        );
        assert_eq!(s.chunks.len(), 2, "the usage chunk is no token arrival");
        assert_eq!(s.text, "He");
        assert_eq!((s.prompt_tokens, s.completion_tokens), (Some(4), Some(2)));
        on_event(
            br#"{"error":{"message":"engine died","type":"server_error","code":500}}"#,
            ms(9),
            &mut s,
        );
        assert_eq!(s.error.as_deref(), Some("server_error: engine died"));
        on_event(b"not json", ms(9), &mut s);
        assert_eq!(s.malformed, 1);
    }

    #[test]
    fn usage_in_the_last_choice_chunk() {
        let mut s = StreamState::default();
        on_event(br#"{"choices":[{"text":"a"}]}"#, ms(1), &mut s);
        on_event(br#"{"choices":[{"text":"b","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#, ms(2), &mut s);
        assert_eq!(s.completion_tokens, Some(2));
        assert_eq!(s.chunks.len(), 2);
    }
}
