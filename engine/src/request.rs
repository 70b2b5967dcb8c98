//! What a request is, as the engine core sees it: ids, the sampling parameters the scheduler acts
//! on, and why a sequence finished.

use std::fmt;

use crate::kv_cache::block::TokenId;
use crate::kv_cache::hash::ExtraKeys;

/// A request's id, chosen by the caller (the server maps its string ids onto these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One sequence inside the scheduler: a request with `n` samples has `n` of them. Assigned by the
/// scheduler, unique for its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqId(pub u64);

impl fmt::Display for SeqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}", self.0)
    }
}

/// The sampling parameters the scheduler needs: how many samples, and when to stop. The sampler's
/// own knobs (temperature, top-k/p, penalties) live with the sampling kernels and join here when
/// the engine loop lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplingParams {
    /// Parallel samples of the prompt (OpenAI `n`); they share the prompt's KV blocks. ≥ 1.
    pub n: u32,
    /// Most tokens to generate per sample; `None` runs to `--max-model-len`. vLLM's default is 16.
    pub max_tokens: Option<u32>,
    /// EOS, stop tokens and stop strings are ignored before this many output tokens.
    pub min_tokens: u32,
    /// Keep generating past EOS (benchmarks use this for fixed output lengths).
    pub ignore_eos: bool,
    /// Tokens that end the sample when generated (reported as [`FinishReason::StopToken`]).
    pub stop_token_ids: Vec<TokenId>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            n: 1,
            max_tokens: Some(16),
            min_tokens: 0,
            ignore_eos: false,
            stop_token_ids: Vec::new(),
        }
    }
}

/// A request handed to the scheduler: tokenized prompt plus everything that shapes its schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineRequest {
    /// Unique among live requests.
    pub id: RequestId,
    /// Prompt token ids; non-empty and shorter than `--max-model-len`.
    pub prompt: Vec<TokenId>,
    /// Samples and stop conditions.
    pub params: SamplingParams,
    /// Scheduling priority under the `priority` policy: lower runs first (vLLM's convention).
    pub priority: i32,
    /// The model's end-of-sequence tokens (from `generation_config.json`).
    pub eos_token_ids: Vec<TokenId>,
    /// Prefix-cache keys besides the tokens (cache salt, adapter, multimodal items).
    pub extra: ExtraKeys,
}

impl EngineRequest {
    /// A request with default sampling parameters, priority 0, no EOS token and no extra keys.
    pub fn new(id: RequestId, prompt: Vec<TokenId>) -> Self {
        Self {
            id,
            prompt,
            params: SamplingParams::default(),
            priority: 0,
            eos_token_ids: Vec::new(),
            extra: ExtraKeys::default(),
        }
    }
}

/// Why a sequence stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// Generated an EOS token (and `ignore_eos` was off).
    Eos,
    /// Generated one of `stop_token_ids`.
    StopToken(TokenId),
    /// The detokenized text hit stop string number `.0` (reported by a
    /// [`StopChecker`](crate::scheduler::StopChecker)).
    StopString(usize),
    /// Reached `max_tokens`.
    MaxTokens,
    /// Reached `--max-model-len`.
    MaxModelLen,
    /// Aborted by the caller.
    Aborted,
}

impl FinishReason {
    /// The OpenAI `finish_reason` string: `stop`, `length` or `abort`.
    pub fn as_openai(&self) -> &'static str {
        match self {
            Self::Eos | Self::StopToken(_) | Self::StopString(_) => "stop",
            Self::MaxTokens | Self::MaxModelLen => "length",
            Self::Aborted => "abort",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_strings() {
        assert_eq!(FinishReason::Eos.as_openai(), "stop");
        assert_eq!(FinishReason::StopToken(TokenId(3)).as_openai(), "stop");
        assert_eq!(FinishReason::MaxModelLen.as_openai(), "length");
        assert_eq!(FinishReason::Aborted.as_openai(), "abort");
    }

    #[test]
    fn defaults_match_vllm() {
        let params = SamplingParams::default();
        assert_eq!((params.n, params.max_tokens), (1, Some(16)));
    }
}
