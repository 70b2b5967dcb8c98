//! The paged KV cache's bookkeeping: which block holds which tokens of which sequence, and which
//! full blocks can be shared through automatic prefix caching.
//!
//! Model-independent: the KV tensors live with the model runner, which addresses them by the
//! [`BlockId`]s handed out here.
//!
//! | file | holds |
//! |---|---|
//! | `block.rs` | [`BlockId`], [`TokenId`], [`BlockHash`] |
//! | `config.rs` | [`KvCacheConfig`]: blocks from a byte budget |
//! | `free_queue.rs` | [`FreeQueue`]: LRU free list, O(1) |
//! | `block_pool.rs` | [`BlockPool`]: ref counts, hash → block map, evict on reallocate |
//! | `hash.rs` | [`BlockHasher`]: chained xxh3-128 block hashes, [`ExtraKeys`] |
//! | `prefix.rs` | longest cached prefix, [`PrefixHit`] |
//! | `manager.rs` | [`KvCacheManager`] and its RAII block tables, [`KvBlocks`] |
//! | `stats.rs` | [`PrefixCacheStats`] |

pub mod block;
pub mod block_pool;
pub mod config;
pub mod free_queue;
pub mod hash;
pub mod manager;
pub mod prefix;
pub mod stats;

pub use block::{BlockHash, BlockId, TokenId};
pub use block_pool::BlockPool;
pub use config::{KvCacheConfig, KvShape, PrefixCaching};
pub use free_queue::FreeQueue;
pub use hash::{
    AdapterId, BlockHasher, CacheSalt, ExtraKeys, HashSeed, MultiModalHash, MultiModalSpan,
};
pub use manager::{KvBlocks, KvCacheManager, SeqTokens};
pub use prefix::PrefixHit;
pub use stats::PrefixCacheStats;
