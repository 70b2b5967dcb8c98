//! [`LlamaModel`]: the Llama-family decoder over the paged KV cache.
//!
//! Per layer: RMSNorm → fused QKV projection (+ bias) → per-head QK-norm → RoPE →
//! `reshape_and_cache` + `paged_attention` (the kernels' varlen op, so decode, prefill, chunked
//! prefill and prefix hits are one path) → output projection → residual; RMSNorm → fused
//! gate/up projection → SiLU·up → down projection → residual. The LM head runs only on the rows
//! that sample.

use dyno_kernels::CpuBackend;
use dyno_kernels::paged_attention::PagedAttentionArgs;

use super::Model;
use super::batch::{BatchInput, Logits};
use super::config::ModelConfig;
use super::dtype::WeightDtype;
use super::kv::KvCache;
use super::layers::norm_in_place;
use super::layers::{Linear, Rope, add_in_place, rms_norm, silu_mul};
use super::weights::Weights;
use crate::error::{EngineError, Result};

struct Layer {
    attn_norm: Vec<f32>,
    qkv: Linear,
    qk_norm: Option<[Vec<f32>; 2]>,
    o_proj: Linear,
    mlp_norm: Vec<f32>,
    gate_up: Linear,
    down: Linear,
}

/// A Llama / Mistral / Qwen2 / Qwen3 decoder ready to run.
pub struct LlamaModel {
    config: ModelConfig,
    embed: Vec<f32>,
    layers: Vec<Layer>,
    final_norm: Vec<f32>,
    lm_head: Linear,
    rope: Rope,
    backend: CpuBackend,
    dtype: WeightDtype,
    scratch: Scratch,
}

/// The forward's activation buffers, kept between steps.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    qkv: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    tmp: Vec<f32>,
    act: Vec<f32>,
}

impl std::fmt::Debug for LlamaModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaModel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn concat(parts: &[&[f32]]) -> Vec<f32> {
    parts.concat()
}

impl LlamaModel {
    /// Builds the model from host weights (fusing Q/K/V and gate/up), all stored as f32.
    ///
    /// # Errors
    /// [`EngineError::InvalidModelConfig`] when a weight's length does not match the config.
    pub fn new(weights: Weights) -> Result<Self> {
        Self::with_dtype(weights, WeightDtype::F32)
    }

    /// As [`LlamaModel::new`], with the linear layers and the LM head stored as `dtype` (norms,
    /// biases and the embedding table stay f32; so do activations and accumulation).
    ///
    /// # Errors
    /// [`EngineError::InvalidModelConfig`] when a weight's length does not match the config.
    pub fn with_dtype(weights: Weights, dtype: WeightDtype) -> Result<Self> {
        let c = weights.config.clone();
        c.validate()?;
        check_lengths(&weights)?;
        let (h, i, q, kv) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
        let linear = |w: Vec<f32>, out: usize, inp: usize, bias: Option<Vec<f32>>| {
            Linear::with_dtype(w, out, inp, bias, dtype)
        };
        let lm_head = linear(weights.lm_head().to_vec(), c.vocab_size, h, None)?;
        let Weights {
            embed,
            layers,
            final_norm,
            ..
        } = weights;
        let layers = layers
            .into_iter()
            .map(|l| {
                let bias = l.qkv_bias.as_ref().map(|[a, b, c]| concat(&[a, b, c]));
                Ok(Layer {
                    qkv: linear(
                        concat(&[&l.q_proj, &l.k_proj, &l.v_proj]),
                        q + 2 * kv,
                        h,
                        bias,
                    )?,
                    o_proj: linear(l.o_proj, h, q, None)?,
                    gate_up: linear(concat(&[&l.gate_proj, &l.up_proj]), 2 * i, h, None)?,
                    down: linear(l.down_proj, h, i, None)?,
                    attn_norm: l.attn_norm,
                    mlp_norm: l.mlp_norm,
                    qk_norm: l.qk_norm,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            rope: Rope::new(&c),
            config: c,
            embed,
            layers,
            final_norm,
            lm_head,
            backend: CpuBackend::new(),
            dtype,
            scratch: Scratch::default(),
        })
    }

    /// The kernel backend the attention runs on.
    pub fn backend(&self) -> &CpuBackend {
        &self.backend
    }

    /// How the linear layers and the LM head are stored.
    pub fn dtype(&self) -> WeightDtype {
        self.dtype
    }

    /// Bytes of the weights every step reads in full: all linear layers and the LM head. A
    /// batch-1 decode step is bound by streaming these (norms, biases and one embedding row per
    /// token are not counted; they are under 0.1 % of a real model).
    pub fn streamed_weight_bytes(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| [&l.qkv, &l.o_proj, &l.gate_up, &l.down])
            .chain([&self.lm_head])
            .map(Linear::weight_bytes)
            .sum()
    }
}

fn check_lengths(w: &Weights) -> Result<()> {
    let c = &w.config;
    let (h, i, q, kv, hd) = (
        c.hidden_size,
        c.intermediate_size,
        c.q_dim(),
        c.kv_dim(),
        c.head_dim,
    );
    let mut checks = vec![
        ("embed_tokens", w.embed.len(), c.vocab_size * h),
        ("norm", w.final_norm.len(), h),
        ("lm_head", w.lm_head().len(), c.vocab_size * h),
    ];
    if w.layers.len() != c.num_layers {
        return Err(EngineError::invalid_config(
            "num_hidden_layers",
            format!(
                "is {} but the weights hold {} layers",
                c.num_layers,
                w.layers.len()
            ),
        ));
    }
    for l in &w.layers {
        checks.extend([
            ("input_layernorm", l.attn_norm.len(), h),
            ("q_proj", l.q_proj.len(), q * h),
            ("k_proj", l.k_proj.len(), kv * h),
            ("v_proj", l.v_proj.len(), kv * h),
            ("o_proj", l.o_proj.len(), h * q),
            ("post_attention_layernorm", l.mlp_norm.len(), h),
            ("gate_proj", l.gate_proj.len(), i * h),
            ("up_proj", l.up_proj.len(), i * h),
            ("down_proj", l.down_proj.len(), h * i),
        ]);
        if let Some([bq, bk, bv]) = &l.qkv_bias {
            checks.extend([
                ("q_proj.bias", bq.len(), q),
                ("k_proj.bias", bk.len(), kv),
                ("v_proj.bias", bv.len(), kv),
            ]);
        }
        if let Some([nq, nk]) = &l.qk_norm {
            checks.extend([("q_norm", nq.len(), hd), ("k_norm", nk.len(), hd)]);
        }
    }
    for (name, got, want) in checks {
        if got != want {
            return Err(EngineError::invalid_config(
                name,
                format!("weight has {got} values; the config implies {want}"),
            ));
        }
    }
    Ok(())
}

impl Model for LlamaModel {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn forward(&mut self, batch: &BatchInput, kv: &mut KvCache) -> Result<Logits> {
        let c = &self.config;
        let (h, q_dim, kv_dim) = (c.hidden_size, c.q_dim(), c.kv_dim());
        let t = batch.num_tokens();
        if batch.positions.len() != t || batch.slot_mapping.len() != t {
            return Err(EngineError::Forward(
                "batch positions/slot_mapping length differs from tokens".into(),
            ));
        }
        if kv.block_size() != batch.block_size() {
            return Err(EngineError::Forward(format!(
                "batch built for block size {} but the kv cache uses {}",
                batch.block_size(),
                kv.block_size()
            )));
        }
        // Buffers reused across steps: a prefill's are tens of MB, which fresh allocations would
        // map and zero again every step. Taken out so the layers can be borrowed beside them (an
        // error return just drops them; the next step allocates anew).
        let mut s = std::mem::take(&mut self.scratch);
        let Scratch {
            x,
            xn,
            qkv,
            q,
            k,
            v,
            attn,
            tmp,
            act,
        } = &mut s;
        x.clear();
        for &tok in &batch.tokens {
            let row = self
                .embed
                .get(tok as usize * h..(tok as usize + 1) * h)
                .ok_or_else(|| {
                    EngineError::Forward(format!(
                        "token id {tok} is outside the vocabulary of {}",
                        c.vocab_size
                    ))
                })?;
            x.extend_from_slice(row);
        }
        let (cos, sin) = self.rope.tables(&batch.positions);
        let args = PagedAttentionArgs {
            num_heads: c.num_heads,
            num_kv_heads: c.num_kv_heads,
            head_size: c.head_dim,
            block_size: kv.block_size(),
            num_blocks: kv.num_blocks(),
            query_start_loc: &batch.query_start_loc,
            context_lens: &batch.context_lens,
            block_tables: &batch.block_tables,
            max_blocks_per_seq: batch.max_blocks_per_seq,
            scale: 1.0 / (c.head_dim as f32).sqrt(),
            sliding_window: c.sliding_window,
        };
        // Every element of these is written before it is read (norms, matmuls and attention
        // write whole outputs), so growing them is the only zeroing needed.
        xn.resize(t * h, 0.0);
        attn.resize(t * q_dim, 0.0);
        for (li, layer) in self.layers.iter().enumerate() {
            rms_norm(x, &layer.attn_norm, c.rms_norm_eps, xn);
            layer.qkv.forward(xn, qkv)?;
            q.clear();
            k.clear();
            v.clear();
            for row in qkv.chunks_exact(q_dim + 2 * kv_dim) {
                q.extend_from_slice(&row[..q_dim]);
                k.extend_from_slice(&row[q_dim..q_dim + kv_dim]);
                v.extend_from_slice(&row[q_dim + kv_dim..]);
            }
            if let Some([nq, nk]) = &layer.qk_norm {
                norm_in_place(q, nq, c.rms_norm_eps);
                norm_in_place(k, nk, c.rms_norm_eps);
            }
            self.rope.apply(q, &cos, &sin);
            self.rope.apply(k, &cos, &sin);
            kv.write_and_attend(&self.backend, li, k, v, q, attn, &args, &batch.slot_mapping)?;
            layer.o_proj.forward(attn, tmp)?;
            add_in_place(x, tmp);
            rms_norm(x, &layer.mlp_norm, c.rms_norm_eps, xn);
            layer.gate_up.forward(xn, tmp)?;
            silu_mul(tmp, c.intermediate_size, act);
            layer.down.forward(act, tmp)?;
            add_in_place(x, tmp);
        }
        let mut last = Vec::with_capacity(batch.logits_rows.len() * h);
        for &r in &batch.logits_rows {
            let row = x.get(r as usize * h..(r as usize + 1) * h).ok_or_else(|| {
                EngineError::Forward(format!("logits row {r} is outside the batch of {t} tokens"))
            })?;
            last.extend_from_slice(row);
        }
        self.scratch = s;
        let mut normed = vec![0.0; last.len()];
        rms_norm(&last, &self.final_norm, c.rms_norm_eps, &mut normed);
        let mut data = Vec::new();
        self.lm_head.forward(&normed, &mut data)?;
        Ok(Logits {
            data,
            vocab_size: c.vocab_size,
        })
    }
}
