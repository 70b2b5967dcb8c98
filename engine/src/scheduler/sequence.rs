//! The scheduler's record of one sequence (one sample of one request).

use std::sync::Arc;

use crate::kv_cache::block::TokenId;
use crate::kv_cache::hash::ExtraKeys;
use crate::kv_cache::manager::{KvBlocks, SeqTokens};
use crate::request::{RequestId, SamplingParams, SeqId};
use crate::scheduler::queue::QueueKey;

/// Per-request data shared by its samples.
#[derive(Debug)]
pub(crate) struct RequestShared {
    pub params: SamplingParams,
    pub eos_token_ids: Vec<TokenId>,
    pub extra: ExtraKeys,
}

/// One sample of a request, waiting or running.
#[derive(Debug)]
pub(crate) struct Sequence {
    pub request_id: RequestId,
    pub sample_index: u32,
    pub key: QueueKey,
    /// Prompt, then outputs.
    pub tokens: Vec<TokenId>,
    pub prompt_len: usize,
    /// Tokens whose KV is in `blocks` (0 while waiting).
    pub num_computed: usize,
    pub shared: Arc<RequestShared>,
    /// `Some` exactly while running; dropping it returns the blocks.
    pub blocks: Option<KvBlocks>,
    /// For samples 1..n: sample 0, whose prompt blocks this one forks.
    pub parent: Option<SeqId>,
    pub num_preemptions: u32,
}

impl Sequence {
    pub fn is_running(&self) -> bool {
        self.blocks.is_some()
    }

    pub fn output_tokens(&self) -> &[TokenId] {
        &self.tokens[self.prompt_len..]
    }

    /// Splits into the KV view of the tokens and the block table, for `allocate_slots`.
    pub fn kv_parts(&mut self) -> (SeqTokens<'_>, Option<&mut KvBlocks>) {
        let view = SeqTokens {
            tokens: &self.tokens,
            extra: &self.shared.extra,
        };
        (view, self.blocks.as_mut())
    }

    pub fn kv_view(&self) -> SeqTokens<'_> {
        SeqTokens {
            tokens: &self.tokens,
            extra: &self.shared.extra,
        }
    }
}
