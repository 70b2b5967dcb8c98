//! `sglang`: sglang's native `POST /generate` (`text` or `input_ids`, `sampling_params` with
//! `max_new_tokens`, `stream`). Each event carries the **cumulative** `text` and
//! `meta_info.completion_tokens`, so a chunk's tokens are the count's increase; `[DONE]` ends.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::backend::PayloadOptions;
use super::stream::{ErrorField, StreamState, WireEvent};
use crate::dataset::{Prompt, SampleRequest};

/// The `/generate` body of `request`.
pub(crate) fn payload(request: &SampleRequest, options: &PayloadOptions) -> Value {
    let mut params = Map::new();
    params.insert("max_new_tokens".into(), json!(request.expected_output_len));
    if options.ignore_eos {
        params.insert("ignore_eos".into(), json!(true));
    }
    params.extend(options.sampling.to_map());
    let mut body = Map::new();
    match &request.prompt {
        Prompt::Text(t) => body.insert("text".into(), json!(t)),
        Prompt::Tokens(ids) => body.insert("input_ids".into(), json!(ids)),
    };
    body.insert("sampling_params".into(), Value::Object(params));
    body.insert("stream".into(), json!(options.response.is_stream()));
    if options.logprobs.is_some() {
        body.insert("return_logprob".into(), json!(true));
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct MetaInfo {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// An sglang event (or its whole non-streamed response).
#[derive(Deserialize)]
pub(crate) struct Event<'a> {
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    meta_info: Option<MetaInfo>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
}

impl<'a> WireEvent<'a> for Event<'a> {
    fn error(&self) -> Option<String> {
        self.error.as_ref().map(ErrorField::message)
    }

    fn apply(self, at: Duration, state: &mut StreamState) {
        let count = self.meta_info.as_ref().and_then(|m| m.completion_tokens);
        if let Some(m) = &self.meta_info {
            state.prompt_tokens = m.prompt_tokens.or(state.prompt_tokens);
            state.completion_tokens = count.or(state.completion_tokens);
        }
        let text = self.text.unwrap_or_default();
        let new_text = text.get(state.last_text_len..).unwrap_or("");
        let tokens = state.cumulative(count);
        if tokens > 0 || !new_text.is_empty() || count.is_none() {
            state.token_chunk(at, tokens);
            state.text.push_str(new_text);
            state.last_text_len = text.len();
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
    fn cumulative_text_and_counts() {
        let mut s = StreamState::default();
        let t = Duration::from_millis;
        on_event(
            br#"{"text":"He","meta_info":{"prompt_tokens":4,"completion_tokens":1}}"#,
            t(1),
            &mut s,
        );
        on_event(
            br#"{"text":"Hello w","meta_info":{"prompt_tokens":4,"completion_tokens":3}}"#,
            t(2),
            &mut s,
        );
        assert_eq!(s.text, "Hello w");
        assert_eq!(s.chunks, vec![(t(1), 1), (t(2), 2)]);
        assert_eq!((s.prompt_tokens, s.completion_tokens), (Some(4), Some(3)));
    }
}
