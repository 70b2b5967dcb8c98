//! [`KvCacheManager`]: block tables for sequences, on top of the [`BlockPool`] and the prefix cache.
//!
//! The scheduler sees only this API and the opaque [`KvBlocks`] it hands out; pool internals stay
//! private (vLLM's `KVCacheManager` / `KVCacheBlocks` split).
//!
//! # Lifecycle of a sequence's blocks
//!
//! 1. [`lookup_prefix`](KvCacheManager::lookup_prefix): hash the sequence's full blocks and find
//!    the longest cached prefix ([`PrefixHit`]); nothing is taken yet.
//! 2. [`allocate_new`](KvCacheManager::allocate_new): take references on the hit blocks plus
//!    fresh blocks for the tokens scheduled this step, or `None` when the pool is short (nothing
//!    changes then). [`fork`](KvCacheManager::fork) instead starts a table that shares another
//!    sequence's computed blocks (`n > 1` samples).
//! 3. [`allocate_slots`](KvCacheManager::allocate_slots) each later step: append blocks for the new
//!    tokens, or `None` when the pool is short (the scheduler then preempts).
//! 4. [`KvBlocks::set_num_computed_tokens`] after each step, to confirm which blocks now hold KV.
//! 5. Release: [`free`](KvCacheManager::free), or just drop the `KvBlocks` (below).
//!
//! Block tables are append-only: a block never moves or leaves a live table.
//!
//! # Freeing on drop
//!
//! A `KvBlocks` is an RAII guard: dropping it returns its blocks, so a finished, aborted or
//! forgotten sequence cannot leak them, and the scheduler can drop a finished sequence in
//! `update()` without a manager at hand. Since the guard cannot borrow the manager, it sends its
//! table down a channel; the manager takes those back at the start of every `&mut self` method
//! (or on [`reclaim`](KvCacheManager::reclaim)), in drop order. Counters read through `&self`
//! (`num_free_blocks`, …) therefore lag behind drops until the next `&mut self` call.
//! [`free`](KvCacheManager::free) releases at once.
//!
//! Blocks are released in **reverse** table order, so a chain's tail (longest prefix, least likely
//! to be shared) is evicted before its head.
//!
//! # Caching and in-flight blocks
//!
//! A block is offered to the prefix cache as soon as the step that fills it is scheduled (as in
//! vLLM), so another sequence admitted in the same step can share it. The model runner must
//! therefore write every scheduled token's KV for a layer before any attention of that layer
//! reads the cache. If a sequence is released before its step is confirmed (preempted after being
//! scheduled, or aborted), the blocks it offered but never confirmed leave the cache, so garbage
//! KV is never served.

use std::sync::mpsc::{Receiver, Sender, channel};

use crate::kv_cache::block::{BlockHash, BlockId, TokenId, blocks_for_tokens};
use crate::kv_cache::block_pool::BlockPool;
use crate::kv_cache::config::{KvCacheConfig, PrefixCaching};
use crate::kv_cache::hash::{BlockHasher, ExtraKeys, HashSeed};
use crate::kv_cache::prefix::{PrefixHit, longest_cached_prefix, max_hit_blocks};
use crate::kv_cache::stats::PrefixCacheStats;

/// The tokens of a sequence as the KV cache sees them: ids plus the extra hash keys.
#[derive(Clone, Copy, Debug)]
pub struct SeqTokens<'a> {
    /// Every known token (prompt, then outputs so far).
    pub tokens: &'a [TokenId],
    /// Salt, adapter and multimodal keys.
    pub extra: &'a ExtraKeys,
}

#[derive(Debug, Default)]
struct TableState {
    table: Vec<BlockId>,
    /// Chain hashes of the sequence's full blocks known so far (may run past `table`).
    hashes: Vec<BlockHash>,
    /// Leading blocks already offered to the cache (registered, or refused as duplicates).
    num_offered: usize,
    /// Leading blocks whose KV is known to be written.
    num_confirmed: usize,
}

/// One sequence's block table: an opaque, append-only list of blocks, which it returns to the
/// pool when dropped (see the [module docs](self)).
#[derive(Debug)]
pub struct KvBlocks {
    state: TableState,
    block_size: usize,
    returns: Option<Sender<TableState>>,
}

impl KvBlocks {
    /// The block ids, in sequence order (block `i` holds token positions `i·block_size ..`).
    pub fn block_ids(&self) -> &[BlockId] {
        &self.state.table
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.state.table.len()
    }

    /// Whether the table holds no block.
    pub fn is_empty(&self) -> bool {
        self.state.table.is_empty()
    }

    /// Token positions the table can hold.
    pub fn num_slots(&self) -> usize {
        self.state.table.len() * self.block_size
    }

    /// Confirms that the KV of the first `num_computed_tokens` tokens has been written (call after
    /// each model step). Blocks offered to the cache but never confirmed are withdrawn from it when
    /// the table is released.
    pub fn set_num_computed_tokens(&mut self, num_computed_tokens: usize) {
        let confirmed = (num_computed_tokens / self.block_size).min(self.state.table.len());
        self.state.num_confirmed = self.state.num_confirmed.max(confirmed);
    }
}

impl Drop for KvBlocks {
    fn drop(&mut self) {
        if self.state.table.is_empty() {
            return;
        }
        if let Some(returns) = self.returns.take() {
            // The manager is gone when the send fails; its pool went with it, so nothing leaks.
            let _ = returns.send(std::mem::take(&mut self.state));
        }
    }
}

/// Hands out block tables from a fixed pool, with automatic prefix caching.
#[derive(Debug)]
pub struct KvCacheManager {
    pool: BlockPool,
    block_size: usize,
    hasher: BlockHasher,
    stats: PrefixCacheStats,
    /// Bumped by every mutation; a [`PrefixHit`] is valid only for the epoch it was made in.
    epoch: u64,
    returns_tx: Sender<TableState>,
    returns_rx: Receiver<TableState>,
}

impl KvCacheManager {
    /// A manager with `config.num_blocks()` free blocks.
    pub fn new(config: &KvCacheConfig) -> Self {
        let (caching, seed) = match config.prefix_caching() {
            PrefixCaching::Enabled { seed } => (true, seed),
            PrefixCaching::Disabled => (false, HashSeed::default()),
        };
        let (returns_tx, returns_rx) = channel();
        Self {
            pool: BlockPool::new(config.num_blocks(), caching),
            block_size: config.block_size(),
            hasher: BlockHasher::new(seed),
            stats: PrefixCacheStats::default(),
            epoch: 0,
            returns_tx,
            returns_rx,
        }
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the pool.
    pub fn num_blocks(&self) -> usize {
        self.pool.num_blocks()
    }

    /// Free blocks (cached ones included), as of the last `&mut self` call.
    pub fn num_free_blocks(&self) -> usize {
        self.pool.num_free()
    }

    /// Fraction of blocks in use, as of the last `&mut self` call.
    pub fn usage(&self) -> f64 {
        if self.pool.num_blocks() == 0 {
            return 0.0;
        }
        self.pool.num_used() as f64 / self.pool.num_blocks() as f64
    }

    /// Whether prefix caching is on.
    pub fn prefix_caching_enabled(&self) -> bool {
        self.pool.caching_enabled()
    }

    /// Prefix-cache counters.
    pub fn stats(&self) -> PrefixCacheStats {
        PrefixCacheStats {
            evictions: self.pool.evictions(),
            ..self.stats
        }
    }

    /// The pool, read-only (for tests, metrics and invariant checks).
    pub fn pool(&self) -> &BlockPool {
        &self.pool
    }

    /// Takes back the blocks of every `KvBlocks` dropped since the last call; returns how many
    /// tables came back. Every `&mut self` method calls this first.
    pub fn reclaim(&mut self) -> usize {
        let mut n = 0;
        while let Ok(state) = self.returns_rx.try_recv() {
            self.release(state);
            n += 1;
        }
        if n > 0 {
            self.epoch += 1;
        }
        n
    }

    /// Hashes the sequence's full blocks and finds its longest cached prefix (full blocks only,
    /// never the last token). Takes no reference; pass the result straight to
    /// [`allocate_new`](Self::allocate_new). Empty when prefix caching is off.
    pub fn lookup_prefix(&mut self, seq: SeqTokens<'_>) -> PrefixHit {
        self.reclaim();
        let mut hit = PrefixHit {
            blocks: Vec::new(),
            hashes: Vec::new(),
            block_size: self.block_size,
            epoch: self.epoch,
        };
        if self.pool.caching_enabled() {
            self.hasher
                .extend_chain(seq.tokens, self.block_size, seq.extra, &mut hit.hashes);
            let max_blocks = max_hit_blocks(seq.tokens.len(), self.block_size);
            longest_cached_prefix(&self.pool, &hit.hashes, max_blocks, &mut hit.blocks);
        }
        hit
    }

    /// Starts a block table for a new (or preempted) sequence: references the hit blocks and adds
    /// fresh ones so the table covers `num_tokens` tokens (the hit plus this step's tokens).
    /// `None`, with nothing changed, when the pool has too few free blocks.
    ///
    /// # Panics
    /// If `hit` was not made by the immediately preceding `lookup_prefix` (any mutation in between
    /// may have evicted its blocks), or `num_tokens` is below the hit.
    pub fn allocate_new(
        &mut self,
        hit: PrefixHit,
        seq: SeqTokens<'_>,
        num_tokens: usize,
    ) -> Option<KvBlocks> {
        self.reclaim();
        assert_eq!(
            hit.epoch, self.epoch,
            "stale prefix hit: call allocate_new right after lookup_prefix"
        );
        assert!(
            num_tokens >= hit.num_tokens(),
            "{num_tokens} tokens do not cover the {}-token prefix hit",
            hit.num_tokens()
        );
        let num_new = blocks_for_tokens(num_tokens, self.block_size) - hit.blocks.len();
        let hit_free = hit
            .blocks
            .iter()
            .filter(|&&b| self.pool.ref_count(b) == 0)
            .count();
        if num_new + hit_free > self.pool.num_free() {
            return None;
        }
        self.epoch += 1;
        for &b in &hit.blocks {
            self.pool.touch(b);
        }
        let num_hit = hit.blocks.len();
        let mut state = TableState {
            table: hit.blocks,
            hashes: hit.hashes,
            num_offered: num_hit,
            num_confirmed: num_hit,
        };
        let allocated = self.pool.allocate_into(num_new, &mut state.table);
        debug_assert!(allocated, "free count was checked");
        self.offer_full_blocks(&mut state, seq, num_tokens);
        if self.pool.caching_enabled() {
            self.stats.lookups += 1;
            self.stats.queries += seq.tokens.len() as u64;
            self.stats.hits += (num_hit * self.block_size) as u64;
        }
        Some(self.guard(state))
    }

    /// Grows `blocks` to cover `num_tokens` tokens (computed so far plus this step's). Returns the
    /// number of blocks appended, or `None`, with nothing changed, when the pool is short.
    pub fn allocate_slots(
        &mut self,
        blocks: &mut KvBlocks,
        seq: SeqTokens<'_>,
        num_tokens: usize,
    ) -> Option<usize> {
        self.reclaim();
        let need = blocks_for_tokens(num_tokens, self.block_size).saturating_sub(blocks.len());
        if !self.pool.allocate_into(need, &mut blocks.state.table) {
            return None;
        }
        self.epoch += 1;
        self.offer_full_blocks(&mut blocks.state, seq, num_tokens);
        Some(need)
    }

    /// A new table sharing the first `num_tokens / block_size` blocks of `parent` (only blocks
    /// whose KV is confirmed), one more reference each. For `n > 1` samples of one prompt: pass at
    /// most `prompt_len - 1` so the child computes its own last prompt token.
    pub fn fork(&mut self, parent: &KvBlocks, num_tokens: usize) -> KvBlocks {
        self.reclaim();
        self.epoch += 1;
        let shared = (num_tokens / self.block_size).min(parent.state.num_confirmed);
        let table = parent.state.table[..shared].to_vec();
        for &b in &table {
            self.pool.touch(b);
        }
        let hashes = parent.state.hashes[..shared.min(parent.state.hashes.len())].to_vec();
        self.guard(TableState {
            table,
            hashes,
            num_offered: shared,
            num_confirmed: shared,
        })
    }

    /// Tokens of `blocks` that are already computed when it was made by
    /// [`fork`](Self::fork) (its shared blocks, in tokens).
    pub fn num_shared_tokens(&self, blocks: &KvBlocks) -> usize {
        blocks.state.num_confirmed * self.block_size
    }

    /// Releases `blocks` now (dropping it does the same, lazily).
    pub fn free(&mut self, mut blocks: KvBlocks) {
        self.reclaim();
        blocks.returns = None;
        let state = std::mem::take(&mut blocks.state);
        self.release(state);
    }

    /// Checks the pool's invariants (see [`BlockPool::assert_invariants`]).
    ///
    /// # Panics
    /// On the first broken invariant.
    pub fn assert_invariants(&self) {
        self.pool.assert_invariants();
    }

    fn guard(&self, state: TableState) -> KvBlocks {
        KvBlocks {
            state,
            block_size: self.block_size,
            returns: Some(self.returns_tx.clone()),
        }
    }

    /// Offers the table's newly full blocks (up to `num_tokens`, as far as tokens are known) to
    /// the prefix cache.
    fn offer_full_blocks(&mut self, state: &mut TableState, seq: SeqTokens<'_>, num_tokens: usize) {
        if !self.pool.caching_enabled() {
            return;
        }
        let full = (num_tokens.min(seq.tokens.len()) / self.block_size).min(state.table.len());
        if full <= state.num_offered {
            return;
        }
        self.hasher.extend_chain(
            &seq.tokens[..full * self.block_size],
            self.block_size,
            seq.extra,
            &mut state.hashes,
        );
        for i in state.num_offered..full {
            self.pool.cache(state.table[i], state.hashes[i]);
        }
        state.num_offered = full;
    }

    fn release(&mut self, state: TableState) {
        self.epoch += 1;
        for i in state.num_confirmed..state.num_offered {
            let block = state.table[i];
            if self.pool.hash_of(block) == Some(state.hashes[i]) {
                self.pool.uncache(block);
            }
        }
        for &b in state.table.iter().rev() {
            self.pool.release(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(num_blocks: usize, block_size: usize) -> KvCacheManager {
        KvCacheManager::new(&KvCacheConfig::with_num_blocks(num_blocks, block_size).unwrap())
    }

    fn toks(n: u32) -> Vec<TokenId> {
        (0..n).map(TokenId).collect()
    }

    const NO_EXTRA: &ExtraKeys = &ExtraKeys {
        cache_salt: None,
        adapter: None,
        multimodal: Vec::new(),
    };

    fn seq(tokens: &[TokenId]) -> SeqTokens<'_> {
        SeqTokens {
            tokens,
            extra: NO_EXTRA,
        }
    }

    /// Admits a whole prompt in one step and confirms it.
    fn admit(kv: &mut KvCacheManager, tokens: &[TokenId]) -> (KvBlocks, usize) {
        let hit = kv.lookup_prefix(seq(tokens));
        let cached = hit.num_tokens();
        let mut blocks = kv.allocate_new(hit, seq(tokens), tokens.len()).unwrap();
        blocks.set_num_computed_tokens(tokens.len());
        (blocks, cached)
    }

    #[test]
    fn second_request_hits_full_blocks_but_not_last_token() {
        let mut kv = manager(8, 4);
        let prompt = toks(10);
        let (a, cached_a) = admit(&mut kv, &prompt);
        assert_eq!((cached_a, a.len()), (0, 3));
        let (b, cached_b) = admit(&mut kv, &prompt);
        assert_eq!(cached_b, 8);
        assert_eq!(a.block_ids()[..2], b.block_ids()[..2]);
        assert_ne!(a.block_ids()[2], b.block_ids()[2]);
        // An exact multiple of the block size: the last block is recomputed.
        let eight = toks(8);
        let (c, cached_c) = admit(&mut kv, &eight);
        assert_eq!(cached_c, 4);
        let stats = kv.stats();
        assert_eq!((stats.lookups, stats.queries, stats.hits), (3, 28, 12));
        drop((a, b, c));
        kv.reclaim();
        assert_eq!(kv.num_free_blocks(), 8);
        assert_eq!(kv.pool().total_refs(), 0);
        kv.assert_invariants();
    }

    #[test]
    fn drop_returns_blocks_in_reverse_order() {
        let mut kv = manager(4, 2);
        let (a, _) = admit(&mut kv, &toks(5));
        let ids = a.block_ids().to_vec();
        assert_eq!(kv.num_free_blocks(), 1);
        drop(a);
        assert_eq!(kv.reclaim(), 1);
        let order: Vec<_> = kv.pool().free_blocks().collect();
        assert_eq!(order[1..], [ids[2], ids[1], ids[0]]);
    }

    #[test]
    fn out_of_blocks_changes_nothing() {
        let mut kv = manager(2, 4);
        let tokens = toks(12);
        let hit = kv.lookup_prefix(seq(&tokens));
        assert!(kv.allocate_new(hit, seq(&tokens), 12).is_none());
        let hit = kv.lookup_prefix(seq(&tokens));
        let mut blocks = kv.allocate_new(hit, seq(&tokens), 8).unwrap();
        assert_eq!(kv.allocate_slots(&mut blocks, seq(&tokens), 12), None);
        assert_eq!(blocks.len(), 2);
        kv.free(blocks);
        assert_eq!(kv.num_free_blocks(), 2);
    }

    #[test]
    fn unconfirmed_blocks_leave_the_cache() {
        let mut kv = manager(4, 4);
        let tokens = toks(9);
        let hit = kv.lookup_prefix(seq(&tokens));
        let blocks = kv.allocate_new(hit, seq(&tokens), 9).unwrap();
        assert_eq!(kv.pool().num_cached(), 2, "offered when scheduled");
        kv.free(blocks); // preempted before the step ran
        assert_eq!(kv.pool().num_cached(), 0);
        assert_eq!(kv.lookup_prefix(seq(&tokens)).num_tokens(), 0);
    }

    #[test]
    fn fork_shares_confirmed_blocks() {
        let mut kv = manager(6, 4);
        let prompt = toks(10);
        let (parent, _) = admit(&mut kv, &prompt);
        let child = kv.fork(&parent, prompt.len() - 1);
        assert_eq!(kv.num_shared_tokens(&child), 8);
        assert_eq!(child.block_ids(), &parent.block_ids()[..2]);
        assert_eq!(kv.pool().ref_count(parent.block_ids()[0]), 2);
        drop(parent);
        drop(child);
        kv.reclaim();
        assert_eq!(kv.pool().total_refs(), 0);
    }

    #[test]
    fn caching_off_never_hits() {
        let config = KvCacheConfig::with_num_blocks(8, 4)
            .unwrap()
            .with_prefix_caching(PrefixCaching::Disabled);
        let mut kv = KvCacheManager::new(&config);
        let prompt = toks(10);
        let (_a, _) = admit(&mut kv, &prompt);
        let (_b, cached) = admit(&mut kv, &prompt);
        assert_eq!(cached, 0);
        assert_eq!(kv.stats(), PrefixCacheStats::default());
    }

    #[test]
    #[should_panic(expected = "stale prefix hit")]
    fn stale_hit_is_refused() {
        let mut kv = manager(4, 4);
        let tokens = toks(5);
        let hit = kv.lookup_prefix(seq(&tokens));
        let other = kv.lookup_prefix(seq(&tokens));
        let _keep = kv.allocate_new(other, seq(&tokens), 5);
        let _ = kv.allocate_new(hit, seq(&tokens), 5);
    }
}
