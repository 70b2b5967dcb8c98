//! The block pool: every KV cache block, preallocated, with reference counts and the prefix cache's
//! hash → block map.
//!
//! # Design
//!
//! - **Preallocated, index-based.** `num_blocks` metadata entries live in one vector indexed by
//!   [`BlockId`]; nothing is allocated per request. The KV tensors themselves belong to the model
//!   runner, which addresses them by the same ids.
//! - **Reference counts.** A block is *used* while its count is > 0: one reference per sequence
//!   whose block table holds it (a prefix-cache hit or an `n > 1` fork shares a block by adding a
//!   reference). At 0 it goes to the back of the [`FreeQueue`].
//! - **Cached free blocks.** A full block keeps its hash when freed, so it stays findable until it
//!   is handed out again: the free queue is at once the free list and the LRU eviction order. A
//!   hit on a free block ([`touch`](BlockPool::touch)) takes it out of the queue.
//! - **Evict on reallocate.** [`allocate`](BlockPool::allocate) pops the least recently used free
//!   block; if it still carries a hash, the hash leaves the map there and then (one eviction).
//! - **No duplicates in the map.** Two sequences may compute the same full block at the same time;
//!   the second [`cache`](BlockPool::cache) call is refused, its block stays unhashed and simply
//!   becomes a plain free block when released. Block tables stay append-only (vLLM v1 makes the
//!   same choice).
//! - **No null block.** Nothing here needs a placeholder (vLLM uses one for sliding-window and
//!   skipped blocks); add it with those features.
//!
//! Invariant (checked by [`assert_invariants`](BlockPool::assert_invariants)): a block is in the
//! free queue exactly when its reference count is 0, and a block carries hash `h` exactly when the
//! map sends `h` to it.
//!
//! # Cost
//!
//! Every operation is O(1): `allocate`, `touch`, `release` (intrusive list links, no search),
//! `lookup`, `cache` and eviction (one hash-map operation on a pre-hashed key). Only the
//! diagnostics (`free_blocks`, `assert_invariants`) walk the pool.

use crate::kv_cache::block::{BlockHash, BlockId};
use crate::kv_cache::free_queue::FreeQueue;
use crate::kv_cache::hash::BlockHashMap;

#[derive(Clone, Copy, Debug, Default)]
struct BlockMeta {
    ref_count: u32,
    /// Set only while the cache map points at this block.
    hash: Option<BlockHash>,
}

/// All KV cache blocks with their reference counts, free queue and prefix-cache map.
#[derive(Clone, Debug)]
pub struct BlockPool {
    blocks: Vec<BlockMeta>,
    free: FreeQueue,
    cached: BlockHashMap<BlockId>,
    caching: bool,
    evictions: u64,
}

impl BlockPool {
    /// A pool of `num_blocks` free blocks. With `caching` off, [`cache`](Self::cache) is a no-op
    /// and lookups never hit.
    ///
    /// # Panics
    /// If `num_blocks` does not fit the `u32` block id space.
    pub fn new(num_blocks: usize, caching: bool) -> Self {
        Self {
            blocks: vec![BlockMeta::default(); num_blocks],
            free: FreeQueue::new_full(num_blocks),
            cached: BlockHashMap::default(),
            caching,
            evictions: 0,
        }
    }

    /// Total number of blocks.
    #[inline]
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Blocks with no reference (including cached ones that can still be hit or evicted).
    #[inline]
    pub fn num_free(&self) -> usize {
        self.free.len()
    }

    /// Blocks with at least one reference.
    #[inline]
    pub fn num_used(&self) -> usize {
        self.blocks.len() - self.free.len()
    }

    /// Blocks currently findable through the prefix cache (used or free).
    #[inline]
    pub fn num_cached(&self) -> usize {
        self.cached.len()
    }

    /// Cached blocks evicted so far (a free block handed out while it still held a hash).
    #[inline]
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Whether prefix caching is on.
    #[inline]
    pub fn caching_enabled(&self) -> bool {
        self.caching
    }

    /// References to `id`.
    #[inline]
    pub fn ref_count(&self, id: BlockId) -> u32 {
        self.blocks[id.index()].ref_count
    }

    /// The hash `id` is cached under, if any.
    #[inline]
    pub fn hash_of(&self, id: BlockId) -> Option<BlockHash> {
        self.blocks[id.index()].hash
    }

    /// Sum of all reference counts (for leak checks: equals the total length of all live block
    /// tables).
    pub fn total_refs(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.ref_count)).sum()
    }

    /// Takes the least recently used free block (evicting its cached hash, if any) with one
    /// reference. `None` when every block is in use. O(1).
    pub fn allocate(&mut self) -> Option<BlockId> {
        let id = self.free.pop_front()?;
        let meta = &mut self.blocks[id.index()];
        debug_assert_eq!(meta.ref_count, 0, "{id} was free with references");
        if let Some(hash) = meta.hash.take() {
            self.cached.remove(&hash);
            self.evictions += 1;
        }
        meta.ref_count = 1;
        Some(id)
    }

    /// Appends `n` fresh blocks to `out`, or changes nothing and returns `false` when fewer than
    /// `n` blocks are free.
    pub fn allocate_into(&mut self, n: usize, out: &mut Vec<BlockId>) -> bool {
        if n > self.free.len() {
            return false;
        }
        out.reserve(n);
        for _ in 0..n {
            if let Some(id) = self.allocate() {
                out.push(id);
            }
        }
        true
    }

    /// Adds a reference to `id` (a prefix-cache hit or a shared fork), taking it out of the free
    /// queue if it was free. O(1).
    pub fn touch(&mut self, id: BlockId) {
        let meta = &mut self.blocks[id.index()];
        if meta.ref_count == 0 {
            self.free.remove(id);
        }
        meta.ref_count += 1;
    }

    /// Drops one reference to `id`; at zero the block joins the back of the free queue, keeping
    /// its cached hash. O(1).
    ///
    /// # Panics
    /// If `id` has no reference: a double free is a bookkeeping bug.
    pub fn release(&mut self, id: BlockId) {
        let meta = &mut self.blocks[id.index()];
        assert!(
            meta.ref_count > 0,
            "release of {id}, which has no reference"
        );
        meta.ref_count -= 1;
        if meta.ref_count == 0 {
            self.free.push_back(id);
        }
    }

    /// The block cached under `hash`, used or free. O(1).
    #[inline]
    pub fn lookup(&self, hash: BlockHash) -> Option<BlockId> {
        self.cached.get(&hash).copied()
    }

    /// Registers the full, referenced block `id` under `hash`. Returns `false` (and changes
    /// nothing) when caching is off, the hash is already cached (by this or another block), or
    /// `id` already has a hash. O(1).
    pub fn cache(&mut self, id: BlockId, hash: BlockHash) -> bool {
        let meta = &mut self.blocks[id.index()];
        debug_assert!(meta.ref_count > 0, "caching {id}, which nobody holds");
        if !self.caching || meta.hash.is_some() {
            return false;
        }
        match self.cached.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
                meta.hash = Some(hash);
                true
            }
        }
    }

    /// Withdraws `id` from the cache (its KV will not be valid after all). Returns whether it was
    /// cached. O(1).
    pub fn uncache(&mut self, id: BlockId) -> bool {
        match self.blocks[id.index()].hash.take() {
            Some(hash) => {
                self.cached.remove(&hash);
                true
            }
            None => false,
        }
    }

    /// Free blocks from next-to-evict to most recently freed. O(free).
    pub fn free_blocks(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.free.iter()
    }

    /// Checks the pool's internal invariants. O(num_blocks); meant for tests and debugging.
    ///
    /// # Panics
    /// With a description of the first broken invariant: the free queue holds exactly the blocks
    /// with no reference, and block `b` has hash `h` exactly when the cache map sends `h` to `b`.
    pub fn assert_invariants(&self) {
        let mut in_queue = vec![false; self.blocks.len()];
        for id in self.free.iter() {
            assert!(
                !in_queue[id.index()],
                "{id} appears twice in the free queue"
            );
            in_queue[id.index()] = true;
        }
        for (i, meta) in self.blocks.iter().enumerate() {
            let id = BlockId(i as u32);
            assert_eq!(
                in_queue[i],
                meta.ref_count == 0,
                "{id}: in free queue = {}, ref count = {}",
                in_queue[i],
                meta.ref_count
            );
            if let Some(hash) = meta.hash {
                assert_eq!(self.cached.get(&hash), Some(&id), "{id} has a stale hash");
            }
        }
        for (hash, id) in &self.cached {
            assert_eq!(
                self.blocks[id.index()].hash,
                Some(*hash),
                "map entry for {id} is stale"
            );
        }
        assert_eq!(self.free.len(), in_queue.iter().filter(|&&f| f).count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_until_empty_then_release_in_lru_order() {
        let mut pool = BlockPool::new(3, true);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        let c = pool.allocate().unwrap();
        assert_eq!(pool.allocate(), None);
        pool.release(b);
        pool.release(a);
        pool.release(c);
        let order: Vec<_> = pool.free_blocks().collect();
        assert_eq!(order, [b, a, c]);
        pool.assert_invariants();
    }

    #[test]
    fn cached_free_block_is_hit_then_evicted_on_reallocate() {
        let mut pool = BlockPool::new(2, true);
        let a = pool.allocate().unwrap();
        assert!(pool.cache(a, BlockHash(42)));
        pool.release(a);
        assert_eq!(pool.lookup(BlockHash(42)), Some(a));
        pool.touch(a);
        assert_eq!(pool.num_free(), 1);
        pool.release(a);
        // Block 1 is older in the queue, so it goes first; then `a` is evicted.
        let first = pool.allocate().unwrap();
        assert_ne!(first, a);
        assert_eq!(pool.evictions(), 0);
        assert_eq!(pool.allocate(), Some(a));
        assert_eq!(pool.evictions(), 1);
        assert_eq!(pool.lookup(BlockHash(42)), None);
        pool.assert_invariants();
    }

    #[test]
    fn duplicate_hash_is_refused_and_disabled_cache_is_noop() {
        let mut pool = BlockPool::new(2, true);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert!(pool.cache(a, BlockHash(1)));
        assert!(!pool.cache(b, BlockHash(1)));
        assert_eq!(pool.hash_of(b), None);
        assert!(pool.uncache(a));
        assert_eq!(pool.lookup(BlockHash(1)), None);

        let mut off = BlockPool::new(1, false);
        let c = off.allocate().unwrap();
        assert!(!off.cache(c, BlockHash(1)));
        assert_eq!(off.num_cached(), 0);
    }

    #[test]
    fn allocate_into_is_all_or_nothing() {
        let mut pool = BlockPool::new(2, false);
        let mut out = Vec::new();
        assert!(!pool.allocate_into(3, &mut out));
        assert!(out.is_empty());
        assert!(pool.allocate_into(2, &mut out));
        assert_eq!(out.len(), 2);
        assert_eq!(pool.total_refs(), 2);
    }

    #[test]
    #[should_panic(expected = "has no reference")]
    fn double_release_panics() {
        let mut pool = BlockPool::new(1, false);
        let a = pool.allocate().unwrap();
        pool.release(a);
        pool.release(a);
    }
}
