//! [`EngineCore`]: the synchronous engine step — schedule, run the model, sample, update,
//! detokenize — over one model, one KV cache and one scheduler.
//!
//! ```text
//! add_request ─► Scheduler (waiting)
//! step():  schedule ─► BatchInput ─► Model::forward (paged KV) ─► Sampler ─► update_with
//!          (stop strings via SampleText) ─► TokenEvent per new token
//! ```
//!
//! The async [`EngineHandle`](crate::EngineHandle) runs this loop on its own thread; `dyno
//! generate` and the tests drive it directly.

use std::collections::HashMap;
use std::sync::Arc;

use dyno_kernels::sampling::Logprobs;

use crate::config::{SchedulerConfig, SchedulerOptions};
use crate::error::{EngineError, Result};
use crate::kv_cache::{KvCacheConfig, KvCacheManager, PrefixCacheStats, PrefixCaching, TokenId};
use crate::model::{BatchInput, KvCache, KvDtype, Model, ModelConfig, kv_shape};
use crate::request::{EngineRequest, FinishReason, RequestId, SamplingParams};
use crate::sampler::{SampleRow, Sampler, sample_seed};
use crate::scheduler::{SampledTokens, Scheduler, StopChecker, StopView};
use crate::text::SampleText;
use crate::tokenizer::{IncrementalDecoder, Tokenizer};

/// Default `--kv-cache-memory` when none is given: vLLM-CPU's default KV space (4 GiB), capped
/// at what `max_num_seqs` full-length sequences could use.
pub const DEFAULT_KV_CACHE_MEMORY: u64 = 4 << 30;

/// How the engine is set up, with vLLM's flag names.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Scheduler limits and policy. `max_model_len` is capped at the model's context length.
    pub scheduler: SchedulerOptions,
    /// `--max-model-len`; `None` = the model's `max_position_embeddings`.
    pub max_model_len: Option<usize>,
    /// `--block-size`.
    pub block_size: usize,
    /// `--kv-cache-memory` in bytes; `None` = [`DEFAULT_KV_CACHE_MEMORY`] capped at
    /// `max_num_seqs × max_model_len` tokens.
    pub kv_cache_memory: Option<u64>,
    /// `--kv-cache-dtype`.
    pub kv_dtype: KvDtype,
    /// `--enable-prefix-caching` (on by default, as in vLLM v1).
    pub prefix_caching: bool,
    /// `--seed`: seeds of requests that bring none derive from it.
    pub seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            scheduler: SchedulerOptions::default(),
            max_model_len: None,
            block_size: KvCacheConfig::DEFAULT_BLOCK_SIZE,
            kv_cache_memory: None,
            kv_dtype: KvDtype::F32,
            prefix_caching: true,
            seed: 0,
        }
    }
}

/// One new token of one sample, as a stream delivers it.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenEvent {
    /// The request.
    pub request_id: RequestId,
    /// Which of its `n` samples.
    pub sample_index: u32,
    /// The token.
    pub token: u32,
    /// New text that may be shown now (empty while a character or a possible stop string is
    /// incomplete, and always when detokenization is off).
    pub text: String,
    /// Log-probabilities, when the request asked for them.
    pub logprobs: Option<Logprobs>,
    /// Prompt tokens of the request.
    pub num_prompt_tokens: usize,
    /// Output tokens of this sample so far, this one included.
    pub num_output_tokens: usize,
    /// Set on the sample's last event.
    pub finished: Option<FinishReason>,
}

/// Counters and gauges of an engine, for reports and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineStats {
    /// Steps run.
    pub steps: u64,
    /// Sequences running after the last step.
    pub num_running: usize,
    /// Sequences waiting after the last step.
    pub num_waiting: usize,
    /// KV blocks in the pool.
    pub kv_num_blocks: usize,
    /// Fraction of KV blocks in use after the last schedule.
    pub kv_usage: f64,
    /// Largest `kv_usage` seen.
    pub peak_kv_usage: f64,
    /// Bytes of the KV cache tensors (never above `--kv-cache-memory`).
    pub kv_cache_bytes: usize,
    /// Prefix-cache counters.
    pub prefix_cache: PrefixCacheStats,
    /// Preemptions so far.
    pub num_preemptions: u64,
    /// Prompt tokens computed (prefix-cache hits excluded, recomputation included).
    pub prompt_tokens_computed: u64,
    /// Tokens sampled.
    pub generation_tokens: u64,
}

/// Per-request state beside the scheduler's: what the sampler and detokenizer need.
#[derive(Debug)]
struct RequestState {
    params: Arc<SamplingParams>,
    prompt_len: usize,
    seeds: Vec<u64>,
    texts: Vec<SampleText>,
    live_samples: u32,
}

/// The synchronous engine. See the [module docs](self).
pub struct EngineCore {
    model: Box<dyn Model>,
    tokenizer: Arc<dyn Tokenizer>,
    kv_manager: KvCacheManager,
    kv: KvCache,
    scheduler: Scheduler,
    sampler: Sampler,
    requests: HashMap<RequestId, RequestState>,
    seed: u64,
    stats: EngineStats,
    batch_ids: Vec<u32>,
}

impl std::fmt::Debug for EngineCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineCore")
            .field("model", &self.model.config().architecture)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl EngineCore {
    /// An engine over `model` and its `tokenizer`.
    ///
    /// # Errors
    /// Invalid limits, a KV budget below one block, or a `--max-model-len` the KV cache cannot
    /// hold.
    pub fn new(
        model: Box<dyn Model>,
        tokenizer: Arc<dyn Tokenizer>,
        config: &EngineConfig,
    ) -> Result<Self> {
        let model_config = model.config().clone();
        let max_model_len = config
            .max_model_len
            .unwrap_or(model_config.max_position_embeddings)
            .min(model_config.max_position_embeddings);
        let mut options = config.scheduler;
        options.max_model_len = max_model_len;
        let scheduler_config = SchedulerConfig::try_new(options)?;
        let shape = kv_shape(&model_config, config.kv_dtype);
        let memory = config.kv_cache_memory.unwrap_or_else(|| {
            let full = options.max_num_seqs as u64 * max_model_len as u64 * shape.bytes_per_token();
            DEFAULT_KV_CACHE_MEMORY
                .min(full.max(shape.bytes_per_token() * config.block_size as u64))
        });
        let kv_config = KvCacheConfig::try_new(memory, config.block_size, shape)?
            .with_prefix_caching(if config.prefix_caching {
                PrefixCaching::default()
            } else {
                PrefixCaching::Disabled
            });
        scheduler_config.check_fits(&kv_config)?;
        let kv = KvCache::for_config(&model_config, &kv_config, config.kv_dtype)?;
        let stats = EngineStats {
            kv_num_blocks: kv_config.num_blocks(),
            kv_cache_bytes: kv.num_bytes(),
            ..EngineStats::default()
        };
        Ok(Self {
            model,
            tokenizer,
            kv_manager: KvCacheManager::new(&kv_config),
            kv,
            scheduler: Scheduler::new(scheduler_config),
            sampler: Sampler::new(),
            requests: HashMap::new(),
            seed: config.seed,
            stats,
            batch_ids: Vec::new(),
        })
    }

    /// The model's configuration.
    pub fn model_config(&self) -> &ModelConfig {
        self.model.config()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Arc<dyn Tokenizer> {
        &self.tokenizer
    }

    /// The longest sequence (prompt plus output) a request may reach.
    pub fn max_model_len(&self) -> usize {
        self.scheduler.config().max_model_len()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Queues a request. A request without EOS tokens gets the model's.
    ///
    /// # Errors
    /// Invalid sampling parameters, prompt token ids outside the vocabulary, an empty or too long
    /// prompt, a duplicate id. Nothing is queued then.
    pub fn add_request(&mut self, mut request: EngineRequest) -> Result<()> {
        request.params.validate(request.id)?;
        if request.eos_token_ids.is_empty() {
            let eos = &self.model.config().eos_token_ids;
            request.eos_token_ids = eos.iter().copied().map(TokenId).collect();
        }
        let vocab = self.model.config().vocab_size;
        if let Some(bad) = request.prompt.iter().find(|t| t.0 as usize >= vocab) {
            return Err(EngineError::InvalidParam {
                request: request.id,
                param: "prompt",
                value: format!("token id {}", bad.0),
                fix: "use token ids below the model's vocabulary size",
            });
        }
        let id = request.id;
        let params = Arc::new(request.params.clone());
        let prompt_len = request.prompt.len();
        // The detokenizer needs only the prompt's last tokens, not a copy of the whole prompt.
        let context = prompt_len.saturating_sub(IncrementalDecoder::PROMPT_CONTEXT);
        let prompt_tail: Vec<u32> = request.prompt[context..].iter().map(|t| t.0).collect();
        let n = params.n;
        self.scheduler.add_request(request)?;
        let stops: Arc<[String]> = params.stop.iter().cloned().collect();
        self.requests.insert(
            id,
            RequestState {
                seeds: (0..n)
                    .map(|i| sample_seed(self.seed, params.seed, id, i))
                    .collect(),
                texts: (0..n)
                    .map(|_| SampleText::new(&prompt_tail, Arc::clone(&stops)))
                    .collect(),
                prompt_len,
                params,
                live_samples: n,
            },
        );
        self.update_gauges();
        Ok(())
    }

    /// Aborts every sample of `request`; its KV blocks return to the pool. Returns whether it
    /// was live.
    pub fn abort(&mut self, request: RequestId) -> bool {
        self.requests.remove(&request);
        let live = self.scheduler.abort(request);
        self.update_gauges();
        live
    }

    /// Whether any request is waiting or running.
    pub fn has_unfinished(&self) -> bool {
        self.scheduler.has_unfinished()
    }

    /// Runs one step and returns one event per token generated in it.
    ///
    /// # Errors
    /// A model or sampling failure. No token of this step is appended then; the scheduled
    /// sequences keep their state and run again next step (callers usually abort them).
    pub fn step(&mut self) -> Result<Vec<TokenEvent>> {
        let plan = self.scheduler.schedule(&mut self.kv_manager);
        self.stats.steps += 1;
        self.stats.num_preemptions += plan.preempted.len() as u64;
        let usage = self.kv_manager.usage();
        self.stats.peak_kv_usage = self.stats.peak_kv_usage.max(usage);
        if plan.is_empty() {
            self.update_gauges();
            return Ok(Vec::new());
        }
        let mut batch = BatchInput::new(self.kv_manager.block_size());
        for s in &plan.scheduled {
            let tokens = self
                .scheduler
                .tokens(s.seq)
                .expect("scheduled sequence exists");
            let table = self
                .scheduler
                .block_table(s.seq)
                .expect("scheduled sequence has blocks");
            self.batch_ids.clear();
            self.batch_ids.extend(
                tokens[s.num_computed_tokens..s.num_computed_tokens + s.num_new_tokens]
                    .iter()
                    .map(|t| t.0),
            );
            batch.push_seq(&self.batch_ids, s.num_computed_tokens, table, s.emits_token);
            let prompt_len = self.scheduler.prompt_len(s.seq).unwrap_or(0);
            let prompt_part = prompt_len.saturating_sub(s.num_computed_tokens);
            self.stats.prompt_tokens_computed += prompt_part.min(s.num_new_tokens) as u64;
        }
        // On a rayon worker: the forward's many parallel loops (several hundred per step) then
        // fork and join inside the pool instead of each waking the workers from this thread and
        // sleeping on a latch, which costs a context switch each; that shows at batch 1.
        let (model, kv) = (&mut self.model, &mut self.kv);
        let logits = rayon::scope(|_| model.forward(&batch, kv))?;
        let sampled = {
            let rows: Vec<SampleRow<'_>> = plan
                .scheduled
                .iter()
                .filter(|s| s.emits_token)
                .map(|s| {
                    let state = &self.requests[&s.request_id];
                    let tokens = self.scheduler.tokens(s.seq).expect("scheduled");
                    SampleRow {
                        params: &state.params,
                        seed: state.seeds[s.sample_index as usize],
                        prompt: &tokens[..state.prompt_len],
                        output: &tokens[state.prompt_len..],
                    }
                })
                .collect();
            self.sampler.sample(&logits, &rows)?
        };
        let mut sampled_iter = sampled.into_iter();
        let mut logprobs: HashMap<(RequestId, u32), Logprobs> = HashMap::new();
        let tokens = SampledTokens::new(
            plan.scheduled
                .iter()
                .map(|s| {
                    s.emits_token.then(|| {
                        let t = sampled_iter.next().expect("one sample per emitting row");
                        if let Some(lp) = t.logprobs {
                            // Only rows that asked: no map work on the common path.
                            logprobs.insert((s.request_id, s.sample_index), lp);
                        }
                        TokenId(t.token)
                    })
                })
                .collect(),
        );
        let mut checker = TextChecker {
            tokenizer: &*self.tokenizer,
            requests: &mut self.requests,
            seen: Vec::new(),
            error: None,
        };
        let outputs = self.scheduler.update_with(&plan, &tokens, &mut checker)?;
        if let Some(e) = checker.error {
            return Err(e);
        }
        let seen = checker.seen;
        let mut events = Vec::with_capacity(outputs.len());
        for out in outputs {
            self.stats.generation_tokens += 1;
            let key = (out.request_id, out.sample_index);
            let Some(state) = self.requests.get_mut(&out.request_id) else {
                continue;
            };
            let text = &mut state.texts[out.sample_index as usize];
            let mut text_delta = String::new();
            if state.params.detokenize {
                if !seen.contains(&key) {
                    text.push(&*self.tokenizer, out.token.0)?;
                }
                if out.finished.is_some() {
                    text.finish(&*self.tokenizer)?;
                }
                text_delta = text.take_delta();
            }
            events.push(TokenEvent {
                request_id: out.request_id,
                sample_index: out.sample_index,
                token: out.token.0,
                text: text_delta,
                logprobs: logprobs.remove(&key),
                num_prompt_tokens: state.prompt_len,
                num_output_tokens: out.num_output_tokens,
                finished: out.finished,
            });
            if out.finished.is_some() {
                state.live_samples -= 1;
                if state.live_samples == 0 {
                    self.requests.remove(&out.request_id);
                }
            }
        }
        self.update_gauges();
        Ok(events)
    }

    fn update_gauges(&mut self) {
        self.kv_manager.reclaim();
        self.stats.num_running = self.scheduler.num_running();
        self.stats.num_waiting = self.scheduler.num_waiting();
        self.stats.kv_usage = self.kv_manager.usage();
        self.stats.peak_kv_usage = self.stats.peak_kv_usage.max(self.stats.kv_usage);
        self.stats.prefix_cache = self.kv_manager.stats();
    }
}

/// Detokenizes each new token the scheduler checks and matches stop strings.
struct TextChecker<'a> {
    tokenizer: &'a dyn Tokenizer,
    requests: &'a mut HashMap<RequestId, RequestState>,
    /// Samples whose token was already pushed through their text state.
    seen: Vec<(RequestId, u32)>,
    error: Option<EngineError>,
}

impl StopChecker for TextChecker<'_> {
    fn check(&mut self, view: StopView<'_>) -> Option<usize> {
        let state = self.requests.get_mut(&view.request_id)?;
        if !state.params.detokenize {
            return None;
        }
        let token = view.output_tokens.last()?.0;
        self.seen.push((view.request_id, view.sample_index));
        match state.texts[view.sample_index as usize].push(self.tokenizer, token) {
            Ok(hit) => hit,
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }
}
