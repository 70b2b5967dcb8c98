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

use super::backend::{Backend, PayloadOptions, PrepareError};
use super::openai_completions::{apply_usage, merge_sampling, state_tokens, stream_fields};
use super::stream::{ErrorField, FirstOf, StreamState, UsageLite};
use crate::dataset::{Prompt, SampleRequest};

/// The chat body of `request`.
pub(crate) fn payload(
    request: &SampleRequest,
    options: &PayloadOptions,
    backend: Backend,
) -> Result<Value, PrepareError> {
    let Prompt::Text(text) = &request.prompt else {
        return Err(PrepareError::UnsupportedPrompt {
            backend: backend.as_str(),
            what: "token-id prompts",
            request_id: request.request_id.clone(),
            hint: "use --backend openai (completions) for token-id datasets",
        });
    };
    let body = ChatCompletionRequest {
        model: options.model.clone(),
        messages: vec![ChatMessage::new("user", text)],
        max_tokens: None,
        max_completion_tokens: Some(request.expected_output_len as i64),
        logprobs: options.logprobs.map(|_| true),
        top_logprobs: options.logprobs,
        add_generation_prompt: None,
        chat_template_kwargs: None,
        sampling: stream_fields(options),
    };
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    merge_sampling(&mut value, options);
    Ok(value)
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
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

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default)]
    choices: FirstOf<Choice<'a>>,
    #[serde(default)]
    usage: Option<UsageLite>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
}

/// Reads one chat event.
pub(crate) fn on_event(data: &[u8], at: Duration, state: &mut StreamState) {
    let Ok(event) = serde_json::from_slice::<Event>(data) else {
        state.malformed += 1;
        return;
    };
    if let Some(e) = &event.error {
        state.error = Some(e.message());
        return;
    }
    apply_usage(state, event.usage);
    if event.choices.len > 0 {
        let tokens = state_tokens(state, event.usage);
        state.token_chunk(at, tokens);
        if let Some(choice) = event.choices.first
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
