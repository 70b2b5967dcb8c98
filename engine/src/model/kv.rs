//! [`KvCache`]: the K/V tensors of every layer in the kernels' paged layout
//! `[num_blocks, num_kv_heads, block_size, head_size]`, addressed by the
//! [`KvCacheManager`](crate::KvCacheManager)'s block ids.

use dyno_kernels::paged_attention::{PagedAttentionArgs, ReshapeAndCacheArgs};
use dyno_kernels::{CpuBackend, FloatElem, PagedAttentionOp};
use half::{bf16, f16};

use super::config::ModelConfig;
use crate::error::{EngineError, Result};
use crate::kv_cache::{KvCacheConfig, KvShape};

/// Storage type of the KV cache (`--kv-cache-dtype`); compute is f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvDtype {
    /// 4 bytes per element.
    #[default]
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl KvDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            KvDtype::F32 => 4,
            KvDtype::F16 | KvDtype::Bf16 => 2,
        }
    }
}

#[derive(Debug)]
enum LayerKv {
    F32(Vec<f32>, Vec<f32>),
    F16(Vec<f16>, Vec<f16>),
    Bf16(Vec<bf16>, Vec<bf16>),
}

/// Per-layer K and V buffers for `num_blocks` blocks of `block_size` tokens.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<LayerKv>,
    num_blocks: usize,
    block_size: usize,
    num_kv_heads: usize,
    head_size: usize,
    dtype: KvDtype,
}

/// The per-token KV shape of `config` stored as `dtype`, for [`KvCacheConfig::try_new`].
pub fn kv_shape(config: &ModelConfig, dtype: KvDtype) -> KvShape {
    KvShape {
        num_layers: config.num_layers,
        num_kv_heads: config.num_kv_heads,
        head_size: config.head_dim,
        dtype_bytes: dtype.size(),
    }
}

/// `n` copies of `zero` with every page written once (`vec![zero; n]` alone comes from the
/// allocator's zeroed pages, which the OS maps only when first touched). `black_box` hides the
/// stored value, so the compiler cannot drop the stores as redundant.
fn resident<T: Copy>(n: usize, zero: T) -> Vec<T> {
    let mut v = vec![zero; n];
    let per_page = (4096 / size_of::<T>().max(1)).max(1);
    for i in (0..n).step_by(per_page) {
        v[i] = std::hint::black_box(zero);
    }
    v
}

impl KvCache {
    /// Zeroed buffers for `num_blocks` blocks, written once so the memory is resident from the
    /// start (as a GPU engine allocates its KV cache up front): the prefix cache's LRU reuse
    /// touches every block sooner or later, and a lazily mapped cache would make resident memory
    /// creep for the whole first pass over the pool instead of staying flat.
    ///
    /// # Errors
    /// [`EngineError::InvalidBlockSize`] for a block size of 0 or above the kernels' limit.
    pub fn new(
        config: &ModelConfig,
        num_blocks: usize,
        block_size: usize,
        dtype: KvDtype,
    ) -> Result<Self> {
        if block_size == 0 || block_size > dyno_kernels::paged_attention::MAX_BLOCK_SIZE {
            return Err(EngineError::InvalidBlockSize { block_size });
        }
        let n = num_blocks * config.num_kv_heads * block_size * config.head_dim;
        let layers = (0..config.num_layers)
            .map(|_| match dtype {
                KvDtype::F32 => LayerKv::F32(resident(n, 0.0), resident(n, 0.0)),
                KvDtype::F16 => LayerKv::F16(resident(n, f16::ZERO), resident(n, f16::ZERO)),
                KvDtype::Bf16 => LayerKv::Bf16(resident(n, bf16::ZERO), resident(n, bf16::ZERO)),
            })
            .collect();
        Ok(Self {
            layers,
            num_blocks,
            block_size,
            num_kv_heads: config.num_kv_heads,
            head_size: config.head_dim,
            dtype,
        })
    }

    /// Buffers matching a [`KvCacheConfig`] (its block count and size).
    ///
    /// # Errors
    /// As [`KvCache::new`].
    pub fn for_config(config: &ModelConfig, kv: &KvCacheConfig, dtype: KvDtype) -> Result<Self> {
        Self::new(config, kv.num_blocks(), kv.block_size(), dtype)
    }

    /// Blocks per layer.
    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Storage type.
    pub fn dtype(&self) -> KvDtype {
        self.dtype
    }

    /// Bytes held by all layers' K and V.
    pub fn num_bytes(&self) -> usize {
        2 * self.layers.len()
            * self.num_blocks
            * self.num_kv_heads
            * self.block_size
            * self.head_size
            * self.dtype.size()
    }

    /// Writes `key`/`value` (`[tokens, kv_heads × head]`) of `layer` into their slots, then attends
    /// `query` (`[tokens, heads × head]`) over the cache into `out`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_and_attend(
        &mut self,
        backend: &CpuBackend,
        layer: usize,
        key: &Vec<f32>,
        value: &Vec<f32>,
        query: &Vec<f32>,
        out: &mut Vec<f32>,
        args: &PagedAttentionArgs<'_>,
        slot_mapping: &[i64],
    ) -> Result<()> {
        let cache_args = ReshapeAndCacheArgs {
            num_tokens: slot_mapping.len(),
            num_kv_heads: self.num_kv_heads,
            head_size: self.head_size,
            block_size: self.block_size,
            num_blocks: self.num_blocks,
            slot_mapping,
        };
        let layer = self
            .layers
            .get_mut(layer)
            .ok_or_else(|| EngineError::Forward(format!("kv cache has no layer {layer}")))?;
        match layer {
            LayerKv::F32(k, v) => run(backend, k, v, key, value, query, out, &cache_args, args),
            LayerKv::F16(k, v) => run(backend, k, v, key, value, query, out, &cache_args, args),
            LayerKv::Bf16(k, v) => run(backend, k, v, key, value, query, out, &cache_args, args),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run<T: FloatElem>(
    backend: &CpuBackend,
    key_cache: &mut Vec<T>,
    value_cache: &mut Vec<T>,
    key: &Vec<f32>,
    value: &Vec<f32>,
    query: &Vec<f32>,
    out: &mut Vec<f32>,
    cache_args: &ReshapeAndCacheArgs<'_>,
    args: &PagedAttentionArgs<'_>,
) -> Result<()> {
    backend.reshape_and_cache(key, value, key_cache, value_cache, cache_args)?;
    backend.paged_attention(out, query, key_cache, value_cache, args)?;
    Ok(())
}
