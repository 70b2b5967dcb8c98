//! [`generate_greedy`]: a synchronous, single-sequence greedy loop for tests and `dyno generate`.
//! It goes through the real [`KvCacheManager`] (block tables, slots) and the paged forward, with
//! optional chunked prefill, so the golden tests exercise the engine's code path.

use super::Model;
use super::batch::BatchInput;
use super::kv::{KvCache, KvDtype};
use crate::error::{EngineError, Result};
use crate::kv_cache::{
    ExtraKeys, KvCacheConfig, KvCacheManager, PrefixCaching, SeqTokens, TokenId,
};
use crate::tokenizer::{IncrementalDecoder, Tokenizer};

/// Knobs of [`generate_greedy_tokens`].
#[derive(Clone, Copy, Debug)]
pub struct GenerateOptions {
    /// Tokens per KV block.
    pub block_size: usize,
    /// Prefill at most this many prompt tokens per step (`None`: the whole prompt at once).
    pub prefill_chunk: Option<usize>,
    /// KV cache storage type.
    pub kv_dtype: KvDtype,
    /// Stop at the model's EOS tokens.
    pub stop_at_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            block_size: 16,
            prefill_chunk: None,
            kv_dtype: KvDtype::F32,
            stop_at_eos: true,
        }
    }
}

/// The result of [`generate_greedy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// The prompt's token ids (BOS included).
    pub prompt_tokens: Vec<u32>,
    /// The generated token ids.
    pub tokens: Vec<u32>,
    /// The generated text, as a stream would deliver it.
    pub text: String,
}

/// Encodes `prompt` (with BOS), generates up to `max_new_tokens` greedily and detokenizes them
/// incrementally.
///
/// # Errors
/// [`EngineError::ContextTooLong`], tokenizer and forward errors.
pub fn generate_greedy(
    model: &mut dyn Model,
    tokenizer: &dyn Tokenizer,
    prompt: &str,
    max_new_tokens: usize,
) -> Result<Generation> {
    let prompt_tokens = tokenizer.encode(prompt, true)?;
    let tokens = generate_greedy_tokens(
        model,
        &prompt_tokens,
        max_new_tokens,
        GenerateOptions::default(),
    )?;
    let mut decoder = IncrementalDecoder::new(&prompt_tokens);
    let mut text = String::new();
    for &t in &tokens {
        text.push_str(&decoder.push(tokenizer, t)?);
    }
    text.push_str(&decoder.finish(tokenizer)?);
    Ok(Generation {
        prompt_tokens,
        tokens,
        text,
    })
}

/// Greedy token generation after `prompt` (which must be non-empty).
///
/// # Errors
/// [`EngineError::ContextTooLong`] when prompt plus output exceed the model's context;
/// [`EngineError::EmptyPrompt`]-style forward errors.
pub fn generate_greedy_tokens(
    model: &mut dyn Model,
    prompt: &[u32],
    max_new_tokens: usize,
    options: GenerateOptions,
) -> Result<Vec<u32>> {
    let config = model.config().clone();
    let total = prompt.len() + max_new_tokens;
    if prompt.is_empty() || total > config.max_position_embeddings {
        return Err(EngineError::ContextTooLong {
            prompt_len: prompt.len(),
            max_new_tokens,
            max_model_len: config.max_position_embeddings,
        });
    }
    let num_blocks = total.div_ceil(options.block_size).max(1);
    let kv_config = KvCacheConfig::with_num_blocks(num_blocks, options.block_size)?
        .with_prefix_caching(PrefixCaching::Disabled);
    let mut manager = KvCacheManager::new(&kv_config);
    let mut kv = KvCache::for_config(&config, &kv_config, options.kv_dtype)?;
    let extra = ExtraKeys::default();
    let mut seq: Vec<TokenId> = prompt.iter().map(|&t| TokenId(t)).collect();
    let mut blocks = None;
    let mut computed = 0usize;
    let mut out = Vec::new();
    while out.len() < max_new_tokens {
        let chunk = options.prefill_chunk.unwrap_or(usize::MAX).max(1);
        let end = computed.saturating_add(chunk).min(seq.len());
        let tokens = SeqTokens {
            tokens: &seq,
            extra: &extra,
        };
        let table = match blocks.as_mut() {
            None => {
                let hit = manager.lookup_prefix(tokens);
                blocks.insert(
                    manager
                        .allocate_new(hit, tokens, end)
                        .ok_or_else(out_of_blocks)?,
                )
            }
            Some(table) => {
                manager
                    .allocate_slots(table, tokens, end)
                    .ok_or_else(out_of_blocks)?;
                table
            }
        };
        let ids: Vec<u32> = seq[computed..end].iter().map(|t| t.0).collect();
        let mut batch = BatchInput::new(options.block_size);
        let emit = end == seq.len();
        batch.push_seq(&ids, computed, table.block_ids(), emit);
        let logits = model.forward(&batch, &mut kv)?;
        computed = end;
        table.set_num_computed_tokens(computed);
        if emit {
            let next = logits.argmax(0);
            out.push(next);
            seq.push(TokenId(next));
            if options.stop_at_eos && config.eos_token_ids.contains(&next) {
                break;
            }
        }
    }
    Ok(out)
}

fn out_of_blocks() -> EngineError {
    EngineError::Forward("kv cache ran out of blocks for a single sequence".into())
}
