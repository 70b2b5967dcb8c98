//! Loading a model and its tokenizer from what `--model` names: the built-in [`TINY`], a Hugging
//! Face directory ([`hf`]), a llama2.c checkpoint ([`llama2c`]), or any config with seeded random
//! weights (`--load-format dummy`).

pub mod hf;
pub mod llama2c;
pub mod tiny;

use std::path::{Path, PathBuf};

use super::config::ModelConfig;
use super::dtype::ModelDtype;
use super::llama::LlamaModel;
use super::weights::Weights;
use crate::error::{EngineError, Result};
use crate::tokenizer::{ByteTokenizer, HfTokenizer, Tokenizer};

pub use tiny::TINY;

/// How weights are obtained (`--load-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadFormat {
    /// Read them from the model's files.
    #[default]
    Auto,
    /// Seeded random weights for the model's config: throughput work without a checkpoint.
    Dummy,
}

/// Options of [`load_model`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--load-format`.
    pub load_format: LoadFormat,
    /// Seed of dummy weights.
    pub seed: u64,
    /// `--tokenizer`: a directory with `tokenizer.json`, or a llama2.c `tokenizer.bin`.
    pub tokenizer: Option<PathBuf>,
    /// `--dtype`: how the linear layers and the LM head are stored (`Auto` is f32; see
    /// [`ModelDtype::resolve`]).
    pub dtype: ModelDtype,
}

/// A model ready to run and the tokenizer that goes with it.
#[derive(Debug)]
pub struct LoadedModel {
    /// The decoder.
    pub model: LlamaModel,
    /// Its tokenizer.
    pub tokenizer: Box<dyn Tokenizer>,
}

/// Loads `model`: [`TINY`] (`"tiny"`), a Hugging Face directory (or its `config.json`), or a
/// llama2.c `.bin` checkpoint.
///
/// # Errors
/// [`EngineError::ModelFile`] for missing or corrupt files,
/// [`EngineError::UnsupportedArchitecture`], [`EngineError::InvalidModelConfig`].
pub fn load_model(model: &str, options: &LoadOptions) -> Result<LoadedModel> {
    if model == TINY {
        let weights = tiny::weights();
        return finish(weights, Box::new(ByteTokenizer::new()), options);
    }
    let path = Path::new(model);
    if !path.exists() {
        return Err(EngineError::model_file(
            path,
            format!(
                "no such file or directory; pass `{TINY}`, a Hugging Face model directory or a llama2.c .bin checkpoint"
            ),
        ));
    }
    if path.is_file() && path.extension().is_some_and(|e| e == "bin") {
        let (weights, tokenizer) = llama2c::load(path, options.tokenizer.as_deref())?;
        let weights = match options.load_format {
            LoadFormat::Auto => weights,
            LoadFormat::Dummy => Weights::random(&weights.config, options.seed),
        };
        return finish(weights, Box::new(tokenizer), options);
    }
    let dir = if path.is_file() {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let config = hf::read_config(dir)?;
    let tokenizer = load_hf_tokenizer(dir, &config, options)?;
    let weights = match options.load_format {
        LoadFormat::Auto => hf::load_weights(dir, config)?,
        LoadFormat::Dummy => Weights::random(&config, options.seed),
    };
    finish(weights, tokenizer, options)
}

fn load_hf_tokenizer(
    dir: &Path,
    config: &ModelConfig,
    options: &LoadOptions,
) -> Result<Box<dyn Tokenizer>> {
    let source = options.tokenizer.as_deref().unwrap_or(dir);
    if source.is_file() {
        return Ok(Box::new(crate::tokenizer::Llama2cTokenizer::from_file(
            source,
        )?));
    }
    if options.load_format == LoadFormat::Dummy && !source.join("tokenizer.json").is_file() {
        return Ok(Box::new(ByteTokenizer::new()));
    }
    Ok(Box::new(
        HfTokenizer::from_dir(source)?.with_fallback_bos(config.bos_token_id),
    ))
}

fn finish(
    weights: Weights,
    tokenizer: Box<dyn Tokenizer>,
    options: &LoadOptions,
) -> Result<LoadedModel> {
    Ok(LoadedModel {
        model: LlamaModel::with_dtype(weights, options.dtype.resolve())?,
        tokenizer,
    })
}
