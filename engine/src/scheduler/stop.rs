//! Stop conditions checked after each sampled token.
//!
//! The scheduler handles everything that needs only token ids: length (`max_tokens`,
//! `--max-model-len`), EOS (unless `ignore_eos`) and stop token ids, with `min_tokens` holding the
//! latter back (vLLM's `check_stop` order: length first). Stop *strings* need the detokenized text,
//! which the engine loop owns: it supplies a [`StopChecker`] to
//! [`Scheduler::update_with`](crate::scheduler::Scheduler::update_with).

use crate::kv_cache::block::TokenId;
use crate::request::{FinishReason, RequestId, SamplingParams};

/// What a [`StopChecker`] sees of a sequence that just received a token.
#[derive(Clone, Copy, Debug)]
pub struct StopView<'a> {
    /// The request.
    pub request_id: RequestId,
    /// Which of its samples.
    pub sample_index: u32,
    /// Output tokens so far, the new one last.
    pub output_tokens: &'a [TokenId],
}

/// Stop conditions beyond token ids: typically the incremental detokenizer matching stop strings.
pub trait StopChecker {
    /// Called once per new token that no token-level condition stopped, after `min_tokens`.
    /// Returns the index of the stop string the text now ends with, if any.
    fn check(&mut self, view: StopView<'_>) -> Option<usize>;
}

/// The checker for requests without stop strings: never stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoStopStrings;

impl StopChecker for NoStopStrings {
    fn check(&mut self, _view: StopView<'_>) -> Option<usize> {
        None
    }
}

/// The token-level and length checks, then `checker`.
pub(crate) fn check_stop(
    view: StopView<'_>,
    num_tokens: usize,
    max_model_len: usize,
    params: &SamplingParams,
    eos_token_ids: &[TokenId],
    checker: &mut dyn StopChecker,
) -> Option<FinishReason> {
    let num_output = view.output_tokens.len();
    if num_tokens >= max_model_len {
        return Some(FinishReason::MaxModelLen);
    }
    if params
        .max_tokens
        .is_some_and(|max| num_output >= max as usize)
    {
        return Some(FinishReason::MaxTokens);
    }
    if num_output < params.min_tokens as usize {
        return None;
    }
    let last = *view.output_tokens.last()?;
    if !params.ignore_eos && eos_token_ids.contains(&last) {
        return Some(FinishReason::Eos);
    }
    if params.stop_token_ids.contains(&last) {
        return Some(FinishReason::StopToken(last));
    }
    checker.check(view).map(FinishReason::StopString)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct EndsWith7;
    impl StopChecker for EndsWith7 {
        fn check(&mut self, view: StopView<'_>) -> Option<usize> {
            (view.output_tokens.last() == Some(&TokenId(7))).then_some(0)
        }
    }

    fn run(out: &[u32], params: &SamplingParams, len: usize) -> Option<FinishReason> {
        let tokens: Vec<_> = out.iter().copied().map(TokenId).collect();
        let view = StopView {
            request_id: RequestId(1),
            sample_index: 0,
            output_tokens: &tokens,
        };
        check_stop(view, len, 100, params, &[TokenId(2)], &mut EndsWith7)
    }

    #[test]
    fn order_of_conditions() {
        let params = SamplingParams {
            max_tokens: Some(3),
            min_tokens: 2,
            stop_token_ids: vec![TokenId(5)],
            ..SamplingParams::default()
        };
        assert_eq!(run(&[2], &params, 10), None, "eos held back by min_tokens");
        assert_eq!(run(&[1, 2], &params, 10), Some(FinishReason::Eos));
        assert_eq!(
            run(&[1, 5], &params, 10),
            Some(FinishReason::StopToken(TokenId(5)))
        );
        assert_eq!(run(&[1, 7], &params, 10), Some(FinishReason::StopString(0)));
        assert_eq!(run(&[1, 1, 2], &params, 10), Some(FinishReason::MaxTokens));
        assert_eq!(run(&[1], &params, 100), Some(FinishReason::MaxModelLen));
        let ignore = SamplingParams {
            ignore_eos: true,
            ..params
        };
        assert_eq!(run(&[1, 2], &ignore, 10), None);
    }
}
