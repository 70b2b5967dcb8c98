//! Output text of one sample: incremental detokenization, stop strings, and what may be streamed.
//!
//! A stop string must not reach the client, even in part: while stop strings are set, the last
//! `longest stop string − 1` bytes of text are held back (vLLM's stop buffer) until more text
//! shows they do not start a stop string, or the sample finishes.

use std::sync::Arc;

use crate::error::Result;
use crate::tokenizer::{IncrementalDecoder, Tokenizer};

/// The text state of one sample.
#[derive(Debug)]
pub(crate) struct SampleText {
    decoder: IncrementalDecoder,
    /// Text produced so far (truncated before a matched stop string).
    text: String,
    /// Bytes of `text` already streamed.
    emitted: usize,
    stops: Arc<[String]>,
    /// Bytes held back while the sample runs.
    holdback: usize,
    /// Whether a stop string matched (text is final).
    stopped: bool,
}

impl SampleText {
    /// Starts after `prompt` (whose text is not part of the output).
    pub(crate) fn new(prompt: &[u32], stops: Arc<[String]>) -> Self {
        let holdback = stops.iter().map(String::len).max().unwrap_or(1) - 1;
        Self {
            decoder: IncrementalDecoder::new(prompt),
            text: String::new(),
            emitted: 0,
            stops,
            holdback,
            stopped: false,
        }
    }

    /// Appends `token`'s text; returns the index of the stop string that now appears in the
    /// text (the earliest match), after cutting the text just before it.
    pub(crate) fn push(&mut self, tokenizer: &dyn Tokenizer, token: u32) -> Result<Option<usize>> {
        if self.stopped {
            return Ok(None);
        }
        let delta = self.decoder.push(tokenizer, token)?;
        Ok(self.append(&delta))
    }

    fn append(&mut self, delta: &str) -> Option<usize> {
        if delta.is_empty() {
            return None;
        }
        // A match must end inside the new text, so it starts at most `holdback` bytes before it.
        let from = floor_boundary(&self.text, self.text.len().saturating_sub(self.holdback));
        self.text.push_str(delta);
        let hit = self
            .stops
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                self.text[from..]
                    .find(s.as_str())
                    .map(|pos| (from + pos, i))
            })
            .min()?;
        self.text.truncate(hit.0);
        self.stopped = true;
        Some(hit.1)
    }

    /// Marks the sample finished: flushes text the decoder held back (unless a stop string
    /// ended it) so [`take_delta`](Self::take_delta) returns the rest.
    pub(crate) fn finish(&mut self, tokenizer: &dyn Tokenizer) -> Result<()> {
        if !self.stopped {
            let rest = self.decoder.finish(tokenizer)?;
            self.append(&rest);
        }
        self.holdback = 0;
        Ok(())
    }

    /// The text that may be streamed now and was not yet.
    pub(crate) fn take_delta(&mut self) -> String {
        let limit = if self.stopped {
            self.text.len()
        } else {
            floor_boundary(&self.text, self.text.len().saturating_sub(self.holdback))
        };
        if limit <= self.emitted {
            return String::new();
        }
        let delta = self.text[self.emitted..limit].to_string();
        self.emitted = limit;
        delta
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::ByteTokenizer;

    fn run(text: &str, stops: &[&str]) -> (String, Vec<String>, Option<usize>) {
        let tok = ByteTokenizer::new();
        let stops: Arc<[String]> = stops.iter().map(|s| s.to_string()).collect();
        let mut t = SampleText::new(&[], stops);
        let mut deltas = Vec::new();
        let mut stop = None;
        for id in tok.encode(text, false).unwrap() {
            stop = t.push(&tok, id).unwrap();
            if stop.is_some() {
                break;
            }
            deltas.push(t.take_delta());
        }
        t.finish(&tok).unwrap();
        deltas.push(t.take_delta());
        (deltas.concat(), deltas, stop)
    }

    #[test]
    fn no_stop_strings_stream_everything_at_once() {
        let (all, deltas, stop) = run("héllo", &[]);
        assert_eq!((all.as_str(), stop), ("héllo", None));
        assert_eq!(deltas[..5], ["h", "", "é", "l", "l"]);
    }

    #[test]
    fn stop_string_is_cut_and_never_streamed() {
        let (all, deltas, stop) = run("one two. three", &["wo.", "three"]);
        assert_eq!((all.as_str(), stop), ("one t", Some(0)));
        assert!(deltas.iter().all(|d| !d.contains('w')), "{deltas:?}");
    }

    #[test]
    fn earliest_match_wins() {
        let (all, _, stop) = run("abcd", &["cd", "bcd"]);
        assert_eq!((all.as_str(), stop), ("a", Some(1)));
    }

    #[test]
    fn held_back_text_is_flushed_at_the_end() {
        let (all, _, stop) = run("the en", &["end"]);
        assert_eq!((all.as_str(), stop), ("the en", None));
    }
}
