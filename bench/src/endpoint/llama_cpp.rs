//! `llama.cpp`: llama-server's native `POST /completion` (`prompt` as text or token ids,
//! `n_predict`, `stream`). Events carry `content` and `stop`; the last (`stop: true`) carries
//! `tokens_predicted` and `tokens_evaluated`. An event with `stop: false` is a token arrival;
//! a final event that still has text is one too.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::backend::PayloadOptions;
use super::stream::{ErrorField, FirstOf, StreamState, WireEvent};
use crate::dataset::{Prompt, SampleRequest};

/// The `/completion` body of `request`.
pub(crate) fn payload(request: &SampleRequest, options: &PayloadOptions) -> Value {
    let prompt = match &request.prompt {
        Prompt::Text(t) => json!(t),
        Prompt::Tokens(ids) => json!(ids),
    };
    let mut body = Map::new();
    body.insert("prompt".into(), prompt);
    body.insert("n_predict".into(), json!(request.expected_output_len));
    body.insert("stream".into(), json!(options.response.is_stream()));
    body.insert("cache_prompt".into(), json!(true));
    if options.ignore_eos {
        body.insert("ignore_eos".into(), json!(true));
    }
    if let Some(n) = options.logprobs {
        body.insert("n_probs".into(), json!(n));
    }
    let s = &options.sampling;
    for (k, v) in [
        ("temperature", s.temperature.map(Value::from)),
        ("top_p", s.top_p.map(Value::from)),
        ("top_k", s.top_k.map(Value::from)),
        ("min_p", s.min_p.map(Value::from)),
        ("repeat_penalty", s.repetition_penalty.map(Value::from)),
        ("presence_penalty", s.presence_penalty.map(Value::from)),
        ("frequency_penalty", s.frequency_penalty.map(Value::from)),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), v);
        }
    }
    Value::Object(body)
}

/// A llama-server event (or its whole non-streamed response).
#[derive(Deserialize)]
pub(crate) struct Event<'a> {
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    content: Option<Cow<'a, str>>,
    #[serde(default)]
    stop: bool,
    /// Newer servers: the token ids of this event.
    #[serde(default)]
    tokens: FirstOf<serde::de::IgnoredAny>,
    #[serde(default)]
    tokens_predicted: Option<u64>,
    #[serde(default)]
    tokens_evaluated: Option<u64>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
}

impl<'a> WireEvent<'a> for Event<'a> {
    fn error(&self) -> Option<String> {
        self.error.as_ref().map(ErrorField::message)
    }

    fn apply(self, at: Duration, state: &mut StreamState) {
        let text = self.content.unwrap_or_default();
        if !self.stop || !text.is_empty() {
            let tokens = if self.tokens.len > 0 {
                self.tokens.len as u32
            } else {
                1
            };
            state.token_chunk(at, if self.stop { 0 } else { tokens });
            state.text.push_str(&text);
        }
        if self.stop {
            state.done = true;
            state.completion_tokens = self.tokens_predicted.or(state.completion_tokens);
            state.prompt_tokens = self.tokens_evaluated.or(state.prompt_tokens);
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
    fn content_then_stop() {
        let mut s = StreamState::default();
        let t = Duration::from_millis;
        on_event(
            br#"{"index":0,"content":"He","tokens":[12],"stop":false,"id_slot":0}"#,
            t(1),
            &mut s,
        );
        on_event(br#"{"index":0,"content":"llo","stop":false}"#, t(2), &mut s);
        on_event(br#"{"index":0,"content":"","stop":true,"tokens_predicted":2,"tokens_evaluated":5,"timings":{}}"#, t(3), &mut s);
        assert_eq!((s.chunks.len(), s.text.as_str()), (2, "Hello"));
        assert_eq!(
            (s.completion_tokens, s.prompt_tokens, s.done),
            (Some(2), Some(5), true)
        );
    }
}
