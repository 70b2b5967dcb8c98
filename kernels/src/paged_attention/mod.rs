//! Paged attention: one varlen op for decode, chunked prefill and prefix-cache hits, over a KV
//! cache stored in fixed-size blocks; plus `reshape_and_cache`, which writes new K/V into it.
//!
//! # Layout
//! - `query`, `out`: `f32`, row-major `[num_tokens, num_heads, head_size]`. The tokens of
//!   sequence `s` are rows `query_start_loc[s]..query_start_loc[s + 1]`.
//! - `key_cache`, `value_cache`: the KV dtype `T` (f32, f16 or bf16), both row-major
//!   `[num_blocks, num_kv_heads, block_size, head_size]`. One (block, kv head) tile of
//!   `block_size × head_size` elements is contiguous, so a kernel streams whole tiles; token
//!   `p` of sequence `s` lives in block `block_tables[s * max_blocks_per_seq + p / block_size]`
//!   at offset `p % block_size`.
//! - A *slot* is `block_id * block_size + offset`; `reshape_and_cache` writes token `t` of
//!   `key`/`value` (`f32 [num_tokens, num_kv_heads, head_size]`) to slot `slot_mapping[t]`,
//!   rounding to `T` (round-to-nearest-even). A negative slot marks a padding token: skipped.
//! - `block_tables`: `i32 [num_seqs, max_blocks_per_seq]`. Only the first
//!   `ceil(context_lens[s] / block_size)` entries of a row are read (and validated); the rest may
//!   hold anything (e.g. `-1`). Sequences may share blocks (prefix caching).
//!
//! # Semantics
//! `context_lens[s]` counts every cached token of sequence `s` *including* its `q_len` new ones,
//! which `reshape_and_cache` must have written first. Query token `j` (`0 ≤ j < q_len`) sits at
//! absolute position `pos = context_lens[s] - q_len + j` and attends to the cached positions
//! `p ≤ pos`, and with a sliding window `w` only to `p > pos - w` (`w` tokens including itself).
//! Query head `h` reads KV head `h / (num_heads / num_kv_heads)` (GQA; MQA when
//! `num_kv_heads = 1`). Scores are `scale · q·k`; the softmax is computed online (streaming,
//! running max and sum in f32), so long contexts with large logits stay finite. A decode step
//! is the case `q_len = 1`; prefill is `q_len = context_len`; a chunked prefill or a prefix-cache
//! hit is `1 < q_len < context_len`. Sequences with `q_len = 0` are allowed and produce nothing.
//!
//! # Backends
//! - [`reference`](mod@reference): gathers K/V per position and runs a full softmax in f64. Obviously correct.
//! - CPU ([`cpu_paged_attention`]): work items per (sequence, KV head, query-row tile, KV split)
//!   run on rayon; each packs the query heads of its GQA group so every K/V row is read once,
//!   scores a chunk of tokens for all rows, updates the online softmax once per chunk and then
//!   accumulates V. Contexts are split (with a merge of the partial softmax states) when there
//!   are too few items for the threads. AVX-512 (intrinsics), AVX2 (the portable code compiled
//!   for AVX2) and portable paths, chosen by [`crate::CpuBackend::isa`].
//! - CUDA: flash-decoding style, one CTA per work item (the same plan as the CPU) packing the
//!   query heads of a GQA group; groups of threads stream K/V rows with 16-byte loads and keep
//!   their online-softmax state in registers, merged through shared memory, and split contexts
//!   are combined by a merge kernel. Kernels are `paged_attention_{f32,f16,bf16}_{d64,d128,d256,
//!   generic}_r{1,4,8}`: `d{N}` serves head sizes that are multiples of the 16-byte vector up to
//!   `N`, `generic` any other size, `r{R}` the rows (query heads) per CTA. See
//!   `paged_attention.cu`.
//!
//! Every backend calls [`PagedAttentionArgs::validate`] (or
//! [`ReshapeAndCacheArgs::validate`]) first: every block id, slot and length the kernels use is
//! checked on the host, so no backend ever reads or writes out of bounds.

mod cpu;
#[cfg(target_arch = "x86_64")]
mod cpu_avx512;
mod cpu_portable;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod plan;
pub mod reference;

pub use cpu::{paged_attention as cpu_paged_attention, reshape_and_cache as cpu_reshape_and_cache};

use crate::Result;
use crate::device::{Backend, FloatElem};
use crate::error::{KernelError, check_len};

const OP: &str = "paged_attention";
const OP_CACHE: &str = "reshape_and_cache";

/// Largest supported `head_size`.
pub const MAX_HEAD_SIZE: usize = 512;
/// Largest supported `block_size` (tokens per KV block).
pub const MAX_BLOCK_SIZE: usize = 256;

/// Shapes and host metadata of one paged-attention call (the data are backend buffers).
#[derive(Debug, Clone, Copy)]
pub struct PagedAttentionArgs<'a> {
    /// Query heads per token.
    pub num_heads: usize,
    /// KV heads per token; divides `num_heads`.
    pub num_kv_heads: usize,
    /// Elements per head (`1..=MAX_HEAD_SIZE`).
    pub head_size: usize,
    /// Tokens per KV block (`1..=MAX_BLOCK_SIZE`).
    pub block_size: usize,
    /// Blocks in the KV cache.
    pub num_blocks: usize,
    /// `[num_seqs + 1]`: cumulative query tokens; starts at 0, non-decreasing.
    pub query_start_loc: &'a [u32],
    /// `[num_seqs]`: cached tokens per sequence, including its new (query) tokens.
    pub context_lens: &'a [u32],
    /// `[num_seqs, max_blocks_per_seq]`: block ids of each sequence, in position order.
    pub block_tables: &'a [i32],
    /// Row length of `block_tables`.
    pub max_blocks_per_seq: usize,
    /// Softmax scale applied to `q·k` (usually `1 / sqrt(head_size)`).
    pub scale: f32,
    /// Sliding-window length in tokens (≥ 1), or `None` for full causal attention.
    pub sliding_window: Option<usize>,
}

impl PagedAttentionArgs<'_> {
    /// Number of sequences.
    pub fn num_seqs(&self) -> usize {
        self.context_lens.len()
    }

    /// Total query tokens (`query_start_loc[num_seqs]`, 0 when empty).
    pub fn num_tokens(&self) -> usize {
        self.query_start_loc.last().map_or(0, |&n| n as usize)
    }

    /// Query heads sharing one KV head.
    pub fn group_size(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }

    /// Elements of `query` and of `out`: `num_tokens × num_heads × head_size`.
    pub fn query_elems(&self) -> Option<usize> {
        self.num_tokens()
            .checked_mul(self.num_heads)?
            .checked_mul(self.head_size)
    }

    /// Elements of each of `key_cache` and `value_cache`.
    pub fn cache_elems(&self) -> Option<usize> {
        cache_elems(
            self.num_blocks,
            self.num_kv_heads,
            self.block_size,
            self.head_size,
        )
    }

    /// First query row and number of query tokens of sequence `s`.
    pub(crate) fn seq_queries(&self, s: usize) -> (usize, usize) {
        let start = self.query_start_loc[s] as usize;
        (start, self.query_start_loc[s + 1] as usize - start)
    }

    /// Element offset of token position `p` of sequence `s`, KV head `kv_head`, in either cache.
    /// Only valid for `p < context_lens[s]` of validated args.
    #[inline]
    pub(crate) fn kv_offset(&self, s: usize, kv_head: usize, p: usize) -> usize {
        let block = self.block_tables[s * self.max_blocks_per_seq + p / self.block_size] as usize;
        ((block * self.num_kv_heads + kv_head) * self.block_size + p % self.block_size)
            * self.head_size
    }

    /// Checks every shape, length and index against the buffer lengths (in elements).
    pub fn validate(
        &self,
        query_len: usize,
        key_cache_len: usize,
        value_cache_len: usize,
        out_len: usize,
    ) -> Result<()> {
        check_heads(OP, self.num_heads, self.num_kv_heads)?;
        check_common(OP, self.head_size, self.block_size)?;
        if !self.scale.is_finite() {
            return Err(KernelError::invalid(
                OP,
                "scale",
                format!("is {}; expected a finite number", self.scale),
            ));
        }
        if self.sliding_window == Some(0) {
            return Err(KernelError::invalid(
                OP,
                "sliding_window",
                "is Some(0); expected ≥ 1 token or None",
            ));
        }
        let num_seqs = self.num_seqs();
        check_len(
            OP,
            "query_start_loc",
            self.query_start_loc.len(),
            num_seqs + 1,
            "num_seqs + 1, where num_seqs = context_lens.len()",
        )?;
        if self.query_start_loc[0] != 0 {
            return Err(KernelError::invalid(
                OP,
                "query_start_loc",
                format!("starts at {}; expected 0", self.query_start_loc[0]),
            ));
        }
        if let Some(s) = self.query_start_loc.windows(2).position(|w| w[1] < w[0]) {
            return Err(KernelError::invalid(
                OP,
                "query_start_loc",
                format!(
                    "decreases at position {} ({} → {}); expected cumulative token counts",
                    s + 1,
                    self.query_start_loc[s],
                    self.query_start_loc[s + 1]
                ),
            ));
        }
        let q_elems = self.query_elems().ok_or_else(|| {
            KernelError::invalid(
                OP,
                "query",
                "num_tokens × num_heads × head_size overflows usize",
            )
        })?;
        check_len(
            OP,
            "query",
            query_len,
            q_elems,
            "num_tokens × num_heads × head_size",
        )?;
        check_len(
            OP,
            "out",
            out_len,
            q_elems,
            "num_tokens × num_heads × head_size",
        )?;
        let cache = self.cache_elems().ok_or_else(|| {
            KernelError::invalid(
                OP,
                "num_blocks",
                "the cache size num_blocks × num_kv_heads × block_size × head_size overflows usize",
            )
        })?;
        let layout = "num_blocks × num_kv_heads × block_size × head_size";
        check_len(OP, "key_cache", key_cache_len, cache, layout)?;
        check_len(OP, "value_cache", value_cache_len, cache, layout)?;
        let table_len = num_seqs
            .checked_mul(self.max_blocks_per_seq)
            .ok_or_else(|| {
                KernelError::invalid(
                    OP,
                    "max_blocks_per_seq",
                    "num_seqs × max_blocks_per_seq overflows usize",
                )
            })?;
        check_len(
            OP,
            "block_tables",
            self.block_tables.len(),
            table_len,
            "num_seqs × max_blocks_per_seq",
        )?;
        let capacity = self.max_blocks_per_seq.saturating_mul(self.block_size);
        for s in 0..num_seqs {
            let (_, q_len) = self.seq_queries(s);
            let ctx = self.context_lens[s] as usize;
            if q_len > ctx {
                return Err(KernelError::invalid(
                    OP,
                    "context_lens",
                    format!(
                        "context_lens[{s}] = {ctx} is less than the sequence's {q_len} query tokens; \
                         it must count the cached tokens including the new ones"
                    ),
                ));
            }
            if ctx > capacity {
                return Err(KernelError::invalid(
                    OP,
                    "context_lens",
                    format!(
                        "context_lens[{s}] = {ctx} exceeds max_blocks_per_seq × block_size = {capacity}"
                    ),
                ));
            }
            let row = s * self.max_blocks_per_seq;
            for i in 0..ctx.div_ceil(self.block_size) {
                let id = self.block_tables[row + i];
                if id < 0 || id as usize >= self.num_blocks {
                    return Err(KernelError::IndexOutOfRange {
                        op: OP,
                        arg: "block_tables",
                        position: row + i,
                        value: id.into(),
                        bound: self.num_blocks,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Shapes and slot mapping of one `reshape_and_cache` call.
#[derive(Debug, Clone, Copy)]
pub struct ReshapeAndCacheArgs<'a> {
    /// Tokens in `key` and `value`.
    pub num_tokens: usize,
    /// KV heads per token.
    pub num_kv_heads: usize,
    /// Elements per head (`1..=MAX_HEAD_SIZE`).
    pub head_size: usize,
    /// Tokens per KV block (`1..=MAX_BLOCK_SIZE`).
    pub block_size: usize,
    /// Blocks in the KV cache.
    pub num_blocks: usize,
    /// `[num_tokens]`: destination slot (`block_id * block_size + offset`) of each token;
    /// negative = padding token, skipped. Non-negative slots must be distinct.
    pub slot_mapping: &'a [i64],
}

impl ReshapeAndCacheArgs<'_> {
    /// Elements of each of `key_cache` and `value_cache`.
    pub fn cache_elems(&self) -> Option<usize> {
        cache_elems(
            self.num_blocks,
            self.num_kv_heads,
            self.block_size,
            self.head_size,
        )
    }

    /// Checks shapes, that every slot is in range and that no slot is written twice.
    pub fn validate(
        &self,
        key_len: usize,
        value_len: usize,
        key_cache_len: usize,
        value_cache_len: usize,
    ) -> Result<()> {
        if self.num_kv_heads == 0 {
            return Err(KernelError::invalid(
                OP_CACHE,
                "num_kv_heads",
                "is 0; expected ≥ 1",
            ));
        }
        check_common(OP_CACHE, self.head_size, self.block_size)?;
        check_len(
            OP_CACHE,
            "slot_mapping",
            self.slot_mapping.len(),
            self.num_tokens,
            "num_tokens",
        )?;
        let elems = self
            .num_tokens
            .checked_mul(self.num_kv_heads)
            .and_then(|n| n.checked_mul(self.head_size))
            .ok_or_else(|| {
                KernelError::invalid(
                    OP_CACHE,
                    "num_tokens",
                    "num_tokens × num_kv_heads × head_size overflows usize",
                )
            })?;
        check_len(
            OP_CACHE,
            "key",
            key_len,
            elems,
            "num_tokens × num_kv_heads × head_size",
        )?;
        check_len(
            OP_CACHE,
            "value",
            value_len,
            elems,
            "num_tokens × num_kv_heads × head_size",
        )?;
        let cache = self.cache_elems().ok_or_else(|| {
            KernelError::invalid(
                OP_CACHE,
                "num_blocks",
                "the cache size num_blocks × num_kv_heads × block_size × head_size overflows usize",
            )
        })?;
        let layout = "num_blocks × num_kv_heads × block_size × head_size";
        check_len(OP_CACHE, "key_cache", key_cache_len, cache, layout)?;
        check_len(OP_CACHE, "value_cache", value_cache_len, cache, layout)?;
        let num_slots = self.num_blocks * self.block_size;
        let mut used: Vec<(i64, usize)> = Vec::with_capacity(self.num_tokens);
        for (position, &slot) in self.slot_mapping.iter().enumerate() {
            if slot < 0 {
                continue;
            }
            if slot as u64 >= num_slots as u64 {
                return Err(KernelError::IndexOutOfRange {
                    op: OP_CACHE,
                    arg: "slot_mapping",
                    position,
                    value: slot,
                    bound: num_slots,
                });
            }
            used.push((slot, position));
        }
        used.sort_unstable();
        if let Some(w) = used.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(KernelError::invalid(
                OP_CACHE,
                "slot_mapping",
                format!(
                    "slot {} is written twice (positions {} and {}); each slot takes one token",
                    w[0].0, w[0].1, w[1].1
                ),
            ));
        }
        Ok(())
    }

    /// Element offset of `slot`, KV head `kv_head` in either cache (validated, non-negative slot).
    #[inline]
    pub(crate) fn slot_offset(&self, slot: usize, kv_head: usize) -> usize {
        let (block, off) = (slot / self.block_size, slot % self.block_size);
        ((block * self.num_kv_heads + kv_head) * self.block_size + off) * self.head_size
    }
}

fn cache_elems(
    num_blocks: usize,
    kv_heads: usize,
    block_size: usize,
    head_size: usize,
) -> Option<usize> {
    num_blocks
        .checked_mul(kv_heads)?
        .checked_mul(block_size)?
        .checked_mul(head_size)
}

fn check_heads(op: &'static str, num_heads: usize, num_kv_heads: usize) -> Result<()> {
    if num_kv_heads == 0 {
        return Err(KernelError::invalid(
            op,
            "num_kv_heads",
            "is 0; expected ≥ 1",
        ));
    }
    if num_heads == 0 || !num_heads.is_multiple_of(num_kv_heads) {
        return Err(KernelError::invalid(
            op,
            "num_heads",
            format!(
                "is {num_heads}; expected a positive multiple of num_kv_heads = {num_kv_heads}"
            ),
        ));
    }
    Ok(())
}

fn check_common(op: &'static str, head_size: usize, block_size: usize) -> Result<()> {
    if !(1..=MAX_HEAD_SIZE).contains(&head_size) {
        return Err(KernelError::invalid(
            op,
            "head_size",
            format!("is {head_size}; expected 1..={MAX_HEAD_SIZE}"),
        ));
    }
    if !(1..=MAX_BLOCK_SIZE).contains(&block_size) {
        return Err(KernelError::invalid(
            op,
            "block_size",
            format!("is {block_size}; expected 1..={MAX_BLOCK_SIZE}"),
        ));
    }
    Ok(())
}

/// The paged-attention ops, implemented by every backend. See the [module docs](self) for the
/// layouts and semantics.
pub trait PagedAttentionOp: Backend {
    /// Attention of every query token over its sequence's cached keys and values; writes `out`.
    fn paged_attention<T: FloatElem>(
        &self,
        out: &mut Self::Buf<f32>,
        query: &Self::Buf<f32>,
        key_cache: &Self::Buf<T>,
        value_cache: &Self::Buf<T>,
        args: &PagedAttentionArgs<'_>,
    ) -> Result<()>;

    /// Writes each token's new key and value rows into its slot of the caches.
    fn reshape_and_cache<T: FloatElem>(
        &self,
        key: &Self::Buf<f32>,
        value: &Self::Buf<f32>,
        key_cache: &mut Self::Buf<T>,
        value_cache: &mut Self::Buf<T>,
        args: &ReshapeAndCacheArgs<'_>,
    ) -> Result<()>;
}
