//! What one step hands the model runner ([`SchedulerOutput`]), what the runner hands back
//! ([`SampledTokens`]) and what the step produced for callers ([`RequestOutput`]).

use crate::kv_cache::block::TokenId;
use crate::request::{FinishReason, RequestId, SeqId};

/// One sequence's share of a step: compute tokens `num_computed_tokens ..
/// num_computed_tokens + num_new_tokens` of its sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledSeq {
    /// The sequence (key into [`Scheduler::tokens`](crate::scheduler::Scheduler::tokens) and
    /// [`Scheduler::block_table`](crate::scheduler::Scheduler::block_table)).
    pub seq: SeqId,
    /// Its request.
    pub request_id: RequestId,
    /// Which of the request's samples.
    pub sample_index: u32,
    /// Tokens whose KV is already cached (computed or a prefix hit): the first position to run.
    pub num_computed_tokens: usize,
    /// Tokens to run this step (a whole prompt, a prefill chunk, or 1 for decode).
    pub num_new_tokens: usize,
    /// Whether this step reaches the sequence's last known token, so its logits must be sampled.
    /// `false` for a prefill chunk that stops short of the end.
    pub emits_token: bool,
}

/// The plan for one step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedulerOutput {
    /// Step number, from 0.
    pub step: u64,
    /// Sequences to run, running ones first (in admission order), then newly admitted ones.
    pub scheduled: Vec<ScheduledSeq>,
    /// Sequences preempted this step: their KV is gone and they will be recomputed.
    pub preempted: Vec<SeqId>,
    /// Sum of `num_new_tokens` (never above `--max-num-batched-tokens`).
    pub num_batched_tokens: usize,
}

impl SchedulerOutput {
    /// Whether nothing runs this step.
    pub fn is_empty(&self) -> bool {
        self.scheduled.is_empty()
    }
}

/// The tokens sampled in a step: one entry per [`SchedulerOutput::scheduled`] entry, in order,
/// `Some` at least where `emits_token` is set (other entries are ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampledTokens {
    tokens: Vec<Option<TokenId>>,
}

impl SampledTokens {
    /// From a list aligned with the step's `scheduled` entries.
    pub fn new(tokens: Vec<Option<TokenId>>) -> Self {
        Self { tokens }
    }

    /// Calls `sample` for each entry that emits a token, in order.
    pub fn from_fn(
        out: &SchedulerOutput,
        mut sample: impl FnMut(&ScheduledSeq) -> TokenId,
    ) -> Self {
        let tokens = out
            .scheduled
            .iter()
            .map(|s| s.emits_token.then(|| sample(s)))
            .collect();
        Self { tokens }
    }

    /// The entries.
    pub fn as_slice(&self) -> &[Option<TokenId>] {
        &self.tokens
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// One new token of one sequence, and whether the sequence finished with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestOutput {
    /// The request.
    pub request_id: RequestId,
    /// Which of its samples.
    pub sample_index: u32,
    /// The sequence.
    pub seq: SeqId,
    /// The token appended.
    pub token: TokenId,
    /// Output tokens of this sample so far, the new one included.
    pub num_output_tokens: usize,
    /// Set when the sample is done; its blocks are released.
    pub finished: Option<FinishReason>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_fn_samples_only_emitting_entries() {
        let entry = |seq, emits_token| ScheduledSeq {
            seq: SeqId(seq),
            request_id: RequestId(seq),
            sample_index: 0,
            num_computed_tokens: 0,
            num_new_tokens: 4,
            emits_token,
        };
        let out = SchedulerOutput {
            scheduled: vec![entry(0, true), entry(1, false)],
            num_batched_tokens: 8,
            ..SchedulerOutput::default()
        };
        let sampled = SampledTokens::from_fn(&out, |s| TokenId(s.seq.0 as u32 + 10));
        assert_eq!(sampled.as_slice(), [Some(TokenId(10)), None]);
        assert_eq!(sampled.len(), 2);
    }
}
