//! [`ModelConfig`]: the shape of a Llama-family decoder, parsed from a Hugging Face `config.json`.

use std::path::Path;

use serde::Deserialize;

use crate::error::{EngineError, Result};

/// How RoPE pairs the elements of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Hugging Face / GPT-NeoX: element `i` pairs with `i + head_dim / 2`.
    Neox,
    /// llama2.c / Meta's original: element `2i` pairs with `2i + 1`.
    Interleaved,
}

/// RoPE frequency scaling (`rope_scaling` in `config.json`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RopeScaling {
    /// Llama 3.1+: long wavelengths divided by `factor`, short ones kept, a smooth blend between.
    Llama3 {
        /// Frequency divisor for long wavelengths.
        factor: f32,
        /// Wavelengths above `original_max_position / low_freq_factor` are scaled fully.
        low_freq_factor: f32,
        /// Wavelengths below `original_max_position / high_freq_factor` are kept.
        high_freq_factor: f32,
        /// Context the model was pretrained with.
        original_max_position: usize,
    },
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// Frequency divisor.
        factor: f32,
    },
}

/// The shape and hyper-parameters of a Llama-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The `architectures[0]` name (or `llama2.c` / `dyno-tiny`).
    pub architecture: String,
    /// Residual stream width.
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (GQA); divides `num_heads`.
    pub num_kv_heads: usize,
    /// Elements per head.
    pub head_dim: usize,
    /// Vocabulary size (rows of the embedding and of the LM head).
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// RoPE base.
    pub rope_theta: f32,
    /// RoPE scaling, if any.
    pub rope_scaling: Option<RopeScaling>,
    /// RoPE pairing convention of the checkpoint's Q/K rows.
    pub rope_style: RopeStyle,
    /// Longest context (prompt plus output).
    pub max_position_embeddings: usize,
    /// Whether the LM head reuses the token embedding.
    pub tie_word_embeddings: bool,
    /// Q/K/V projections carry a bias (Qwen2).
    pub qkv_bias: bool,
    /// Per-head RMSNorm on queries and keys before RoPE (Qwen3).
    pub qk_norm: bool,
    /// Sliding-window attention length, if the model uses one everywhere.
    pub sliding_window: Option<usize>,
    /// Beginning-of-sequence token.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence tokens (generation stops at any of them).
    pub eos_token_ids: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<u32> {
        match self {
            OneOrMany::One(id) => vec![id],
            OneOrMany::Many(ids) => ids,
        }
    }
}

#[derive(Deserialize)]
struct RawRopeScaling {
    #[serde(alias = "type")]
    rope_type: Option<String>,
    factor: Option<f32>,
    low_freq_factor: Option<f32>,
    high_freq_factor: Option<f32>,
    original_max_position_embeddings: Option<usize>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    architectures: Vec<String>,
    model_type: Option<String>,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: usize,
    rms_norm_eps: Option<f32>,
    rope_theta: Option<f32>,
    rope_scaling: Option<RawRopeScaling>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    hidden_act: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
}

/// The architectures this crate runs.
pub const SUPPORTED_ARCHITECTURES: [&str; 4] = [
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
];

impl ModelConfig {
    /// Reads and validates a Hugging Face `config.json`.
    ///
    /// # Errors
    /// [`EngineError::ModelFile`] when the file is missing or not valid JSON,
    /// [`EngineError::UnsupportedArchitecture`], [`EngineError::InvalidModelConfig`].
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::model_file(path, e))?;
        Self::from_hf_json(&text).map_err(|e| match e {
            EngineError::ModelFile { reason, .. } => EngineError::model_file(path, reason),
            other => other,
        })
    }

    /// Parses the text of a Hugging Face `config.json`.
    ///
    /// # Errors
    /// As [`ModelConfig::from_hf_file`] (the path is reported as `config.json`).
    pub fn from_hf_json(text: &str) -> Result<Self> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| EngineError::model_file("config.json", e))?;
        let architecture = raw
            .architectures
            .first()
            .cloned()
            .or(raw.model_type.clone())
            .unwrap_or_default();
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(EngineError::UnsupportedArchitecture { architecture });
        }
        if let Some(act) = raw.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(EngineError::invalid_config(
                "hidden_act",
                format!("is {act:?}; only \"silu\" (SwiGLU) is supported"),
            ));
        }
        let num_kv_heads = raw.num_key_value_heads.unwrap_or(raw.num_attention_heads);
        if raw.num_attention_heads == 0 {
            return Err(EngineError::invalid_config("num_attention_heads", "is 0"));
        }
        let head_dim = raw
            .head_dim
            .unwrap_or(raw.hidden_size / raw.num_attention_heads);
        let is_qwen2 = architecture == "Qwen2ForCausalLM";
        let is_qwen3 = architecture == "Qwen3ForCausalLM";
        let sliding_window = match architecture.as_str() {
            "MistralForCausalLM" => raw.sliding_window,
            "Qwen2ForCausalLM" | "Qwen3ForCausalLM" if raw.use_sliding_window == Some(true) => {
                raw.sliding_window
            }
            _ => None,
        };
        let config = Self {
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            num_kv_heads,
            head_dim,
            vocab_size: raw.vocab_size,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            rope_theta: raw.rope_theta.unwrap_or(10_000.0),
            rope_scaling: raw.rope_scaling.map(parse_scaling).transpose()?.flatten(),
            rope_style: RopeStyle::Neox,
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(4096),
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: is_qwen2 || raw.attention_bias.unwrap_or(false),
            qk_norm: is_qwen3,
            sliding_window,
            bos_token_id: raw.bos_token_id,
            eos_token_ids: raw
                .eos_token_id
                .map(OneOrMany::into_vec)
                .unwrap_or_default(),
            architecture,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks that every dimension is positive and the heads divide evenly.
    ///
    /// # Errors
    /// [`EngineError::InvalidModelConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value == 0 {
                return Err(EngineError::invalid_config(field, "is 0"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(EngineError::invalid_config(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_kv_heads, self.num_heads
                ),
            ));
        }
        if !self.head_dim.is_multiple_of(2)
            || self.head_dim > dyno_kernels::paged_attention::MAX_HEAD_SIZE
        {
            return Err(EngineError::invalid_config(
                "head_dim",
                format!("is {}; expected an even number up to 512", self.head_dim),
            ));
        }
        Ok(())
    }

    /// Query projection width (`num_heads × head_dim`).
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Key (and value) projection width (`num_kv_heads × head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Parameter count (embedding, layers, final norm and an untied LM head).
    pub fn num_params(&self) -> usize {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let attn = h * (self.q_dim() + 2 * self.kv_dim()) + self.q_dim() * h;
        let layer = attn + 3 * h * i + 2 * h;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * h
        };
        self.vocab_size * h + self.num_layers * layer + h + head
    }
}

fn parse_scaling(raw: RawRopeScaling) -> Result<Option<RopeScaling>> {
    let kind = raw.rope_type.unwrap_or_default();
    let factor = || {
        raw.factor.filter(|f| *f > 0.0).ok_or_else(|| {
            EngineError::invalid_config("rope_scaling.factor", "is missing or not positive")
        })
    };
    match kind.as_str() {
        "default" | "" => Ok(None),
        "linear" => Ok(Some(RopeScaling::Linear { factor: factor()? })),
        "llama3" => Ok(Some(RopeScaling::Llama3 {
            factor: factor()?,
            low_freq_factor: raw.low_freq_factor.unwrap_or(1.0),
            high_freq_factor: raw.high_freq_factor.unwrap_or(4.0),
            original_max_position: raw.original_max_position_embeddings.unwrap_or(8192),
        })),
        other => Err(EngineError::invalid_config(
            "rope_scaling.rope_type",
            format!("{other:?} is not supported; use \"llama3\", \"linear\" or none"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qwen3_and_rejects_unknown_architecture() {
        let json = r#"{"architectures":["Qwen3ForCausalLM"],"hidden_size":64,"intermediate_size":128,
            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,
            "vocab_size":100,"eos_token_id":[1,2],"rope_scaling":{"rope_type":"llama3","factor":8.0}}"#;
        let c = ModelConfig::from_hf_json(json).unwrap();
        assert!(c.qk_norm && !c.qkv_bias);
        assert_eq!(c.eos_token_ids, vec![1, 2]);
        assert!(matches!(c.rope_scaling, Some(RopeScaling::Llama3 { .. })));
        let bad = json.replace("Qwen3ForCausalLM", "GPT2LMHeadModel");
        let err = ModelConfig::from_hf_json(&bad).unwrap_err();
        assert!(err.to_string().contains("GPT2LMHeadModel"), "{err}");
    }
}
