//! [`Weights`]: the host-side f32 weights every loader produces, in Hugging Face orientation
//! (`[out_features, in_features]`, row-major). [`crate::model::LlamaModel`] is built from them.

use super::config::ModelConfig;
use super::rng::SplitMix64;

/// One decoder layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerWeights {
    /// RMSNorm before attention, `[hidden]`.
    pub attn_norm: Vec<f32>,
    /// `[q_dim, hidden]`.
    pub q_proj: Vec<f32>,
    /// `[kv_dim, hidden]`.
    pub k_proj: Vec<f32>,
    /// `[kv_dim, hidden]`.
    pub v_proj: Vec<f32>,
    /// `[hidden, q_dim]`.
    pub o_proj: Vec<f32>,
    /// Q/K/V biases (Qwen2): `[q_dim]`, `[kv_dim]`, `[kv_dim]`.
    pub qkv_bias: Option<[Vec<f32>; 3]>,
    /// Per-head Q and K RMSNorm weights (Qwen3): `[head_dim]` each.
    pub qk_norm: Option<[Vec<f32>; 2]>,
    /// RMSNorm before the MLP, `[hidden]`.
    pub mlp_norm: Vec<f32>,
    /// `[intermediate, hidden]`.
    pub gate_proj: Vec<f32>,
    /// `[intermediate, hidden]`.
    pub up_proj: Vec<f32>,
    /// `[hidden, intermediate]`.
    pub down_proj: Vec<f32>,
}

/// A whole model's weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// The shape.
    pub config: ModelConfig,
    /// `[vocab, hidden]`.
    pub embed: Vec<f32>,
    /// Decoder layers.
    pub layers: Vec<LayerWeights>,
    /// Final RMSNorm, `[hidden]`.
    pub final_norm: Vec<f32>,
    /// `[vocab, hidden]`, or `None` when tied to `embed`.
    pub lm_head: Option<Vec<f32>>,
}

impl Weights {
    /// Seeded random weights for `config` (`--load-format dummy`, the built-in model, tests):
    /// matrices uniform in ±`1/sqrt(fan_in)`, norms near 1.
    pub fn random(config: &ModelConfig, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let (q, kv, hd) = (config.q_dim(), config.kv_dim(), config.head_dim);
        let s = |fan_in: usize| 1.0 / (fan_in as f32).sqrt();
        let norm = |rng: &mut SplitMix64, n: usize| -> Vec<f32> {
            (0..n).map(|_| 1.0 + rng.uniform(0.1)).collect()
        };
        let layers = (0..config.num_layers)
            .map(|_| LayerWeights {
                attn_norm: norm(&mut rng, h),
                q_proj: rng.vec(q * h, s(h)),
                k_proj: rng.vec(kv * h, s(h)),
                v_proj: rng.vec(kv * h, s(h)),
                o_proj: rng.vec(h * q, s(q)),
                qkv_bias: config
                    .qkv_bias
                    .then(|| [rng.vec(q, 0.1), rng.vec(kv, 0.1), rng.vec(kv, 0.1)]),
                qk_norm: config
                    .qk_norm
                    .then(|| [norm(&mut rng, hd), norm(&mut rng, hd)]),
                mlp_norm: norm(&mut rng, h),
                gate_proj: rng.vec(i * h, s(h)),
                up_proj: rng.vec(i * h, s(h)),
                down_proj: rng.vec(h * i, s(i)),
            })
            .collect();
        Self {
            embed: rng.vec(config.vocab_size * h, 1.0),
            layers,
            final_norm: norm(&mut rng, h),
            lm_head: (!config.tie_word_embeddings).then(|| rng.vec(config.vocab_size * h, s(h))),
            config: config.clone(),
        }
    }

    /// The LM head (the embedding when tied).
    pub fn lm_head(&self) -> &[f32] {
        self.lm_head.as_deref().unwrap_or(&self.embed)
    }
}
