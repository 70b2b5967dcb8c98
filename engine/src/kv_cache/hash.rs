//! Block hashing for automatic prefix caching.
//!
//! A full block's hash is `H(parent hash, the block's token ids, extra keys)`: chaining through the
//! parent makes a hash identify the whole prefix up to the end of the block, so one hash-map probe
//! per block finds the longest cached prefix. Only full blocks are hashed; a partial block never
//! enters the cache.
//!
//! # Function: xxh3-128 (the `xxhash-rust` crate)
//!
//! - **Speed.** xxh3 runs at tens of GB/s on inputs of this size; a 16-token block is ~80 bytes
//!   (16-byte parent + 64 bytes of token ids), about 1–2 ns per token including the encoding here.
//!   The target is ≤ 100 ns per token; vLLM's default sha256 costs 100–200 ns per token.
//! - **Collisions.** The cache trusts equal hashes without comparing tokens, so a collision
//!   silently serves another prefix's KV. With 128 bits, the chance that any lookup among `q`
//!   lookups against `n` cached blocks collides is about `q·n / 2^128`: nil even at `q = 10^15`,
//!   `n = 10^7`. 64 bits would leave that at ~`10^-1`, so we pay the (negligible) extra width.
//! - **Not cryptographic.** xxh3 is not collision-resistant against an adversary who picks
//!   prompts. That matters only when tenants must not learn about each other's prompts through
//!   cache timing; for that, give each tenant a [`CacheSalt`] (vLLM's `cache_salt`) and a secret
//!   per-process [`HashSeed`]. A sha256 option can be added behind the same [`BlockHasher`] if a
//!   deployment needs it.
//!
//! # Extra keys
//!
//! Request-wide keys (cache salt, adapter) are mixed into the first block only: every later block
//! chains through it, so they reach every hash. A multimodal item is mixed into each block its
//! placeholder tokens overlap, with the block's offset inside the item, so two images behind the
//! same placeholder tokens never share KV.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::kv_cache::block::{BlockHash, TokenId};

/// Seed of the block hash (vLLM's `NONE_HASH` source). Same seed, same hashes: keep it fixed for
/// reproducible runs, or draw it per process so hashes cannot be predicted from outside.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HashSeed(pub u64);

/// A per-tenant (or per-request) salt: requests with different salts never share cached blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheSalt(pub u128);

impl CacheSalt {
    /// The salt for a user-supplied string (OpenAI-style `cache_salt`).
    pub fn new(salt: &str) -> Self {
        Self(xxh3_128_with_seed(salt.as_bytes(), 0x5a17))
    }
}

/// Identifies a LoRA adapter (or any weight variant): KV computed under one adapter is not valid
/// under another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AdapterId(pub u32);

/// Content hash of one multimodal input (an image, an audio clip).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MultiModalHash(pub u128);

/// Where a multimodal item's placeholder tokens sit in the prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MultiModalSpan {
    /// The item's content hash.
    pub hash: MultiModalHash,
    /// Position of its first placeholder token.
    pub start: usize,
    /// Number of placeholder tokens.
    pub len: usize,
}

/// Everything besides token ids that decides whether two sequences' KV is interchangeable.
/// The default (no salt, no adapter, no multimodal items) is the common case and costs nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtraKeys {
    /// Isolates tenants: only requests with the same salt share blocks.
    pub cache_salt: Option<CacheSalt>,
    /// The adapter the KV is computed under.
    pub adapter: Option<AdapterId>,
    /// Multimodal items in the prompt.
    pub multimodal: Vec<MultiModalSpan>,
}

const TAG_SALT: u8 = 1;
const TAG_ADAPTER: u8 = 2;
const TAG_MULTIMODAL: u8 = 3;

/// Computes chained block hashes; owns a scratch buffer so hashing never allocates once warm.
#[derive(Clone, Debug)]
pub struct BlockHasher {
    seed: u64,
    none_hash: u128,
    scratch: Vec<u8>,
}

impl BlockHasher {
    /// A hasher with the given seed.
    pub fn new(seed: HashSeed) -> Self {
        Self {
            seed: seed.0,
            none_hash: xxh3_128_with_seed(b"dyno/kv-cache/none-hash", seed.0),
            scratch: Vec::with_capacity(256),
        }
    }

    /// Hash of block number `block_index` holding `tokens` (a full block), chained to `parent`
    /// (`None` for the first block).
    pub fn hash_block(
        &mut self,
        parent: Option<BlockHash>,
        block_index: usize,
        tokens: &[TokenId],
        extra: &ExtraKeys,
    ) -> BlockHash {
        let buf = &mut self.scratch;
        buf.clear();
        buf.extend_from_slice(&parent.map_or(self.none_hash, |p| p.0).to_le_bytes());
        for t in tokens {
            buf.extend_from_slice(&t.0.to_le_bytes());
        }
        if block_index == 0 {
            if let Some(salt) = extra.cache_salt {
                buf.push(TAG_SALT);
                buf.extend_from_slice(&salt.0.to_le_bytes());
            }
            if let Some(adapter) = extra.adapter {
                buf.push(TAG_ADAPTER);
                buf.extend_from_slice(&adapter.0.to_le_bytes());
            }
        }
        let start = block_index * tokens.len();
        let end = start + tokens.len();
        for span in &extra.multimodal {
            if span.start < end && start < span.start + span.len {
                buf.push(TAG_MULTIMODAL);
                buf.extend_from_slice(&span.hash.0.to_le_bytes());
                let offset = start as i64 - span.start as i64;
                buf.extend_from_slice(&offset.to_le_bytes());
            }
        }
        BlockHash(xxh3_128_with_seed(buf, self.seed))
    }

    /// Extends `hashes` (the chain for this sequence so far) with the hashes of every further
    /// full block of `tokens`. Incremental: call again as the sequence grows and only the new full
    /// blocks are hashed.
    pub fn extend_chain(
        &mut self,
        tokens: &[TokenId],
        block_size: usize,
        extra: &ExtraKeys,
        hashes: &mut Vec<BlockHash>,
    ) {
        let full = tokens.len() / block_size;
        for index in hashes.len()..full {
            let parent = hashes.last().copied();
            let block = &tokens[index * block_size..(index + 1) * block_size];
            let hash = self.hash_block(parent, index, block, extra);
            hashes.push(hash);
        }
    }
}

/// A `Hasher` for keys that already are uniformly distributed hashes: folds the 128 bits to 64
/// instead of hashing them again (SipHash would cost more than the xxh3 that made them).
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for key types other than `BlockHash`; an FNV-style fold keeps it correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

/// A hash map keyed by [`BlockHash`] without re-hashing the key.
pub type BlockHashMap<V> = HashMap<BlockHash, V, BuildHasherDefault<PassThroughHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(v: &[u32]) -> Vec<TokenId> {
        v.iter().copied().map(TokenId).collect()
    }

    #[test]
    fn chain_depends_on_parent_tokens_and_seed() {
        let mut h = BlockHasher::new(HashSeed(0));
        let none = ExtraKeys::default();
        let a = h.hash_block(None, 0, &toks(&[1, 2]), &none);
        assert_eq!(a, h.hash_block(None, 0, &toks(&[1, 2]), &none));
        assert_ne!(a, h.hash_block(None, 0, &toks(&[2, 1]), &none));
        let b1 = h.hash_block(Some(a), 1, &toks(&[3, 4]), &none);
        let b2 = h.hash_block(None, 1, &toks(&[3, 4]), &none);
        assert_ne!(b1, b2, "parent must matter");
        let mut other = BlockHasher::new(HashSeed(1));
        assert_ne!(a, other.hash_block(None, 0, &toks(&[1, 2]), &none));
    }

    #[test]
    fn extend_chain_is_incremental_and_full_blocks_only() {
        let mut h = BlockHasher::new(HashSeed(7));
        let extra = ExtraKeys::default();
        let tokens = toks(&[1, 2, 3, 4, 5, 6, 7]);
        let mut once = Vec::new();
        h.extend_chain(&tokens, 2, &extra, &mut once);
        assert_eq!(once.len(), 3);
        let mut stepwise = Vec::new();
        for n in 0..=tokens.len() {
            h.extend_chain(&tokens[..n], 2, &extra, &mut stepwise);
        }
        assert_eq!(once, stepwise);
    }

    #[test]
    fn salt_and_adapter_reach_every_block() {
        let mut h = BlockHasher::new(HashSeed(0));
        let tokens = toks(&[1, 2, 3, 4]);
        let plain = ExtraKeys::default();
        let salted = ExtraKeys {
            cache_salt: Some(CacheSalt::new("tenant-a")),
            ..ExtraKeys::default()
        };
        let adapted = ExtraKeys {
            adapter: Some(AdapterId(3)),
            ..ExtraKeys::default()
        };
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        h.extend_chain(&tokens, 2, &plain, &mut a);
        h.extend_chain(&tokens, 2, &salted, &mut b);
        h.extend_chain(&tokens, 2, &adapted, &mut c);
        for i in 0..2 {
            assert_ne!(a[i], b[i]);
            assert_ne!(a[i], c[i]);
            assert_ne!(b[i], c[i]);
        }
    }

    #[test]
    fn multimodal_item_changes_only_overlapped_blocks() {
        let mut h = BlockHasher::new(HashSeed(0));
        let tokens = toks(&[9; 6]);
        let image = |hash| ExtraKeys {
            multimodal: vec![MultiModalSpan {
                hash: MultiModalHash(hash),
                start: 2,
                len: 2,
            }],
            ..ExtraKeys::default()
        };
        let (mut a, mut b, mut none) = (Vec::new(), Vec::new(), Vec::new());
        h.extend_chain(&tokens, 2, &image(1), &mut a);
        h.extend_chain(&tokens, 2, &image(2), &mut b);
        h.extend_chain(&tokens, 2, &ExtraKeys::default(), &mut none);
        assert_eq!(a[0], b[0], "block 0 does not overlap the image");
        assert_eq!(a[0], none[0]);
        assert_ne!(a[1], b[1], "block 1 holds the image's placeholders");
    }

    #[test]
    fn pass_through_map_finds_keys() {
        let mut map = BlockHashMap::default();
        for i in 0..100u128 {
            map.insert(BlockHash(i * 0x9e37_79b9_7f4a_7c15), i);
        }
        assert_eq!(map.get(&BlockHash(5 * 0x9e37_79b9_7f4a_7c15)), Some(&5));
    }
}
