//! [`HfTokenizer`]: a Hugging Face `tokenizer.json` through the `tokenizers` crate.

use std::path::Path;

use super::Tokenizer;
use crate::error::{EngineError, Result};

/// A `tokenizer.json` tokenizer plus the BOS/EOS facts of `tokenizer_config.json`.
#[derive(Debug)]
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<u32>,
    eos: Vec<u32>,
}

impl HfTokenizer {
    /// Loads `tokenizer.json` from `dir` and, when present, `tokenizer_config.json` (its
    /// `bos_token` / `eos_token`). Truncation and padding stored in the file are switched off: a
    /// prompt is never silently cut.
    ///
    /// # Errors
    /// [`EngineError::ModelFile`] naming the missing or unparsable file.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(EngineError::model_file(
                &path,
                "no such file; the model directory needs a tokenizer.json",
            ));
        }
        let mut inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| EngineError::model_file(&path, e))?;
        inner
            .with_truncation(None)
            .map_err(|e| EngineError::model_file(&path, e))?;
        inner.with_padding(None);
        let config = read_json(&dir.join("tokenizer_config.json"))?;
        let token_id = |key: &str| {
            let v = config.as_ref()?.get(key)?;
            let s = v.as_str().or_else(|| v.get("content")?.as_str())?;
            inner.token_to_id(s)
        };
        let bos = token_id("bos_token");
        let eos = token_id("eos_token").into_iter().collect();
        Ok(Self { inner, bos, eos })
    }

    /// Sets the BOS token (e.g. from `config.json`) when the tokenizer config named none.
    pub fn with_fallback_bos(mut self, bos: Option<u32>) -> Self {
        self.bos = self.bos.or(bos);
        self
    }
}

/// `Ok(None)` when the file does not exist.
pub(crate) fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::model_file(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| EngineError::model_file(path, format!("invalid JSON: {e}")))
}

impl Tokenizer for HfTokenizer {
    fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_bos)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if let Some(bos) = self.bos.filter(|_| add_bos)
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    fn eos_ids(&self) -> Vec<u32> {
        self.eos.clone()
    }
}
