//! KV cache sizing: how many blocks a byte budget buys, and whether prefix caching is on.

use crate::error::{EngineError, Result};
use crate::kv_cache::hash::HashSeed;

/// The per-token shape of the KV cache: what one token position costs across all layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    /// Transformer layers.
    pub num_layers: usize,
    /// Key/value heads per layer (fewer than query heads under GQA).
    pub num_kv_heads: usize,
    /// Dimension of one head.
    pub head_size: usize,
    /// Bytes per element (4 for f32, 2 for bf16/f16).
    pub dtype_bytes: usize,
}

impl KvShape {
    /// One byte per token position: lets tests and benches size a cache by block count.
    pub const UNIT: Self = Self {
        num_layers: 1,
        num_kv_heads: 1,
        head_size: 1,
        dtype_bytes: 1,
    };

    /// Bytes one token position takes: keys and values, every layer.
    pub fn bytes_per_token(&self) -> u64 {
        2 * (self.num_layers * self.num_kv_heads * self.head_size * self.dtype_bytes) as u64
    }

    fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("num_layers", self.num_layers),
            ("num_kv_heads", self.num_kv_heads),
            ("head_size", self.head_size),
            ("dtype_bytes", self.dtype_bytes),
        ] {
            if value == 0 {
                return Err(EngineError::InvalidKvShape { field });
            }
        }
        Ok(())
    }
}

/// Automatic prefix caching: on by default, as in vLLM v1 (`--no-enable-prefix-caching` turns it
/// off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixCaching {
    /// Full blocks are hashed and reused across requests.
    Enabled {
        /// Seed of the block hash; see [`HashSeed`].
        seed: HashSeed,
    },
    /// No hashing, no reuse: every request computes its whole prompt.
    Disabled,
}

impl Default for PrefixCaching {
    fn default() -> Self {
        Self::Enabled {
            seed: HashSeed::default(),
        }
    }
}

/// A validated KV cache configuration (`--kv-cache-memory`, `--block-size`, the model's KV shape,
/// `--enable-prefix-caching`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCacheConfig {
    kv_cache_memory: u64,
    block_size: usize,
    shape: KvShape,
    prefix_caching: PrefixCaching,
}

impl KvCacheConfig {
    /// vLLM's default `--block-size`.
    pub const DEFAULT_BLOCK_SIZE: usize = 16;

    /// A cache of `kv_cache_memory` bytes (`--kv-cache-memory`) in blocks of `block_size` tokens
    /// for a model with the given KV shape; prefix caching on.
    ///
    /// # Errors
    /// A zero block size or shape dimension, a budget below one block, or more blocks than a
    /// `u32` block id can name.
    pub fn try_new(kv_cache_memory: u64, block_size: usize, shape: KvShape) -> Result<Self> {
        if block_size == 0 {
            return Err(EngineError::InvalidBlockSize { block_size });
        }
        shape.validate()?;
        let config = Self {
            kv_cache_memory,
            block_size,
            shape,
            prefix_caching: PrefixCaching::default(),
        };
        let num_blocks = kv_cache_memory / config.block_bytes();
        if num_blocks == 0 {
            return Err(EngineError::KvCacheTooSmall {
                kv_cache_memory,
                block_bytes: config.block_bytes(),
            });
        }
        if num_blocks >= u64::from(u32::MAX - 2) {
            return Err(EngineError::TooManyBlocks { num_blocks });
        }
        Ok(config)
    }

    /// A cache of exactly `num_blocks` blocks ([`KvShape::UNIT`]), for tests and benches.
    ///
    /// # Errors
    /// As [`try_new`](Self::try_new).
    pub fn with_num_blocks(num_blocks: usize, block_size: usize) -> Result<Self> {
        let block_bytes = KvShape::UNIT.bytes_per_token() * block_size as u64;
        Self::try_new(num_blocks as u64 * block_bytes, block_size, KvShape::UNIT)
    }

    /// The same configuration with prefix caching set as given.
    pub fn with_prefix_caching(mut self, prefix_caching: PrefixCaching) -> Self {
        self.prefix_caching = prefix_caching;
        self
    }

    /// Bytes one block takes: `2 × layers × kv heads × head size × dtype bytes × block size`.
    pub fn block_bytes(&self) -> u64 {
        self.shape.bytes_per_token() * self.block_size as u64
    }

    /// Blocks the budget holds (rounded down; the pool never exceeds the budget).
    pub fn num_blocks(&self) -> usize {
        (self.kv_cache_memory / self.block_bytes()) as usize
    }

    /// Token positions the whole cache holds.
    pub fn num_token_slots(&self) -> usize {
        self.num_blocks() * self.block_size
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The budget in bytes.
    pub fn kv_cache_memory(&self) -> u64 {
        self.kv_cache_memory
    }

    /// The model's KV shape.
    pub fn shape(&self) -> KvShape {
        self.shape
    }

    /// Whether and how prefix caching runs.
    pub fn prefix_caching(&self) -> PrefixCaching {
        self.prefix_caching
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_8b_shape_in_one_gib() {
        // 32 layers × 8 KV heads × 128 × bf16 = 128 KiB per token, 2 MiB per 16-token block.
        let shape = KvShape {
            num_layers: 32,
            num_kv_heads: 8,
            head_size: 128,
            dtype_bytes: 2,
        };
        let config = KvCacheConfig::try_new(1 << 30, 16, shape).unwrap();
        assert_eq!(config.block_bytes(), 2 << 20);
        assert_eq!(config.num_blocks(), 512);
        assert_eq!(config.num_token_slots(), 8192);
        assert!(matches!(
            config.prefix_caching(),
            PrefixCaching::Enabled { .. }
        ));
    }

    #[test]
    fn rejects_bad_sizes_with_fixes() {
        let err = KvCacheConfig::try_new(10, 16, KvShape::UNIT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--kv-cache-memory 10 bytes holds no 32-byte block; raise it to at least 32 bytes"
        );
        assert_eq!(
            KvCacheConfig::try_new(1 << 20, 0, KvShape::UNIT),
            Err(EngineError::InvalidBlockSize { block_size: 0 })
        );
        let zero_heads = KvShape {
            num_kv_heads: 0,
            ..KvShape::UNIT
        };
        assert_eq!(
            KvCacheConfig::try_new(1 << 20, 16, zero_heads),
            Err(EngineError::InvalidKvShape {
                field: "num_kv_heads"
            })
        );
    }

    #[test]
    fn with_num_blocks_is_exact() {
        let config = KvCacheConfig::with_num_blocks(7, 4).unwrap();
        assert_eq!(config.num_blocks(), 7);
        let off = config.with_prefix_caching(PrefixCaching::Disabled);
        assert_eq!(off.prefix_caching(), PrefixCaching::Disabled);
    }
}
