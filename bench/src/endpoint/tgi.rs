//! `tgi`: text-generation-inference's `POST /generate_stream` (`inputs`, `parameters` with
//! `max_new_tokens` and `details: true`). Each event carries one `token`; the last one also
//! `details.generated_tokens`; an in-band `{"error": …, "error_type": …}` is a failure. TGI has
//! no `ignore_eos`.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::backend::{Backend, PayloadOptions, PrepareError, text_prompt};
use super::stream::{ErrorField, StreamState, WireEvent};
use crate::dataset::SampleRequest;

/// The `/generate_stream` body of `request`.
pub(crate) fn payload(
    request: &SampleRequest,
    options: &PayloadOptions,
    backend: Backend,
) -> Result<Value, PrepareError> {
    let text = text_prompt(request, backend, "TGI takes text only; pick a text dataset")?;
    let mut parameters = Map::new();
    parameters.insert("max_new_tokens".into(), json!(request.expected_output_len));
    parameters.insert("details".into(), json!(true));
    parameters.insert("decoder_input_details".into(), json!(false));
    let s = &options.sampling;
    if let Some(t) = s.temperature {
        parameters.insert("temperature".into(), json!(t));
        parameters.insert("do_sample".into(), json!(t > 0.0));
    }
    for (k, v) in [
        ("top_p", s.top_p.map(Value::from)),
        ("top_k", s.top_k.map(Value::from)),
        ("repetition_penalty", s.repetition_penalty.map(Value::from)),
        ("frequency_penalty", s.frequency_penalty.map(Value::from)),
        ("top_n_tokens", options.logprobs.map(Value::from)),
    ] {
        if let Some(v) = v {
            parameters.insert(k.into(), v);
        }
    }
    let stream = options.response.is_stream();
    Ok(json!({ "inputs": text, "parameters": parameters, "stream": stream }))
}

#[derive(Deserialize)]
struct Token<'a> {
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    special: bool,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    generated_tokens: Option<u64>,
}

/// A `/generate_stream` event, or a whole `/generate` response (`generated_text` and
/// `details`, no `token`).
#[derive(Deserialize)]
pub(crate) struct Event<'a> {
    #[serde(borrow, default)]
    token: Option<Token<'a>>,
    #[serde(borrow, default, deserialize_with = "super::stream::borrowed_str")]
    generated_text: Option<Cow<'a, str>>,
    #[serde(default)]
    details: Option<Details>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
}

impl<'a> WireEvent<'a> for Event<'a> {
    fn error(&self) -> Option<String> {
        self.error.as_ref().map(ErrorField::message)
    }

    fn apply(self, at: Duration, state: &mut StreamState) {
        match (self.token, self.generated_text) {
            (Some(token), _) => {
                state.token_chunk(at, 1);
                if !token.special
                    && let Some(t) = token.text
                {
                    state.text.push_str(&t);
                }
            }
            // A whole response: one arrival with all the text.
            (None, Some(text)) => {
                state.token_chunk(at, 0);
                state.text.push_str(&text);
            }
            (None, None) => {}
        }
        if let Some(n) = self.details.and_then(|d| d.generated_tokens) {
            state.completion_tokens = Some(n);
            state.done = true;
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
    fn a_whole_generate_response_is_one_arrival() {
        let mut s = StreamState::default();
        on_event(
            br#"{"generated_text":"Hi there","details":{"finish_reason":"length","generated_tokens":3}}"#,
            Duration::from_millis(9),
            &mut s,
        );
        assert_eq!(s.chunks, vec![(Duration::from_millis(9), 0)]);
        assert_eq!(
            (s.text.as_str(), s.completion_tokens),
            ("Hi there", Some(3))
        );
    }

    #[test]
    fn tokens_details_and_errors() {
        let mut s = StreamState::default();
        let t = Duration::from_millis;
        on_event(br#"{"index":1,"token":{"id":5,"text":"Hi","logprob":-0.1,"special":false},"generated_text":null,"details":null}"#, t(1), &mut s);
        on_event(br#"{"index":2,"token":{"id":2,"text":"</s>","logprob":0.0,"special":true},"generated_text":"Hi","details":{"finish_reason":"eos_token","generated_tokens":2,"seed":null}}"#, t(2), &mut s);
        assert_eq!(
            (s.chunks.len(), s.text.as_str(), s.completion_tokens),
            (2, "Hi", Some(2))
        );
        assert!(s.done);
        on_event(br#"{"error":"Request failed during generation: Server error: CUDA OOM","error_type":"generation"}"#, t(3), &mut s);
        assert!(s.error.unwrap().contains("CUDA OOM"));
    }
}
