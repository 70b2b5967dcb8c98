//! [`ByteTokenizer`]: the built-in model's tokenizer, no files. Ids `0..256` are the bytes,
//! then [`ByteTokenizer::BOS`] and [`ByteTokenizer::EOS`].

use super::Tokenizer;
use crate::error::{EngineError, Result};

/// One token per UTF-8 byte plus BOS and EOS.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    /// Beginning of sequence.
    pub const BOS: u32 = 256;
    /// End of sequence.
    pub const EOS: u32 = 257;
    /// Vocabulary size.
    pub const VOCAB_SIZE: usize = 258;

    /// The tokenizer.
    pub fn new() -> Self {
        Self
    }
}

impl Tokenizer for ByteTokenizer {
    fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        let bos = add_bos.then_some(Self::BOS);
        Ok(bos.into_iter().chain(text.bytes().map(u32::from)).collect())
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::with_capacity(ids.len());
        for &id in ids {
            match id {
                0..=255 => bytes.push(id as u8),
                Self::BOS | Self::EOS => {}
                _ => {
                    return Err(EngineError::Tokenizer(format!(
                        "token id {id} is outside the byte vocabulary of {}",
                        Self::VOCAB_SIZE
                    )));
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn vocab_size(&self) -> usize {
        Self::VOCAB_SIZE
    }

    fn bos_id(&self) -> Option<u32> {
        Some(Self::BOS)
    }

    fn eos_ids(&self) -> Vec<u32> {
        vec![Self::EOS]
    }
}
