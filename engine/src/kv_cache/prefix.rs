//! Longest cached prefix: the lookup half of automatic prefix caching.
//!
//! A sequence's full blocks are hashed as a chain ([`crate::kv_cache::hash`]), so its cached prefix
//! is the longest run of leading hashes that the pool knows: one O(1) probe per block, stopping at
//! the first miss. Two caps apply:
//!
//! - **Full blocks only.** Partial blocks are never hashed, so a hit is a whole number of blocks.
//! - **Never the last token.** The last known token must be run through the model to get the
//!   logits that sample the next token, so a hit covers at most `num_tokens - 1` tokens, rounded
//!   down to whole blocks (vLLM's `max_cache_hit_length`). When a prompt is an exact multiple of
//!   the block size and fully cached, the last block is recomputed.

use crate::kv_cache::block::{BlockHash, BlockId};
use crate::kv_cache::block_pool::BlockPool;

/// The most blocks a prefix hit may cover for a sequence of `num_tokens` tokens.
#[inline]
pub fn max_hit_blocks(num_tokens: usize, block_size: usize) -> usize {
    num_tokens.saturating_sub(1) / block_size
}

/// Appends to `out` the blocks of the longest run of leading `hashes` cached in `pool`, at most
/// `max_blocks` of them. Touches nothing: the caller takes references only once it commits.
pub fn longest_cached_prefix(
    pool: &BlockPool,
    hashes: &[BlockHash],
    max_blocks: usize,
    out: &mut Vec<BlockId>,
) {
    for &hash in hashes.iter().take(max_blocks) {
        match pool.lookup(hash) {
            Some(id) => out.push(id),
            None => break,
        }
    }
}

/// The result of [`KvCacheManager::lookup_prefix`](crate::kv_cache::KvCacheManager::lookup_prefix):
/// the cached blocks a new sequence can start from, plus its block hashes (kept so admission does
/// not hash twice). Valid only until the manager's next mutation.
#[derive(Debug)]
pub struct PrefixHit {
    pub(crate) blocks: Vec<BlockId>,
    pub(crate) hashes: Vec<BlockHash>,
    pub(crate) block_size: usize,
    pub(crate) epoch: u64,
}

impl PrefixHit {
    /// The cached blocks, in sequence order.
    pub fn blocks(&self) -> &[BlockId] {
        &self.blocks
    }

    /// Tokens whose KV the hit provides (a whole number of blocks, always below the sequence
    /// length).
    pub fn num_tokens(&self) -> usize {
        self.blocks.len() * self.block_size
    }

    /// Hashes of the sequence's full blocks (empty when prefix caching is off).
    pub fn hashes(&self) -> &[BlockHash] {
        &self.hashes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_token_is_never_covered() {
        assert_eq!(max_hit_blocks(0, 4), 0);
        assert_eq!(max_hit_blocks(4, 4), 0);
        assert_eq!(max_hit_blocks(5, 4), 1);
        assert_eq!(max_hit_blocks(8, 4), 1);
        assert_eq!(max_hit_blocks(9, 4), 2);
    }

    #[test]
    fn stops_at_first_miss_and_at_cap() {
        let mut pool = BlockPool::new(4, true);
        let ids: Vec<_> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        pool.cache(ids[0], BlockHash(10));
        pool.cache(ids[1], BlockHash(11));
        pool.cache(ids[2], BlockHash(13));
        let chain = [BlockHash(10), BlockHash(11), BlockHash(12), BlockHash(13)];
        let mut out = Vec::new();
        longest_cached_prefix(&pool, &chain, 10, &mut out);
        assert_eq!(out, &ids[..2]);
        out.clear();
        longest_cached_prefix(&pool, &chain, 1, &mut out);
        assert_eq!(out, &ids[..1]);
    }
}
