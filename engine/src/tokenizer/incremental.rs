//! [`IncrementalDecoder`]: streaming detokenization (vLLM's prefix/read offsets).
//!
//! Decoding token by token is wrong for tokenizers whose pieces depend on their neighbours
//! (SentencePiece's leading space) and for byte tokens that split a character. So each step
//! decodes a short window twice — from `prefix` to the last emitted token, and to the new token
//! — and emits the difference, holding it back while it ends in U+FFFD (an incomplete character).

use super::Tokenizer;
use crate::error::Result;

/// Turns a growing token list into text deltas.
#[derive(Clone, Debug, Default)]
pub struct IncrementalDecoder {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
}

/// Tokens of context kept before the first unread one.
const WINDOW: usize = 6;

impl IncrementalDecoder {
    /// Prompt tokens the decoder keeps; callers may pass just these to [`new`](Self::new).
    pub const PROMPT_CONTEXT: usize = WINDOW;

    /// Starts after `prompt` (whose text is not emitted). Only the prompt's last few tokens are
    /// kept: they are all the first delta is decoded against.
    pub fn new(prompt: &[u32]) -> Self {
        let tail = &prompt[prompt.len().saturating_sub(WINDOW)..];
        Self {
            ids: tail.to_vec(),
            prefix_offset: 0,
            read_offset: tail.len(),
        }
    }

    /// Adds `id` and returns the new complete text (possibly empty).
    ///
    /// # Errors
    /// The tokenizer's decode error.
    pub fn push(&mut self, tokenizer: &dyn Tokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let prefix = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..])?;
        if full.len() <= prefix.len() || full.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        let delta = after_common_prefix(&full, &prefix).to_string();
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        Ok(delta)
    }

    /// Text held back at the end (an incomplete character), decoded lossily.
    ///
    /// # Errors
    /// The tokenizer's decode error.
    pub fn finish(&mut self, tokenizer: &dyn Tokenizer) -> Result<String> {
        let prefix = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..])?;
        self.prefix_offset = self.ids.len();
        self.read_offset = self.ids.len();
        Ok(after_common_prefix(&full, &prefix).to_string())
    }

    /// The prompt's last tokens (at most [`Self::PROMPT_CONTEXT`]), then every token pushed.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

/// The part of `full` after its longest common prefix with `prefix` (on a char boundary).
fn after_common_prefix<'a>(full: &'a str, prefix: &str) -> &'a str {
    let common = full
        .char_indices()
        .zip(prefix.chars())
        .take_while(|((_, a), b)| a == b)
        .last()
        .map_or(0, |((i, a), _)| i + a.len_utf8());
    &full[common..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::ByteTokenizer;

    #[test]
    fn never_splits_a_character() {
        let tok = ByteTokenizer::new();
        let ids = tok.encode("aé€😀b", false).unwrap();
        let mut dec = IncrementalDecoder::new(&[]);
        let mut pieces = Vec::new();
        for &id in &ids {
            pieces.push(dec.push(&tok, id).unwrap());
        }
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')));
        assert_eq!(pieces.concat(), "aé€😀b");
        assert_eq!(pieces[1], "");
    }
}
