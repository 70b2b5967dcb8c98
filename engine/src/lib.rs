//! dyno-engine: dyno's inference engine core.
//!
//! This crate decides *what* the model computes each step and *where* the KV of every token
//! lives — a paged KV cache with automatic prefix caching and a vLLM-v1-style continuous-batching
//! scheduler, both pure and synchronous (no IO, no locks, no clocks), property-tested as state
//! machines — and computes it: a Llama-family model over that cache ([`model`]), the engine step
//! that ties them together ([`EngineCore`]: schedule → forward → sample with the `dyno-kernels`
//! sampling op → stop conditions and detokenized text) and its async actor ([`EngineHandle`]:
//! one thread runs the loop, each request gets a token stream; dropping it aborts the request).
//!
//! # Key types
//!
//! - [`KvCacheConfig`]: blocks from a byte budget (`--kv-cache-memory`, `--block-size`, the
//!   model's KV shape), prefix caching on or off.
//! - [`KvCacheManager`]: hands out per-sequence block tables ([`KvBlocks`], returned to the pool on
//!   drop) over a [`BlockPool`](kv_cache::BlockPool) of ref-counted blocks with an O(1) LRU
//!   [`FreeQueue`](kv_cache::FreeQueue); finds cached prefixes by chained xxh3-128 block hashes
//!   ([`BlockHasher`](kv_cache::BlockHasher)). Counters in [`PrefixCacheStats`].
//! - [`Scheduler`]: `schedule()` → [`SchedulerOutput`] (tokens per sequence this step), then
//!   `update()` with [`SampledTokens`] → [`RequestOutput`]s. Token budget, `max_num_seqs`, chunked
//!   prefill, `fcfs` / `priority` policies ([`QueuePolicy`](scheduler::QueuePolicy)), preemption
//!   by recompute, abort, stop conditions ([`StopChecker`](scheduler::StopChecker) for stop
//!   strings), `n > 1` samples sharing prompt blocks.
//! - [`EngineRequest`], [`SamplingParams`], [`FinishReason`], and the ids [`RequestId`],
//!   [`SeqId`], [`BlockId`], [`TokenId`].
//! - [`EngineCore`] / [`EngineConfig`] / [`TokenEvent`] / [`EngineStats`]: the synchronous step
//!   loop; [`EngineHandle`] / [`RequestStream`]: the same behind a channel.
//! - [`EngineError`]: every refusal, with the value and the fix.
//!
//! # Usage
//!
//! One engine step, with a stand-in for the model:
//!
//! ```
//! use dyno_engine::{
//!     EngineRequest, KvCacheConfig, KvCacheManager, RequestId, SampledTokens, Scheduler,
//!     SchedulerConfig, SchedulerOptions, TokenId,
//! };
//!
//! let kv_config = KvCacheConfig::with_num_blocks(64, 16)?;
//! let config = SchedulerConfig::try_new(SchedulerOptions {
//!     max_model_len: 512,
//!     ..SchedulerOptions::default()
//! })?;
//! config.check_fits(&kv_config)?;
//! let mut kv = KvCacheManager::new(&kv_config);
//! let mut scheduler = Scheduler::new(config);
//!
//! let prompt: Vec<TokenId> = (1..=40).map(TokenId).collect();
//! scheduler.add_request(EngineRequest::new(RequestId(7), prompt))?;
//!
//! let mut generated = 0;
//! while scheduler.has_unfinished() {
//!     let step = scheduler.schedule(&mut kv);
//!     // The model runner computes `step.scheduled` over `kv`'s blocks and samples where
//!     // `emits_token` is set; here every sample is token 0.
//!     let sampled = SampledTokens::from_fn(&step, |_| TokenId(0));
//!     generated += scheduler.update(&step, &sampled)?.len();
//! }
//! assert_eq!(generated, 16); // SamplingParams::default().max_tokens
//! # Ok::<(), dyno_engine::EngineError>(())
//! ```

pub mod config;
pub mod error;
pub mod handle;
pub mod kv_cache;
pub mod model;
pub mod request;
mod sampler;
pub mod scheduler;
pub mod step;
mod text;
pub mod tokenizer;

pub use config::{ChunkedPrefill, SchedulerConfig, SchedulerOptions, SchedulingPolicy};
pub use error::{EngineError, Result};
pub use handle::{EngineHandle, RequestStream};
pub use kv_cache::{
    BlockId, ExtraKeys, KvBlocks, KvCacheConfig, KvCacheManager, KvShape, PrefixCacheStats,
    PrefixCaching, TokenId,
};
pub use model::{
    BatchInput, GenerateOptions, Generation, KvCache, KvDtype, LlamaModel, LoadFormat, LoadOptions,
    LoadedModel, Logits, Model, ModelConfig, generate_greedy, generate_greedy_tokens, load_model,
};
pub use request::{EngineRequest, FinishReason, RequestId, SamplingParams, SeqId};
pub use scheduler::{RequestOutput, SampledTokens, ScheduledSeq, Scheduler, SchedulerOutput};
pub use step::{EngineConfig, EngineCore, EngineStats, TokenEvent};
pub use tokenizer::{IncrementalDecoder, Tokenizer};
