//! Tokenizers: one [`Tokenizer`] trait over Hugging Face `tokenizer.json` ([`HfTokenizer`]),
//! llama2.c's `tokenizer.bin` ([`Llama2cTokenizer`]) and the built-in [`ByteTokenizer`], plus an
//! [`IncrementalDecoder`] for streaming text that never splits a UTF-8 character.

mod byte;
pub(crate) mod hf;
mod incremental;
mod llama2c;

pub use byte::ByteTokenizer;
pub use hf::HfTokenizer;
pub use incremental::IncrementalDecoder;
pub use llama2c::Llama2cTokenizer;

use crate::error::Result;

/// Text ↔ token ids.
pub trait Tokenizer: Send + Sync + std::fmt::Debug {
    /// Token ids of `text`, with the beginning-of-sequence token first when `add_bos`.
    ///
    /// # Errors
    /// [`crate::EngineError::Tokenizer`] when the text cannot be encoded.
    fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>>;

    /// Text of `ids`, special tokens skipped. Incomplete UTF-8 at the end becomes U+FFFD.
    ///
    /// # Errors
    /// [`crate::EngineError::Tokenizer`] for an id outside the vocabulary.
    fn decode(&self, ids: &[u32]) -> Result<String>;

    /// Number of token ids.
    fn vocab_size(&self) -> usize;

    /// The beginning-of-sequence token, if the tokenizer has one.
    fn bos_id(&self) -> Option<u32>;

    /// End-of-sequence tokens.
    fn eos_ids(&self) -> Vec<u32>;
}
