//! `openai-chat`: `POST /v1/chat/completions`, streamed (vLLM's body: one user message,
//! `max_completion_tokens`, `stream_options.include_usage`).
//!
//! As vLLM counts it, every chunk with a non-empty `choices` is a token arrival, also the
//! role-only first chunk and reasoning deltas; `delta.content` and `delta.reasoning_content`
//! (or `reasoning`) make the generated text.

use std::borrow::Cow;
use std::time::Duration;

use dyno_protocol::chat::{ChatCompletionRequest, ChatMessage};
use serde::Deserialize;
use serde_json::Value;

use super::backend::{Backend, PayloadOptions, PrepareError, text_prompt};
use super::openai_completions::{merge_sampling, openai_chunk, stream_fields};
use super::stream::{ErrorField, FirstOf, StreamState, UsageLite, WireEvent};
use crate::dataset::SampleRequest;

/// The chat body of `request`, sent as `model`.
pub(crate) fn payload(
    request: &SampleRequest,
    options: &PayloadOptions,
    model: &str,
    backend: Backend,
) -> Result<Value, PrepareError> {
    let text = text_prompt(
        request,
        backend,
        "use --backend openai (completions) for token-id datasets",
    )?;
    let body = ChatCompletionRequest {
        model: model.to_owned(),
        messages: vec![ChatMessage::new("user", text)],
        max_tokens: None,
        max_completion_tokens: Some(request.expected_output_len as i64),
        logprobs: options.logprobs.map(|_| true),
        top_logprobs: options.logprobs,
        add_generation_prompt: None,
        chat_template_kwargs: options.chat_template_kwargs.clone(),
        sampling: stream_fields(options),
    };
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    merge_sampling(&mut value, options);
    Ok(value)
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    reasoning: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    /// A non-streamed answer (a server that ignored `stream`).
    #[serde(borrow, default)]
    message: Option<Delta<'a>>,
}

/// A chat event (or a whole non-streamed response).
#[derive(Deserialize)]
pub(crate) struct Event<'a> {
    #[serde(borrow, default)]
    choices: FirstOf<Choice<'a>>,
    #[serde(default)]
    usage: Option<UsageLite>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
}

impl<'a> WireEvent<'a> for Event<'a> {
    fn error(&self) -> Option<String> {
        self.error.as_ref().map(ErrorField::message)
    }

    fn apply(self, at: Duration, state: &mut StreamState) {
        if openai_chunk(state, self.usage, self.choices.len, at)
            && let Some(choice) = self.choices.first
            && let Some(d) = choice.delta.or(choice.message)
        {
            for part in [d.reasoning_content, d.reasoning, d.content]
                .into_iter()
                .flatten()
            {
                state.text.push_str(&part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_event(data: &[u8], at: Duration, state: &mut StreamState) {
        crate::endpoint::stream::read_event::<Event>(data, at, state);
    }

    #[test]
    fn role_chunk_counts_and_text_joins() {
        let mut s = StreamState::default();
        let t = Duration::from_millis;
        on_event(
            br#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
            t(3),
            &mut s,
        );
        on_event(
            br#"{"choices":[{"delta":{"content":"Hi \u00e9"}}]}"#,
            t(4),
            &mut s,
        );
        on_event(
            br#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
            t(5),
            &mut s,
        );
        on_event(
            br#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
            t(6),
            &mut s,
        );
        assert_eq!(s.chunks.len(), 3);
        assert_eq!(s.text, "Hi éhm");
        assert_eq!(s.completion_tokens, Some(3));
    }
}
