//! [`StreamState`]: what one streamed response has told so far, updated event by event by the
//! backend modules, plus what they share: the [`WireEvent`] trait with its one reading path
//! ([`read_event`]: parse, count a malformed event, stop at an in-band error, else apply) and
//! the small borrowed JSON shapes (`usage`, `error`, the first element of `choices`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

/// The observations of one streamed response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamState {
    /// Token-bearing chunks: arrival after the send, and tokens carried (0 = not said).
    pub chunks: Vec<(Duration, u32)>,
    /// Generated text of choice 0.
    pub text: String,
    /// Output tokens as the server counted them.
    pub completion_tokens: Option<u64>,
    /// Prompt tokens as the server counted them.
    pub prompt_tokens: Option<u64>,
    /// An in-band error event's message.
    pub error: Option<String>,
    /// `[DONE]` (or the backend's last event) was seen.
    pub done: bool,
    /// Events that were not valid JSON for the backend.
    pub malformed: usize,
    /// Cumulative-count backends (sglang): the count at the last chunk.
    pub(crate) last_count: u64,
    /// Cumulative-text backends (sglang): bytes of text seen.
    pub(crate) last_text_len: usize,
}

impl StreamState {
    /// Records a token-bearing chunk at `at` carrying `tokens` tokens (0 = unknown).
    pub fn token_chunk(&mut self, at: Duration, tokens: u32) {
        self.chunks.push((at, tokens));
    }

    /// Records a cumulative completion-token count sent with a chunk; returns the tokens this
    /// chunk added (0 when unknown or not increasing).
    pub(crate) fn cumulative(&mut self, count: Option<u64>) -> u32 {
        let Some(count) = count else { return 0 };
        let added = count.saturating_sub(self.last_count);
        self.last_count = count.max(self.last_count);
        u32::try_from(added).unwrap_or(u32::MAX)
    }
}

/// One backend's event, borrowed from the bytes it was parsed from. A backend only says where
/// its in-band error is and what a normal event means; [`read_event`] does the rest, the same for
/// every backend.
pub(crate) trait WireEvent<'de>: Deserialize<'de> {
    /// The message when this event is an in-band error (`{"error": …}` and the like).
    fn error(&self) -> Option<String>;

    /// Records a normal (non-error) event that arrived `at` after the send.
    fn apply(self, at: Duration, state: &mut StreamState);
}

/// Reads one event's payload as `E`: an event that is not `E`'s JSON counts as malformed, an
/// error event ends the stream's success, any other is applied.
pub(crate) fn read_event<'de, E: WireEvent<'de>>(
    data: &'de [u8],
    at: Duration,
    state: &mut StreamState,
) {
    match serde_json::from_slice::<E>(data) {
        Err(_) => state.malformed += 1,
        Ok(event) => match event.error() {
            Some(message) => state.error = Some(message),
            None => event.apply(at, state),
        },
    }
}

/// OpenAI `usage` (only the counts a client needs).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct UsageLite {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

/// Deserializes an `Option<Cow<str>>` field borrowing from the event's bytes when the string has
/// no escapes. serde's derive never borrows through an `Option<Cow<str>>` on its own
/// (serde#2016), which costs an allocation per text field per event.
pub(crate) fn borrowed_str<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

/// An `error` field: a string, or an object with a `message`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorField<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Object {
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
        #[serde(borrow, default, rename = "type")]
        kind: Option<Cow<'a, str>>,
    },
    Other(IgnoredAny),
}

impl ErrorField<'_> {
    /// A one-line message.
    pub fn message(&self) -> String {
        match self {
            Self::Text(s) => s.to_string(),
            Self::Object { message, kind } => match (message, kind) {
                (Some(m), Some(k)) => format!("{k}: {m}"),
                (Some(m), None) => m.to_string(),
                (None, Some(k)) => k.to_string(),
                (None, None) => "an error event without a message".to_owned(),
            },
            Self::Other(_) => "an error event".to_owned(),
        }
    }
}

/// A JSON array read as its length and its first element; the other elements are skipped
/// without being built. `null` reads as empty.
#[derive(Debug)]
pub(crate) struct FirstOf<T> {
    pub len: usize,
    pub first: Option<T>,
}

impl<T> Default for FirstOf<T> {
    fn default() -> Self {
        Self {
            len: 0,
            first: None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FirstOf<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = FirstOf<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array or null")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(FirstOf::default())
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(FirstOf::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_seq(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first: Option<T> = seq.next_element()?;
                let mut len = usize::from(first.is_some());
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    len += 1;
                }
                Ok(FirstOf { len, first })
            }
        }
        deserializer.deserialize_option(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_borrow_unless_escaped() {
        #[derive(Deserialize)]
        struct Text<'a> {
            #[serde(borrow, default, deserialize_with = "borrowed_str")]
            text: Option<Cow<'a, str>>,
        }
        let plain: Text = serde_json::from_slice(br#"{"text": "abc"}"#).unwrap();
        assert!(matches!(plain.text, Some(Cow::Borrowed("abc"))));
        let escaped: Text = serde_json::from_slice(br#"{"text": "a\nb"}"#).unwrap();
        assert!(matches!(escaped.text.as_deref(), Some("a\nb")));
        let absent: Text = serde_json::from_slice(b"{}").unwrap();
        assert!(absent.text.is_none());
        let null: Text = serde_json::from_slice(br#"{"text": null}"#).unwrap();
        assert!(null.text.is_none());
    }

    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(default)]
        choices: FirstOf<Cow<'a, str>>,
        #[serde(borrow, default)]
        error: Option<ErrorField<'a>>,
    }

    #[test]
    fn first_of_reads_len_and_first() {
        let p: Probe = serde_json::from_slice(br#"{"choices":["a",{"x":1},3]}"#).unwrap();
        assert_eq!((p.choices.len, p.choices.first.as_deref()), (3, Some("a")));
        let p: Probe = serde_json::from_slice(br#"{"choices":null}"#).unwrap();
        assert_eq!(p.choices.len, 0);
        let p: Probe = serde_json::from_slice(br#"{}"#).unwrap();
        assert!(p.choices.first.is_none() && p.error.is_none());
    }

    #[test]
    fn error_shapes() {
        let p: Probe =
            serde_json::from_slice(br#"{"error":{"message":"boom","type":"server_error"}}"#)
                .unwrap();
        assert_eq!(p.error.unwrap().message(), "server_error: boom");
        let p: Probe = serde_json::from_slice(br#"{"error":"overloaded"}"#).unwrap();
        assert_eq!(p.error.unwrap().message(), "overloaded");
    }

    #[test]
    fn cumulative_counts() {
        let mut s = StreamState::default();
        assert_eq!(s.cumulative(Some(1)), 1);
        assert_eq!(s.cumulative(Some(4)), 3);
        assert_eq!(s.cumulative(None), 0);
        assert_eq!(s.cumulative(Some(4)), 0);
    }
}
