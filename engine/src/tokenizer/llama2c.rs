//! [`Llama2cTokenizer`]: llama2.c's `tokenizer.bin` — a SentencePiece BPE vocabulary with merge
//! scores. Encoding follows llama2.c: a dummy-prefix space, one token per known character (else
//! `<0xNN>` byte tokens), then repeatedly merge the adjacent pair whose concatenation is a token
//! with the highest score.

use std::collections::HashMap;
use std::path::Path;

use super::Tokenizer;
use crate::error::{EngineError, Result};

/// A llama2.c vocabulary: pieces, scores, and the byte-token offset (ids 3..259 = `<0x00>..`).
#[derive(Debug)]
pub struct Llama2cTokenizer {
    pieces: Vec<Vec<u8>>,
    scores: Vec<f32>,
    lookup: HashMap<Vec<u8>, u32>,
}

/// Beginning of sequence.
const BOS: u32 = 1;
/// End of sequence.
const EOS: u32 = 2;
/// Id of byte `<0x00>`.
const BYTE_BASE: u32 = 3;

impl Llama2cTokenizer {
    /// Reads a `tokenizer.bin`: `i32` max token length, then per token `f32` score, `i32` length
    /// and the bytes, to the end of the file.
    ///
    /// # Errors
    /// [`EngineError::ModelFile`] for a missing or truncated file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::model_file(path, e))?;
        Self::from_bytes(&bytes).map_err(|reason| EngineError::model_file(path, reason))
    }

    fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let corrupt = |at: usize| format!("corrupt llama2.c tokenizer: truncated at byte {at}");
        let word = |at: usize| -> std::result::Result<[u8; 4], String> {
            bytes
                .get(at..at + 4)
                .map(|b| [b[0], b[1], b[2], b[3]])
                .ok_or_else(|| corrupt(at))
        };
        let max_len = i32::from_le_bytes(word(0)?);
        let (mut pieces, mut scores) = (Vec::new(), Vec::new());
        let mut at = 4;
        while at < bytes.len() {
            let score = f32::from_le_bytes(word(at)?);
            let len = i32::from_le_bytes(word(at + 4)?);
            if len < 0 || len > max_len.max(0) {
                return Err(format!(
                    "corrupt llama2.c tokenizer: token {} has length {len}",
                    pieces.len()
                ));
            }
            let piece = bytes
                .get(at + 8..at + 8 + len as usize)
                .ok_or_else(|| corrupt(at + 8))?;
            pieces.push(piece.to_vec());
            scores.push(score);
            at += 8 + len as usize;
        }
        if pieces.len() < (BYTE_BASE + 256) as usize {
            return Err(format!(
                "llama2.c tokenizer has {} tokens; expected at least 259",
                pieces.len()
            ));
        }
        let lookup = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
        Ok(Self {
            pieces,
            scores,
            lookup,
        })
    }

    fn byte_of(&self, id: u32) -> Option<u8> {
        let p = &self.pieces[id as usize];
        if p.len() == 6 && p.starts_with(b"<0x") && p.ends_with(b">") {
            u8::from_str_radix(std::str::from_utf8(&p[3..5]).ok()?, 16).ok()
        } else {
            None
        }
    }
}

impl Tokenizer for Llama2cTokenizer {
    fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = add_bos.then_some(BOS).into_iter().collect();
        let start = ids.len();
        if !text.is_empty()
            && let Some(&space) = self.lookup.get(b" ".as_slice())
        {
            ids.push(space);
        }
        for ch in text.chars() {
            let mut buf = [0u8; 4];
            let utf8 = ch.encode_utf8(&mut buf).as_bytes();
            match self.lookup.get(utf8) {
                Some(&id) => ids.push(id),
                None => ids.extend(utf8.iter().map(|&b| u32::from(b) + BYTE_BASE)),
            }
        }
        let mut merged = Vec::new();
        loop {
            let mut best: Option<(f32, usize, u32)> = None;
            for i in start..ids.len().saturating_sub(1) {
                merged.clear();
                merged.extend_from_slice(&self.pieces[ids[i] as usize]);
                merged.extend_from_slice(&self.pieces[ids[i + 1] as usize]);
                if let Some(&id) = self.lookup.get(&merged)
                    && best.is_none_or(|(s, _, _)| self.scores[id as usize] > s)
                {
                    best = Some((self.scores[id as usize], i, id));
                }
            }
            let Some((_, i, id)) = best else { break };
            ids[i] = id;
            ids.remove(i + 1);
        }
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut out = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            if id as usize >= self.pieces.len() {
                return Err(EngineError::Tokenizer(format!(
                    "token id {id} is outside the vocabulary of {}",
                    self.pieces.len()
                )));
            }
            if id == BOS || id == EOS {
                continue;
            }
            if let Some(b) = self.byte_of(id) {
                out.push(b);
                continue;
            }
            let piece = &self.pieces[id as usize];
            // SentencePiece drops the dummy-prefix space of the first piece after BOS.
            let after_bos = i > 0 && ids[i - 1] == BOS;
            out.extend_from_slice(
                piece
                    .strip_prefix(b" ")
                    .filter(|_| after_bos)
                    .unwrap_or(piece),
            );
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    fn bos_id(&self) -> Option<u32> {
        Some(BOS)
    }

    fn eos_ids(&self) -> Vec<u32> {
        vec![EOS]
    }
}
