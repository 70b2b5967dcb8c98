//! The model layer: a Llama-family decoder whose attention runs over the paged KV cache.
//!
//! | file | holds |
//! |---|---|
//! | `config.rs` | [`ModelConfig`] from a Hugging Face `config.json` |
//! | `dtype.rs` | [`ModelDtype`] (`--dtype`) and [`WeightDtype`] (f32 or bf16 linear weights) |
//! | `batch.rs` | [`BatchInput`] (flattened varlen step) and [`Logits`] |
//! | `kv.rs` | [`KvCache`]: per-layer K/V tensors in the kernels' paged layout |
//! | `weights.rs` | [`Weights`]: host-side weights every loader produces |
//! | `llama.rs` | [`LlamaModel`]: the paged forward |
//! | `layers/` | RMSNorm, RoPE, [`Linear`] (over the packed-panel matmul of `gemm/`) |
//! | `gemm/` | the packed-panel AVX-512 matmul every linear layer runs |
//! | `gemv/` | the row-major weight-streaming GEMV (f32 or bf16): the bandwidth-floor reference of the benches and the `gemv_bandwidth` example |
//! | `reference.rs` | a dense-attention forward written for clarity, the parity oracle |
//! | `loader/` | HF directories, llama2.c checkpoints, `--load-format dummy`, built-in `tiny` |
//! | `generate.rs` | [`generate_greedy`]: a synchronous greedy loop through the real KV manager |

mod batch;
mod config;
mod dtype;
pub mod gemm;
pub mod gemv;
mod generate;
mod kv;
pub mod layers;
mod llama;
pub mod loader;
pub mod reference;
mod rng;
mod weights;

pub use batch::{BatchInput, Logits};
pub use config::{ModelConfig, RopeScaling, RopeStyle, SUPPORTED_ARCHITECTURES};
pub use dtype::{ModelDtype, ParseDtypeError, WeightDtype};
pub use generate::{GenerateOptions, Generation, generate_greedy, generate_greedy_tokens};
pub use kv::{KvCache, KvDtype, kv_shape};
pub use layers::Linear;
pub use llama::LlamaModel;
pub use loader::{LoadFormat, LoadOptions, LoadedModel, load_model};
pub use weights::{LayerWeights, Weights};

use crate::error::Result;

/// A decoder that computes one engine step: the scheduled tokens of every sequence, flattened
/// ([`BatchInput`]), against the paged [`KvCache`].
pub trait Model: Send {
    /// The model's shape.
    fn config(&self) -> &ModelConfig;

    /// Writes the step's K/V into `kv` at `batch.slot_mapping` and returns the logits of the rows
    /// in `batch.logits_rows` (the last token of each sequence that samples).
    ///
    /// # Errors
    /// [`crate::EngineError::Forward`] on a kernel failure or inconsistent batch metadata.
    fn forward(&mut self, batch: &BatchInput, kv: &mut KvCache) -> Result<Logits>;
}
