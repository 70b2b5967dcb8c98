//! The built-in default model `tiny`: a 4-layer Llama of about 3 M parameters with deterministic
//! seeded weights and the byte tokenizer. It needs no files, so `dyno bench throughput` runs on a
//! fresh clone; its text is noise, its cost is that of a real (small) decoder.

use crate::model::config::{ModelConfig, RopeStyle};
use crate::model::weights::Weights;
use crate::tokenizer::ByteTokenizer;

/// The name `--model` takes for the built-in model.
pub const TINY: &str = "tiny";

/// Seed of the built-in weights (fixed forever: changing it changes every golden output).
const SEED: u64 = 0x5EED_D7A0;

/// The built-in model's shape.
pub fn config() -> ModelConfig {
    ModelConfig {
        architecture: "dyno-tiny".into(),
        hidden_size: 256,
        intermediate_size: 688,
        num_layers: 4,
        num_heads: 8,
        num_kv_heads: 4,
        head_dim: 32,
        vocab_size: ByteTokenizer::VOCAB_SIZE,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        rope_style: RopeStyle::Neox,
        max_position_embeddings: 2048,
        tie_word_embeddings: false,
        qkv_bias: false,
        qk_norm: false,
        sliding_window: None,
        bos_token_id: Some(ByteTokenizer::BOS),
        eos_token_ids: vec![ByteTokenizer::EOS],
    }
}

/// The built-in weights.
pub fn weights() -> Weights {
    Weights::random(&config(), SEED)
}
