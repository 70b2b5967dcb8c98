//! What a request is, as the engine core sees it: ids, the sampling parameters the scheduler acts
//! on, and why a sequence finished.

use std::fmt;

use crate::error::{EngineError, Result};
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

/// A request's sampling parameters, with vLLM's names and defaults: how many samples and when to
/// stop (the scheduler acts on these), how each token is drawn (the sampler hands these to the
/// `dyno-kernels` sampling op) and whether text is produced. Validated by
/// [`SamplingParams::validate`] when the request enters the engine.
#[derive(Clone, Debug, PartialEq)]
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
    /// Strings that end the sample when the output text contains one (not included in the
    /// text; reported as [`FinishReason::StopString`]). Needs `detokenize`.
    pub stop: Vec<String>,
    /// Softmax temperature, ≥ 0; 0 is greedy. vLLM's default is 1.
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; 1 = off.
    pub top_p: f32,
    /// Keep the `k` most likely tokens; `None` = off (vLLM's −1 or 0).
    pub top_k: Option<u32>,
    /// Keep tokens at least `min_p` times as likely as the most likely one; in [0, 1], 0 = off.
    pub min_p: f32,
    /// Per-request seed; `None` derives one from the engine's seed and the request id.
    pub seed: Option<u64>,
    /// Subtracted from the logit of every token already generated, in [−2, 2].
    pub presence_penalty: f32,
    /// Subtracted once per earlier occurrence in the output, in [−2, 2].
    pub frequency_penalty: f32,
    /// Divides positive (multiplies negative) logits of tokens in prompt or output; > 0, 1 = off.
    pub repetition_penalty: f32,
    /// Return the sampled token's log-probability and this many top alternatives.
    pub logprobs: Option<u32>,
    /// Produce output text (vLLM's `detokenize`; `--disable-detokenize` turns it off).
    pub detokenize: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            n: 1,
            max_tokens: Some(16),
            min_tokens: 0,
            ignore_eos: false,
            stop_token_ids: Vec::new(),
            stop: Vec::new(),
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            min_p: 0.0,
            seed: None,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repetition_penalty: 1.0,
            logprobs: None,
            detokenize: true,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding (temperature 0) of up to `max_tokens` tokens.
    pub fn greedy(max_tokens: u32) -> Self {
        Self {
            temperature: 0.0,
            max_tokens: Some(max_tokens),
            ..Self::default()
        }
    }

    /// Checks the sampler's parameters (the scheduler checks `n` and `max_tokens`).
    ///
    /// # Errors
    /// [`EngineError::InvalidParam`] naming the parameter, its value and the allowed range.
    pub fn validate(&self, request: RequestId) -> Result<()> {
        let bad = |param: &'static str, value: String, fix: &'static str| {
            Err(EngineError::InvalidParam {
                request,
                param,
                value,
                fix,
            })
        };
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(
                "temperature",
                self.temperature.to_string(),
                "use a finite value >= 0 (0 is greedy)",
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", self.top_p.to_string(), "use a value in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", self.min_p.to_string(), "use a value in [0, 1]");
        }
        if self.top_k == Some(0) {
            return bad(
                "top_k",
                "0".into(),
                "use k >= 1, or leave it unset for no limit",
            );
        }
        for (param, value) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if !(-2.0..=2.0).contains(&value) {
                return bad(param, value.to_string(), "use a value in [-2, 2]");
            }
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad(
                "repetition_penalty",
                self.repetition_penalty.to_string(),
                "use a finite value > 0 (1 is off)",
            );
        }
        if let Some(n) = self.logprobs
            && n > dyno_kernels::sampling::MAX_TOP_LOGPROBS
        {
            return bad(
                "logprobs",
                n.to_string(),
                "ask for at most 1024 top log-probabilities",
            );
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop", "\"\"".into(), "remove the empty stop string");
        }
        if !self.stop.is_empty() && !self.detokenize {
            return bad(
                "stop",
                format!("{:?}", self.stop),
                "stop strings need detokenized text; turn detokenization on or use stop_token_ids",
            );
        }
        Ok(())
    }
}

/// A request handed to the scheduler: tokenized prompt plus everything that shapes its schedule.
#[derive(Clone, Debug, PartialEq)]
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
        assert_eq!(
            (params.temperature, params.top_p, params.min_p),
            (1.0, 1.0, 0.0)
        );
        assert_eq!(params.repetition_penalty, 1.0);
        assert!(params.validate(RequestId(0)).is_ok());
    }

    #[test]
    fn out_of_range_params_are_named() {
        let cases: Vec<(SamplingParams, &str)> = vec![
            (
                SamplingParams {
                    temperature: -0.5,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                SamplingParams {
                    temperature: f32::NAN,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                SamplingParams {
                    top_p: 0.0,
                    ..Default::default()
                },
                "top_p",
            ),
            (
                SamplingParams {
                    top_p: 1.5,
                    ..Default::default()
                },
                "top_p",
            ),
            (
                SamplingParams {
                    min_p: -0.1,
                    ..Default::default()
                },
                "min_p",
            ),
            (
                SamplingParams {
                    top_k: Some(0),
                    ..Default::default()
                },
                "top_k",
            ),
            (
                SamplingParams {
                    presence_penalty: 3.0,
                    ..Default::default()
                },
                "presence_penalty",
            ),
            (
                SamplingParams {
                    repetition_penalty: 0.0,
                    ..Default::default()
                },
                "repetition_penalty",
            ),
            (
                SamplingParams {
                    logprobs: Some(5000),
                    ..Default::default()
                },
                "logprobs",
            ),
            (
                SamplingParams {
                    stop: vec![String::new()],
                    ..Default::default()
                },
                "stop",
            ),
            (
                SamplingParams {
                    stop: vec!["x".into()],
                    detokenize: false,
                    ..Default::default()
                },
                "stop",
            ),
        ];
        for (params, name) in cases {
            let err = params.validate(RequestId(3)).unwrap_err();
            match &err {
                EngineError::InvalidParam { param, .. } => assert_eq!(*param, name, "{err}"),
                other => panic!("expected InvalidParam for {name}, got {other}"),
            }
            assert!(err.to_string().contains(name));
        }
    }
}
