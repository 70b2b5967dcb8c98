//! The in-process engine behind `dyno-bench`'s traits: [`EngineEndpoint`] implements
//! [`Endpoint`] for an [`EngineHandle`], [`EngineTokenizer`] implements [`BenchTokenizer`] for
//! the engine's tokenizer. This module is the only place where the bench library meets the
//! engine (dependency inversion: neither crate knows the other).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use dyno_bench::dataset::{BenchTokenizer, Prompt, SampleRequest};
use dyno_bench::endpoint::{Endpoint, RequestOptions, RequestOutcome, RequestTimer};
use dyno_engine::model::ModelDtype;
use dyno_engine::model::loader::LoadedModel;
use dyno_engine::{
    ChunkedPrefill, EngineConfig, EngineCore, EngineHandle, EngineRequest, KvDtype, LoadFormat,
    LoadOptions, RequestId, SamplingParams, SchedulerOptions, SchedulingPolicy, TokenId, Tokenizer,
    load_model,
};
use futures::StreamExt;

use crate::args::engine::{EngineArgs, KvDtypeArg, LoadFormatArg, PolicyArg};

/// Loads the model `args` name and builds an engine over it.
pub fn build_engine(args: &EngineArgs) -> Result<EngineCore> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("setting --threads")?;
    }
    let options = LoadOptions {
        load_format: match args.load_format {
            LoadFormatArg::Auto => LoadFormat::Auto,
            LoadFormatArg::Dummy => LoadFormat::Dummy,
        },
        seed: args.seed,
        tokenizer: args.tokenizer.clone(),
        dtype: args
            .dtype
            .parse::<ModelDtype>()
            .map_err(|e| anyhow::anyhow!("--dtype: {e}"))?,
    };
    let LoadedModel { model, tokenizer } = load_model(&args.model, &options)
        .with_context(|| format!("loading model `{}`", args.model))?;
    let config = EngineConfig {
        scheduler: SchedulerOptions {
            max_num_batched_tokens: args.max_num_batched_tokens,
            max_num_seqs: args.max_num_seqs,
            max_model_len: 0,
            chunked_prefill: if args.no_enable_chunked_prefill {
                ChunkedPrefill::Disabled
            } else {
                ChunkedPrefill::Enabled {
                    long_prefill_token_threshold: (args.long_prefill_token_threshold > 0)
                        .then_some(args.long_prefill_token_threshold),
                }
            },
            policy: match args.scheduling_policy {
                PolicyArg::Fcfs => SchedulingPolicy::Fcfs,
                PolicyArg::Priority => SchedulingPolicy::Priority,
            },
        },
        max_model_len: args.max_model_len,
        block_size: args.block_size,
        kv_cache_memory: args.kv_cache_memory,
        kv_dtype: match args.kv_cache_dtype {
            KvDtypeArg::Auto | KvDtypeArg::Float32 => KvDtype::F32,
            KvDtypeArg::Bfloat16 => KvDtype::Bf16,
            KvDtypeArg::Float16 => KvDtype::F16,
        },
        prefix_caching: !args.no_enable_prefix_caching,
        seed: args.seed,
    };
    Ok(EngineCore::new(
        Box::new(model),
        Arc::from(tokenizer),
        &config,
    )?)
}

/// The engine as a benchmark endpoint.
#[derive(Debug)]
pub struct EngineEndpoint {
    handle: EngineHandle,
    next_id: AtomicU64,
}

impl EngineEndpoint {
    /// Serves requests through `handle`.
    pub fn new(handle: EngineHandle) -> Self {
        Self {
            handle,
            next_id: AtomicU64::new(0),
        }
    }
}

impl Endpoint for EngineEndpoint {
    fn name(&self) -> &str {
        "dyno-engine"
    }

    async fn send(
        &self,
        request: &SampleRequest,
        options: &RequestOptions,
        run_start: Instant,
    ) -> RequestOutcome {
        let mut timer = RequestTimer::start(run_start);
        let prompt: Vec<TokenId> = match &request.prompt {
            Prompt::Tokens(ids) => ids.iter().copied().map(TokenId).collect(),
            Prompt::Text(text) => match self.handle.tokenizer().encode(text, true) {
                Ok(ids) => ids.into_iter().map(TokenId).collect(),
                Err(e) => {
                    let (sent, _, _) = timer.finish();
                    return RequestOutcome::failed(request, sent, e.to_string());
                }
            },
        };
        let prompt_len = prompt.len();
        let engine_request = EngineRequest {
            params: SamplingParams {
                n: options.n,
                max_tokens: Some(request.expected_output_len.max(1) as u32),
                ignore_eos: options.ignore_eos,
                temperature: options.temperature,
                top_p: options.top_p,
                top_k: options.top_k,
                seed: options.seed,
                detokenize: options.detokenize,
                ..SamplingParams::default()
            },
            ..EngineRequest::new(
                RequestId(self.next_id.fetch_add(1, Ordering::Relaxed)),
                prompt,
            )
        };
        let mut stream = match self.handle.generate(engine_request) {
            Ok(s) => s,
            Err(e) => {
                let (sent, _, _) = timer.finish();
                return RequestOutcome::failed(request, sent, e.to_string());
            }
        };
        let mut output_tokens = 0;
        let mut text = String::new();
        let mut error = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    timer.chunk(1);
                    output_tokens += 1;
                    if event.sample_index == 0 {
                        text.push_str(&event.text);
                    }
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let (send_offset, chunks, latency) = timer.finish();
        RequestOutcome {
            request_id: request.request_id.clone(),
            success: error.is_none(),
            error,
            prompt_len,
            output_tokens,
            send_offset,
            chunks,
            latency,
            total_time: latency,
            generated_text: text,
            ..RequestOutcome::default()
        }
    }
}

/// The engine's tokenizer as the dataset readers see it.
#[derive(Debug, Clone)]
pub struct EngineTokenizer(pub Arc<dyn Tokenizer>);

impl BenchTokenizer for EngineTokenizer {
    fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32> {
        self.0.encode(text, add_special_tokens).unwrap_or_else(|e| {
            tracing::warn!("tokenizer could not encode a dataset prompt ({e}); using no tokens");
            Vec::new()
        })
    }

    fn decode(&self, ids: &[u32]) -> String {
        self.0.decode(ids).unwrap_or_default()
    }

    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }

    fn special_token_ids(&self) -> Vec<u32> {
        let mut ids = self.0.eos_ids();
        ids.extend(self.0.bos_id());
        ids
    }

    fn num_special_tokens_to_add(&self) -> usize {
        usize::from(self.0.bos_id().is_some())
    }
}
